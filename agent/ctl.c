/* ctl.c: the control socket server (docs/control.md): root-only Unix socket, one JSON line in, one out, handlers registered by the daemon. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include "cache.h"
#include "ctl.h"
#include "ike.h"
#include "log.h"

#define CTL_HANDLERS_MAX	32
#define CTL_JSON_DEPTH		16

/* Commands of the interface the daemon may not implement yet. */
static const char *const ctl_reserved[] = { "promote", "demote", "metrics" };

struct ctl_handler {
	char command[CTL_COMMAND_MAX + 1];
	ctl_handler_fn fn;
	void *ctx;
};

struct ctl_conn {
	struct ctl *ctl;
	struct bufferevent *bev;
	struct ctl_conn *next;
	struct ctl_conn **pprev;
	bool replied;
};

struct ctl {
	struct event_base *base;
	struct evconnlistener *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool own_path;
	struct ctl_handler handlers[CTL_HANDLERS_MAX];
	unsigned n_handlers;
	struct ctl_conn *conns;
	unsigned n_conns;
	unsigned timeout_ms;
	struct ctl_stats st;
};

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- requests (pure) ---- */

static bool command_valid(const char *s, size_t n)
{
	if (n == 0 || n > CTL_COMMAND_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

int ctl_parse_request(const char *buf, size_t len, char *command, struct json_object **args,
		      char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *req, *cmd, *a;
	size_t end;
	const char *s;

	*args = NULL;
	command[0] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0) {
		errf(err, errlen, "bad request: empty");
		return -1;
	}
	if (len >= CTL_REQUEST_MAX) {
		errf(err, errlen, "request too large (max %d bytes)", CTL_REQUEST_MAX);
		return -1;
	}
	if (memchr(buf, '\0', len) != NULL) {
		errf(err, errlen, "bad request: NUL byte");
		return -1;
	}
	if ((tok = json_tokener_new_ex(CTL_JSON_DEPTH)) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	req = json_tokener_parse_ex(tok, buf, (int)len);
	if (req == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		errf(err, errlen, "bad request: not JSON (%s)",
		     e == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(e));
		json_object_put(req);
		json_tokener_free(tok);
		return -1;
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; end < len; end++) {
		if (buf[end] != ' ' && buf[end] != '\t') {
			errf(err, errlen, "bad request: data after the JSON object");
			json_object_put(req);
			return -1;
		}
	}
	if (!json_object_is_type(req, json_type_object)) {
		errf(err, errlen, "bad request: not a JSON object");
		json_object_put(req);
		return -1;
	}
	if (!json_object_object_get_ex(req, "command", &cmd) || !json_object_is_type(cmd, json_type_string)) {
		errf(err, errlen, "bad request: no \"command\" string");
		json_object_put(req);
		return -1;
	}
	s = json_object_get_string(cmd);
	if (!command_valid(s, (size_t)json_object_get_string_len(cmd))) {
		errf(err, errlen, "bad request: \"command\" must be 1-%d of a-z 0-9 - _", CTL_COMMAND_MAX);
		json_object_put(req);
		return -1;
	}
	if (json_object_object_get_ex(req, "args", &a) && a != NULL) {
		if (!json_object_is_type(a, json_type_object)) {
			errf(err, errlen, "bad request: \"args\" must be an object");
			json_object_put(req);
			return -1;
		}
		*args = json_object_get(a);
	} else if ((*args = json_object_new_object()) == NULL) {
		errf(err, errlen, "out of memory");
		json_object_put(req);
		return -1;
	}
	snprintf(command, CTL_COMMAND_MAX + 1, "%s", s);
	json_object_put(req);
	return 0;
}

/* ---- connections ---- */

static void conn_free(struct ctl_conn *conn)
{
	*conn->pprev = conn->next;
	if (conn->next != NULL)
		conn->next->pprev = conn->pprev;
	conn->ctl->n_conns--;
	bufferevent_free(conn->bev);
	free(conn);
}

static void conn_event(struct bufferevent *bev, short what, void *arg);

static void conn_write_done(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *conn = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(conn);
}

/* Sends reply as one line, then closes once it is written. Takes the reference. */
static void conn_reply(struct ctl_conn *conn, struct json_object *reply)
{
	const char *s;
	struct evbuffer *out = bufferevent_get_output(conn->bev);

	conn->replied = true;
	bufferevent_disable(conn->bev, EV_READ);
	s = reply != NULL ? json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN) : NULL;
	if (s == NULL)
		s = "{\"ok\":false,\"error\":\"out of memory\"}";
	if (evbuffer_add(out, s, strlen(s)) < 0 || evbuffer_add(out, "\n", 1) < 0) {
		json_object_put(reply);
		conn_free(conn);
		return;
	}
	json_object_put(reply);
	bufferevent_setcb(conn->bev, NULL, conn_write_done, conn_event, conn);
	bufferevent_enable(conn->bev, EV_WRITE);
}

static void conn_reply_error(struct ctl_conn *conn, const char *msg)
{
	struct json_object *r = json_object_new_object();

	if (r != NULL) {
		json_object_object_add(r, "ok", json_object_new_boolean(0));
		json_object_object_add(r, "error", json_object_new_string(msg));
	}
	conn_reply(conn, r);
}

static const struct ctl_handler *handler_find(const struct ctl *ctl, const char *command)
{
	for (unsigned i = 0; i < ctl->n_handlers; i++)
		if (!strcmp(ctl->handlers[i].command, command))
			return &ctl->handlers[i];
	return NULL;
}

static bool reserved(const char *command)
{
	for (size_t i = 0; i < sizeof(ctl_reserved) / sizeof(ctl_reserved[0]); i++)
		if (!strcmp(ctl_reserved[i], command))
			return true;
	return false;
}

static void conn_dispatch(struct ctl_conn *conn, const char *buf, size_t len)
{
	struct ctl *ctl = conn->ctl;
	char command[CTL_COMMAND_MAX + 1], err[CTL_ERR_MAX], msg[CTL_ERR_MAX + 64];
	struct json_object *args, *data, *reply;
	const struct ctl_handler *h;
	int rc;

	if (ctl_parse_request(buf, len, command, &args, err, sizeof(err)) < 0) {
		if (len >= CTL_REQUEST_MAX)
			ctl->st.too_large++;
		else
			ctl->st.bad_request++;
		conn_reply_error(conn, err);
		return;
	}
	if ((h = handler_find(ctl, command)) == NULL) {
		json_object_put(args);
		if (reserved(command)) {
			ctl->st.not_implemented++;
			snprintf(msg, sizeof(msg), "not implemented: %s", command);
		} else {
			ctl->st.unknown_command++;
			snprintf(msg, sizeof(msg), "unknown command: %s", command);
		}
		conn_reply_error(conn, msg);
		return;
	}
	if ((data = json_object_new_object()) == NULL) {
		json_object_put(args);
		conn_reply_error(conn, "out of memory");
		return;
	}
	err[0] = '\0';
	rc = h->fn(args, data, err, sizeof(err), h->ctx);
	json_object_put(args);
	if (rc != 0) {
		json_object_put(data);
		ctl->st.handler_errors++;
		conn_reply_error(conn, err[0] ? err : "command failed");
		return;
	}
	if ((reply = json_object_new_object()) == NULL) {
		json_object_put(data);
		conn_reply_error(conn, "out of memory");
		return;
	}
	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	json_object_object_add(reply, "data", data);
	ctl->st.served++;
	conn_reply(conn, reply);
}

/* Hands the first line (or everything, at EOF) to conn_dispatch once it is complete. */
static void conn_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *conn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr nl = evbuffer_search(in, "\n", 1, NULL);
	size_t avail = evbuffer_get_length(in);
	char buf[CTL_REQUEST_MAX];
	size_t len;

	if (conn->replied)
		return;
	if (nl.pos < 0) {
		if (avail >= CTL_REQUEST_MAX) {
			conn->ctl->st.too_large++;
			conn_reply_error(conn, "request too large (max 4096 bytes)");
		}
		return;
	}
	len = (size_t)nl.pos;
	if (len + 1 > CTL_REQUEST_MAX) {
		conn->ctl->st.too_large++;
		conn_reply_error(conn, "request too large (max 4096 bytes)");
		return;
	}
	evbuffer_remove(in, buf, len + 1);
	conn_dispatch(conn, buf, len);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *conn = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char buf[CTL_REQUEST_MAX];
	size_t len;

	if (what & BEV_EVENT_TIMEOUT) {
		conn->ctl->st.timeouts++;
		conn_free(conn);
		return;
	}
	/* EOF without a line end: what came is the request. */
	if ((what & BEV_EVENT_EOF) && !conn->replied && (len = evbuffer_get_length(in)) > 0 &&
	    len < CTL_REQUEST_MAX) {
		evbuffer_remove(in, buf, len);
		conn_dispatch(conn, buf, len);
		return;
	}
	conn_free(conn);
}

static struct ctl_conn *conn_new(struct ctl *ctl, evutil_socket_t fd)
{
	struct ctl_conn *conn = calloc(1, sizeof(*conn));
	struct timeval tv = { ctl->timeout_ms / 1000, (ctl->timeout_ms % 1000) * 1000 };

	if (conn == NULL)
		return NULL;
	conn->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (conn->bev == NULL) {
		free(conn);
		return NULL;
	}
	conn->ctl = ctl;
	conn->next = ctl->conns;
	if (conn->next != NULL)
		conn->next->pprev = &conn->next;
	conn->pprev = &ctl->conns;
	ctl->conns = conn;
	ctl->n_conns++;
	bufferevent_setcb(conn->bev, conn_read, NULL, conn_event, conn);
	bufferevent_set_timeouts(conn->bev, &tv, &tv);
	/* One byte past the limit is enough to know a request is too large. */
	bufferevent_setwatermark(conn->bev, EV_READ, 0, CTL_REQUEST_MAX + 1);
	return conn;
}

static void ctl_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		       int salen, void *arg)
{
	struct ctl *ctl = arg;
	struct ctl_conn *conn;
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	char msg[CTL_ERR_MAX];
	bool busy = ctl->n_conns >= CTL_CONN_MAX;

	if ((conn = conn_new(ctl, fd)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0 || credlen != sizeof(cred)) {
		ctl->st.refused++;
		conn_reply_error(conn, "permission denied: peer credentials unavailable");
		return;
	}
	if (cred.uid != 0) {
		ctl->st.refused++;
		log_warn("control socket: refused uid %u (pid %d)", (unsigned)cred.uid, (int)cred.pid);
		snprintf(msg, sizeof(msg), "permission denied: uid %u is not root", (unsigned)cred.uid);
		conn_reply_error(conn, msg);
		return;
	}
	if (busy) {
		ctl->st.busy++;
		conn_reply_error(conn, "busy: too many control connections");
		return;
	}
	bufferevent_enable(conn->bev, EV_READ);
}

/* ---- the socket ---- */

struct ctl *ctl_new(struct event_base *base)
{
	struct ctl *ctl = calloc(1, sizeof(*ctl));

	if (ctl == NULL)
		return NULL;
	ctl->base = base;
	ctl->timeout_ms = CTL_TIMEOUT_MS;
	return ctl;
}

void ctl_set_timeout(struct ctl *ctl, unsigned ms)
{
	ctl->timeout_ms = ms ? ms : 1;
}

/* Is someone answering on the socket at path? */
static bool socket_alive(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return alive;
}

static int make_parent(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			errf(err, errlen, "%s: not a directory", dir);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT || mkdir(dir, 0700) < 0) {
		errf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int ctl_listen(struct ctl *ctl, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct sigaction sa;
	struct stat st;
	mode_t old;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path == NULL || path[0] != '/' || strlen(path) >= sizeof(sun.sun_path)) {
		errf(err, errlen, "control socket path must be absolute and under %zu bytes",
		     sizeof(sun.sun_path));
		return -1;
	}
	if (ctl->listener != NULL) {
		errf(err, errlen, "control socket already open");
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	/*
	 * libevent writes replies with writev(), not send(MSG_NOSIGNAL): a
	 * client that leaves before reading its reply would kill the daemon.
	 */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	if (make_parent(path, err, errlen) < 0)
		return -1;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errf(err, errlen, "%s: exists and is not a socket", path);
			return -1;
		}
		if (socket_alive(&sun)) {
			errf(err, errlen, "%s: another daemon is listening", path);
			return -1;
		}
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		errf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);	/* the file is born 0600: no window where it is wider */
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, CTL_CONN_MAX) < 0) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		if (rc == 0)
			unlink(path);
		close(fd);
		return -1;
	}
	ctl->listener = evconnlistener_new(ctl->base, ctl_accept, ctl,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (ctl->listener == NULL) {
		errf(err, errlen, "%s: cannot watch the socket", path);
		unlink(path);
		close(fd);
		return -1;
	}
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	ctl->own_path = true;
	return 0;
}

int ctl_register(struct ctl *ctl, const char *command, ctl_handler_fn fn, void *ctx)
{
	struct ctl_handler *h;

	if (command == NULL || fn == NULL || !command_valid(command, strlen(command)))
		return -1;
	h = (struct ctl_handler *)handler_find(ctl, command);
	if (h == NULL) {
		if (ctl->n_handlers >= CTL_HANDLERS_MAX)
			return -1;
		h = &ctl->handlers[ctl->n_handlers++];
		snprintf(h->command, sizeof(h->command), "%s", command);
	}
	h->fn = fn;
	h->ctx = ctx;
	return 0;
}

void ctl_get_stats(const struct ctl *ctl, struct ctl_stats *out)
{
	*out = ctl->st;
}

unsigned ctl_connections(const struct ctl *ctl)
{
	return ctl->n_conns;
}

void ctl_free(struct ctl *ctl)
{
	if (ctl == NULL)
		return;
	while (ctl->conns != NULL)
		conn_free(ctl->conns);
	if (ctl->listener != NULL)
		evconnlistener_free(ctl->listener);
	if (ctl->own_path)
		unlink(ctl->path);
	free(ctl);
}

/* ---- pieces of the documented replies ---- */

static struct json_object *str_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static struct json_object *ms_or_null(int64_t ms)
{
	return ms >= 0 ? json_object_new_int64(ms) : NULL;
}

static struct json_object *paths_json(const struct ctl_path_status *paths, unsigned n, bool rtt)
{
	struct json_object *arr = json_object_new_array(), *o;

	for (unsigned i = 0; arr != NULL && i < n; i++) {
		if ((o = json_object_new_object()) == NULL)
			break;
		json_object_object_add(o, "local", json_object_new_string(paths[i].local));
		json_object_object_add(o, "remote", json_object_new_string(paths[i].remote));
		json_object_object_add(o, "state", str_or_null(paths[i].state));
		json_object_object_add(o, "primary", json_object_new_boolean(paths[i].primary));
		if (rtt)
			json_object_object_add(o, "rtt_ms", ms_or_null(paths[i].rtt_ms));
		json_object_array_add(arr, o);
	}
	return arr;
}

static const char *bulk_result(int rc)
{
	return rc == CACHE_OK ? "ok" : cache_strerror(rc);
}

int ctl_status_json(const struct ctl_status *st, const struct cache *cache,
		    const struct ctl *ctl, uint64_t now_ms, struct json_object *data)
{
	struct json_object *vips, *o, *peer, *sas, *errors, *decode, *records, *bulk = NULL;
	struct cache_bulk_info bi;

	if ((vips = json_object_new_array()) == NULL)
		return -1;
	for (unsigned i = 0; i < st->n_vips; i++) {
		const struct ctl_vip_status *v = &st->vips[i];
		int idx = cache != NULL && v->name != NULL ? cache_vip_by_name(cache, v->name) : CACHE_VIP_NONE;

		if ((o = json_object_new_object()) == NULL)
			break;
		json_object_object_add(o, "name", str_or_null(v->name));
		json_object_object_add(o, "address", json_object_new_string(v->address));
		json_object_object_add(o, "instance", str_or_null(v->instance));
		json_object_object_add(o, "role", str_or_null(v->role));
		json_object_object_add(o, "vrrp_state", str_or_null(v->vrrp_state));
		json_object_object_add(o, "sas", json_object_new_uint64(
			idx == CACHE_VIP_NONE ? 0 : cache_sa_count_vip(cache, idx)));
		json_object_array_add(vips, o);
	}
	json_object_object_add(data, "node_id", str_or_null(st->node_id));
	json_object_object_add(data, "vips", vips);

	if ((peer = json_object_new_object()) != NULL) {
		json_object_object_add(peer, "node_id", str_or_null(st->peer_node_id));
		json_object_object_add(peer, "state", str_or_null(st->peer_state));
		json_object_object_add(peer, "transport", str_or_null(st->transport));
	}
	json_object_object_add(data, "peer", peer);
	json_object_object_add(data, "paths", paths_json(st->paths, st->n_paths, false));

	if ((sas = json_object_new_object()) != NULL) {
		json_object_object_add(sas, "total", json_object_new_uint64(cache ? cache_sa_count(cache) : 0));
		json_object_object_add(sas, "policies",
				       json_object_new_uint64(cache ? cache_policy_count(cache) : 0));
		json_object_object_add(sas, "unowned", json_object_new_uint64(
			cache ? cache_sa_count_vip(cache, CACHE_VIP_NONE) : 0));
	}
	json_object_object_add(data, "sas", sas);
	json_object_object_add(data, "sync_lag_ms", ms_or_null(st->sync_lag_ms));

	memset(&bi, 0, sizeof(bi));
	if (cache != NULL)
		cache_bulk_info(cache, &bi);
	if (bi.have_last && (bulk = json_object_new_object()) != NULL) {
		json_object_object_add(bulk, "generation", json_object_new_uint64(bi.last_gen));
		json_object_object_add(bulk, "age_ms", json_object_new_uint64(
			now_ms > bi.last_end_ms ? now_ms - bi.last_end_ms : 0));
		json_object_object_add(bulk, "duration_ms", json_object_new_uint64(
			bi.last_end_ms > bi.last_begin_ms ? bi.last_end_ms - bi.last_begin_ms : 0));
		json_object_object_add(bulk, "records", json_object_new_uint64(bi.last_records));
		json_object_object_add(bulk, "result", json_object_new_string(bulk_result(bi.last_result)));
	}
	json_object_object_add(data, "last_bulk", bulk);
	json_object_object_add(data, "bulk_in_progress", json_object_new_boolean(bi.in_progress));
	json_object_object_add(data, "in_sync", json_object_new_boolean(st->in_sync));

	if ((errors = json_object_new_object()) != NULL) {
		if ((decode = json_object_new_object()) != NULL)
			for (unsigned i = 0; i < st->n_decode_errors; i++)
				json_object_object_add(decode, st->decode_errors[i].name,
						       json_object_new_uint64(st->decode_errors[i].value));
		json_object_object_add(errors, "decode", decode);
		json_object_object_add(errors, "auth_failures", json_object_new_uint64(st->auth_failures));
		json_object_object_add(errors, "replays", json_object_new_uint64(st->replays));
		json_object_object_add(errors, "control_refused",
				       json_object_new_uint64(ctl ? ctl->st.refused : 0));
		json_object_object_add(errors, "control_bad_requests", json_object_new_uint64(
			ctl ? ctl->st.bad_request + ctl->st.too_large + ctl->st.unknown_command : 0));
	}
	json_object_object_add(data, "errors", errors);
	if ((records = json_object_new_object()) != NULL) {
		json_object_object_add(records, "sent", json_object_new_uint64(st->records_sent));
		json_object_object_add(records, "received", json_object_new_uint64(st->records_received));
	}
	json_object_object_add(data, "records", records);
	return vips && peer && sas && errors && records ? 0 : -1;
}

int ctl_peers_json(const struct ctl_peers *p, struct json_object *data)
{
	struct json_object *peer = json_object_new_object(), *c = json_object_new_object();

	if (peer != NULL) {
		json_object_object_add(peer, "node_id", str_or_null(p->peer_node_id));
		json_object_object_add(peer, "state", str_or_null(p->peer_state));
	}
	json_object_object_add(data, "peer", peer);
	json_object_object_add(data, "transport", str_or_null(p->transport));
	json_object_object_add(data, "paths", paths_json(p->paths, p->n_paths, true));
	if (c != NULL) {
		json_object_object_add(c, "records_sent", json_object_new_uint64(p->records_sent));
		json_object_object_add(c, "records_received", json_object_new_uint64(p->records_received));
		json_object_object_add(c, "bytes_sent", json_object_new_uint64(p->bytes_sent));
		json_object_object_add(c, "bytes_received", json_object_new_uint64(p->bytes_received));
		json_object_object_add(c, "retransmissions", json_object_new_uint64(p->retransmissions));
		json_object_object_add(c, "resyncs", json_object_new_uint64(p->resyncs));
	}
	json_object_object_add(data, "counters", c);
	return peer && c ? 0 : -1;
}

int ctl_sas_json(const struct cache *cache, struct json_object *args, uint64_t now_ms,
		 struct json_object *data, char *err, size_t errlen)
{
	struct json_object *v = NULL, *arr;
	int vip = CACHE_VIP_NONE;
	bool filter = false;

	if (args != NULL && json_object_object_get_ex(args, "vip", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string)) {
			errf(err, errlen, "\"vip\" must be a string");
			return -1;
		}
		if ((vip = cache_vip_by_name(cache, json_object_get_string(v))) == CACHE_VIP_NONE) {
			errf(err, errlen, "no VIP named %.64s", json_object_get_string(v));
			return -1;
		}
		filter = true;
	}
	if ((arr = cache_sas_json(cache, filter, vip, now_ms)) == NULL) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	json_object_object_add(data, "count", json_object_new_uint64(json_object_array_length(arr)));
	json_object_object_add(data, "sas", arr);
	return 0;
}

/* One side of `ike`: {"ike_sas": [...], "count": N}, never a key (ike_json_list()). */
static struct json_object *ike_side(const struct ike_cache *c, bool filter, const char *vip_name,
				    uint64_t now_ms)
{
	struct json_object *o = json_object_new_object();
	int vip = IKE_VIP_NONE;

	if (o == NULL)
		return NULL;
	if (c != NULL && filter)
		vip = ike_vip_by_name(c, vip_name);
	if (c == NULL) {
		json_object_object_add(o, "ike_sas", json_object_new_array());
		json_object_object_add(o, "count", json_object_new_int64(0));
	} else if (ike_json_list(c, filter, vip, now_ms, o) != 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int ctl_ike_json(const struct ike_cache *own, const struct ike_cache *held, struct json_object *args,
		 uint64_t now_ms, struct json_object *data, char *err, size_t errlen)
{
	struct json_object *v = NULL, *o, *h;
	const char *name = NULL;

	if (args != NULL && json_object_object_get_ex(args, "vip", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string)) {
			errf(err, errlen, "\"vip\" must be a string");
			return -1;
		}
		name = json_object_get_string(v);
		if ((own == NULL || ike_vip_by_name(own, name) == IKE_VIP_NONE) &&
		    (held == NULL || ike_vip_by_name(held, name) == IKE_VIP_NONE)) {
			errf(err, errlen, "no VIP named %.64s", name);
			return -1;
		}
	}
	o = ike_side(own, name != NULL, name, now_ms);
	h = ike_side(held, name != NULL, name, now_ms);
	if (o == NULL || h == NULL) {
		json_object_put(o);
		json_object_put(h);
		errf(err, errlen, "out of memory");
		return -1;
	}
	json_object_object_add(data, "own", o);
	json_object_object_add(data, "held", h);
	json_object_object_add(data, "enabled", json_object_new_boolean(own != NULL || held != NULL));
	return 0;
}
