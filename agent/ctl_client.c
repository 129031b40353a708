/* ctl_client.c: the control socket's client and hasyncctl's commands and output (docs/control.md section 4). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "conf.h"
#include "ctl.h"
#include "keepalived.h"

#define REPLY_MAX	(1024u * 1024 * 1024)	/* a `sas` of 100,000 SAs is about 30 MB */
#define TBL_COLS	12

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- one request, one reply ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to be ready for events; the timeout restarts whenever data moves. */
static int wait_fd(int fd, short events, unsigned timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t deadline = now_ms() + timeout_ms, left;
	int rc;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int)left);
		if (rc > 0 || (rc < 0 && errno != EINTR))
			return rc;
	}
}

static int send_all(int fd, const char *buf, size_t len, unsigned timeout_ms)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, timeout_ms) <= 0)
				return -1;
			continue;
		}
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read until EOF (the server closes after its line). A reset after a
 * complete line still counts: a server that refuses a peer closes without
 * reading the request, which makes Linux report ECONNRESET.
 */
static char *recv_reply(int fd, unsigned timeout_ms, size_t *lenp, int *errp)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *nbuf;
	ssize_t n;

	*errp = 0;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			if (cap > REPLY_MAX || (nbuf = realloc(buf, cap + 1)) == NULL) {
				*errp = EMSGSIZE;
				break;
			}
			buf = nbuf;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = wait_fd(fd, POLLIN, timeout_ms);

			if (rc > 0)
				continue;
			*errp = rc == 0 ? ETIMEDOUT : errno;
			break;
		}
		*errp = errno;
		break;
	}
	if (buf != NULL)
		buf[len] = '\0';
	*lenp = len;
	return buf;
}

int ctl_client_request(const char *path, const char *command, struct json_object *args,
		       unsigned timeout_ms, struct json_object **reply, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct json_object *req, *r, *ok;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	const char *s;
	char *line = NULL, *buf, *nl;
	size_t len;
	int fd, rerr;

	*reply = NULL;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));

	if ((req = json_object_new_object()) == NULL)
		goto nomem;
	json_object_object_add(req, "command", json_object_new_string(command));
	json_object_object_add(req, "args", args ? json_object_get(args) : json_object_new_object());
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (s == NULL || asprintf(&line, "%s\n", s) < 0) {
		json_object_put(req);
		goto nomem;
	}
	json_object_put(req);
	if (strlen(line) > CTL_REQUEST_MAX) {
		free(line);
		errf(err, errlen, "request too large");
		return -1;
	}

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		free(line);
		errf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* A full backlog makes connect() wait: bound it as well. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		errf(err, errlen, "cannot reach hasyncd at %s: %s", path, strerror(errno));
		free(line);
		close(fd);
		return -1;
	}
	/* A refused peer gets its answer without being read: go on to read it. */
	send_all(fd, line, strlen(line), timeout_ms);
	free(line);
	buf = recv_reply(fd, timeout_ms, &len, &rerr);
	close(fd);

	nl = buf != NULL ? memchr(buf, '\n', len) : NULL;
	if (nl == NULL && rerr != 0) {
		errf(err, errlen, "no reply from hasyncd at %s: %s", path, strerror(rerr));
		free(buf);
		return -1;
	}
	if (nl != NULL)
		*nl = '\0';
	r = buf != NULL && len > 0 ? json_tokener_parse(buf) : NULL;
	free(buf);
	if (r == NULL || !json_object_is_type(r, json_type_object) ||
	    !json_object_object_get_ex(r, "ok", &ok) || !json_object_is_type(ok, json_type_boolean)) {
		json_object_put(r);
		errf(err, errlen, "no well-formed reply from hasyncd at %s", path);
		return -1;
	}
	*reply = r;
	return 0;
nomem:
	errf(err, errlen, "out of memory");
	return -1;
}

/* ---- output for people ---- */

/* A minimal text table: columns padded to their widest cell. */
struct tbl {
	unsigned ncol;
	size_t nrow;
	char *(*rows)[TBL_COLS];
};

static void tbl_add(struct tbl *t, const char *const *cells)
{
	char *(*rows)[TBL_COLS] = realloc(t->rows, (t->nrow + 1) * sizeof(*rows));

	if (rows == NULL)
		return;
	t->rows = rows;
	for (unsigned i = 0; i < t->ncol; i++)
		rows[t->nrow][i] = strdup(cells[i] ? cells[i] : "-");
	t->nrow++;
}

static void tbl_print(struct tbl *t, FILE *out)
{
	size_t w[TBL_COLS] = { 0 };

	for (size_t r = 0; r < t->nrow; r++)
		for (unsigned i = 0; i < t->ncol; i++)
			if (t->rows[r][i] && strlen(t->rows[r][i]) > w[i])
				w[i] = strlen(t->rows[r][i]);
	for (size_t r = 0; r < t->nrow; r++) {
		for (unsigned i = 0; i < t->ncol; i++) {
			const char *c = t->rows[r][i] ? t->rows[r][i] : "-";

			if (i + 1 < t->ncol)
				fprintf(out, "%-*s  ", (int)w[i], c);
			else
				fprintf(out, "%s\n", c);
		}
	}
	for (size_t r = 0; r < t->nrow; r++)
		for (unsigned i = 0; i < t->ncol; i++)
			free(t->rows[r][i]);
	free(t->rows);
	t->rows = NULL;
	t->nrow = 0;
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		return NULL;
	json_object_object_get_ex(o, key, &v);
	return v;
}

/* A member as text ("-" when absent or null), for tables. */
static const char *jtext(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v != NULL ? json_object_get_string(v) : "-";
}

static uint64_t ju64(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v != NULL ? json_object_get_uint64(v) : 0;
}

static const char *fmt_ms(uint64_t ms, char *buf, size_t size)
{
	if (ms < 1000)
		snprintf(buf, size, "%llu ms", (unsigned long long)ms);
	else if (ms < 60000)
		snprintf(buf, size, "%.1f s", (double)ms / 1000);
	else if (ms < 3600000)
		snprintf(buf, size, "%llum%02llus", (unsigned long long)(ms / 60000),
			 (unsigned long long)(ms / 1000 % 60));
	else if (ms < 86400000)
		snprintf(buf, size, "%lluh%02llum", (unsigned long long)(ms / 3600000),
			 (unsigned long long)(ms / 60000 % 60));
	else
		snprintf(buf, size, "%llud%02lluh", (unsigned long long)(ms / 86400000),
			 (unsigned long long)(ms / 3600000 % 24));
	return buf;
}

static void print_paths(struct json_object *paths, FILE *out)
{
	size_t n = json_object_is_type(paths, json_type_array) ? json_object_array_length(paths) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(paths, i);

		fprintf(out, "  path %s -> %s: %s%s\n", jtext(p, "local"), jtext(p, "remote"),
			jtext(p, "state"), json_object_get_boolean(jget(p, "primary")) ? ", primary" : "");
	}
}

static void print_status_ike(struct json_object *ike, FILE *out)
{
	struct json_object *r = jget(ike, "last_reply");

	if (ike == NULL)
		return;
	if (!json_object_get_boolean(jget(ike, "enabled"))) {
		fprintf(out, "IKE sync: off (no pluto-ha-socket)\n");
		return;
	}
	fprintf(out, "IKE sync: pluto %s, %llu IKE SAs of ours, %llu of the peer held\n",
		json_object_get_boolean(jget(ike, "pluto_connected")) ? "connected" : "not connected",
		(unsigned long long)ju64(ike, "own"), (unsigned long long)ju64(ike, "held"));
	if (r != NULL)
		fprintf(out, "last pluto answer: %s %s: %llu IKE SAs, %llu Child SAs, %llu failed\n",
			jtext(r, "type"), jtext(r, "local"), (unsigned long long)ju64(r, "ike"),
			(unsigned long long)ju64(r, "child"), (unsigned long long)ju64(r, "failed"));
}

static void print_status(struct json_object *d, FILE *out)
{
	struct json_object *vips = jget(d, "vips"), *peer = jget(d, "peer"), *sas = jget(d, "sas");
	struct json_object *bulk = jget(d, "last_bulk"), *errors = jget(d, "errors");
	struct json_object *decode = jget(errors, "decode"), *records = jget(d, "records");
	struct tbl t = { .ncol = 6 };
	const char *hdr[] = { "VIP", "ADDRESS", "INSTANCE", "ROLE", "VRRP", "SAS" };
	char b1[32], b2[32];
	uint64_t ndecode = 0;
	size_t n;

	fprintf(out, "node: %s\n", jtext(d, "node_id"));
	fprintf(out, "peer: %s, %s, %s\n", jtext(peer, "node_id"), jtext(peer, "state"),
		jtext(peer, "transport"));
	print_paths(jget(d, "paths"), out);

	n = json_object_is_type(vips, json_type_array) ? json_object_array_length(vips) : 0;
	if (n > 0) {
		tbl_add(&t, hdr);
		for (size_t i = 0; i < n; i++) {
			struct json_object *v = json_object_array_get_idx(vips, i);
			const char *row[] = { jtext(v, "name"), jtext(v, "address"), jtext(v, "instance"),
					      jtext(v, "role"), jtext(v, "vrrp_state"), jtext(v, "sas") };

			tbl_add(&t, row);
		}
		tbl_print(&t, out);
		for (size_t i = 0; i < n; i++) {
			struct json_object *v = json_object_array_get_idx(vips, i);
			struct json_object *lt = jget(v, "last_takeover");

			if (lt == NULL)
				continue;
			fprintf(out, "last takeover of %s: %s, %llu SAs, %llu policies, %llu routes "
				"in %.1f ms\n", jtext(v, "name"),
				!strcmp(jtext(lt, "kind"), "promote") ? "promoted" : "stepped down",
				(unsigned long long)ju64(lt, "sas"), (unsigned long long)ju64(lt, "policies"),
				(unsigned long long)ju64(lt, "routes"),
				json_object_get_double(jget(lt, "total_ms")));
		}
	}

	fprintf(out, "SAs held: %llu (%llu policies, %llu not on a VIP)\n",
		(unsigned long long)ju64(sas, "total"), (unsigned long long)ju64(sas, "policies"),
		(unsigned long long)ju64(sas, "unowned"));
	if (jget(d, "sync_lag_ms") != NULL)
		fprintf(out, "sync lag: %s\n", fmt_ms(ju64(d, "sync_lag_ms"), b1, sizeof(b1)));
	else
		fprintf(out, "sync lag: unknown\n");
	if (bulk != NULL)
		fprintf(out, "last bulk sync: %s ago, took %s, %llu records, generation %llu, %s\n",
			fmt_ms(ju64(bulk, "age_ms"), b1, sizeof(b1)),
			fmt_ms(ju64(bulk, "duration_ms"), b2, sizeof(b2)),
			(unsigned long long)ju64(bulk, "records"),
			(unsigned long long)ju64(bulk, "generation"), jtext(bulk, "result"));
	else
		fprintf(out, "last bulk sync: none yet\n");
	if (json_object_get_boolean(jget(d, "bulk_in_progress")))
		fprintf(out, "bulk sync in progress\n");
	print_status_ike(jget(d, "ike"), out);
	fprintf(out, "in sync: %s\n", json_object_get_boolean(jget(d, "in_sync")) ? "yes" : "no");
	fprintf(out, "records: %llu sent, %llu received\n",
		(unsigned long long)ju64(records, "sent"), (unsigned long long)ju64(records, "received"));
	if (decode != NULL && json_object_is_type(decode, json_type_object)) {
		json_object_object_foreach(decode, k, v) {
			(void)k;
			ndecode += json_object_get_uint64(v);
		}
	}
	fprintf(out, "errors: %llu decode, %llu auth failures, %llu replays, %llu refused on the control socket\n",
		(unsigned long long)ndecode, (unsigned long long)ju64(errors, "auth_failures"),
		(unsigned long long)ju64(errors, "replays"),
		(unsigned long long)ju64(errors, "control_refused"));
	if (ndecode > 0) {
		const char *sep = "";

		fprintf(out, "  decode errors:");
		json_object_object_foreach(decode, k, v) {
			if (json_object_get_uint64(v) > 0) {
				fprintf(out, "%s %s %llu", sep, k, (unsigned long long)json_object_get_uint64(v));
				sep = ",";
			}
		}
		fprintf(out, "\n");
	}
}

static void print_sas(struct json_object *d, FILE *out)
{
	struct json_object *sas = jget(d, "sas");
	struct tbl t = { .ncol = 12 };
	const char *hdr[] = { "VIP", "DIR", "SPI", "PROTO", "SRC", "DST", "REQID", "SEQ", "OSEQ",
			      "WIN", "KEY", "AGE" };
	size_t n = json_object_is_type(sas, json_type_array) ? json_object_array_length(sas) : 0;
	char age[32];

	if (n > 0) {
		tbl_add(&t, hdr);
		for (size_t i = 0; i < n; i++) {
			struct json_object *s = json_object_array_get_idx(sas, i);
			const char *row[] = { jtext(s, "vip"), jtext(s, "dir"), jtext(s, "spi"),
					      jtext(s, "proto"), jtext(s, "src"), jtext(s, "dst"),
					      jtext(s, "reqid"), jtext(s, "seq"), jtext(s, "oseq"),
					      jtext(s, "replay_window"), jtext(s, "key_sha256_8"),
					      fmt_ms(ju64(s, "age_ms"), age, sizeof(age)) };

			tbl_add(&t, row);
		}
		tbl_print(&t, out);
	}
	fprintf(out, "%zu SA%s\n", n, n == 1 ? "" : "s");
}

static void print_peers(struct json_object *d, FILE *out)
{
	struct json_object *peer = jget(d, "peer"), *paths = jget(d, "paths"), *c = jget(d, "counters");
	struct tbl t = { .ncol = 5 };
	const char *hdr[] = { "LOCAL", "REMOTE", "STATE", "PRIMARY", "RTT" };
	size_t n = json_object_is_type(paths, json_type_array) ? json_object_array_length(paths) : 0;
	char rtt[32];

	fprintf(out, "peer: %s, %s\n", jtext(peer, "node_id"), jtext(peer, "state"));
	fprintf(out, "transport: %s\n", jtext(d, "transport"));
	if (n > 0) {
		tbl_add(&t, hdr);
		for (size_t i = 0; i < n; i++) {
			struct json_object *p = json_object_array_get_idx(paths, i);
			const char *row[] = { jtext(p, "local"), jtext(p, "remote"), jtext(p, "state"),
					      json_object_get_boolean(jget(p, "primary")) ? "yes" : "no",
					      jget(p, "rtt_ms") ? fmt_ms(ju64(p, "rtt_ms"), rtt, sizeof(rtt)) : "-" };

			tbl_add(&t, row);
		}
		tbl_print(&t, out);
	}
	fprintf(out, "records: %llu sent, %llu received; bytes: %llu sent, %llu received\n",
		(unsigned long long)ju64(c, "records_sent"), (unsigned long long)ju64(c, "records_received"),
		(unsigned long long)ju64(c, "bytes_sent"), (unsigned long long)ju64(c, "bytes_received"));
	fprintf(out, "retransmissions: %llu, resyncs: %llu\n",
		(unsigned long long)ju64(c, "retransmissions"), (unsigned long long)ju64(c, "resyncs"));
}

static const char *fmt_window(struct json_object *w, char *buf, size_t len)
{
	snprintf(buf, len, "%lld/%lld", (long long)json_object_get_int64(jget(w, "sent")),
		 (long long)json_object_get_int64(jget(w, "recv")));
	return buf;
}

/* `ike`: our pluto's IKE SAs and the peer's we hold, one table, SIDE first. */
static void print_ike(struct json_object *d, FILE *out)
{
	static const char *const sides[] = { "own", "held" };
	struct tbl t = { .ncol = 11 };
	const char *hdr[] = { "SIDE", "VIP", "SPI_I", "SPI_R", "PEER", "CONNECTION", "STATE",
			      "MSGID_I", "MSGID_R", "CHILD", "AGE" };
	size_t counts[2] = { 0, 0 };

	if (!json_object_get_boolean(jget(d, "enabled"))) {
		fprintf(out, "IKE sync is off (no pluto-ha-socket)\n");
		return;
	}
	for (int k = 0; k < 2; k++) {
		struct json_object *arr = jget(jget(d, sides[k]), "ike_sas");
		size_t n = json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;

		counts[k] = n;
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(arr, i), *m = jget(e, "msgid");
			struct json_object *ch = jget(e, "child_sas");
			char wi[48], wr[48], nch[16], age[32];
			const char *row[11];

			snprintf(nch, sizeof(nch), "%zu", json_object_is_type(ch, json_type_array) ?
				 json_object_array_length(ch) : (size_t)0);
			row[0] = sides[k];
			row[1] = jtext(e, "vip");
			row[2] = jtext(e, "spi_i");
			row[3] = jtext(e, "spi_r");
			row[4] = jtext(e, "peer");
			row[5] = jtext(e, "connection");
			row[6] = jtext(e, "state");
			row[7] = fmt_window(jget(m, "initiator"), wi, sizeof(wi));
			row[8] = fmt_window(jget(m, "responder"), wr, sizeof(wr));
			row[9] = nch;
			row[10] = fmt_ms(ju64(e, "age_ms"), age, sizeof(age));
			if (t.nrow == 0)
				tbl_add(&t, hdr);
			tbl_add(&t, row);
		}
	}
	if (t.nrow > 0)
		tbl_print(&t, out);
	fprintf(out, "%zu IKE SA%s of ours, %zu of the peer held\n", counts[0],
		counts[0] == 1 ? "" : "s", counts[1]);
}

static void print_generic(struct json_object *d, FILE *out)
{
	struct json_object *m = jget(d, "message");

	if (m != NULL && json_object_is_type(m, json_type_string))
		fprintf(out, "%s\n", json_object_get_string(m));
	else if (json_object_object_length(d) == 0)
		fprintf(out, "ok\n");
	else
		fprintf(out, "%s\n", json_object_to_json_string_ext(d, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_SPACED));
}

static void print_resync(struct json_object *d, FILE *out)
{
	fprintf(out, "resync requested\n");
}

/* ---- the command line ---- */

struct command {
	const char *name;
	unsigned min_args, max_args;	/* positional arguments after the command */
	const char *arg;		/* their name in the usage and in "args" */
	void (*print)(struct json_object *data, FILE *out);
	const char *help;
	/* Commands with several arguments: how they read in the usage, and how they become "args". */
	const char *synopsis;
	int (*build)(struct json_object *args, char **argv, unsigned nargs, char *err, size_t errlen);
};

/* notify TYPE NAME STATE [PRIORITY], checked here as the daemon will check it. */
static int build_notify(struct json_object *args, char **argv, unsigned nargs, char *err, size_t errlen)
{
	struct keepalived_event ev;

	if (keepalived_parse_args(argv[0], argv[1], argv[2], nargs > 3 ? argv[3] : NULL, &ev,
				  err, errlen) != KEEPALIVED_OK)
		return -1;
	json_object_object_add(args, "type", json_object_new_string(keepalived_type_name(ev.type)));
	json_object_object_add(args, "name", json_object_new_string(ev.name));
	json_object_object_add(args, "state", json_object_new_string(role_event_name(ev.event)));
	if (ev.priority >= 0)
		json_object_object_add(args, "priority", json_object_new_int(ev.priority));
	return 0;
}

static const struct command commands[] = {
	{ "status", 0, 0, NULL, print_status, "role per VIP, peer and sync-link state, counters", NULL, NULL },
	{ "sas", 0, 1, "vip", print_sas, "the SAs held, or one VIP's (never keys)", NULL, NULL },
	{ "peers", 0, 0, NULL, print_peers, "the sync peer and each path", NULL, NULL },
	{ "resync", 0, 0, NULL, print_resync, "ask the peer for a bulk snapshot", NULL, NULL },
	{ "check", 0, 0, NULL, NULL, "exit 0 when in sync (keepalived vrrp_script)", NULL, NULL },
	{ "ike", 0, 1, "vip", print_ike, "our IKE SAs and the peer's held, or one VIP's (never keys)",
	  NULL, NULL },
	{ "promote", 1, 1, "vip", print_generic, "take over a VIP's SAs now (maintenance)", NULL, NULL },
	{ "demote", 1, 1, "vip", print_generic, "hand a VIP's SAs back (maintenance)", NULL, NULL },
	{ "notify", 3, 4, NULL, print_generic, "pass on a keepalived state change (keepalived's notify)",
	  "notify TYPE NAME STATE [PRIORITY]", build_notify },
};

static void usage(FILE *out, const char *prog)
{
	fprintf(out, "usage: %s [--socket PATH] [--config FILE] [--json] COMMAND [ARGS]\n"
		"commands:\n", prog);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char name[32];

		if (commands[i].synopsis != NULL) {
			fprintf(out, "  %s\n  %-12s %s\n", commands[i].synopsis, "", commands[i].help);
			continue;
		}
		snprintf(name, sizeof(name), "%s%s%s%s", commands[i].name,
			 commands[i].arg ? (commands[i].min_args ? " " : " [") : "",
			 commands[i].arg ? "VIP" : "",
			 commands[i].arg && !commands[i].min_args ? "]" : "");
		fprintf(out, "  %-12s %s\n", name, commands[i].help);
	}
	fprintf(out,
		"options:\n"
		"  -s, --socket PATH  the daemon's control socket (default: control-socket\n"
		"                     from the config file, else " CTL_SOCKET_DEFAULT ")\n"
		"  -c, --config FILE  config file to take the socket from (default " CONF_PATH_DEFAULT ")\n"
		"  -j, --json         print the daemon's data as JSON, for programs\n"
		"  -V, --version      print the version\n"
		"exit status: 0 ok, 1 the daemon said no or not in sync, 2 usage,\n"
		"3 the daemon cannot be reached\n");
}

/* --socket, else the config file's control-socket, else the default. */
static int socket_path(const char *opt_socket, const char *opt_config, char *path, size_t size,
		       FILE *errout, const char *prog)
{
	struct conf *c = NULL;
	struct conf_error cerr;

	if (opt_socket != NULL) {
		snprintf(path, size, "%s", opt_socket);
		return 0;
	}
	if (conf_load(opt_config ? opt_config : CONF_PATH_DEFAULT, &c, &cerr) == 0) {
		snprintf(path, size, "%s", c->control_socket);
		conf_free(c);
		return 0;
	}
	if (opt_config != NULL) {
		fprintf(errout, "%s: %s\n", prog, cerr.msg);
		return -1;
	}
	snprintf(path, size, "%s", CTL_SOCKET_DEFAULT);
	return 0;
}

static const char *prog_name(const char *argv0)
{
	const char *base;

	if (argv0 == NULL)
		return "hasyncctl";
	base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	/* Libreswan's `ipsec` runs /usr/libexec/ipsec/ha for `ipsec ha`. */
	return !strcmp(base, "ha") ? "ipsec ha" : "hasyncctl";
}

int ctl_client_main(int argc, char **argv, FILE *out, FILE *errout)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prog = prog_name(argc > 0 ? argv[0] : NULL);
	const char *opt_socket = NULL, *opt_config = NULL;
	const struct command *cmd = NULL;
	struct json_object *args = NULL, *reply = NULL, *data;
	char path[CONF_SOCKPATH_MAX + 1], err[CTL_ERR_MAX + CONF_SOCKPATH_MAX];
	bool json = false;
	unsigned nargs;
	int opt, rc;

	optind = 0;	/* GNU: start afresh, so tests may call this repeatedly */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "s:c:jhV", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			opt_socket = optarg;
			break;
		case 'c':
			opt_config = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(out, prog);
			return CTL_EXIT_OK;
		case 'V':
			fprintf(out, "hasyncctl %s\n", HASYNC_VERSION);
			return CTL_EXIT_OK;
		default:
			if (optopt != 0 && optopt != '?')
				fprintf(errout, "%s: option -%c: missing argument or unknown\n", prog, optopt);
			else
				fprintf(errout, "%s: unknown option '%s' (try --help)\n", prog, argv[optind - 1]);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(errout, prog);
		return CTL_EXIT_USAGE;
	}
	if (!strcmp(argv[optind], "help")) {
		usage(out, prog);
		return CTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, argv[optind]))
			cmd = &commands[i];
	if (cmd == NULL) {
		fprintf(errout, "%s: unknown command '%s' (try --help)\n", prog, argv[optind]);
		return CTL_EXIT_USAGE;
	}
	nargs = (unsigned)(argc - optind - 1);
	if (nargs < cmd->min_args || nargs > cmd->max_args) {
		if (cmd->synopsis != NULL)
			fprintf(errout, "%s: usage: %s %s\n", prog, prog, cmd->synopsis);
		else
			fprintf(errout, "%s: %s takes %s\n", prog, cmd->name,
				cmd->max_args == 0 ? "no argument" : cmd->min_args ? "a VIP name" :
				"at most a VIP name");
		return CTL_EXIT_USAGE;
	}
	if (socket_path(opt_socket, opt_config, path, sizeof(path), errout, prog) < 0)
		return CTL_EXIT_USAGE;

	if ((args = json_object_new_object()) == NULL)
		return CTL_EXIT_UNREACHABLE;
	if (cmd->build != NULL) {
		if (cmd->build(args, argv + optind + 1, nargs, err, sizeof(err)) < 0) {
			fprintf(errout, "%s: %s: %s\n", prog, cmd->name, err);
			json_object_put(args);
			return CTL_EXIT_USAGE;
		}
	} else if (nargs == 1) {
		json_object_object_add(args, cmd->arg, json_object_new_string(argv[optind + 1]));
	}
	rc = ctl_client_request(path, cmd->name, args, CTL_TIMEOUT_MS, &reply, err, sizeof(err));
	json_object_put(args);
	if (rc < 0) {
		fprintf(errout, "%s: %s\n", prog, err);
		return CTL_EXIT_UNREACHABLE;
	}
	if (!json_object_get_boolean(jget(reply, "ok"))) {
		fprintf(errout, "%s: %s: %s\n", prog, cmd->name,
			jget(reply, "error") ? json_object_get_string(jget(reply, "error")) : "failed");
		json_object_put(reply);
		return CTL_EXIT_NO;
	}
	data = jget(reply, "data");
	if (data == NULL || !json_object_is_type(data, json_type_object)) {
		fprintf(errout, "%s: no well-formed reply from hasyncd at %s\n", prog, path);
		json_object_put(reply);
		return CTL_EXIT_UNREACHABLE;
	}
	rc = CTL_EXIT_OK;
	if (json)
		fprintf(out, "%s\n", json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN));
	if (cmd->print == NULL) {	/* check */
		bool in_sync = json_object_get_boolean(jget(data, "in_sync"));
		struct json_object *reason = jget(data, "reason");

		rc = in_sync ? CTL_EXIT_OK : CTL_EXIT_NO;
		if (!json && in_sync)
			fprintf(out, "in sync\n");
		else if (!json)
			fprintf(errout, "not in sync: %s\n",
				reason ? json_object_get_string(reason) : "no reason given");
	} else if (!json) {
		cmd->print(data, out);
	}
	json_object_put(reply);
	return rc;
}
