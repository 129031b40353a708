/* test_cache.c: unit tests for the standby cache: keys, counters updates, bulk snapshots, digest, memory, listings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <nss.h>
#include <pk11pub.h>

#include "cache.h"

#define VIP4 "192.0.2.1"
#define VIP6 "2001:db8::1"
#define PEER4 "198.51.100.7"
#define PEER6 "2001:db8:ffff::7"

static void addr4(struct ha_addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, s, &a->v4), 1);
}

static void addr6(struct ha_addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, s, &a->v6), 1);
}

/* An ESP tunnel SA with AES-GCM; inbound (to the VIP) when in is true. */
static void sa_make(struct ha_sa *sa, bool v6, bool in, uint32_t spi)
{
	memset(sa, 0, sizeof(*sa));
	if (v6) {
		addr6(&sa->id.daddr, in ? VIP6 : PEER6);
		addr6(&sa->saddr, in ? PEER6 : VIP6);
	} else {
		addr4(&sa->id.daddr, in ? VIP4 : PEER4);
		addr4(&sa->saddr, in ? PEER4 : VIP4);
	}
	sa->family = sa->id.daddr.family;
	sa->id.spi = htonl(spi);
	sa->id.proto = IPPROTO_ESP;
	sa->mode = 1;
	sa->reqid = 16389;
	sa->replay_window = 32;
	sa->sel.family = sa->family;
	sa->sel.saddr.family = sa->sel.daddr.family = sa->family;
	snprintf(sa->aead.name, sizeof(sa->aead.name), "rfc4106(gcm(aes))");
	sa->aead.key_len_bits = 288;
	sa->aead.icv_len_bits = 128;
	for (int i = 0; i < 36; i++)
		sa->aead.key[i] = (uint8_t)(spi + (uint32_t)i);
	sa->lft.hard_byte_limit = UINT64_MAX;
	sa->replay.legacy.seq = 10;
	sa->replay.legacy.oseq = 20;
	sa->synced_at_ms = 1700000000000ULL;
}

static void sa_esn(struct ha_sa *sa)
{
	sa->flags |= 128;
	memset(&sa->replay, 0, sizeof(sa->replay));
	sa->replay.is_esn = true;
	sa->replay.esn.bmp_len = 4;
	sa->replay.esn.replay_window = 128;
	sa->replay.esn.oseq = 5;
	sa->replay.esn.oseq_hi = 1;
	sa->replay.esn.seq = 7;
	sa->replay.esn.seq_hi = 2;
	sa->replay.esn.bmp[0] = 0xffff;
}

static void policy_make(struct ha_policy *p, uint8_t dir, uint32_t index, const char *net)
{
	memset(p, 0, sizeof(*p));
	p->sel.family = AF_INET;
	addr4(&p->sel.saddr, "10.1.0.0");
	addr4(&p->sel.daddr, net);
	p->sel.prefixlen_s = 16;
	p->sel.prefixlen_d = 24;
	p->dir = dir;
	p->index = index;
	p->priority = 1000;
	p->ntmpl = 1;
	p->tmpl[0].family = AF_INET;
	addr4(&p->tmpl[0].id.daddr, PEER4);
	addr4(&p->tmpl[0].saddr, VIP4);
	p->tmpl[0].id.proto = IPPROTO_ESP;
	p->tmpl[0].reqid = 16389;
	p->tmpl[0].mode = 1;
}

static struct cache *cache_with_vips(void)
{
	struct cache_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.vips[0].name, sizeof(cfg.vips[0].name), "outside");
	addr4(&cfg.vips[0].addr, VIP4);
	snprintf(cfg.vips[1].name, sizeof(cfg.vips[1].name), "outside6");
	addr6(&cfg.vips[1].addr, VIP6);
	cfg.n_vips = 2;
	for (int i = 0; i < CACHE_SEED_LEN; i++)
		cfg.hash_seed[i] = (uint8_t)i;
	return cache_new(&cfg);
}

static struct ha_sa_key key_of(const struct ha_sa *sa)
{
	return ha_sa_key_of(sa);
}

static void test_add_lookup_delete(void **state)
{
	struct cache *c = cache_with_vips();
	struct ha_sa sa;
	struct ha_sa_key k;
	const struct cache_sa_entry *e;
	struct cache_stats st;

	sa_make(&sa, false, true, 0xc0ffee01);
	k = key_of(&sa);
	assert_null(cache_sa_lookup(c, &k));
	assert_int_equal(cache_sa_add(c, &sa, 100, false), CACHE_OK);
	e = cache_sa_lookup(c, &k);
	assert_non_null(e);
	assert_int_equal(e->updated_ms, 100);
	assert_int_equal(e->gen, 0);
	assert_int_equal(e->dir, HA_SA_DIR_IN);
	assert_int_equal(e->vip, 0);
	assert_int_equal(e->sa.reqid, 16389);
	assert_memory_equal(e->sa.aead.key, sa.aead.key, 36);
	assert_int_equal(cache_sa_count(c), 1);

	/* An add for a held key replaces the entry. */
	sa.reqid = 7;
	sa.aead.key[0] ^= 0xff;
	assert_int_equal(cache_sa_add(c, &sa, 200, false), CACHE_OK);
	e = cache_sa_lookup(c, &k);
	assert_int_equal(e->sa.reqid, 7);
	assert_int_equal(e->sa.aead.key[0], sa.aead.key[0]);
	assert_int_equal(e->updated_ms, 200);
	assert_int_equal(cache_sa_count(c), 1);
	assert_int_equal(cache_sa_count_vip(c, 0), 1);

	assert_int_equal(cache_sa_delete(c, &k), CACHE_OK);
	assert_null(cache_sa_lookup(c, &k));
	assert_int_equal(cache_sa_count(c), 0);
	assert_int_equal(cache_sa_count_vip(c, 0), 0);
	assert_int_equal(cache_sa_delete(c, &k), CACHE_E_UNKNOWN);

	cache_stats(c, &st);
	assert_int_equal(st.sa_adds, 2);
	assert_int_equal(st.sa_replaced, 1);
	assert_int_equal(st.sa_deletes, 1);
	assert_int_equal(st.delete_unknown, 1);
	cache_free(c);
}

static void test_v4_v6_marks(void **state)
{
	struct cache *c = cache_with_vips();
	struct ha_sa a, b, m1, m2;
	struct ha_sa_key k;
	const struct cache_sa_entry *e;

	/* Same SPI in both families, and twice more with marks: four SAs. */
	sa_make(&a, false, true, 0x1000);
	sa_make(&b, true, true, 0x1000);
	m1 = a;
	m1.mark.v = 1;
	m1.mark.m = 0xffffffff;
	m2 = a;
	m2.mark.v = 1;
	m2.mark.m = 0xff;
	m2.reqid = 99;
	assert_int_equal(cache_sa_add(c, &a, 1, false), CACHE_OK);
	assert_int_equal(cache_sa_add(c, &b, 1, false), CACHE_OK);
	assert_int_equal(cache_sa_add(c, &m1, 1, false), CACHE_OK);
	assert_int_equal(cache_sa_add(c, &m2, 1, false), CACHE_OK);
	assert_int_equal(cache_sa_count(c), 4);
	assert_int_equal(cache_sa_count_vip(c, 0), 3);
	assert_int_equal(cache_sa_count_vip(c, 1), 1);

	k = key_of(&b);
	e = cache_sa_lookup(c, &k);
	assert_non_null(e);
	assert_int_equal(e->sa.family, AF_INET6);
	assert_int_equal(e->vip, 1);
	k = key_of(&m2);
	e = cache_sa_lookup(c, &k);
	assert_non_null(e);
	assert_int_equal(e->sa.reqid, 99);

	/* Another protocol, same SPI and address: not found. */
	k = key_of(&a);
	k.proto = IPPROTO_AH;
	assert_null(cache_sa_lookup(c, &k));
	/* Garbage in the unused bytes of a v4 address does not matter. */
	k = key_of(&a);
	k.daddr.v6.s6_addr[15] = 0x55;
	assert_non_null(cache_sa_lookup(c, &k));

	k = key_of(&m1);
	assert_int_equal(cache_sa_delete(c, &k), CACHE_OK);
	k = key_of(&m2);
	assert_non_null(cache_sa_lookup(c, &k));
	k = key_of(&a);
	assert_non_null(cache_sa_lookup(c, &k));
	assert_int_equal(cache_sa_count(c), 3);
	cache_free(c);
}

static void test_direction_and_vips(void **state)
{
	struct cache *c = cache_with_vips();
	struct ha_sa in, out, other, dir_out;
	struct ha_sa_key k;

	sa_make(&in, false, true, 1);
	sa_make(&out, false, false, 2);
	sa_make(&other, false, true, 3);
	addr4(&other.id.daddr, "203.0.113.9");
	/* XFRMA_SA_DIR wins over the addresses. */
	sa_make(&dir_out, true, true, 4);
	dir_out.sa_dir = HA_SA_DIR_OUT;
	assert_int_equal(cache_sa_add(c, &in, 1, false), CACHE_OK);
	assert_int_equal(cache_sa_add(c, &out, 1, false), CACHE_OK);
	assert_int_equal(cache_sa_add(c, &other, 1, false), CACHE_OK);
	assert_int_equal(cache_sa_add(c, &dir_out, 1, false), CACHE_OK);

	k = key_of(&out);
	assert_int_equal(cache_sa_lookup(c, &k)->dir, HA_SA_DIR_OUT);
	assert_int_equal(cache_sa_lookup(c, &k)->vip, 0);
	k = key_of(&other);
	assert_int_equal(cache_sa_lookup(c, &k)->dir, 0);
	assert_int_equal(cache_sa_lookup(c, &k)->vip, CACHE_VIP_NONE);
	k = key_of(&dir_out);
	assert_int_equal(cache_sa_lookup(c, &k)->dir, HA_SA_DIR_OUT);
	assert_int_equal(cache_sa_lookup(c, &k)->vip, CACHE_VIP_NONE);

	assert_int_equal(cache_sa_count_vip(c, 0), 2);
	assert_int_equal(cache_sa_count_vip(c, 1), 0);
	assert_int_equal(cache_sa_count_vip(c, CACHE_VIP_NONE), 2);
	assert_int_equal(cache_sa_count_vip(c, 5), 0);
	assert_int_equal(cache_vip_by_name(c, "outside6"), 1);
	assert_int_equal(cache_vip_by_name(c, "nope"), CACHE_VIP_NONE);

	/* Re-adding with another direction moves the count. */
	other.sa_dir = HA_SA_DIR_OUT;
	addr4(&other.saddr, VIP4);
	assert_int_equal(cache_sa_add(c, &other, 2, false), CACHE_OK);
	assert_int_equal(cache_sa_count_vip(c, 0), 3);
	assert_int_equal(cache_sa_count_vip(c, CACHE_VIP_NONE), 1);
	cache_free(c);
}

static void test_counters_update(void **state)
{
	struct cache *c = cache_with_vips();
	struct ha_sa sa, esn;
	struct ha_sa_key k;
	struct ha_replay r;
	struct ha_lifetime_cur cur = { .bytes = 1000, .packets = 10, .add_time = 5, .use_time = 6 };
	const struct cache_sa_entry *e;
	struct cache_stats st;

	sa_make(&sa, false, true, 0x42);
	assert_int_equal(cache_sa_add(c, &sa, 10, false), CACHE_OK);
	k = key_of(&sa);
	memset(&r, 0, sizeof(r));
	r.legacy.seq = 5000;
	r.legacy.oseq = 6000;
	r.legacy.bitmap = 0xf0f0;
	assert_int_equal(cache_sa_update(c, &k, &r, &cur, 1700000009999ULL, 50), CACHE_OK);
	e = cache_sa_lookup(c, &k);
	assert_int_equal(e->sa.replay.legacy.seq, 5000);
	assert_int_equal(e->sa.replay.legacy.oseq, 6000);
	assert_int_equal(e->sa.replay.legacy.bitmap, 0xf0f0);
	assert_int_equal(e->sa.curlft.bytes, 1000);
	assert_int_equal(e->sa.curlft.packets, 10);
	assert_int_equal(e->sa.synced_at_ms, 1700000009999ULL);
	assert_int_equal(e->updated_ms, 50);
	/* The rest is untouched. */
	assert_int_equal(e->sa.reqid, 16389);
	assert_memory_equal(e->sa.aead.key, sa.aead.key, 36);

	/* ESN: the 64-bit counters and the bitmap. */
	sa_make(&esn, true, false, 0x43);
	sa_esn(&esn);
	assert_int_equal(cache_sa_add(c, &esn, 10, false), CACHE_OK);
	k = key_of(&esn);
	r = esn.replay;
	r.esn.oseq = 0xfffffff0;
	r.esn.oseq_hi = 3;
	r.esn.bmp[3] = 0xdeadbeef;
	assert_int_equal(cache_sa_update(c, &k, &r, &cur, 1, 60), CACHE_OK);
	e = cache_sa_lookup(c, &k);
	assert_int_equal(e->sa.replay.esn.oseq_hi, 3);
	assert_int_equal(e->sa.replay.esn.bmp[3], 0xdeadbeef);

	/* A legacy update for an ESN SA is refused. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(cache_sa_update(c, &k, &r, &cur, 1, 70), CACHE_E_INVALID);
	assert_int_equal(cache_sa_lookup(c, &k)->updated_ms, 60);

	cache_stats(c, &st);
	assert_int_equal(st.sa_updates, 2);
	assert_int_equal(st.update_mismatch, 1);
	cache_free(c);
}

static void test_update_unknown(void **state)
{
	struct cache *c = cache_with_vips();
	struct ha_sa sa;
	struct ha_sa_key k;
	struct ha_lifetime_cur cur;
	struct cache_stats st;

	sa_make(&sa, false, true, 0x77);
	k = key_of(&sa);
	memset(&cur, 0, sizeof(cur));
	assert_int_equal(cache_sa_update(c, &k, &sa.replay, &cur, 1, 1), CACHE_E_UNKNOWN);
	assert_int_equal(cache_sa_update(c, &k, &sa.replay, &cur, 1, 1), CACHE_E_UNKNOWN);
	assert_null(cache_sa_lookup(c, &k));
	assert_int_equal(cache_sa_count(c), 0);
	cache_stats(c, &st);
	assert_int_equal(st.update_unknown, 2);
	assert_int_equal(st.sa_updates, 0);
	cache_free(c);
}

static void test_invalid_and_full(void **state)
{
	struct cache_config cfg;
	struct cache *c;
	struct ha_sa sa;
	struct ha_policy p;
	struct cache_stats st;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_entries = 2;
	c = cache_new(&cfg);
	sa_make(&sa, false, true, 1);
	sa.id.daddr.family = 0;
	assert_int_equal(cache_sa_add(c, &sa, 1, false), CACHE_E_INVALID);
	sa_make(&sa, false, true, 1);
	sa_esn(&sa);
	sa.replay.esn.bmp_len = HA_ESN_BMP_MAX + 1;
	assert_int_equal(cache_sa_add(c, &sa, 1, false), CACHE_E_INVALID);
	policy_make(&p, 1, 0, "10.2.0.0");
	p.ntmpl = HA_TMPL_MAX + 1;
	assert_int_equal(cache_policy_add(c, &p, 1, false), CACHE_E_INVALID);

	sa_make(&sa, false, true, 1);
	assert_int_equal(cache_sa_add(c, &sa, 1, false), CACHE_OK);
	policy_make(&p, 1, 0, "10.2.0.0");
	assert_int_equal(cache_policy_add(c, &p, 1, false), CACHE_OK);
	sa_make(&sa, false, true, 2);
	assert_int_equal(cache_sa_add(c, &sa, 1, false), CACHE_E_FULL);
	/* Replacing a held entry is still possible when full. */
	sa_make(&sa, false, true, 1);
	sa.reqid = 3;
	assert_int_equal(cache_sa_add(c, &sa, 1, false), CACHE_OK);
	cache_stats(c, &st);
	assert_int_equal(st.invalid, 3);
	assert_int_equal(st.full, 1);
	cache_free(c);
}

static void test_policies(void **state)
{
	struct cache *c = cache_with_vips();
	struct ha_policy out, in, fwd, again;
	struct ha_policy_key k;
	const struct cache_policy_entry *e;

	policy_make(&out, 1, 0x101, "10.2.0.0");
	policy_make(&in, 0, 0x108, "10.2.0.0");
	policy_make(&fwd, 2, 0x10a, "10.2.0.0");
	assert_int_equal(cache_policy_add(c, &out, 1, false), CACHE_OK);
	assert_int_equal(cache_policy_add(c, &in, 1, false), CACHE_OK);
	assert_int_equal(cache_policy_add(c, &fwd, 1, false), CACHE_OK);
	assert_int_equal(cache_policy_count(c), 3);

	/* The index is not part of the key: same selector and dir replace. */
	again = out;
	again.index = 0x999;
	again.priority = 7;
	assert_int_equal(cache_policy_add(c, &again, 2, false), CACHE_OK);
	assert_int_equal(cache_policy_count(c), 3);
	k = ha_policy_key_of(&out);
	e = cache_policy_lookup(c, &k);
	assert_non_null(e);
	assert_int_equal(e->pol.priority, 7);
	assert_int_equal(e->pol.index, 0x999);

	/* Another mark or if_id is another policy. */
	again.mark.v = 5;
	again.mark.m = 0xff;
	assert_int_equal(cache_policy_add(c, &again, 2, false), CACHE_OK);
	again.if_id = 9;
	assert_int_equal(cache_policy_add(c, &again, 2, false), CACHE_OK);
	assert_int_equal(cache_policy_count(c), 5);

	/* Deletion by selector, then by (dir, index) alone. */
	k = ha_policy_key_of(&in);
	assert_int_equal(cache_policy_delete(c, &k), CACHE_OK);
	assert_null(cache_policy_lookup(c, &k));
	memset(&k, 0, sizeof(k));
	k.dir = 2;
	k.index = 0x10a;
	assert_int_equal(cache_policy_delete(c, &k), CACHE_OK);
	assert_int_equal(cache_policy_delete(c, &k), CACHE_E_UNKNOWN);
	assert_int_equal(cache_policy_count(c), 3);
	cache_free(c);
}

static void fill(struct cache *c, uint32_t first, uint32_t n, bool bulk, uint64_t now)
{
	struct ha_sa sa;

	for (uint32_t i = 0; i < n; i++) {
		sa_make(&sa, (i & 1) != 0, (i & 2) != 0, first + i);
		assert_int_equal(cache_sa_add(c, &sa, now, bulk), CACHE_OK);
	}
}

static void test_bulk_replace(void **state)
{
	struct cache *c = cache_with_vips();
	struct ha_sa sa;
	struct ha_sa_key k;
	struct ha_policy p;
	struct cache_bulk_info bi;
	uint8_t before[CACHE_DIGEST_LEN], after[CACHE_DIGEST_LEN];

	fill(c, 100, 10, false, 1);
	assert_int_equal(cache_digest(c, before), CACHE_OK);

	assert_int_equal(cache_bulk_begin(c, 5, 1000), CACHE_OK);
	assert_true(cache_bulk_in_progress(c));
	fill(c, 200, 20, true, 1001);
	policy_make(&p, 1, 0, "10.3.0.0");
	assert_int_equal(cache_policy_add(c, &p, 1001, true), CACHE_OK);

	/* Until the end, the live set is the old one, whole and usable. */
	assert_int_equal(cache_sa_count(c), 10);
	assert_int_equal(cache_policy_count(c), 0);
	sa_make(&sa, false, false, 200);
	k = key_of(&sa);
	assert_null(cache_sa_lookup(c, &k));
	sa_make(&sa, true, false, 101);
	k = key_of(&sa);
	assert_non_null(cache_sa_lookup(c, &k));
	assert_int_equal(cache_digest(c, after), CACHE_OK);
	assert_memory_equal(before, after, CACHE_DIGEST_LEN);
	cache_bulk_info(c, &bi);
	assert_true(bi.in_progress);
	assert_int_equal(bi.cur_gen, 5);
	assert_int_equal(bi.cur_records, 21);

	assert_int_equal(cache_bulk_end(c, 5, 21, 1340), CACHE_OK);
	assert_false(cache_bulk_in_progress(c));
	assert_int_equal(cache_sa_count(c), 20);
	assert_int_equal(cache_policy_count(c), 1);
	assert_null(cache_sa_lookup(c, &k));
	sa_make(&sa, false, false, 200);
	k = key_of(&sa);
	assert_non_null(cache_sa_lookup(c, &k));
	assert_int_equal(cache_sa_lookup(c, &k)->gen, 5);
	cache_bulk_info(c, &bi);
	assert_int_equal(bi.gen, 5);
	assert_true(bi.have_last);
	assert_int_equal(bi.last_result, CACHE_OK);
	assert_int_equal(bi.last_end_ms - bi.last_begin_ms, 340);
	assert_int_equal(bi.last_records, 21);

	/* Live adds after the snapshot belong to its generation. */
	fill(c, 300, 1, false, 2000);
	sa_make(&sa, false, false, 300);
	k = key_of(&sa);
	assert_int_equal(cache_sa_lookup(c, &k)->gen, 5);
	cache_free(c);
}

static void test_bulk_mismatch(void **state)
{
	struct cache *c = cache_with_vips();
	struct cache_stats st;
	struct cache_bulk_info bi;
	uint8_t before[CACHE_DIGEST_LEN], after[CACHE_DIGEST_LEN];
	size_t mem;

	fill(c, 100, 10, false, 1);
	assert_int_equal(cache_digest(c, before), CACHE_OK);
	mem = cache_memory_bytes(c);

	/* Wrong count: discarded, live kept, memory back. */
	assert_int_equal(cache_bulk_begin(c, 5, 10), CACHE_OK);
	fill(c, 200, 20, true, 11);
	assert_true(cache_memory_bytes(c) > mem);
	assert_int_equal(cache_bulk_end(c, 5, 19, 12), CACHE_E_COUNT);
	assert_false(cache_bulk_in_progress(c));
	assert_int_equal(cache_memory_bytes(c), mem);
	assert_int_equal(cache_digest(c, after), CACHE_OK);
	assert_memory_equal(before, after, CACHE_DIGEST_LEN);
	cache_bulk_info(c, &bi);
	assert_int_equal(bi.last_result, CACHE_E_COUNT);
	assert_int_equal(bi.gen, 0);

	/* Wrong generation: same. */
	assert_int_equal(cache_bulk_begin(c, 6, 20), CACHE_OK);
	fill(c, 200, 20, true, 21);
	assert_int_equal(cache_bulk_end(c, 7, 20, 22), CACHE_E_GENERATION);
	assert_int_equal(cache_sa_count(c), 10);
	assert_int_equal(cache_digest(c, after), CACHE_OK);
	assert_memory_equal(before, after, CACHE_DIGEST_LEN);

	/* No snapshot open. */
	assert_int_equal(cache_bulk_end(c, 6, 0, 23), CACHE_E_NOBULK);
	{
		struct ha_sa sa;

		sa_make(&sa, false, true, 999);
		assert_int_equal(cache_sa_add(c, &sa, 1, true), CACHE_E_NOBULK);
	}
	assert_int_equal(cache_sa_count(c), 10);

	/* A new BULK_BEGIN drops the open snapshot and starts counting again. */
	assert_int_equal(cache_bulk_begin(c, 8, 30), CACHE_OK);
	fill(c, 200, 5, true, 31);
	assert_int_equal(cache_bulk_begin(c, 9, 32), CACHE_OK);
	fill(c, 400, 3, true, 33);
	assert_int_equal(cache_bulk_end(c, 9, 3, 34), CACHE_OK);
	assert_int_equal(cache_sa_count(c), 3);

	cache_stats(c, &st);
	assert_int_equal(st.bulk_failed, 2);
	assert_int_equal(st.bulk_aborted, 1);
	assert_int_equal(st.bulk_ok, 1);
	assert_int_equal(st.bulk_orphans, 2);
	cache_free(c);
}

/* Live records interleaved with a snapshot reach both sets and are not counted. */
static void test_bulk_interleaved_live(void **state)
{
	struct cache *c = cache_with_vips();
	struct ha_sa a, b, n;
	struct ha_sa_key ka, kb, kn;
	struct ha_lifetime_cur cur;
	struct ha_replay r;

	sa_make(&a, false, true, 1);
	sa_make(&b, false, true, 2);
	sa_make(&n, false, true, 3);
	ka = key_of(&a);
	kb = key_of(&b);
	kn = key_of(&n);
	assert_int_equal(cache_sa_add(c, &a, 1, false), CACHE_OK);
	assert_int_equal(cache_sa_add(c, &b, 1, false), CACHE_OK);

	assert_int_equal(cache_bulk_begin(c, 1, 2), CACHE_OK);
	assert_int_equal(cache_sa_add(c, &a, 3, true), CACHE_OK);
	assert_int_equal(cache_sa_add(c, &b, 3, true), CACHE_OK);
	/* a is deleted after the snapshot sent it: it must not come back. */
	assert_int_equal(cache_sa_delete(c, &ka), CACHE_OK);
	assert_null(cache_sa_lookup(c, &ka));
	/* b's counters move after the snapshot sent it. */
	memset(&cur, 0, sizeof(cur));
	memset(&r, 0, sizeof(r));
	r.legacy.oseq = 777;
	assert_int_equal(cache_sa_update(c, &kb, &r, &cur, 5, 4), CACHE_OK);
	/* n is new, live: in both sets, not counted. */
	assert_int_equal(cache_sa_add(c, &n, 5, false), CACHE_OK);
	assert_non_null(cache_sa_lookup(c, &kn));

	assert_int_equal(cache_bulk_end(c, 1, 2, 6), CACHE_OK);
	assert_null(cache_sa_lookup(c, &ka));
	assert_non_null(cache_sa_lookup(c, &kb));
	assert_int_equal(cache_sa_lookup(c, &kb)->sa.replay.legacy.oseq, 777);
	assert_non_null(cache_sa_lookup(c, &kn));
	assert_int_equal(cache_sa_count(c), 2);

	/* An update known only to the open snapshot is applied, not unknown. */
	assert_int_equal(cache_bulk_begin(c, 2, 7), CACHE_OK);
	sa_make(&a, false, true, 50);
	ka = key_of(&a);
	assert_int_equal(cache_sa_add(c, &a, 8, true), CACHE_OK);
	assert_int_equal(cache_sa_update(c, &ka, &r, &cur, 5, 9), CACHE_OK);
	assert_int_equal(cache_bulk_end(c, 2, 1, 10), CACHE_OK);
	assert_int_equal(cache_sa_lookup(c, &ka)->updated_ms, 9);
	cache_free(c);
}

static void digest_of(struct cache *c, uint8_t out[CACHE_DIGEST_LEN])
{
	assert_int_equal(cache_digest(c, out), CACHE_OK);
}

static void test_digest(void **state)
{
	struct cache *a = cache_with_vips(), *b = cache_new(NULL);
	struct ha_sa sa;
	struct ha_sa_key k;
	struct ha_policy p;
	struct ha_lifetime_cur cur;
	uint8_t da[CACHE_DIGEST_LEN], db[CACHE_DIGEST_LEN], empty[CACHE_DIGEST_LEN];

	digest_of(a, empty);
	digest_of(b, db);
	assert_memory_equal(empty, db, CACHE_DIGEST_LEN);

	/* Same content, other order, other seed, other add times: equal. */
	for (uint32_t i = 0; i < 50; i++) {
		sa_make(&sa, i & 1, i & 2, 1000 + i);
		if (i % 7 == 0)
			sa_esn(&sa);
		assert_int_equal(cache_sa_add(a, &sa, i, false), CACHE_OK);
		sa_make(&sa, (49 - i) & 1, (49 - i) & 2, 1000 + 49 - i);
		if ((49 - i) % 7 == 0)
			sa_esn(&sa);
		assert_int_equal(cache_sa_add(b, &sa, 1000 * i, false), CACHE_OK);
	}
	policy_make(&p, 1, 1, "10.9.0.0");
	assert_int_equal(cache_policy_add(a, &p, 1, false), CACHE_OK);
	p.index = 77;	/* the peer kernel's index is not state we compare */
	assert_int_equal(cache_policy_add(b, &p, 1, false), CACHE_OK);
	digest_of(a, da);
	digest_of(b, db);
	assert_memory_equal(da, db, CACHE_DIGEST_LEN);
	assert_memory_not_equal(da, empty, CACHE_DIGEST_LEN);

	/* synced_at is not part of it. */
	sa_make(&sa, false, false, 1000);
	sa_esn(&sa);
	k = key_of(&sa);
	memset(&cur, 0, sizeof(cur));
	assert_int_equal(cache_sa_update(b, &k, &sa.replay, &cur, 42, 1), CACHE_OK);
	assert_int_equal(cache_sa_update(a, &k, &sa.replay, &cur, 43, 1), CACHE_OK);
	digest_of(a, da);
	digest_of(b, db);
	assert_memory_equal(da, db, CACHE_DIGEST_LEN);

	/* A counter differs: unequal. */
	sa.replay.esn.oseq++;
	assert_int_equal(cache_sa_update(b, &k, &sa.replay, &cur, 42, 1), CACHE_OK);
	digest_of(b, db);
	assert_memory_not_equal(da, db, CACHE_DIGEST_LEN);
	assert_int_equal(cache_sa_update(a, &k, &sa.replay, &cur, 42, 1), CACHE_OK);
	digest_of(a, da);
	assert_memory_equal(da, db, CACHE_DIGEST_LEN);

	/* A key byte differs: unequal. */
	sa.aead.key[35] ^= 1;
	assert_int_equal(cache_sa_add(b, &sa, 1, false), CACHE_OK);
	digest_of(b, db);
	assert_memory_not_equal(da, db, CACHE_DIGEST_LEN);
	sa.aead.key[35] ^= 1;
	assert_int_equal(cache_sa_add(b, &sa, 1, false), CACHE_OK);
	digest_of(b, db);
	assert_memory_equal(da, db, CACHE_DIGEST_LEN);

	/* A policy differs, then is missing: unequal. */
	p.priority = 1;
	assert_int_equal(cache_policy_add(b, &p, 1, false), CACHE_OK);
	digest_of(b, db);
	assert_memory_not_equal(da, db, CACHE_DIGEST_LEN);
	{
		struct ha_policy_key pk = ha_policy_key_of(&p);

		assert_int_equal(cache_policy_delete(b, &pk), CACHE_OK);
	}
	digest_of(b, db);
	assert_memory_not_equal(da, db, CACHE_DIGEST_LEN);

	/* An SA missing: unequal. */
	assert_int_equal(cache_sa_delete(a, &k), CACHE_OK);
	digest_of(a, da);
	assert_memory_not_equal(da, db, CACHE_DIGEST_LEN);
	cache_free(a);
	cache_free(b);
}

static void test_memory(void **state)
{
	struct cache *c = cache_with_vips();
	size_t base = cache_memory_bytes(c), full;
	struct ha_sa sa;
	struct ha_sa_key k;

	assert_true(base > 0);
	fill(c, 1, 1000, false, 1);
	full = cache_memory_bytes(c);
	/* Each SA costs at least its entry, and the table's overhead is bounded. */
	assert_true(full >= base + 1000 * sizeof(struct cache_sa_entry));
	assert_true(full <= base + 1000 * (sizeof(struct cache_sa_entry) + 4 * 16));
	for (uint32_t i = 0; i < 1000; i++) {
		sa_make(&sa, (i & 1) != 0, (i & 2) != 0, 1 + i);
		k = key_of(&sa);
		assert_int_equal(cache_sa_delete(c, &k), CACHE_OK);
	}
	/* The table keeps its slots; the entries are gone. */
	assert_true(cache_memory_bytes(c) < base + 1000 * sizeof(struct cache_sa_entry) / 10);
	assert_int_equal(cache_sa_count(c), 0);
	cache_free(c);
}

/* Many adds and deletes against a plain array: exercises probing and backward shift. */
static void test_churn(void **state)
{
	enum { N = 4000 };
	struct cache *c = cache_new(NULL);
	static bool held[N];
	struct ha_sa sa;
	struct ha_sa_key k;
	uint32_t x = 12345;
	size_t n = 0;

	memset(held, 0, sizeof(held));
	for (int round = 0; round < 20000; round++) {
		uint32_t i;

		x = x * 1103515245 + 12345;
		i = (x >> 8) % N;
		sa_make(&sa, i & 1, true, i * 7919);
		k = key_of(&sa);
		if (held[i]) {
			assert_int_equal(cache_sa_delete(c, &k), CACHE_OK);
			held[i] = false;
			n--;
		} else {
			assert_int_equal(cache_sa_add(c, &sa, 1, false), CACHE_OK);
			held[i] = true;
			n++;
		}
		if (round % 1000 == 0) {
			for (uint32_t j = 0; j < N; j++) {
				sa_make(&sa, j & 1, true, j * 7919);
				k = key_of(&sa);
				assert_int_equal(cache_sa_lookup(c, &k) != NULL, held[j]);
			}
		}
	}
	assert_int_equal(cache_sa_count(c), n);
	cache_free(c);
}

static void test_list_and_json(void **state)
{
	struct cache *c = cache_with_vips();
	const struct cache_sa_entry **v;
	struct ha_sa sa, comp;
	struct json_object *arr, *o, *f;
	char fp[9];
	size_t n;

	/* SPIs in reverse, two VIPs and one SA that belongs to none. */
	for (uint32_t i = 0; i < 6; i++) {
		sa_make(&sa, i >= 3, (i & 1) != 0, 0x100 - i);
		assert_int_equal(cache_sa_add(c, &sa, 100, false), CACHE_OK);
	}
	sa_make(&sa, false, true, 0x1);
	addr4(&sa.id.daddr, "203.0.113.9");
	assert_int_equal(cache_sa_add(c, &sa, 100, false), CACHE_OK);

	n = cache_sa_list(c, false, 0, &v);
	assert_int_equal(n, 7);
	/* VIP 192.0.2.1 (AF_INET sorts first), SPIs ascending, then v6, then none. */
	assert_int_equal(v[0]->vip, 0);
	assert_int_equal(ntohl(v[0]->sa.id.spi), 0xfe);
	assert_int_equal(ntohl(v[1]->sa.id.spi), 0xff);
	assert_int_equal(ntohl(v[2]->sa.id.spi), 0x100);
	assert_int_equal(v[3]->vip, 1);
	assert_int_equal(ntohl(v[3]->sa.id.spi), 0xfb);
	assert_int_equal(v[6]->vip, CACHE_VIP_NONE);
	free(v);
	n = cache_sa_list(c, true, 1, &v);
	assert_int_equal(n, 3);
	free(v);
	assert_int_equal(cache_sa_list(c, true, 7, &v), 0);
	assert_null(v);

	/* An ESN SA and an IPComp SA (no keys). */
	sa_make(&sa, false, false, 0x0badcafe);
	sa_esn(&sa);
	assert_int_equal(cache_sa_add(c, &sa, 100, false), CACHE_OK);
	sa_make(&comp, false, true, 0x2000);
	memset(&comp.aead, 0, sizeof(comp.aead));
	comp.id.proto = IPPROTO_COMP;
	snprintf(comp.comp.name, sizeof(comp.comp.name), "deflate");
	assert_int_equal(cache_sa_add(c, &comp, 100, false), CACHE_OK);

	arr = cache_sas_json(c, true, 0, 350);
	assert_non_null(arr);
	assert_int_equal(json_object_array_length(arr), 5);
	o = json_object_array_get_idx(arr, 4);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "spi")), "0badcafe");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "vip")), "outside");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "dir")), "out");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "proto")), "esp");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "src")), VIP4);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "dst")), PEER4);
	assert_int_equal(json_object_get_uint64(json_object_object_get(o, "oseq")), (1ULL << 32) | 5);
	assert_int_equal(json_object_get_uint64(json_object_object_get(o, "seq")), (2ULL << 32) | 7);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "replay_window")), 128);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "reqid")), 16389);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "age_ms")), 250);
	assert_int_equal(cache_key_fingerprint(&sa, fp), CACHE_OK);
	assert_int_equal(strlen(fp), 8);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "key_sha256_8")), fp);
	/* No key bytes ever appear. */
	assert_null(strstr(json_object_to_json_string(arr), "key\""));

	o = json_object_array_get_idx(arr, 3);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "spi")), "00002000");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "proto")), "comp");
	assert_true(json_object_object_get_ex(o, "key_sha256_8", &f));
	assert_null(f);
	json_object_put(arr);

	/* The fingerprint is SHA-256 over the key bytes. */
	{
		uint8_t md[32];
		char want[9];

		assert_int_equal(PK11_HashBuf(SEC_OID_SHA256, md, sa.aead.key, 36), SECSuccess);
		snprintf(want, sizeof(want), "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
		assert_string_equal(fp, want);
	}
	cache_free(c);
}

static void test_policy_list(void **state)
{
	struct cache *c = cache_new(NULL);
	const struct cache_policy_entry **v;
	struct ha_policy p;

	assert_int_equal(cache_policy_list(c, &v), 0);
	policy_make(&p, 1, 0, "10.5.0.0");
	assert_int_equal(cache_policy_add(c, &p, 1, false), CACHE_OK);
	policy_make(&p, 0, 0, "10.5.0.0");
	assert_int_equal(cache_policy_add(c, &p, 1, false), CACHE_OK);
	policy_make(&p, 1, 0, "10.4.0.0");
	assert_int_equal(cache_policy_add(c, &p, 1, false), CACHE_OK);
	assert_int_equal(cache_policy_list(c, &v), 3);
	/* Key order: the selector first (10.4 before 10.5), then the direction. */
	assert_int_equal(v[0]->pol.sel.daddr.v4.s_addr, inet_addr("10.4.0.0"));
	assert_int_equal(v[1]->pol.dir, 0);
	assert_int_equal(v[2]->pol.dir, 1);
	free(v);
	assert_string_equal(cache_strerror(CACHE_E_COUNT), "count mismatch");
	cache_free(c);
}

static int group_teardown(void **state)
{
	if (NSS_IsInitialized())
		NSS_Shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_lookup_delete),
		cmocka_unit_test(test_v4_v6_marks),
		cmocka_unit_test(test_direction_and_vips),
		cmocka_unit_test(test_counters_update),
		cmocka_unit_test(test_update_unknown),
		cmocka_unit_test(test_invalid_and_full),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_bulk_replace),
		cmocka_unit_test(test_bulk_mismatch),
		cmocka_unit_test(test_bulk_interleaved_live),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_list_and_json),
		cmocka_unit_test(test_policy_list),
	};

	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
