/* pluto.c: the client of pluto's HA socket: connect and reconnect, one JSON record per message, validated, to a callback. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "ike.h"
#include "json_util.h"
#include "log.h"
#include "pluto.h"

/*
 * Members are looked up by name and checked for their JSON type and range
 * before anything is copied; a record either validates whole or is
 * refused with the name of the first member at fault. Members we do not
 * know, and optional ones set to null, are kept in the document and
 * otherwise ignored: docs/pluto-ha.md says readers skip what they do not
 * know, and newer patches add members.
 */

#define SERIAL_MAX	((int64_t)1 << 62)
#define MSGID_MAX	((int64_t)UINT32_MAX)	/* IKEv2 message IDs are 32 bits */
#define COUNT_MAX	((int64_t)1 << 62)

/* ---------------------------------------------------------------- members */

struct pctx {
	const char *bad;	/* the member at fault: a constant */
};

static int fail(struct pctx *c, const char *member, int status)
{
	c->bad = member;
	return status;
}

/* A member of type t: PLUTO_OK with *out NULL when optional and absent (or null). */
static int member(struct pctx *c, struct json_object *o, const char *name, const char *path,
		  enum json_type t, bool required, struct json_object **out)
{
	struct json_object *v = NULL;

	*out = NULL;
	if (!json_object_object_get_ex(o, name, &v) || v == NULL) {
		if (required)
			return fail(c, path, PLUTO_E_MISSING);
		return PLUTO_OK;
	}
	if (!json_object_is_type(v, t))
		return fail(c, path, PLUTO_E_MEMBER_TYPE);
	*out = v;
	return PLUTO_OK;
}

static int get_int(struct pctx *c, struct json_object *o, const char *name, const char *path,
		   bool required, int64_t min, int64_t max, int64_t *out, bool *present)
{
	struct json_object *v;
	int64_t x;
	int rc;

	if (present)
		*present = false;
	if ((rc = member(c, o, name, path, json_type_int, required, &v)) != PLUTO_OK || v == NULL)
		return rc;
	/* json-c clamps what does not fit an int64 to INT64_MAX: max is below it. */
	x = json_object_get_int64(v);
	if (x < min || x > max)
		return fail(c, path, PLUTO_E_RANGE);
	*out = x;
	if (present)
		*present = true;
	return PLUTO_OK;
}

static int get_serial(struct pctx *c, struct json_object *o, const char *name, bool required,
		      uint64_t *out, bool *present)
{
	int64_t x = 0;
	int rc = get_int(c, o, name, name, required, 1, SERIAL_MAX, &x, present);

	*out = (uint64_t)x;
	return rc;
}

/* A string member; *s NULL when optional and absent. No NUL inside. */
static int get_string(struct pctx *c, struct json_object *o, const char *name, const char *path,
		      bool required, const char **s, size_t *len)
{
	struct json_object *v;
	int rc;

	*s = NULL;
	*len = 0;
	if ((rc = member(c, o, name, path, json_type_string, required, &v)) != PLUTO_OK || v == NULL)
		return rc;
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	if (memchr(*s, '\0', *len))
		return fail(c, path, PLUTO_E_RANGE);
	return PLUTO_OK;
}

/* Into a fixed array: 1..cap-1 bytes. */
static int copy_string(struct pctx *c, struct json_object *o, const char *name, bool required,
		       char *dst, size_t cap)
{
	const char *s;
	size_t len;
	int rc;

	if ((rc = get_string(c, o, name, name, required, &s, &len)) != PLUTO_OK || s == NULL)
		return rc;
	if (len == 0 || len >= cap)
		return fail(c, name, PLUTO_E_RANGE);
	memcpy(dst, s, len);
	dst[len] = '\0';
	return PLUTO_OK;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Exactly digits hex digits, not all zero. */
static int get_hex(struct pctx *c, struct json_object *o, const char *name, bool required,
		   size_t digits, uint64_t *out, bool *present)
{
	const char *s;
	size_t len;
	uint64_t v = 0;
	int rc;

	*present = false;
	if ((rc = get_string(c, o, name, name, required, &s, &len)) != PLUTO_OK || s == NULL)
		return rc;
	if (len != digits)
		return fail(c, name, PLUTO_E_RANGE);
	for (size_t i = 0; i < len; i++) {
		int h = hexval(s[i]);

		if (h < 0)
			return fail(c, name, PLUTO_E_RANGE);
		v = v << 4 | (uint64_t)h;
	}
	if (v == 0)
		return fail(c, name, PLUTO_E_RANGE);
	*out = v;
	*present = true;
	return PLUTO_OK;
}

/* spi_i and spi_r: both or neither; required for ike_sa. */
static int get_spis(struct pctx *c, struct json_object *o, bool required, struct pluto_record *r)
{
	bool has_i, has_r;
	int rc;

	if ((rc = get_hex(c, o, "spi_i", required, 16, &r->spi_i, &has_i)) != PLUTO_OK ||
	    (rc = get_hex(c, o, "spi_r", required || has_i, 16, &r->spi_r, &has_r)) != PLUTO_OK)
		return rc;
	if (has_r && !has_i)
		return fail(c, "spi_i", PLUTO_E_MISSING);
	r->has_spis = has_i;
	return PLUTO_OK;
}

static const char *const endpoint_paths[2][4] = {
	{ "local", "local.address", "local.port", "local.protocol" },
	{ "remote", "remote.address", "remote.port", "remote.protocol" },
};

static int parse_addr(const char *s, size_t len, struct ha_addr *a)
{
	char text[INET6_ADDRSTRLEN];

	memset(a, 0, sizeof(*a));
	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(AF_INET, text, &a->v4) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, text, &a->v6) == 1)
		a->family = AF_INET6;
	else
		return -1;
	return 0;
}

static int get_endpoint(struct pctx *c, struct json_object *o, int which, struct pluto_endpoint *ep)
{
	const char *const *path = endpoint_paths[which];
	struct json_object *e;
	const char *s;
	size_t len;
	int64_t port;
	int rc;

	if ((rc = member(c, o, path[0], path[0], json_type_object, true, &e)) != PLUTO_OK)
		return rc;
	if ((rc = get_string(c, e, "address", path[1], true, &s, &len)) != PLUTO_OK)
		return rc;
	if (parse_addr(s, len, &ep->addr) != 0)
		return fail(c, path[1], PLUTO_E_RANGE);
	if ((rc = get_int(c, e, "port", path[2], true, 0, 65535, &port, NULL)) != PLUTO_OK)
		return rc;
	ep->port = (uint16_t)port;
	if ((rc = get_string(c, e, "protocol", path[3], false, &s, &len)) != PLUTO_OK)
		return rc;
	ep->tcp = s != NULL && len == 3 && strncasecmp(s, "TCP", 3) == 0;
	return PLUTO_OK;
}

static const char *const window_paths[2][4] = {
	{ "msgid.initiator", "msgid.initiator.sent", "msgid.initiator.recv", "msgid.initiator.wip" },
	{ "msgid.responder", "msgid.responder.sent", "msgid.responder.recv", "msgid.responder.wip" },
};

static int get_msgids(struct pctx *c, struct json_object *o, struct pluto_record *r)
{
	struct json_object *m, *w;
	int rc;

	if ((rc = member(c, o, "msgid", "msgid", json_type_object, true, &m)) != PLUTO_OK)
		return rc;
	for (int i = 0; i < 2; i++) {
		const char *const *path = window_paths[i];
		struct pluto_window *win = i == 0 ? &r->msgid.initiator : &r->msgid.responder;

		if ((rc = member(c, m, i == 0 ? "initiator" : "responder", path[0],
				 json_type_object, true, &w)) != PLUTO_OK ||
		    (rc = get_int(c, w, "sent", path[1], true, -1, MSGID_MAX, &win->sent, NULL)) != PLUTO_OK ||
		    (rc = get_int(c, w, "recv", path[2], true, -1, MSGID_MAX, &win->recv, NULL)) != PLUTO_OK ||
		    (rc = get_int(c, w, "wip", path[3], true, -1, MSGID_MAX, &win->wip, NULL)) != PLUTO_OK)
			return rc;
	}
	r->has_msgid = true;
	return PLUTO_OK;
}

/* ---------------------------------------------------------------- record types */

static int parse_ike_sa(struct pctx *c, struct json_object *o, struct pluto_record *r)
{
	const char *s, *ids[] = { "local_id", "remote_id" };
	struct json_object *v;
	size_t len;
	int64_t x = 0;
	int rc;

	if ((rc = get_serial(c, o, "serial", true, &r->serial, NULL)) != PLUTO_OK)
		return rc;
	if ((rc = get_int(c, o, "rekey_of", "rekey_of", false, 0, SERIAL_MAX, &x, NULL)) != PLUTO_OK)
		return rc;
	r->rekey_of = (uint64_t)x;
	x = 0;
	if ((rc = get_int(c, o, "instance", "instance", false, 0, SERIAL_MAX, &x, NULL)) != PLUTO_OK)
		return rc;
	r->instance = (uint64_t)x;
	if ((rc = copy_string(c, o, "connection", true, r->connection, sizeof(r->connection))) != PLUTO_OK)
		return rc;
	if ((rc = get_string(c, o, "role", "role", true, &s, &len)) != PLUTO_OK)
		return rc;
	if (len == 9 && !memcmp(s, "initiator", 9))
		r->role = PLUTO_ROLE_INITIATOR;
	else if (len == 9 && !memcmp(s, "responder", 9))
		r->role = PLUTO_ROLE_RESPONDER;
	else
		return fail(c, "role", PLUTO_E_RANGE);
	if ((rc = get_spis(c, o, true, r)) != PLUTO_OK ||
	    (rc = get_endpoint(c, o, 0, &r->local)) != PLUTO_OK ||
	    (rc = get_endpoint(c, o, 1, &r->remote)) != PLUTO_OK ||
	    (rc = get_msgids(c, o, r)) != PLUTO_OK)
		return rc;
	/* Shown by `hasyncctl ike`, so at least of the right type. */
	for (int i = 0; i < 2; i++)
		if ((rc = get_string(c, o, ids[i], ids[i], false, &s, &len)) != PLUTO_OK)
			return rc;
	return member(c, o, "algs", "algs", json_type_object, false, &v);
}

static int parse_msgid(struct pctx *c, struct json_object *o, struct pluto_record *r)
{
	bool has_serial;
	int rc;

	if ((rc = get_serial(c, o, "serial", false, &r->serial, &has_serial)) != PLUTO_OK ||
	    (rc = get_spis(c, o, false, r)) != PLUTO_OK)
		return rc;
	if (!has_serial && !r->has_spis)
		return fail(c, "serial", PLUTO_E_MISSING);
	return get_msgids(c, o, r);
}

/*
 * Of an IKE SA: by SPIs or serial. Of a Child SA: by serial, with its IKE
 * SA's serial or SPIs when given (a faster lookup).
 */
static int parse_delete(struct pctx *c, struct json_object *o, bool child, struct pluto_record *r)
{
	const char *s;
	size_t len;
	bool has_serial;
	int64_t x = 0;
	int rc;

	r->type = PLUTO_DELETE;
	r->child = child;
	if ((rc = get_serial(c, o, "serial", child, &r->serial, &has_serial)) != PLUTO_OK ||
	    (rc = get_spis(c, o, false, r)) != PLUTO_OK)
		return rc;
	if (!child && !has_serial && !r->has_spis)
		return fail(c, "serial", PLUTO_E_MISSING);
	if (child) {
		if ((rc = get_int(c, o, "ike_serial", "ike_serial", false, 1, SERIAL_MAX, &x, NULL)) != PLUTO_OK)
			return rc;
		r->ike_serial = (uint64_t)x;
	}
	return get_string(c, o, "reason", "reason", false, &s, &len);
}

/* "sa":"ike"|"child"; without it, a record naming an owning IKE SA is a Child's. */
static int parse_delete_record(struct pctx *c, struct json_object *o, struct pluto_record *r)
{
	struct json_object *v;
	const char *s;
	size_t len;
	int rc;

	if ((rc = get_string(c, o, "sa", "sa", false, &s, &len)) != PLUTO_OK)
		return rc;
	if (s == NULL)
		return parse_delete(c, o, json_object_object_get_ex(o, "ike_serial", &v), r);
	if (len == 3 && !memcmp(s, "ike", 3))
		return parse_delete(c, o, false, r);
	if (len == 5 && !memcmp(s, "child", 5))
		return parse_delete(c, o, true, r);
	return fail(c, "sa", PLUTO_E_RANGE);
}

static int parse_child_sa(struct pctx *c, struct json_object *o, struct pluto_record *r)
{
	uint64_t spi;
	bool has;
	int64_t x = 0;
	int rc;

	if ((rc = get_serial(c, o, "serial", true, &r->serial, NULL)) != PLUTO_OK ||
	    (rc = get_int(c, o, "ike_serial", "ike_serial", false, 1, SERIAL_MAX, &x, NULL)) != PLUTO_OK ||
	    (rc = get_spis(c, o, false, r)) != PLUTO_OK)
		return rc;
	r->ike_serial = (uint64_t)x;
	if (r->ike_serial == 0 && !r->has_spis)
		return fail(c, "ike_serial", PLUTO_E_MISSING);
	if ((rc = get_hex(c, o, "spi_in", false, 8, &spi, &has)) != PLUTO_OK)
		return rc;
	r->spi_in = has ? (uint32_t)spi : 0;
	if ((rc = get_hex(c, o, "spi_out", false, 8, &spi, &has)) != PLUTO_OK)
		return rc;
	r->spi_out = has ? (uint32_t)spi : 0;
	x = 0;
	if ((rc = get_int(c, o, "reqid", "reqid", false, 0, UINT32_MAX, &x, NULL)) != PLUTO_OK)
		return rc;
	r->reqid = (uint32_t)x;
	x = 0;
	if ((rc = get_int(c, o, "rekey_of", "rekey_of", false, 0, SERIAL_MAX, &x, NULL)) != PLUTO_OK)
		return rc;
	r->rekey_of = (uint64_t)x;
	return copy_string(c, o, "connection", false, r->connection, sizeof(r->connection));
}

/*
 * pluto's answers to activate and drop (patch 0007): the VIP's address,
 * then what it turned live or deleted. "failed" only in activated.
 */
static int parse_vip_reply(struct pctx *c, struct json_object *o, struct pluto_record *r)
{
	const char *s;
	size_t len;
	int64_t x = 0;
	int rc;

	if ((rc = get_string(c, o, "local", "local", true, &s, &len)) != PLUTO_OK)
		return rc;
	if (parse_addr(s, len, &r->local.addr) != 0)
		return fail(c, "local", PLUTO_E_RANGE);
	if ((rc = get_int(c, o, "ike", "ike", true, 0, COUNT_MAX, &x, NULL)) != PLUTO_OK)
		return rc;
	r->n_ike = (uint64_t)x;
	x = 0;
	if ((rc = get_int(c, o, "child", "child", true, 0, COUNT_MAX, &x, NULL)) != PLUTO_OK)
		return rc;
	r->n_child = (uint64_t)x;
	x = 0;
	if (r->type == PLUTO_ACTIVATED &&
	    (rc = get_int(c, o, "failed", "failed", false, 0, COUNT_MAX, &x, NULL)) != PLUTO_OK)
		return rc;
	r->n_failed = (uint64_t)x;
	return PLUTO_OK;
}

static bool event_is_delete(const char *event)
{
	return !strcmp(event, "deleted") || !strcmp(event, "delete");
}

static int parse_body(struct pctx *c, struct json_object *o, struct pluto_record *r)
{
	const char *type;
	size_t len;
	int64_t x = 0;
	int rc;

	if (get_int(c, o, "version", "version", true, PLUTO_RECORD_VERSION, PLUTO_RECORD_VERSION,
		    &x, NULL) != PLUTO_OK)
		return fail(c, "version", PLUTO_E_VERSION);
	if (get_string(c, o, "type", "type", true, &type, &len) != PLUTO_OK)
		return fail(c, "type", PLUTO_E_TYPE);
	if ((rc = copy_string(c, o, "event", false, r->event, sizeof(r->event))) != PLUTO_OK)
		return rc;

	if (!strcmp(type, "ike_sa")) {
		r->type = PLUTO_IKE_SA;
		if (event_is_delete(r->event))
			return parse_delete(c, o, false, r);
		return parse_ike_sa(c, o, r);
	}
	if (!strcmp(type, "child_sa")) {
		r->type = PLUTO_CHILD_SA;
		if (event_is_delete(r->event))
			return parse_delete(c, o, true, r);
		return parse_child_sa(c, o, r);
	}
	if (!strcmp(type, "snapshot_end")) {
		r->type = PLUTO_SNAPSHOT_END;
		if ((rc = get_int(c, o, "count", "count", true, 0, COUNT_MAX, &x, NULL)) != PLUTO_OK)
			return rc;
		r->count = (uint64_t)x;
		x = 0;
		if ((rc = get_int(c, o, "children", "children", false, 0, COUNT_MAX, &x,
				  &r->has_children)) != PLUTO_OK)
			return rc;
		r->children = (uint64_t)x;
		return PLUTO_OK;
	}
	if (!strcmp(type, "msgid")) {
		r->type = PLUTO_MSGID;
		return parse_msgid(c, o, r);
	}
	if (!strcmp(type, "delete"))
		return parse_delete_record(c, o, r);
	if (!strcmp(type, "activated") || !strcmp(type, "dropped")) {
		r->type = type[0] == 'a' ? PLUTO_ACTIVATED : PLUTO_DROPPED;
		return parse_vip_reply(c, o, r);
	}
	return PLUTO_IGNORED;
}

int pluto_record_parse(const char *text, size_t len, struct pluto_record *out)
{
	struct pctx c = { NULL };
	struct json_object *o;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > PLUTO_RECORD_MAX)
		return PLUTO_E_TOO_BIG;
	if ((o = json_util_parse(text, len, PLUTO_JSON_DEPTH, &rc)) == NULL)
		return rc == JSON_UTIL_E_NOMEM ? PLUTO_E_NOMEM : PLUTO_E_JSON;
	if (!json_object_is_type(o, json_type_object)) {
		json_util_free(o);
		return PLUTO_E_NOT_OBJECT;
	}
	rc = parse_body(&c, o, out);
	if (rc < 0) {
		json_util_free(o);
		explicit_bzero(out, sizeof(*out));
		out->bad_member = c.bad;
		return rc;
	}
	out->json = o;
	return rc;
}

void pluto_record_clear(struct pluto_record *rec)
{
	if (rec == NULL)
		return;
	json_util_free(rec->json);
	explicit_bzero(rec, sizeof(*rec));
}

const char *pluto_strerror(int status)
{
	switch (status) {
	case PLUTO_OK:			return "ok";
	case PLUTO_IGNORED:		return "unknown record type, ignored";
	case PLUTO_E_TOO_BIG:		return "record too big";
	case PLUTO_E_JSON:		return "not a JSON document";
	case PLUTO_E_NOT_OBJECT:	return "not a JSON object";
	case PLUTO_E_VERSION:		return "unsupported record version";
	case PLUTO_E_TYPE:		return "record type missing";
	case PLUTO_E_MISSING:		return "mandatory member missing";
	case PLUTO_E_MEMBER_TYPE:	return "member of the wrong type";
	case PLUTO_E_RANGE:		return "value out of range";
	case PLUTO_E_NOMEM:		return "out of memory";
	default:			return "unknown pluto status";
	}
}

const char *pluto_type_name(enum pluto_type type)
{
	switch (type) {
	case PLUTO_IKE_SA:		return "ike_sa";
	case PLUTO_SNAPSHOT_END:	return "snapshot_end";
	case PLUTO_MSGID:		return "msgid";
	case PLUTO_DELETE:		return "delete";
	case PLUTO_CHILD_SA:		return "child_sa";
	case PLUTO_ACTIVATED:		return "activated";
	case PLUTO_DROPPED:		return "dropped";
	default:			return "unknown";
	}
}

/* ---------------------------------------------------------------- the socket */

#define RECONNECT_MIN_MS	200
#define RECONNECT_MAX_MS	5000
#define READ_BURST		64	/* messages per wake-up, then back to the loop */
#define LOG_INTERVAL_MS		1000	/* malformed records: one log line a second at most */
#define PLUTO_SNDBUF		(32 << 20)	/* doubled by the kernel, as pluto's own */

struct pluto {
	struct event_base *base;
	struct pluto_callbacks cb;
	void *ctx;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t min_ms, max_ms, backoff_ms;
	int fd;
	struct event *rd;
	struct event *retry;
	char *buf;			/* PLUTO_RECORD_MAX + 1: one more byte shows an oversized message */
	bool absent_logged;		/* "no pluto yet" said once per outage */
	uint64_t last_log_ms;
	uint64_t unlogged;
	struct pluto_stats st;
};

static uint64_t pluto_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pluto_schedule_retry(struct pluto *p)
{
	struct timeval tv;

	if (p->path[0] == '\0')
		return;		/* an attached socket has nowhere to reconnect to */
	tv.tv_sec = p->backoff_ms / 1000;
	tv.tv_usec = (suseconds_t)(p->backoff_ms % 1000) * 1000;
	evtimer_add(p->retry, &tv);
	/* Doubling until a snapshot completes: a pluto that accepts and drops
	 * us at once is not hammered. */
	p->backoff_ms = p->backoff_ms * 2 > p->max_ms ? p->max_ms : p->backoff_ms * 2;
}

static void pluto_drop(struct pluto *p, const char *why)
{
	if (p->fd < 0)
		return;
	event_free(p->rd);
	p->rd = NULL;
	close(p->fd);
	p->fd = -1;
	p->st.connected = false;
	p->st.in_snapshot = false;
	p->st.disconnects++;
	p->absent_logged = false;
	log_warn("pluto: HA socket %s: connection lost: %s", p->path[0] ? p->path : "(attached)", why);
	if (p->cb.disconnected)
		p->cb.disconnected(p->ctx, why);
	if (p->fd < 0 && !evtimer_pending(p->retry, NULL))
		pluto_schedule_retry(p);
}

/* With the backoff as it stands: a snapshot that never adds up is not asked for five times a second. */
void pluto_reconnect(struct pluto *p, const char *why)
{
	pluto_drop(p, why);
}

static void pluto_log_malformed(struct pluto *p, int rc, const char *member)
{
	uint64_t now = pluto_now_ms();

	if (p->last_log_ms && now - p->last_log_ms < LOG_INTERVAL_MS) {
		p->unlogged++;
		return;
	}
	/* The member's name only: its value may be a key. */
	log_warn("pluto: malformed record ignored: %s%s%s (%" PRIu64 " more since the last report)",
		 pluto_strerror(rc), member ? ": " : "", member ? member : "", p->unlogged);
	p->last_log_ms = now;
	p->unlogged = 0;
}

static void pluto_handle(struct pluto *p, size_t n, bool truncated)
{
	struct pluto_record rec;
	int rc;

	p->st.bytes += n;
	if (truncated || n > PLUTO_RECORD_MAX) {
		rc = PLUTO_E_TOO_BIG;
		memset(&rec, 0, sizeof(rec));
	} else {
		rc = pluto_record_parse(p->buf, n, &rec);
	}
	if (rc < 0) {
		p->st.malformed++;
		p->st.errors[-rc]++;
		pluto_log_malformed(p, rc, rec.bad_member);
		return;
	}
	if (rc == PLUTO_IGNORED) {
		p->st.ignored++;
		pluto_record_clear(&rec);
		return;
	}
	rec.in_snapshot = p->st.in_snapshot;
	rec.text = p->buf;
	rec.text_len = n;
	if (rec.type == PLUTO_SNAPSHOT_END) {
		p->st.in_snapshot = false;
		p->st.snapshots++;
	}
	p->st.records++;
	p->st.by_type[rec.type]++;
	if (p->cb.record)
		p->cb.record(p->ctx, &rec);
	/* A complete snapshot the caller kept (it did not reconnect): healthy. */
	if (rec.type == PLUTO_SNAPSHOT_END && p->fd >= 0)
		p->backoff_ms = p->min_ms;
	pluto_record_clear(&rec);
}

static void pluto_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct pluto *p = arg;

	(void)fd;
	(void)what;
	for (int i = 0; i < READ_BURST && p->fd >= 0; i++) {
		struct iovec iov = { p->buf, PLUTO_RECORD_MAX + 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(p->fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				pluto_drop(p, strerror(errno));
			return;
		}
		if (n == 0) {
			/* pluto never sends an empty record: this is the end. */
			pluto_drop(p, "closed by pluto");
			return;
		}
		pluto_handle(p, (size_t)n, (mh.msg_flags & MSG_TRUNC) != 0);
		explicit_bzero(p->buf, (size_t)n > PLUTO_RECORD_MAX + 1 ? PLUTO_RECORD_MAX + 1 : (size_t)n);
	}
}

/*
 * An import is written in one go (the whole held cache after every
 * snapshot): room for ~25,000 documents of 1.3 KB, as pluto gives us
 * (patch 0006), so a busy pluto does not make us drop any.
 */
static void pluto_sndbuf(int fd)
{
	int sz = PLUTO_SNDBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int pluto_adopt(struct pluto *p, int fd)
{
	pluto_sndbuf(fd);
	p->rd = event_new(p->base, fd, EV_READ | EV_PERSIST, pluto_on_read, p);
	if (p->rd == NULL || event_add(p->rd, NULL) != 0) {
		if (p->rd)
			event_free(p->rd);
		p->rd = NULL;
		close(fd);
		return -1;
	}
	p->fd = fd;
	p->st.connected = true;
	p->st.in_snapshot = true;
	p->st.connects++;
	p->st.epoch++;
	p->absent_logged = false;
	log_info("pluto: connected to the HA socket %s (connection %" PRIu64 "); a snapshot follows",
		 p->path[0] ? p->path : "(attached)", p->st.epoch);
	if (p->cb.connected)
		p->cb.connected(p->ctx, p->st.epoch);
	return 0;
}

/* Keys go both ways on this socket: only root (or we ourselves) may serve it. */
static int pluto_check_peer(int fd, char *why, size_t len)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
		snprintf(why, len, "SO_PEERCRED: %s", strerror(errno));
		return -1;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		snprintf(why, len, "served by uid %u, not root", (unsigned)cred.uid);
		return -1;
	}
	return 0;
}

static void pluto_connect(struct pluto *p)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char why[128];
	int fd;

	memcpy(sun.sun_path, p->path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, sizeof(why), "socket: %s", strerror(errno));
	} else if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		/* ENOENT, ECONNREFUSED: pluto not started yet, or restarting. */
		snprintf(why, sizeof(why), "%s", strerror(errno));
	} else if (pluto_check_peer(fd, why, sizeof(why)) == 0) {
		if (pluto_adopt(p, fd) == 0)
			return;
		fd = -1;
		snprintf(why, sizeof(why), "cannot watch the socket");
	}
	if (fd >= 0)
		close(fd);
	p->st.connect_failures++;
	if (!p->absent_logged) {
		log_info("pluto: no HA socket at %s yet (%s); retrying with backoff", p->path, why);
		p->absent_logged = true;
	}
	pluto_schedule_retry(p);
}

static void pluto_on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pluto_connect(arg);
}

struct pluto *pluto_new(struct event_base *base, const struct pluto_config *cfg,
			const struct pluto_callbacks *cb, void *ctx)
{
	struct pluto *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->base = base;
	p->cb = *cb;
	p->ctx = ctx;
	p->fd = -1;
	if (cfg->socket_path != NULL) {
		if (strlen(cfg->socket_path) >= sizeof(p->path)) {
			free(p);
			errno = ENAMETOOLONG;
			return NULL;
		}
		strcpy(p->path, cfg->socket_path);
	}
	p->min_ms = cfg->reconnect_min_ms ? cfg->reconnect_min_ms : RECONNECT_MIN_MS;
	p->max_ms = cfg->reconnect_max_ms ? cfg->reconnect_max_ms : RECONNECT_MAX_MS;
	if (p->max_ms < p->min_ms)
		p->max_ms = p->min_ms;
	p->backoff_ms = p->min_ms;
	p->buf = malloc(PLUTO_RECORD_MAX + 1);
	p->retry = evtimer_new(base, pluto_on_retry, p);
	if (p->buf == NULL || p->retry == NULL) {
		pluto_free(p);
		return NULL;
	}
	return p;
}

int pluto_start(struct pluto *p)
{
	if (p->path[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (p->fd < 0 && !evtimer_pending(p->retry, NULL))
		pluto_connect(p);
	return 0;
}

int pluto_attach_fd(struct pluto *p, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (p->fd >= 0 || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		close(fd);
		errno = p->fd >= 0 ? EISCONN : errno;
		return -1;
	}
	return pluto_adopt(p, fd);
}

void pluto_free(struct pluto *p)
{
	if (p == NULL)
		return;
	if (p->rd)
		event_free(p->rd);
	if (p->fd >= 0)
		close(p->fd);
	if (p->retry)
		event_free(p->retry);
	if (p->buf) {
		explicit_bzero(p->buf, PLUTO_RECORD_MAX + 1);
		free(p->buf);
	}
	free(p);
}

int pluto_send(struct pluto *p, const char *text, size_t len)
{
	ssize_t n;

	if (p->fd < 0) {
		p->st.send_failures++;
		errno = ENOTCONN;
		return -1;
	}
	n = send(p->fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		p->st.send_failures++;
		return -1;
	}
	if ((size_t)n != len) {
		errno = EMSGSIZE;	/* not for SOCK_SEQPACKET, which is atomic */
		p->st.send_failures++;
		return -1;
	}
	p->st.sent++;
	return 0;
}

/* ---------------------------------------------------------------- messages to pluto */

static int msg_addr(char *text, size_t cap, const struct ha_addr *a)
{
	if (a->family == AF_INET)
		return inet_ntop(AF_INET, &a->v4, text, (socklen_t)cap) ? 0 : -1;
	if (a->family == AF_INET6)
		return inet_ntop(AF_INET6, &a->v6, text, (socklen_t)cap) ? 0 : -1;
	return -1;
}

static long msg_done(int n, size_t cap)
{
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

long pluto_msg_flush(char *buf, size_t cap)
{
	return msg_done(snprintf(buf, cap, "{\"version\":1,\"type\":\"flush\"}"), cap);
}

long pluto_msg_vip(char *buf, size_t cap, bool activate, const struct ha_addr *local)
{
	char text[INET6_ADDRSTRLEN];

	if (msg_addr(text, sizeof(text), local) != 0)
		return -1;
	return msg_done(snprintf(buf, cap, "{\"version\":1,\"type\":\"%s\",\"local\":\"%s\"}",
				 activate ? "activate" : "drop", text), cap);
}

long pluto_msg_ike_delete(char *buf, size_t cap, uint64_t spi_i, uint64_t spi_r)
{
	return msg_done(snprintf(buf, cap,
				 "{\"version\":1,\"type\":\"delete\",\"sa\":\"ike\","
				 "\"spi_i\":\"%016" PRIx64 "\",\"spi_r\":\"%016" PRIx64 "\"}",
				 spi_i, spi_r), cap);
}

int pluto_send_flush(struct pluto *p)
{
	char buf[64];
	long n = pluto_msg_flush(buf, sizeof(buf));

	return n < 0 ? -1 : pluto_send(p, buf, (size_t)n);
}

int pluto_send_vip(struct pluto *p, bool activate, const struct ha_addr *local)
{
	char buf[128];
	long n = pluto_msg_vip(buf, sizeof(buf), activate, local);

	if (n < 0) {
		errno = EINVAL;
		return -1;
	}
	return pluto_send(p, buf, (size_t)n);
}

int pluto_send_ike_delete(struct pluto *p, uint64_t spi_i, uint64_t spi_r)
{
	char buf[128];
	long n = pluto_msg_ike_delete(buf, sizeof(buf), spi_i, spi_r);

	return n < 0 ? -1 : pluto_send(p, buf, (size_t)n);
}

struct import_ctx {
	struct pluto *p;
	uint64_t (*spis)[2];		/* IKE SAs handed over, to mark DORMANT after the walk */
	size_t n, cap;
	int err;
};

static int import_one(void *ctx, const struct ike_entry *e, const struct ike_child *child,
		      const char *json, size_t len)
{
	struct import_ctx *x = ctx;

	if (pluto_send(x->p, json, len) != 0) {
		x->err = errno;
		return 1;
	}
	if (child == NULL && x->n < x->cap) {
		x->spis[x->n][0] = e->spi_i;
		x->spis[x->n][1] = e->spi_r;
		x->n++;
	}
	return 0;
}

long pluto_import(struct pluto *p, struct ike_cache *held, size_t *skipped)
{
	struct import_ctx x;
	long n;

	if (skipped)
		*skipped = 0;
	if (pluto_send_flush(p) != 0)
		return -1;
	memset(&x, 0, sizeof(x));
	x.p = p;
	x.cap = ike_count(held);
	if (x.cap && (x.spis = calloc(x.cap, sizeof(*x.spis))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	n = ike_export(held, false, IKE_VIP_NONE, import_one, &x, skipped);
	/* An SA our pluto made live on promotion stays ACTIVE: pluto ignores
	 * imports for live SPIs, and its own records say the rest. */
	for (size_t i = 0; i < x.n; i++) {
		const struct ike_entry *e = ike_lookup(held, x.spis[i][0], x.spis[i][1]);

		if (e != NULL && e->state == IKE_STATE_ESTABLISHED)
			ike_set_state(held, x.spis[i][0], x.spis[i][1], IKE_STATE_DORMANT);
	}
	free(x.spis);
	if (n < 0 && x.err)
		errno = x.err;
	return n;
}

bool pluto_is_connected(const struct pluto *p)
{
	return p->fd >= 0;
}

void pluto_get_stats(const struct pluto *p, struct pluto_stats *out)
{
	*out = p->st;
}
