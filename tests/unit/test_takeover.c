/* test_takeover.c: the promotion's pure parts: anti-replay counters to install, routes from policies, and the netlink requests read back by the capture's parser. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/ipsec.h>
#include <linux/xfrm.h>
#include <cmocka.h>

#include <netlink/msg.h>
#include <netlink/attr.h>

#include "log.h"
#include "rri.h"
#include "takeover.h"
#include "xfrm.h"

#define VIP	"192.0.2.1"
#define PEER	"192.0.2.100"
#define PEER2	"192.0.2.101"

static struct ha_addr ha4(const char *s)
{
	struct ha_addr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, s, &a.v4), 1);
	return a;
}

static struct ha_addr ha6(const char *s)
{
	struct ha_addr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, s, &a.v6), 1);
	return a;
}

static struct takeover_params params(uint32_t out, uint32_t in, uint64_t margin)
{
	struct takeover_params p = { .replay_out = out, .replay_in = in, .exhaustion_margin = margin };

	return p;
}

static void sa_legacy(struct ha_sa *sa, uint32_t oseq, uint32_t seq, uint32_t bitmap)
{
	memset(sa, 0, sizeof(*sa));
	sa->family = AF_INET;
	sa->saddr = ha4(VIP);
	sa->id.daddr = ha4(PEER);
	sa->id.spi = htonl(0xa001);
	sa->id.proto = IPPROTO_ESP;
	sa->replay_window = 32;
	sa->replay.legacy.oseq = oseq;
	sa->replay.legacy.seq = seq;
	sa->replay.legacy.bitmap = bitmap;
}

static void sa_esn(struct ha_sa *sa, uint32_t oseq_hi, uint32_t oseq, uint32_t seq_hi, uint32_t seq)
{
	uint32_t i;

	memset(sa, 0, sizeof(*sa));
	sa->family = AF_INET;
	sa->saddr = ha4(VIP);
	sa->id.daddr = ha4(PEER);
	sa->id.spi = htonl(0xb001);
	sa->id.proto = IPPROTO_ESP;
	sa->flags = XFRM_STATE_ESN;
	sa->replay.is_esn = true;
	sa->replay.esn.bmp_len = 4;
	sa->replay.esn.replay_window = 128;
	sa->replay.esn.oseq = oseq;
	sa->replay.esn.oseq_hi = oseq_hi;
	sa->replay.esn.seq = seq;
	sa->replay.esn.seq_hi = seq_hi;
	for (i = 0; i < 4; i++)
		sa->replay.esn.bmp[i] = 0x11111111u * (i + 1);
}

static uint64_t oseq64(const struct ha_replay *r)
{
	return (uint64_t)r->esn.oseq_hi << 32 | r->esn.oseq;
}

/* ================================================================ replay: legacy */

static void test_legacy_out(void **state)
{
	struct takeover_params p = params(1000, 64, 0);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	sa_legacy(&sa, 4242, 7, 0x5);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_false(r.is_esn);
	assert_int_equal(r.legacy.oseq, 4242 + 1000);
	/* No XFRMA_SA_DIR: the rest as synced. */
	assert_int_equal(r.legacy.seq, 7);
	assert_int_equal(r.legacy.bitmap, 0x5);
	/* The synced SA is not touched. */
	assert_int_equal(sa.replay.legacy.oseq, 4242);
}

static void test_legacy_out_zero(void **state)
{
	struct takeover_params p = params(100000, 1000, 0);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	sa_legacy(&sa, 0, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.oseq, 100000);
	assert_int_equal(r.legacy.seq, 0);
	assert_int_equal(r.legacy.bitmap, 0);
}

static void test_legacy_out_near_end(void **state)
{
	struct takeover_params p;
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	/* 0xfffffff0 + 8 = 0xfffffff8: 7 sequence numbers left. */
	sa_legacy(&sa, 0xfffffff0u, 0, 0);
	p = params(8, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.oseq, 0xfffffff8u);
	p = params(8, 0, 6);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	p = params(8, 0, 7);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	/* Exactly at 2^32 - 1: nothing left to send, the kernel refuses it. */
	p = params(0xf, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	/* Past it: never a wrapped counter. */
	p = params(0x10, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	assert_int_equal(r.legacy.oseq, 0xffffffffu);
	p = params(100000, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	assert_true(r.legacy.oseq > 0xfffffff0u);	/* clamped, not wrapped */
	/* The brief's lab case: ip xfrm ... replay-oseq 0xfffffff0, default interval and margin. */
	p = params(100000, 1000, 1000000);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
}

static void test_legacy_margin_boundary(void **state)
{
	struct takeover_params p;
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	/* 2^32 - 1 - (oseq + R) > margin exactly when installed. */
	sa_legacy(&sa, 0xffff0000u, 0, 0);
	p = params(0x1000, 0, 0xefffu - 1);	/* left 0xefff */
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	p = params(0x1000, 0, 0xefffu);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
}

static void test_legacy_in(void **state)
{
	struct takeover_params p = params(100000, 1000, 1000000);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	sa_legacy(&sa, 0, 0x12345, 0xdeadbeef);
	sa.saddr = ha4(PEER);
	sa.id.daddr = ha4(VIP);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_IN, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.seq, 0x12345);
	assert_int_equal(r.legacy.bitmap, 0xdeadbeef);
	assert_int_equal(r.legacy.oseq, 0);
	/* Inbound near the end of the space is not "exhausted": we never send on it. */
	sa_legacy(&sa, 0, 0xfffffffeu, 0x1);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_IN, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.seq, 0xfffffffeu);
	/* Zero counters stay zero. */
	sa_legacy(&sa, 0, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_IN, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.seq, 0);
	assert_int_equal(r.legacy.bitmap, 0);
	assert_int_equal(r.legacy.oseq, 0);
}

static void test_legacy_sa_dir(void **state)
{
	struct takeover_params p = params(10, 10, 0);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	/* XFRMA_SA_DIR out: the kernel refuses seq or bitmap on it. */
	sa_legacy(&sa, 50, 9, 0x3);
	sa.sa_dir = HA_SA_DIR_OUT;
	assert_int_equal(takeover_advance_replay(&sa, 0, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.oseq, 60);
	assert_int_equal(r.legacy.seq, 0);
	assert_int_equal(r.legacy.bitmap, 0);
	/* XFRMA_SA_DIR in: no oseq; dir 0 falls back to sa_dir. */
	sa_legacy(&sa, 50, 9, 0x3);
	sa.sa_dir = HA_SA_DIR_IN;
	assert_int_equal(takeover_advance_replay(&sa, 0, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.oseq, 0);
	assert_int_equal(r.legacy.seq, 9);
	assert_int_equal(r.legacy.bitmap, 0x3);
}

static void test_unknown_dir(void **state)
{
	struct takeover_params p = params(100, 10, 0);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	/* Neither the cache nor the kernel said: safe both ways. */
	sa_legacy(&sa, 5, 77, 0xf0);
	assert_int_equal(takeover_advance_replay(&sa, 0, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.oseq, 105);
	assert_int_equal(r.legacy.seq, 77);
	assert_int_equal(r.legacy.bitmap, 0xf0);
}

static void test_may_wrap(void **state)
{
	struct takeover_params p = params(0x20, 0, 1000);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	sa_legacy(&sa, 0xfffffff0u, 0, 0);
	sa.extra_flags = XFRM_SA_XFLAG_OSEQ_MAY_WRAP;
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.oseq, 0x10);
}

static void test_huge_intervals(void **state)
{
	struct takeover_params p;
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	/* A whole 32-bit space of interval leaves nothing. */
	sa_legacy(&sa, 0, 0, 0);
	p = params(UINT32_MAX, UINT32_MAX, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	p = params(UINT32_MAX - 1, UINT32_MAX, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.legacy.oseq, UINT32_MAX - 1);
	/* A margin of the whole space: no outbound SA passes, every inbound one does. */
	p = params(1, 1, UINT64_MAX);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_IN, &p, &r), TAKEOVER_REPLAY_OK);
	/* ESN takes the same interval easily. */
	sa_esn(&sa, 0, 0, 0, 0);
	p = params(UINT32_MAX, UINT32_MAX, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(oseq64(&r), UINT32_MAX);
	p = params(UINT32_MAX, UINT32_MAX, UINT64_MAX);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
}

/* ================================================================ replay: ESN */

static void test_esn_out_carry(void **state)
{
	struct takeover_params p = params(1, 0, 0);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	/* oseq_hi:oseq is one 64-bit number: 1:ffffffff + 1 = 2:00000000. */
	sa_esn(&sa, 1, 0xffffffffu, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.esn.oseq_hi, 2);
	assert_int_equal(r.esn.oseq, 0);
	/* Crossing 2^32 from below with a real interval. */
	sa_esn(&sa, 0, 0xfffffff0u, 0, 0);
	p = params(100000, 1000, 1000000);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(oseq64(&r), 0xfffffff0ull + 100000);
	/* Window and bitmap untouched, no XFRMA_SA_DIR. */
	assert_int_equal(r.esn.bmp_len, 4);
	assert_int_equal(r.esn.replay_window, 128);
	assert_int_equal(r.esn.bmp[3], 0x44444444u);
}

static void test_esn_out_near_end(void **state)
{
	struct takeover_params p;
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	sa_esn(&sa, 0xffffffffu, 0xffffff00u, 0, 0);
	/* 0xff..ff00 + 0x10: 0xef left. */
	p = params(0x10, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.esn.oseq_hi, 0xffffffffu);
	assert_int_equal(r.esn.oseq, 0xffffff10u);
	p = params(0x10, 0, 0xee);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	p = params(0x10, 0, 0xef);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	p = params(0xff, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	p = params(0x100, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	assert_int_equal(oseq64(&r), UINT64_MAX);	/* clamped, not wrapped */
	/* An ESN SA at the 32-bit boundary is nowhere near its end. */
	sa_esn(&sa, 0, 0xfffffff0u, 0, 0);
	p = params(0x100, 0, 1000000);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
}

static void test_bmp_without_esn_flag(void **state)
{
	struct takeover_params p = params(0x200, 0, 0);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	/* A window over 32 packets without ESN: the kernel keeps the ESN
	 * layout but counts in 32 bits. */
	sa_esn(&sa, 0, 0xffffff00u, 0, 0);
	sa.flags = 0;
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_EXHAUSTED);
	assert_int_equal(r.esn.oseq_hi, 0);
	p = params(0x20, 0, 0);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.esn.oseq, 0xffffff20u);
	assert_int_equal(r.esn.oseq_hi, 0);
}

static void test_esn_in(void **state)
{
	struct takeover_params p = params(100000, 1000, 1000000);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	sa_esn(&sa, 0, 0, 3, 0x89abcdefu);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_IN, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.esn.seq_hi, 3);
	assert_int_equal(r.esn.seq, 0x89abcdefu);
	assert_int_equal(r.esn.bmp_len, 4);
	assert_int_equal(r.esn.replay_window, 128);
	assert_memory_equal(r.esn.bmp, sa.replay.esn.bmp, 4 * sizeof(uint32_t));
	assert_int_equal(oseq64(&r), 0);
	/* Near 2^64 inbound: kept as is, never moved back. */
	sa_esn(&sa, 0, 0, 0xffffffffu, 0xfffffff0u);
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_IN, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.esn.seq_hi, 0xffffffffu);
	assert_int_equal(r.esn.seq, 0xfffffff0u);
}

static void test_esn_sa_dir(void **state)
{
	struct takeover_params p = params(1000, 10, 0);
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	sa_esn(&sa, 0, 5, 1, 2);
	sa.sa_dir = HA_SA_DIR_OUT;
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(r.esn.oseq, 1005);
	assert_int_equal(r.esn.seq, 0);
	assert_int_equal(r.esn.seq_hi, 0);
	assert_int_equal(r.esn.bmp[0], 0);
	assert_int_equal(r.esn.bmp[3], 0);
	sa_esn(&sa, 7, 5, 1, 2);
	sa.sa_dir = HA_SA_DIR_IN;
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_IN, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(oseq64(&r), 0);
	assert_int_equal(r.esn.seq_hi, 1);
	assert_int_equal(r.esn.seq, 2);
	assert_int_equal(r.esn.bmp[1], 0x22222222u);
}

/* ================================================================ policies and routes */

static void policy(struct ha_policy *p, uint8_t dir, const char *src, uint8_t plen_s,
		   const char *dst, uint8_t plen_d, const char *tsrc, const char *tdst, uint8_t mode)
{
	memset(p, 0, sizeof(*p));
	p->sel.family = AF_INET;
	p->sel.saddr = ha4(src);
	p->sel.daddr = ha4(dst);
	p->sel.prefixlen_s = plen_s;
	p->sel.prefixlen_d = plen_d;
	p->dir = dir;
	p->action = XFRM_POLICY_ALLOW;
	p->priority = 1000;
	p->ntmpl = 1;
	p->tmpl[0].family = AF_INET;
	if (tsrc)
		p->tmpl[0].saddr = ha4(tsrc);
	else
		p->tmpl[0].saddr.family = AF_INET;
	if (tdst)
		p->tmpl[0].id.daddr = ha4(tdst);
	else
		p->tmpl[0].id.daddr.family = AF_INET;
	p->tmpl[0].id.proto = IPPROTO_ESP;
	p->tmpl[0].mode = mode;
	p->tmpl[0].reqid = 101;
}

static void test_policy_is_vip(void **state)
{
	struct ha_addr vip = ha4(VIP), other = ha4("192.0.2.2");
	struct ha_policy p;

	(void)state;
	policy(&p, XFRM_POLICY_OUT, "10.1.0.0", 24, "10.2.0.0", 24, VIP, PEER, XFRM_MODE_TUNNEL);
	assert_true(takeover_policy_is_vip(&p, &vip));
	assert_false(takeover_policy_is_vip(&p, &other));
	policy(&p, XFRM_POLICY_IN, "10.2.0.0", 24, "10.1.0.0", 24, PEER, VIP, XFRM_MODE_TUNNEL);
	assert_true(takeover_policy_is_vip(&p, &vip));
	/* Transport mode: the selector's host is the VIP. */
	policy(&p, XFRM_POLICY_OUT, VIP, 32, PEER, 32, NULL, NULL, XFRM_MODE_TRANSPORT);
	assert_true(takeover_policy_is_vip(&p, &vip));
	policy(&p, XFRM_POLICY_OUT, "192.0.2.0", 24, PEER, 32, NULL, NULL, XFRM_MODE_TRANSPORT);
	assert_false(takeover_policy_is_vip(&p, &vip));
	/* No template: never ours. */
	policy(&p, XFRM_POLICY_OUT, VIP, 32, PEER, 32, NULL, NULL, XFRM_MODE_TRANSPORT);
	p.ntmpl = 0;
	assert_false(takeover_policy_is_vip(&p, &vip));
}

static void test_routes_basic(void **state)
{
	struct ha_addr vip = ha4(VIP);
	struct ha_policy pol[6];
	const struct ha_policy *pp[6];
	struct rri_route r[8];
	char s[128];
	unsigned conflicts = 99;
	size_t n, i;

	(void)state;
	policy(&pol[0], XFRM_POLICY_OUT, "10.1.0.0", 24, "10.2.0.0", 24, VIP, PEER, XFRM_MODE_TUNNEL);
	policy(&pol[1], XFRM_POLICY_IN, "10.2.0.0", 24, "10.1.0.0", 24, PEER, VIP, XFRM_MODE_TUNNEL);
	policy(&pol[2], XFRM_POLICY_FWD, "10.2.0.0", 24, "10.1.0.0", 24, PEER, VIP, XFRM_MODE_TUNNEL);
	/* Host bits set in the selector: one route to the network. */
	policy(&pol[3], XFRM_POLICY_OUT, "10.1.0.0", 24, "10.3.7.9", 16, VIP, PEER2, XFRM_MODE_TUNNEL);
	/* Another VIP's policy. */
	policy(&pol[4], XFRM_POLICY_OUT, "10.1.0.0", 24, "10.4.0.0", 24, "192.0.2.9", PEER,
	    XFRM_MODE_TUNNEL);
	/* Transport mode: no tunnel, no route. */
	policy(&pol[5], XFRM_POLICY_OUT, VIP, 32, PEER, 32, NULL, NULL, XFRM_MODE_TRANSPORT);
	for (i = 0; i < 6; i++)
		pp[i] = &pol[i];
	n = rri_routes_from_policies(pp, 6, &vip, r, 8, &conflicts);
	assert_int_equal(n, 2);
	assert_int_equal(conflicts, 0);
	rri_route_str(&r[0], s, sizeof(s));
	assert_string_equal(s, "10.2.0.0/24 via 192.0.2.100");
	rri_route_str(&r[1], s, sizeof(s));
	assert_string_equal(s, "10.3.0.0/16 via 192.0.2.101");
	/* Counting only, then a cap smaller than the count. */
	assert_int_equal(rri_routes_from_policies(pp, 6, &vip, NULL, 0, NULL), 2);
	memset(r, 0, sizeof(r));
	assert_int_equal(rri_routes_from_policies(pp, 6, &vip, r, 1, NULL), 2);
	assert_int_equal(r[0].plen, 24);
	assert_int_equal(r[1].plen, 0);		/* untouched */
	/* No policies. */
	assert_int_equal(rri_routes_from_policies(pp, 0, &vip, r, 8, NULL), 0);
}

static void test_routes_duplicates(void **state)
{
	struct ha_addr vip = ha4(VIP);
	struct ha_policy pol[5];
	const struct ha_policy *pp[5];
	struct rri_route r[8];
	unsigned conflicts = 0;
	size_t i;

	(void)state;
	/* Two local subnets to one remote subnet: one route. */
	policy(&pol[0], XFRM_POLICY_OUT, "10.1.0.0", 24, "10.2.0.0", 24, VIP, PEER, XFRM_MODE_TUNNEL);
	policy(&pol[1], XFRM_POLICY_OUT, "10.1.1.0", 24, "10.2.0.0", 24, VIP, PEER, XFRM_MODE_TUNNEL);
	/* The same prefix through another peer: a conflict, first wins. */
	policy(&pol[2], XFRM_POLICY_OUT, "10.1.2.0", 24, "10.2.0.0", 24, VIP, PEER2, XFRM_MODE_TUNNEL);
	/* A block policy routes nothing. */
	policy(&pol[3], XFRM_POLICY_OUT, "10.1.0.0", 24, "10.5.0.0", 24, VIP, PEER, XFRM_MODE_TUNNEL);
	pol[3].action = XFRM_POLICY_BLOCK;
	/* The default route, for a full tunnel. */
	policy(&pol[4], XFRM_POLICY_OUT, "10.1.0.0", 24, "0.0.0.0", 0, VIP, PEER, XFRM_MODE_TUNNEL);
	for (i = 0; i < 5; i++)
		pp[i] = &pol[i];
	assert_int_equal(rri_routes_from_policies(pp, 5, &vip, r, 8, &conflicts), 2);
	assert_int_equal(conflicts, 1);
	assert_true(ha_addr_equal(&r[0].via, &(struct ha_addr){ 0 }) == false);
	assert_int_equal(r[1].plen, 0);
	assert_int_equal(r[1].dst.v4.s_addr, 0);
}

static void test_routes_many(void **state)
{
	struct ha_addr vip = ha4(VIP);
	size_t n = 10000, i, got;
	struct ha_policy *pol = calloc(n, sizeof(*pol));
	const struct ha_policy **pp = calloc(n, sizeof(*pp));
	struct rri_route *r = calloc(n, sizeof(*r));
	unsigned conflicts = 0;
	char dst[32], s[128];

	(void)state;
	assert_non_null(pol);
	assert_non_null(pp);
	assert_non_null(r);
	/* 5,000 remote subnets, each named twice: the second time through
	 * another peer for one in ten. */
	for (i = 0; i < n; i++) {
		unsigned t = (unsigned)(i % 5000);

		snprintf(dst, sizeof(dst), "10.%u.%u.0", 128 + t / 256, t % 256);
		policy(&pol[i], XFRM_POLICY_OUT, "10.1.0.0", 24, dst, 24, VIP,
		    i >= 5000 && t % 10 == 0 ? PEER2 : PEER, XFRM_MODE_TUNNEL);
		pp[i] = &pol[i];
	}
	got = rri_routes_from_policies(pp, n, &vip, r, n, &conflicts);
	assert_int_equal(got, 5000);
	assert_int_equal(conflicts, 500);
	/* In the policies' order, each through the first policy's peer. */
	rri_route_str(&r[0], s, sizeof(s));
	assert_string_equal(s, "10.128.0.0/24 via 192.0.2.100");
	rri_route_str(&r[4999], s, sizeof(s));
	assert_string_equal(s, "10.147.135.0/24 via 192.0.2.100");
	/* The count does not depend on the room given. */
	assert_int_equal(rri_routes_from_policies(pp, n, &vip, NULL, 0, NULL), 5000);
	assert_int_equal(rri_routes_from_policies(pp, n, &vip, r, 10, NULL), 5000);
	free(pol);
	free(pp);
	free(r);
}

static void test_routes_v6(void **state)
{
	struct ha_addr vip = ha6("2001:db8::1");
	struct ha_policy p, q;
	const struct ha_policy *pp[2] = { &p, &q };
	struct rri_route r[2];
	char s[128];

	(void)state;
	memset(&p, 0, sizeof(p));
	p.sel.family = AF_INET6;
	p.sel.saddr = ha6("2001:db8:1::");
	p.sel.daddr = ha6("2001:db8:2::ff");
	p.sel.prefixlen_s = 48;
	p.sel.prefixlen_d = 52;
	p.dir = XFRM_POLICY_OUT;
	p.ntmpl = 2;
	/* An inner transport template, then the tunnel. */
	p.tmpl[0].family = AF_INET6;
	p.tmpl[0].mode = XFRM_MODE_TRANSPORT;
	p.tmpl[1].family = AF_INET6;
	p.tmpl[1].mode = XFRM_MODE_TUNNEL;
	p.tmpl[1].saddr = vip;
	p.tmpl[1].id.daddr = ha6("2001:db8::100");
	/* A v4 selector through a v6 tunnel cannot be routed via the v6 peer. */
	q = p;
	q.sel.family = AF_INET;
	q.sel.daddr = ha4("10.9.0.0");
	q.sel.prefixlen_d = 16;
	assert_int_equal(rri_routes_from_policies(pp, 2, &vip, r, 2, NULL), 1);
	rri_route_str(&r[0], s, sizeof(s));
	assert_string_equal(s, "2001:db8:2::/52 via 2001:db8::100");
}

/* ================================================================ messages read back */

static struct xfrm_filter filter_of(const char *vip)
{
	struct xfrm_filter f;

	memset(&f, 0, sizeof(f));
	f.vips[0] = ha4(vip);
	f.n_vips = 1;
	return f;
}

static void full_sa(struct ha_sa *sa)
{
	uint32_t i;

	sa_esn(sa, 0, 0, 0, 0);
	sa->mode = XFRM_MODE_TUNNEL;
	sa->reqid = 1001;
	sa->sel.family = AF_INET;
	sa->sel.saddr = ha4("10.1.0.0");
	sa->sel.daddr = ha4("10.2.0.0");
	sa->sel.prefixlen_s = 24;
	sa->sel.prefixlen_d = 24;
	sa->sel.dport = 4500;
	sa->sel.dport_mask = 0xffff;
	sa->sel.proto = IPPROTO_UDP;
	strcpy(sa->aead.name, "rfc4106(gcm(aes))");
	sa->aead.key_len_bits = 288;
	sa->aead.icv_len_bits = 128;
	for (i = 0; i < 36; i++)
		sa->aead.key[i] = (uint8_t)(0xa0 + i);
	sa->encap.type = 2;
	sa->encap.sport = 4500;
	sa->encap.dport = 4501;
	sa->mark.v = 0x10;
	sa->mark.m = 0xff;
	sa->if_id = 7;
	sa->extra_flags = XFRM_SA_XFLAG_DONT_ENCAP_DSCP;
	sa->tfcpad = 32;
	sa->lft.soft_byte_limit = 1000000;
	sa->lft.hard_byte_limit = XFRM_INF;
	sa->lft.soft_packet_limit = XFRM_INF;
	sa->lft.hard_packet_limit = 5000000;
	sa->lft.soft_add_expires_seconds = 3000;
	sa->lft.hard_add_expires_seconds = 3600;
	sa->curlft.bytes = 123456;
	sa->curlft.packets = 789;
	sa->curlft.add_time = 1700000000;
}

/* Everything the install carries, compared through the capture's parser. */
static void assert_sa_same(const struct ha_sa *a, const struct ha_sa *b)
{
	assert_true(ha_addr_equal(&a->id.daddr, &b->id.daddr));
	assert_true(ha_addr_equal(&a->saddr, &b->saddr));
	assert_int_equal(a->id.spi, b->id.spi);
	assert_int_equal(a->id.proto, b->id.proto);
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->reqid, b->reqid);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->extra_flags, b->extra_flags);
	assert_int_equal(a->replay_window, b->replay_window);
	assert_true(ha_addr_equal(&a->sel.saddr, &b->sel.saddr));
	assert_true(ha_addr_equal(&a->sel.daddr, &b->sel.daddr));
	assert_int_equal(a->sel.prefixlen_s, b->sel.prefixlen_s);
	assert_int_equal(a->sel.prefixlen_d, b->sel.prefixlen_d);
	assert_int_equal(a->sel.dport, b->sel.dport);
	assert_int_equal(a->sel.dport_mask, b->sel.dport_mask);
	assert_int_equal(a->sel.proto, b->sel.proto);
	assert_string_equal(a->aead.name, b->aead.name);
	assert_int_equal(a->aead.key_len_bits, b->aead.key_len_bits);
	assert_int_equal(a->aead.icv_len_bits, b->aead.icv_len_bits);
	assert_memory_equal(a->aead.key, b->aead.key, HA_KEY_MAX);
	assert_string_equal(a->crypt.name, b->crypt.name);
	assert_memory_equal(a->crypt.key, b->crypt.key, HA_KEY_MAX);
	assert_string_equal(a->auth.name, b->auth.name);
	assert_int_equal(a->auth.trunc_len_bits, b->auth.trunc_len_bits);
	assert_memory_equal(a->auth.key, b->auth.key, HA_KEY_MAX);
	assert_int_equal(a->encap.type, b->encap.type);
	assert_int_equal(a->encap.sport, b->encap.sport);
	assert_int_equal(a->encap.dport, b->encap.dport);
	assert_int_equal(a->mark.v, b->mark.v);
	assert_int_equal(a->mark.m, b->mark.m);
	assert_int_equal(a->if_id, b->if_id);
	assert_int_equal(a->sa_dir, b->sa_dir);
	assert_int_equal(a->tfcpad, b->tfcpad);
	assert_memory_equal(&a->lft, &b->lft, sizeof(a->lft));
}

static void test_sa_msg_aead_esn(void **state)
{
	struct xfrm_filter f = filter_of(VIP);
	struct takeover_params p = params(1000, 10, 0);
	struct xfrm_msg *m = calloc(1, sizeof(*m));
	struct nl_msg *msg;
	struct nlattr *a;
	struct ha_replay r;
	struct ha_sa sa;

	(void)state;
	full_sa(&sa);
	sa.replay.esn.oseq = 0xfffffff0u;
	sa.sa_dir = HA_SA_DIR_OUT;
	sa.replay.esn.bmp_len = 0;
	sa.replay.esn.replay_window = 0;
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_OUT, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(takeover_sa_msg(&sa, &r, XFRM_MSG_NEWSA, &msg), 0);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, XFRM_MSG_NEWSA);

	assert_int_equal(xfrm_parse_msg(nlmsg_hdr(msg), &f, m), 0);
	assert_int_equal(m->kind, XFRM_MSG_KIND_SA);
	assert_true(m->ours);
	assert_int_equal(m->dir, XFRM_DIR_OUT);
	assert_sa_same(&m->sa, &sa);
	assert_true(m->sa.replay.is_esn);
	assert_int_equal(m->sa.replay.esn.oseq_hi, 1);
	assert_int_equal(m->sa.replay.esn.oseq, 1000 - 0x10);
	assert_int_equal(m->sa.replay.esn.bmp_len, 0);

	/* The synced current lifetime rides along (XFRMA_LTIME_VAL). */
	a = nlmsg_find_attr(nlmsg_hdr(msg), sizeof(struct xfrm_usersa_info), XFRMA_LTIME_VAL);
	assert_non_null(a);
	assert_int_equal(((struct xfrm_lifetime_cur *)nla_data(a))->packets, 789);
	assert_int_equal(((struct xfrm_lifetime_cur *)nla_data(a))->add_time, 1700000000);
	xfrm_msg_wipe(m);
	takeover_msg_free(msg);
	free(m);
}

static void test_sa_msg_cbc_legacy_in(void **state)
{
	struct xfrm_filter f = filter_of(VIP);
	struct takeover_params p = params(1000, 10, 0);
	struct xfrm_msg *m = calloc(1, sizeof(*m));
	struct nl_msg *msg;
	struct ha_replay r;
	struct ha_sa sa;
	uint32_t i;

	(void)state;
	sa_legacy(&sa, 0, 77, 0xff);
	sa.saddr = ha4(PEER);
	sa.id.daddr = ha4(VIP);
	sa.mode = XFRM_MODE_TUNNEL;
	sa.reqid = 5;
	strcpy(sa.crypt.name, "cbc(aes)");
	sa.crypt.key_len_bits = 128;
	strcpy(sa.auth.name, "hmac(sha256)");
	sa.auth.key_len_bits = 256;
	sa.auth.trunc_len_bits = 128;
	for (i = 0; i < 16; i++)
		sa.crypt.key[i] = (uint8_t)(0x30 + i);
	for (i = 0; i < 32; i++)
		sa.auth.key[i] = (uint8_t)(0x60 + i);
	sa.lft.soft_byte_limit = sa.lft.hard_byte_limit = XFRM_INF;
	sa.lft.soft_packet_limit = sa.lft.hard_packet_limit = XFRM_INF;
	assert_int_equal(takeover_advance_replay(&sa, HA_SA_DIR_IN, &p, &r), TAKEOVER_REPLAY_OK);
	assert_int_equal(takeover_sa_msg(&sa, &r, XFRM_MSG_UPDSA, &msg), 0);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, XFRM_MSG_UPDSA);
	/* No counters synced: no XFRMA_LTIME_VAL, no direction. */
	assert_null(nlmsg_find_attr(nlmsg_hdr(msg), sizeof(struct xfrm_usersa_info), XFRMA_LTIME_VAL));
	assert_null(nlmsg_find_attr(nlmsg_hdr(msg), sizeof(struct xfrm_usersa_info), 33));

	assert_int_equal(xfrm_parse_msg(nlmsg_hdr(msg), &f, m), 0);
	assert_int_equal(m->dir, XFRM_DIR_IN);
	assert_sa_same(&m->sa, &sa);
	assert_false(m->sa.replay.is_esn);
	assert_int_equal(m->sa.replay.legacy.seq, 77);
	assert_int_equal(m->sa.replay.legacy.bitmap, 0xff);
	xfrm_msg_wipe(m);
	takeover_msg_free(msg);
	free(m);
	/* An unusable family or message type is refused. */
	sa.family = 0;
	assert_int_equal(takeover_sa_msg(&sa, &r, XFRM_MSG_NEWSA, &msg), -EAFNOSUPPORT);
	sa.family = AF_INET;
	assert_int_equal(takeover_sa_msg(&sa, &r, XFRM_MSG_DELSA, &msg), -EINVAL);
	assert_null(msg);
}

static void test_policy_msg(void **state)
{
	struct xfrm_filter f = filter_of(VIP);
	struct xfrm_msg *m = calloc(1, sizeof(*m));
	struct nl_msg *msg;
	struct ha_policy p;

	(void)state;
	policy(&p, XFRM_POLICY_FWD, "10.2.0.0", 24, "10.1.0.0", 24, PEER, VIP, XFRM_MODE_TUNNEL);
	p.index = 12345;	/* the old node's: not sent */
	p.mark.v = 3;
	p.mark.m = 0xf;
	p.if_id = 9;
	p.ntmpl = 2;
	p.tmpl[1] = p.tmpl[0];
	p.tmpl[1].id.proto = IPPROTO_COMP;
	p.tmpl[1].optional = 1;
	p.tmpl[1].reqid = 202;
	p.tmpl[0].aalgos = p.tmpl[0].ealgos = p.tmpl[0].calgos = 0xffffffffu;
	assert_int_equal(takeover_policy_msg(&p, &msg), 0);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_type, XFRM_MSG_UPDPOLICY);
	assert_int_equal(xfrm_parse_msg(nlmsg_hdr(msg), &f, m), 0);
	assert_int_equal(m->kind, XFRM_MSG_KIND_POLICY);
	assert_true(m->ours);
	assert_int_equal(m->policy.dir, XFRM_POLICY_FWD);
	assert_int_equal(m->policy.priority, 1000);
	assert_int_equal(m->policy.index, 0);
	assert_int_equal(m->policy.mark.v, 3);
	assert_int_equal(m->policy.mark.m, 0xf);
	assert_int_equal(m->policy.if_id, 9);
	assert_int_equal(m->policy.ntmpl, 2);
	assert_true(ha_addr_equal(&m->policy.tmpl[0].saddr, &p.tmpl[0].saddr));
	assert_true(ha_addr_equal(&m->policy.tmpl[0].id.daddr, &p.tmpl[0].id.daddr));
	assert_int_equal(m->policy.tmpl[0].reqid, 101);
	assert_int_equal(m->policy.tmpl[0].mode, XFRM_MODE_TUNNEL);
	assert_int_equal(m->policy.tmpl[0].ealgos, 0xffffffffu);
	assert_int_equal(m->policy.tmpl[1].id.proto, IPPROTO_COMP);
	assert_int_equal(m->policy.tmpl[1].optional, 1);
	assert_int_equal(m->policy.tmpl[1].reqid, 202);
	assert_true(ha_addr_equal(&m->policy.sel.daddr, &p.sel.daddr));
	assert_int_equal(m->policy.sel.prefixlen_s, 24);
	xfrm_msg_wipe(m);
	takeover_msg_free(msg);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_legacy_out),
		cmocka_unit_test(test_legacy_out_zero),
		cmocka_unit_test(test_legacy_out_near_end),
		cmocka_unit_test(test_legacy_margin_boundary),
		cmocka_unit_test(test_legacy_in),
		cmocka_unit_test(test_legacy_sa_dir),
		cmocka_unit_test(test_unknown_dir),
		cmocka_unit_test(test_may_wrap),
		cmocka_unit_test(test_huge_intervals),
		cmocka_unit_test(test_esn_out_carry),
		cmocka_unit_test(test_esn_out_near_end),
		cmocka_unit_test(test_bmp_without_esn_flag),
		cmocka_unit_test(test_esn_in),
		cmocka_unit_test(test_esn_sa_dir),
		cmocka_unit_test(test_policy_is_vip),
		cmocka_unit_test(test_routes_basic),
		cmocka_unit_test(test_routes_duplicates),
		cmocka_unit_test(test_routes_many),
		cmocka_unit_test(test_routes_v6),
		cmocka_unit_test(test_sa_msg_aead_esn),
		cmocka_unit_test(test_sa_msg_cbc_legacy_in),
		cmocka_unit_test(test_policy_msg),
	};

	log_init("test_takeover", true, LOG_EMERG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
