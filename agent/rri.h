/* rri.h: reverse route injection: routes to the remote protected subnets of a VIP's outbound policies (libnl-route). */
#ifndef HASYNC_RRI_H
#define HASYNC_RRI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa.h"

/*
 * Where our routes go and how they are marked: the protocol number tells
 * our routes apart from everyone else's (bird/FRR redistribute by it, and
 * removal touches nothing else), the table and metric are the operator's.
 */
struct rri_params {
	bool enabled;
	uint32_t table;		/* 254 main */
	uint32_t metric;	/* RTA_PRIORITY */
	uint8_t protocol;	/* rtm_protocol, e.g. 201 */
};

/* One route: dst/plen (a remote protected subnet) via the remote peer. */
struct rri_route {
	struct ha_addr dst;	/* host bits cleared */
	uint8_t plen;
	struct ha_addr via;	/* the outbound template's tunnel destination */
};

/*
 * Pure: the routes a VIP's policies call for. For each outbound policy
 * (dir out, action allow) with a tunnel-mode template whose source is the
 * VIP: the selector's destination prefix via the template's destination.
 * One route per prefix (the first policy in the given order wins; a later
 * one naming another peer for the same prefix is left out and counted in
 * *conflicts if not NULL), in the policies' order. Writes at most cap
 * routes to out and returns how many routes there are (may exceed cap:
 * call again with more room). No I/O; n log n with a scratch array, the
 * same answer in n^2 without one when memory is short.
 */
size_t rri_routes_from_policies(const struct ha_policy *const *pols, size_t n,
				const struct ha_addr *vip, struct rri_route *out, size_t cap,
				unsigned *conflicts);

/* "10.2.0.0/24 via 192.0.2.100", for logs. */
void rri_route_str(const struct rri_route *r, char *buf, size_t len);

struct rri;

/* Its own NETLINK_ROUTE socket. NULL when out of memory or no netlink. */
struct rri *rri_new(void);
void rri_free(struct rri *r);

/*
 * Adds (NLM_F_CREATE | NLM_F_REPLACE: idempotent) each route in table,
 * metric and protocol of p. The next hop is the route's peer when the
 * kernel's route to the peer is on-link (no gateway), else the gateway the
 * kernel uses to reach the peer, so the protected subnet follows the ESP
 * packets; the output interface is the one the kernel chose. Best effort:
 * each failure is counted and logged once. Returns 0, or -EIO when any
 * route failed, or another -errno when nothing could be tried.
 */
int rri_add(struct rri *r, const struct rri_params *p, const struct rri_route *routes, size_t n,
	    unsigned *added, unsigned *failed);

/*
 * Deletes our routes (protocol and table of p) to these prefixes, whatever
 * their next hop; routes NULL: every route of ours in the table (what
 * a node stepping down entirely, or a restarted agent, cleans). A route
 * already gone is not an error. Returns like rri_add().
 */
int rri_remove(struct rri *r, const struct rri_params *p, const struct rri_route *routes, size_t n,
	       unsigned *removed, unsigned *failed);

#endif
