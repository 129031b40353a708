/* test_xfrm_parse.c: the XFRM message parser and the capture's table logic, fed netlink messages built with libnl's nlmsg API. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>
#include <linux/ipsec.h>
#include <linux/xfrm.h>
#include <cmocka.h>

#include <netlink/msg.h>
#include <netlink/attr.h>

#include "log.h"
#include "xfrm.h"

#define VIP	"192.0.2.1"
#define REMOTE	"192.0.2.100"
#define OTHER	"192.0.2.2"
#define ATTR_SA_DIR	33

static struct xfrm_filter filt;
static const uint8_t key_aead[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
static const uint8_t key_enc[16] = { 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
	0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33 };
static const uint8_t key_auth[32] = { 0x44 };

static int setup(void **state)
{
	(void)state;
	log_init("test", true, LOG_EMERG);	/* the parser's warnings are expected here */
	memset(&filt, 0, sizeof(filt));
	filt.vips[0].family = AF_INET;
	inet_pton(AF_INET, VIP, &filt.vips[0].v4);
	filt.n_vips = 1;
	return 0;
}

static void a4(xfrm_address_t *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	assert_int_equal(inet_pton(AF_INET, s, &a->a4), 1);
}

static struct ha_addr ha4(const char *s)
{
	struct ha_addr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	inet_pton(AF_INET, s, &a.v4);
	return a;
}

static void sa_info(struct xfrm_usersa_info *p, const char *src, const char *dst, uint32_t spi,
    uint32_t reqid)
{
	memset(p, 0, sizeof(*p));
	a4(&p->saddr, src);
	a4(&p->id.daddr, dst);
	p->id.spi = htonl(spi);
	p->id.proto = IPPROTO_ESP;
	p->family = AF_INET;
	p->reqid = reqid;
	p->mode = XFRM_MODE_TUNNEL;
	p->replay_window = 32;
	p->sel.family = AF_INET;
	a4(&p->sel.saddr, "10.1.0.0");
	a4(&p->sel.daddr, "10.2.0.0");
	p->sel.prefixlen_s = 24;
	p->sel.prefixlen_d = 24;
	p->sel.dport = htons(500);
	p->sel.dport_mask = 0xffff;
	p->sel.proto = IPPROTO_UDP;
	p->lft.soft_byte_limit = XFRM_INF;
	p->lft.hard_byte_limit = XFRM_INF;
	p->lft.soft_packet_limit = XFRM_INF;
	p->lft.hard_packet_limit = XFRM_INF;
	p->lft.hard_add_expires_seconds = 3600;
	p->curlft.bytes = 1000;
	p->curlft.packets = 10;
	p->curlft.add_time = 1700000000;
}

static void put_aead(struct nl_msg *m, const uint8_t *key, unsigned bytes, unsigned key_bits)
{
	size_t len = sizeof(struct xfrm_algo_aead) + bytes;
	struct xfrm_algo_aead *a = calloc(1, len);

	strcpy(a->alg_name, "rfc4106(gcm(aes))");
	a->alg_key_len = key_bits;
	a->alg_icv_len = 128;
	memcpy(a->alg_key, key, bytes);
	assert_int_equal(nla_put(m, XFRMA_ALG_AEAD, (int)len, a), 0);
	free(a);
}

static void put_algo(struct nl_msg *m, int type, const char *name, const uint8_t *key, unsigned bytes)
{
	size_t len = sizeof(struct xfrm_algo) + bytes;
	struct xfrm_algo *a = calloc(1, len);

	strcpy(a->alg_name, name);
	a->alg_key_len = bytes * 8;
	memcpy(a->alg_key, key, bytes);
	assert_int_equal(nla_put(m, type, (int)len, a), 0);
	free(a);
}

static void put_auth_trunc(struct nl_msg *m, const uint8_t *key, unsigned bytes)
{
	size_t len = sizeof(struct xfrm_algo_auth) + bytes;
	struct xfrm_algo_auth *a = calloc(1, len);

	strcpy(a->alg_name, "hmac(sha256)");
	a->alg_key_len = bytes * 8;
	a->alg_trunc_len = 128;
	memcpy(a->alg_key, key, bytes);
	assert_int_equal(nla_put(m, XFRMA_ALG_AUTH_TRUNC, (int)len, a), 0);
	free(a);
}

static void put_replay(struct nl_msg *m, uint32_t oseq, uint32_t seq, uint32_t bitmap)
{
	struct xfrm_replay_state r = { .oseq = oseq, .seq = seq, .bitmap = bitmap };

	assert_int_equal(nla_put(m, XFRMA_REPLAY_VAL, sizeof(r), &r), 0);
}

static void put_esn(struct nl_msg *m, uint32_t bmp_len, uint32_t window, uint32_t seq_hi,
    uint32_t seq, uint32_t oseq_hi, uint32_t oseq, size_t attr_words)
{
	size_t len = sizeof(struct xfrm_replay_state_esn) + attr_words * 4;
	struct xfrm_replay_state_esn *e = calloc(1, len);
	uint32_t i;

	e->bmp_len = bmp_len;
	e->replay_window = window;
	e->seq = seq;
	e->seq_hi = seq_hi;
	e->oseq = oseq;
	e->oseq_hi = oseq_hi;
	for (i = 0; i < attr_words; i++)
		e->bmp[i] = 0x01010101u * (i + 1);
	assert_int_equal(nla_put(m, XFRMA_REPLAY_ESN_VAL, (int)len, e), 0);
	free(e);
}

static void put_mark(struct nl_msg *m, uint32_t v, uint32_t mask)
{
	struct xfrm_mark mk = { .v = v, .m = mask };

	assert_int_equal(nla_put(m, XFRMA_MARK, sizeof(mk), &mk), 0);
}

/* A NEWSA (or UPDSA) of an AEAD SA, legacy replay. */
static struct nl_msg *newsa_aead(int type, const char *src, const char *dst, uint32_t spi)
{
	struct xfrm_usersa_info p;
	struct nl_msg *m = nlmsg_alloc_simple(type, 0);

	sa_info(&p, src, dst, spi, 101);
	assert_int_equal(nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO), 0);
	put_aead(m, key_aead, sizeof(key_aead), 160);
	put_replay(m, 7, 0, 0);
	return m;
}

/* A NEWSA of a cbc+hmac ESN SA into the VIP, with attributes libnl lacks. */
static struct nl_msg *newsa_esn(void)
{
	struct xfrm_usersa_info p;
	struct nl_msg *m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);

	sa_info(&p, REMOTE, VIP, 0xb002, 102);
	p.flags = XFRM_STATE_ESN;
	p.replay_window = 0;
	assert_int_equal(nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO), 0);
	put_algo(m, XFRMA_ALG_CRYPT, "cbc(aes)", key_enc, sizeof(key_enc));
	put_algo(m, XFRMA_ALG_AUTH, "hmac(sha256)", key_auth, sizeof(key_auth));
	put_auth_trunc(m, key_auth, sizeof(key_auth));
	put_esn(m, 4, 128, 1, 77, 0, 0, 4);
	put_mark(m, 0x10, 0xff);
	assert_int_equal(nla_put_u32(m, XFRMA_IF_ID, 42), 0);
	assert_int_equal(nla_put_u8(m, ATTR_SA_DIR, HA_SA_DIR_IN), 0);
	assert_int_equal(nla_put_u32(m, XFRMA_SA_EXTRA_FLAGS, XFRM_SA_XFLAG_DONT_ENCAP_DSCP), 0);
	assert_int_equal(nla_put_u32(m, XFRMA_TFCPAD, 16), 0);
	return m;
}

static int parse(struct nl_msg *m, struct xfrm_msg *out)
{
	int rc = xfrm_parse_msg(nlmsg_hdr(m), &filt, out);

	nlmsg_free(m);
	return rc;
}

/* ---------------------------------------------------------------- SAs */

static void test_newsa_aead(void **state)
{
	struct xfrm_msg out;
	struct ha_addr vip = ha4(VIP), remote = ha4(REMOTE);

	(void)state;
	assert_int_equal(parse(newsa_aead(XFRM_MSG_NEWSA, VIP, REMOTE, 0xa001), &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_SA);
	assert_true(out.ours);
	assert_int_equal(out.dir, XFRM_DIR_OUT);
	assert_int_equal(out.sa.id.spi, htonl(0xa001));
	assert_int_equal(out.sa.id.proto, IPPROTO_ESP);
	assert_true(ha_addr_equal(&out.sa.saddr, &vip));
	assert_true(ha_addr_equal(&out.sa.id.daddr, &remote));
	assert_int_equal(out.sa.family, AF_INET);
	assert_int_equal(out.sa.reqid, 101);
	assert_int_equal(out.sa.mode, XFRM_MODE_TUNNEL);
	assert_int_equal(out.sa.replay_window, 32);
	assert_string_equal(out.sa.aead.name, "rfc4106(gcm(aes))");
	assert_int_equal(out.sa.aead.key_len_bits, 160);
	assert_int_equal(out.sa.aead.icv_len_bits, 128);
	assert_memory_equal(out.sa.aead.key, key_aead, sizeof(key_aead));
	assert_int_equal(out.sa.crypt.name[0], 0);
	assert_false(out.sa.replay.is_esn);
	assert_int_equal(out.sa.replay.legacy.oseq, 7);
	assert_int_equal(out.sa.curlft.packets, 10);
	assert_int_equal(out.sa.curlft.bytes, 1000);
	assert_int_equal(out.sa.lft.hard_add_expires_seconds, 3600);
	assert_true(out.sa.lft.soft_byte_limit == XFRM_INF);
	/* Selector: prefixes, ports in host order. */
	assert_int_equal(out.sa.sel.family, AF_INET);
	assert_int_equal(out.sa.sel.prefixlen_s, 24);
	assert_int_equal(out.sa.sel.prefixlen_d, 24);
	assert_int_equal(out.sa.sel.dport, 500);
	assert_int_equal(out.sa.sel.dport_mask, 0xffff);
	assert_int_equal(out.sa.sel.proto, IPPROTO_UDP);
	assert_true(out.sa.sel.daddr.v4.s_addr == inet_addr("10.2.0.0"));
	xfrm_msg_wipe(&out);
	assert_int_equal(out.sa.aead.key[0], 0);
}

static void test_newsa_esn(void **state)
{
	struct xfrm_msg out;

	(void)state;
	assert_int_equal(parse(newsa_esn(), &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_SA);
	assert_true(out.ours);
	assert_int_equal(out.dir, XFRM_DIR_IN);
	assert_int_equal(out.sa.flags, XFRM_STATE_ESN);
	assert_string_equal(out.sa.crypt.name, "cbc(aes)");
	assert_int_equal(out.sa.crypt.key_len_bits, 128);
	assert_memory_equal(out.sa.crypt.key, key_enc, sizeof(key_enc));
	/* XFRMA_ALG_AUTH_TRUNC wins over XFRMA_ALG_AUTH, as in the kernel. */
	assert_string_equal(out.sa.auth.name, "hmac(sha256)");
	assert_int_equal(out.sa.auth.key_len_bits, 256);
	assert_int_equal(out.sa.auth.trunc_len_bits, 128);
	assert_memory_equal(out.sa.auth.key, key_auth, sizeof(key_auth));
	assert_true(out.sa.replay.is_esn);
	assert_int_equal(out.sa.replay.esn.bmp_len, 4);
	assert_int_equal(out.sa.replay.esn.replay_window, 128);
	assert_int_equal(out.sa.replay.esn.seq, 77);
	assert_int_equal(out.sa.replay.esn.seq_hi, 1);
	assert_int_equal(out.sa.replay.esn.bmp[3], 0x04040404);
	assert_int_equal(out.sa.mark.v, 0x10);
	assert_int_equal(out.sa.mark.m, 0xff);
	assert_int_equal(out.sa.if_id, 42);
	assert_int_equal(out.sa.sa_dir, HA_SA_DIR_IN);
	assert_int_equal(out.sa.extra_flags, XFRM_SA_XFLAG_DONT_ENCAP_DSCP);
	assert_int_equal(out.sa.tfcpad, 16);
	xfrm_msg_wipe(&out);
}

static void test_filter(void **state)
{
	struct xfrm_usersa_info p;
	struct xfrm_msg out;
	struct nl_msg *m;

	(void)state;
	/* Neither end is a VIP. */
	assert_int_equal(parse(newsa_aead(XFRM_MSG_NEWSA, OTHER, REMOTE, 0xc001), &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_SA);
	assert_false(out.ours);
	assert_int_equal(out.dir, XFRM_DIR_NONE);

	/* AH, not ESP. */
	m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);
	sa_info(&p, VIP, REMOTE, 0xc002, 1);
	p.id.proto = IPPROTO_AH;
	nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO);
	put_algo(m, XFRMA_ALG_AUTH, "hmac(sha256)", key_auth, sizeof(key_auth));
	assert_int_equal(parse(m, &out), 0);
	assert_false(out.ours);

	/* Larval: an SPI reserved, no algorithm yet. */
	m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);
	sa_info(&p, REMOTE, VIP, 0xc003, 1);
	nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO);
	assert_int_equal(parse(m, &out), 0);
	assert_false(out.ours);
	assert_int_equal(out.dir, XFRM_DIR_IN);

	/* UPDSA fills it: ours. */
	assert_int_equal(parse(newsa_aead(XFRM_MSG_UPDSA, REMOTE, VIP, 0xc003), &out), 0);
	assert_true(out.ours);
	xfrm_msg_wipe(&out);
}

static struct nl_msg *delsa(bool with_sa, bool with_mark)
{
	struct xfrm_usersa_info p;
	struct xfrm_usersa_id id;
	struct nl_msg *m = nlmsg_alloc_simple(XFRM_MSG_DELSA, 0);

	sa_info(&p, REMOTE, VIP, 0xa002, 101);
	memset(&id, 0, sizeof(id));
	id.daddr = p.id.daddr;
	id.spi = p.id.spi;
	id.family = AF_INET;
	id.proto = IPPROTO_ESP;
	assert_int_equal(nlmsg_append(m, &id, sizeof(id), NLMSG_ALIGNTO), 0);
	if (with_sa)
		assert_int_equal(nla_put(m, XFRMA_SA, sizeof(p), &p), 0);
	put_aead(m, key_aead, sizeof(key_aead), 160);
	put_replay(m, 0, 99, 0xffffffff);
	if (with_mark)
		put_mark(m, 7, 0xffffffff);
	return m;
}

static void test_delsa(void **state)
{
	struct xfrm_msg out;

	(void)state;
	/* libnl parses a DELSA's attributes at a NEWSA's offset: the mark and
	 * the replay state must come through all the same. */
	assert_int_equal(parse(delsa(true, true), &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_SA_DELETE);
	assert_true(out.ours);
	assert_int_equal(out.dir, XFRM_DIR_IN);
	assert_int_equal(out.sa.id.spi, htonl(0xa002));
	assert_int_equal(out.sa.mark.v, 7);
	assert_int_equal(out.sa.mark.m, 0xffffffff);
	assert_int_equal(out.sa.replay.legacy.seq, 99);
	assert_int_equal(out.sa.reqid, 101);
	xfrm_msg_wipe(&out);

	assert_int_equal(parse(delsa(false, true), &out), -EINVAL);
}

static void test_expire(void **state)
{
	struct xfrm_user_expire ue;
	struct xfrm_msg out;
	struct nl_msg *m;
	int hard;

	(void)state;
	for (hard = 0; hard <= 1; hard++) {
		memset(&ue, 0, sizeof(ue));
		sa_info(&ue.state, VIP, REMOTE, 0xe001, 105);
		ue.state.curlft.packets = 1234;
		ue.hard = hard;
		m = nlmsg_alloc_simple(XFRM_MSG_EXPIRE, 0);
		assert_int_equal(nlmsg_append(m, &ue, sizeof(ue), NLMSG_ALIGNTO), 0);
		put_mark(m, 3, 0xf);
		assert_int_equal(parse(m, &out), 0);
		assert_int_equal(out.kind, hard ? XFRM_MSG_KIND_SA_DELETE : XFRM_MSG_KIND_SA_SOFT_EXPIRE);
		assert_int_equal(out.sa.id.spi, htonl(0xe001));
		assert_int_equal(out.sa.mark.v, 3);
		assert_int_equal(out.sa.curlft.packets, 1234);
		assert_int_equal(out.dir, XFRM_DIR_OUT);
	}
}

static struct nl_msg *newae(const char *src, const char *dst, uint32_t spi, bool esn,
    uint32_t seq, uint32_t oseq, bool thresholds)
{
	struct xfrm_aevent_id id;
	struct xfrm_lifetime_cur cur = { .bytes = 5000, .packets = 50, .add_time = 1700000000 };
	struct nl_msg *m = nlmsg_alloc_simple(XFRM_MSG_NEWAE, 0);

	memset(&id, 0, sizeof(id));
	a4(&id.sa_id.daddr, dst);
	a4(&id.saddr, src);
	id.sa_id.spi = htonl(spi);
	id.sa_id.family = AF_INET;
	id.sa_id.proto = IPPROTO_ESP;
	id.reqid = 101;
	id.flags = XFRM_AE_CR | (thresholds ? XFRM_AE_RTHR | XFRM_AE_ETHR : 0);
	assert_int_equal(nlmsg_append(m, &id, sizeof(id), NLMSG_ALIGNTO), 0);
	if (esn)
		put_esn(m, 4, 128, 0, seq, 0, oseq, 4);
	else
		put_replay(m, oseq, seq, seq ? 1 : 0);
	assert_int_equal(nla_put(m, XFRMA_LTIME_VAL, sizeof(cur), &cur), 0);
	if (thresholds) {
		assert_int_equal(nla_put_u32(m, XFRMA_REPLAY_THRESH, 32), 0);
		assert_int_equal(nla_put_u32(m, XFRMA_ETIMER_THRESH, 10), 0);
	}
	return m;
}

static void test_newae(void **state)
{
	struct xfrm_msg out;

	(void)state;
	assert_int_equal(parse(newae(REMOTE, VIP, 0xa002, false, 40, 0, true), &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_AE);
	assert_true(out.ours);
	assert_int_equal(out.dir, XFRM_DIR_IN);
	assert_true(out.has_replay);
	assert_true(out.has_lifetime);
	assert_int_equal(out.sa.replay.legacy.seq, 40);
	assert_int_equal(out.sa.curlft.packets, 50);
	assert_true(out.has_replay_thresh);
	assert_true(out.has_etimer_thresh);
	assert_int_equal(out.sa.replay_thresh, 32);
	assert_int_equal(out.sa.etimer_thresh, 10);
	assert_int_equal(out.ae_flags & XFRM_AE_CR, XFRM_AE_CR);

	assert_int_equal(parse(newae(VIP, REMOTE, 0xb001, true, 0, 300, false), &out), 0);
	assert_int_equal(out.dir, XFRM_DIR_OUT);
	assert_true(out.sa.replay.is_esn);
	assert_int_equal(out.sa.replay.esn.oseq, 300);
	assert_int_equal(out.sa.replay.esn.bmp_len, 4);
	assert_false(out.has_replay_thresh);
}

/* ---------------------------------------------------------------- malformed */

static void test_malformed(void **state)
{
	struct xfrm_usersa_info p;
	struct xfrm_msg out;
	struct nl_msg *m;
	struct nlmsghdr *nlh;

	(void)state;
	/* Shorter than its fixed part. */
	m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);
	sa_info(&p, VIP, REMOTE, 1, 1);
	nlmsg_append(m, &p, 100, NLMSG_ALIGNTO);
	assert_int_equal(parse(m, &out), -EINVAL);

	/* A key longer than its attribute. */
	m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);
	sa_info(&p, VIP, REMOTE, 1, 1);
	nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO);
	put_aead(m, key_aead, sizeof(key_aead), 8 * 400);
	assert_int_equal(parse(m, &out), -EINVAL);

	/* A key longer than the model's 64 bytes, attribute long enough. */
	{
		uint8_t big[65] = { 0 };

		m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);
		nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO);
		put_algo(m, XFRMA_ALG_CRYPT, "cbc(aes)", big, sizeof(big));
		assert_int_equal(parse(m, &out), -EINVAL);
	}

	/* An algorithm name without its NUL. */
	{
		struct xfrm_algo_aead a;

		memset(&a, 'A', sizeof(a.alg_name));
		a.alg_key_len = 0;
		a.alg_icv_len = 128;
		m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);
		nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO);
		nla_put(m, XFRMA_ALG_AEAD, sizeof(a), &a);
		assert_int_equal(parse(m, &out), -EINVAL);
	}

	/* ESN: more bitmap than the model holds; bitmap cut short; window
	 * wider than the bitmap. */
	m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);
	nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO);
	put_esn(m, HA_ESN_BMP_MAX + 1, 128, 0, 0, 0, 0, HA_ESN_BMP_MAX + 1);
	assert_int_equal(parse(m, &out), -EINVAL);
	m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);
	nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO);
	put_esn(m, 4, 128, 0, 0, 0, 0, 2);
	assert_int_equal(parse(m, &out), -EINVAL);
	m = nlmsg_alloc_simple(XFRM_MSG_NEWSA, 0);
	nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO);
	put_esn(m, 1, 64, 0, 0, 0, 0, 1);
	assert_int_equal(parse(m, &out), -EINVAL);

	/* An attribute claiming more bytes than the message has. */
	m = newsa_aead(XFRM_MSG_NEWSA, VIP, REMOTE, 1);
	nlh = nlmsg_hdr(m);
	((struct nlattr *)((char *)nlh + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(p))))->nla_len = 4000;
	assert_int_equal(parse(m, &out), -EINVAL);

	/* An aevent with no replay state (libnl would dereference NULL). */
	{
		struct xfrm_aevent_id id;

		memset(&id, 0, sizeof(id));
		m = nlmsg_alloc_simple(XFRM_MSG_NEWAE, 0);
		nlmsg_append(m, &id, sizeof(id), NLMSG_ALIGNTO);
		assert_int_equal(parse(m, &out), -EINVAL);
	}

	/* A flush without its protocol byte; a header shorter than a header. */
	m = nlmsg_alloc_simple(XFRM_MSG_FLUSHSA, 0);
	assert_int_equal(parse(m, &out), -EINVAL);
	{
		struct nlmsghdr h = { .nlmsg_len = 8, .nlmsg_type = XFRM_MSG_NEWSA };

		assert_int_equal(xfrm_parse_msg(&h, &filt, &out), -EINVAL);
	}
}

static void test_other_types(void **state)
{
	struct xfrm_msg out;
	struct nl_msg *m;
	uint8_t proto = IPSEC_PROTO_ANY;

	(void)state;
	m = nlmsg_alloc_simple(XFRM_MSG_ACQUIRE, 0);
	assert_int_equal(parse(m, &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_NONE);

	m = nlmsg_alloc_simple(XFRM_MSG_FLUSHSA, 0);
	nlmsg_append(m, &proto, 1, NLMSG_ALIGNTO);
	assert_int_equal(parse(m, &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_SA_FLUSH);
	assert_int_equal(out.flush_proto, IPSEC_PROTO_ANY);

	m = nlmsg_alloc_simple(XFRM_MSG_FLUSHPOLICY, 0);
	assert_int_equal(parse(m, &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_POLICY_FLUSH);
}

/* ---------------------------------------------------------------- policies */

static void pol_info(struct xfrm_userpolicy_info *p, uint8_t dir, uint32_t index)
{
	memset(p, 0, sizeof(*p));
	p->sel.family = AF_INET;
	a4(&p->sel.saddr, "10.1.0.0");
	a4(&p->sel.daddr, "10.2.0.0");
	p->sel.prefixlen_s = 24;
	p->sel.prefixlen_d = 24;
	p->dir = dir;
	p->index = index;
	p->priority = 1000;
	p->action = XFRM_POLICY_ALLOW;
	p->lft.soft_byte_limit = XFRM_INF;
}

static void put_tmpls(struct nl_msg *m, int n, const char *src, const char *dst, uint8_t mode)
{
	struct xfrm_user_tmpl t[8];
	int i;

	memset(t, 0, sizeof(t));
	for (i = 0; i < n; i++) {
		if (src)
			a4(&t[i].saddr, src);
		if (dst)
			a4(&t[i].id.daddr, dst);
		t[i].id.proto = IPPROTO_ESP;
		t[i].family = AF_INET;
		t[i].reqid = 101 + i;
		t[i].mode = mode;
		t[i].aalgos = t[i].ealgos = t[i].calgos = ~0u;
	}
	assert_int_equal(nla_put(m, XFRMA_TMPL, (int)(n * sizeof(t[0])), t), 0);
}

static struct nl_msg *newpolicy(int ntmpl, const char *src, const char *dst)
{
	struct xfrm_userpolicy_info p;
	struct nl_msg *m = nlmsg_alloc_simple(XFRM_MSG_NEWPOLICY, 0);

	pol_info(&p, XFRM_POLICY_OUT, 1);
	assert_int_equal(nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO), 0);
	put_tmpls(m, ntmpl, src, dst, XFRM_MODE_TUNNEL);
	put_mark(m, 5, 0xff);
	assert_int_equal(nla_put_u32(m, XFRMA_IF_ID, 9), 0);
	return m;
}

static void test_policy(void **state)
{
	struct xfrm_userpolicy_info p;
	struct xfrm_userpolicy_id id;
	struct xfrm_msg out;
	struct nl_msg *m;
	struct ha_addr vip = ha4(VIP);

	(void)state;
	assert_int_equal(parse(newpolicy(1, VIP, REMOTE), &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_POLICY);
	assert_true(out.ours);
	assert_int_equal(out.policy.dir, XFRM_POLICY_OUT);
	assert_int_equal(out.policy.index, 1);
	assert_int_equal(out.policy.priority, 1000);
	assert_int_equal(out.policy.sel.prefixlen_d, 24);
	assert_int_equal(out.policy.ntmpl, 1);
	assert_int_equal(out.policy.tmpl[0].reqid, 101);
	assert_int_equal(out.policy.tmpl[0].mode, XFRM_MODE_TUNNEL);
	assert_true(ha_addr_equal(&out.policy.tmpl[0].saddr, &vip));
	assert_int_equal(out.policy.mark.v, 5);
	assert_int_equal(out.policy.if_id, 9);

	assert_int_equal(parse(newpolicy(1, OTHER, REMOTE), &out), 0);
	assert_false(out.ours);

	assert_int_equal(parse(newpolicy(HA_TMPL_MAX + 1, VIP, REMOTE), &out), -E2BIG);

	/* Transport mode: no template address, the selector's host is the VIP. */
	m = nlmsg_alloc_simple(XFRM_MSG_NEWPOLICY, 0);
	pol_info(&p, XFRM_POLICY_IN, 2);
	a4(&p.sel.daddr, VIP);
	p.sel.prefixlen_d = 32;
	nlmsg_append(m, &p, sizeof(p), NLMSG_ALIGNTO);
	put_tmpls(m, 1, NULL, NULL, XFRM_MODE_TRANSPORT);
	assert_int_equal(parse(m, &out), 0);
	assert_true(out.ours);

	/* DELPOLICY: the policy rides in XFRMA_POLICY after its id. */
	m = nlmsg_alloc_simple(XFRM_MSG_DELPOLICY, 0);
	pol_info(&p, XFRM_POLICY_FWD, 10);
	memset(&id, 0, sizeof(id));
	id.sel = p.sel;
	id.index = p.index;
	id.dir = p.dir;
	nlmsg_append(m, &id, sizeof(id), NLMSG_ALIGNTO);
	nla_put(m, XFRMA_POLICY, sizeof(p), &p);
	put_tmpls(m, 2, REMOTE, VIP, XFRM_MODE_TUNNEL);
	assert_int_equal(parse(m, &out), 0);
	assert_int_equal(out.kind, XFRM_MSG_KIND_POLICY_DELETE);
	assert_true(out.ours);
	assert_int_equal(out.policy.index, 10);
	assert_int_equal(out.policy.dir, XFRM_POLICY_FWD);
	assert_int_equal(out.policy.ntmpl, 2);
	assert_int_equal(out.policy.tmpl[1].reqid, 102);
}

/* ---------------------------------------------------------------- helpers */

static void test_replay_merge(void **state)
{
	struct ha_replay cur, in;

	(void)state;
	memset(&cur, 0, sizeof(cur));
	memset(&in, 0, sizeof(in));
	cur.legacy.seq = 10;
	cur.legacy.bitmap = 0x1;
	cur.legacy.oseq = 50;
	in.legacy.seq = 10;
	in.legacy.bitmap = 0x4;
	in.legacy.oseq = 40;		/* older */
	xfrm_replay_merge(&cur, &in);
	assert_int_equal(cur.legacy.seq, 10);
	assert_int_equal(cur.legacy.bitmap, 0x5);
	assert_int_equal(cur.legacy.oseq, 50);
	in.legacy.seq = 12;
	in.legacy.bitmap = 0x3;
	xfrm_replay_merge(&cur, &in);
	assert_int_equal(cur.legacy.seq, 12);
	assert_int_equal(cur.legacy.bitmap, 0x3);

	memset(&cur, 0, sizeof(cur));
	memset(&in, 0, sizeof(in));
	cur.is_esn = in.is_esn = true;
	cur.esn.bmp_len = in.esn.bmp_len = 4;
	cur.esn.replay_window = in.esn.replay_window = 128;
	cur.esn.seq_hi = 1;
	cur.esn.seq = 5;
	in.esn.seq_hi = 0;
	in.esn.seq = 0xfffffff0;	/* lower: 2^32 - 16 < 2^32 + 5 */
	in.esn.oseq_hi = 2;
	xfrm_replay_merge(&cur, &in);
	assert_int_equal(cur.esn.seq_hi, 1);
	assert_int_equal(cur.esn.seq, 5);
	assert_int_equal(cur.esn.oseq_hi, 2);
}

static void test_etimer(void **state)
{
	struct xfrm_thresholds t = { .etimer_ms = 1000 };

	(void)state;
	assert_int_equal(xfrm_etimer_value(&t), 10);	/* the documented 100 ms unit */
	t.kernel_hz = 100;
	assert_int_equal(xfrm_etimer_value(&t), 100);
	t.kernel_hz = 250;
	assert_int_equal(xfrm_etimer_value(&t), 250);
	t.kernel_hz = 1000;
	t.etimer_ms = 1;
	assert_int_equal(xfrm_etimer_value(&t), 1);
	t.kernel_hz = 100;
	assert_int_equal(xfrm_etimer_value(&t), 1);	/* never 0: 0 turns the timer off */
	t.etimer_ms = 0;
	assert_int_equal(xfrm_etimer_value(&t), 0);
}

/* ---------------------------------------------------------------- capture */

struct rec {
	int updates, counters, deletes, pol_updates, pol_deletes;
	struct ha_sa last;
	struct ha_sa_key last_key;
};

static void rec_sa(void *ctx, const struct ha_sa *sa, bool counters_only)
{
	struct rec *r = ctx;

	if (counters_only)
		r->counters++;
	else
		r->updates++;
	r->last = *sa;
}

static void rec_del(void *ctx, const struct ha_sa_key *k)
{
	struct rec *r = ctx;

	r->deletes++;
	r->last_key = *k;
}

static void rec_pol(void *ctx, const struct ha_policy *p)
{
	(void)p;
	((struct rec *)ctx)->pol_updates++;
}

static void rec_pol_del(void *ctx, const struct ha_policy *p)
{
	(void)p;
	((struct rec *)ctx)->pol_deletes++;
}

static int feed(struct xfrm_capture *cap, struct nl_msg *m, bool from_dump)
{
	int rc = xfrm_capture_feed(cap, nlmsg_hdr(m), from_dump);

	nlmsg_free(m);
	return rc;
}

static void test_capture(void **state)
{
	struct xfrm_thresholds thr = { .replay_in = 64, .replay_out = 5, .etimer_ms = 1000, .kernel_hz = 250 };
	struct xfrm_events ev = {
		.sa_update = rec_sa, .sa_delete = rec_del,
		.policy_update = rec_pol, .policy_delete = rec_pol_del,
	};
	struct xfrm_capture_stats st;
	struct xfrm_capture *cap;
	struct rec r;
	uint8_t proto = 0;

	(void)state;
	memset(&r, 0, sizeof(r));
	cap = xfrm_capture_new(NULL, &filt, &thr, &ev, &r);
	assert_non_null(cap);

	/* Dumped SAs: full updates, thresholds by direction. */
	assert_int_equal(feed(cap, newsa_aead(XFRM_MSG_NEWSA, VIP, REMOTE, 0xa001), true), 0);
	assert_int_equal(r.updates, 1);
	assert_int_equal(r.last.replay_thresh, 5);
	assert_int_equal(r.last.etimer_thresh, 250);
	assert_true(r.last.synced_at_ms > 1600000000000ULL);	/* ms since the epoch */
	assert_int_equal(feed(cap, newsa_aead(XFRM_MSG_NEWSA, REMOTE, VIP, 0xa002), true), 0);
	assert_int_equal(r.last.replay_thresh, 64);
	assert_int_equal(feed(cap, newsa_aead(XFRM_MSG_NEWSA, OTHER, REMOTE, 0xc001), true), 0);
	assert_int_equal(r.updates, 2);

	/* Counters: delivered when they move, never backwards. */
	assert_int_equal(feed(cap, newae(REMOTE, VIP, 0xa002, false, 40, 0, false), false), 0);
	assert_int_equal(r.counters, 1);
	assert_int_equal(r.last.replay.legacy.seq, 40);
	assert_int_equal(r.last.curlft.packets, 50);
	assert_string_equal(r.last.aead.name, "rfc4106(gcm(aes))");	/* the full SA */
	assert_int_equal(feed(cap, newae(REMOTE, VIP, 0xa002, false, 40, 0, false), false), 0);
	assert_int_equal(r.counters, 1);	/* nothing moved */
	assert_int_equal(feed(cap, newae(REMOTE, VIP, 0xa002, false, 30, 0, false), false), 0);
	assert_int_equal(r.counters, 1);	/* older */
	/* A dump racing with events does not move them back either. */
	assert_int_equal(feed(cap, newsa_aead(XFRM_MSG_NEWSA, REMOTE, VIP, 0xa002), true), 0);
	assert_int_equal(r.last.replay.legacy.seq, 40);
	assert_int_equal(r.last.replay_thresh, 64);
	/* Unknown SA: nothing. */
	assert_int_equal(feed(cap, newae(REMOTE, VIP, 0xdead, false, 1, 0, false), false), 0);
	assert_int_equal(r.counters, 1);

	/* Delete: the mark is part of the key. */
	assert_int_equal(feed(cap, delsa(true, true), false), 0);
	assert_int_equal(r.deletes, 0);		/* marked 7: not the SA we hold */
	assert_int_equal(feed(cap, delsa(true, false), false), 0);
	assert_int_equal(r.deletes, 1);
	assert_int_equal(r.last_key.spi, htonl(0xa002));
	xfrm_capture_get_stats(cap, &st);
	assert_int_equal(st.sas, 1);
	assert_int_equal(st.filtered_out, 1);
	assert_int_equal(st.events, 6);
	assert_int_equal(st.aevents, 4);

	/* Policies. */
	assert_int_equal(feed(cap, newpolicy(1, VIP, REMOTE), false), 0);
	assert_int_equal(feed(cap, newpolicy(1, OTHER, REMOTE), true), 0);
	assert_int_equal(r.pol_updates, 1);	/* same index: ours, then no longer */
	assert_int_equal(r.pol_deletes, 1);
	assert_int_equal(feed(cap, newpolicy(1, VIP, REMOTE), false), 0);
	assert_int_equal(feed(cap, nlmsg_alloc_simple(XFRM_MSG_FLUSHPOLICY, 0), false), 0);
	assert_int_equal(r.pol_deletes, 2);

	/* A malformed message is counted, not fatal. */
	{
		struct nl_msg *m = nlmsg_alloc_simple(XFRM_MSG_NEWAE, 0);

		assert_int_equal(feed(cap, m, false), -EINVAL);
	}

	/* Flush: every SA held is deleted. */
	{
		struct nl_msg *m = nlmsg_alloc_simple(XFRM_MSG_FLUSHSA, 0);

		nlmsg_append(m, &proto, 1, NLMSG_ALIGNTO);
		assert_int_equal(feed(cap, m, false), 0);
	}
	assert_int_equal(r.deletes, 2);
	xfrm_capture_get_stats(cap, &st);
	assert_int_equal(st.sas, 0);
	assert_int_equal(st.policies, 0);
	assert_int_equal(st.errors, 1);
	xfrm_capture_free(cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_newsa_aead, setup),
		cmocka_unit_test_setup(test_newsa_esn, setup),
		cmocka_unit_test_setup(test_filter, setup),
		cmocka_unit_test_setup(test_delsa, setup),
		cmocka_unit_test_setup(test_expire, setup),
		cmocka_unit_test_setup(test_newae, setup),
		cmocka_unit_test_setup(test_malformed, setup),
		cmocka_unit_test_setup(test_other_types, setup),
		cmocka_unit_test_setup(test_policy, setup),
		cmocka_unit_test_setup(test_replay_merge, setup),
		cmocka_unit_test_setup(test_etimer, setup),
		cmocka_unit_test_setup(test_capture, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
