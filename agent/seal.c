/* seal.c: the sync channel's crypto with NSS (docs/protocol.md sections 6-7): HKDF-SHA256 keys, AES-256-GCM frames, HELLO HMAC. */
#include <stdlib.h>
#include <string.h>

#include <nss.h>
#include <pk11pub.h>
#include <secport.h>

#include "seal.h"
#include "wire.h"

/*
 * No crypto is written here, only NSS calls: HKDF is CKM_HKDF_DERIVE, the
 * frames are CKM_AES_GCM, the HELLO MAC is CKM_SHA256_HMAC. Every key is a
 * PK11SymKey made inside NSS's internal slot; no key byte is copied into
 * our memory outside the seal_test_* functions.
 */

#define HKDF_LABEL	"hasync v1 "
#define HELLO_INFO	"hasync v1 hello"
#define INFO_MAX	(sizeof(HKDF_LABEL) - 1 + 3 + 2 * (1 + WIRE_NODE_ID_MAX))

struct seal_psk {
	PK11SymKey *ikm;	/* the PSK, HKDF input only */
	PK11SymKey *hello;	/* HMAC-SHA256 key for HELLO */
};

struct seal_session {
	PK11SymKey *send_key;
	PK11SymKey *recv_key;
	unsigned nstreams;
	uint64_t *send_ctr;	/* last counter used, per stream */
	uint64_t *recv_ctr;	/* last counter accepted, per stream */
};

int seal_global_init(void)
{
	if (NSS_IsInitialized())
		return SEAL_OK;
	return NSS_NoDB_Init(NULL) == SECSuccess ? SEAL_OK : SEAL_E_NSS;
}

int seal_global_shutdown(void)
{
	if (!NSS_IsInitialized())
		return SEAL_OK;
	return NSS_Shutdown() == SECSuccess ? SEAL_OK : SEAL_E_NSS;
}

int seal_random(uint8_t *buf, size_t len)
{
	if (len > INT32_MAX)
		return SEAL_E_ARG;
	return PK11_GenerateRandom(buf, (int)len) == SECSuccess ? SEAL_OK : SEAL_E_NSS;
}

/*
 * HKDF-SHA256 (extract then expand) of base into a new key of 32 bytes for
 * `target`/`op`. salt NULL means no salt (RFC 5869: HashLen zero bytes).
 */
static PK11SymKey *hkdf(PK11SymKey *base, const uint8_t *salt, size_t salt_len,
    const uint8_t *info, size_t info_len, CK_MECHANISM_TYPE target, CK_ATTRIBUTE_TYPE op)
{
	CK_HKDF_PARAMS p = {
		.bExtract = CK_TRUE,
		.bExpand = CK_TRUE,
		.prfHashMechanism = CKM_SHA256,
		.ulSaltType = salt ? CKF_HKDF_SALT_DATA : CKF_HKDF_SALT_NULL,
		.pSalt = (CK_BYTE_PTR)salt,
		.ulSaltLen = salt ? salt_len : 0,
		.hSaltKey = CK_INVALID_HANDLE,
		.pInfo = (CK_BYTE_PTR)info,
		.ulInfoLen = info_len,
	};
	SECItem param = { siBuffer, (unsigned char *)&p, sizeof(p) };

	return PK11_Derive(base, CKM_HKDF_DERIVE, &param, target, op, SEAL_KEY_LEN);
}

int seal_psk_new(const uint8_t *psk, size_t len, struct seal_psk **out)
{
	SECItem item = { siBuffer, (unsigned char *)psk, (unsigned int)len };
	struct seal_psk *k;
	PK11SlotInfo *slot;

	*out = NULL;
	if (len < SEAL_PSK_MIN)
		return SEAL_E_PSK;
	if (len > 4096)
		return SEAL_E_ARG;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return SEAL_E_NSS;
	if ((slot = PK11_GetInternalSlot()) == NULL) {
		free(k);
		return SEAL_E_NSS;
	}
	k->ikm = PK11_ImportSymKey(slot, CKM_HKDF_DERIVE, PK11_OriginUnwrap, CKA_DERIVE,
	    &item, NULL);
	PK11_FreeSlot(slot);
	if (k->ikm)
		k->hello = hkdf(k->ikm, NULL, 0, (const uint8_t *)HELLO_INFO,
		    sizeof(HELLO_INFO) - 1, CKM_SHA256_HMAC, CKA_SIGN);
	if (!k->hello) {
		seal_psk_free(k);
		return SEAL_E_NSS;
	}
	*out = k;
	return SEAL_OK;
}

void seal_psk_free(struct seal_psk *k)
{
	if (!k)
		return;
	if (k->hello)
		PK11_FreeSymKey(k->hello);
	if (k->ikm)
		PK11_FreeSymKey(k->ikm);
	free(k);
}

/* ------------------------------------------------------------------ */
/* HELLO MAC */

static int hello_mac(const struct seal_psk *psk, const uint8_t *data, size_t len,
    uint8_t mac[WIRE_MAC_LEN])
{
	SECItem noparam = { siBuffer, NULL, 0 };
	PK11Context *ctx;
	unsigned int out = 0;
	SECStatus rv;

	ctx = PK11_CreateContextBySymKey(CKM_SHA256_HMAC, CKA_SIGN, psk->hello, &noparam);
	if (!ctx)
		return SEAL_E_NSS;
	rv = PK11_DigestBegin(ctx);
	if (rv == SECSuccess)
		rv = PK11_DigestOp(ctx, data, (unsigned int)len);
	if (rv == SECSuccess)
		rv = PK11_DigestFinal(ctx, mac, &out, WIRE_MAC_LEN);
	PK11_DestroyContext(ctx, PR_TRUE);
	return rv == SECSuccess && out == WIRE_MAC_LEN ? SEAL_OK : SEAL_E_NSS;
}

/* A HELLO whose header length is len and whose last TLV is HELLO_MAC/32. */
static bool hello_shape_ok(const uint8_t *rec, size_t len)
{
	const uint8_t *t;

	if (len < WIRE_HDR_LEN + WIRE_TLV_HDR_LEN + WIRE_MAC_LEN || len > WIRE_RECORD_MAX)
		return false;
	if (rec[0] != WIRE_VERSION || rec[1] != WIRE_HELLO)
		return false;
	if (((uint32_t)rec[4] << 24 | (uint32_t)rec[5] << 16 | (uint32_t)rec[6] << 8 | rec[7]) != len)
		return false;
	t = rec + len - WIRE_MAC_LEN - WIRE_TLV_HDR_LEN;
	return t[0] == (WIRE_T_HELLO_MAC >> 8) && t[1] == (WIRE_T_HELLO_MAC & 0xff) &&
	    t[2] == 0 && t[3] == WIRE_MAC_LEN;
}

int seal_hello_sign(const struct seal_psk *psk, uint8_t *rec, size_t len)
{
	if (!hello_shape_ok(rec, len))
		return SEAL_E_HELLO_FORMAT;
	return hello_mac(psk, rec, len - WIRE_MAC_LEN, rec + len - WIRE_MAC_LEN);
}

int seal_hello_verify(const struct seal_psk *psk, const uint8_t *rec, size_t len)
{
	uint8_t mac[WIRE_MAC_LEN];
	int rc, diff;

	if (!hello_shape_ok(rec, len))
		return SEAL_E_HELLO_FORMAT;
	if ((rc = hello_mac(psk, rec, len - WIRE_MAC_LEN, mac)) != SEAL_OK)
		return rc;
	diff = NSS_SecureMemcmp(mac, rec + len - WIRE_MAC_LEN, WIRE_MAC_LEN);
	explicit_bzero(mac, sizeof(mac));
	return diff == 0 ? SEAL_OK : SEAL_E_HELLO_MAC;
}

/* ------------------------------------------------------------------ */
/* Session keys */

/* "hasync v1 " || dir || len(id_i) || id_i || len(id_r) || id_r */
static size_t session_info(uint8_t *info, const char *dir, const char *id_i, size_t li,
    const char *id_r, size_t lr)
{
	size_t n = 0;

	memcpy(info + n, HKDF_LABEL, sizeof(HKDF_LABEL) - 1);
	n += sizeof(HKDF_LABEL) - 1;
	memcpy(info + n, dir, 3);
	n += 3;
	info[n++] = (uint8_t)li;
	memcpy(info + n, id_i, li);
	n += li;
	info[n++] = (uint8_t)lr;
	memcpy(info + n, id_r, lr);
	n += lr;
	return n;
}

int seal_session_new(const struct seal_psk *psk, bool initiator,
    const uint8_t nonce_i[SEAL_NONCE_LEN], const uint8_t nonce_r[SEAL_NONCE_LEN],
    const char *id_i, const char *id_r, unsigned nstreams, struct seal_session **out)
{
	uint8_t salt[2 * SEAL_NONCE_LEN], info[INFO_MAX];
	size_t li = strnlen(id_i, WIRE_NODE_ID_MAX + 1), lr = strnlen(id_r, WIRE_NODE_ID_MAX + 1);
	PK11SymKey *i2r = NULL, *r2i = NULL;
	struct seal_session *s;
	size_t n;

	*out = NULL;
	if (li == 0 || li > WIRE_NODE_ID_MAX || lr == 0 || lr > WIRE_NODE_ID_MAX)
		return SEAL_E_ARG;
	if (nstreams == 0 || nstreams > SEAL_STREAMS_MAX)
		return SEAL_E_ARG;

	memcpy(salt, nonce_i, SEAL_NONCE_LEN);
	memcpy(salt + SEAL_NONCE_LEN, nonce_r, SEAL_NONCE_LEN);
	/* Each side asks only for the use it makes of each key. */
	n = session_info(info, "i2r", id_i, li, id_r, lr);
	i2r = hkdf(psk->ikm, salt, sizeof(salt), info, n, CKM_AES_GCM,
	    initiator ? CKA_ENCRYPT : CKA_DECRYPT);
	n = session_info(info, "r2i", id_i, li, id_r, lr);
	r2i = hkdf(psk->ikm, salt, sizeof(salt), info, n, CKM_AES_GCM,
	    initiator ? CKA_DECRYPT : CKA_ENCRYPT);

	s = calloc(1, sizeof(*s));
	if (s) {
		s->send_ctr = calloc(nstreams, sizeof(uint64_t));
		s->recv_ctr = calloc(nstreams, sizeof(uint64_t));
	}
	if (!i2r || !r2i || !s || !s->send_ctr || !s->recv_ctr) {
		if (i2r)
			PK11_FreeSymKey(i2r);
		if (r2i)
			PK11_FreeSymKey(r2i);
		if (s) {
			free(s->send_ctr);
			free(s->recv_ctr);
			free(s);
		}
		return SEAL_E_NSS;
	}
	s->nstreams = nstreams;
	s->send_key = initiator ? i2r : r2i;
	s->recv_key = initiator ? r2i : i2r;
	*out = s;
	return SEAL_OK;
}

void seal_session_free(struct seal_session *s)
{
	if (!s)
		return;
	PK11_FreeSymKey(s->send_key);
	PK11_FreeSymKey(s->recv_key);
	explicit_bzero(s->send_ctr, s->nstreams * sizeof(uint64_t));
	explicit_bzero(s->recv_ctr, s->nstreams * sizeof(uint64_t));
	free(s->send_ctr);
	free(s->recv_ctr);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

/* ------------------------------------------------------------------ */
/* Frames */

static void frame_hdr_put(uint8_t *p, uint16_t stream, uint64_t ctr)
{
	p[0] = stream >> 8;
	p[1] = stream;
	for (int i = 0; i < 8; i++)
		p[2 + i] = ctr >> (56 - 8 * i);
}

/* GCM parameters: nonce = 0x0000 || frame header, AAD = frame header. */
static void gcm_params(CK_GCM_PARAMS_V3 *g, uint8_t iv[12], const uint8_t *hdr)
{
	iv[0] = 0;
	iv[1] = 0;
	memcpy(iv + 2, hdr, SEAL_HDR_LEN);
	g->pIv = iv;
	g->ulIvLen = 12;
	g->ulIvBits = 96;
	g->pAAD = (CK_BYTE_PTR)hdr;
	g->ulAADLen = SEAL_HDR_LEN;
	g->ulTagBits = SEAL_TAG_LEN * 8;
}

int seal_frame(struct seal_session *s, uint16_t stream, const uint8_t *pt, size_t len,
    uint8_t *out, size_t cap)
{
	CK_GCM_PARAMS_V3 g;
	SECItem param = { siBuffer, (unsigned char *)&g, sizeof(g) };
	unsigned int olen = 0;
	uint8_t iv[12];
	uint64_t ctr;

	if (stream >= s->nstreams)
		return SEAL_E_STREAM;
	if (len > SEAL_PLAINTEXT_MAX)
		return SEAL_E_TOO_BIG;
	if (cap < len + SEAL_OVERHEAD)
		return SEAL_E_NOSPACE;
	if (s->send_ctr[stream] == UINT64_MAX)
		return SEAL_E_EXHAUSTED;
	ctr = s->send_ctr[stream] + 1;

	frame_hdr_put(out, stream, ctr);
	gcm_params(&g, iv, out);
	if (PK11_Encrypt(s->send_key, CKM_AES_GCM, &param, out + SEAL_HDR_LEN, &olen,
	    (unsigned int)(len + SEAL_TAG_LEN), pt, (unsigned int)len) != SECSuccess ||
	    olen != len + SEAL_TAG_LEN)
		return SEAL_E_NSS;
	/* Only now: a failed seal must not burn (or reuse) a nonce silently. */
	s->send_ctr[stream] = ctr;
	return (int)(len + SEAL_OVERHEAD);
}

int seal_open(struct seal_session *s, const uint8_t *frame, size_t len, uint8_t *pt,
    size_t cap, uint16_t *stream)
{
	CK_GCM_PARAMS_V3 g;
	SECItem param = { siBuffer, (unsigned char *)&g, sizeof(g) };
	unsigned int olen = 0;
	uint8_t iv[12];
	uint16_t sid;
	uint64_t ctr = 0;
	size_t ptlen;

	if (len < SEAL_OVERHEAD)
		return SEAL_E_SHORT;
	if (len > SEAL_FRAME_MAX)
		return SEAL_E_TOO_BIG;
	sid = (uint16_t)(frame[0] << 8 | frame[1]);
	for (int i = 0; i < 8; i++)
		ctr = ctr << 8 | frame[2 + i];
	if (sid >= s->nstreams)
		return SEAL_E_STREAM;
	/* Counters are public: refusing a replay before decrypting is safe. */
	if (ctr <= s->recv_ctr[sid])
		return SEAL_E_REPLAY;
	ptlen = len - SEAL_OVERHEAD;
	if (cap < ptlen)
		return SEAL_E_NOSPACE;

	gcm_params(&g, iv, frame);
	if (PK11_Decrypt(s->recv_key, CKM_AES_GCM, &param, pt, &olen, (unsigned int)ptlen,
	    frame + SEAL_HDR_LEN, (unsigned int)(len - SEAL_HDR_LEN)) != SECSuccess ||
	    olen != ptlen) {
		explicit_bzero(pt, ptlen);
		return SEAL_E_FORGED;
	}
	s->recv_ctr[sid] = ctr;
	*stream = sid;
	return (int)ptlen;
}

/* ------------------------------------------------------------------ */

const char *seal_strerror(int status)
{
	switch (status) {
	case SEAL_OK:			return "ok";
	case SEAL_E_NSS:		return "NSS operation failed";
	case SEAL_E_PSK:		return "pre-shared key too short";
	case SEAL_E_ARG:		return "argument out of range";
	case SEAL_E_SHORT:		return "frame too short";
	case SEAL_E_TOO_BIG:		return "frame too big";
	case SEAL_E_STREAM:		return "stream id out of range";
	case SEAL_E_REPLAY:		return "replayed frame";
	case SEAL_E_FORGED:		return "frame authentication failed";
	case SEAL_E_NOSPACE:		return "buffer too small";
	case SEAL_E_EXHAUSTED:		return "stream counter exhausted";
	case SEAL_E_HELLO_FORMAT:	return "HELLO does not end with its MAC";
	case SEAL_E_HELLO_MAC:		return "HELLO MAC mismatch";
	default:			return "unknown seal status";
	}
}

/* ------------------------------------------------------------------ */
/* Test only */

static int export_key(PK11SymKey *key, uint8_t out[SEAL_KEY_LEN])
{
	SECItem *data;

	if (PK11_ExtractKeyValue(key) != SECSuccess)
		return SEAL_E_NSS;
	data = PK11_GetKeyData(key);	/* owned by the key */
	if (!data || data->len != SEAL_KEY_LEN)
		return SEAL_E_NSS;
	memcpy(out, data->data, SEAL_KEY_LEN);
	return SEAL_OK;
}

int seal_test_export_keys(const struct seal_session *s, uint8_t send[SEAL_KEY_LEN],
    uint8_t recv[SEAL_KEY_LEN])
{
	int rc = export_key(s->send_key, send);

	return rc != SEAL_OK ? rc : export_key(s->recv_key, recv);
}

int seal_test_export_hello_key(const struct seal_psk *psk, uint8_t key[SEAL_KEY_LEN])
{
	return export_key(psk->hello, key);
}
