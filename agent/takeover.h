/* takeover.h: promotion of a VIP's held SAs and policies into the kernel with safe anti-replay counters, demotion, and their routes (libnl-xfrm). */
#ifndef HASYNC_TAKEOVER_H
#define HASYNC_TAKEOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "rri.h"
#include "sa.h"

struct nl_msg;

/*
 * Until pluto can import IKE SAs, promotion is kernel-only: the agent is
 * the only writer of the kernel objects it installs (docs/takeover.md).
 */

struct takeover_params {
	uint32_t replay_out;		/* conf replay-interval-outbound */
	uint32_t replay_in;		/* conf replay-interval-inbound */
	uint64_t exhaustion_margin;	/* packets: closer than this to the
					 * sequence space's end -> not installed as is */
};

struct takeover_result {
	unsigned sas_installed, sas_failed, sas_near_exhaustion;
	unsigned policies_installed, policies_failed;
	unsigned routes_added, routes_failed, sas_removed, policies_removed, routes_removed;
	uint64_t sas_us, policies_us, routes_us, total_us;
	unsigned sas_updated;		/* of sas_installed: already in the kernel, counters moved */
};

struct takeover;

/* Its own netlink sockets (XFRM, route). NULL when out of memory or no netlink. */
struct takeover *takeover_new(void);
void takeover_free(struct takeover *t);

/*
 * Install every SA and policy of VIP vip (index in the cache's VIPs) from
 * the cache: SAs with advanced counters, policies as captured (same
 * selectors, dir, priority, reqid, marks, templates), then routes. An SA
 * already in the kernel (same daddr/spi/proto/mark) is updated, not
 * duplicated: its counters move forward, never back. Best effort per
 * object: failures are counted, logged once each, never abort the rest.
 * Returns 0 when nothing failed (SAs left out near exhaustion are not
 * failures), -EIO when some object failed (see *res), another -errno when
 * nothing could be tried (bad VIP index, no memory).
 */
int takeover_promote(struct takeover *t, const struct cache *held, int vip,
		     const struct takeover_params *params, const struct rri_params *rri,
		     struct takeover_result *res);

/*
 * Remove from the kernel every SA and policy whose local address is the
 * VIP (SA: saddr for outbound, daddr for inbound; policy: template end),
 * and the routes we added for it (our route protocol in our table: those
 * the VIP's outbound policies call for, and those this process added at
 * its last promotion of that VIP). Objects already gone are not failures.
 * Returns like takeover_promote().
 */
int takeover_demote(struct takeover *t, const struct ha_addr *vip, const struct rri_params *rri,
		    struct takeover_result *res);

/* ---------------------------------------------------------------- pure */

/*
 * The replay state to install from the last synced one.
 * Outbound (dir HA_SA_DIR_OUT, or synced->sa_dir out when dir is 0):
 * oseq = synced oseq + replay_out, 64-bit over oseq_hi:oseq with ESN
 * (XFRM_STATE_ESN); TAKEOVER_REPLAY_EXHAUSTED when fewer than
 * exhaustion_margin + 1 sequence numbers would be left before 2^32 - 1
 * (2^64 - 1 with ESN), unless XFRM_SA_XFLAG_OSEQ_MAY_WRAP allows the
 * kernel to wrap. Inbound: seq, seq_hi and the bitmap as synced (never
 * moved back). With XFRMA_SA_DIR set, the half the kernel forbids is zero
 * (an output SA carries no seq/bitmap, an input SA no oseq). Direction
 * unknown: both rules (oseq advanced, window kept). *out is always set.
 */
enum takeover_replay { TAKEOVER_REPLAY_OK, TAKEOVER_REPLAY_EXHAUSTED };
enum takeover_replay takeover_advance_replay(const struct ha_sa *synced, uint8_t dir,
		const struct takeover_params *params, struct ha_replay *out);

/* Whether the policy is the VIP's: a template's tunnel end is the VIP, or a
 * transport-mode template's selector host is (as the capture decides). */
bool takeover_policy_is_vip(const struct ha_policy *p, const struct ha_addr *vip);

/*
 * The XFRM_MSG_NEWSA (or UPDSA) request for sa with replay state replay
 * and its synced current lifetime, built with libnl-xfrm plus the raw
 * attributes libnl 3.7 lacks. The message holds the keys: wipe it with
 * takeover_msg_free(). Returns 0 or -errno.
 */
int takeover_sa_msg(const struct ha_sa *sa, const struct ha_replay *replay, int type,
		    struct nl_msg **out);
/* XFRM_MSG_UPDPOLICY for p (the kernel's own index is left to it). */
int takeover_policy_msg(const struct ha_policy *p, struct nl_msg **out);
/* Wipes the used part of the message, then frees it. */
void takeover_msg_free(struct nl_msg *msg);

#endif
