/* ikesync.h: IKE sync orchestration: our pluto's records to the peer, the peer's to our pluto, activate and drop around takeovers. */
#ifndef HASYNC_IKESYNC_H
#define HASYNC_IKESYNC_H

/*
 * docs/architecture.md "IKE sync". Owns both IKE caches (own: our pluto's
 * IKE SAs; held: the peer's, handed to our pluto as dormant), the client
 * of pluto's HA socket, and the retry of an import that could not be
 * written whole. Only exists with pluto-ha-socket set.
 *
 * It reaches the peer and the VIP roles through struct ikesync_links, not
 * through peer.c and vip.c directly: hasyncd.c points the links at
 * peer_ike_*() and vips_reports_removals(), the unit test at fakes, so
 * what goes to the peer can be checked without a sync association.
 *
 * The hook functions below take the struct ikesync as void *ctx, so that
 * hasyncd.c can register them as they are with peer_set_ike() and
 * vips_set_hooks().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "ike.h"
#include "pluto.h"

struct event_base;
struct ikesync;

/* What ikesync tells the peer, and asks about the VIPs; ctx is the links_ctx of ikesync_new(). */
struct ikesync_links {
	/* One of our pluto's live records, about the IKE SA spi_i/spi_r (peer_ike_record()). */
	void (*ike_record)(void *ctx, uint64_t spi_i, uint64_t spi_r, const char *json, size_t len);
	/* An IKE SA of ours is gone (peer_ike_deleted()). */
	void (*ike_deleted)(void *ctx, uint64_t spi_i, uint64_t spi_r);
	/* Our whole own IKE cache as live records, after a snapshot replaced it (peer_ike_send_own()). */
	void (*send_own)(void *ctx);
	/* Whether removals under VIP vip are news for the peer (vips_reports_removals()). */
	bool (*reports_removals)(void *ctx, int vip);
};

/* pluto's last answer to activate or drop, for status. */
struct ikesync_reply {
	bool valid;
	enum pluto_type type;	/* PLUTO_ACTIVATED or PLUTO_DROPPED */
	char local[64];
	uint64_t ike, child, failed, at_wall_ms;
};

struct ikesync_stats {
	bool pluto_ready;		/* this connection's snapshot is in */
	uint64_t imports, import_failures, forwarded, forward_failures;
	struct ikesync_reply last_reply;
};

/*
 * Both caches (hash keys from seal_random(): remote peers choose
 * initiator SPIs), the pluto client for conf->pluto_ha_socket, the import
 * retry timer. conf and the links stay the caller's. NULL on failure
 * (logged, except a failure of seal_random()).
 */
struct ikesync *ikesync_new(struct event_base *base, const struct conf *conf,
			    const struct ikesync_links *links, void *links_ctx);
/* Start connecting to pluto. */
int ikesync_start(struct ikesync *s);
void ikesync_free(struct ikesync *s);

struct ike_cache *ikesync_own(const struct ikesync *s);
struct ike_cache *ikesync_held(const struct ikesync *s);
struct pluto *ikesync_pluto(const struct ikesync *s);
void ikesync_get_stats(const struct ikesync *s, struct ikesync_stats *out);

/* peer_ike_hooks: a live record, a live delete, a whole snapshot from the peer applied to held. */
void ikesync_held_record(void *ctx, const struct pluto_record *rec, const char *json, size_t len);
void ikesync_held_delete(void *ctx, uint64_t spi_i, uint64_t spi_r);
void ikesync_held_replaced(void *ctx);

/* vips_hooks: around a step-down, and after a promotion, of VIP vip. */
void ikesync_before_demote(void *ctx, unsigned vip);
void ikesync_after_demote(void *ctx, unsigned vip);
void ikesync_after_promote(void *ctx, unsigned vip, int rc);

#endif
