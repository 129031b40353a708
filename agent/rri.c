/* rri.c: reverse route injection: routes to the remote protected subnets of a VIP's outbound policies, added and removed through libnl-route. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/xfrm.h>

#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>

#include "log.h"
#include "nlbatch.h"
#include "rri.h"

/*
 * Requests are built with libnl-route (rtnl_route_build_*_request) and
 * sent in batches on the socket's descriptor (nlbatch.c): one send() for
 * up to NLBATCH_MAX requests, then their ACKs read; one round trip per
 * route would cost as much as the SA installs themselves at 10,000
 * tunnels. The FIB lookups of the peers are batched the same way
 * (RTM_GETROUTE, answers parsed by libnl's rtnl_route_parse()), once per
 * distinct peer.
 * The "every route of ours" dump asks the kernel to filter by table and
 * protocol (NETLINK_GET_STRICT_CHK, Linux 4.20+): a router holding a full
 * BGP table must not copy it to us to find our few hundred routes.
 */

#define BATCH_MAX	NLBATCH_MAX	/* peer lookups per send(), as many as route requests */
#define TX_MAX		(64 << 10)
#define RX_MAX		(64 << 10)
#define ERRS_LOGGED	20	/* failures logged per call; the rest are counted */

struct rri {
	struct nl_sock *sk;
	int fd;
	uint8_t *tx;
	uint8_t *rx;
};

/* ================================================================ pure */

static bool addr_is_set(const struct ha_addr *a)
{
	static const struct in6_addr zero6;

	if (a->family == AF_INET)
		return a->v4.s_addr != 0;
	if (a->family == AF_INET6)
		return memcmp(&a->v6, &zero6, sizeof(zero6)) != 0;
	return false;
}

/* Clears the host bits, so that 10.2.0.7/24 and 10.2.0.0/24 are one route. */
static void prefix_mask(struct ha_addr *a, uint8_t plen)
{
	uint8_t *b;
	size_t len, i;

	if (a->family == AF_INET) {
		b = (uint8_t *)&a->v4;
		len = 4;
	} else if (a->family == AF_INET6) {
		b = (uint8_t *)&a->v6;
		len = 16;
	} else {
		return;
	}
	for (i = 0; i < len; i++) {
		unsigned bits = plen > 8 * i ? plen - 8 * i : 0;

		if (bits >= 8)
			continue;
		b[i] &= (uint8_t)(0xff00 >> bits);
	}
}

static bool route_same_prefix(const struct rri_route *a, const struct rri_route *b)
{
	return a->plen == b->plen && ha_addr_equal(&a->dst, &b->dst);
}

/* The route one policy calls for, if any. */
static bool route_of(const struct ha_policy *p, const struct ha_addr *vip, struct rri_route *r)
{
	const struct ha_tmpl *t = NULL;
	uint8_t maxlen;
	int k;

	if (p->dir != XFRM_POLICY_OUT || p->action != XFRM_POLICY_ALLOW)
		return false;
	for (k = 0; k < p->ntmpl && k < HA_TMPL_MAX; k++) {
		if (p->tmpl[k].mode == XFRM_MODE_TUNNEL &&
		    ha_addr_equal(&p->tmpl[k].saddr, vip) && addr_is_set(&p->tmpl[k].id.daddr)) {
			t = &p->tmpl[k];
			break;
		}
	}
	if (t == NULL)
		return false;
	if (p->sel.daddr.family != AF_INET && p->sel.daddr.family != AF_INET6)
		return false;
	/* A route to the other family's prefix via this peer cannot exist. */
	if (p->sel.daddr.family != t->id.daddr.family)
		return false;
	maxlen = p->sel.daddr.family == AF_INET ? 32 : 128;
	if (p->sel.prefixlen_d > maxlen)
		return false;
	memset(r, 0, sizeof(*r));
	r->dst = p->sel.daddr;
	r->plen = p->sel.prefixlen_d;
	prefix_mask(&r->dst, r->plen);
	r->via = t->id.daddr;
	return true;
}

struct cand {
	struct rri_route r;
	size_t idx;		/* the policy's position: the first one wins */
	bool keep;
};

static int addr_bytes_cmp(const struct ha_addr *a, const struct ha_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->family == AF_INET)
		return memcmp(&a->v4, &b->v4, sizeof(a->v4));
	if (a->family == AF_INET6)
		return memcmp(&a->v6, &b->v6, sizeof(a->v6));
	return 0;
}

static int cand_by_prefix(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;
	int c = addr_bytes_cmp(&a->r.dst, &b->r.dst);

	if (c)
		return c;
	if (a->r.plen != b->r.plen)
		return a->r.plen < b->r.plen ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int cand_by_idx(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;

	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Without memory for the sort: the same answer, quadratic, nothing allocated. */
static size_t routes_slow(const struct ha_policy *const *pols, size_t n, const struct ha_addr *vip,
			  struct rri_route *out, size_t cap, unsigned *nconf)
{
	size_t count = 0, i, j;

	for (i = 0; i < n; i++) {
		struct rri_route r, q;
		bool dup = false;

		if (!route_of(pols[i], vip, &r))
			continue;
		for (j = 0; j < i && !dup; j++) {
			if (route_of(pols[j], vip, &q) && route_same_prefix(&q, &r)) {
				dup = true;
				if (!ha_addr_equal(&q.via, &r.via))
					(*nconf)++;
			}
		}
		if (dup)
			continue;
		if (count < cap)
			out[count] = r;
		count++;
	}
	return count;
}

size_t rri_routes_from_policies(const struct ha_policy *const *pols, size_t n,
				const struct ha_addr *vip, struct rri_route *out, size_t cap,
				unsigned *conflicts)
{
	struct cand *c;
	size_t m = 0, kept = 0, i, g;
	unsigned nconf = 0;

	c = n ? malloc(n * sizeof(*c)) : NULL;
	if (n && c == NULL) {
		kept = routes_slow(pols, n, vip, out, cap, &nconf);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (route_of(pols[i], vip, &c[m].r)) {
			c[m].idx = i;
			c[m].keep = false;
			m++;
		}
	}
	/* One route per prefix, the first policy's; sorted, so n log n at
	 * 10,000 tunnels. */
	if (m == 0) {
		free(c);
		goto out;
	}
	qsort(c, m, sizeof(*c), cand_by_prefix);
	for (g = 0; g < m; g = i) {
		c[g].keep = true;
		for (i = g + 1; i < m && route_same_prefix(&c[i].r, &c[g].r); i++)
			if (!ha_addr_equal(&c[i].r.via, &c[g].r.via))
				nconf++;
	}
	for (i = 0; i < m; i++)
		if (c[i].keep)
			c[kept++] = c[i];
	qsort(c, kept, sizeof(*c), cand_by_idx);
	for (i = 0; i < kept && i < cap; i++)
		out[i] = c[i].r;
	free(c);
out:
	if (conflicts)
		*conflicts = nconf;
	return kept;
}

static void addr_str(const struct ha_addr *a, char *buf, size_t len)
{
	if (a->family == AF_INET)
		inet_ntop(AF_INET, &a->v4, buf, (socklen_t)len);
	else if (a->family == AF_INET6)
		inet_ntop(AF_INET6, &a->v6, buf, (socklen_t)len);
	else
		snprintf(buf, len, "-");
}

void rri_route_str(const struct rri_route *r, char *buf, size_t len)
{
	char d[INET6_ADDRSTRLEN], v[INET6_ADDRSTRLEN];

	addr_str(&r->dst, d, sizeof(d));
	addr_str(&r->via, v, sizeof(v));
	snprintf(buf, len, "%s/%u via %s", d, r->plen, v);
}

/* ================================================================ netlink */

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static struct nl_addr *nl_of(const struct ha_addr *a, int plen)
{
	struct nl_addr *n;

	if (a->family == AF_INET)
		n = nl_addr_build(AF_INET, &a->v4, sizeof(a->v4));
	else if (a->family == AF_INET6)
		n = nl_addr_build(AF_INET6, &a->v6, sizeof(a->v6));
	else
		return NULL;
	if (n && plen >= 0)
		nl_addr_set_prefixlen(n, plen);
	return n;
}

struct rri *rri_new(void)
{
	struct rri *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return NULL;
	r->tx = malloc(TX_MAX);
	r->rx = malloc(RX_MAX);
	r->sk = nl_socket_alloc();
	if (r->tx == NULL || r->rx == NULL || r->sk == NULL) {
		rri_free(r);
		return NULL;
	}
	rc = nlbatch_socket_connect(r->sk, NETLINK_ROUTE, 1 << 20, &r->fd);
	if (rc < 0) {
		log_err("rri: cannot open a netlink route socket: %s", nl_geterror(rc));
		rri_free(r);
		return NULL;
	}
	return r;
}

void rri_free(struct rri *r)
{
	if (r == NULL)
		return;
	if (r->sk)
		nl_socket_free(r->sk);
	free(r->tx);
	free(r->rx);
	free(r);
}

/* ---------------------------------------------------------------- batches */

/* Route requests hold no secrets: the buffers are not wiped. */
static void batch_init(struct nlbatch *b, struct rri *r)
{
	const struct nlbatch_io io = {
		.sk = r->sk, .fd = r->fd,
		.tx = r->tx, .tx_max = TX_MAX,
		.rx = r->rx, .rx_max = RX_MAX,
		.wipe = false,
	};

	nlbatch_init(b, &io);
}

/* ---------------------------------------------------------------- add */

struct hop {
	struct ha_addr peer;
	struct nl_addr *gw;	/* NULL: not resolved */
	int oif;
	int err;		/* why not */
	uint32_t seq;
};

static void hops_free(struct hop *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (h[i].gw)
			nl_addr_put(h[i].gw);
	free(h);
}

static int addr_cmp(const struct ha_addr *a, const struct ha_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->family == AF_INET)
		return memcmp(&a->v4, &b->v4, sizeof(a->v4));
	if (a->family == AF_INET6)
		return memcmp(&a->v6, &b->v6, sizeof(a->v6));
	return 0;
}

static int hop_cmp(const void *a, const void *b)
{
	return addr_cmp(&((const struct hop *)a)->peer, &((const struct hop *)b)->peer);
}

/* The answer to one lookup: the next hop toward the peer as the kernel sees it now. */
static void hop_set(struct hop *h, struct nlmsghdr *nlh)
{
	struct rtnl_route *res = NULL;
	struct rtnl_nexthop *nh;
	struct nl_addr *gw;

	if (rtnl_route_parse(nlh, &res) < 0 || res == NULL) {
		h->err = -EINVAL;
		return;
	}
	nh = rtnl_route_get_nnexthops(res) > 0 ? rtnl_route_nexthop_n(res, 0) : NULL;
	gw = nh ? rtnl_route_nh_get_gateway(nh) : NULL;
	h->oif = nh ? rtnl_route_nh_get_ifindex(nh) : 0;
	if (nh == NULL || rtnl_route_get_type(res) != RTN_UNICAST)
		h->err = -ENETUNREACH;	/* local, blackhole, unreachable... */
	else if (gw)
		h->gw = nl_addr_clone(gw);	/* not on-link: through the peer's next hop */
	else
		h->gw = nl_of(&h->peer, -1);	/* on-link: the peer itself */
	if (h->err == 0 && h->gw == NULL)
		h->err = -ENOMEM;
	rtnl_route_put(res);
}

/*
 * RTM_GETROUTE for each peer, BATCH_MAX per send() (what libnl's
 * rtnl_route_lookup() does one round trip at a time; thousands of peers
 * make the difference).
 */
static void hops_resolve(struct rri *r, struct hop *hops, size_t n)
{
	size_t first, i;

	for (first = 0; first < n; first += BATCH_MAX) {
		size_t end = first + BATCH_MAX < n ? first + BATCH_MAX : n, len = 0, got = 0;

		for (i = first; i < end; i++) {
			struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, 0);
			struct nl_addr *dst = nl_of(&hops[i].peer, -1);
			struct rtmsg rtm;
			struct nlmsghdr *nlh;

			memset(&rtm, 0, sizeof(rtm));
			rtm.rtm_family = hops[i].peer.family;
			rtm.rtm_dst_len = hops[i].peer.family == AF_INET ? 32 : 128;
			hops[i].err = -ENOMEM;
			if (msg && dst && nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) == 0 &&
			    nla_put_addr(msg, RTA_DST, dst) == 0 &&
			    len + NLMSG_ALIGN(nlmsg_hdr(msg)->nlmsg_len) <= TX_MAX) {
				nlh = nlmsg_hdr(msg);
				nlh->nlmsg_seq = hops[i].seq = nl_socket_use_seq(r->sk);
				nlh->nlmsg_flags |= NLM_F_REQUEST;
				memcpy(r->tx + len, nlh, nlh->nlmsg_len);
				len += NLMSG_ALIGN(nlh->nlmsg_len);
				hops[i].err = 1;	/* asked */
			}
			if (dst)
				nl_addr_put(dst);
			if (msg)
				nlmsg_free(msg);
			if (hops[i].err != 1)
				got++;
		}
		if (len && send(r->fd, r->tx, len, 0) < 0) {
			for (i = first; i < end; i++)
				if (hops[i].err == 1)
					hops[i].err = -errno;
			continue;
		}
		while (got < end - first) {
			struct nlmsghdr *nlh;
			ssize_t m = recv(r->fd, r->rx, RX_MAX, 0);
			int rem;

			if (m < 0) {
				if (errno == EINTR)
					continue;
				for (i = first; i < end; i++)
					if (hops[i].err == 1)
						hops[i].err = -ETIMEDOUT;
				break;
			}
			rem = (int)m;
			for (nlh = (struct nlmsghdr *)r->rx; NLMSG_OK(nlh, rem); nlh = NLMSG_NEXT(nlh, rem)) {
				for (i = first; i < end; i++)
					if (hops[i].seq == nlh->nlmsg_seq && hops[i].err == 1)
						break;
				if (i == end)
					continue;
				got++;
				hops[i].err = 0;
				if (nlh->nlmsg_type == NLMSG_ERROR) {
					const struct nlmsgerr *e = NLMSG_DATA(nlh);

					hops[i].err = nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(*e) && e->error ?
					    e->error : -EIO;
				} else if (nlh->nlmsg_type == RTM_NEWROUTE) {
					hop_set(&hops[i], nlh);
				} else {
					hops[i].err = -EIO;
				}
			}
		}
	}
}

/* The distinct peers of the routes, sorted (bsearch), resolved. */
static struct hop *hops_of(struct rri *r, const struct rri_route *routes, size_t n, size_t *nh)
{
	struct hop *h = calloc(n, sizeof(*h));
	size_t i, k = 0;

	*nh = 0;
	if (h == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		h[i].peer = routes[i].via;
	qsort(h, n, sizeof(*h), hop_cmp);
	for (i = 0; i < n; i++)
		if (k == 0 || addr_cmp(&h[k - 1].peer, &h[i].peer) != 0)
			h[k++] = h[i];
	hops_resolve(r, h, k);
	*nh = k;
	return h;
}

static struct rtnl_route *route_new(const struct rri_params *p, const struct rri_route *rt)
{
	struct rtnl_route *route = rtnl_route_alloc();
	struct nl_addr *dst = nl_of(&rt->dst, rt->plen);

	if (route == NULL || dst == NULL) {
		if (route)
			rtnl_route_put(route);
		if (dst)
			nl_addr_put(dst);
		return NULL;
	}
	rtnl_route_set_family(route, rt->dst.family);
	rtnl_route_set_dst(route, dst);
	nl_addr_put(dst);
	rtnl_route_set_table(route, p->table);
	rtnl_route_set_protocol(route, p->protocol);
	rtnl_route_set_priority(route, p->metric);
	rtnl_route_set_type(route, RTN_UNICAST);
	return route;
}

static void report(const char *what, const struct rri_route *rt, int err, const char *why,
		   unsigned *logged)
{
	char s[128];

	if ((*logged)++ >= ERRS_LOGGED)
		return;
	rri_route_str(rt, s, sizeof(s));
	log_warn("rri: cannot %s route %s: %s%s%s", what, s, strerror(-err), why[0] ? ": " : "", why);
}

struct add_ctx {
	const struct rri_route *routes;
	unsigned added, failed, logged;
};

static void add_done(void *ctx, size_t obj, int err, const char *why)
{
	struct add_ctx *a = ctx;

	if (err == 0) {
		a->added++;
		return;
	}
	a->failed++;
	report("add", &a->routes[obj], err, why, &a->logged);
}

int rri_add(struct rri *r, const struct rri_params *p, const struct rri_route *routes, size_t n,
	    unsigned *added, unsigned *failed)
{
	struct add_ctx a = { routes, 0, 0, 0 };
	uint64_t t0, t1;
	struct hop *hops, key;
	struct nlbatch *b;
	size_t nhops, i;

	if (added)
		*added = 0;
	if (failed)
		*failed = 0;
	if (r == NULL || p == NULL)
		return -EINVAL;
	if (n == 0)
		return 0;
	t0 = mono_us();
	b = malloc(sizeof(*b));
	hops = b ? hops_of(r, routes, n, &nhops) : NULL;
	if (hops == NULL) {
		free(b);
		return -ENOMEM;
	}
	batch_init(b, r);
	t1 = mono_us();

	for (i = 0; i < n; i++) {
		const struct rri_route *rt = &routes[i];
		struct rtnl_route *route;
		struct rtnl_nexthop *nh;
		struct nl_msg *msg = NULL;
		struct hop *h;
		int rc;

		memset(&key, 0, sizeof(key));
		key.peer = rt->via;
		h = bsearch(&key, hops, nhops, sizeof(*hops), hop_cmp);
		if (h == NULL || h->gw == NULL) {
			a.failed++;
			report("resolve the next hop of", rt, h && h->err < 0 ? h->err : -EHOSTUNREACH,
			    "", &a.logged);
			continue;
		}
		route = route_new(p, rt);
		nh = rtnl_route_nh_alloc();
		if (route == NULL || nh == NULL) {
			if (route)
				rtnl_route_put(route);
			if (nh)
				rtnl_route_nh_free(nh);
			a.failed++;
			continue;
		}
		rtnl_route_nh_set_gateway(nh, h->gw);
		if (h->oif > 0)
			rtnl_route_nh_set_ifindex(nh, h->oif);
		rtnl_route_add_nexthop(route, nh);	/* the route owns nh now */
		rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
		rc = rtnl_route_build_add_request(route, NLM_F_REPLACE, &msg);
		rtnl_route_put(route);
		if (rc < 0) {
			a.failed++;
			report("build", rt, -ENOMEM, nl_geterror(rc), &a.logged);
			continue;
		}
		nlbatch_queue(b, msg, i, add_done, &a);
		nlmsg_free(msg);
	}
	nlbatch_run(b, add_done, &a);
	hops_free(hops, nhops);
	free(b);
	log_debug("rri: %zu routes via %zu peers: next hops resolved in %llu us, routes added in %llu us",
	    n, nhops, (unsigned long long)(t1 - t0), (unsigned long long)(mono_us() - t1));
	if (a.logged > ERRS_LOGGED)
		log_warn("rri: %u more route failures not logged", a.logged - ERRS_LOGGED);
	if (added)
		*added = a.added;
	if (failed)
		*failed = a.failed;
	return a.failed ? -EIO : 0;
}

/* ---------------------------------------------------------------- remove */

struct del_ctx {
	struct nlbatch *b;
	const struct rri_route *routes;	/* for logs; NULL in dump mode */
	unsigned removed, failed, logged;
};

static void del_done(void *ctx, size_t obj, int err, const char *why)
{
	struct del_ctx *d = ctx;

	if (err == 0) {
		d->removed++;
	} else if (err != -ESRCH && err != -ENOENT) {
		d->failed++;
		if (d->routes)
			report("delete", &d->routes[obj], err, why, &d->logged);
		else if (d->logged++ < ERRS_LOGGED)
			log_warn("rri: cannot delete a route of ours: %s", strerror(-err));
	}
}

static void del_queue(struct del_ctx *d, struct rtnl_route *route, size_t obj)
{
	struct nl_msg *msg = NULL;

	if (rtnl_route_build_del_request(route, 0, &msg) < 0) {
		d->failed++;
		return;
	}
	nlbatch_queue(d->b, msg, obj, del_done, d);
	nlmsg_free(msg);
}

/* The routes of ours in p's table, as the kernel lists them (filtered there when it can). */
static int dump_ours(struct rri *r, const struct rri_params *p, int family,
		     struct rtnl_route ***out, size_t *nout)
{
	struct rtnl_route **list = NULL;
	size_t n = 0, cap = 0;
	struct nl_msg *msg;
	struct rtmsg rtm;
	uint32_t seq;
	bool done = false;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP);
	if (msg == NULL)
		return -ENOMEM;
	memset(&rtm, 0, sizeof(rtm));
	rtm.rtm_family = family;
	rtm.rtm_protocol = p->protocol;
	rtm.rtm_table = p->table < 256 ? p->table : RT_TABLE_UNSPEC;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, RTA_TABLE, p->table) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	seq = nl_socket_use_seq(r->sk);
	nlmsg_hdr(msg)->nlmsg_seq = seq;
	nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_REQUEST;
	nlbatch_sockopt(r->fd, NETLINK_GET_STRICT_CHK, 1);
	if (send(r->fd, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len, 0) < 0)
		rc = -errno;
	nlmsg_free(msg);

	while (rc == 0 && !done) {
		struct nlmsghdr *nlh;
		ssize_t got = recv(r->fd, r->rx, RX_MAX, 0);
		int rem;

		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		rem = (int)got;
		for (nlh = (struct nlmsghdr *)r->rx; NLMSG_OK(nlh, rem); nlh = NLMSG_NEXT(nlh, rem)) {
			struct rtnl_route *route = NULL;

			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nlh);

				rc = nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(*e) && e->error ? e->error : -EIO;
				done = true;
				break;
			}
			if (nlh->nlmsg_type != RTM_NEWROUTE || rtnl_route_parse(nlh, &route) < 0)
				continue;
			/* A kernel without strict checking sends everything. */
			if (rtnl_route_get_protocol(route) != p->protocol ||
			    rtnl_route_get_table(route) != p->table) {
				rtnl_route_put(route);
				continue;
			}
			if (n == cap) {
				size_t ncap = cap ? 2 * cap : 64;
				struct rtnl_route **nl = realloc(list, ncap * sizeof(*nl));

				if (nl == NULL) {
					rtnl_route_put(route);
					rc = -ENOMEM;
					done = true;
					break;
				}
				list = nl;
				cap = ncap;
			}
			list[n++] = route;
		}
	}
	nlbatch_sockopt(r->fd, NETLINK_GET_STRICT_CHK, 0);
	if (rc < 0) {
		while (n)
			rtnl_route_put(list[--n]);
		free(list);
		return rc;
	}
	*out = list;
	*nout = n;
	return 0;
}

int rri_remove(struct rri *r, const struct rri_params *p, const struct rri_route *routes, size_t n,
	       unsigned *removed, unsigned *failed)
{
	struct del_ctx d;
	size_t i;
	int rc = 0;

	if (removed)
		*removed = 0;
	if (failed)
		*failed = 0;
	if (r == NULL || p == NULL)
		return -EINVAL;
	memset(&d, 0, sizeof(d));
	d.b = malloc(sizeof(*d.b));
	if (d.b == NULL)
		return -ENOMEM;
	batch_init(d.b, r);
	d.routes = routes;

	if (routes) {
		for (i = 0; i < n; i++) {
			struct rtnl_route *route = route_new(p, &routes[i]);

			if (route == NULL) {
				d.failed++;
				continue;
			}
			/* Any next hop, any metric: by prefix, table and protocol. */
			rtnl_route_set_priority(route, 0);
			rtnl_route_set_scope(route, RT_SCOPE_NOWHERE);
			del_queue(&d, route, i);
			rtnl_route_put(route);
		}
	} else {
		int fams[2] = { AF_INET, AF_INET6 }, f;

		for (f = 0; f < 2 && rc == 0; f++) {
			struct rtnl_route **list;
			size_t nl;

			rc = dump_ours(r, p, fams[f], &list, &nl);
			if (rc < 0) {
				log_warn("rri: cannot list our routes: %s", strerror(-rc));
				break;
			}
			for (i = 0; i < nl; i++) {
				del_queue(&d, list[i], i);
				rtnl_route_put(list[i]);
			}
			nlbatch_run(d.b, del_done, &d);
			free(list);
		}
	}
	nlbatch_run(d.b, del_done, &d);
	free(d.b);
	if (d.logged > ERRS_LOGGED)
		log_warn("rri: %u more route failures not logged", d.logged - ERRS_LOGGED);
	if (removed)
		*removed = d.removed;
	if (failed)
		*failed = d.failed;
	if (rc < 0)
		return rc;
	return d.failed ? -EIO : 0;
}
