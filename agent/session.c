/* session.c: one sync association's protocol engine (see session.h and docs/protocol.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

/*
 * State records are numbered 1, 2, 3... by the sender. Within a stream they
 * arrive in order; across streams they may not, so records that arrive
 * ahead of a missing one are remembered in a ring of this many bits until
 * the gap closes and the cumulative ACK can move past them.
 */
#define RX_WINDOW	8192

/* Records are gathered per stream into one frame of up to this size. */
#define BATCH_MAX	16384
#define ENCODE_MAX	4096	/* the largest SA or policy record: an SA with ESN bitmap and keys */
/* An IKE_RECORD: header, IKE_SPIS and IKE_JSON TLVs, the document (docs/protocol.md 5.5). */
#define IKE_ENCODE_MAX	(WIRE_HDR_LEN + 2 * WIRE_TLV_HDR_LEN + 16 + WIRE_IKE_JSON_MAX)

struct out_batch {
	uint8_t *buf;		/* BATCH_MAX bytes, allocated on first use */
	size_t len;
};

struct session {
	struct session_config cfg;
	struct session_callbacks cb;
	void *ctx;
	enum session_state state;
	bool initiator;

	uint8_t nonce_own[WIRE_NONCE_LEN];
	uint8_t nonce_peer[WIRE_NONCE_LEN];
	char peer_id[WIRE_NODE_ID_MAX + 1];
	uint32_t peer_caps;
	struct seal_session *seal;

	/* Sending. */
	uint64_t tx_seq;		/* last sequence number used */
	uint64_t tx_acked;		/* highest acknowledged by the peer */
	uint64_t serial_until;		/* stream 0 only until the peer acked this one */
	uint64_t bulk_gen;
	uint64_t bulk_count;
	bool bulk_open;
	uint64_t last_tx_ms;
	struct out_batch *batch;	/* one per stream */

	/* Receiving. */
	uint64_t rx_seq;		/* every record up to this one arrived (the cumulative ACK) */
	uint8_t rx_seen[RX_WINDOW / 8];	/* ring: bit (seq % RX_WINDOW) set when seq arrived early */
	uint64_t rx_acked_sent;		/* the last ACK we sent */
	uint64_t last_rx_ms;

	uint8_t *scratch;		/* plaintext of a received frame / a sealed frame */
	uint8_t *big;			/* IKE_ENCODE_MAX: records above ENCODE_MAX, wiped after each */
	struct session_stats stats;
	bool in_reset;
};

struct session *session_new(const struct session_config *cfg, const struct session_callbacks *cb,
			    void *ctx)
{
	struct session *s;

	if (!cfg || !cb || !cfg->psk || !cfg->node_id || cfg->streams == 0 ||
	    cfg->streams > SEAL_STREAMS_MAX || strlen(cfg->node_id) == 0 ||
	    strlen(cfg->node_id) > WIRE_NODE_ID_MAX) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = *cfg;
	s->cb = *cb;
	s->ctx = ctx;
	s->batch = calloc(cfg->streams, sizeof(*s->batch));
	s->scratch = malloc(SEAL_FRAME_MAX);
	if (!s->batch || !s->scratch) {
		session_free(s);
		return NULL;
	}
	return s;
}

static void session_wipe_keys(struct session *s)
{
	seal_session_free(s->seal);
	s->seal = NULL;
	explicit_bzero(s->nonce_own, sizeof(s->nonce_own));
	explicit_bzero(s->nonce_peer, sizeof(s->nonce_peer));
}

static void session_clear_batches(struct session *s)
{
	for (unsigned i = 0; i < s->cfg.streams; i++) {
		if (s->batch[i].buf)
			explicit_bzero(s->batch[i].buf, s->batch[i].len);
		s->batch[i].len = 0;
	}
}

void session_free(struct session *s)
{
	if (!s)
		return;
	session_wipe_keys(s);
	if (s->batch) {
		session_clear_batches(s);
		for (unsigned i = 0; i < s->cfg.streams; i++)
			free(s->batch[i].buf);
		free(s->batch);
	}
	if (s->scratch) {
		explicit_bzero(s->scratch, SEAL_FRAME_MAX);
		free(s->scratch);
	}
	if (s->big) {
		explicit_bzero(s->big, IKE_ENCODE_MAX);
		free(s->big);
	}
	free(s);
}

void session_transport_down(struct session *s)
{
	session_wipe_keys(s);
	session_clear_batches(s);
	s->state = SESSION_DOWN;
	s->tx_seq = s->tx_acked = s->serial_until = 0;
	s->bulk_open = false;
	s->rx_seq = s->rx_acked_sent = 0;
	memset(s->rx_seen, 0, sizeof(s->rx_seen));
	s->peer_id[0] = '\0';
	s->peer_caps = 0;
}

/* Drop the association: tell the daemon (which resets the transport) once. */
static void session_fail(struct session *s, const char *why)
{
	if (s->in_reset)
		return;
	s->in_reset = true;
	s->stats.resets++;
	session_transport_down(s);
	s->cb.reset(s->ctx, why);
	s->in_reset = false;
}

static int session_queue(struct session *s, uint16_t stream, const uint8_t *rec, size_t len,
			 uint64_t now_ms_or_0);

static void session_queue_heartbeat(struct session *s, uint64_t now_ms)
{
	uint8_t rec[64];
	int n = wire_encode_heartbeat(rec, sizeof(rec), s->tx_seq, now_ms);

	if (n > 0)
		session_queue(s, 0, rec, (size_t)n, now_ms);
}

/* ---------------------------------------------------------------- HELLO */

static int session_send_hello(struct session *s)
{
	struct wire_hello h;
	uint8_t rec[512];
	int n;

	memset(&h, 0, sizeof(h));
	h.proto_version = WIRE_VERSION;
	strcpy(h.node_id, s->cfg.node_id);
	memcpy(h.nonce, s->nonce_own, WIRE_NONCE_LEN);
	h.caps = s->cfg.caps;
	if (!s->initiator) {
		h.has_peer_nonce = true;
		memcpy(h.peer_nonce, s->nonce_peer, WIRE_NONCE_LEN);
	}
	n = wire_encode_hello(rec, sizeof(rec), 0, &h);
	if (n < 0 || seal_hello_sign(s->cfg.psk, rec, (size_t)n) != SEAL_OK)
		return -1;
	s->stats.frames_out++;
	s->stats.bytes_out += (uint64_t)n;
	return s->cb.send(s->ctx, 0, rec, (size_t)n);
}

int session_transport_up(struct session *s, bool initiator, uint64_t now_ms)
{
	session_transport_down(s);
	s->initiator = initiator;
	s->last_rx_ms = s->last_tx_ms = now_ms;
	if (seal_random(s->nonce_own, sizeof(s->nonce_own)) != SEAL_OK) {
		session_fail(s, "no random bytes for the HELLO nonce");
		return -1;
	}
	if (!initiator) {
		s->state = SESSION_HELLO_WAIT;
		return 0;
	}
	s->state = SESSION_HELLO_SENT;
	if (session_send_hello(s) != 0) {
		session_fail(s, "cannot send HELLO");
		return -1;
	}
	return 0;
}

static int session_make_keys(struct session *s)
{
	const uint8_t *ni = s->initiator ? s->nonce_own : s->nonce_peer;
	const uint8_t *nr = s->initiator ? s->nonce_peer : s->nonce_own;
	const char *id_i = s->initiator ? s->cfg.node_id : s->peer_id;
	const char *id_r = s->initiator ? s->peer_id : s->cfg.node_id;

	return seal_session_new(s->cfg.psk, s->initiator, ni, nr, id_i, id_r, s->cfg.streams,
				&s->seal) == SEAL_OK ? 0 : -1;
}

static void session_become_established(struct session *s)
{
	s->state = SESSION_ESTABLISHED;
	s->stats.establishments++;
	s->cb.established(s->ctx, s->peer_id);
}

static void session_receive_hello(struct session *s, const uint8_t *buf, size_t len)
{
	struct wire_record rec;
	size_t used;
	int rc;

	rc = wire_decode(buf, len, &rec, &used);
	if (rc < 0) {
		/* Malformed: a decode error, not (yet) an authentication failure. */
		s->stats.decode_errors[-rc]++;
		session_fail(s, wire_strerror(rc));
		return;
	}
	if (rc != WIRE_OK || used != len || rec.type != WIRE_HELLO) {
		s->stats.hello_rejected++;
		session_fail(s, "expected a HELLO");
		return;
	}
	if (seal_hello_verify(s->cfg.psk, buf, len) != SEAL_OK) {
		s->stats.hello_rejected++;
		session_fail(s, "HELLO authentication failed (the peer lacks our key)");
		return;
	}
	if (!strcmp(rec.u.hello.node_id, s->cfg.node_id) ||
	    !memcmp(rec.u.hello.nonce, s->nonce_own, WIRE_NONCE_LEN)) {
		s->stats.hello_rejected++;
		session_fail(s, "HELLO reflected: our own node id or nonce");
		return;
	}
	if (s->initiator && (!rec.u.hello.has_peer_nonce ||
			     memcmp(rec.u.hello.peer_nonce, s->nonce_own, WIRE_NONCE_LEN))) {
		s->stats.hello_rejected++;
		session_fail(s, "HELLO does not echo our nonce (stale or replayed)");
		return;
	}
	memcpy(s->nonce_peer, rec.u.hello.nonce, WIRE_NONCE_LEN);
	strcpy(s->peer_id, rec.u.hello.node_id);
	s->peer_caps = rec.u.hello.caps & s->cfg.caps;
	explicit_bzero(&rec, sizeof(rec));
	if (session_make_keys(s) != 0) {
		session_fail(s, "cannot derive session keys");
		return;
	}
	if (s->initiator) {
		/* Our first frame proves to the responder that we hold the keys. */
		session_become_established(s);
		if (s->state == SESSION_ESTABLISHED && !session_pending(s))
			session_queue_heartbeat(s, s->last_rx_ms);
		session_flush(s);
	} else {
		s->state = SESSION_AUTH_WAIT;
		if (session_send_hello(s) != 0)
			session_fail(s, "cannot send HELLO");
	}
}

/* ---------------------------------------------------------------- sending */

bool session_pending(const struct session *s)
{
	for (unsigned i = 0; i < s->cfg.streams; i++)
		if (s->batch[i].len)
			return true;
	return false;
}

/* Seal len bytes of plaintext as one frame and hand it over. */
static int session_seal_out(struct session *s, uint16_t stream, const uint8_t *pt, size_t len)
{
	int n = seal_frame(s->seal, stream, pt, len, s->scratch, SEAL_FRAME_MAX);

	if (n < 0) {
		session_fail(s, seal_strerror(n));
		return -1;
	}
	s->stats.frames_out++;
	s->stats.bytes_out += (uint64_t)n;
	if (s->cb.send(s->ctx, stream, s->scratch, (size_t)n) != 0) {
		session_fail(s, "the transport refused a frame");
		return -1;
	}
	return 0;
}

static int session_seal_send(struct session *s, uint16_t stream)
{
	struct out_batch *b = &s->batch[stream];
	int rc;

	if (!b->len)
		return 0;
	rc = session_seal_out(s, stream, b->buf, b->len);
	explicit_bzero(b->buf, b->len);
	b->len = 0;
	return rc;
}

int session_flush(struct session *s)
{
	if (s->state != SESSION_ESTABLISHED)
		return 0;
	for (uint16_t i = 0; i < s->cfg.streams; i++)
		if (session_seal_send(s, i) != 0)
			return -1;
	return 0;
}

/* Append one encoded record to a stream's batch, sealing the batch first if full. */
static int session_queue(struct session *s, uint16_t stream, const uint8_t *rec, size_t len,
			 uint64_t now_ms_or_0)
{
	struct out_batch *b = &s->batch[stream];

	if (!b->buf) {
		b->buf = malloc(BATCH_MAX);
		if (!b->buf)
			return -1;
	}
	if (b->len + len > BATCH_MAX && session_seal_send(s, stream) != 0)
		return -1;
	if (len > BATCH_MAX) {
		/* A big IKE_RECORD: a frame of its own (SEAL_PLAINTEXT_MAX holds any record). */
		s->stats.records_out++;
		if (now_ms_or_0)
			s->last_tx_ms = now_ms_or_0;
		return session_seal_out(s, stream, rec, len);
	}
	memcpy(b->buf + b->len, rec, len);
	b->len += len;
	s->stats.records_out++;
	if (now_ms_or_0)
		s->last_tx_ms = now_ms_or_0;
	return 0;
}

/* The stream for an SA: fixed by its key, never 0 (kept for ordered phases). */
static uint16_t session_stream_of(const struct session *s, uint32_t spi, const struct ha_addr *daddr)
{
	uint32_t h = spi;

	if (s->cfg.streams < 2 || s->tx_acked < s->serial_until)
		return 0;
	for (unsigned i = 0; i < sizeof(daddr->v6); i++)
		h = h * 31 + ((const uint8_t *)&daddr->v6)[i];
	return (uint16_t)(1 + h % (s->cfg.streams - 1));
}

/*
 * An IKE SA's stream: every record about it (ike_sa, msgid, child_sa,
 * delete, IKE_DELETE) on one stream, so none overtakes the one it refines.
 */
static uint16_t session_stream_of_ike(const struct session *s, uint64_t spi_i, uint64_t spi_r)
{
	uint64_t h = spi_i * 0x9e3779b97f4a7c15ull ^ spi_r;

	if (s->cfg.streams < 2 || s->tx_acked < s->serial_until)
		return 0;
	h ^= h >> 31;
	return (uint16_t)(1 + h % (uint64_t)(s->cfg.streams - 1));
}

typedef int (*encode_fn)(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags, const void *obj);

/* Number, encode (into a heap buffer when need > ENCODE_MAX) and queue one state record. */
static int session_state_record_big(struct session *s, uint16_t stream, uint16_t flags,
				    encode_fn enc, const void *obj, size_t need)
{
	uint8_t small[ENCODE_MAX];
	uint8_t *rec = small;
	size_t cap = sizeof(small);
	int n, rc;

	if (s->state != SESSION_ESTABLISHED)
		return 0;
	/* A snapshot may exceed the bound: it is sent whole, once per association. */
	if (!s->bulk_open && s->tx_seq - s->tx_acked >= s->cfg.max_unacked) {
		session_fail(s, "the peer left too many records unacknowledged");
		return -1;
	}
	if (need > ENCODE_MAX) {
		if (!s->big && !(s->big = malloc(IKE_ENCODE_MAX)))
			return -1;
		rec = s->big;
		cap = IKE_ENCODE_MAX;
	}
	n = enc(rec, cap, s->tx_seq + 1, flags, obj);
	if (n < 0) {
		explicit_bzero(rec, cap);
		return n;
	}
	s->tx_seq++;
	rc = session_queue(s, stream, rec, (size_t)n, 0);
	explicit_bzero(rec, (size_t)n);
	return rc;
}

static int session_state_record(struct session *s, uint16_t stream, uint16_t flags, encode_fn enc,
				const void *obj)
{
	return session_state_record_big(s, stream, flags, enc, obj, 0);
}

static int enc_sa_add(uint8_t *b, size_t c, uint64_t q, uint16_t f, const void *o)
{
	return wire_encode_sa_add(b, c, q, f, o);
}

static int enc_sa_update(uint8_t *b, size_t c, uint64_t q, uint16_t f, const void *o)
{
	return wire_encode_sa_update(b, c, q, f, o);
}

static int enc_sa_delete(uint8_t *b, size_t c, uint64_t q, uint16_t f, const void *o)
{
	return wire_encode_sa_delete(b, c, q, f, o);
}

static int enc_policy_add(uint8_t *b, size_t c, uint64_t q, uint16_t f, const void *o)
{
	return wire_encode_policy_add(b, c, q, f, o);
}

static int enc_policy_delete(uint8_t *b, size_t c, uint64_t q, uint16_t f, const void *o)
{
	return wire_encode_policy_delete(b, c, q, f, o);
}

int session_send_sa(struct session *s, const struct ha_sa *sa)
{
	return session_state_record(s, session_stream_of(s, sa->id.spi, &sa->id.daddr), 0,
				    enc_sa_add, sa);
}

int session_send_sa_update(struct session *s, const struct ha_sa *sa)
{
	return session_state_record(s, session_stream_of(s, sa->id.spi, &sa->id.daddr), 0,
				    enc_sa_update, sa);
}

int session_send_sa_delete(struct session *s, const struct ha_sa_key *key)
{
	return session_state_record(s, session_stream_of(s, key->spi, &key->daddr), 0,
				    enc_sa_delete, key);
}

/* Policies are few and change rarely: stream 0 keeps them ordered with each other. */
int session_send_policy(struct session *s, const struct ha_policy *p)
{
	return session_state_record(s, 0, 0, enc_policy_add, p);
}

int session_send_policy_delete(struct session *s, const struct ha_policy_key *key)
{
	return session_state_record(s, 0, 0, enc_policy_delete, key);
}

struct ike_out {
	struct wire_ike ike;
	const char *json;
};

static int enc_ike_record(uint8_t *b, size_t c, uint64_t q, uint16_t f, const void *o)
{
	const struct ike_out *x = o;

	return wire_encode_ike_record(b, c, q, f, &x->ike, x->json);
}

static int enc_ike_delete(uint8_t *b, size_t c, uint64_t q, uint16_t f, const void *o)
{
	const struct ike_out *x = o;

	return wire_encode_ike_delete(b, c, q, f, x->ike.spi_i, x->ike.spi_r);
}

bool session_ike_enabled(const struct session *s)
{
	return s->state == SESSION_ESTABLISHED && (s->peer_caps & WIRE_CAP_IKE);
}

/*
 * A peer without WIRE_CAP_IKE skips these record types and would never
 * acknowledge past them: they are not sent at all (counted), and its next
 * association still gets a full snapshot of the SAs.
 */
static int session_ike(struct session *s, uint16_t flags, bool del, uint64_t spi_i,
		       uint64_t spi_r, const char *json, size_t len)
{
	struct ike_out x;
	int rc;

	if (s->state != SESSION_ESTABLISHED)
		return 0;
	if (!(s->peer_caps & WIRE_CAP_IKE)) {
		s->stats.ike_skipped++;
		return 0;
	}
	memset(&x, 0, sizeof(x));
	x.ike.spi_i = spi_i;
	x.ike.spi_r = spi_r;
	x.ike.has_spis = true;
	x.ike.json_len = (uint32_t)(del ? 0 : len);
	x.json = json;
	if (!del && (len == 0 || len > WIRE_IKE_JSON_MAX))
		return WIRE_E_RANGE;
	rc = session_state_record_big(s, (flags & WIRE_F_BULK) ? 0 : session_stream_of_ike(s, spi_i, spi_r),
				      flags, del ? enc_ike_delete : enc_ike_record, &x,
				      del ? 0 : len + (IKE_ENCODE_MAX - WIRE_IKE_JSON_MAX));
	if (rc == 0 && s->state == SESSION_ESTABLISHED) {
		if (del)
			s->stats.ike_deletes_out++;
		else
			s->stats.ike_records_out++;
	}
	return rc;
}

int session_send_ike_record(struct session *s, uint64_t spi_i, uint64_t spi_r, const char *json,
			    size_t len)
{
	return session_ike(s, 0, false, spi_i, spi_r, json, len);
}

int session_send_ike_delete(struct session *s, uint64_t spi_i, uint64_t spi_r)
{
	return session_ike(s, 0, true, spi_i, spi_r, NULL, 0);
}

int session_bulk_ike_record(struct session *s, uint64_t spi_i, uint64_t spi_r, const char *json,
			    size_t len)
{
	int rc;

	if (!s->bulk_open)
		return -1;
	if (!session_ike_enabled(s)) {
		if (s->state == SESSION_ESTABLISHED)
			s->stats.ike_skipped++;
		return 0;
	}
	rc = session_ike(s, WIRE_F_BULK, false, spi_i, spi_r, json, len);
	if (rc == 0 && s->state == SESSION_ESTABLISHED)
		s->bulk_count++;
	return rc;
}

static int enc_bulk_begin(uint8_t *b, size_t c, uint64_t q, uint16_t f, const void *o)
{
	(void)f;
	return wire_encode_bulk_begin(b, c, q, *(const uint64_t *)o);
}

int session_bulk_begin(struct session *s)
{
	uint64_t gen = s->bulk_gen + 1;
	int rc;

	if (s->state != SESSION_ESTABLISHED)
		return 0;
	rc = session_state_record(s, 0, 0, enc_bulk_begin, &gen);
	if (rc == 0) {
		s->bulk_gen = gen;
		s->bulk_count = 0;
		s->bulk_open = true;
		/* Everything goes on stream 0 until the snapshot is acknowledged. */
		s->serial_until = UINT64_MAX;
	}
	return rc;
}

int session_bulk_sa(struct session *s, const struct ha_sa *sa)
{
	int rc;

	if (!s->bulk_open)
		return -1;
	rc = session_state_record(s, 0, WIRE_F_BULK, enc_sa_add, sa);
	if (rc == 0 && s->state == SESSION_ESTABLISHED)
		s->bulk_count++;
	return rc;
}

int session_bulk_policy(struct session *s, const struct ha_policy *p)
{
	int rc;

	if (!s->bulk_open)
		return -1;
	rc = session_state_record(s, 0, WIRE_F_BULK, enc_policy_add, p);
	if (rc == 0 && s->state == SESSION_ESTABLISHED)
		s->bulk_count++;
	return rc;
}

int session_bulk_end(struct session *s)
{
	uint8_t rec[128];
	int n;

	if (!s->bulk_open || s->state != SESSION_ESTABLISHED)
		return -1;
	n = wire_encode_bulk_end(rec, sizeof(rec), s->tx_seq + 1, s->bulk_gen, s->bulk_count);
	if (n < 0)
		return n;
	s->tx_seq++;
	s->bulk_open = false;
	s->serial_until = s->tx_seq;
	s->stats.bulks_sent++;
	s->stats.bulk_records_sent += s->bulk_count;
	return session_queue(s, 0, rec, (size_t)n, 0);
}

/* ---------------------------------------------------------------- receiving */

static void session_send_ack(struct session *s)
{
	uint8_t rec[64];
	int n;

	if (s->rx_seq == s->rx_acked_sent)
		return;
	n = wire_encode_ack(rec, sizeof(rec), s->tx_seq, s->rx_seq);
	if (n < 0 || session_queue(s, 0, rec, (size_t)n, 0) != 0)
		return;
	s->stats.acks_out++;
	s->rx_acked_sent = s->rx_seq;
}

static bool is_state_record(uint8_t type)
{
	switch (type) {
	case WIRE_BULK_BEGIN:
	case WIRE_BULK_END:
	case WIRE_SA_ADD:
	case WIRE_SA_UPDATE:
	case WIRE_SA_DELETE:
	case WIRE_POLICY_ADD:
	case WIRE_POLICY_DELETE:
	case WIRE_IKE_RECORD:
	case WIRE_IKE_DELETE:
		return true;
	default:
		return false;
	}
}

static bool rx_bit(const struct session *s, uint64_t seq)
{
	return s->rx_seen[(seq % RX_WINDOW) / 8] & (1u << (seq % 8));
}

static void rx_set(struct session *s, uint64_t seq, bool on)
{
	uint8_t *byte = &s->rx_seen[(seq % RX_WINDOW) / 8];

	if (on)
		*byte |= (uint8_t)(1u << (seq % 8));
	else
		*byte &= (uint8_t)~(1u << (seq % 8));
}

/* Note a state record's arrival; false if it is a repeat or too far ahead. */
static bool session_accept_seq(struct session *s, uint64_t seq)
{
	if (seq <= s->rx_seq || seq - s->rx_seq > RX_WINDOW || rx_bit(s, seq))
		return false;
	rx_set(s, seq, true);
	while (rx_bit(s, s->rx_seq + 1)) {
		rx_set(s, s->rx_seq + 1, false);
		s->rx_seq++;
	}
	return true;
}

static void session_handle_records(struct session *s, const uint8_t *pt, size_t len)
{
	struct wire_record rec;
	size_t off = 0, used;
	bool got_state = false;
	int rc;

	while (off < len && s->state == SESSION_ESTABLISHED) {
		rc = wire_decode(pt + off, len - off, &rec, &used);
		if (rc < 0) {
			char why[128];

			/* Where in the frame, and the header bytes: never a key. */
			snprintf(why, sizeof(why), "%s (record at %zu of a %zu-byte frame, version %u type %u)",
				 wire_strerror(rc), off, len, pt[off], len - off > 1 ? pt[off + 1] : 0);
			s->stats.decode_errors[-rc]++;
			session_fail(s, why);
			return;
		}
		off += used;
		if (rc == WIRE_SKIPPED) {
			s->stats.skipped_records++;
			continue;
		}
		s->stats.records_in++;
		switch (rec.type) {
		case WIRE_HELLO:
			s->stats.protocol_errors++;
			session_fail(s, "HELLO inside an established association");
			return;
		case WIRE_ACK:
			s->stats.acks_in++;
			if (rec.u.ack_seq > s->tx_seq) {
				s->stats.protocol_errors++;
				session_fail(s, "ACK for records never sent");
				return;
			}
			if (rec.u.ack_seq > s->tx_acked)
				s->tx_acked = rec.u.ack_seq;
			continue;
		case WIRE_HEARTBEAT:
			s->stats.heartbeats_in++;
			continue;
		default:
			break;
		}
		if (!is_state_record(rec.type))
			continue;
		if (!session_accept_seq(s, rec.seq)) {
			s->stats.protocol_errors++;
			session_fail(s, "record sequence number out of window or repeated");
			explicit_bzero(&rec, sizeof(rec));
			return;
		}
		got_state = true;
		if (rec.type == WIRE_IKE_RECORD || rec.type == WIRE_IKE_DELETE)
			s->stats.ike_records_in++;
		s->cb.apply(s->ctx, &rec);
		explicit_bzero(&rec, sizeof(rec));
	}
	if (got_state && s->state == SESSION_ESTABLISHED)
		session_send_ack(s);
}

void session_receive(struct session *s, uint16_t stream, const uint8_t *buf, size_t len,
		     uint64_t now_ms)
{
	uint16_t got_stream;
	int n;

	s->stats.frames_in++;
	s->stats.bytes_in += len;
	switch (s->state) {
	case SESSION_DOWN:
		return;
	case SESSION_HELLO_SENT:
	case SESSION_HELLO_WAIT:
		s->last_rx_ms = now_ms;
		session_receive_hello(s, buf, len);
		return;
	case SESSION_AUTH_WAIT:
	case SESSION_ESTABLISHED:
		break;
	}
	n = seal_open(s->seal, buf, len, s->scratch, SEAL_FRAME_MAX, &got_stream);
	if (n < 0) {
		if (n == SEAL_E_REPLAY)
			s->stats.frames_replayed++;
		else
			s->stats.frames_forged++;
		session_fail(s, seal_strerror(n));
		return;
	}
	if (got_stream != stream) {
		explicit_bzero(s->scratch, (size_t)n);
		s->stats.frames_forged++;
		session_fail(s, "frame sealed for another stream");
		return;
	}
	s->last_rx_ms = now_ms;
	if (s->state == SESSION_AUTH_WAIT)
		session_become_established(s);
	session_handle_records(s, s->scratch, (size_t)n);
	explicit_bzero(s->scratch, (size_t)n);
	/* The ACK, and whatever the apply callbacks queued, go out now. */
	session_flush(s);
}

void session_tick(struct session *s, uint64_t now_ms)
{
	if (s->state == SESSION_DOWN)
		return;
	if (now_ms - s->last_rx_ms >= s->cfg.dead_ms) {
		session_fail(s, s->state == SESSION_ESTABLISHED ? "peer silent past dead-time"
								: "no HELLO from the peer in time");
		return;
	}
	if (s->state != SESSION_ESTABLISHED)
		return;
	if (now_ms - s->last_tx_ms >= s->cfg.heartbeat_ms && !session_pending(s))
		session_queue_heartbeat(s, now_ms);
	if (session_pending(s)) {
		s->last_tx_ms = now_ms;
		session_flush(s);
	}
}

/* ---------------------------------------------------------------- status */

enum session_state session_state(const struct session *s)
{
	return s->state;
}

const char *session_state_name(enum session_state st)
{
	switch (st) {
	case SESSION_DOWN:
		return "down";
	case SESSION_HELLO_SENT:
		return "hello-sent";
	case SESSION_HELLO_WAIT:
		return "hello-wait";
	case SESSION_AUTH_WAIT:
		return "auth-wait";
	case SESSION_ESTABLISHED:
		return "established";
	}
	return "?";
}

const char *session_peer_id(const struct session *s)
{
	return s->peer_id;
}

uint32_t session_peer_caps(const struct session *s)
{
	return s->peer_caps;
}

void session_get_stats(const struct session *s, struct session_stats *out)
{
	*out = s->stats;
}

uint64_t session_unacked(const struct session *s)
{
	return s->tx_seq - s->tx_acked;
}

bool session_bulk_acked(const struct session *s)
{
	return s->state == SESSION_ESTABLISHED && !s->bulk_open && s->serial_until &&
	       s->tx_acked >= s->serial_until;
}

uint64_t session_last_rx_ms(const struct session *s)
{
	return s->last_rx_ms;
}
