/* test_wire.c: unit tests of the record codec: doc vectors byte for byte, round trips of every record, every reject path. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#include "doc_vectors.h"

/* ------------------------------------------------------------------ */
/* The vectors of docs/protocol.md section 9, as printed there. */

static const char VEC_HELLO[] =
	"01 01 00 00 00 00 00 6d 00 00 00 00 00 00 00 00"
	"00 01 00 01 01 00 02 00 04 67 77 2d 61 00 03 00"
	"20 40 41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e"
	"4f 50 51 52 53 54 55 56 57 58 59 5a 5b 5c 5d 5e"
	"5f 00 04 00 04 00 00 00 05 00 06 00 20 9b 12 3f"
	"11 a5 df 5d 41 80 a5 62 91 b3 57 b7 6b ab 25 08"
	"50 a5 62 8c 0f e0 2a 2d ef 9b 5f d0 86";

static const char VEC_ACK[] =
	"01 30 00 00 00 00 00 1c 00 00 00 00 00 00 00 07"
	"00 0a 00 08 00 00 00 00 00 00 00 2a";

static const char VEC_SA_ADD[] =
	"01 10 00 01 00 00 01 48 00 00 00 00 00 00 00 05"
	"00 10 00 09 c0 ff ee 01 32 c0 00 02 02 00 11 00"
	"04 c0 00 02 01 00 12 00 0b 01 80 00 00 00 40 05"
	"00 00 00 00 00 13 00 18 02 00 10 10 00 00 00 00"
	"00 00 00 00 00 00 00 00 0a 01 00 00 0a 02 00 00"
	"00 18 00 06 00 02 11 94 11 94 00 19 00 08 00 00"
	"04 00 00 00 00 0a 00 20 00 3e 00 00 01 20 00 00"
	"00 80 11 72 66 63 34 31 30 36 28 67 63 6d 28 61"
	"65 73 29 29 10 11 12 13 14 15 16 17 18 19 1a 1b"
	"1c 1d 1e 1f 20 21 22 23 24 25 26 27 28 29 2a 2b"
	"2c 2d 2e 2f 30 31 32 33 00 29 00 28 00 00 00 04"
	"00 00 00 00 00 00 03 e8 00 00 00 00 00 00 00 00"
	"00 00 00 80 ff ff ff ff 00 00 ff ff 00 00 00 00"
	"00 00 00 00 00 2a 00 40 ff ff ff ff ff ff ff ff"
	"ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff"
	"ff ff ff ff ff ff ff ff 00 00 00 00 00 00 65 40"
	"00 00 00 00 00 00 70 80 00 00 00 00 00 00 00 00"
	"00 00 00 00 00 00 00 00 00 2b 00 20 00 00 00 00"
	"00 16 e3 60 00 00 00 00 00 00 03 e8 00 00 00 00"
	"65 53 f1 00 00 00 00 00 65 53 f1 64 00 2c 00 08"
	"00 00 01 8b cf e6 ef 1b";

static const char VEC_IKE_RECORD[] =
	"01 40 00 01 00 00 00 50 00 00 00 00 00 00 00 09"
	"00 38 00 10 41 44 30 52 91 6e c1 bb f0 98 5e 9d"
	"d3 55 b6 72 00 39 00 28 7b 22 76 65 72 73 69 6f"
	"6e 22 3a 31 2c 22 74 79 70 65 22 3a 22 64 65 6c"
	"65 74 65 22 2c 22 73 65 72 69 61 6c 22 3a 31 7d";

static const char VEC_IKE_DELETE[] =
	"01 41 00 00 00 00 00 24 00 00 00 00 00 00 00 0a"
	"00 38 00 10 41 44 30 52 91 6e c1 bb f0 98 5e 9d"
	"d3 55 b6 72";

static const char VEC_IKE_JSON[] = "{\"version\":1,\"type\":\"delete\",\"serial\":1}";


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

/* The SA_ADD vector: IPv4, AEAD, ESN, NAT-T. */
static void sa_vector(struct ha_sa *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->family = AF_INET;
	addr4(&sa->id.daddr, "192.0.2.2");
	sa->id.spi = htonl(0xc0ffee01);
	sa->id.proto = IPPROTO_ESP;
	addr4(&sa->saddr, "192.0.2.1");
	sa->mode = 1;
	sa->flags = 0x80;	/* XFRM_STATE_ESN */
	sa->reqid = 16389;
	sa->sel.family = AF_INET;
	addr4(&sa->sel.saddr, "10.1.0.0");
	addr4(&sa->sel.daddr, "10.2.0.0");
	sa->sel.prefixlen_s = 16;
	sa->sel.prefixlen_d = 16;
	strcpy(sa->aead.name, "rfc4106(gcm(aes))");
	sa->aead.key_len_bits = 288;
	sa->aead.icv_len_bits = 128;
	for (int i = 0; i < 36; i++)
		sa->aead.key[i] = (uint8_t)(0x10 + i);
	sa->encap.type = 2;
	sa->encap.sport = 4500;
	sa->encap.dport = 4500;
	sa->lft.soft_byte_limit = UINT64_MAX;
	sa->lft.hard_byte_limit = UINT64_MAX;
	sa->lft.soft_packet_limit = UINT64_MAX;
	sa->lft.hard_packet_limit = UINT64_MAX;
	sa->lft.soft_add_expires_seconds = 25920;
	sa->lft.hard_add_expires_seconds = 28800;
	sa->curlft.bytes = 1500000;
	sa->curlft.packets = 1000;
	sa->curlft.add_time = 1700000000;
	sa->curlft.use_time = 1700000100;
	sa->replay.is_esn = true;
	sa->replay.esn.bmp_len = 4;
	sa->replay.esn.seq = 1000;
	sa->replay.esn.replay_window = 128;
	sa->replay.esn.bmp[0] = 0xffffffff;
	sa->replay.esn.bmp[1] = 0x0000ffff;
	sa->replay_thresh = 1024;
	sa->etimer_thresh = 10;
	sa->synced_at_ms = 1700000100123ULL;
}

/* IPv6, CBC + HMAC, legacy replay, every optional field set. */
static void sa_v6_cbc(struct ha_sa *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->family = AF_INET6;
	addr6(&sa->id.daddr, "2001:db8::2");
	sa->id.spi = htonl(0x00001234);
	sa->id.proto = IPPROTO_ESP;
	addr6(&sa->saddr, "2001:db8::1");
	sa->mode = 0;
	sa->flags = 0x01 | 0x08;
	sa->extra_flags = 0x3;
	sa->replay_window = 32;
	sa->reqid = 0xfffffffe;
	sa->sel.family = AF_INET6;
	addr6(&sa->sel.saddr, "2001:db8::1");
	addr6(&sa->sel.daddr, "2001:db8::2");
	sa->sel.prefixlen_s = 128;
	sa->sel.prefixlen_d = 128;
	sa->sel.proto = IPPROTO_UDP;
	sa->sel.sport = 500;
	sa->sel.sport_mask = 0xffff;
	sa->sel.dport = 4500;
	sa->sel.dport_mask = 0xffff;
	sa->sel.ifindex = -7;
	strcpy(sa->crypt.name, "cbc(aes)");
	sa->crypt.key_len_bits = 256;
	memset(sa->crypt.key, 0xc7, 32);
	strcpy(sa->auth.name, "hmac(sha512)");
	sa->auth.key_len_bits = 512;
	sa->auth.trunc_len_bits = 256;
	memset(sa->auth.key, 0xa5, 64);
	sa->encap.type = 7;
	sa->encap.sport = 4500;
	sa->encap.dport = 40000;
	addr6(&sa->encap.oa, "2001:db8:ffff::9");
	sa->mark.v = 0x10;
	sa->mark.m = 0xff;
	sa->if_id = 42;
	sa->sa_dir = HA_SA_DIR_IN;
	sa->tfcpad = 1500;
	sa->lft.soft_byte_limit = 1ULL << 40;
	sa->lft.hard_byte_limit = 1ULL << 41;
	sa->lft.soft_packet_limit = 1000000;
	sa->lft.hard_packet_limit = 2000000;
	sa->lft.soft_add_expires_seconds = 3000;
	sa->lft.hard_add_expires_seconds = 3600;
	sa->lft.soft_use_expires_seconds = 300;
	sa->lft.hard_use_expires_seconds = 600;
	sa->curlft.bytes = UINT64_MAX - 1;
	sa->curlft.packets = 0x0102030405060708ULL;
	sa->curlft.add_time = 1;
	sa->curlft.use_time = 2;
	sa->replay.is_esn = false;
	sa->replay.legacy.oseq = 0x7fffffff;
	sa->replay.legacy.seq = 0x80000000;
	sa->replay.legacy.bitmap = 0xdeadbeef;
	sa->replay_thresh = 1;
	sa->etimer_thresh = 0xffffffff;
	sa->synced_at_ms = UINT64_MAX;
}

/* IPv4 with ESP null encryption, a full 4096-packet ESN window, IPv4 NAT-OA. */
static void sa_v4_esn_full(struct ha_sa *sa)
{
	sa_vector(sa);
	memset(&sa->aead, 0, sizeof(sa->aead));
	strcpy(sa->crypt.name, "ecb(cipher_null)");
	strcpy(sa->auth.name, "hmac(sha256)");
	sa->auth.key_len_bits = 256;
	sa->auth.trunc_len_bits = 128;
	memset(sa->auth.key, 0x5a, 32);
	addr4(&sa->encap.oa, "198.51.100.7");
	sa->sel.family = AF_UNSPEC;
	memset(&sa->sel.saddr, 0, sizeof(sa->sel.saddr));
	memset(&sa->sel.daddr, 0, sizeof(sa->sel.daddr));
	sa->sel.prefixlen_s = 0;
	sa->sel.prefixlen_d = 0;
	sa->sa_dir = HA_SA_DIR_OUT;
	sa->replay.esn.bmp_len = HA_ESN_BMP_MAX;
	sa->replay.esn.replay_window = HA_ESN_BMP_MAX * 32;
	sa->replay.esn.oseq = 5;
	sa->replay.esn.oseq_hi = 6;
	sa->replay.esn.seq_hi = 7;
	for (int i = 0; i < HA_ESN_BMP_MAX; i++)
		sa->replay.esn.bmp[i] = 0x01010101u * (uint32_t)i;
}

static void sa_ah(struct ha_sa *sa)
{
	sa_vector(sa);
	sa->id.proto = IPPROTO_AH;
	sa->flags = 0;
	sa->replay.is_esn = false;
	memset(&sa->replay, 0, sizeof(sa->replay));
	sa->replay.legacy.seq = 9;
	memset(&sa->aead, 0, sizeof(sa->aead));
	memset(&sa->encap, 0, sizeof(sa->encap));
	strcpy(sa->auth.name, "hmac(sha1)");
	sa->auth.key_len_bits = 160;
	sa->auth.trunc_len_bits = 96;
	memset(sa->auth.key, 1, 20);
}

static void sa_comp(struct ha_sa *sa)
{
	sa_ah(sa);
	sa->id.proto = IPPROTO_COMP;
	sa->id.spi = htonl(0x4001);
	memset(&sa->auth, 0, sizeof(sa->auth));
	strcpy(sa->comp.name, "deflate");
	sa->replay_thresh = 0;
	sa->etimer_thresh = 0;
}

static void policy_v4(struct ha_policy *p, int ntmpl)
{
	memset(p, 0, sizeof(*p));
	p->sel.family = AF_INET;
	addr4(&p->sel.saddr, "10.1.0.0");
	addr4(&p->sel.daddr, "10.2.0.0");
	p->sel.prefixlen_s = 16;
	p->sel.prefixlen_d = 24;
	p->dir = 1;
	p->priority = 1757393;
	p->index = 0x1000 + 1;
	p->action = 0;
	p->flags = 0;
	p->share = 0;
	p->ntmpl = (uint8_t)ntmpl;
	for (int i = 0; i < ntmpl; i++) {
		struct ha_tmpl *t = &p->tmpl[i];

		t->family = AF_INET;
		addr4(&t->id.daddr, "192.0.2.2");
		addr4(&t->saddr, "192.0.2.1");
		t->id.proto = i == 0 ? IPPROTO_COMP : IPPROTO_ESP;
		t->id.spi = htonl((uint32_t)i);
		t->reqid = 16389;
		t->mode = 1;
		t->optional = i == 0;
		t->aalgos = 0xffffffff;
		t->ealgos = 0xffffffff;
		t->calgos = 0xffffffff;
	}
}

static void policy_v6(struct ha_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->sel.family = AF_INET6;
	addr6(&p->sel.saddr, "2001:db8:1::");
	addr6(&p->sel.daddr, "2001:db8:2::");
	p->sel.prefixlen_s = 48;
	p->sel.prefixlen_d = 64;
	p->sel.proto = IPPROTO_TCP;
	p->sel.dport = 443;
	p->sel.dport_mask = 0xffff;
	p->sel.ifindex = 3;
	p->dir = 2;
	p->priority = 0xffffffff;
	p->index = 0xfffffff2;
	p->action = 1;
	p->flags = 2;
	p->share = 3;
	p->mark.v = 1;
	p->mark.m = 0xffffffff;
	p->if_id = 7;
	p->ntmpl = HA_TMPL_MAX;
	for (int i = 0; i < HA_TMPL_MAX; i++) {
		struct ha_tmpl *t = &p->tmpl[i];

		t->family = i == 3 ? AF_UNSPEC : AF_INET6;
		if (i != 3) {
			addr6(&t->id.daddr, "2001:db8::2");
			addr6(&t->saddr, "2001:db8::1");
		}
		t->id.proto = i == 3 ? 255 : IPPROTO_ESP;
		t->mode = (uint8_t)i;
		t->share = (uint8_t)i;
		t->reqid = (uint32_t)i;
		t->aalgos = 1;
		t->ealgos = 2;
		t->calgos = 3;
	}
}

/* ------------------------------------------------------------------ */
/* Helpers */

/* Decode and check that a failure leaves nothing behind. */
static int decode(const uint8_t *buf, size_t len, struct wire_record *rec, size_t *used)
{
	static const struct wire_record zero;
	int rc = wire_decode(buf, len, rec, used);

	if (rc < 0)
		assert_memory_equal(rec, &zero, sizeof(zero));
	return rc;
}

/*
 * Encode, decode, compare; then every truncation of the buffer is
 * WIRE_E_TRUNCATED and every buffer too small for the encoder is
 * WIRE_E_NOSPACE.
 */
static void roundtrip(const struct wire_record *in)
{
	static uint8_t buf[WIRE_RECORD_MAX], small[WIRE_RECORD_MAX];
	struct wire_record out;
	size_t used = 0;
	int n;

	n = wire_encode(buf, sizeof(buf), in);
	assert_true(n >= WIRE_HDR_LEN);
	assert_int_equal(decode(buf, (size_t)n, &out, &used), WIRE_OK);
	assert_int_equal(used, n);
	assert_int_equal(out.version, WIRE_VERSION);
	assert_int_equal(out.type, in->type);
	assert_int_equal(out.flags, in->flags);
	assert_int_equal(out.length, n);
	assert_true(out.seq == in->seq);
	assert_memory_equal(&out.u, &in->u, sizeof(in->u));

	for (size_t k = 0; k < (size_t)n; k++)
		assert_int_equal(decode(buf, k, &out, &used), WIRE_E_TRUNCATED);
	for (size_t k = 0; k < (size_t)n; k++)
		assert_int_equal(wire_encode(small, k, in), WIRE_E_NOSPACE);
}

/* A record in a buffer, edited TLV by TLV to make the malformed ones. */
struct rb {
	uint8_t b[WIRE_RECORD_MAX + 64];
	size_t n;
};

static void rb_fix(struct rb *r)
{
	r->b[4] = (uint8_t)(r->n >> 24);
	r->b[5] = (uint8_t)(r->n >> 16);
	r->b[6] = (uint8_t)(r->n >> 8);
	r->b[7] = (uint8_t)r->n;
}

static void rb_hex(struct rb *r, const char *hex)
{
	r->n = unhex(hex, r->b);
}

static void rb_record(struct rb *r, const struct wire_record *rec)
{
	int n = wire_encode(r->b, sizeof(r->b), rec);

	assert_true(n > 0);
	r->n = (size_t)n;
}

static void rb_sa(struct rb *r, const struct ha_sa *sa)
{
	int n = wire_encode_sa_add(r->b, sizeof(r->b), 1, 0, sa);

	assert_true(n > 0);
	r->n = (size_t)n;
}

/* Offset of the first TLV of that type (its 4-byte header), 0 if none. */
static size_t tlv_off(const struct rb *r, uint16_t type)
{
	size_t off = WIRE_HDR_LEN;

	while (off + 4 <= r->n) {
		uint16_t t = (uint16_t)(r->b[off] << 8 | r->b[off + 1]);
		uint16_t l = (uint16_t)(r->b[off + 2] << 8 | r->b[off + 3]);

		if (t == type)
			return off;
		off += 4 + l;
	}
	return 0;
}

static uint8_t *tlv_val(struct rb *r, uint16_t type)
{
	size_t off = tlv_off(r, type);

	assert_true(off != 0);
	return r->b + off + 4;
}

/* Values may point into the record being edited: copy them first. */
static uint8_t tmp[WIRE_RECORD_MAX];

/* Replace the value of a TLV (changing its length); vlen bytes from v. */
static void tlv_set(struct rb *r, uint16_t type, const void *v, size_t vlen)
{
	size_t off = tlv_off(r, type), old, tail;

	assert_true(off != 0);
	memmove(tmp, v, vlen);
	v = tmp;
	old = (size_t)(r->b[off + 2] << 8 | r->b[off + 3]);
	tail = r->n - (off + 4 + old);
	memmove(r->b + off + 4 + vlen, r->b + off + 4 + old, tail);
	memcpy(r->b + off + 4, v, vlen);
	r->b[off + 2] = (uint8_t)(vlen >> 8);
	r->b[off + 3] = (uint8_t)vlen;
	r->n = off + 4 + vlen + tail;
	rb_fix(r);
}

static void tlv_del(struct rb *r, uint16_t type)
{
	size_t off = tlv_off(r, type), l;

	assert_true(off != 0);
	l = 4 + (size_t)(r->b[off + 2] << 8 | r->b[off + 3]);
	memmove(r->b + off, r->b + off + l, r->n - off - l);
	r->n -= l;
	rb_fix(r);
}

/* Insert a TLV at byte offset `at` (WIRE_HDR_LEN: first; r->n: last). */
static void tlv_ins(struct rb *r, size_t at, uint16_t type, const void *v, size_t vlen)
{
	memmove(tmp, v, vlen);
	v = tmp;
	memmove(r->b + at + 4 + vlen, r->b + at, r->n - at);
	r->b[at] = (uint8_t)(type >> 8);
	r->b[at + 1] = (uint8_t)type;
	r->b[at + 2] = (uint8_t)(vlen >> 8);
	r->b[at + 3] = (uint8_t)vlen;
	memcpy(r->b + at + 4, v, vlen);
	r->n += 4 + vlen;
	rb_fix(r);
}

static int rb_decode(struct rb *r)
{
	struct wire_record rec;
	size_t used;

	return decode(r->b, r->n, &rec, &used);
}

static void test_doc_vectors(void **state)
{
	doc_check("### 9.1 HELLO", 0, VEC_HELLO);
	doc_check("### 9.2 ACK", 0, VEC_ACK);
	doc_check("### 9.3 SA_ADD", 0, VEC_SA_ADD);
	doc_check("### 9.6 IKE_RECORD", 0, VEC_IKE_RECORD);
	doc_check("### 9.6 IKE_RECORD", 1, VEC_IKE_DELETE);
}

/* ------------------------------------------------------------------ */
/* Vectors */

static void test_vector_sa_add(void **state)
{
	struct wire_record rec;
	struct ha_sa sa;
	struct rb want;
	uint8_t got[1024];
	size_t used;
	int n;

	sa_vector(&sa);
	rb_hex(&want, VEC_SA_ADD);
	n = wire_encode_sa_add(got, sizeof(got), 5, WIRE_F_BULK, &sa);
	assert_int_equal(n, want.n);
	assert_memory_equal(got, want.b, want.n);

	assert_int_equal(decode(want.b, want.n, &rec, &used), WIRE_OK);
	assert_int_equal(used, want.n);
	assert_int_equal(rec.type, WIRE_SA_ADD);
	assert_int_equal(rec.flags, WIRE_F_BULK);
	assert_true(rec.seq == 5);
	assert_memory_equal(&rec.u.sa, &sa, sizeof(sa));
	explicit_bzero(&rec, sizeof(rec));
}

static void hello_vector(struct wire_hello *h, const struct rb *v)
{
	memset(h, 0, sizeof(*h));
	h->proto_version = 1;
	strcpy(h->node_id, "gw-a");
	for (int i = 0; i < WIRE_NONCE_LEN; i++)
		h->nonce[i] = (uint8_t)(0x40 + i);
	h->caps = WIRE_CAP_ESN | WIRE_CAP_BATCH;
	/* The MAC is seal.c's business (test_seal checks it); here it is data. */
	memcpy(h->mac, v->b + v->n - WIRE_MAC_LEN, WIRE_MAC_LEN);
}

static void test_vector_hello(void **state)
{
	struct wire_record rec;
	struct wire_hello h;
	struct rb want;
	uint8_t got[256];
	size_t used;
	int n;

	rb_hex(&want, VEC_HELLO);
	hello_vector(&h, &want);
	n = wire_encode_hello(got, sizeof(got), 0, &h);
	assert_int_equal(n, want.n);
	assert_memory_equal(got, want.b, want.n);
	assert_int_equal(decode(want.b, want.n, &rec, &used), WIRE_OK);
	assert_int_equal(rec.type, WIRE_HELLO);
	assert_memory_equal(&rec.u.hello, &h, sizeof(h));
}

static void test_vector_ack(void **state)
{
	struct wire_record rec;
	struct rb want;
	uint8_t got[64];
	size_t used;
	int n;

	rb_hex(&want, VEC_ACK);
	n = wire_encode_ack(got, sizeof(got), 7, 42);
	assert_int_equal(n, want.n);
	assert_memory_equal(got, want.b, want.n);
	assert_int_equal(decode(want.b, want.n, &rec, &used), WIRE_OK);
	assert_int_equal(rec.type, WIRE_ACK);
	assert_true(rec.seq == 7 && rec.u.ack_seq == 42);
}

/* ------------------------------------------------------------------ */
/* Round trips */

static void test_roundtrip_hello(void **state)
{
	struct wire_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_HELLO;
	rec.seq = 99;
	rec.u.hello.proto_version = 1;
	memset(rec.u.hello.node_id, 'x', WIRE_NODE_ID_MAX);
	rec.u.hello.node_id[0] = '!';
	rec.u.hello.node_id[1] = '~';
	memset(rec.u.hello.nonce, 0xee, WIRE_NONCE_LEN);
	rec.u.hello.caps = 0xffffffff;
	memset(rec.u.hello.mac, 0x33, WIRE_MAC_LEN);
	roundtrip(&rec);
	rec.u.hello.has_peer_nonce = true;
	memset(rec.u.hello.peer_nonce, 0x77, WIRE_NONCE_LEN);
	rec.u.hello.proto_version = 255;
	roundtrip(&rec);
}

static void test_roundtrip_bulk_ack_heartbeat(void **state)
{
	struct wire_record rec;
	uint8_t a[64], b[64];

	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_BULK_BEGIN;
	rec.seq = 1;
	rec.u.bulk.generation = 0x1122334455667788ULL;
	roundtrip(&rec);
	assert_int_equal(wire_encode_bulk_begin(a, sizeof(a), 1, 0x1122334455667788ULL),
	    wire_encode(b, sizeof(b), &rec));
	assert_memory_equal(a, b, 28);

	rec.type = WIRE_BULK_END;
	rec.seq = UINT64_MAX;
	rec.flags = 0xfffc;	/* reserved flags travel untouched */
	rec.u.bulk.count = 10000;
	roundtrip(&rec);

	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_ACK;
	rec.u.ack_seq = UINT64_MAX;
	roundtrip(&rec);

	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_HEARTBEAT;
	rec.seq = 12;
	rec.u.timestamp_ms = 1700000000000ULL;
	roundtrip(&rec);
	assert_int_equal(wire_encode_heartbeat(a, sizeof(a), 12, 1700000000000ULL), 28);
	assert_int_equal(wire_encode(b, sizeof(b), &rec), 28);
	assert_memory_equal(a, b, 28);
	assert_int_equal(wire_encode_bulk_end(a, sizeof(a), 3, 4, 5), 40);
}

static void test_roundtrip_sa_add(void **state)
{
	void (*make[])(struct ha_sa *) = { sa_vector, sa_v6_cbc, sa_v4_esn_full, sa_ah, sa_comp };
	struct wire_record rec;
	uint8_t a[4096], b[4096];

	for (size_t i = 0; i < sizeof(make) / sizeof(make[0]); i++) {
		memset(&rec, 0, sizeof(rec));
		rec.type = WIRE_SA_ADD;
		rec.flags = WIRE_F_BULK | WIRE_F_ACK_REQ;
		rec.seq = i + 1;
		make[i](&rec.u.sa);
		roundtrip(&rec);
		/* The wrapper and the generic encoder agree. */
		assert_int_equal(wire_encode_sa_add(a, sizeof(a), rec.seq, rec.flags, &rec.u.sa),
		    wire_encode(b, sizeof(b), &rec));
		assert_memory_equal(a, b, (size_t)wire_encode(b, sizeof(b), &rec));
	}
	explicit_bzero(&rec, sizeof(rec));
}

static void test_roundtrip_sa_update(void **state)
{
	void (*make[])(struct ha_sa *) = { sa_vector, sa_v6_cbc, sa_v4_esn_full };
	struct wire_record rec, out;
	struct ha_sa sa;
	uint8_t buf[2048];
	size_t used;
	int n;

	for (size_t i = 0; i < sizeof(make) / sizeof(make[0]); i++) {
		make[i](&sa);
		memset(&rec, 0, sizeof(rec));
		rec.type = WIRE_SA_UPDATE;
		rec.seq = 77;
		wire_sa_update_of(&sa, &rec.u.update);
		roundtrip(&rec);

		n = wire_encode_sa_update(buf, sizeof(buf), 77, 0, &sa);
		assert_true(n > 0);
		assert_int_equal(decode(buf, (size_t)n, &out, &used), WIRE_OK);
		assert_true(ha_sa_key_equal(&out.u.update.key, &rec.u.update.key));
		assert_memory_equal(&out.u.update.replay, &sa.replay, sizeof(sa.replay));
		assert_memory_equal(&out.u.update.curlft, &sa.curlft, sizeof(sa.curlft));
		assert_true(out.u.update.synced_at_ms == sa.synced_at_ms);
		/* Counters only: no key material in an update. */
		assert_null(memmem(buf, (size_t)n, sa.aead.name[0] ? sa.aead.key : sa.auth.key, 16));
	}
}

static void test_roundtrip_sa_delete(void **state)
{
	struct wire_record rec;
	struct ha_sa sa;

	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_SA_DELETE;
	sa_vector(&sa);
	rec.u.sa_key = ha_sa_key_of(&sa);
	roundtrip(&rec);
	sa_v6_cbc(&sa);
	memset(&rec.u, 0, sizeof(rec.u));
	rec.u.sa_key = ha_sa_key_of(&sa);
	roundtrip(&rec);
}

static void test_roundtrip_policy(void **state)
{
	struct wire_record rec;

	for (int ntmpl = 0; ntmpl <= HA_TMPL_MAX; ntmpl++) {
		memset(&rec, 0, sizeof(rec));
		rec.type = WIRE_POLICY_ADD;
		rec.seq = (uint64_t)ntmpl;
		policy_v4(&rec.u.policy, ntmpl);
		roundtrip(&rec);
	}
	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_POLICY_ADD;
	policy_v6(&rec.u.policy);
	roundtrip(&rec);

	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_POLICY_DELETE;
	{
		struct ha_policy p;

		policy_v6(&p);
		rec.u.policy_key = ha_policy_key_of(&p);
	}
	roundtrip(&rec);
	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_POLICY_DELETE;
	{
		struct ha_policy p;

		policy_v4(&p, 2);
		rec.u.policy_key = ha_policy_key_of(&p);
	}
	roundtrip(&rec);
}

/* Several records in one buffer decode one after the other. */
static void test_batch(void **state)
{
	uint8_t buf[4096];
	struct wire_record rec;
	struct ha_sa sa;
	size_t off = 0, used;
	int n, types[4], i = 0;

	sa_vector(&sa);
	off += (size_t)wire_encode_bulk_begin(buf + off, sizeof(buf) - off, 1, 9);
	n = wire_encode_sa_add(buf + off, sizeof(buf) - off, 2, WIRE_F_BULK, &sa);
	off += (size_t)n;
	off += (size_t)wire_encode_bulk_end(buf + off, sizeof(buf) - off, 3, 9, 1);
	off += (size_t)wire_encode_ack(buf + off, sizeof(buf) - off, 3, 5);
	for (size_t at = 0; at < off; at += used) {
		assert_int_equal(decode(buf + at, off - at, &rec, &used), WIRE_OK);
		types[i++] = rec.type;
	}
	assert_int_equal(i, 4);
	assert_int_equal(types[0], WIRE_BULK_BEGIN);
	assert_int_equal(types[1], WIRE_SA_ADD);
	assert_int_equal(types[2], WIRE_BULK_END);
	assert_int_equal(types[3], WIRE_ACK);
}

/* ------------------------------------------------------------------ */
/* Reject paths: header */

static void test_reject_header(void **state)
{
	struct rb r;
	struct wire_record rec;
	size_t used;

	rb_hex(&r, VEC_ACK);
	r.b[0] = 2;
	assert_int_equal(rb_decode(&r), WIRE_E_VERSION);
	r.b[0] = 0;
	assert_int_equal(rb_decode(&r), WIRE_E_VERSION);
	r.b[0] = 1;

	for (uint32_t l = 0; l < WIRE_HDR_LEN; l++) {
		r.b[7] = (uint8_t)l;
		assert_int_equal(decode(r.b, r.n, &rec, &used), WIRE_E_LENGTH);
		assert_int_equal(used, 0);
	}
	/* Length above the cap, whatever the buffer holds. */
	r.b[4] = 0;
	r.b[5] = 1;
	r.b[6] = 0;
	r.b[7] = 1;
	assert_int_equal(rb_decode(&r), WIRE_E_TOO_BIG);
	r.b[4] = 0xff;
	assert_int_equal(rb_decode(&r), WIRE_E_TOO_BIG);
	/* A length longer than the buffer is a truncation. */
	rb_hex(&r, VEC_ACK);
	r.b[7] = 29;
	assert_int_equal(decode(r.b, r.n, &rec, &used), WIRE_E_TRUNCATED);
	assert_int_equal(used, 0);
}

/* A record of exactly 64 KiB decodes; one byte more is refused. */
static void test_reject_oversized(void **state)
{
	static struct rb r;
	static uint8_t pad[WIRE_RECORD_MAX];
	size_t fill;

	rb_hex(&r, VEC_ACK);
	fill = WIRE_RECORD_MAX - r.n - 4;
	tlv_ins(&r, r.n, 0x7777, pad, fill - 4);
	tlv_ins(&r, r.n, 0x7778, pad, 0);
	assert_int_equal(r.n, WIRE_RECORD_MAX);
	assert_int_equal(rb_decode(&r), WIRE_OK);
	tlv_ins(&r, r.n, 0x7779, pad, 0);
	assert_int_equal(rb_decode(&r), WIRE_E_TOO_BIG);
}

/* Every shortened length field, with the buffer cut to match, is refused. */
static void test_reject_short_length(void **state)
{
	const char *vecs[] = { VEC_HELLO, VEC_ACK, VEC_SA_ADD };
	struct wire_record rec;
	struct rb r;
	size_t used;

	for (size_t v = 0; v < 3; v++) {
		rb_hex(&r, vecs[v]);
		for (size_t k = WIRE_HDR_LEN; k < r.n; k++) {
			struct rb c = r;
			int rc;

			c.n = k;
			rb_fix(&c);
			rc = decode(c.b, c.n, &rec, &used);
			assert_true(rc < 0);
			assert_true(rc == WIRE_E_TLV_TRUNCATED || rc == WIRE_E_MISSING ||
			    rc == WIRE_E_TLV_LENGTH);
			assert_int_equal(used, k);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Reject paths: TLVs */

static void test_reject_tlv_lengths(void **state)
{
	static const uint8_t z[64];
	struct rb r;

	/* TLV header cut in the middle, TLV value past the end. */
	rb_hex(&r, VEC_ACK);
	r.n -= 8 + 2;
	rb_fix(&r);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_TRUNCATED);
	rb_hex(&r, VEC_ACK);
	r.b[19] = 9;
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_TRUNCATED);
	rb_hex(&r, VEC_ACK);
	r.b[18] = 0xff;
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_TRUNCATED);

	/* Fixed-size values of the wrong size. */
	rb_hex(&r, VEC_ACK);
	tlv_set(&r, WIRE_T_ACK_SEQ, z, 7);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	rb_hex(&r, VEC_ACK);
	tlv_set(&r, WIRE_T_ACK_SEQ, z, 9);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);

	{
		static const uint16_t fixed[] = {
			WIRE_T_SA_ID, WIRE_T_SA_SADDR, WIRE_T_SA_PARAMS, WIRE_T_SELECTOR,
			WIRE_T_ENCAP, WIRE_T_REPLAY_THRESH, WIRE_T_REPLAY_ESN,
			WIRE_T_LIFETIME_CFG, WIRE_T_LIFETIME_CUR, WIRE_T_SYNCED_AT,
			WIRE_T_ALG_AEAD,
		};
		struct ha_sa sa;

		sa_vector(&sa);
		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
			size_t len;

			rb_sa(&r, &sa);
			len = (size_t)(r.b[tlv_off(&r, fixed[i]) + 2] << 8 |
			    r.b[tlv_off(&r, fixed[i]) + 3]);
			tlv_set(&r, fixed[i], tlv_val(&r, fixed[i]), len - 1);
			assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
		}
	}
}

static void test_reject_hello(void **state)
{
	static const uint8_t z[40];
	struct rb r;
	uint8_t v[WIRE_MAC_LEN];
	size_t mac;

	/* Anything after the MAC: not covered by it, refused. */
	rb_hex(&r, VEC_HELLO);
	tlv_ins(&r, r.n, 0x7777, z, 1);
	assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);
	/* MAC moved to the front. */
	rb_hex(&r, VEC_HELLO);
	mac = tlv_off(&r, WIRE_T_HELLO_MAC);
	memcpy(v, r.b + mac + 4, WIRE_MAC_LEN);
	tlv_del(&r, WIRE_T_HELLO_MAC);
	tlv_ins(&r, WIRE_HDR_LEN, WIRE_T_HELLO_MAC, v, WIRE_MAC_LEN);
	assert_int_equal(r.n, 109);
	assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);
	/* Two MACs, the second last. */
	tlv_ins(&r, r.n, WIRE_T_HELLO_MAC, v, WIRE_MAC_LEN);
	assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);

	rb_hex(&r, VEC_HELLO);
	tlv_del(&r, WIRE_T_HELLO_MAC);
	assert_int_equal(rb_decode(&r), WIRE_E_MISSING);
	rb_hex(&r, VEC_HELLO);
	tlv_del(&r, WIRE_T_NONCE);
	assert_int_equal(rb_decode(&r), WIRE_E_MISSING);
	rb_hex(&r, VEC_HELLO);
	tlv_set(&r, WIRE_T_NONCE, z, 31);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	rb_hex(&r, VEC_HELLO);
	tlv_set(&r, WIRE_T_NODE_ID, "gw a", 4);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_hex(&r, VEC_HELLO);
	tlv_set(&r, WIRE_T_NODE_ID, "gw\0a", 4);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_hex(&r, VEC_HELLO);
	tlv_set(&r, WIRE_T_NODE_ID, "", 0);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	rb_hex(&r, VEC_HELLO);
	tlv_set(&r, WIRE_T_PROTO_VERSION, z, 1);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_hex(&r, VEC_HELLO);
	tlv_ins(&r, WIRE_HDR_LEN, WIRE_T_CAPS, z, 4);
	assert_int_equal(rb_decode(&r), WIRE_E_DUPLICATE);
	rb_hex(&r, VEC_HELLO);
	tlv_ins(&r, WIRE_HDR_LEN, WIRE_T_PEER_NONCE, z, 3);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
}

static void test_reject_sa(void **state)
{
	static const uint8_t z[600];
	struct ha_sa sa;
	struct rb r;
	uint8_t v[600];

	sa_vector(&sa);

	/* Every mandatory TLV, missing. */
	{
		static const uint16_t mand[] = {
			WIRE_T_SA_ID, WIRE_T_SA_SADDR, WIRE_T_SA_PARAMS, WIRE_T_SELECTOR,
			WIRE_T_LIFETIME_CFG, WIRE_T_LIFETIME_CUR, WIRE_T_SYNCED_AT,
			WIRE_T_REPLAY_ESN,
		};

		for (size_t i = 0; i < sizeof(mand) / sizeof(mand[0]); i++) {
			rb_sa(&r, &sa);
			tlv_del(&r, mand[i]);
			assert_int_equal(rb_decode(&r), WIRE_E_MISSING);
		}
	}
	/* ESP with no algorithm at all. */
	rb_sa(&r, &sa);
	tlv_del(&r, WIRE_T_ALG_AEAD);
	assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);

	/* Duplicates. */
	rb_sa(&r, &sa);
	tlv_ins(&r, r.n, WIRE_T_SYNCED_AT, z, 8);
	assert_int_equal(rb_decode(&r), WIRE_E_DUPLICATE);
	rb_sa(&r, &sa);
	tlv_ins(&r, WIRE_HDR_LEN, WIRE_T_ALG_AEAD, tlv_val(&r, WIRE_T_ALG_AEAD), 62);
	assert_int_equal(rb_decode(&r), WIRE_E_DUPLICATE);

	/* Both replay forms. */
	rb_sa(&r, &sa);
	tlv_ins(&r, r.n, WIRE_T_REPLAY_LEGACY, z, 12);
	assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);

	/* Key length larger than the TLV, key too long, name problems. */
	rb_sa(&r, &sa);
	memcpy(v, tlv_val(&r, WIRE_T_ALG_AEAD), 62);
	v[3] = 0x28;	/* 296 bits: one byte more than present */
	tlv_set(&r, WIRE_T_ALG_AEAD, v, 62);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	v[2] = 0x02;	/* 552 bits: above the 512-bit cap */
	v[3] = 0x28;
	tlv_set(&r, WIRE_T_ALG_AEAD, v, 62);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	v[2] = 0x01;
	v[3] = 0x20;
	v[8] = 0;	/* name_len 0 */
	tlv_set(&r, WIRE_T_ALG_AEAD, v, 62);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	v[8] = 64;	/* name_len above 63 */
	tlv_set(&r, WIRE_T_ALG_AEAD, v, 62);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	v[8] = 17;
	v[12] = 0;	/* NUL inside the name */
	tlv_set(&r, WIRE_T_ALG_AEAD, v, 62);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	v[8] = 60;	/* name_len larger than what the TLV holds */
	v[12] = 'c';
	tlv_set(&r, WIRE_T_ALG_AEAD, v, 62);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	tlv_set(&r, WIRE_T_ALG_AEAD, v, 5);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);

	/* ESN: bmp_len beyond the cap, inconsistent with the TLV, window too big. */
	rb_sa(&r, &sa);
	memcpy(v, tlv_val(&r, WIRE_T_REPLAY_ESN), 40);
	v[3] = 129;
	tlv_set(&r, WIRE_T_REPLAY_ESN, v, 40);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	v[0] = 0x80;
	v[3] = 4;
	tlv_set(&r, WIRE_T_REPLAY_ESN, v, 40);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	v[0] = 0;
	v[3] = 5;
	tlv_set(&r, WIRE_T_REPLAY_ESN, v, 40);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	v[3] = 4;
	v[22] = 0x01;	/* replay_window 384 > 4 * 32 */
	tlv_set(&r, WIRE_T_REPLAY_ESN, v, 40);
	assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);

	/* The ESN flag with a legacy replay state. */
	rb_sa(&r, &sa);
	tlv_del(&r, WIRE_T_REPLAY_ESN);
	tlv_ins(&r, r.n, WIRE_T_REPLAY_LEGACY, z, 12);
	assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);
	tlv_val(&r, WIRE_T_SA_PARAMS)[1] = 0;	/* without the flag: fine */
	assert_int_equal(rb_decode(&r), WIRE_OK);

	/* Addresses: wrong length, mixed families, bad selector family/prefix. */
	rb_sa(&r, &sa);
	tlv_set(&r, WIRE_T_SA_SADDR, z, 16);
	assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);
	tlv_set(&r, WIRE_T_SA_SADDR, z, 8);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	rb_sa(&r, &sa);
	tlv_set(&r, WIRE_T_SA_ID, z, 13);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	rb_sa(&r, &sa);
	tlv_val(&r, WIRE_T_SA_ID)[4] = IPPROTO_TCP;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_sa(&r, &sa);
	tlv_val(&r, WIRE_T_SELECTOR)[0] = 3;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	tlv_val(&r, WIRE_T_SELECTOR)[0] = AF_INET6;	/* 24 bytes say IPv4 */
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	tlv_val(&r, WIRE_T_SELECTOR)[0] = AF_INET;
	tlv_val(&r, WIRE_T_SELECTOR)[2] = 33;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);

	/* Mode, direction, encapsulation. */
	rb_sa(&r, &sa);
	tlv_val(&r, WIRE_T_SA_PARAMS)[0] = 5;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_sa(&r, &sa);
	tlv_ins(&r, r.n, WIRE_T_SA_DIR, "\3", 1);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_sa(&r, &sa);
	tlv_ins(&r, r.n, WIRE_T_SA_DIR, "\0", 1);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_sa(&r, &sa);
	tlv_val(&r, WIRE_T_ENCAP)[1] = 0;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_sa(&r, &sa);
	tlv_set(&r, WIRE_T_ENCAP, z, 7);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);

	/* Algorithm sets the kernel refuses. */
	{
		struct ha_sa bad = sa;

		strcpy(bad.crypt.name, "cbc(aes)");	/* AEAD + CRYPT */
		rb_sa(&r, &sa);
		tlv_ins(&r, r.n, WIRE_T_ALG_CRYPT, "\0\0\0\0\x08" "cbc(aes)", 13);
		assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);
		assert_int_equal(wire_encode_sa_add(v, sizeof(v), 1, 0, &bad), WIRE_E_INCONSISTENT);
		rb_sa(&r, &sa);
		tlv_ins(&r, r.n, WIRE_T_ALG_COMP, "deflate", 7);
		assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);
		rb_sa(&r, &sa);
		tlv_val(&r, WIRE_T_SA_ID)[4] = IPPROTO_AH;	/* AH with AEAD */
		assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);
		rb_sa(&r, &sa);
		tlv_val(&r, WIRE_T_SA_ID)[4] = IPPROTO_COMP;
		assert_int_equal(rb_decode(&r), WIRE_E_INCONSISTENT);
		sa_comp(&bad);
		rb_sa(&r, &bad);
		tlv_set(&r, WIRE_T_ALG_COMP, "", 0);
		assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
		tlv_set(&r, WIRE_T_ALG_COMP, "de\0ate", 6);
		assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	}
}

static void test_reject_update_delete(void **state)
{
	static const uint8_t z[16];
	struct ha_sa sa;
	struct rb r;
	int n;

	sa_vector(&sa);
	n = wire_encode_sa_update(r.b, sizeof(r.b), 1, 0, &sa);
	assert_true(n > 0);
	r.n = (size_t)n;
	tlv_del(&r, WIRE_T_REPLAY_ESN);
	assert_int_equal(rb_decode(&r), WIRE_E_MISSING);
	tlv_ins(&r, r.n, WIRE_T_REPLAY_LEGACY, z, 11);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	tlv_set(&r, WIRE_T_REPLAY_LEGACY, z, 12);
	assert_int_equal(rb_decode(&r), WIRE_OK);
	tlv_del(&r, WIRE_T_LIFETIME_CUR);
	assert_int_equal(rb_decode(&r), WIRE_E_MISSING);

	n = wire_encode_sa_delete(r.b, sizeof(r.b), 1, 0, &(struct ha_sa_key){ 0 });
	assert_int_equal(n, WIRE_E_RANGE);
	{
		struct ha_sa_key k = ha_sa_key_of(&sa);

		r.n = (size_t)wire_encode_sa_delete(r.b, sizeof(r.b), 1, 0, &k);
	}
	tlv_ins(&r, r.n, WIRE_T_MARK, z, 4);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	tlv_set(&r, WIRE_T_MARK, z, 8);
	assert_int_equal(rb_decode(&r), WIRE_OK);
	tlv_del(&r, WIRE_T_SA_ID);
	assert_int_equal(rb_decode(&r), WIRE_E_MISSING);
}

static void test_reject_policy(void **state)
{
	static const uint8_t z[64];
	struct wire_record rec;
	struct rb r;
	size_t t;

	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_POLICY_ADD;
	policy_v4(&rec.u.policy, HA_TMPL_MAX);
	rb_record(&r, &rec);
	t = tlv_off(&r, WIRE_T_TMPL);
	tlv_ins(&r, r.n, WIRE_T_TMPL, r.b + t + 4, 33);	/* a fifth */
	assert_int_equal(rb_decode(&r), WIRE_E_DUPLICATE);

	rb_record(&r, &rec);
	tlv_val(&r, WIRE_T_TMPL)[1] = IPPROTO_UDP;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_record(&r, &rec);
	tlv_val(&r, WIRE_T_TMPL)[2] = 9;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_record(&r, &rec);
	tlv_val(&r, WIRE_T_TMPL)[0] = AF_INET6;
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	tlv_val(&r, WIRE_T_TMPL)[0] = 1;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_record(&r, &rec);
	tlv_set(&r, WIRE_T_TMPL, z, 24);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	rb_record(&r, &rec);
	tlv_val(&r, WIRE_T_POLICY_PARAMS)[0] = 3;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_record(&r, &rec);
	tlv_val(&r, WIRE_T_POLICY_PARAMS)[1] = 2;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_record(&r, &rec);
	tlv_set(&r, WIRE_T_POLICY_PARAMS, z, 11);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	rb_record(&r, &rec);
	tlv_del(&r, WIRE_T_SELECTOR);
	assert_int_equal(rb_decode(&r), WIRE_E_MISSING);
	rb_record(&r, &rec);
	tlv_ins(&r, r.n, WIRE_T_IF_ID, z, 2);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);

	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_POLICY_DELETE;
	{
		struct ha_policy p;

		policy_v6(&p);
		rec.u.policy_key = ha_policy_key_of(&p);
	}
	rb_record(&r, &rec);
	tlv_val(&r, WIRE_T_POLICY_KEY)[0] = 4;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	rb_record(&r, &rec);
	tlv_set(&r, WIRE_T_POLICY_KEY, z, 6);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	rb_record(&r, &rec);
	tlv_del(&r, WIRE_T_POLICY_KEY);
	assert_int_equal(rb_decode(&r), WIRE_E_MISSING);
	rb_record(&r, &rec);
	tlv_val(&r, WIRE_T_SELECTOR)[3] = 129;
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
}

/* ------------------------------------------------------------------ */
/* IKE records */

static void test_vector_ike(void **state)
{
	struct wire_ike ike = { 0x41443052916ec1bbULL, 0xf0985e9dd355b672ULL,
				sizeof(VEC_IKE_JSON) - 1, true };
	struct wire_record rec;
	struct rb want;
	uint8_t got[256];
	size_t used;

	rb_hex(&want, VEC_IKE_RECORD);
	assert_int_equal(wire_encode_ike_record(got, sizeof(got), 9, WIRE_F_BULK, &ike, VEC_IKE_JSON),
			 want.n);
	assert_memory_equal(got, want.b, want.n);
	assert_int_equal(decode(want.b, want.n, &rec, &used), WIRE_OK);
	assert_int_equal(used, want.n);
	assert_int_equal(rec.type, WIRE_IKE_RECORD);
	assert_int_equal(rec.flags, WIRE_F_BULK);
	assert_true(rec.seq == 9);
	assert_true(rec.u.ike.has_spis && rec.u.ike.spi_i == ike.spi_i && rec.u.ike.spi_r == ike.spi_r);
	assert_int_equal(rec.u.ike.json_len, 40);
	/* Not a copy: the document is where the record is. */
	assert_ptr_equal(rec.ike_json, (const char *)want.b + 40);
	assert_memory_equal(rec.ike_json, VEC_IKE_JSON, 40);

	rb_hex(&want, VEC_IKE_DELETE);
	assert_int_equal(wire_encode_ike_delete(got, sizeof(got), 10, 0, ike.spi_i, ike.spi_r), want.n);
	assert_memory_equal(got, want.b, want.n);
	assert_int_equal(decode(want.b, want.n, &rec, &used), WIRE_OK);
	assert_int_equal(rec.type, WIRE_IKE_DELETE);
	assert_true(rec.seq == 10 && rec.u.ike.has_spis && rec.u.ike.spi_i == ike.spi_i &&
		    rec.u.ike.spi_r == ike.spi_r && rec.u.ike.json_len == 0);
	assert_null(rec.ike_json);
	assert_string_equal(wire_type_name(WIRE_IKE_RECORD), "IKE_RECORD");
	assert_string_equal(wire_type_name(WIRE_IKE_DELETE), "IKE_DELETE");
}

static void test_roundtrip_ike(void **state)
{
	static char json[WIRE_IKE_JSON_MAX + 1];
	struct wire_ike ike = { 0, 0, 0, false };
	struct wire_record rec, back;
	struct rb r;
	size_t used;
	int n;

	/* No SPIs; and the largest document, which still fits one record. */
	memset(json, ' ', sizeof(json));
	json[0] = '{';
	for (uint32_t len = 2; len <= WIRE_IKE_JSON_MAX; len = len * 3 + 1 < WIRE_IKE_JSON_MAX ?
	     len * 3 + 1 : (len == WIRE_IKE_JSON_MAX ? len + 1 : WIRE_IKE_JSON_MAX)) {
		json[len - 1] = '}';
		ike.json_len = len;
		n = wire_encode_ike_record(r.b, sizeof(r.b), 77, WIRE_F_ACK_REQ, &ike, json);
		assert_int_equal(n, WIRE_HDR_LEN + 4 + len);
		r.n = (size_t)n;
		assert_int_equal(decode(r.b, r.n, &rec, &used), WIRE_OK);
		assert_false(rec.u.ike.has_spis);
		assert_int_equal(rec.u.ike.json_len, len);
		assert_memory_equal(rec.ike_json, json, len);
		/* What decodes encodes to the same bytes (the fuzzer's property). */
		assert_int_equal(wire_encode(tmp, sizeof(tmp), &rec), n);
		assert_memory_equal(tmp, r.b, r.n);
		json[len - 1] = ' ';
	}
	/* In a batch with other records, and through struct wire_record. */
	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_IKE_RECORD;
	rec.seq = 3;
	rec.u.ike.has_spis = true;
	rec.u.ike.spi_i = 1;
	rec.u.ike.spi_r = UINT64_MAX;
	rec.u.ike.json_len = 2;
	rec.ike_json = "{}";
	n = wire_encode(r.b, sizeof(r.b), &rec);
	assert_int_equal(n, WIRE_HDR_LEN + 20 + 6);
	assert_int_equal(wire_encode_ike_delete(r.b + n, sizeof(r.b) - (size_t)n, 4, 0, 5, 6), 36);
	r.n = (size_t)n + 36;
	assert_int_equal(decode(r.b, r.n, &back, &used), WIRE_OK);
	assert_true(used == (size_t)n && back.u.ike.spi_r == UINT64_MAX);
	assert_memory_equal(&back.u, &rec.u, sizeof(rec.u));
	assert_int_equal(decode(r.b + used, r.n - used, &back, &used), WIRE_OK);
	assert_true(back.type == WIRE_IKE_DELETE && back.u.ike.spi_i == 5 && back.u.ike.spi_r == 6);
}

static void test_reject_ike(void **state)
{
	static char big[WIRE_IKE_JSON_MAX + 2];
	struct wire_ike ike = { 1, 2, 40, true };
	struct wire_record rec;
	struct rb r;
	uint8_t buf[128];
	size_t used;

	/* Decoder. */
	rb_hex(&r, VEC_IKE_RECORD);
	tlv_set(&r, WIRE_T_IKE_JSON, "", 0);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	memset(big, 'x', sizeof(big));
	tlv_set(&r, WIRE_T_IKE_JSON, big, WIRE_IKE_JSON_MAX + 1);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	tlv_set(&r, WIRE_T_IKE_JSON, "{\"a\0\"}", 6);
	assert_int_equal(rb_decode(&r), WIRE_E_RANGE);
	tlv_del(&r, WIRE_T_IKE_JSON);
	assert_int_equal(rb_decode(&r), WIRE_E_MISSING);
	rb_hex(&r, VEC_IKE_RECORD);
	tlv_set(&r, WIRE_T_IKE_SPIS, "0123456789abcde", 15);
	assert_int_equal(rb_decode(&r), WIRE_E_TLV_LENGTH);
	rb_hex(&r, VEC_IKE_RECORD);
	tlv_ins(&r, r.n, WIRE_T_IKE_JSON, "{}", 2);
	assert_int_equal(rb_decode(&r), WIRE_E_DUPLICATE);
	rb_hex(&r, VEC_IKE_DELETE);
	tlv_del(&r, WIRE_T_IKE_SPIS);
	assert_int_equal(rb_decode(&r), WIRE_E_MISSING);
	/* A document in an IKE_DELETE is a TLV it does not read: skipped. */
	rb_hex(&r, VEC_IKE_DELETE);
	tlv_ins(&r, r.n, WIRE_T_IKE_JSON, "{}", 2);
	assert_int_equal(decode(r.b, r.n, &rec, &used), WIRE_OK);
	assert_true(rec.u.ike.json_len == 0 && rec.ike_json == NULL);
	/* A truncated one is refused whole, and leaves nothing behind. */
	rb_hex(&r, VEC_IKE_RECORD);
	assert_int_equal(decode(r.b, r.n - 1, &rec, &used), WIRE_E_TRUNCATED);
	assert_null(rec.ike_json);

	/* Encoder. */
	assert_int_equal(wire_encode_ike_record(buf, sizeof(buf), 1, 0, &ike, NULL), WIRE_E_RANGE);
	ike.json_len = 0;
	assert_int_equal(wire_encode_ike_record(buf, sizeof(buf), 1, 0, &ike, "{}"), WIRE_E_RANGE);
	ike.json_len = WIRE_IKE_JSON_MAX + 1;
	assert_int_equal(wire_encode_ike_record(buf, sizeof(buf), 1, 0, &ike, big), WIRE_E_RANGE);
	ike.json_len = 3;
	assert_int_equal(wire_encode_ike_record(buf, sizeof(buf), 1, 0, &ike, "{\0}"), WIRE_E_RANGE);
	ike.json_len = 100;
	memset(big, ' ', 100);
	assert_int_equal(wire_encode_ike_record(buf, 120, 1, 0, &ike, big), WIRE_E_NOSPACE);
	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_IKE_DELETE;
	assert_int_equal(wire_encode(buf, sizeof(buf), &rec), WIRE_E_MISSING);
	rec.u.ike.has_spis = true;
	rec.u.ike.json_len = 2;
	rec.ike_json = "{}";
	assert_int_equal(wire_encode(buf, sizeof(buf), &rec), WIRE_E_INCONSISTENT);
	rec.u.ike.json_len = 0;
	assert_int_equal(wire_encode(buf, sizeof(buf), &rec), 36);
}

/* ------------------------------------------------------------------ */
/* Unknown things are skipped */

static void test_unknown_record_skipped(void **state)
{
	static const uint8_t types[] = { 0x00, 0x04, 0x13, 0x22, 0x32, 0x42, 0x43, 0x5f, 0x60, 0xff };
	struct wire_record rec;
	uint8_t buf[256];
	struct rb r;
	size_t used;

	for (size_t i = 0; i < sizeof(types); i++) {
		rb_hex(&r, VEC_ACK);
		r.b[1] = types[i];
		r.b[2] = 0x80;
		tlv_ins(&r, r.n, 0x1234, "garbage", 7);	/* contents never looked at */
		r.b[20] = 0xff;
		memcpy(buf, r.b, r.n);
		assert_int_equal(wire_encode_ack(buf + r.n, sizeof(buf) - r.n, 8, 43), 28);
		assert_int_equal(decode(buf, r.n + 28, &rec, &used), WIRE_SKIPPED);
		assert_int_equal(used, r.n);
		assert_int_equal(rec.type, types[i]);
		assert_int_equal(rec.flags, 0x8000);
		assert_int_equal(rec.length, r.n);
		assert_true(rec.seq == 7);
		/* The caller skips it and finds the next record. */
		assert_int_equal(decode(buf + used, 28, &rec, &used), WIRE_OK);
		assert_true(rec.type == WIRE_ACK && rec.u.ack_seq == 43);
	}
	/* A truncated unknown record is still a truncation. */
	r.b[1] = 0x42;
	assert_int_equal(decode(r.b, r.n - 1, &rec, &used), WIRE_E_TRUNCATED);
	/* The encoder does not make what it does not know. */
	memset(&rec, 0, sizeof(rec));
	rec.type = 0x42;
	assert_int_equal(wire_encode(buf, sizeof(buf), &rec), WIRE_E_TYPE);
}

static void test_unknown_tlv_skipped(void **state)
{
	static const uint8_t junk[300] = { 1, 2, 3 };
	struct wire_record want, got;
	struct ha_sa sa;
	struct rb r;
	size_t used;

	/* In an ACK: unknown types, and known ones that belong elsewhere. */
	rb_hex(&r, VEC_ACK);
	tlv_ins(&r, WIRE_HDR_LEN, 0xffff, junk, 300);
	tlv_ins(&r, r.n, WIRE_T_NONCE, junk, 5);
	tlv_ins(&r, r.n, 0x0040, junk, 0);
	tlv_ins(&r, r.n, WIRE_T_TMPL, junk, 1);
	assert_int_equal(decode(r.b, r.n, &got, &used), WIRE_OK);
	assert_true(got.u.ack_seq == 42);

	/* In an SA_ADD, between every pair of TLVs: the same SA comes out. */
	sa_v6_cbc(&sa);
	rb_sa(&r, &sa);
	assert_int_equal(decode(r.b, r.n, &want, &used), WIRE_OK);
	for (size_t off = WIRE_HDR_LEN; off <= r.n;) {
		struct rb c = r;
		size_t l = off < r.n ? 4 + (size_t)(r.b[off + 2] << 8 | r.b[off + 3]) : 0;

		tlv_ins(&c, off, 0x9999, junk, 17);
		assert_int_equal(decode(c.b, c.n, &got, &used), WIRE_OK);
		assert_memory_equal(&got, &want, offsetof(struct wire_record, length));
		assert_memory_equal(&got.u, &want.u, sizeof(want.u));
		if (l == 0)
			break;
		off += l;
	}
	explicit_bzero(&want, sizeof(want));
	explicit_bzero(&got, sizeof(got));
}

/* ------------------------------------------------------------------ */
/* The encoder refuses what would not decode */

static void test_encode_rejects(void **state)
{
	uint8_t buf[4096];
	struct ha_sa sa;
	struct wire_record rec;
	struct ha_policy p;

	sa_vector(&sa);
	sa.saddr.family = AF_INET6;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_INCONSISTENT);
	sa_vector(&sa);
	sa.family = AF_INET6;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_INCONSISTENT);
	sa_vector(&sa);
	sa.sel.daddr.family = AF_INET6;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_INCONSISTENT);
	sa_vector(&sa);
	memset(sa.aead.name, 'a', sizeof(sa.aead.name));	/* no NUL */
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_RANGE);
	sa_vector(&sa);
	sa.aead.key_len_bits = 513;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_RANGE);
	sa_vector(&sa);
	sa.replay.esn.bmp_len = HA_ESN_BMP_MAX + 1;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_RANGE);
	assert_int_equal(wire_encode_sa_update(buf, sizeof(buf), 1, 0, &sa), WIRE_E_RANGE);
	sa_vector(&sa);
	sa.replay.esn.replay_window = 129;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_INCONSISTENT);
	sa_vector(&sa);
	sa.replay.is_esn = false;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_INCONSISTENT);
	sa_vector(&sa);
	sa.sa_dir = 3;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_RANGE);
	sa_vector(&sa);
	sa.encap.oa.family = 99;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_RANGE);
	sa_vector(&sa);
	sa.id.proto = 0;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_RANGE);
	sa_vector(&sa);
	sa.sel.prefixlen_d = 33;
	assert_int_equal(wire_encode_sa_add(buf, sizeof(buf), 1, 0, &sa), WIRE_E_RANGE);

	policy_v4(&p, 1);
	p.ntmpl = HA_TMPL_MAX + 1;
	assert_int_equal(wire_encode_policy_add(buf, sizeof(buf), 1, 0, &p), WIRE_E_RANGE);
	policy_v4(&p, 1);
	p.tmpl[0].saddr.family = AF_INET6;
	assert_int_equal(wire_encode_policy_add(buf, sizeof(buf), 1, 0, &p), WIRE_E_INCONSISTENT);
	policy_v4(&p, 1);
	p.dir = 3;
	assert_int_equal(wire_encode_policy_add(buf, sizeof(buf), 1, 0, &p), WIRE_E_RANGE);
	{
		struct ha_policy_key k = ha_policy_key_of(&p);

		assert_int_equal(wire_encode_policy_delete(buf, sizeof(buf), 1, 0, &k), WIRE_E_RANGE);
	}

	memset(&rec, 0, sizeof(rec));
	rec.type = WIRE_HELLO;
	rec.u.hello.proto_version = 1;
	assert_int_equal(wire_encode(buf, sizeof(buf), &rec), WIRE_E_RANGE);	/* no node id */
	strcpy(rec.u.hello.node_id, "gw\ta");
	assert_int_equal(wire_encode(buf, sizeof(buf), &rec), WIRE_E_RANGE);
	strcpy(rec.u.hello.node_id, "gw-a");
	rec.u.hello.proto_version = 0;
	assert_int_equal(wire_encode(buf, sizeof(buf), &rec), WIRE_E_RANGE);
	rec.u.hello.proto_version = 1;
	assert_int_equal(wire_encode(buf, sizeof(buf), &rec), 109);
	assert_int_equal(wire_encode(buf, 108, &rec), WIRE_E_NOSPACE);
}

static void test_names(void **state)
{
	const char *seen[32];
	int n = 0;

	for (int s = WIRE_STATUS_MIN; s <= WIRE_SKIPPED; s++) {
		const char *m = wire_strerror(s);

		assert_string_not_equal(m, "unknown wire status");
		for (int i = 0; i < n; i++)
			assert_string_not_equal(m, seen[i]);
		seen[n++] = m;
	}
	assert_string_equal(wire_strerror(-100), "unknown wire status");
	assert_string_equal(wire_type_name(WIRE_SA_UPDATE), "SA_UPDATE");
	assert_string_equal(wire_type_name(0x45), "IKE (reserved)");
	assert_string_equal(wire_type_name(0x99), "unknown");
}

static void test_sa_key(void **state)
{
	struct ha_sa a, b;
	struct ha_sa_key ka, kb;

	sa_vector(&a);
	sa_vector(&b);
	ka = ha_sa_key_of(&a);
	kb = ha_sa_key_of(&b);
	assert_true(ha_sa_key_equal(&ka, &kb));
	b.mark.v = 1;
	kb = ha_sa_key_of(&b);
	assert_false(ha_sa_key_equal(&ka, &kb));
	sa_vector(&b);
	b.id.daddr.v4.s_addr ^= 1;
	kb = ha_sa_key_of(&b);
	assert_false(ha_sa_key_equal(&ka, &kb));
	sa_vector(&b);
	b.reqid = 1;	/* not part of the key */
	kb = ha_sa_key_of(&b);
	assert_true(ha_sa_key_equal(&ka, &kb));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_vectors),
		cmocka_unit_test(test_vector_sa_add),
		cmocka_unit_test(test_vector_hello),
		cmocka_unit_test(test_vector_ack),
		cmocka_unit_test(test_roundtrip_hello),
		cmocka_unit_test(test_roundtrip_bulk_ack_heartbeat),
		cmocka_unit_test(test_roundtrip_sa_add),
		cmocka_unit_test(test_roundtrip_sa_update),
		cmocka_unit_test(test_roundtrip_sa_delete),
		cmocka_unit_test(test_roundtrip_policy),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_reject_header),
		cmocka_unit_test(test_reject_oversized),
		cmocka_unit_test(test_reject_short_length),
		cmocka_unit_test(test_reject_tlv_lengths),
		cmocka_unit_test(test_reject_hello),
		cmocka_unit_test(test_reject_sa),
		cmocka_unit_test(test_reject_update_delete),
		cmocka_unit_test(test_reject_policy),
		cmocka_unit_test(test_vector_ike),
		cmocka_unit_test(test_roundtrip_ike),
		cmocka_unit_test(test_reject_ike),
		cmocka_unit_test(test_unknown_record_skipped),
		cmocka_unit_test(test_unknown_tlv_skipped),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_sa_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
