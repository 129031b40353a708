/* xfrm.h: capture of the kernel's XFRM SAs and policies for our VIPs (libnl-xfrm): dump, events, async-event thresholds. */
#ifndef HASYNC_XFRM_H
#define HASYNC_XFRM_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/netlink.h>

#include "sa.h"

struct event_base;
struct nl_msg;

#define XFRM_FILTER_VIPS_MAX	64

/* The local addresses we own: an SA or policy belongs to us through them. */
struct xfrm_filter {
	struct ha_addr vips[XFRM_FILTER_VIPS_MAX];
	int n_vips;
};

/*
 * Async-event thresholds set on every captured SA (XFRM_MSG_NEWAE with
 * NLM_F_REPLACE): the kernel reports an SA's counters once its sequence
 * number moved by replay_in (inbound SAs) or replay_out (outbound) packets,
 * and at the latest etimer_ms after a change. 0 leaves that knob as it is.
 * The kernel takes XFRMA_ETIMER_THRESH in jiffies (and reports it in
 * 100 ms units): kernel_hz is its CONFIG_HZ, or 0 to have the capture
 * measure it on the first SA (docs/xfrm-capture.md).
 */
struct xfrm_thresholds {
	uint32_t replay_in;
	uint32_t replay_out;
	uint32_t etimer_ms;
	uint32_t kernel_hz;
};

/*
 * What the capture tells its user. Pointers are valid during the call only
 * and point to key material: copy what you keep, log none of it.
 */
struct xfrm_events {
	/* A captured SA, complete; counters_only: only its replay and
	 * lifetime counters (and synced_at_ms) moved since the last call. */
	void (*sa_update)(void *ctx, const struct ha_sa *sa, bool counters_only);
	void (*sa_delete)(void *ctx, const struct ha_sa_key *key);
	void (*policy_update)(void *ctx, const struct ha_policy *p);
	void (*policy_delete)(void *ctx, const struct ha_policy *p);
	/* A full dump starts (at start, and after ENOBUFS): every object
	 * present follows as a full update, events go on meanwhile, then
	 * dump_end: the receiver replaces its view with what it was told
	 * since the last dump_begin. A dump_begin may come again before
	 * dump_end (events were lost during that dump): start over. */
	void (*dump_begin)(void *ctx);
	void (*dump_end)(void *ctx);
};

struct xfrm_capture_stats {
	uint64_t events;	/* messages read from the event socket */
	uint64_t aevents;	/* XFRM_MSG_NEWAE among them */
	uint64_t dumps;		/* full dumps started */
	uint64_t enobufs;	/* event socket overruns (each one re-dumps) */
	uint64_t filtered_out;	/* SAs and policies that are not ours */
	uint64_t errors;	/* malformed messages, failed requests */
	uint64_t sas;		/* SAs held now */
	uint64_t policies;	/* policies held now */
	uint64_t ae_sets;	/* threshold requests sent */
	uint64_t ae_set_errors;	/* ... refused by the kernel (SA gone excluded) */
};

struct xfrm_capture;

struct xfrm_capture *xfrm_capture_new(struct event_base *base, const struct xfrm_filter *filter,
    const struct xfrm_thresholds *thr, const struct xfrm_events *ev, void *ctx);
/* The event socket's receive buffer (default 4 MiB); before start. */
void xfrm_capture_set_rcvbuf(struct xfrm_capture *cap, int bytes);
/* Subscribe to the SA, policy, expire and aevent groups, then dump. */
int xfrm_capture_start(struct xfrm_capture *cap);
void xfrm_capture_free(struct xfrm_capture *cap);
void xfrm_capture_get_stats(const struct xfrm_capture *cap, struct xfrm_capture_stats *st);
/* Handle one message as if read from the event socket, or from a dump
 * (from_dump): the capture's logic without sockets, for tests. */
int xfrm_capture_feed(struct xfrm_capture *cap, const struct nlmsghdr *nlh, bool from_dump);

/* ---------------------------------------------------------------- parser */

enum xfrm_msg_kind {
	XFRM_MSG_KIND_NONE,		/* a message the capture does not act on */
	XFRM_MSG_KIND_SA,		/* NEWSA, UPDSA (event or dump): sa complete */
	XFRM_MSG_KIND_SA_DELETE,	/* DELSA, hard EXPIRE: sa complete */
	XFRM_MSG_KIND_SA_SOFT_EXPIRE,	/* soft EXPIRE: sa without algorithms nor replay */
	XFRM_MSG_KIND_AE,		/* NEWAE: sa holds the id, addresses, reqid, mark and counters */
	XFRM_MSG_KIND_SA_FLUSH,		/* FLUSHSA: flush_proto */
	XFRM_MSG_KIND_POLICY,		/* NEWPOLICY, UPDPOLICY (event or dump) */
	XFRM_MSG_KIND_POLICY_DELETE,	/* DELPOLICY, hard POLEXPIRE */
	XFRM_MSG_KIND_POLICY_FLUSH,	/* FLUSHPOLICY */
};

/* Which way an SA goes, as seen from the VIPs. */
#define XFRM_DIR_NONE	0
#define XFRM_DIR_IN	1	/* daddr is a VIP */
#define XFRM_DIR_OUT	2	/* saddr is a VIP */

struct xfrm_msg {
	enum xfrm_msg_kind kind;
	uint16_t nlmsg_type;
	bool ours;		/* passes the filter: for SAs, ESP with a VIP end */
	uint8_t dir;		/* XFRM_DIR_*, for SAs */
	struct ha_sa sa;	/* SA kinds; holds keys: xfrm_msg_wipe() it */
	struct ha_policy policy;	/* policy kinds */
	uint8_t flush_proto;	/* SA_FLUSH: IPSEC_PROTO_ANY (255) or one protocol */
	/* AE only */
	uint32_t ae_flags;	/* XFRM_AE_*: why the kernel sent it */
	bool has_replay;
	bool has_lifetime;
	bool has_replay_thresh;
	bool has_etimer_thresh;
};

/*
 * Parses one XFRM netlink message (nlh->nlmsg_len bytes readable) into the
 * model, through libnl-xfrm's parsers after checking every length they
 * trust. Pure: no I/O, no global state. Returns 0 (out->kind says what it
 * was, out->ours whether it is ours), or -EINVAL for a malformed message,
 * -E2BIG for more templates than the model holds, -ENOMEM.
 */
int xfrm_parse_msg(const struct nlmsghdr *nlh, const struct xfrm_filter *filter, struct xfrm_msg *out);
void xfrm_msg_wipe(struct xfrm_msg *m);
/*
 * A dump request of every SA (XFRM_MSG_GETSA) or policy (XFRM_MSG_GETPOLICY),
 * with the empty id the kernel expects. NULL when out of memory.
 */
struct nl_msg *xfrm_dump_msg(int type);

bool xfrm_filter_match(const struct xfrm_filter *filter, const struct ha_addr *a);
/* The value of XFRMA_ETIMER_THRESH for thr: etimer_ms in jiffies of
 * thr->kernel_hz, or in the kernel's documented 100 ms unit when it is 0. */
uint32_t xfrm_etimer_value(const struct xfrm_thresholds *thr);
/* Merges counters into cur so that they never go back (events and dumps
 * may arrive out of order): the higher sequence numbers win. */
void xfrm_replay_merge(struct ha_replay *cur, const struct ha_replay *in);

#endif
