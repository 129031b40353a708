/* session.h: one sync association's protocol engine: HELLO, sealed frames, sequence numbers, ACKs, bulk snapshots, heartbeats (no I/O). */
#ifndef HASYNC_SESSION_H
#define HASYNC_SESSION_H

/*
 * docs/protocol.md is the specification. The engine owns no socket and no
 * timer: the daemon feeds it transport events, received messages and the
 * clock, and it answers through the callbacks below. Two engines wired back
 * to back in memory are a complete channel, which is how it is unit-tested.
 *
 * Ordering: SCTP keeps order within a stream, not across streams. Each SA's
 * records use one stream chosen from its key, so its updates stay ordered
 * without holding up others. A snapshot (BULK_BEGIN .. BULK_END) goes on
 * stream 0 in full, and until the peer has acknowledged it every record
 * stays on stream 0: a live update can then never overtake the snapshot
 * record it refines, and BULK_END never arrives before the records it counts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa.h"
#include "seal.h"
#include "wire.h"

enum session_state {
	SESSION_DOWN,		/* no association */
	SESSION_HELLO_SENT,	/* initiator: our HELLO is out, waiting for the peer's */
	SESSION_HELLO_WAIT,	/* responder: waiting for the initiator's HELLO */
	SESSION_AUTH_WAIT,	/* responder: answered, waiting for a first frame that opens */
	SESSION_ESTABLISHED,
};

struct session_config {
	const char *node_id;
	const struct seal_psk *psk;	/* the caller keeps it alive */
	uint16_t streams;		/* 1..SEAL_STREAMS_MAX */
	uint32_t caps;			/* WIRE_CAP_* we offer */
	uint64_t max_unacked;		/* records the peer may leave unacknowledged */
	uint32_t heartbeat_ms;
	uint32_t dead_ms;		/* nothing received for this long: reset */
};

struct session;

struct session_callbacks {
	/* Hand one message to the transport. Nonzero: it could not (the engine resets). */
	int (*send)(void *ctx, uint16_t stream, const uint8_t *buf, size_t len);
	/* The association must go (forgery, replay, protocol error, silence). */
	void (*reset)(void *ctx, const char *why);
	/* Authenticated both ways: the daemon now sends its snapshot with session_bulk_*(). */
	void (*established)(void *ctx, const char *peer_node_id);
	/* A state record from the peer, decoded and authenticated, in order within its SA. */
	void (*apply)(void *ctx, const struct wire_record *rec);
};

struct session_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t records_in, records_out;
	uint64_t acks_in, acks_out, heartbeats_in;
	uint64_t bulks_sent, bulk_records_sent;
	uint64_t hello_rejected;	/* bad MAC, own id or nonce, bad echo, malformed */
	uint64_t frames_forged;		/* SEAL_E_FORGED and other open failures */
	uint64_t frames_replayed;	/* SEAL_E_REPLAY */
	uint64_t decode_errors[-WIRE_STATUS_MIN + 1];	/* by -wire_status */
	uint64_t skipped_records;	/* unknown types (0x42-0x5f of the IKE range included) */
	uint64_t ike_records_out;	/* IKE_RECORD sent, bulk included */
	uint64_t ike_deletes_out;	/* IKE_DELETE sent */
	uint64_t ike_records_in;	/* IKE_RECORD and IKE_DELETE received */
	uint64_t ike_skipped;		/* not sent: the peer's CAPS lack WIRE_CAP_IKE */
	uint64_t protocol_errors;	/* sequence or ACK out of order, records before HELLO */
	uint64_t resets;
	uint64_t establishments;
};

struct session *session_new(const struct session_config *cfg, const struct session_callbacks *cb,
			    void *ctx);
void session_free(struct session *s);

/* The transport's association came up; initiator: we opened it. */
int session_transport_up(struct session *s, bool initiator, uint64_t now_ms);
/* The association is gone: back to DOWN, keys wiped, counters kept. */
void session_transport_down(struct session *s);
/* One message from the transport. */
void session_receive(struct session *s, uint16_t stream, const uint8_t *buf, size_t len,
		     uint64_t now_ms);
/* Heartbeats and the dead-peer timer; call every few hundred ms. */
void session_tick(struct session *s, uint64_t now_ms);
/* Seal and hand over every record queued so far (call once per loop turn). */
int session_flush(struct session *s);
/* Records waiting for session_flush(). */
bool session_pending(const struct session *s);

/* Live records; ignored (0) unless established. */
int session_send_sa(struct session *s, const struct ha_sa *sa);
int session_send_sa_update(struct session *s, const struct ha_sa *sa);
int session_send_sa_delete(struct session *s, const struct ha_sa_key *key);
int session_send_policy(struct session *s, const struct ha_policy *p);
int session_send_policy_delete(struct session *s, const struct ha_policy_key *key);

/*
 * IKE records (docs/protocol.md 5.5): json is one pluto record (1..
 * WIRE_IKE_JSON_MAX bytes, keys inside: the engine wipes its copies, the
 * caller its own). The stream comes from the SPIs. Sent only when the
 * association's CAPS include WIRE_CAP_IKE; otherwise dropped and counted
 * (ike_skipped), returning 0.
 */
int session_send_ike_record(struct session *s, uint64_t spi_i, uint64_t spi_r, const char *json,
			    size_t len);
int session_send_ike_delete(struct session *s, uint64_t spi_i, uint64_t spi_r);
/* Both ends offered WIRE_CAP_IKE on an established association. */
bool session_ike_enabled(const struct session *s);

/* A snapshot: begin, every SA and policy (and IKE record), end. */
int session_bulk_begin(struct session *s);
int session_bulk_sa(struct session *s, const struct ha_sa *sa);
int session_bulk_policy(struct session *s, const struct ha_policy *p);
/* After the SAs: counted in BULK_END; skipped (and not counted) without WIRE_CAP_IKE. */
int session_bulk_ike_record(struct session *s, uint64_t spi_i, uint64_t spi_r, const char *json,
			    size_t len);
int session_bulk_end(struct session *s);

enum session_state session_state(const struct session *s);
const char *session_state_name(enum session_state st);
const char *session_peer_id(const struct session *s);
uint32_t session_peer_caps(const struct session *s);
void session_get_stats(const struct session *s, struct session_stats *out);
/* Records we sent that the peer has not acknowledged yet. */
uint64_t session_unacked(const struct session *s);
/* Our last snapshot was acknowledged in full by the peer. */
bool session_bulk_acked(const struct session *s);
uint64_t session_last_rx_ms(const struct session *s);

#endif
