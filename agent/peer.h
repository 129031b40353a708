/* peer.h: the link to the peer gateway: transport + session engine, our snapshot out, the peer's records into the standby cache. */
#ifndef HASYNC_PEER_H
#define HASYNC_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "conf.h"
#include "ike.h"
#include "seal.h"
#include "session.h"
#include "transport.h"

struct event_base;
struct peer;

#define PEER_LAG_SAMPLES	4096

struct peer_lag {
	uint64_t samples;		/* total measured */
	int64_t p50_ms, p99_ms, max_ms;	/* over the last PEER_LAG_SAMPLES; -1 when none */
	int64_t last_ms;
};

/*
 * own: what this node captured from its kernel (the snapshot we send);
 * held: the peer's state (the standby cache). Both stay the caller's.
 */
struct peer *peer_new(struct event_base *base, const struct conf *conf, const struct seal_psk *psk,
		      struct cache *own, struct cache *held);
int peer_start(struct peer *p);
void peer_free(struct peer *p);

/*
 * IKE SAs (docs/protocol.md 5.5): own is fed by our pluto, held by the
 * peer's IKE records. Without this call (no pluto socket configured) the
 * peer's IKE records are acknowledged and dropped. The hooks hear what
 * the peer changed in held, to hand it on to our pluto.
 */
struct peer_ike_hooks {
	/* A live record applied to held: rec parsed from json (len bytes, keys inside). */
	void (*held_record)(void *ctx, const struct pluto_record *rec, const char *json, size_t len);
	/* A live IKE_DELETE applied to held. */
	void (*held_delete)(void *ctx, uint64_t spi_i, uint64_t spi_r);
	/* A snapshot from the peer replaced held (SA and IKE bulks both complete). */
	void (*held_replaced)(void *ctx);
};
void peer_set_ike(struct peer *p, struct ike_cache *own, struct ike_cache *held,
		  const struct peer_ike_hooks *hooks, void *ctx);
/* One of our pluto's live records, about the IKE SA spi_i/spi_r. */
void peer_ike_record(struct peer *p, uint64_t spi_i, uint64_t spi_r, const char *json, size_t len);
void peer_ike_deleted(struct peer *p, uint64_t spi_i, uint64_t spi_r);
/* Every IKE SA of own as live records (after our pluto's snapshot replaced own). */
void peer_ike_send_own(struct peer *p);
/* Peer IKE records the held cache could not take (malformed documents, failed applies). */
uint64_t peer_ike_refused(const struct peer *p);

/* Our kernel changed: tell the peer (dropped silently while the link is down:
 * every association starts with a full snapshot). */
void peer_sa_changed(struct peer *p, const struct ha_sa *sa, bool counters_only);
void peer_sa_deleted(struct peer *p, const struct ha_sa_key *key);
void peer_policy_changed(struct peer *p, const struct ha_policy *pol);
void peer_policy_deleted(struct peer *p, const struct ha_policy_key *key);
/* Our own view is (in)complete: a snapshot waits for a complete view. */
void peer_set_own_ready(struct peer *p, bool ready);
/* Drop the association now; the reconnect starts with snapshots both ways. */
void peer_resync(struct peer *p, const char *why);

bool peer_is_up(const struct peer *p);
/* We hold a complete snapshot from the peer and the link has no unsent changes of ours. */
bool peer_in_sync(const struct peer *p);
const char *peer_state_name(const struct peer *p);
const char *peer_node_id(const struct peer *p);
void peer_get_lag(const struct peer *p, struct peer_lag *out);
void peer_get_session_stats(const struct peer *p, struct session_stats *out);
const struct transport *peer_transport(const struct peer *p);
uint64_t peer_resyncs(const struct peer *p);
uint64_t peer_now_ms(void);		/* monotonic, the clock the caches are fed */
uint64_t peer_wall_ms(void);		/* realtime, the clock of SYNCED_AT */

#endif
