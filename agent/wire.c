/* wire.c: encoder and decoder for the sync protocol's records, as docs/protocol.md specifies; pure code, no I/O. */
#include <string.h>

#include "wire.h"

/*
 * One set of checks (check_*) serves both directions: the encoder refuses
 * what the decoder would refuse, and the decoder runs the same checks on
 * what it parsed before handing anything out, so whatever decodes also
 * re-encodes. Both sides use the kernel's numbers without including
 * <linux/xfrm.h>, whose copy on a build host can be older than the kernel.
 */

#define XFRM_MODE_LAST		4	/* BEET */
#define XFRM_STATE_ESN_FLAG	128
#define XFRM_POLICY_DIR_LAST	2	/* FWD */
#define XFRM_POLICY_ACTION_LAST	1	/* BLOCK */
#define IPSEC_PROTO_ANY		255
#define KEY_BITS_MAX		(HA_KEY_MAX * 8)

/* Known TLV types are all below this; a bit per type fits a uint64_t. */
#define TLV_KNOWN_MAX		0x40

/* ------------------------------------------------------------------ */
/* Byte order */

static void be16_put(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void be64_put(uint8_t *p, uint64_t v)
{
	be32_put(p, v >> 32);
	be32_put(p + 4, (uint32_t)v);
}

static uint16_t be16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64_get(const uint8_t *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

/* ------------------------------------------------------------------ */
/* Checks shared by encoder and decoder */

static int family_alen(uint8_t family)
{
	switch (family) {
	case AF_UNSPEC:
		return 0;
	case AF_INET:
		return 4;
	case AF_INET6:
		return 16;
	default:
		return -1;
	}
}

/* A name of 1..63 bytes, NUL-terminated within the array. */
static int check_name(const char name[HA_ALG_NAME_MAX])
{
	size_t n = strnlen(name, HA_ALG_NAME_MAX);

	if (n == 0 || n >= HA_ALG_NAME_MAX)
		return WIRE_E_RANGE;
	return WIRE_OK;
}

static bool alg_present(const char *name)
{
	return name[0] != '\0';
}

static int check_sel(const struct ha_selector *sel)
{
	int alen = family_alen(sel->family);

	if (alen < 0)
		return WIRE_E_RANGE;
	if (sel->saddr.family != sel->family || sel->daddr.family != sel->family)
		return WIRE_E_INCONSISTENT;
	/* AF_UNSPEC selectors carry no address; the kernel does not check
	 * their prefix lengths either. */
	if (alen > 0 && (sel->prefixlen_s > alen * 8 || sel->prefixlen_d > alen * 8))
		return WIRE_E_RANGE;
	return WIRE_OK;
}

static int check_sa_key(const struct ha_sa_key *k)
{
	if (k->daddr.family != AF_INET && k->daddr.family != AF_INET6)
		return WIRE_E_RANGE;
	if (k->proto != IPPROTO_ESP && k->proto != IPPROTO_AH && k->proto != IPPROTO_COMP)
		return WIRE_E_RANGE;
	return WIRE_OK;
}

static int check_replay(const struct ha_replay *r)
{
	if (!r->is_esn)
		return WIRE_OK;
	if (r->esn.bmp_len > HA_ESN_BMP_MAX)
		return WIRE_E_RANGE;
	if (r->esn.replay_window > r->esn.bmp_len * 32)
		return WIRE_E_INCONSISTENT;
	return WIRE_OK;
}

/* The algorithm combinations the kernel accepts (xfrm_user.c, verify_newsa_info). */
static int check_algs(const struct ha_sa *sa)
{
	bool aead = alg_present(sa->aead.name), crypt = alg_present(sa->crypt.name);
	bool auth = alg_present(sa->auth.name), comp = alg_present(sa->comp.name);
	int rc = WIRE_OK;

	if ((aead && (rc = check_name(sa->aead.name)) != WIRE_OK) ||
	    (crypt && (rc = check_name(sa->crypt.name)) != WIRE_OK) ||
	    (auth && (rc = check_name(sa->auth.name)) != WIRE_OK) ||
	    (comp && (rc = check_name(sa->comp.name)) != WIRE_OK))
		return rc;
	if ((aead && sa->aead.key_len_bits > KEY_BITS_MAX) ||
	    (crypt && sa->crypt.key_len_bits > KEY_BITS_MAX) ||
	    (auth && sa->auth.key_len_bits > KEY_BITS_MAX))
		return WIRE_E_RANGE;

	switch (sa->id.proto) {
	case IPPROTO_ESP:
		if (comp || !(aead || crypt || auth) || (aead && (crypt || auth)))
			return WIRE_E_INCONSISTENT;
		break;
	case IPPROTO_AH:
		if (!auth || aead || crypt || comp)
			return WIRE_E_INCONSISTENT;
		break;
	case IPPROTO_COMP:
		if (!comp || aead || crypt || auth)
			return WIRE_E_INCONSISTENT;
		break;
	}
	return WIRE_OK;
}

static int check_sa(const struct ha_sa *sa)
{
	struct ha_sa_key k = ha_sa_key_of(sa);
	int rc;

	if ((rc = check_sa_key(&k)) != WIRE_OK)
		return rc;
	if (sa->family != sa->id.daddr.family || sa->saddr.family != sa->id.daddr.family)
		return WIRE_E_INCONSISTENT;
	if (sa->mode > XFRM_MODE_LAST || sa->sa_dir > HA_SA_DIR_OUT)
		return WIRE_E_RANGE;
	if ((rc = check_sel(&sa->sel)) != WIRE_OK)
		return rc;
	if (sa->encap.type != 0 && family_alen(sa->encap.oa.family) < 0)
		return WIRE_E_RANGE;
	if ((rc = check_algs(sa)) != WIRE_OK)
		return rc;
	if ((rc = check_replay(&sa->replay)) != WIRE_OK)
		return rc;
	if ((sa->flags & XFRM_STATE_ESN_FLAG) && !sa->replay.is_esn)
		return WIRE_E_INCONSISTENT;
	return WIRE_OK;
}

static int check_tmpl(const struct ha_tmpl *t)
{
	if (family_alen(t->family) < 0)
		return WIRE_E_RANGE;
	if (t->id.daddr.family != t->family || t->saddr.family != t->family)
		return WIRE_E_INCONSISTENT;
	if (t->id.proto != IPPROTO_ESP && t->id.proto != IPPROTO_AH &&
	    t->id.proto != IPPROTO_COMP && t->id.proto != IPSEC_PROTO_ANY)
		return WIRE_E_RANGE;
	if (t->mode > XFRM_MODE_LAST)
		return WIRE_E_RANGE;
	return WIRE_OK;
}

static int check_policy(const struct ha_policy *p)
{
	int rc;

	if ((rc = check_sel(&p->sel)) != WIRE_OK)
		return rc;
	if (p->dir > XFRM_POLICY_DIR_LAST || p->action > XFRM_POLICY_ACTION_LAST ||
	    p->ntmpl > HA_TMPL_MAX)
		return WIRE_E_RANGE;
	for (int i = 0; i < p->ntmpl; i++)
		if ((rc = check_tmpl(&p->tmpl[i])) != WIRE_OK)
			return rc;
	return WIRE_OK;
}

static int check_policy_key(const struct ha_policy_key *k)
{
	int rc;

	if ((rc = check_sel(&k->sel)) != WIRE_OK)
		return rc;
	if (k->dir > XFRM_POLICY_DIR_LAST)
		return WIRE_E_RANGE;
	return WIRE_OK;
}

static bool node_id_char_ok(uint8_t c)
{
	return c >= 0x21 && c <= 0x7e;
}

static int check_hello(const struct wire_hello *h)
{
	size_t n = strnlen(h->node_id, sizeof(h->node_id));

	if (h->proto_version == 0)
		return WIRE_E_RANGE;
	if (n == 0 || n > WIRE_NODE_ID_MAX)
		return WIRE_E_RANGE;
	for (size_t i = 0; i < n; i++)
		if (!node_id_char_ok((uint8_t)h->node_id[i]))
			return WIRE_E_RANGE;
	return WIRE_OK;
}

/*
 * The codec does not read the JSON (pluto.c does): it only bounds it and
 * keeps NUL out, so that a receiver may treat a copy as a C string.
 */
static int check_ike(uint8_t type, const struct wire_ike *ike, const char *json)
{
	if (type == WIRE_IKE_DELETE) {
		if (!ike->has_spis)
			return WIRE_E_MISSING;
		return ike->json_len == 0 ? WIRE_OK : WIRE_E_INCONSISTENT;
	}
	if (ike->json_len == 0 || ike->json_len > WIRE_IKE_JSON_MAX || json == NULL)
		return WIRE_E_RANGE;
	if (memchr(json, '\0', ike->json_len))
		return WIRE_E_RANGE;
	return WIRE_OK;
}

/* ------------------------------------------------------------------ */
/* Encoder */

struct wbuf {
	uint8_t *p;
	size_t cap;
	size_t len;
	bool full;
	uint8_t scratch[8];	/* where integers go once the buffer is full */
};

/* Reserve n bytes; on overflow remember it and hand out the scratch area
 * (w_bytes() writes nothing then) so callers need no check per field. */
static uint8_t *w_take(struct wbuf *w, size_t n)
{
	uint8_t *p;

	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return w->scratch;
	}
	p = w->p + w->len;
	w->len += n;
	return p;
}

static void w_u8(struct wbuf *w, uint8_t v)
{
	*w_take(w, 1) = v;
}

static void w_u16(struct wbuf *w, uint16_t v)
{
	be16_put(w_take(w, 2), v);
}

static void w_u32(struct wbuf *w, uint32_t v)
{
	be32_put(w_take(w, 4), v);
}

static void w_u64(struct wbuf *w, uint64_t v)
{
	be64_put(w_take(w, 8), v);
}

static void w_bytes(struct wbuf *w, const void *v, size_t n)
{
	uint8_t *p;

	if (n == 0)
		return;
	p = w_take(w, n);
	if (!w->full)
		memcpy(p, v, n);
}

/* Start a TLV; tlv_end() fills in its length once the value is written. */
static size_t tlv_begin(struct wbuf *w, uint16_t type)
{
	size_t at;

	w_u16(w, type);
	at = w->len;
	w_u16(w, 0);
	return at;
}

static void tlv_end(struct wbuf *w, size_t at)
{
	if (!w->full)
		be16_put(w->p + at, (uint16_t)(w->len - at - 2));
}

static void tlv_u8(struct wbuf *w, uint16_t type, uint8_t v)
{
	w_u16(w, type);
	w_u16(w, 1);
	w_u8(w, v);
}

static void tlv_u32(struct wbuf *w, uint16_t type, uint32_t v)
{
	w_u16(w, type);
	w_u16(w, 4);
	w_u32(w, v);
}

static void tlv_u64(struct wbuf *w, uint16_t type, uint64_t v)
{
	w_u16(w, type);
	w_u16(w, 8);
	w_u64(w, v);
}

static void tlv_bytes(struct wbuf *w, uint16_t type, const void *v, size_t n)
{
	w_u16(w, type);
	w_u16(w, (uint16_t)n);
	w_bytes(w, v, n);
}

/* The address bytes alone; the family is known from context. */
static void w_addr(struct wbuf *w, const struct ha_addr *a)
{
	if (a->family == AF_INET)
		w_bytes(w, &a->v4, 4);
	else if (a->family == AF_INET6)
		w_bytes(w, &a->v6, 16);
}

static void enc_sa_id(struct wbuf *w, const struct ha_addr *daddr, uint32_t spi, uint8_t proto)
{
	size_t at = tlv_begin(w, WIRE_T_SA_ID);

	w_bytes(w, &spi, 4);
	w_u8(w, proto);
	w_addr(w, daddr);
	tlv_end(w, at);
}

static void enc_mark(struct wbuf *w, const struct ha_mark *m)
{
	if (m->v == 0 && m->m == 0)
		return;
	w_u16(w, WIRE_T_MARK);
	w_u16(w, 8);
	w_u32(w, m->v);
	w_u32(w, m->m);
}

static void enc_sel(struct wbuf *w, const struct ha_selector *s)
{
	size_t at = tlv_begin(w, WIRE_T_SELECTOR);

	w_u8(w, s->family);
	w_u8(w, s->proto);
	w_u8(w, s->prefixlen_s);
	w_u8(w, s->prefixlen_d);
	w_u16(w, s->sport);
	w_u16(w, s->sport_mask);
	w_u16(w, s->dport);
	w_u16(w, s->dport_mask);
	w_u32(w, (uint32_t)s->ifindex);
	w_addr(w, &s->saddr);
	w_addr(w, &s->daddr);
	tlv_end(w, at);
}

static void w_name_key(struct wbuf *w, const char *name, const uint8_t *key, uint32_t bits)
{
	size_t n = strlen(name);

	w_u8(w, (uint8_t)n);
	w_bytes(w, name, n);
	w_bytes(w, key, (bits + 7) / 8);
}

static void enc_replay(struct wbuf *w, const struct ha_replay *r)
{
	size_t at;

	if (!r->is_esn) {
		w_u16(w, WIRE_T_REPLAY_LEGACY);
		w_u16(w, 12);
		w_u32(w, r->legacy.oseq);
		w_u32(w, r->legacy.seq);
		w_u32(w, r->legacy.bitmap);
		return;
	}
	at = tlv_begin(w, WIRE_T_REPLAY_ESN);
	w_u32(w, r->esn.bmp_len);
	w_u32(w, r->esn.oseq);
	w_u32(w, r->esn.seq);
	w_u32(w, r->esn.oseq_hi);
	w_u32(w, r->esn.seq_hi);
	w_u32(w, r->esn.replay_window);
	for (uint32_t i = 0; i < r->esn.bmp_len; i++)
		w_u32(w, r->esn.bmp[i]);
	tlv_end(w, at);
}

static void enc_curlft(struct wbuf *w, const struct ha_lifetime_cur *c)
{
	w_u16(w, WIRE_T_LIFETIME_CUR);
	w_u16(w, 32);
	w_u64(w, c->bytes);
	w_u64(w, c->packets);
	w_u64(w, c->add_time);
	w_u64(w, c->use_time);
}

static void enc_sa_add(struct wbuf *w, const struct ha_sa *sa)
{
	size_t at;

	enc_sa_id(w, &sa->id.daddr, sa->id.spi, sa->id.proto);
	at = tlv_begin(w, WIRE_T_SA_SADDR);
	w_addr(w, &sa->saddr);
	tlv_end(w, at);

	w_u16(w, WIRE_T_SA_PARAMS);
	w_u16(w, 11);
	w_u8(w, sa->mode);
	w_u8(w, sa->flags);
	w_u8(w, sa->replay_window);
	w_u32(w, sa->reqid);
	w_u32(w, sa->extra_flags);

	enc_sel(w, &sa->sel);
	enc_mark(w, &sa->mark);
	if (sa->if_id)
		tlv_u32(w, WIRE_T_IF_ID, sa->if_id);
	if (sa->sa_dir)
		tlv_u8(w, WIRE_T_SA_DIR, sa->sa_dir);
	if (sa->tfcpad)
		tlv_u32(w, WIRE_T_TFCPAD, sa->tfcpad);
	if (sa->encap.type) {
		at = tlv_begin(w, WIRE_T_ENCAP);
		w_u16(w, sa->encap.type);
		w_u16(w, sa->encap.sport);
		w_u16(w, sa->encap.dport);
		w_addr(w, &sa->encap.oa);
		tlv_end(w, at);
	}
	if (sa->replay_thresh || sa->etimer_thresh) {
		w_u16(w, WIRE_T_REPLAY_THRESH);
		w_u16(w, 8);
		w_u32(w, sa->replay_thresh);
		w_u32(w, sa->etimer_thresh);
	}
	if (alg_present(sa->aead.name)) {
		at = tlv_begin(w, WIRE_T_ALG_AEAD);
		w_u32(w, sa->aead.key_len_bits);
		w_u32(w, sa->aead.icv_len_bits);
		w_name_key(w, sa->aead.name, sa->aead.key, sa->aead.key_len_bits);
		tlv_end(w, at);
	}
	if (alg_present(sa->crypt.name)) {
		at = tlv_begin(w, WIRE_T_ALG_CRYPT);
		w_u32(w, sa->crypt.key_len_bits);
		w_name_key(w, sa->crypt.name, sa->crypt.key, sa->crypt.key_len_bits);
		tlv_end(w, at);
	}
	if (alg_present(sa->auth.name)) {
		at = tlv_begin(w, WIRE_T_ALG_AUTH);
		w_u32(w, sa->auth.key_len_bits);
		w_u32(w, sa->auth.trunc_len_bits);
		w_name_key(w, sa->auth.name, sa->auth.key, sa->auth.key_len_bits);
		tlv_end(w, at);
	}
	if (alg_present(sa->comp.name))
		tlv_bytes(w, WIRE_T_ALG_COMP, sa->comp.name, strlen(sa->comp.name));

	enc_replay(w, &sa->replay);

	w_u16(w, WIRE_T_LIFETIME_CFG);
	w_u16(w, 64);
	w_u64(w, sa->lft.soft_byte_limit);
	w_u64(w, sa->lft.hard_byte_limit);
	w_u64(w, sa->lft.soft_packet_limit);
	w_u64(w, sa->lft.hard_packet_limit);
	w_u64(w, sa->lft.soft_add_expires_seconds);
	w_u64(w, sa->lft.hard_add_expires_seconds);
	w_u64(w, sa->lft.soft_use_expires_seconds);
	w_u64(w, sa->lft.hard_use_expires_seconds);
	enc_curlft(w, &sa->curlft);
	tlv_u64(w, WIRE_T_SYNCED_AT, sa->synced_at_ms);
}

static void enc_sa_update(struct wbuf *w, const struct wire_sa_update *u)
{
	enc_sa_id(w, &u->key.daddr, u->key.spi, u->key.proto);
	enc_mark(w, &u->key.mark);
	enc_replay(w, &u->replay);
	enc_curlft(w, &u->curlft);
	tlv_u64(w, WIRE_T_SYNCED_AT, u->synced_at_ms);
}

static void enc_sa_delete(struct wbuf *w, const struct ha_sa_key *k)
{
	enc_sa_id(w, &k->daddr, k->spi, k->proto);
	enc_mark(w, &k->mark);
}

static void enc_tmpl(struct wbuf *w, const struct ha_tmpl *t)
{
	size_t at = tlv_begin(w, WIRE_T_TMPL);

	w_u8(w, t->family);
	w_u8(w, t->id.proto);
	w_u8(w, t->mode);
	w_u8(w, t->share);
	w_u8(w, t->optional);
	w_bytes(w, &t->id.spi, 4);
	w_u32(w, t->reqid);
	w_u32(w, t->aalgos);
	w_u32(w, t->ealgos);
	w_u32(w, t->calgos);
	w_addr(w, &t->id.daddr);
	w_addr(w, &t->saddr);
	tlv_end(w, at);
}

static void enc_policy_add(struct wbuf *w, const struct ha_policy *p)
{
	enc_sel(w, &p->sel);
	w_u16(w, WIRE_T_POLICY_PARAMS);
	w_u16(w, 12);
	w_u8(w, p->dir);
	w_u8(w, p->action);
	w_u8(w, p->flags);
	w_u8(w, p->share);
	w_u32(w, p->priority);
	w_u32(w, p->index);
	enc_mark(w, &p->mark);
	if (p->if_id)
		tlv_u32(w, WIRE_T_IF_ID, p->if_id);
	for (int i = 0; i < p->ntmpl; i++)
		enc_tmpl(w, &p->tmpl[i]);
}

static void enc_policy_delete(struct wbuf *w, const struct ha_policy_key *k)
{
	enc_sel(w, &k->sel);
	w_u16(w, WIRE_T_POLICY_KEY);
	w_u16(w, 5);
	w_u8(w, k->dir);
	w_u32(w, k->index);
	enc_mark(w, &k->mark);
	if (k->if_id)
		tlv_u32(w, WIRE_T_IF_ID, k->if_id);
}

static void enc_hello(struct wbuf *w, const struct wire_hello *h)
{
	tlv_u8(w, WIRE_T_PROTO_VERSION, h->proto_version);
	tlv_bytes(w, WIRE_T_NODE_ID, h->node_id, strlen(h->node_id));
	tlv_bytes(w, WIRE_T_NONCE, h->nonce, WIRE_NONCE_LEN);
	tlv_u32(w, WIRE_T_CAPS, h->caps);
	if (h->has_peer_nonce)
		tlv_bytes(w, WIRE_T_PEER_NONCE, h->peer_nonce, WIRE_NONCE_LEN);
	/* Last, so that the MAC covers every byte before it (seal_hello_sign). */
	tlv_bytes(w, WIRE_T_HELLO_MAC, h->mac, WIRE_MAC_LEN);
}

static void enc_ike(struct wbuf *w, const struct wire_ike *ike, const char *json)
{
	if (ike->has_spis) {
		w_u16(w, WIRE_T_IKE_SPIS);
		w_u16(w, 16);
		w_u64(w, ike->spi_i);
		w_u64(w, ike->spi_r);
	}
	if (ike->json_len)
		tlv_bytes(w, WIRE_T_IKE_JSON, json, ike->json_len);
}

static int check_record(const struct wire_record *rec)
{
	switch (rec->type) {
	case WIRE_IKE_RECORD:
	case WIRE_IKE_DELETE:
		return check_ike(rec->type, &rec->u.ike, rec->ike_json);
	case WIRE_HELLO:
		return check_hello(&rec->u.hello);
	case WIRE_BULK_BEGIN:
	case WIRE_BULK_END:
	case WIRE_ACK:
	case WIRE_HEARTBEAT:
		return WIRE_OK;
	case WIRE_SA_ADD:
		return check_sa(&rec->u.sa);
	case WIRE_SA_UPDATE: {
		int rc = check_sa_key(&rec->u.update.key);

		return rc != WIRE_OK ? rc : check_replay(&rec->u.update.replay);
	}
	case WIRE_SA_DELETE:
		return check_sa_key(&rec->u.sa_key);
	case WIRE_POLICY_ADD:
		return check_policy(&rec->u.policy);
	case WIRE_POLICY_DELETE:
		return check_policy_key(&rec->u.policy_key);
	default:
		return WIRE_E_TYPE;
	}
}

int wire_encode(uint8_t *buf, size_t cap, const struct wire_record *rec)
{
	struct wbuf w = { .p = buf, .cap = cap };
	int rc;

	if ((rc = check_record(rec)) != WIRE_OK)
		return rc;

	w_u8(&w, WIRE_VERSION);
	w_u8(&w, rec->type);
	w_u16(&w, rec->flags);
	w_u32(&w, 0);		/* length, filled in below */
	w_u64(&w, rec->seq);

	switch (rec->type) {
	case WIRE_HELLO:
		enc_hello(&w, &rec->u.hello);
		break;
	case WIRE_BULK_BEGIN:
		tlv_u64(&w, WIRE_T_GENERATION, rec->u.bulk.generation);
		break;
	case WIRE_BULK_END:
		tlv_u64(&w, WIRE_T_GENERATION, rec->u.bulk.generation);
		tlv_u64(&w, WIRE_T_RECORD_COUNT, rec->u.bulk.count);
		break;
	case WIRE_SA_ADD:
		enc_sa_add(&w, &rec->u.sa);
		break;
	case WIRE_SA_UPDATE:
		enc_sa_update(&w, &rec->u.update);
		break;
	case WIRE_SA_DELETE:
		enc_sa_delete(&w, &rec->u.sa_key);
		break;
	case WIRE_POLICY_ADD:
		enc_policy_add(&w, &rec->u.policy);
		break;
	case WIRE_POLICY_DELETE:
		enc_policy_delete(&w, &rec->u.policy_key);
		break;
	case WIRE_ACK:
		tlv_u64(&w, WIRE_T_ACK_SEQ, rec->u.ack_seq);
		break;
	case WIRE_HEARTBEAT:
		tlv_u64(&w, WIRE_T_TIMESTAMP, rec->u.timestamp_ms);
		break;
	case WIRE_IKE_RECORD:
	case WIRE_IKE_DELETE:
		enc_ike(&w, &rec->u.ike, rec->ike_json);
		break;
	}
	if (w.full)
		return WIRE_E_NOSPACE;
	if (w.len > WIRE_RECORD_MAX)
		return WIRE_E_TOO_BIG;
	be32_put(buf + 4, (uint32_t)w.len);
	return (int)w.len;
}

/* The wrappers build a struct wire_record on the stack (about 1.5 KiB). */
static int encode_with(uint8_t *buf, size_t cap, struct wire_record *rec, uint8_t type,
    uint64_t seq, uint16_t flags)
{
	rec->type = type;
	rec->seq = seq;
	rec->flags = flags;
	return wire_encode(buf, cap, rec);
}

int wire_encode_hello(uint8_t *buf, size_t cap, uint64_t seq, const struct wire_hello *h)
{
	struct wire_record rec = { .u.hello = *h };

	return encode_with(buf, cap, &rec, WIRE_HELLO, seq, 0);
}

int wire_encode_bulk_begin(uint8_t *buf, size_t cap, uint64_t seq, uint64_t generation)
{
	struct wire_record rec = { .u.bulk.generation = generation };

	return encode_with(buf, cap, &rec, WIRE_BULK_BEGIN, seq, 0);
}

int wire_encode_bulk_end(uint8_t *buf, size_t cap, uint64_t seq, uint64_t generation,
    uint64_t count)
{
	struct wire_record rec = { .u.bulk = { generation, count } };

	return encode_with(buf, cap, &rec, WIRE_BULK_END, seq, 0);
}

int wire_encode_sa_add(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_sa *sa)
{
	struct wbuf w = { .p = buf, .cap = cap };
	int rc;

	/* Not through struct wire_record: that would copy the keys once more. */
	if ((rc = check_sa(sa)) != WIRE_OK)
		return rc;
	w_u8(&w, WIRE_VERSION);
	w_u8(&w, WIRE_SA_ADD);
	w_u16(&w, flags);
	w_u32(&w, 0);
	w_u64(&w, seq);
	enc_sa_add(&w, sa);
	if (w.full)
		return WIRE_E_NOSPACE;
	if (w.len > WIRE_RECORD_MAX)
		return WIRE_E_TOO_BIG;
	be32_put(buf + 4, (uint32_t)w.len);
	return (int)w.len;
}

void wire_sa_update_of(const struct ha_sa *sa, struct wire_sa_update *u)
{
	memset(u, 0, sizeof(*u));
	u->key = ha_sa_key_of(sa);
	u->replay = sa->replay;
	u->curlft = sa->curlft;
	u->synced_at_ms = sa->synced_at_ms;
}

int wire_encode_sa_update(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_sa *sa)
{
	struct wire_record rec;

	memset(&rec, 0, sizeof(rec));
	wire_sa_update_of(sa, &rec.u.update);
	return encode_with(buf, cap, &rec, WIRE_SA_UPDATE, seq, flags);
}

int wire_encode_sa_delete(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_sa_key *key)
{
	struct wire_record rec = { .u.sa_key = *key };

	return encode_with(buf, cap, &rec, WIRE_SA_DELETE, seq, flags);
}

int wire_encode_policy_add(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_policy *p)
{
	struct wire_record rec = { .u.policy = *p };

	return encode_with(buf, cap, &rec, WIRE_POLICY_ADD, seq, flags);
}

int wire_encode_policy_delete(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_policy_key *key)
{
	struct wire_record rec = { .u.policy_key = *key };

	return encode_with(buf, cap, &rec, WIRE_POLICY_DELETE, seq, flags);
}

int wire_encode_ack(uint8_t *buf, size_t cap, uint64_t seq, uint64_t ack_seq)
{
	struct wire_record rec = { .u.ack_seq = ack_seq };

	return encode_with(buf, cap, &rec, WIRE_ACK, seq, 0);
}

int wire_encode_heartbeat(uint8_t *buf, size_t cap, uint64_t seq, uint64_t timestamp_ms)
{
	struct wire_record rec = { .u.timestamp_ms = timestamp_ms };

	return encode_with(buf, cap, &rec, WIRE_HEARTBEAT, seq, 0);
}

int wire_encode_ike_record(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct wire_ike *ike, const char *json)
{
	struct wire_record rec = { .u.ike = *ike, .ike_json = json };

	return encode_with(buf, cap, &rec, WIRE_IKE_RECORD, seq, flags);
}

int wire_encode_ike_delete(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    uint64_t spi_i, uint64_t spi_r)
{
	struct wire_record rec = { .u.ike = { .spi_i = spi_i, .spi_r = spi_r, .has_spis = true } };

	return encode_with(buf, cap, &rec, WIRE_IKE_DELETE, seq, flags);
}

/* ------------------------------------------------------------------ */
/* Decoder */

struct tlv_ref {
	const uint8_t *v;
	uint16_t len;
};

struct tlvs {
	uint64_t seen;			/* bit per known TLV type */
	struct tlv_ref t[TLV_KNOWN_MAX];
	struct tlv_ref tmpl[HA_TMPL_MAX];
	int ntmpl;
};

#define BIT(t)	((uint64_t)1 << (t))

/* Which TLVs each record type reads; the others are skipped like unknown ones. */
static const struct {
	uint64_t allowed;
	uint64_t mandatory;
} rec_tlvs[] = {
	[WIRE_HELLO] = {
		BIT(WIRE_T_PROTO_VERSION) | BIT(WIRE_T_NODE_ID) | BIT(WIRE_T_NONCE) |
		    BIT(WIRE_T_CAPS) | BIT(WIRE_T_PEER_NONCE) | BIT(WIRE_T_HELLO_MAC),
		BIT(WIRE_T_PROTO_VERSION) | BIT(WIRE_T_NODE_ID) | BIT(WIRE_T_NONCE) |
		    BIT(WIRE_T_CAPS) | BIT(WIRE_T_HELLO_MAC),
	},
	[WIRE_BULK_BEGIN] = {
		BIT(WIRE_T_GENERATION),
		BIT(WIRE_T_GENERATION),
	},
	[WIRE_BULK_END] = {
		BIT(WIRE_T_GENERATION) | BIT(WIRE_T_RECORD_COUNT),
		BIT(WIRE_T_GENERATION) | BIT(WIRE_T_RECORD_COUNT),
	},
	[WIRE_SA_ADD] = {
		BIT(WIRE_T_SA_ID) | BIT(WIRE_T_SA_SADDR) | BIT(WIRE_T_SA_PARAMS) |
		    BIT(WIRE_T_SELECTOR) | BIT(WIRE_T_MARK) | BIT(WIRE_T_IF_ID) |
		    BIT(WIRE_T_SA_DIR) | BIT(WIRE_T_TFCPAD) | BIT(WIRE_T_ENCAP) |
		    BIT(WIRE_T_REPLAY_THRESH) | BIT(WIRE_T_ALG_AEAD) | BIT(WIRE_T_ALG_CRYPT) |
		    BIT(WIRE_T_ALG_AUTH) | BIT(WIRE_T_ALG_COMP) | BIT(WIRE_T_REPLAY_LEGACY) |
		    BIT(WIRE_T_REPLAY_ESN) | BIT(WIRE_T_LIFETIME_CFG) |
		    BIT(WIRE_T_LIFETIME_CUR) | BIT(WIRE_T_SYNCED_AT),
		BIT(WIRE_T_SA_ID) | BIT(WIRE_T_SA_SADDR) | BIT(WIRE_T_SA_PARAMS) |
		    BIT(WIRE_T_SELECTOR) | BIT(WIRE_T_LIFETIME_CFG) |
		    BIT(WIRE_T_LIFETIME_CUR) | BIT(WIRE_T_SYNCED_AT),
	},
	[WIRE_SA_UPDATE] = {
		BIT(WIRE_T_SA_ID) | BIT(WIRE_T_MARK) | BIT(WIRE_T_REPLAY_LEGACY) |
		    BIT(WIRE_T_REPLAY_ESN) | BIT(WIRE_T_LIFETIME_CUR) | BIT(WIRE_T_SYNCED_AT),
		BIT(WIRE_T_SA_ID) | BIT(WIRE_T_LIFETIME_CUR) | BIT(WIRE_T_SYNCED_AT),
	},
	[WIRE_SA_DELETE] = {
		BIT(WIRE_T_SA_ID) | BIT(WIRE_T_MARK),
		BIT(WIRE_T_SA_ID),
	},
	[WIRE_POLICY_ADD] = {
		BIT(WIRE_T_SELECTOR) | BIT(WIRE_T_POLICY_PARAMS) | BIT(WIRE_T_MARK) |
		    BIT(WIRE_T_IF_ID) | BIT(WIRE_T_TMPL),
		BIT(WIRE_T_SELECTOR) | BIT(WIRE_T_POLICY_PARAMS),
	},
	[WIRE_POLICY_DELETE] = {
		BIT(WIRE_T_SELECTOR) | BIT(WIRE_T_POLICY_KEY) | BIT(WIRE_T_MARK) |
		    BIT(WIRE_T_IF_ID),
		BIT(WIRE_T_SELECTOR) | BIT(WIRE_T_POLICY_KEY),
	},
	[WIRE_ACK] = {
		BIT(WIRE_T_ACK_SEQ),
		BIT(WIRE_T_ACK_SEQ),
	},
	[WIRE_HEARTBEAT] = {
		BIT(WIRE_T_TIMESTAMP),
		BIT(WIRE_T_TIMESTAMP),
	},
	[WIRE_IKE_RECORD] = {
		BIT(WIRE_T_IKE_SPIS) | BIT(WIRE_T_IKE_JSON),
		BIT(WIRE_T_IKE_JSON),
	},
	[WIRE_IKE_DELETE] = {
		BIT(WIRE_T_IKE_SPIS),
		BIT(WIRE_T_IKE_SPIS),
	},
};

static bool type_known(uint8_t type)
{
	return type < sizeof(rec_tlvs) / sizeof(rec_tlvs[0]) && rec_tlvs[type].allowed != 0;
}

/* Walk the TLV area and index the TLVs this record type reads. */
static int tlvs_collect(const uint8_t *p, size_t len, uint8_t type, struct tlvs *ts)
{
	uint64_t allowed = rec_tlvs[type].allowed;
	size_t off = 0;

	while (off < len) {
		uint16_t t, l;

		if (len - off < WIRE_TLV_HDR_LEN)
			return WIRE_E_TLV_TRUNCATED;
		t = be16_get(p + off);
		l = be16_get(p + off + 2);
		if (len - off - WIRE_TLV_HDR_LEN < l)
			return WIRE_E_TLV_TRUNCATED;
		/* Nothing may follow the HELLO MAC: it covers all before it. */
		if (ts->seen & BIT(WIRE_T_HELLO_MAC))
			return WIRE_E_INCONSISTENT;
		if (t < TLV_KNOWN_MAX && (allowed & BIT(t))) {
			struct tlv_ref ref = { p + off + WIRE_TLV_HDR_LEN, l };

			if (t == WIRE_T_TMPL) {
				if (ts->ntmpl == HA_TMPL_MAX)
					return WIRE_E_DUPLICATE;
				ts->tmpl[ts->ntmpl++] = ref;
			} else if (ts->seen & BIT(t)) {
				return WIRE_E_DUPLICATE;
			}
			ts->seen |= BIT(t);
			ts->t[t] = ref;
		}
		off += WIRE_TLV_HDR_LEN + l;
	}
	if ((ts->seen & rec_tlvs[type].mandatory) != rec_tlvs[type].mandatory)
		return WIRE_E_MISSING;
	return WIRE_OK;
}

static bool has(const struct tlvs *ts, uint16_t t)
{
	return (ts->seen & BIT(t)) != 0;
}

/* Address of alen bytes (0, 4, 16) into a, with the given family. */
static void dec_addr(const uint8_t *v, uint8_t family, struct ha_addr *a)
{
	a->family = family;
	if (family == AF_INET)
		memcpy(&a->v4, v, 4);
	else if (family == AF_INET6)
		memcpy(&a->v6, v, 16);
}

/* The family an address TLV's length implies; AF_UNSPEC if none. */
static uint8_t alen_family(size_t alen)
{
	return alen == 4 ? AF_INET : alen == 16 ? AF_INET6 : AF_UNSPEC;
}

static int dec_u64(const struct tlvs *ts, uint16_t t, uint64_t *out)
{
	if (ts->t[t].len != 8)
		return WIRE_E_TLV_LENGTH;
	*out = be64_get(ts->t[t].v);
	return WIRE_OK;
}

static int dec_u32(const struct tlvs *ts, uint16_t t, uint32_t *out)
{
	if (ts->t[t].len != 4)
		return WIRE_E_TLV_LENGTH;
	*out = be32_get(ts->t[t].v);
	return WIRE_OK;
}

static int dec_sa_id(const struct tlv_ref *r, struct ha_sa_id *id)
{
	uint8_t fam;

	if (r->len != 9 && r->len != 21)
		return WIRE_E_TLV_LENGTH;
	memcpy(&id->spi, r->v, 4);
	id->proto = r->v[4];
	fam = alen_family(r->len - 5);
	dec_addr(r->v + 5, fam, &id->daddr);
	return WIRE_OK;
}

static int dec_mark(const struct tlvs *ts, struct ha_mark *m)
{
	if (!has(ts, WIRE_T_MARK))
		return WIRE_OK;
	if (ts->t[WIRE_T_MARK].len != 8)
		return WIRE_E_TLV_LENGTH;
	m->v = be32_get(ts->t[WIRE_T_MARK].v);
	m->m = be32_get(ts->t[WIRE_T_MARK].v + 4);
	return WIRE_OK;
}

static int dec_sel(const struct tlv_ref *r, struct ha_selector *s)
{
	const uint8_t *v = r->v;
	int alen;

	if (r->len < 16)
		return WIRE_E_TLV_LENGTH;
	alen = family_alen(v[0]);
	if (alen < 0)
		return WIRE_E_RANGE;
	if (r->len != 16 + 2 * alen)
		return WIRE_E_TLV_LENGTH;
	s->family = v[0];
	s->proto = v[1];
	s->prefixlen_s = v[2];
	s->prefixlen_d = v[3];
	s->sport = be16_get(v + 4);
	s->sport_mask = be16_get(v + 6);
	s->dport = be16_get(v + 8);
	s->dport_mask = be16_get(v + 10);
	s->ifindex = (int32_t)be32_get(v + 12);
	dec_addr(v + 16, s->family, &s->saddr);
	dec_addr(v + 16 + alen, s->family, &s->daddr);
	return check_sel(s);
}

/* name_len u8, name, key: after `fixed` bytes of fixed fields. */
static int dec_name_key(const struct tlv_ref *r, size_t fixed, uint32_t bits,
    char name[HA_ALG_NAME_MAX], uint8_t *key)
{
	size_t n, k;

	if (r->len < fixed + 1)
		return WIRE_E_TLV_LENGTH;
	n = r->v[fixed];
	if (n == 0 || n >= HA_ALG_NAME_MAX || bits > KEY_BITS_MAX)
		return WIRE_E_RANGE;
	k = (bits + 7) / 8;
	if (r->len != fixed + 1 + n + k)
		return WIRE_E_TLV_LENGTH;
	if (memchr(r->v + fixed + 1, '\0', n))
		return WIRE_E_RANGE;
	memcpy(name, r->v + fixed + 1, n);
	if (k)
		memcpy(key, r->v + fixed + 1 + n, k);
	return WIRE_OK;
}

static int dec_replay(const struct tlvs *ts, struct ha_replay *rp)
{
	bool legacy = has(ts, WIRE_T_REPLAY_LEGACY), esn = has(ts, WIRE_T_REPLAY_ESN);
	const struct tlv_ref *r;

	if (legacy && esn)
		return WIRE_E_INCONSISTENT;
	if (!legacy && !esn)
		return WIRE_E_MISSING;
	if (legacy) {
		r = &ts->t[WIRE_T_REPLAY_LEGACY];
		if (r->len != 12)
			return WIRE_E_TLV_LENGTH;
		rp->legacy.oseq = be32_get(r->v);
		rp->legacy.seq = be32_get(r->v + 4);
		rp->legacy.bitmap = be32_get(r->v + 8);
		return WIRE_OK;
	}
	r = &ts->t[WIRE_T_REPLAY_ESN];
	if (r->len < 24)
		return WIRE_E_TLV_LENGTH;
	rp->is_esn = true;
	rp->esn.bmp_len = be32_get(r->v);
	if (rp->esn.bmp_len > HA_ESN_BMP_MAX)
		return WIRE_E_RANGE;
	if (r->len != 24 + 4 * rp->esn.bmp_len)
		return WIRE_E_TLV_LENGTH;
	rp->esn.oseq = be32_get(r->v + 4);
	rp->esn.seq = be32_get(r->v + 8);
	rp->esn.oseq_hi = be32_get(r->v + 12);
	rp->esn.seq_hi = be32_get(r->v + 16);
	rp->esn.replay_window = be32_get(r->v + 20);
	for (uint32_t i = 0; i < rp->esn.bmp_len; i++)
		rp->esn.bmp[i] = be32_get(r->v + 24 + 4 * i);
	return check_replay(rp);
}

static int dec_curlft(const struct tlvs *ts, struct ha_lifetime_cur *c)
{
	const struct tlv_ref *r = &ts->t[WIRE_T_LIFETIME_CUR];

	if (r->len != 32)
		return WIRE_E_TLV_LENGTH;
	c->bytes = be64_get(r->v);
	c->packets = be64_get(r->v + 8);
	c->add_time = be64_get(r->v + 16);
	c->use_time = be64_get(r->v + 24);
	return WIRE_OK;
}

static int dec_sa_algs(const struct tlvs *ts, struct ha_sa *sa)
{
	const struct tlv_ref *r;
	int rc;

	if (has(ts, WIRE_T_ALG_AEAD)) {
		r = &ts->t[WIRE_T_ALG_AEAD];
		if (r->len < 8)
			return WIRE_E_TLV_LENGTH;
		sa->aead.key_len_bits = be32_get(r->v);
		sa->aead.icv_len_bits = be32_get(r->v + 4);
		if ((rc = dec_name_key(r, 8, sa->aead.key_len_bits, sa->aead.name,
		    sa->aead.key)) != WIRE_OK)
			return rc;
	}
	if (has(ts, WIRE_T_ALG_CRYPT)) {
		r = &ts->t[WIRE_T_ALG_CRYPT];
		if (r->len < 4)
			return WIRE_E_TLV_LENGTH;
		sa->crypt.key_len_bits = be32_get(r->v);
		if ((rc = dec_name_key(r, 4, sa->crypt.key_len_bits, sa->crypt.name,
		    sa->crypt.key)) != WIRE_OK)
			return rc;
	}
	if (has(ts, WIRE_T_ALG_AUTH)) {
		r = &ts->t[WIRE_T_ALG_AUTH];
		if (r->len < 8)
			return WIRE_E_TLV_LENGTH;
		sa->auth.key_len_bits = be32_get(r->v);
		sa->auth.trunc_len_bits = be32_get(r->v + 4);
		if ((rc = dec_name_key(r, 8, sa->auth.key_len_bits, sa->auth.name,
		    sa->auth.key)) != WIRE_OK)
			return rc;
	}
	if (has(ts, WIRE_T_ALG_COMP)) {
		r = &ts->t[WIRE_T_ALG_COMP];
		if (r->len == 0 || r->len >= HA_ALG_NAME_MAX)
			return WIRE_E_TLV_LENGTH;
		if (memchr(r->v, '\0', r->len))
			return WIRE_E_RANGE;
		memcpy(sa->comp.name, r->v, r->len);
	}
	return WIRE_OK;
}

static int dec_sa_add(const struct tlvs *ts, struct ha_sa *sa)
{
	const struct tlv_ref *r;
	int rc;

	if ((rc = dec_sa_id(&ts->t[WIRE_T_SA_ID], &sa->id)) != WIRE_OK)
		return rc;
	sa->family = sa->id.daddr.family;

	r = &ts->t[WIRE_T_SA_SADDR];
	if (r->len != 4 && r->len != 16)
		return WIRE_E_TLV_LENGTH;
	dec_addr(r->v, alen_family(r->len), &sa->saddr);

	r = &ts->t[WIRE_T_SA_PARAMS];
	if (r->len != 11)
		return WIRE_E_TLV_LENGTH;
	sa->mode = r->v[0];
	sa->flags = r->v[1];
	sa->replay_window = r->v[2];
	sa->reqid = be32_get(r->v + 3);
	sa->extra_flags = be32_get(r->v + 7);

	if ((rc = dec_sel(&ts->t[WIRE_T_SELECTOR], &sa->sel)) != WIRE_OK)
		return rc;
	if ((rc = dec_mark(ts, &sa->mark)) != WIRE_OK)
		return rc;
	if (has(ts, WIRE_T_IF_ID) && (rc = dec_u32(ts, WIRE_T_IF_ID, &sa->if_id)) != WIRE_OK)
		return rc;
	if (has(ts, WIRE_T_SA_DIR)) {
		r = &ts->t[WIRE_T_SA_DIR];
		if (r->len != 1)
			return WIRE_E_TLV_LENGTH;
		sa->sa_dir = r->v[0];
		if (sa->sa_dir != HA_SA_DIR_IN && sa->sa_dir != HA_SA_DIR_OUT)
			return WIRE_E_RANGE;
	}
	if (has(ts, WIRE_T_TFCPAD) && (rc = dec_u32(ts, WIRE_T_TFCPAD, &sa->tfcpad)) != WIRE_OK)
		return rc;
	if (has(ts, WIRE_T_ENCAP)) {
		r = &ts->t[WIRE_T_ENCAP];
		if (r->len != 6 && r->len != 10 && r->len != 22)
			return WIRE_E_TLV_LENGTH;
		sa->encap.type = be16_get(r->v);
		sa->encap.sport = be16_get(r->v + 2);
		sa->encap.dport = be16_get(r->v + 4);
		dec_addr(r->v + 6, alen_family(r->len - 6), &sa->encap.oa);
		if (sa->encap.type == 0)
			return WIRE_E_RANGE;
	}
	if (has(ts, WIRE_T_REPLAY_THRESH)) {
		r = &ts->t[WIRE_T_REPLAY_THRESH];
		if (r->len != 8)
			return WIRE_E_TLV_LENGTH;
		sa->replay_thresh = be32_get(r->v);
		sa->etimer_thresh = be32_get(r->v + 4);
	}
	if ((rc = dec_sa_algs(ts, sa)) != WIRE_OK)
		return rc;
	if ((rc = dec_replay(ts, &sa->replay)) != WIRE_OK)
		return rc;

	r = &ts->t[WIRE_T_LIFETIME_CFG];
	if (r->len != 64)
		return WIRE_E_TLV_LENGTH;
	sa->lft.soft_byte_limit = be64_get(r->v);
	sa->lft.hard_byte_limit = be64_get(r->v + 8);
	sa->lft.soft_packet_limit = be64_get(r->v + 16);
	sa->lft.hard_packet_limit = be64_get(r->v + 24);
	sa->lft.soft_add_expires_seconds = be64_get(r->v + 32);
	sa->lft.hard_add_expires_seconds = be64_get(r->v + 40);
	sa->lft.soft_use_expires_seconds = be64_get(r->v + 48);
	sa->lft.hard_use_expires_seconds = be64_get(r->v + 56);
	if ((rc = dec_curlft(ts, &sa->curlft)) != WIRE_OK)
		return rc;
	if ((rc = dec_u64(ts, WIRE_T_SYNCED_AT, &sa->synced_at_ms)) != WIRE_OK)
		return rc;
	return check_sa(sa);
}

static int dec_sa_key(const struct tlvs *ts, struct ha_sa_key *k)
{
	struct ha_sa_id id;
	int rc;

	memset(&id, 0, sizeof(id));
	if ((rc = dec_sa_id(&ts->t[WIRE_T_SA_ID], &id)) != WIRE_OK)
		return rc;
	k->daddr = id.daddr;
	k->spi = id.spi;
	k->proto = id.proto;
	if ((rc = dec_mark(ts, &k->mark)) != WIRE_OK)
		return rc;
	return check_sa_key(k);
}

static int dec_sa_update(const struct tlvs *ts, struct wire_sa_update *u)
{
	int rc;

	if ((rc = dec_sa_key(ts, &u->key)) != WIRE_OK)
		return rc;
	if ((rc = dec_replay(ts, &u->replay)) != WIRE_OK)
		return rc;
	if ((rc = dec_curlft(ts, &u->curlft)) != WIRE_OK)
		return rc;
	return dec_u64(ts, WIRE_T_SYNCED_AT, &u->synced_at_ms);
}

static int dec_tmpl(const struct tlv_ref *r, struct ha_tmpl *t)
{
	const uint8_t *v = r->v;
	int alen;

	if (r->len < 25)
		return WIRE_E_TLV_LENGTH;
	alen = family_alen(v[0]);
	if (alen < 0)
		return WIRE_E_RANGE;
	if (r->len != 25 + 2 * alen)
		return WIRE_E_TLV_LENGTH;
	t->family = v[0];
	t->id.proto = v[1];
	t->mode = v[2];
	t->share = v[3];
	t->optional = v[4];
	memcpy(&t->id.spi, v + 5, 4);
	t->reqid = be32_get(v + 9);
	t->aalgos = be32_get(v + 13);
	t->ealgos = be32_get(v + 17);
	t->calgos = be32_get(v + 21);
	dec_addr(v + 25, t->family, &t->id.daddr);
	dec_addr(v + 25 + alen, t->family, &t->saddr);
	return check_tmpl(t);
}

static int dec_policy_add(const struct tlvs *ts, struct ha_policy *p)
{
	const struct tlv_ref *r;
	int rc;

	if ((rc = dec_sel(&ts->t[WIRE_T_SELECTOR], &p->sel)) != WIRE_OK)
		return rc;
	r = &ts->t[WIRE_T_POLICY_PARAMS];
	if (r->len != 12)
		return WIRE_E_TLV_LENGTH;
	p->dir = r->v[0];
	p->action = r->v[1];
	p->flags = r->v[2];
	p->share = r->v[3];
	p->priority = be32_get(r->v + 4);
	p->index = be32_get(r->v + 8);
	if ((rc = dec_mark(ts, &p->mark)) != WIRE_OK)
		return rc;
	if (has(ts, WIRE_T_IF_ID) && (rc = dec_u32(ts, WIRE_T_IF_ID, &p->if_id)) != WIRE_OK)
		return rc;
	p->ntmpl = (uint8_t)ts->ntmpl;
	for (int i = 0; i < ts->ntmpl; i++)
		if ((rc = dec_tmpl(&ts->tmpl[i], &p->tmpl[i])) != WIRE_OK)
			return rc;
	return check_policy(p);
}

static int dec_policy_delete(const struct tlvs *ts, struct ha_policy_key *k)
{
	const struct tlv_ref *r;
	int rc;

	if ((rc = dec_sel(&ts->t[WIRE_T_SELECTOR], &k->sel)) != WIRE_OK)
		return rc;
	r = &ts->t[WIRE_T_POLICY_KEY];
	if (r->len != 5)
		return WIRE_E_TLV_LENGTH;
	k->dir = r->v[0];
	k->index = be32_get(r->v + 1);
	if ((rc = dec_mark(ts, &k->mark)) != WIRE_OK)
		return rc;
	if (has(ts, WIRE_T_IF_ID) && (rc = dec_u32(ts, WIRE_T_IF_ID, &k->if_id)) != WIRE_OK)
		return rc;
	return check_policy_key(k);
}

static int dec_hello(const struct tlvs *ts, struct wire_hello *h)
{
	const struct tlv_ref *r;
	int rc;

	r = &ts->t[WIRE_T_PROTO_VERSION];
	if (r->len != 1)
		return WIRE_E_TLV_LENGTH;
	h->proto_version = r->v[0];
	r = &ts->t[WIRE_T_NODE_ID];
	if (r->len == 0 || r->len > WIRE_NODE_ID_MAX)
		return WIRE_E_TLV_LENGTH;
	for (size_t i = 0; i < r->len; i++)
		if (!node_id_char_ok(r->v[i]))
			return WIRE_E_RANGE;
	memcpy(h->node_id, r->v, r->len);
	r = &ts->t[WIRE_T_NONCE];
	if (r->len != WIRE_NONCE_LEN)
		return WIRE_E_TLV_LENGTH;
	memcpy(h->nonce, r->v, WIRE_NONCE_LEN);
	if ((rc = dec_u32(ts, WIRE_T_CAPS, &h->caps)) != WIRE_OK)
		return rc;
	if (has(ts, WIRE_T_PEER_NONCE)) {
		r = &ts->t[WIRE_T_PEER_NONCE];
		if (r->len != WIRE_NONCE_LEN)
			return WIRE_E_TLV_LENGTH;
		h->has_peer_nonce = true;
		memcpy(h->peer_nonce, r->v, WIRE_NONCE_LEN);
	}
	r = &ts->t[WIRE_T_HELLO_MAC];
	if (r->len != WIRE_MAC_LEN)
		return WIRE_E_TLV_LENGTH;
	memcpy(h->mac, r->v, WIRE_MAC_LEN);
	return check_hello(h);
}

static int dec_ike(const struct tlvs *ts, struct wire_record *rec)
{
	struct wire_ike *ike = &rec->u.ike;
	const struct tlv_ref *r;

	if (has(ts, WIRE_T_IKE_SPIS)) {
		r = &ts->t[WIRE_T_IKE_SPIS];
		if (r->len != 16)
			return WIRE_E_TLV_LENGTH;
		ike->has_spis = true;
		ike->spi_i = be64_get(r->v);
		ike->spi_r = be64_get(r->v + 8);
	}
	if (has(ts, WIRE_T_IKE_JSON)) {
		r = &ts->t[WIRE_T_IKE_JSON];
		if (r->len == 0 || r->len > WIRE_IKE_JSON_MAX)
			return WIRE_E_TLV_LENGTH;
		ike->json_len = r->len;
		rec->ike_json = (const char *)r->v;
	}
	return check_ike(rec->type, ike, rec->ike_json);
}

static int dec_body(const struct tlvs *ts, struct wire_record *rec)
{
	switch (rec->type) {
	case WIRE_HELLO:
		return dec_hello(ts, &rec->u.hello);
	case WIRE_BULK_BEGIN:
		return dec_u64(ts, WIRE_T_GENERATION, &rec->u.bulk.generation);
	case WIRE_BULK_END: {
		int rc = dec_u64(ts, WIRE_T_GENERATION, &rec->u.bulk.generation);

		return rc != WIRE_OK ? rc : dec_u64(ts, WIRE_T_RECORD_COUNT, &rec->u.bulk.count);
	}
	case WIRE_SA_ADD:
		return dec_sa_add(ts, &rec->u.sa);
	case WIRE_SA_UPDATE:
		return dec_sa_update(ts, &rec->u.update);
	case WIRE_SA_DELETE:
		return dec_sa_key(ts, &rec->u.sa_key);
	case WIRE_POLICY_ADD:
		return dec_policy_add(ts, &rec->u.policy);
	case WIRE_POLICY_DELETE:
		return dec_policy_delete(ts, &rec->u.policy_key);
	case WIRE_ACK:
		return dec_u64(ts, WIRE_T_ACK_SEQ, &rec->u.ack_seq);
	case WIRE_HEARTBEAT:
		return dec_u64(ts, WIRE_T_TIMESTAMP, &rec->u.timestamp_ms);
	case WIRE_IKE_RECORD:
	case WIRE_IKE_DELETE:
		return dec_ike(ts, rec);
	default:
		return WIRE_E_TYPE;	/* not reached: type_known() was checked */
	}
}

int wire_decode(const uint8_t *buf, size_t len, struct wire_record *rec, size_t *used)
{
	struct tlvs ts;
	uint32_t rlen;
	int rc;

	memset(rec, 0, sizeof(*rec));
	if (used)
		*used = 0;
	if (len < WIRE_HDR_LEN)
		return WIRE_E_TRUNCATED;
	/* Another version may lay out even the length differently. */
	if (buf[0] != WIRE_VERSION)
		return WIRE_E_VERSION;
	rlen = be32_get(buf + 4);
	if (rlen < WIRE_HDR_LEN)
		return WIRE_E_LENGTH;
	if (rlen > WIRE_RECORD_MAX)
		return WIRE_E_TOO_BIG;
	if (len < rlen)
		return WIRE_E_TRUNCATED;
	if (used)
		*used = rlen;

	rec->version = buf[0];
	rec->type = buf[1];
	rec->flags = be16_get(buf + 2);
	rec->length = rlen;
	rec->seq = be64_get(buf + 8);
	if (!type_known(rec->type))
		return WIRE_SKIPPED;

	memset(&ts, 0, sizeof(ts));
	rc = tlvs_collect(buf + WIRE_HDR_LEN, rlen - WIRE_HDR_LEN, rec->type, &ts);
	if (rc == WIRE_OK)
		rc = dec_body(&ts, rec);
	if (rc != WIRE_OK) {
		/* Never a half-filled record, and no key bytes left behind. */
		explicit_bzero(rec, sizeof(*rec));
		return rc;
	}
	return WIRE_OK;
}

/* ------------------------------------------------------------------ */
/* Names */

const char *wire_strerror(int status)
{
	switch (status) {
	case WIRE_OK:			return "ok";
	case WIRE_SKIPPED:		return "unknown record type, skipped";
	case WIRE_E_TRUNCATED:		return "truncated record";
	case WIRE_E_VERSION:		return "unsupported record version";
	case WIRE_E_LENGTH:		return "record length below header size";
	case WIRE_E_TOO_BIG:		return "record longer than 64 KiB";
	case WIRE_E_TLV_TRUNCATED:	return "TLV runs past the record";
	case WIRE_E_TLV_LENGTH:		return "TLV length does not match its content";
	case WIRE_E_DUPLICATE:		return "TLV repeated";
	case WIRE_E_MISSING:		return "mandatory TLV missing";
	case WIRE_E_RANGE:		return "value out of range";
	case WIRE_E_INCONSISTENT:	return "inconsistent values";
	case WIRE_E_NOSPACE:		return "buffer too small";
	case WIRE_E_TYPE:		return "no such record type";
	default:			return "unknown wire status";
	}
}

const char *wire_type_name(uint8_t type)
{
	switch (type) {
	case WIRE_HELLO:		return "HELLO";
	case WIRE_BULK_BEGIN:		return "BULK_BEGIN";
	case WIRE_BULK_END:		return "BULK_END";
	case WIRE_SA_ADD:		return "SA_ADD";
	case WIRE_SA_UPDATE:		return "SA_UPDATE";
	case WIRE_SA_DELETE:		return "SA_DELETE";
	case WIRE_POLICY_ADD:		return "POLICY_ADD";
	case WIRE_POLICY_DELETE:	return "POLICY_DELETE";
	case WIRE_ACK:			return "ACK";
	case WIRE_HEARTBEAT:		return "HEARTBEAT";
	case WIRE_IKE_RECORD:		return "IKE_RECORD";
	case WIRE_IKE_DELETE:		return "IKE_DELETE";
	default:
		if (type >= WIRE_IKE_FIRST && type <= WIRE_IKE_LAST)
			return "IKE (reserved)";
		return "unknown";
	}
}
