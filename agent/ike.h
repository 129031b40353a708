/* ike.h: the IKE SA cache (pure, no I/O): pluto's records per IKE SA keyed by SPIs, with snapshots, export and the `ike` listing. */
#ifndef HASYNC_IKE_H
#define HASYNC_IKE_H

/*
 * One cache per side, like cache.h: `own` is fed by our pluto's HA socket
 * (pluto.c), `held` by the peer's IKE_RECORD / IKE_DELETE records. Each
 * entry is an IKE SA: its latest ike_sa record (the JSON document, every
 * member kept), the summary fields parsed from it, its current
 * message-ID windows, and its Child SAs with their latest child_sa
 * records.
 *
 * Documents are kept as compact JSON text, not as json-c objects: a
 * json-c tree of an ike_sa record with its keys takes about 20 KB (a
 * hash table per JSON object), its text about 1.3 KB, and the windows,
 * which change on every exchange, live in the summary, so the frequent
 * msgid record touches no JSON at all. The ike_sa text is stored without
 * its "msgid" member; ike_export() puts the current windows back.
 *
 * How records apply (docs/pluto-ha.md has their shapes):
 * - ike_sa: creates the entry, or merges into it (members of the new
 *   record replace the held ones, members it lacks are kept; a merge
 *   that would not fit PLUTO_RECORD_MAX keeps the new record alone). With
 *   rekey_of naming a held IKE SA, that SA's Child SAs move to the new one
 *   (pluto migrates them; the old IKE SA's delete follows).
 * - msgid: the windows, found by SPIs or else by serial.
 * - delete: the IKE SA with its Child SAs, or one Child SA.
 * - child_sa: added to (or replacing, by serial) its IKE SA's list.
 *
 * Snapshots work as in cache.h: ike_bulk_begin() opens a shadow set;
 * records applied with bulk go into it only; live records go to the live
 * set and to the shadow as well; ike_bulk_end() swaps the shadow in when
 * the generation and count match, else discards it. Callbacks must not
 * change the cache.
 *
 * Key material: the JSON documents hold keys. They are wiped before they
 * are freed or replaced, the listing shows none of them, and ike_export()
 * hands documents out in a buffer it wipes after each call.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pluto.h"
#include "sa.h"

struct json_object;

#define IKE_VIPS_MAX		64
#define IKE_VIP_NAME_MAX	64	/* with the NUL */
#define IKE_SEED_LEN		16	/* SipHash key */
#define IKE_VIP_NONE		(-1)
#define IKE_CHILDREN_MAX	64	/* Child SAs per IKE SA (Libreswan has one per connection, a few during rekeys) */
#define IKE_COUNT_ANY		UINT64_MAX	/* ike_bulk_end(): do not check the count */

enum ike_status {
	IKE_OK			= 0,
	IKE_E_NOMEM		= -1,
	IKE_E_UNKNOWN		= -2,	/* msgid, delete or child_sa for an SA not held (counted) */
	IKE_E_NOBULK		= -3,	/* bulk record or bulk end with no snapshot open */
	IKE_E_GENERATION	= -4,	/* bulk end for another generation: shadow discarded */
	IKE_E_COUNT		= -5,	/* bulk end with another count: shadow discarded */
	IKE_E_INVALID		= -6,	/* a record the cache does not apply (snapshot_end: use ike_bulk_end) */
	IKE_E_FULL		= -7,	/* max_entries IKE SAs, or IKE_CHILDREN_MAX Child SAs */
};

/* Where an IKE SA stands on this node; pluto's records leave it as it is. */
enum ike_state {
	IKE_STATE_ESTABLISHED = 0,	/* as pluto reported it (own), or as synced (held) */
	IKE_STATE_DORMANT,		/* handed to our pluto as a dormant state */
	IKE_STATE_ACTIVE,		/* activated in our pluto on promotion */
};

struct ike_vip {
	char name[IKE_VIP_NAME_MAX];
	struct ha_addr addr;
};

struct ike_config {
	struct ike_vip vips[IKE_VIPS_MAX];
	unsigned n_vips;
	/* Random in the daemon: initiator SPIs are chosen by remote peers. */
	uint8_t hash_seed[IKE_SEED_LEN];
	size_t max_entries;	/* IKE SAs per set; 0: no limit */
};

struct ike_child {
	uint64_t serial;
	uint64_t rekey_of;
	uint32_t spi_in, spi_out;	/* 0 when the record did not say */
	uint32_t reqid;
	uint64_t updated_ms;
	char *doc;			/* the latest child_sa record, JSON text: KEYMAT inside */
	size_t doc_len;
};

/* Read-only views; valid until the next change to the cache. */
struct ike_entry {
	uint64_t spi_i, spi_r;
	uint64_t serial;
	uint64_t rekey_of;
	uint64_t instance;
	char connection[PLUTO_NAME_MAX];
	char event[PLUTO_WORD_MAX];	/* of the last ike_sa record */
	enum pluto_role role;
	struct pluto_endpoint local, remote;
	struct pluto_msgids msgid;
	enum ike_state state;
	int vip;			/* index in ike_config.vips (local address), or IKE_VIP_NONE */
	uint64_t first_seen_ms;		/* caller's clock when this node first held the SA */
	uint64_t updated_ms;		/* last ike_sa or msgid record */
	uint64_t msgid_ms;		/* last msgid record, 0 if none */
	uint64_t msgid_updates;
	uint64_t gen;			/* snapshot generation it came with (live records: the live set's) */
	char *local_id, *remote_id;	/* as pluto prints them; NULL if the records had none */
	struct ike_child *children;
	size_t n_children;
	char *doc;			/* the latest ike_sa record(s) merged, JSON text without
					 * "msgid": keys inside */
	size_t doc_len;
};

struct ike_stats {
	uint64_t ike_adds;
	uint64_t ike_updates;		/* ike_sa records for a held SA */
	uint64_t ike_deletes;
	uint64_t msgid_updates;
	uint64_t child_adds;
	uint64_t child_updates;
	uint64_t child_deletes;
	uint64_t children_moved;	/* by IKE SA rekeys */
	uint64_t unknown;		/* msgid, delete, child_sa for SAs not held */
	uint64_t invalid;
	uint64_t full;
	uint64_t nomem;
	uint64_t bulk_ok;
	uint64_t bulk_failed;
	uint64_t bulk_aborted;
	uint64_t bulk_orphans;
	uint64_t bulk_gone;		/* held SAs a completed snapshot did not have */
};

struct ike_bulk_info {
	bool in_progress;
	uint64_t gen;			/* of the live set: the last snapshot applied */
	uint64_t cur_gen;
	uint64_t cur_begin_ms;
	uint64_t cur_ike;		/* ike_sa records applied to the open snapshot */
	uint64_t cur_children;		/* child_sa records applied to it */
	uint64_t cur_records;		/* all bulk records applied to it (ike_sa, child_sa, ...) */
	bool have_last;
	uint64_t last_gen;
	uint64_t last_begin_ms;
	uint64_t last_end_ms;
	uint64_t last_ike;
	uint64_t last_children;
	int last_result;		/* IKE_OK, IKE_E_GENERATION, IKE_E_COUNT */
};

struct ike_cache;

/* cfg NULL: no VIPs, zero seed, no limit. NULL when out of memory. */
struct ike_cache *ike_new(const struct ike_config *cfg);
/* Frees everything; every document is wiped first. */
void ike_free(struct ike_cache *c);

/*
 * Apply one parsed record (the record is not taken: the caller still
 * clears it). bulk: into the open snapshot only (pluto's records with
 * rec->in_snapshot, or the peer's with WIRE_F_BULK). IKE_E_UNKNOWN is
 * counted and harmless; IKE_E_NOMEM / IKE_E_FULL mean the cache no longer
 * matches its source (resync).
 */
int ike_apply(struct ike_cache *c, const struct pluto_record *rec, bool bulk, uint64_t now_ms);
/* Remove an IKE SA and its Child SAs (IKE_DELETE), from the live set and an open snapshot. */
int ike_delete(struct ike_cache *c, uint64_t spi_i, uint64_t spi_r);

/* Opens a snapshot; one already open is discarded (counted as aborted). */
int ike_bulk_begin(struct ike_cache *c, uint64_t gen, uint64_t now_ms);
/*
 * Closes it. count and children are the numbers of ike_sa and child_sa
 * records it should hold (snapshot_end's "count" and "children"), each
 * IKE_COUNT_ANY to leave it unchecked (a snapshot_end without
 * "children"; or the peer's BULK_END, which counts every record: compare
 * it with ike_bulk_info()'s cur_records yourself). On a match the live
 * set is replaced in one step and gone() (may be NULL) is called for each
 * live IKE SA the snapshot lacks, just before it is freed; an SA in both
 * keeps its first_seen_ms and state.
 */
typedef void (*ike_gone_fn)(void *ctx, const struct ike_entry *e);
int ike_bulk_end(struct ike_cache *c, uint64_t gen, uint64_t count, uint64_t children,
		 uint64_t now_ms, ike_gone_fn gone, void *ctx);
/* Discard the open snapshot (the caller's own count did not match). */
void ike_bulk_abort(struct ike_cache *c);
bool ike_bulk_in_progress(const struct ike_cache *c);
void ike_bulk_info(const struct ike_cache *c, struct ike_bulk_info *out);

const struct ike_entry *ike_lookup(const struct ike_cache *c, uint64_t spi_i, uint64_t spi_r);
/*
 * The SPIs of the IKE SA a record is about: its own, or found by the
 * serial (ike_serial for Child SA records) in the live set or an open
 * snapshot. Call it before ike_apply() (a delete removes what it finds):
 * IKE_RECORD carries these SPIs and the stream is chosen from them.
 */
bool ike_record_spis(const struct ike_cache *c, const struct pluto_record *rec, uint64_t *spi_i,
		     uint64_t *spi_r);
/* The most recent live IKE SA with this serial (serials are per pluto run). */
const struct ike_entry *ike_lookup_serial(const struct ike_cache *c, uint64_t serial);
int ike_set_state(struct ike_cache *c, uint64_t spi_i, uint64_t spi_r, enum ike_state state);

size_t ike_count(const struct ike_cache *c);
size_t ike_count_vip(const struct ike_cache *c, int vip);
size_t ike_child_count(const struct ike_cache *c);
int ike_vip_by_addr(const struct ike_cache *c, const struct ha_addr *addr);
int ike_vip_by_name(const struct ike_cache *c, const char *name);

/*
 * Live IKE SAs sorted by VIP address (no VIP last), then spi_i, spi_r;
 * only VIP vip unless vip_filter is false. Returns the count and a
 * malloc'd array in *out (free() it; NULL when 0), or (size_t)-1.
 */
size_t ike_list(const struct ike_cache *c, bool vip_filter, int vip,
		const struct ike_entry ***out);

/*
 * Every live IKE SA's document (its ike_sa record with the current
 * "msgid" windows put first), then each of its Child SAs' (child NULL for
 * the IKE SA's own), in ike_list() order: what a snapshot to the peer or
 * an import into our pluto sends. json is valid during the call only
 * (the IKE SA's is built in a buffer wiped right after it). A nonzero
 * return from fn stops the walk. Returns the
 * documents handed out, or -1 (out of memory, or fn stopped it); an IKE
 * SA whose document with its windows would exceed PLUTO_RECORD_MAX is
 * left out with its Child SAs and counted in *skipped (may be NULL).
 */
typedef int (*ike_export_fn)(void *ctx, const struct ike_entry *e, const struct ike_child *child,
			     const char *json, size_t len);
long ike_export(const struct ike_cache *c, bool vip_filter, int vip, ike_export_fn fn, void *ctx,
		size_t *skipped);

/*
 * `hasyncctl ike`: adds "ike_sas" (array) and "count" to data. Never a
 * key: only the summary fields and the identities. 0, or -1 when out of
 * memory.
 */
int ike_json_list(const struct ike_cache *c, bool vip_filter, int vip, uint64_t now_ms,
		  struct json_object *data);

void ike_stats(const struct ike_cache *c, struct ike_stats *out);
const char *ike_strerror(int status);
const char *ike_state_name(enum ike_state state);

#endif
