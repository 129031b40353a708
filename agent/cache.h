/* cache.h: the standby's copy of the peer's SAs and policies (pure, no I/O), with bulk snapshots and a digest. */
#ifndef HASYNC_CACHE_H
#define HASYNC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa.h"

struct json_object;

#define CACHE_VIPS_MAX		64
#define CACHE_VIP_NAME_MAX	64	/* with the NUL */
#define CACHE_SEED_LEN		16	/* SipHash key */
#define CACHE_DIGEST_LEN	32	/* SHA-256 */
#define CACHE_VIP_NONE		(-1)	/* entry's local address is no configured VIP */

enum cache_status {
	CACHE_OK		= 0,
	CACHE_E_NOMEM		= -1,
	CACHE_E_UNKNOWN		= -2,	/* update or delete of an entry the cache does not hold */
	CACHE_E_NOBULK		= -3,	/* bulk add or bulk end without a bulk begin */
	CACHE_E_GENERATION	= -4,	/* bulk end for another generation: shadow discarded */
	CACHE_E_COUNT		= -5,	/* bulk end with another record count: shadow discarded */
	CACHE_E_INVALID		= -6,	/* malformed SA (family), or a counters update of another replay kind */
	CACHE_E_FULL		= -7,	/* max_entries reached */
	CACHE_E_CRYPTO		= -8,	/* NSS could not hash */
};

struct cache_vip {
	char name[CACHE_VIP_NAME_MAX];
	struct ha_addr addr;
};

struct cache_config {
	struct cache_vip vips[CACHE_VIPS_MAX];
	unsigned n_vips;
	/*
	 * Random in the daemon (outbound SPIs are picked by remote peers, who
	 * must not be able to choose colliding ones); fixed in tests.
	 */
	uint8_t hash_seed[CACHE_SEED_LEN];
	size_t max_entries;	/* SAs + policies per set; 0: no limit */
};

/* Read-only views handed out by lookups and listings; valid until the next change. */
struct cache_sa_entry {
	struct ha_sa sa;
	uint64_t updated_ms;	/* caller's monotonic clock at the last add or update */
	uint64_t gen;		/* generation of the snapshot (or the live set) it belongs to */
	uint8_t dir;		/* HA_SA_DIR_IN, HA_SA_DIR_OUT, 0: unknown */
	int vip;		/* index in cache_config.vips, or CACHE_VIP_NONE */
};

struct cache_policy_entry {
	struct ha_policy pol;
	uint64_t updated_ms;
	uint64_t gen;
};

struct cache_stats {
	uint64_t sa_adds;
	uint64_t sa_replaced;		/* adds that replaced an existing entry */
	uint64_t sa_updates;
	uint64_t sa_deletes;
	uint64_t update_unknown;	/* SA_UPDATE for an SA we do not hold: ignored */
	uint64_t update_mismatch;	/* SA_UPDATE with another replay kind (ESN/legacy) */
	uint64_t delete_unknown;
	uint64_t policy_adds;
	uint64_t policy_deletes;
	uint64_t invalid;
	uint64_t full;
	uint64_t nomem;
	uint64_t bulk_ok;
	uint64_t bulk_failed;		/* generation or count mismatch */
	uint64_t bulk_aborted;		/* a new BULK_BEGIN while one was open */
	uint64_t bulk_orphans;		/* BULK records with no snapshot open */
};

struct cache_bulk_info {
	bool in_progress;
	uint64_t gen;			/* of the live set: the last snapshot applied, 0 if none */
	uint64_t cur_gen;		/* of the open snapshot */
	uint64_t cur_begin_ms;
	uint64_t cur_records;
	bool have_last;			/* a snapshot ended, well or not */
	uint64_t last_gen;
	uint64_t last_begin_ms;
	uint64_t last_end_ms;
	uint64_t last_records;		/* BULK records counted in it */
	int last_result;		/* CACHE_OK, CACHE_E_GENERATION, CACHE_E_COUNT */
};

struct cache;

/* cfg NULL: no VIPs, zero seed, no limit. Returns NULL when out of memory. */
struct cache *cache_new(const struct cache_config *cfg);
/* Frees everything; every key byte is wiped first. */
void cache_free(struct cache *c);

/*
 * SA_ADD. bulk: the record had the BULK flag; it goes into the open
 * snapshot only (CACHE_E_NOBULK if none is open) and is counted for
 * cache_bulk_end(). Otherwise it applies to the live set and, if a
 * snapshot is open, to the snapshot too. An add for a held key replaces
 * the entry (the old keys are overwritten).
 */
int cache_sa_add(struct cache *c, const struct ha_sa *sa, uint64_t now_ms, bool bulk);
/*
 * SA_UPDATE: replay state, current lifetime and synced_at onto the held SA
 * (live, and the snapshot's copy if any). CACHE_E_UNKNOWN (counted, nothing
 * changed) if neither holds it.
 */
int cache_sa_update(struct cache *c, const struct ha_sa_key *key, const struct ha_replay *replay,
		    const struct ha_lifetime_cur *curlft, uint64_t synced_at_ms, uint64_t now_ms);
int cache_sa_delete(struct cache *c, const struct ha_sa_key *key);
const struct cache_sa_entry *cache_sa_lookup(const struct cache *c, const struct ha_sa_key *key);

/*
 * Policies are keyed by (selector, dir, mark, if_id); the index is not
 * part of the key (the kernel assigns it per node, see docs/control.md).
 */
int cache_policy_add(struct cache *c, const struct ha_policy *pol, uint64_t now_ms, bool bulk);
int cache_policy_delete(struct cache *c, const struct ha_policy_key *key);
const struct cache_policy_entry *cache_policy_lookup(const struct cache *c,
						     const struct ha_policy_key *key);

/* Opens a snapshot; one already open is discarded (counted as aborted). */
int cache_bulk_begin(struct cache *c, uint64_t gen, uint64_t now_ms);
/*
 * Closes the snapshot: when gen and count (BULK records applied) match,
 * the live set is replaced by it in one step; otherwise it is discarded,
 * the live set is kept, and the caller should ask for a new snapshot.
 */
int cache_bulk_end(struct cache *c, uint64_t gen, uint64_t count, uint64_t now_ms);
bool cache_bulk_in_progress(const struct cache *c);
void cache_bulk_info(const struct cache *c, struct cache_bulk_info *out);

/* Counts in the live set. vip is an index in cache_config.vips, or CACHE_VIP_NONE. */
size_t cache_sa_count(const struct cache *c);
size_t cache_sa_count_vip(const struct cache *c, int vip);
size_t cache_policy_count(const struct cache *c);
/* Bytes allocated for the live set, an open snapshot, and the cache itself. */
size_t cache_memory_bytes(const struct cache *c);
void cache_stats(const struct cache *c, struct cache_stats *out);
const struct cache_config *cache_config(const struct cache *c);
/* Index of the configured VIP with this name or address, or CACHE_VIP_NONE. */
int cache_vip_by_name(const struct cache *c, const char *name);
int cache_vip_by_addr(const struct cache *c, const struct ha_addr *addr);

/*
 * Live SAs sorted by VIP address (entries with no VIP last), then SPI,
 * then the rest of the key; only VIP vip unless vip_filter is false.
 * Returns the count and a malloc'd array in *out (free() it; NULL when 0),
 * or (size_t)-1 when out of memory.
 */
size_t cache_sa_list(const struct cache *c, bool vip_filter, int vip,
		     const struct cache_sa_entry ***out);
/* Live policies in key order, same conventions. */
size_t cache_policy_list(const struct cache *c, const struct cache_policy_entry ***out);

/* SHA-256 of the live set (docs/control.md section 5). Uses NSS, initialised if need be. */
int cache_digest(const struct cache *c, uint8_t out[CACHE_DIGEST_LEN]);
/* First 8 hex digits of SHA-256 over the SA's key bytes; "" when it has none. */
int cache_key_fingerprint(const struct ha_sa *sa, char out[9]);

/* The `sas` array of docs/control.md; NULL when out of memory. */
struct json_object *cache_sas_json(const struct cache *c, bool vip_filter, int vip,
				   uint64_t now_ms);

const char *cache_strerror(int status);

#endif
