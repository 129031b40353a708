/* vip.h: each VIP's role (keepalived or hasyncctl decides) and the takeover it drives, events applied in order. */
#ifndef HASYNC_VIP_H
#define HASYNC_VIP_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "conf.h"
#include "keepalived.h"
#include "role.h"
#include "takeover.h"

struct event_base;
struct vips;

/* The last promotion or demotion of one VIP, for status. */
struct vip_takeover {
	bool valid;
	bool promotion;			/* else a demotion */
	uint64_t at_wall_ms;		/* when it ended, ms since the Unix epoch */
	uint64_t queued_us;		/* from the event's arrival to the start of the work */
	struct takeover_result res;
};

/*
 * held: the standby cache promotions install from (the caller's). Events
 * are queued and applied one at a time from the event loop, so a reply to
 * keepalived's notify never waits for a promotion, and a promotion in
 * progress is never interrupted by the next event.
 */
struct vips *vips_new(struct event_base *base, const struct conf *conf, struct cache *held);
void vips_free(struct vips *v);

/* A keepalived event: 0 queued, -1 with err for an instance or group we do not manage. */
int vips_keepalived(struct vips *v, const struct keepalived_event *ev, char *err, size_t errlen);
/* hasyncctl promote/demote NAME: 0 queued, -1 with err for an unknown VIP name. */
int vips_manual(struct vips *v, const char *name, bool promote, char *err, size_t errlen);
/*
 * Called from inside a promotion or step-down, in this order: before_demote
 * just before the kernel objects of a VIP that steps down are removed,
 * after_demote once they are, after_promote once a promotion installed
 * them (rc: takeover_promote()'s). hasyncd tells pluto there: drop its IKE
 * SAs first, so pluto never runs an SA whose kernel SAs are gone; activate
 * the peer's only once their kernel SAs are in. Any member may be NULL.
 */
struct vips_hooks {
	void (*before_demote)(void *ctx, unsigned vip);
	void (*after_demote)(void *ctx, unsigned vip);
	void (*after_promote)(void *ctx, unsigned vip, int rc);
};
void vips_set_hooks(struct vips *v, const struct vips_hooks *hooks, void *ctx);

/* Apply everything queued now (the loop does it by itself; for a prompt reply in tests). */
void vips_run_queue(struct vips *v);

const struct role *vips_role(const struct vips *v, unsigned i);
const struct vip_takeover *vips_last(const struct vips *v, unsigned i);
/* This node is MASTER of at least one VIP. */
bool vips_any_master(const struct vips *v);
/*
 * Whether removals of this VIP's kernel objects are news for the peer: not
 * after this node stepped down (its last action for the VIP was a
 * demotion), since its removals then hand the SAs over, and the peer's
 * copy, which the new master promotes, must not be deleted under it.
 */
bool vips_reports_removals(const struct vips *v, int i);
/* A configured VIP's address as the kernel-facing modules take it. */
struct ha_addr vip_address(const struct conf_vip *cv);
/* Events waiting to be applied. */
unsigned vips_queued(const struct vips *v);

#endif
