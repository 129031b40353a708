/* pluto.h: the client of pluto's HA socket (docs/pluto-ha.md): reconnecting reader, and the pure parser of its JSON records. */
#ifndef HASYNC_PLUTO_H
#define HASYNC_PLUTO_H

/*
 * Two halves. pluto_record_parse() is pure: text in, a validated
 * struct pluto_record out; it is what the unit tests and a fuzzer feed,
 * and what the standby uses on an IKE_RECORD from the peer. struct pluto
 * is the socket: it connects to pluto's `ha-socket=` (SOCK_SEQPACKET, one
 * record per message), reconnects with backoff whenever pluto is not
 * there or goes away, and hands every valid record to a callback.
 *
 * Key material: ike_sa and child_sa records carry keys as hex strings.
 * Nothing here logs a value from a record, only member names; every
 * buffer and JSON string that held a record is wiped before it is freed
 * (json_util_free(), json_util.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa.h"

struct event_base;
struct json_object;

#define PLUTO_RECORD_VERSION	1
#define PLUTO_RECORD_MAX	61440	/* bytes: what one IKE_RECORD carries (WIRE_IKE_JSON_MAX) */
#define PLUTO_JSON_DEPTH	16	/* nesting accepted; pluto's records use 4 */
#define PLUTO_NAME_MAX		256	/* connection name, with the NUL */
#define PLUTO_WORD_MAX		32	/* event and the like, with the NUL */

enum pluto_type {
	PLUTO_IKE_SA = 1,	/* an IKE SA established, rekeyed, or in a snapshot */
	PLUTO_SNAPSHOT_END,	/* the snapshot that starts every connection is complete */
	PLUTO_MSGID,		/* an IKE SA's message-ID windows moved */
	PLUTO_DELETE,		/* an IKE SA or a Child SA is gone */
	PLUTO_CHILD_SA,		/* a Child SA established or rekeyed */
	PLUTO_ACTIVATED,	/* pluto's answer to activate (patch 0007) */
	PLUTO_DROPPED,		/* pluto's answer to drop */
};
#define PLUTO_TYPE_MAX	PLUTO_DROPPED

enum pluto_status {
	PLUTO_OK		= 0,
	PLUTO_IGNORED		= 1,	/* a well-formed record of a type we do not know */
	PLUTO_E_TOO_BIG		= -1,	/* above PLUTO_RECORD_MAX */
	PLUTO_E_JSON		= -2,	/* not JSON, nested too deep, a number no double holds, or bytes after it */
	PLUTO_E_NOT_OBJECT	= -3,
	PLUTO_E_VERSION		= -4,	/* version missing, not an integer, or not 1 */
	PLUTO_E_TYPE		= -5,	/* type missing or not a string */
	PLUTO_E_MISSING		= -6,	/* a mandatory member is missing */
	PLUTO_E_MEMBER_TYPE	= -7,	/* a member of the wrong JSON type */
	PLUTO_E_RANGE		= -8,	/* a value out of range or badly formed */
	PLUTO_E_NOMEM		= -9,
};
#define PLUTO_STATUS_MIN	PLUTO_E_NOMEM	/* for callers sizing a counter array */

enum pluto_role {
	PLUTO_ROLE_INITIATOR = 1,
	PLUTO_ROLE_RESPONDER,
};

struct pluto_endpoint {
	struct ha_addr addr;
	uint16_t port;
	bool tcp;		/* RFC 8229 IKE over TCP ("protocol":"TCP") */
};

/* One st_v2_msgid_windows window: -1 means none, as pluto has it. */
struct pluto_window {
	int64_t sent;
	int64_t recv;
	int64_t wip;
};

struct pluto_msgids {
	struct pluto_window initiator;	/* requests this end sends */
	struct pluto_window responder;	/* requests this end answers */
};

/*
 * A validated record. json is the whole document with every member,
 * known or not (the owner of the struct owns it: pluto_record_clear()
 * wipes and frees it). The other fields are what the parser checked and
 * the cache needs; fields a type does not have stay zero.
 */
struct pluto_record {
	enum pluto_type type;
	struct json_object *json;

	/* Set by the client, not by the parser. */
	bool in_snapshot;	/* arrived after connect, before snapshot_end */
	const char *text;	/* the message as received; valid during the callback only */
	size_t text_len;

	/*
	 * ike_sa, msgid: the IKE SA's serial. delete: the deleted SA's.
	 * child_sa: the Child SA's. Serials are pluto's `#N`, local to one
	 * run of one pluto; 0 when a msgid or delete record gives SPIs only.
	 */
	uint64_t serial;
	bool has_spis;		/* always for ike_sa */
	uint64_t spi_i, spi_r;	/* IKE SPIs (of the owning IKE SA for Child records) */

	/* ike_sa */
	char event[PLUTO_WORD_MAX];	/* "established", "snapshot", ...; "" if absent */
	uint64_t rekey_of;		/* serial of the IKE SA this one replaced, 0 if none */
	uint64_t instance;
	char connection[PLUTO_NAME_MAX];
	enum pluto_role role;
	struct pluto_endpoint local, remote;

	/* ike_sa, msgid */
	bool has_msgid;
	struct pluto_msgids msgid;

	/* snapshot_end: ike_sa records in the snapshot, and child_sa records (if it says) */
	uint64_t count;
	bool has_children;
	uint64_t children;

	/* delete: of a Child SA, else of an IKE SA */
	bool child;

	/* child_sa, and delete of a Child SA: the owning IKE SA's serial, 0 if not given */
	uint64_t ike_serial;
	/* child_sa, when present in the record */
	uint32_t spi_in, spi_out;	/* host order */
	uint32_t reqid;

	/*
	 * activated, dropped: the VIP's address is local.addr; the IKE and
	 * Child SAs pluto made live (activated) or deleted (dropped), and
	 * those it could not activate ("failed", 0 if absent).
	 */
	uint64_t n_ike, n_child, n_failed;

	/* On a parse error: the member at fault ("msgid.initiator.sent"), a constant, never a value. */
	const char *bad_member;
};

/*
 * Parse and validate one record of len bytes (no NUL needed). On PLUTO_OK
 * *out is filled and owns out->json; on PLUTO_IGNORED out->json is set
 * too (the caller may look, then clear); on an error *out is zero except
 * bad_member. Every temporary copy of the text is wiped.
 */
int pluto_record_parse(const char *text, size_t len, struct pluto_record *out);
/* Wipe and free the record's JSON, zero the struct. NULL and zero structs are fine. */
void pluto_record_clear(struct pluto_record *rec);

const char *pluto_strerror(int status);
const char *pluto_type_name(enum pluto_type type);

/* ---------------------------------------------------------------- the socket */

struct pluto_config {
	const char *socket_path;	/* pluto's ha-socket= (conf's pluto-ha-socket); copied */
	uint32_t reconnect_min_ms;	/* 0: 200 */
	uint32_t reconnect_max_ms;	/* 0: 5000 */
};

struct pluto_callbacks {
	/*
	 * Connected: a snapshot follows (ike_bulk_begin()). epoch counts
	 * connections from 1, a ready-made snapshot generation.
	 */
	void (*connected)(void *ctx, uint64_t epoch);
	/*
	 * One valid record (snapshot_end included). The client clears it
	 * after the call: keep nothing that points into it, or move
	 * rec->json out and set it to NULL. Callbacks must not free the
	 * client.
	 */
	void (*record)(void *ctx, struct pluto_record *rec);
	/* The connection is gone (pluto stopped, or dropped us); a reconnect is scheduled. */
	void (*disconnected)(void *ctx, const char *why);
};

struct pluto_stats {
	uint64_t connects;
	uint64_t connect_failures;	/* attempts that found no pluto */
	uint64_t disconnects;
	uint64_t snapshots;		/* snapshot_end records received */
	uint64_t records;		/* valid records handed out */
	uint64_t by_type[PLUTO_TYPE_MAX + 1];
	uint64_t ignored;		/* unknown types */
	uint64_t malformed;		/* all parse errors, of which: */
	uint64_t errors[-PLUTO_STATUS_MIN + 1];	/* by -pluto_status */
	uint64_t bytes;
	uint64_t sent;			/* messages sent to pluto (imports, flush, activate, drop) */
	uint64_t send_failures;		/* not sent: not connected, or pluto's buffer full */
	bool connected;
	bool in_snapshot;
	uint64_t epoch;
};

struct pluto;

struct pluto *pluto_new(struct event_base *base, const struct pluto_config *cfg,
			const struct pluto_callbacks *cb, void *ctx);
/* Start connecting (at once; then with backoff until pluto is there). */
int pluto_start(struct pluto *p);
/*
 * Drop the connection and connect again for a fresh snapshot (ours did
 * not add up). The backoff keeps growing until a snapshot is kept, so a
 * snapshot that never adds up is not asked for in a tight loop. The
 * disconnected callback runs.
 */
void pluto_reconnect(struct pluto *p, const char *why);
/* Use an already connected SOCK_SEQPACKET socket instead (tests; fd is ours afterwards). */
int pluto_attach_fd(struct pluto *p, int fd);
void pluto_free(struct pluto *p);

/*
 * Send one message to pluto (docs/pluto-ha.md, the agent -> pluto
 * direction: imports, flush, activate, drop). Never blocks and never
 * waits for an answer: -1 with errno EAGAIN when pluto's buffer is full,
 * ENOTCONN when not connected. The caller wipes text if it held keys.
 */
int pluto_send(struct pluto *p, const char *text, size_t len);

/* The messages themselves (pure): the length written (no NUL counted), or -1 if cap is too small. */
long pluto_msg_flush(char *buf, size_t cap);
/* {"version":1,"type":"activate"|"drop","local":"ADDR"} */
long pluto_msg_vip(char *buf, size_t cap, bool activate, const struct ha_addr *local);
/* A wire IKE_DELETE as pluto's delete: {"version":1,"type":"delete","sa":"ike","spi_i":..,"spi_r":..} */
long pluto_msg_ike_delete(char *buf, size_t cap, uint64_t spi_i, uint64_t spi_r);

int pluto_send_flush(struct pluto *p);
int pluto_send_vip(struct pluto *p, bool activate, const struct ha_addr *local);
int pluto_send_ike_delete(struct pluto *p, uint64_t spi_i, uint64_t spi_r);

/*
 * Hand the whole held IKE cache to pluto as dormant SAs: flush, then
 * every ike_export() document (each IKE SA, then its Child SAs); the IKE
 * SAs sent move from ESTABLISHED to DORMANT. Returns the documents sent,
 * or -1 with errno (a send failed: the import is incomplete, send it
 * again later). *skipped (may be NULL): SAs too big to export.
 */
struct ike_cache;
long pluto_import(struct pluto *p, struct ike_cache *held, size_t *skipped);

bool pluto_is_connected(const struct pluto *p);
void pluto_get_stats(const struct pluto *p, struct pluto_stats *out);

#endif
