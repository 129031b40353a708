/* seal.h: the sync channel's crypto with NSS: HKDF session keys, AES-256-GCM frames with per-stream counters, the HELLO MAC. */
#ifndef HASYNC_SEAL_H
#define HASYNC_SEAL_H

/*
 * docs/protocol.md, sections 6 and 7, is the specification. Keys live in
 * NSS as PK11SymKey objects and never leave it, except through the two
 * seal_test_* functions that exist only so the unit tests can check the
 * documented vectors; the daemon never calls them and nothing here logs.
 * Not thread-safe: one session belongs to one event loop.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_LEN		32	/* AES-256 */
#define SEAL_HDR_LEN		10	/* stream id u16, counter u64 */
#define SEAL_TAG_LEN		16
#define SEAL_OVERHEAD		(SEAL_HDR_LEN + SEAL_TAG_LEN)
#define SEAL_PLAINTEXT_MAX	65536
#define SEAL_FRAME_MAX		(SEAL_OVERHEAD + SEAL_PLAINTEXT_MAX)
#define SEAL_STREAMS_MAX	1024	/* per association and direction */
#define SEAL_PSK_MIN	32	/* bytes */
#define SEAL_NONCE_LEN		32

enum seal_status {
	SEAL_OK			= 0,
	SEAL_E_NSS		= -1,	/* NSS failed: init, import, derive, encrypt */
	SEAL_E_PSK		= -2,	/* PSK shorter than SEAL_PSK_MIN */
	SEAL_E_ARG		= -3,	/* node id or stream count out of range */
	SEAL_E_SHORT		= -4,	/* frame shorter than header + tag */
	SEAL_E_TOO_BIG		= -5,	/* plaintext or frame above the maximum */
	SEAL_E_STREAM		= -6,	/* stream id beyond the session's streams */
	SEAL_E_REPLAY		= -7,	/* counter not above the stream's last one */
	SEAL_E_FORGED		= -8,	/* tag check failed: tampered, or another key */
	SEAL_E_NOSPACE		= -9,	/* output buffer too small */
	SEAL_E_EXHAUSTED	= -10,	/* stream counter would wrap: re-associate */
	SEAL_E_HELLO_FORMAT	= -11,	/* not a HELLO ending with its MAC TLV */
	SEAL_E_HELLO_MAC	= -12,	/* HELLO MAC wrong: the peer lacks our PSK */
};

struct seal_psk;
struct seal_session;

/* NSS_NoDB_Init() unless NSS is already up; call once before anything else. */
int seal_global_init(void);
/*
 * NSS_Shutdown(), for tests and tools that check for leaks at exit; fails
 * (SEAL_E_NSS) while a key or session is still alive.
 */
int seal_global_shutdown(void);

/* Random bytes from NSS, for HELLO nonces. */
int seal_random(uint8_t *buf, size_t len);

/*
 * Import the pre-shared key (the bytes of the key file) and derive the HELLO
 * MAC key from it. NSS keeps its own copy: the caller wipes its buffer.
 */
int seal_psk_new(const uint8_t *psk, size_t len, struct seal_psk **out);
void seal_psk_free(struct seal_psk *psk);

/*
 * HELLO authentication. rec/len is one whole HELLO record as
 * wire_encode_hello() made it or wire_decode() accepted it (len = its
 * length); its last TLV is the 32-byte HELLO_MAC, covering every byte
 * before the MAC value. sign fills the MAC in place; verify compares in
 * constant time.
 */
int seal_hello_sign(const struct seal_psk *psk, uint8_t *rec, size_t len);
int seal_hello_verify(const struct seal_psk *psk, const uint8_t *rec, size_t len);

/*
 * Session keys for one association, from the PSK, both nonces and both node
 * ids (1..63 bytes each). initiator says which direction key seals and which
 * opens. nstreams (1..SEAL_STREAMS_MAX) is the association's stream count.
 */
int seal_session_new(const struct seal_psk *psk, bool initiator,
    const uint8_t nonce_i[SEAL_NONCE_LEN], const uint8_t nonce_r[SEAL_NONCE_LEN],
    const char *id_i, const char *id_r, unsigned nstreams, struct seal_session **out);
/* Wipes the counters and frees the keys. NULL is fine. */
void seal_session_free(struct seal_session *s);

/*
 * Seal len bytes (0..SEAL_PLAINTEXT_MAX) for stream into out: return the
 * frame length (len + SEAL_OVERHEAD) or a negative enum seal_status. Takes
 * the stream's next counter.
 */
int seal_frame(struct seal_session *s, uint16_t stream, const uint8_t *pt, size_t len,
    uint8_t *out, size_t cap);

/*
 * Open a frame into pt: return the plaintext length and set *stream, or a
 * negative enum seal_status with nothing in pt and the stream's counter
 * unchanged. Rejects replays and forgeries with distinct codes.
 */
int seal_open(struct seal_session *s, const uint8_t *frame, size_t len, uint8_t *pt,
    size_t cap, uint16_t *stream);

const char *seal_strerror(int status);

/*
 * Test only: copy out derived key bytes to check them against the vectors
 * in docs/protocol.md. Callers wipe what they get. Never used by the daemon.
 */
int seal_test_export_keys(const struct seal_session *s, uint8_t send[SEAL_KEY_LEN],
    uint8_t recv[SEAL_KEY_LEN]);
int seal_test_export_hello_key(const struct seal_psk *psk, uint8_t key[SEAL_KEY_LEN]);

#endif
