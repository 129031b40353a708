/* ctl.h: the control socket (server on libevent, root only), its client, and builders for the documented JSON (docs/control.md). */
#ifndef HASYNC_CTL_H
#define HASYNC_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct event_base;
struct json_object;
struct cache;

#define CTL_SOCKET_DEFAULT	"/run/hasyncd/ctl.sock"
#define CTL_REQUEST_MAX		4096	/* bytes, line end included */
#define CTL_COMMAND_MAX		32	/* characters */
#define CTL_CONN_MAX		16	/* connections served at once */
#define CTL_TIMEOUT_MS		5000	/* for a client to send its request / read the reply */
#define CTL_ERR_MAX		256
#define CTL_ADDR_MAX		46	/* INET6_ADDRSTRLEN */

/* hasyncctl's exit codes (docs/control.md section 4). */
#define CTL_EXIT_OK		0
#define CTL_EXIT_NO		1	/* the daemon said no, or check failed */
#define CTL_EXIT_USAGE		2
#define CTL_EXIT_UNREACHABLE	3

/*
 * A command handler. args is the request's "args" object (an empty object
 * when absent; borrowed, do not keep it). Fill data (an empty object the
 * server owns) and return 0, or write a one-sentence message into err and
 * return -1.
 */
typedef int (*ctl_handler_fn)(struct json_object *args, struct json_object *data,
			      char *err, size_t errlen, void *ctx);

struct ctl_stats {
	uint64_t served;		/* replies with "ok":true */
	uint64_t refused;		/* peer not uid 0 */
	uint64_t too_large;		/* request above CTL_REQUEST_MAX */
	uint64_t bad_request;		/* not JSON, not an object, bad command or args */
	uint64_t unknown_command;
	uint64_t not_implemented;
	uint64_t handler_errors;
	uint64_t busy;			/* above CTL_CONN_MAX connections */
	uint64_t timeouts;		/* request not sent, or reply not read, in time */
};

struct ctl;

struct ctl *ctl_new(struct event_base *base);
/*
 * Create the socket at path: the parent directory is made (0700) if it is
 * missing, a stale socket is removed, a live one (another daemon answers)
 * is an error. The socket is 0600. Sets SIGPIPE to SIG_IGN if it is at
 * its default (a client may leave before reading its reply). Returns 0, or
 * -1 with a message in err.
 */
int ctl_listen(struct ctl *ctl, const char *path, char *err, size_t errlen);
/* Replaces a handler registered for the same command. Returns -1 on a bad name or no memory. */
int ctl_register(struct ctl *ctl, const char *command, ctl_handler_fn fn, void *ctx);
/* For tests: how long a client may take (default CTL_TIMEOUT_MS). */
void ctl_set_timeout(struct ctl *ctl, unsigned ms);
void ctl_get_stats(const struct ctl *ctl, struct ctl_stats *out);
unsigned ctl_connections(const struct ctl *ctl);
/* Closes every connection and the socket, and removes the socket file. */
void ctl_free(struct ctl *ctl);

/*
 * Parse one request (without its line end). Pure. On success returns 0,
 * the command in command (CTL_COMMAND_MAX + 1 bytes) and a new reference
 * to the args object in *args (an empty object when absent); otherwise
 * -1 and the reason, as sent to the client, in err.
 */
int ctl_parse_request(const char *buf, size_t len, char *command, struct json_object **args,
		      char *err, size_t errlen);

/* ---- pieces of the documented replies, for the daemon's handlers ---- */

struct ctl_path_status {
	char local[CTL_ADDR_MAX];
	char remote[CTL_ADDR_MAX];
	const char *state;		/* "up", "down" */
	bool primary;
	int64_t rtt_ms;			/* < 0: unknown (null) */
};

struct ctl_vip_status {
	const char *name;		/* as in hasyncd.conf; also the cache's VIP name */
	char address[CTL_ADDR_MAX];
	const char *instance;
	const char *role;		/* "active", "standby" */
	const char *vrrp_state;		/* "MASTER", "BACKUP", "FAULT", "STOP", "unknown" */
};

struct ctl_counter {
	const char *name;
	uint64_t value;
};

struct ctl_status {
	const char *node_id;
	const struct ctl_vip_status *vips;
	unsigned n_vips;
	const char *peer_node_id;	/* NULL before the first HELLO */
	const char *peer_state;		/* "up", "connecting", "down" */
	const char *transport;		/* "sctp", "tcp" */
	const struct ctl_path_status *paths;
	unsigned n_paths;
	int64_t sync_lag_ms;		/* < 0: unknown (null) */
	bool in_sync;
	const struct ctl_counter *decode_errors;	/* one per kind, wire_strerror() names */
	unsigned n_decode_errors;
	uint64_t auth_failures;
	uint64_t replays;
	uint64_t records_sent;
	uint64_t records_received;
};

struct ctl_peers {
	const char *peer_node_id;
	const char *peer_state;
	const char *transport;
	const struct ctl_path_status *paths;
	unsigned n_paths;
	uint64_t records_sent;
	uint64_t records_received;
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t retransmissions;
	uint64_t resyncs;
};

/*
 * Fill data with the `status` object. SA counts and the last bulk come
 * from cache (may be NULL: zeros, null), the control error counters from
 * ctl (may be NULL). now_ms is the monotonic clock the cache was fed with.
 */
int ctl_status_json(const struct ctl_status *st, const struct cache *cache,
		    const struct ctl *ctl, uint64_t now_ms, struct json_object *data);
int ctl_peers_json(const struct ctl_peers *p, struct json_object *data);
/* The whole `sas` handler body: honours args {"vip": NAME}; -1 and err for an unknown VIP. */
int ctl_sas_json(const struct cache *cache, struct json_object *args, uint64_t now_ms,
		 struct json_object *data, char *err, size_t errlen);
/*
 * The whole `ike` handler body: {"own": {"ike_sas", "count"}, "held":
 * {...}, "enabled"}: our pluto's IKE SAs and the peer's we hold (either
 * cache NULL: IKE sync off, an empty side). args {"vip": NAME} filters
 * both. Never a key.
 */
struct ike_cache;
int ctl_ike_json(const struct ike_cache *own, const struct ike_cache *held, struct json_object *args,
		 uint64_t now_ms, struct json_object *data, char *err, size_t errlen);

/* ---- client (ctl_client.c) ---- */

/*
 * Send one request and read the reply. Returns 0 and the parsed reply
 * object ({"ok":...}) in *reply, or -1 with a message naming the socket in
 * err when the daemon cannot be reached or its reply is not well-formed.
 */
int ctl_client_request(const char *path, const char *command, struct json_object *args,
		       unsigned timeout_ms, struct json_object **reply, char *err, size_t errlen);
/* hasyncctl itself: returns its exit code; output to out, messages to errout. */
int ctl_client_main(int argc, char **argv, FILE *out, FILE *errout);

#endif
