/* transport.h: the sync channel to the peer gateway: one SCTP (multi-homed) or TCP association carrying opaque frames on numbered streams. */
#ifndef HASYNC_TRANSPORT_H
#define HASYNC_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;

#define TRANSPORT_ADDRS_MAX	2		/* address pairs (Cisco's local-ip a b) */
#define TRANSPORT_FRAME_MAX	(1024 * 1024)	/* bigger frames are refused, both ways */
#define TRANSPORT_QUEUE_DEFAULT	(16 * 1024 * 1024)	/* send queue bound, bytes */
#define TRANSPORT_TCP_HEADER	6		/* u32 length, u16 stream, big endian */

/* Tuning defaults; the lab measured a path failover pause <= 0.22 s with them. */
#define TRANSPORT_RTO_MIN_MS	100
#define TRANSPORT_RTO_MAX_MS	1000
#define TRANSPORT_HB_MS		500
#define TRANSPORT_PATH_MAX_RETRANS 2
#define TRANSPORT_RECONNECT_MIN_MS 100
#define TRANSPORT_RECONNECT_MAX_MS 5000
/*
 * An association that delivered a frame this recently is alive: a new one
 * from the peer's address is refused rather than allowed to replace it,
 * so that nobody who can merely spoof the peer's address can cut a working
 * link (a restarting peer closes its old association first; a crashed
 * one goes quiet, and its reconnect is accepted then).
 */
#define TRANSPORT_LIVE_MS	1500

enum transport_kind { TRANSPORT_SCTP, TRANSPORT_TCP };

/*
 * Zero fields take the defaults above (streams: 1). Every local and remote
 * address carries its port. With n_local == 0 the transport listens on the
 * wildcard address with remote[0]'s port, and decides who connects from the
 * source address the kernel routes remote[0] from.
 */
struct transport_config {
	enum transport_kind kind;
	struct sockaddr_storage local[TRANSPORT_ADDRS_MAX]; int n_local;
	struct sockaddr_storage remote[TRANSPORT_ADDRS_MAX]; int n_remote;
	uint16_t streams;		/* SCTP: outbound/inbound streams asked */
	uint32_t reconnect_min_ms, reconnect_max_ms;
	uint32_t rto_min_ms, rto_max_ms, hb_interval_ms, path_max_retrans; /* SCTP tuning */
	size_t queue_max;		/* send queue bound in bytes; 0: TRANSPORT_QUEUE_DEFAULT */
};

/*
 * PATH_UNKNOWN: not yet confirmed by a heartbeat (or no association).
 * PATH_ACTIVE: confirmed and carrying data or ready to.
 * PATH_POTENTIALLY_FAILED: a retransmission timed out on it; data already
 *	moved to another path, heartbeats go on probing it.
 * PATH_INACTIVE: path_max_retrans timeouts in a row; unused until a
 *	heartbeat is answered again.
 * TCP has one path, ACTIVE while the connection is up.
 */
enum path_state { PATH_UNKNOWN, PATH_ACTIVE, PATH_POTENTIALLY_FAILED, PATH_INACTIVE };

/*
 * Called from the event loop. Every up is followed by exactly one down,
 * including after transport_reset(), which calls down before it returns.
 * A callback may call any function here, transport_free() included.
 */
struct transport_callbacks {
	void (*up)(void *ctx);				/* association established */
	void (*down)(void *ctx, const char *why);	/* lost; transport reconnects by itself */
	void (*frame)(void *ctx, uint16_t stream, const uint8_t *buf, size_t len);
	void (*path)(void *ctx, const struct sockaddr *peer_addr, enum path_state);
};

struct transport_path_info {
	struct sockaddr_storage addr;
	enum path_state state;
	uint32_t rtt_ms;		/* smoothed; 0 when unknown */
};

/* Counters for hasyncctl; they only grow. */
struct transport_stats {
	uint64_t connects;		/* connect attempts started */
	uint64_t connect_failures;
	uint64_t ups, downs;
	uint64_t refused;		/* incoming associations turned away */
	uint64_t garbage;		/* connections dropped for malformed input */
	uint64_t frames_out, bytes_out;	/* accepted by transport_send() */
	uint64_t frames_in, bytes_in;
	uint64_t bytes_discarded;	/* still queued when the association went down */
	uint64_t queue_full;		/* transport_send() refused with ENOBUFS */
};

struct transport;

/* NULL and errno EINVAL on a bad config (logged), ENOMEM. */
struct transport *transport_new(struct event_base *base, const struct transport_config *cfg,
				const struct transport_callbacks *cb, void *ctx);
/*
 * Listen, and connect if this node is the one that connects (see
 * transport_is_initiator()). Sets SIGPIPE to SIG_IGN if it is at its
 * default: sctp_sendmsg() and libevent's writes cannot pass MSG_NOSIGNAL.
 */
int transport_start(struct transport *t);
/*
 * Queue a frame (copied) on a stream, written when the socket allows.
 * 0 queued; -1 with errno ENOTCONN (no association), ENOBUFS (queue full),
 * EMSGSIZE (len > TRANSPORT_FRAME_MAX) or EINVAL (stream >= streams).
 * Frames still queued when the association goes down are discarded: the
 * caller's own protocol resends what its peer did not acknowledge.
 */
int transport_send(struct transport *t, uint16_t stream, const uint8_t *buf, size_t len);
/* Drop the association now (down is called if it was up) and reconnect. */
void transport_reset(struct transport *t, const char *why);
/* Peer addresses and their state now; returns how many were written. */
int transport_paths(const struct transport *t, struct transport_path_info *out, int max);
bool transport_is_up(const struct transport *t);
/* Bytes waiting in the transport's own queue (not yet in the kernel's). */
size_t transport_queued_bytes(const struct transport *t);
void transport_get_stats(const struct transport *t, struct transport_stats *out);
/* True if this node connects and the peer only accepts (decided at start). */
bool transport_is_initiator(const struct transport *t);
void transport_free(struct transport *t);

const char *transport_path_state_name(enum path_state s);

/* ---- pure helpers, shared with the tests ---- */

/*
 * Order of two addresses for the "who connects" rule: IPv4 before IPv6,
 * then the address bytes (network order, so numeric order) with memcmp,
 * then the port (equal addresses happen only on one host, in tests).
 * Returns <0, 0, >0. The node whose first local address is lower connects.
 */
int transport_addr_cmp(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
/* Same host address (port ignored); v4-mapped IPv6 equals its IPv4. */
bool transport_addr_same_host(const struct sockaddr *a, const struct sockaddr *b);
/* "192.0.2.1:7788", "[2001:db8::1]:7788"; buf of TRANSPORT_ADDRSTRLEN. */
#define TRANSPORT_ADDRSTRLEN	64
const char *transport_addr_format(const struct sockaddr *sa, char *buf, size_t size);
/*
 * Delay before reconnect attempt number attempt (0 first): min doubled per
 * attempt, capped at max, minus up to a quarter of it taken from the random
 * value rnd, never below min.
 */
uint32_t transport_backoff_ms(uint32_t min_ms, uint32_t max_ms, unsigned attempt, uint32_t rnd);
/* TCP framing: header = u32 payload length, u16 stream, big endian. */
void transport_tcp_header_encode(uint8_t out[TRANSPORT_TCP_HEADER], uint32_t len, uint16_t stream);
/*
 * Decode and check a header: 0 and *len, *stream set; -1 if the length is
 * above TRANSPORT_FRAME_MAX or the stream is not below streams.
 */
int transport_tcp_header_decode(const uint8_t in[TRANSPORT_TCP_HEADER], uint16_t streams,
				uint32_t *len, uint16_t *stream);

#ifdef TRANSPORT_BACKEND
/*
 * Between transport.c and its backends (transport_sctp.c, transport_tcp.c)
 * only. transport.c owns the life cycle (roles, reconnect timer, callbacks
 * and their reentrancy); a backend owns its sockets.
 */
struct event;

struct transport_backend {
	int (*listen)(struct transport *t);
	int (*connect)(struct transport *t);	/* start one attempt; result comes later */
	int (*send)(struct transport *t, uint16_t stream, const uint8_t *buf, size_t len);
	/* Drop the association (or attempt) and its queue; abort: RST/ABORT, not a graceful close. */
	void (*close)(struct transport *t, bool abort);
	void (*unlisten)(struct transport *t);
	int (*paths)(const struct transport *t, struct transport_path_info *out, int max);
	size_t (*queued)(const struct transport *t);
	void (*free)(struct transport *t);	/* the private part */
};

struct transport {
	struct event_base *base;
	struct transport_config cfg;	/* defaults filled in */
	struct transport_callbacks cb;
	void *ctx;
	const struct transport_backend *ops;
	void *priv;
	struct event *retry_ev;
	struct transport_stats stats;
	bool started, initiator, up, connecting;
	unsigned attempt;		/* failed attempts since the last stable association */
	uint64_t up_since_ms;
	unsigned busy;			/* callbacks running */
	bool doomed;			/* transport_free() called from a callback */
	uint64_t refusal_window_ms;	/* refusals logged per minute, the rest counted */
	uint64_t last_frame_ms;		/* when the live association last delivered a frame */
	unsigned refusals_logged, refusals_suppressed;
	uint64_t generation;		/* bumped whenever the association goes away */
	char name[8];			/* "sctp" or "tcp", for logs */
};

extern const struct transport_backend transport_sctp_backend;
extern const struct transport_backend transport_tcp_backend;

/*
 * Events from a backend. transport_on_up() and transport_on_frame() return
 * false when the callback dropped the association or freed the transport:
 * the backend must then return at once without touching t.
 * transport_on_lost() is for an association (or attempt) that ended by
 * itself: the backend has already closed its sockets; it returns false if
 * t is gone.
 */
bool transport_on_up(struct transport *t);
bool transport_on_lost(struct transport *t, const char *why);
bool transport_on_frame(struct transport *t, uint16_t stream, const uint8_t *buf, size_t len);
bool transport_on_path(struct transport *t, const struct sockaddr *addr, enum path_state s);
/* Whether an incoming association from peer may be taken (counts and logs refusals). */
bool transport_accept_ok(struct transport *t, const struct sockaddr *peer);
/* Size of the sockaddr for its family, 0 if neither v4 nor v6. */
socklen_t transport_addr_len(const struct sockaddr *sa);
/* Wildcard-or-first local address with its port, for bind() (n_local == 0 case). */
void transport_listen_addr(const struct transport *t, int i, struct sockaddr_storage *out);
#endif

#endif
