/* json_util.c: JSON helpers shared by pluto.c and ike.c (pure, no I/O): a strict parser, wiping, a writer that leaves no copy behind. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "json_util.h"

#define JSON_WRITE_DEPTH 64

/* ---------------------------------------------------------------- parse */

/* json-c keeps the last string it scanned in its tokener's buffer: a key, perhaps. */
static void tokener_wipe_free(struct json_tokener *tok)
{
	if (tok->pb != NULL && tok->pb->buf != NULL && tok->pb->size > 0)
		explicit_bzero(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
}

/*
 * A number too big for a double parses as infinity, which no JSON text
 * can say: such a document could not be passed on as it came.
 */
static bool json_finite(struct json_object *o, int depth, int max_depth)
{
	if (depth > max_depth)
		return false;
	switch (json_object_get_type(o)) {
	case json_type_double:
		return isfinite(json_object_get_double(o));
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			if (val != NULL && !json_finite(val, depth + 1, max_depth))
				return false;
		}
		return true;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			struct json_object *v = json_object_array_get_idx(o, i);

			if (v != NULL && !json_finite(v, depth + 1, max_depth))
				return false;
		}
		return true;
	default:
		return true;
	}
}

struct json_object *json_util_parse(const char *text, size_t len, int max_depth, int *status)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t end;
	int dummy;

	if (status == NULL)
		status = &dummy;
	*status = JSON_UTIL_OK;
	tok = json_tokener_new_ex(max_depth);
	if (tok == NULL) {
		*status = JSON_UTIL_E_NOMEM;
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		tokener_wipe_free(tok);
		json_object_put(o);
		*status = JSON_UTIL_E_SYNTAX;
		return NULL;
	}
	end = json_tokener_get_parse_end(tok);
	tokener_wipe_free(tok);
	for (; end < len; end++)
		if (text[end] != ' ' && text[end] != '\n' && text[end] != '\r' && text[end] != '\t')
			break;
	if (end < len || !json_finite(o, 0, max_depth)) {
		json_util_free(o);
		*status = JSON_UTIL_E_SYNTAX;
		return NULL;
	}
	return o;
}

/* ---------------------------------------------------------------- wipe and write */

static void json_wipe(struct json_object *o, int depth)
{
	if (o == NULL || depth > JSON_WRITE_DEPTH)
		return;
	switch (json_object_get_type(o)) {
	case json_type_string:
		/* The object owns its bytes; nobody shares them with us. */
		explicit_bzero((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			json_wipe(val, depth + 1);
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			json_wipe(json_object_array_get_idx(o, i), depth + 1);
		break;
	default:
		break;
	}
}

void json_util_wipe(struct json_object *o)
{
	json_wipe(o, 0);
}

void json_util_free(struct json_object *o)
{
	if (o == NULL)
		return;
	json_wipe(o, 0);
	json_object_put(o);
}

struct jw {
	char *buf;
	size_t cap;
	size_t len;
	bool full;
};

static void jw_put(struct jw *w, const char *s, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void jw_c(struct jw *w, char ch)
{
	jw_put(w, &ch, 1);
}

/* Escaped as pluto escapes: '"', '\\' and control characters; other bytes as they are. */
static void jw_string(struct jw *w, const char *s, size_t n)
{
	char esc[8];

	jw_c(w, '"');
	for (size_t i = 0; i < n && !w->full; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			jw_c(w, '\\');
			jw_c(w, (char)ch);
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			jw_put(w, esc, 6);
		} else {
			jw_c(w, (char)ch);
		}
	}
	jw_c(w, '"');
}

static void jw_value(struct jw *w, struct json_object *o, int depth, const char *skip)
{
	char num[40];
	int n;

	if (depth > JSON_WRITE_DEPTH) {
		w->full = true;
		return;
	}
	switch (o == NULL ? json_type_null : json_object_get_type(o)) {
	case json_type_null:
		jw_put(w, "null", 4);
		break;
	case json_type_boolean:
		if (json_object_get_boolean(o))
			jw_put(w, "true", 4);
		else
			jw_put(w, "false", 5);
		break;
	case json_type_int: {
		int64_t v = json_object_get_int64(o);

		/* An unsigned value above INT64_MAX reads back clamped as a signed one. */
		if (v == INT64_MAX)
			n = snprintf(num, sizeof(num), "%" PRIu64, json_object_get_uint64(o));
		else
			n = snprintf(num, sizeof(num), "%" PRId64, v);
		jw_put(w, num, (size_t)n);
		break;
	}
	case json_type_double: {
		double d = json_object_get_double(o);

		if (!isfinite(d)) {
			jw_put(w, "null", 4);
			break;
		}
		n = snprintf(num, sizeof(num), "%.17g", d);
		jw_put(w, num, (size_t)n);
		if (!strpbrk(num, ".eE"))
			jw_put(w, ".0", 2);	/* stays a double when read back */
		break;
	}
	case json_type_string:
		jw_string(w, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		bool first = true;

		jw_c(w, '{');
		json_object_object_foreach(o, key, val) {
			if (skip != NULL && !strcmp(key, skip))
				continue;
			if (!first)
				jw_c(w, ',');
			first = false;
			jw_string(w, key, strlen(key));
			jw_c(w, ':');
			jw_value(w, val, depth + 1, NULL);
		}
		jw_c(w, '}');
		break;
	}
	case json_type_array:
		jw_c(w, '[');
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (i)
				jw_c(w, ',');
			jw_value(w, json_object_array_get_idx(o, i), depth + 1, NULL);
		}
		jw_c(w, ']');
		break;
	}
}

long json_util_write(const struct json_object *o, char *buf, size_t cap)
{
	return json_util_write_except(o, NULL, buf, cap);
}

long json_util_write_except(const struct json_object *o, const char *skip, char *buf, size_t cap)
{
	struct jw w = { buf, cap, 0, false };

	jw_value(&w, (struct json_object *)o, 0, skip);
	return w.full ? -1 : (long)w.len;
}
