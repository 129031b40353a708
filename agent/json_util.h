/* json_util.h: JSON helpers shared by pluto.c and ike.c (pure, no I/O): a strict parser, wiping, a writer that leaves no copy behind. */
#ifndef HASYNC_JSON_UTIL_H
#define HASYNC_JSON_UTIL_H

/*
 * pluto's records and the IKE cache's documents hold keys, and json-c
 * keeps copies of text where nobody can wipe them (the tokener's buffer,
 * the printer's cache inside the object). These helpers are the one place
 * that knows how to avoid or wipe those copies, so pluto.c (which reads
 * records) and ike.c (which keeps and merges them) share them instead of
 * one reaching into the other.
 */

#include <stddef.h>

struct json_object;

enum json_util_status {
	JSON_UTIL_OK		= 0,
	JSON_UTIL_E_SYNTAX	= -1,	/* not JSON, nested too deep, a number no double holds, or bytes after it */
	JSON_UTIL_E_NOMEM	= -2,
};

/*
 * Any JSON document, strictly (json-c's strict mode, at most max_depth
 * levels, nothing but white space after it, finite numbers only), with
 * the tokener's copy of the text wiped. NULL if it breaks a rule, with
 * *status (may be NULL) saying why. The caller frees it with
 * json_util_free().
 */
struct json_object *json_util_parse(const char *text, size_t len, int max_depth, int *status);

/* Zero every string in the tree (in place; lengths stay): before dropping a document that held keys. */
void json_util_wipe(struct json_object *o);
/* json_object_put() after json_util_wipe(): for a document nobody else holds. NULL is fine. */
void json_util_free(struct json_object *o);

/*
 * Write o as compact JSON into buf (no NUL added). Returns the length, or
 * -1 if it does not fit in cap. json-c's own printer keeps a copy of the
 * text inside the object that nobody can wipe, hence this one; the caller
 * wipes buf.
 */
long json_util_write(const struct json_object *o, char *buf, size_t cap);
/* The same, leaving out the member named skip of the top-level object. */
long json_util_write_except(const struct json_object *o, const char *skip, char *buf, size_t cap);

#endif
