/* test_seal.c: unit tests of the channel crypto: doc vectors, seal/open, tampering, replay, stream order, wrong keys, HELLO MAC. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seal.h"
#include "wire.h"

#include "doc_vectors.h"

/* ------------------------------------------------------------------ */
/* The vectors of docs/protocol.md section 9, as printed there. */

static const char VEC_K_HELLO[] =
	"11 73 48 3f 7e 12 d7 cb d2 9c a6 55 a1 e6 d1 ce"
	"68 f8 60 c4 70 7e 2b 4d 06 be ac 02 df 3a 47 3b";
static const char VEC_K_I2R[] =
	"62 5c da ab 42 be 33 f7 ae 82 45 37 83 07 13 ca"
	"31 38 cf 5a 8b 50 cb 1a 15 58 73 d4 1f c1 02 e5";
static const char VEC_K_R2I[] =
	"7e dd f1 ae b5 61 19 58 4d 0c bf c7 de df 92 54"
	"79 cc 4e 15 51 db 88 53 a8 dc a3 1b a7 37 44 c7";
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
static const char VEC_FRAME[] =
	"00 01 00 00 00 00 00 00 00 01 22 29 ba 25 ee 4e"
	"d5 e1 4e 1f ce 06 7a a6 d9 8d 2d 05 82 31 3e ae"
	"35 e9 b4 a9 4f 6b ad ea 6a 4b e1 6a c9 63 bc fe"
	"65 39 a4 25 b5 33";

#define NSTREAMS 4


/* The inputs of the vectors. */
static uint8_t psk_bytes[32], nonce_i[32], nonce_r[32];

static void inputs(void)
{
	for (int i = 0; i < 32; i++) {
		psk_bytes[i] = (uint8_t)i;
		nonce_i[i] = (uint8_t)(0x40 + i);
		nonce_r[i] = (uint8_t)(0x60 + i);
	}
}

static struct seal_psk *psk_make(const uint8_t *bytes, size_t len)
{
	struct seal_psk *p = NULL;

	assert_int_equal(seal_psk_new(bytes, len, &p), SEAL_OK);
	assert_non_null(p);
	return p;
}

static struct seal_session *session(const struct seal_psk *p, bool initiator,
    const char *id_i, const char *id_r)
{
	struct seal_session *s = NULL;

	assert_int_equal(seal_session_new(p, initiator, nonce_i, nonce_r, id_i, id_r, NSTREAMS,
	    &s), SEAL_OK);
	assert_non_null(s);
	return s;
}

/* An initiator/responder pair on the vector inputs. */
struct pair {
	struct seal_psk *psk;
	struct seal_session *i;
	struct seal_session *r;
};

static void pair_open(struct pair *p)
{
	p->psk = psk_make(psk_bytes, sizeof(psk_bytes));
	p->i = session(p->psk, true, "gw-a", "gw-b");
	p->r = session(p->psk, false, "gw-a", "gw-b");
}

static void pair_close(struct pair *p)
{
	seal_session_free(p->i);
	seal_session_free(p->r);
	seal_psk_free(p->psk);
}

static uint64_t frame_counter(const uint8_t *f)
{
	uint64_t c = 0;

	for (int i = 0; i < 8; i++)
		c = c << 8 | f[2 + i];
	return c;
}

/* ------------------------------------------------------------------ */

static void test_doc_vectors(void **state)
{
	doc_check("### 9.1 HELLO", 0, VEC_HELLO);
	doc_check("### 9.2 ACK", 0, VEC_ACK);
	doc_check("### 9.4 Keys", 0, VEC_K_HELLO);
	doc_check("### 9.4 Keys", 1, VEC_K_I2R);
	doc_check("### 9.4 Keys", 2, VEC_K_R2I);
	doc_check("### 9.5 Sealed frame", 0, VEC_FRAME);
}

static void test_vector_keys(void **state)
{
	uint8_t want[32], send[32], recv[32];
	struct pair p;

	pair_open(&p);
	unhex(VEC_K_HELLO, want);
	assert_int_equal(seal_test_export_hello_key(p.psk, send), SEAL_OK);
	assert_memory_equal(send, want, 32);

	assert_int_equal(seal_test_export_keys(p.i, send, recv), SEAL_OK);
	unhex(VEC_K_I2R, want);
	assert_memory_equal(send, want, 32);
	unhex(VEC_K_R2I, want);
	assert_memory_equal(recv, want, 32);

	assert_int_equal(seal_test_export_keys(p.r, send, recv), SEAL_OK);
	assert_memory_equal(send, want, 32);
	unhex(VEC_K_I2R, want);
	assert_memory_equal(recv, want, 32);
	explicit_bzero(send, sizeof(send));
	explicit_bzero(recv, sizeof(recv));
	pair_close(&p);
}

static void test_vector_hello_mac(void **state)
{
	uint8_t want[256], buf[256];
	struct wire_hello h;
	struct pair p;
	size_t wn;
	int n;

	pair_open(&p);
	wn = unhex(VEC_HELLO, want);
	memset(&h, 0, sizeof(h));
	h.proto_version = 1;
	strcpy(h.node_id, "gw-a");
	memcpy(h.nonce, nonce_i, 32);
	h.caps = WIRE_CAP_ESN | WIRE_CAP_BATCH;
	n = wire_encode_hello(buf, sizeof(buf), 0, &h);
	assert_int_equal(n, wn);
	assert_int_equal(seal_hello_sign(p.psk, buf, (size_t)n), SEAL_OK);
	assert_memory_equal(buf, want, wn);
	assert_int_equal(seal_hello_verify(p.psk, want, wn), SEAL_OK);
	pair_close(&p);
}

static void test_vector_frame(void **state)
{
	uint8_t ack[64], want[128], frame[128], pt[64];
	size_t an, wn;
	uint16_t stream = 0;
	struct pair p;
	int n;

	pair_open(&p);
	an = unhex(VEC_ACK, ack);
	wn = unhex(VEC_FRAME, want);
	n = seal_frame(p.i, 1, ack, an, frame, sizeof(frame));
	assert_int_equal(n, wn);
	assert_memory_equal(frame, want, wn);
	/* An output buffer of exactly the plaintext's size is enough. */
	assert_int_equal(seal_open(p.r, want, wn, pt, an, &stream), an);
	assert_int_equal(stream, 1);
	assert_memory_equal(pt, ack, an);
	pair_close(&p);
}

static void test_roundtrip_sizes(void **state)
{
	static uint8_t pt[SEAL_PLAINTEXT_MAX + 1], out[SEAL_PLAINTEXT_MAX + 1];
	static uint8_t frame[SEAL_FRAME_MAX + 1];
	const size_t sizes[] = { 0, 1, 15, 16, 17, 1000, SEAL_PLAINTEXT_MAX };
	struct pair p;
	uint16_t st;

	pair_open(&p);
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int n = seal_frame(p.r, (uint16_t)(i % NSTREAMS), pt, sizes[i], frame, sizeof(frame));

		assert_int_equal(n, sizes[i] + SEAL_OVERHEAD);
		/* The plaintext does not show through. */
		if (sizes[i] >= 16)
			assert_null(memmem(frame, (size_t)n, pt, 16));
		assert_int_equal(seal_open(p.i, frame, (size_t)n, out, sizeof(out), &st), sizes[i]);
		assert_int_equal(st, i % NSTREAMS);
		assert_memory_equal(out, pt, sizes[i]);
	}
	assert_int_equal(seal_frame(p.r, 0, pt, SEAL_PLAINTEXT_MAX + 1, frame, sizeof(frame)),
	    SEAL_E_TOO_BIG);
	assert_int_equal(seal_open(p.i, frame, SEAL_FRAME_MAX + 1, out, sizeof(out), &st),
	    SEAL_E_TOO_BIG);
	pair_close(&p);
}

/* Counters are per stream: each stream counts 1, 2, 3 on its own. */
static void test_counters_per_stream(void **state)
{
	uint8_t frame[64];
	struct pair p;

	pair_open(&p);
	for (uint64_t c = 1; c <= 3; c++)
		for (uint16_t s = 0; s < NSTREAMS; s++) {
			assert_int_equal(seal_frame(p.i, s, (const uint8_t *)"x", 1, frame,
			    sizeof(frame)), 1 + SEAL_OVERHEAD);
			assert_int_equal(frame[0] << 8 | frame[1], s);
			assert_true(frame_counter(frame) == c);
		}
	assert_int_equal(seal_frame(p.i, NSTREAMS, (const uint8_t *)"x", 1, frame, sizeof(frame)),
	    SEAL_E_STREAM);
	assert_int_equal(seal_frame(p.i, 0, (const uint8_t *)"x", 1, frame, 1 + SEAL_OVERHEAD - 1),
	    SEAL_E_NOSPACE);
	/* A refused seal does not take a counter. */
	assert_int_equal(seal_frame(p.i, 0, (const uint8_t *)"x", 1, frame, sizeof(frame)),
	    1 + SEAL_OVERHEAD);
	assert_true(frame_counter(frame) == 4);
	pair_close(&p);
}

/* Streams are independent: any order across streams, strict order within. */
static void test_stream_order(void **state)
{
	uint8_t f[NSTREAMS][3][64], pt[64];
	struct pair p;
	struct seal_session *r2;
	uint16_t st;

	pair_open(&p);
	r2 = session(p.psk, false, "gw-a", "gw-b");
	for (int c = 0; c < 3; c++)
		for (int s = 0; s < NSTREAMS; s++) {
			uint8_t msg[2] = { (uint8_t)s, (uint8_t)c };

			assert_int_equal(seal_frame(p.i, (uint16_t)s, msg, 2, f[s][c], 64), 28);
		}
	/* Receiver 1: stream by stream, last stream first. */
	for (int s = NSTREAMS - 1; s >= 0; s--)
		for (int c = 0; c < 3; c++) {
			assert_int_equal(seal_open(p.r, f[s][c], 28, pt, sizeof(pt), &st), 2);
			assert_int_equal(st, s);
			assert_true(pt[0] == s && pt[1] == c);
		}
	/* Receiver 2: interleaved, and with gaps (a lost frame is not a replay). */
	assert_int_equal(seal_open(r2, f[2][1], 28, pt, sizeof(pt), &st), 2);
	assert_int_equal(seal_open(r2, f[0][0], 28, pt, sizeof(pt), &st), 2);
	assert_int_equal(seal_open(r2, f[3][2], 28, pt, sizeof(pt), &st), 2);
	assert_int_equal(seal_open(r2, f[0][2], 28, pt, sizeof(pt), &st), 2);
	assert_int_equal(seal_open(r2, f[1][0], 28, pt, sizeof(pt), &st), 2);
	/* Within a stream, an older frame after a newer one is a replay. */
	assert_int_equal(seal_open(r2, f[2][0], 28, pt, sizeof(pt), &st), SEAL_E_REPLAY);
	assert_int_equal(seal_open(r2, f[0][1], 28, pt, sizeof(pt), &st), SEAL_E_REPLAY);
	assert_int_equal(seal_open(r2, f[2][2], 28, pt, sizeof(pt), &st), 2);
	seal_session_free(r2);
	pair_close(&p);
}

static void test_replay(void **state)
{
	uint8_t frame[64], pt[64];
	struct pair p;
	uint16_t st;

	pair_open(&p);
	assert_int_equal(seal_frame(p.i, 3, (const uint8_t *)"hello", 5, frame, sizeof(frame)), 31);
	assert_int_equal(seal_open(p.r, frame, 31, pt, sizeof(pt), &st), 5);
	for (int k = 0; k < 3; k++)
		assert_int_equal(seal_open(p.r, frame, 31, pt, sizeof(pt), &st), SEAL_E_REPLAY);
	pair_close(&p);
}

/* Flip every bit of a frame: each copy is refused, nothing leaks, and the
 * genuine frame still opens afterwards (no counter moved). */
static void test_tamper(void **state)
{
	uint8_t ack[64], frame[128], bad[128], pt[64];
	size_t an, fn;
	struct pair p;
	uint16_t st;

	pair_open(&p);
	an = unhex(VEC_ACK, ack);
	fn = unhex(VEC_FRAME, frame);
	for (size_t i = 0; i < fn; i++)
		for (int b = 0; b < 8; b++) {
			int rc;

			memcpy(bad, frame, fn);
			bad[i] ^= (uint8_t)(1 << b);
			memset(pt, 0xaa, sizeof(pt));
			rc = seal_open(p.r, bad, fn, pt, sizeof(pt), &st);
			if (i < 2)
				assert_true(rc == SEAL_E_STREAM || rc == SEAL_E_FORGED);
			else if (i < SEAL_HDR_LEN && frame_counter(bad) == 0)
				assert_int_equal(rc, SEAL_E_REPLAY);
			else
				assert_int_equal(rc, SEAL_E_FORGED);
			if (rc == SEAL_E_FORGED) {
				for (size_t k = 0; k < an; k++)
					assert_int_equal(pt[k], 0);
			}
		}
	/* Cut or lengthened frames. */
	for (size_t k = 0; k < SEAL_OVERHEAD; k++)
		assert_int_equal(seal_open(p.r, frame, k, pt, sizeof(pt), &st), SEAL_E_SHORT);
	for (size_t k = SEAL_OVERHEAD; k < fn; k++)
		assert_int_equal(seal_open(p.r, frame, k, pt, sizeof(pt), &st), SEAL_E_FORGED);
	memcpy(bad, frame, fn);
	bad[fn] = 0;
	assert_int_equal(seal_open(p.r, bad, fn + 1, pt, sizeof(pt), &st), SEAL_E_FORGED);
	/* Too small an output buffer is said so, and costs nothing. */
	assert_int_equal(seal_open(p.r, frame, fn, pt, an - 1, &st), SEAL_E_NOSPACE);

	assert_int_equal(seal_open(p.r, frame, fn, pt, sizeof(pt), &st), an);
	assert_memory_equal(pt, ack, an);
	pair_close(&p);
}

/* Keys that differ in any input do not open each other's frames. */
static void test_wrong_keys(void **state)
{
	uint8_t other[33], frame[64], pt[64];
	struct seal_session *s;
	struct seal_psk *psk2;
	struct pair p;
	uint16_t st;
	int n;

	pair_open(&p);
	n = seal_frame(p.i, 0, (const uint8_t *)"state", 5, frame, sizeof(frame));
	assert_int_equal(n, 31);

	/* Another PSK (one bit apart). */
	memcpy(other, psk_bytes, 32);
	other[31] ^= 1;
	psk2 = psk_make(other, 32);
	s = session(psk2, false, "gw-a", "gw-b");
	assert_int_equal(seal_open(s, frame, 31, pt, sizeof(pt), &st), SEAL_E_FORGED);
	seal_session_free(s);
	seal_psk_free(psk2);

	/* The PSK with a suffix (no truncation of the key file). */
	memcpy(other, psk_bytes, 32);
	other[32] = 0;
	psk2 = psk_make(other, 33);
	s = session(psk2, false, "gw-a", "gw-b");
	assert_int_equal(seal_open(s, frame, 31, pt, sizeof(pt), &st), SEAL_E_FORGED);
	seal_session_free(s);
	seal_psk_free(psk2);

	/* Other node ids, ids swapped, ids split differently. */
	s = session(p.psk, false, "gw-a", "gw-c");
	assert_int_equal(seal_open(s, frame, 31, pt, sizeof(pt), &st), SEAL_E_FORGED);
	seal_session_free(s);
	s = session(p.psk, false, "gw-b", "gw-a");
	assert_int_equal(seal_open(s, frame, 31, pt, sizeof(pt), &st), SEAL_E_FORGED);
	seal_session_free(s);
	s = session(p.psk, false, "gw-ag", "w-b");
	assert_int_equal(seal_open(s, frame, 31, pt, sizeof(pt), &st), SEAL_E_FORGED);
	seal_session_free(s);

	/* Other nonces. */
	nonce_r[0] ^= 1;
	s = session(p.psk, false, "gw-a", "gw-b");
	nonce_r[0] ^= 1;
	assert_int_equal(seal_open(s, frame, 31, pt, sizeof(pt), &st), SEAL_E_FORGED);
	seal_session_free(s);

	/* Reflected to the sender's own direction: an initiator opens with r2i. */
	s = session(p.psk, true, "gw-a", "gw-b");
	assert_int_equal(seal_open(s, frame, 31, pt, sizeof(pt), &st), SEAL_E_FORGED);
	assert_int_equal(seal_open(p.i, frame, 31, pt, sizeof(pt), &st), SEAL_E_FORGED);
	seal_session_free(s);

	/* And the right one does. */
	assert_int_equal(seal_open(p.r, frame, 31, pt, sizeof(pt), &st), 5);
	pair_close(&p);
}

static void test_hello_mac(void **state)
{
	uint8_t rec[256], bad[256], other[32];
	struct seal_psk *psk2;
	struct wire_hello h;
	struct pair p;
	size_t n;

	pair_open(&p);
	/* A responder's HELLO, with PEER_NONCE. */
	memset(&h, 0, sizeof(h));
	h.proto_version = 1;
	strcpy(h.node_id, "gw-b");
	memcpy(h.nonce, nonce_r, 32);
	h.has_peer_nonce = true;
	memcpy(h.peer_nonce, nonce_i, 32);
	h.caps = WIRE_CAP_ESN;
	n = (size_t)wire_encode_hello(rec, sizeof(rec), 0, &h);
	assert_int_equal(n, 145);
	assert_int_equal(seal_hello_verify(p.psk, rec, n), SEAL_E_HELLO_MAC);	/* unsigned */
	assert_int_equal(seal_hello_sign(p.psk, rec, n), SEAL_OK);
	assert_int_equal(seal_hello_verify(p.psk, rec, n), SEAL_OK);

	/* Without the PSK: refused. */
	memcpy(other, psk_bytes, 32);
	other[0] ^= 0x80;
	psk2 = psk_make(other, 32);
	assert_int_equal(seal_hello_verify(psk2, rec, n), SEAL_E_HELLO_MAC);
	seal_psk_free(psk2);

	/* Every bit of it is covered. */
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++) {
			int rc;

			memcpy(bad, rec, n);
			bad[i] ^= (uint8_t)(1 << b);
			rc = seal_hello_verify(p.psk, bad, n);
			/* Version, type, length, MAC TLV header: not even a HELLO. */
			if (i < 2 || (i >= 4 && i < 8) || (i >= n - 36 && i < n - 32))
				assert_int_equal(rc, SEAL_E_HELLO_FORMAT);
			else
				assert_int_equal(rc, SEAL_E_HELLO_MAC);
		}
	/* Cut: the MAC is no longer where the length says. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(seal_hello_verify(p.psk, rec, k), SEAL_E_HELLO_FORMAT);
	/* Not a HELLO at all. */
	n = unhex(VEC_ACK, bad);
	assert_int_equal(seal_hello_sign(p.psk, bad, n), SEAL_E_HELLO_FORMAT);
	pair_close(&p);
}

static void test_args(void **state)
{
	char longid[WIRE_NODE_ID_MAX + 2];
	struct seal_session *s = (struct seal_session *)1;
	struct seal_psk *k = (struct seal_psk *)1;
	struct pair p;
	uint8_t buf[32];
	const char *seen[16];
	int n = 0;

	assert_int_equal(seal_psk_new(psk_bytes, SEAL_PSK_MIN - 1, &k), SEAL_E_PSK);
	assert_null(k);
	pair_open(&p);
	assert_int_equal(seal_session_new(p.psk, true, nonce_i, nonce_r, "a", "b", 0, &s),
	    SEAL_E_ARG);
	assert_null(s);
	assert_int_equal(seal_session_new(p.psk, true, nonce_i, nonce_r, "a", "b",
	    SEAL_STREAMS_MAX + 1, &s), SEAL_E_ARG);
	assert_int_equal(seal_session_new(p.psk, true, nonce_i, nonce_r, "", "b", 1, &s),
	    SEAL_E_ARG);
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(seal_session_new(p.psk, true, nonce_i, nonce_r, "a", longid, 1, &s),
	    SEAL_E_ARG);
	longid[WIRE_NODE_ID_MAX] = '\0';
	assert_int_equal(seal_session_new(p.psk, true, nonce_i, nonce_r, "a", longid,
	    SEAL_STREAMS_MAX, &s), SEAL_OK);
	seal_session_free(s);
	seal_session_free(NULL);
	seal_psk_free(NULL);

	assert_int_equal(seal_random(buf, sizeof(buf)), SEAL_OK);
	pair_close(&p);

	for (int c = SEAL_E_HELLO_MAC; c <= SEAL_OK; c++) {
		const char *m = seal_strerror(c);

		assert_string_not_equal(m, "unknown seal status");
		for (int i = 0; i < n; i++)
			assert_string_not_equal(m, seen[i]);
		seen[n++] = m;
	}
	assert_string_equal(seal_strerror(1), "unknown seal status");
}

static int group_setup(void **state)
{
	inputs();
	return seal_global_init() == SEAL_OK ? 0 : -1;
}

/* Fails if any key or session was left alive. */
static int group_teardown(void **state)
{
	return seal_global_shutdown() == SEAL_OK ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_vectors),
		cmocka_unit_test(test_vector_keys),
		cmocka_unit_test(test_vector_hello_mac),
		cmocka_unit_test(test_vector_frame),
		cmocka_unit_test(test_roundtrip_sizes),
		cmocka_unit_test(test_counters_per_stream),
		cmocka_unit_test(test_stream_order),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_wrong_keys),
		cmocka_unit_test(test_hello_mac),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
