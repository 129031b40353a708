/* keepalived.c: keepalived's notify events: pure parsers, the VIP mapping, and the notify FIFO reader on libevent. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "conf.h"
#include "keepalived.h"
#include "log.h"

#define QUOTE_MAX	32	/* input bytes quoted in an error message */

static void kerr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void kerr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Input shown in an error: at most QUOTE_MAX bytes, anything not printable as \xNN. */
static const char *quote(const char *s, size_t len, char *buf, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len && i < QUOTE_MAX && n + 5 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf[n++] = (char)ch;
		else
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch);
	}
	if (len > QUOTE_MAX && n + 4 < size) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

#define QBUF	(QUOTE_MAX * 4 + 8)

/* keepalived's names are config words: printable, no blanks; we also refuse '"' (the FIFO's delimiter). */
static bool name_char(char ch)
{
	return ch > 0x20 && ch < 0x7f && ch != '"';
}

static int name_check(const char *s, size_t len, char *err, size_t errlen)
{
	char q[QBUF];

	if (len == 0) {
		kerr(err, errlen, "empty name");
		return -1;
	}
	if (len >= KEEPALIVED_NAME_MAX) {
		kerr(err, errlen, "name \"%s\" is longer than %d characters", quote(s, len, q, sizeof(q)),
		     KEEPALIVED_NAME_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (!name_char(s[i])) {
			kerr(err, errlen, "name \"%s\" holds a blank, a quote or a control character",
			     quote(s, len, q, sizeof(q)));
			return -1;
		}
	}
	return 0;
}

/* 0..255 in decimal, 1 to 3 digits, nothing else. */
static int priority_parse(const char *s, size_t len, int *out)
{
	int v = 0;

	if (len == 0 || len > 3)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 255)
		return -1;
	*out = v;
	return 0;
}

static int type_parse(const char *s, size_t len, enum keepalived_type *out)
{
	if (len == 8 && !memcmp(s, "INSTANCE", 8))
		*out = KEEPALIVED_INSTANCE;
	else if (len == 5 && !memcmp(s, "GROUP", 5))
		*out = KEEPALIVED_GROUP;
	else
		return -1;
	return 0;
}

static int state_parse(const char *s, size_t len, enum role_event *out)
{
	char word[16];

	if (len == 0 || len >= sizeof(word) || memchr(s, '\0', len))
		return -1;
	memcpy(word, s, len);
	word[len] = '\0';
	return role_event_parse(word, out);
}

int keepalived_parse_args(const char *type, const char *name, const char *state,
			  const char *priority, struct keepalived_event *out,
			  char *err, size_t errlen)
{
	struct keepalived_event ev = { .priority = -1 };
	char q[QBUF];

	if (type == NULL || name == NULL || state == NULL) {
		kerr(err, errlen, "TYPE, NAME and STATE are needed");
		return KEEPALIVED_ERROR;
	}
	if (type_parse(type, strlen(type), &ev.type) < 0) {
		kerr(err, errlen, "type \"%s\" is not INSTANCE or GROUP", quote(type, strlen(type), q, sizeof(q)));
		return KEEPALIVED_ERROR;
	}
	if (name_check(name, strlen(name), err, errlen) < 0)
		return KEEPALIVED_ERROR;
	if (state_parse(state, strlen(state), &ev.event) < 0) {
		kerr(err, errlen, "state \"%s\" is not MASTER, BACKUP, FAULT, STOP or DELETED",
		     quote(state, strlen(state), q, sizeof(q)));
		return KEEPALIVED_ERROR;
	}
	if (priority != NULL && priority_parse(priority, strlen(priority), &ev.priority) < 0) {
		kerr(err, errlen, "priority \"%s\" is not a number 0..255",
		     quote(priority, strlen(priority), q, sizeof(q)));
		return KEEPALIVED_ERROR;
	}
	memcpy(ev.name, name, strlen(name) + 1);
	*out = ev;
	return KEEPALIVED_OK;
}

/* The next word of a FIFO line: up to the next space or the end. */
static size_t word_len(const char *s, size_t len)
{
	const char *sp = memchr(s, ' ', len);

	return sp ? (size_t)(sp - s) : len;
}

int keepalived_parse_fifo_line(const char *line, size_t len, struct keepalived_event *out,
			       char *err, size_t errlen)
{
	struct keepalived_event ev = { .priority = -1 };
	const char *p = line, *close;
	size_t n, left = len;
	bool ignore = false;
	char q[QBUF];

	if (len > 0 && line[len - 1] == '\r')
		left = --len;
	if (len == 0) {
		kerr(err, errlen, "empty line");
		return KEEPALIVED_ERROR;
	}
	if (memchr(line, '\0', len)) {
		kerr(err, errlen, "NUL byte in line \"%s\"", quote(line, len, q, sizeof(q)));
		return KEEPALIVED_ERROR;
	}

	/* TYPE */
	n = word_len(p, left);
	if ((n == 2 && (!memcmp(p, "VS", 2) || !memcmp(p, "RS", 2))) && n < left)
		return KEEPALIVED_IGNORED;	/* the checker's lines, on a shared notify_fifo */
	if (type_parse(p, n, &ev.type) < 0 || n == left) {
		kerr(err, errlen, "not a keepalived notify line: \"%s\"", quote(line, len, q, sizeof(q)));
		return KEEPALIVED_ERROR;
	}
	p += n + 1;
	left -= n + 1;

	/* "NAME" */
	if (left < 2 || p[0] != '"' || (close = memchr(p + 1, '"', left - 1)) == NULL) {
		kerr(err, errlen, "the name is not between double quotes: \"%s\"", quote(line, len, q, sizeof(q)));
		return KEEPALIVED_ERROR;
	}
	n = (size_t)(close - (p + 1));
	if (name_check(p + 1, n, err, errlen) < 0)
		return KEEPALIVED_ERROR;
	memcpy(ev.name, p + 1, n);
	ev.name[n] = '\0';
	p = close + 1;
	left = len - (size_t)(p - line);
	if (left < 2 || p[0] != ' ') {
		kerr(err, errlen, "no state after the name: \"%s\"", quote(line, len, q, sizeof(q)));
		return KEEPALIVED_ERROR;
	}
	p++;
	left--;

	/* STATE */
	n = word_len(p, left);
	if (state_parse(p, n, &ev.event) < 0) {
		if (ev.type == KEEPALIVED_INSTANCE &&
		    ((n == 19 && !memcmp(p, "MASTER_RX_LOWER_PRI", 19)) ||
		     (n == 15 && !memcmp(p, "MASTER_PRIORITY", 15)) ||
		     (n == 15 && !memcmp(p, "BACKUP_PRIORITY", 15)))) {
			ignore = true;	/* priority news, not a state change; still check the rest */
		} else {
			kerr(err, errlen, "state \"%s\" is not MASTER, BACKUP, FAULT, STOP or DELETED",
			     quote(p, n, q, sizeof(q)));
			return KEEPALIVED_ERROR;
		}
	}
	if (n == left) {
		kerr(err, errlen, "no priority after the state: \"%s\"", quote(line, len, q, sizeof(q)));
		return KEEPALIVED_ERROR;
	}
	p += n + 1;
	left -= n + 1;

	/* PRIORITY, and the end of the line */
	if (priority_parse(p, left, &ev.priority) < 0) {
		kerr(err, errlen, "priority \"%s\" is not a number 0..255", quote(p, left, q, sizeof(q)));
		return KEEPALIVED_ERROR;
	}
	if (ignore)
		return KEEPALIVED_IGNORED;
	*out = ev;
	return KEEPALIVED_OK;
}

/* A string member without NULs inside, or NULL. */
static const char *json_member_string(struct json_object *args, const char *key)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(args, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}

int keepalived_parse_json(struct json_object *args, struct keepalived_event *out,
			  char *err, size_t errlen)
{
	static const char *const keys[] = { "type", "name", "state" };
	const char *v[3];
	struct json_object *prio;
	int rc;

	if (args == NULL || !json_object_is_type(args, json_type_object)) {
		kerr(err, errlen, "notify needs an object of arguments");
		return KEEPALIVED_ERROR;
	}
	for (int i = 0; i < 3; i++) {
		if ((v[i] = json_member_string(args, keys[i])) == NULL) {
			kerr(err, errlen, "\"%s\" is missing or not a string", keys[i]);
			return KEEPALIVED_ERROR;
		}
	}
	rc = keepalived_parse_args(v[0], v[1], v[2], NULL, out, err, errlen);
	if (rc != KEEPALIVED_OK)
		return rc;
	if (json_object_object_get_ex(args, "priority", &prio) && prio != NULL) {
		int64_t p;

		if (!json_object_is_type(prio, json_type_int)) {
			kerr(err, errlen, "\"priority\" is not an integer");
			return KEEPALIVED_ERROR;
		}
		p = json_object_get_int64(prio);
		if (p < 0 || p > 255) {
			kerr(err, errlen, "priority %lld is not 0..255", (long long)p);
			return KEEPALIVED_ERROR;
		}
		out->priority = (int)p;
	}
	return KEEPALIVED_OK;
}

unsigned keepalived_match(const struct conf *c, const struct keepalived_event *ev,
			  unsigned *idx, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->n_vips; i++) {
		if (strcmp(c->vips[i].instance, ev->name))
			continue;
		if (n < max)
			idx[n] = i;
		n++;
	}
	return n;
}

const char *keepalived_type_name(enum keepalived_type t)
{
	return t == KEEPALIVED_GROUP ? "GROUP" : "INSTANCE";
}

/* ---- the notify FIFO reader ---- */

struct keepalived_fifo {
	struct event_base *base;
	char *path;
	keepalived_event_fn cb;
	void *ctx;
	int fd;				/* -1 while the FIFO is unusable; the check timer retries */
	dev_t dev;
	ino_t ino;
	struct event *ev_read;
	struct event *ev_check;
	char buf[KEEPALIVED_LINE_MAX];
	size_t len;
	bool discarding;		/* inside a line longer than KEEPALIVED_LINE_MAX */
	bool open_failed_logged;	/* one message per run of failures, not one a second */
	struct keepalived_fifo_stats st;
};

static bool fifo_stat_ok(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (!S_ISFIFO(st->st_mode)) {
		kerr(err, errlen, "%s: not a FIFO", path);
		return false;
	}
	if (st->st_uid != geteuid()) {
		kerr(err, errlen, "%s: owned by uid %u, not by us (uid %u)", path, (unsigned)st->st_uid,
		     (unsigned)geteuid());
		return false;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		kerr(err, errlen, "%s: writable by group or others (mode %04o): anyone could move our VIPs",
		     path, (unsigned)(st->st_mode & 07777));
		return false;
	}
	return true;
}

/* Create the FIFO if missing, check it, open it. Returns the fd or -1 with err. */
static int fifo_prepare(const char *path, struct stat *out, char *err, size_t errlen)
{
	struct stat st, fst;
	int fd;

	if (lstat(path, &st) < 0) {
		if (errno != ENOENT) {
			kerr(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		if (mkfifo(path, 0600) < 0 && errno != EEXIST) {
			kerr(err, errlen, "%s: cannot create the FIFO: %s", path, strerror(errno));
			return -1;
		}
		if (lstat(path, &st) < 0) {
			kerr(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (!fifo_stat_ok(path, &st, err, errlen))
		return -1;
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		kerr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	/* The path may have changed between lstat() and open(): judge what we opened. */
	if (fstat(fd, &fst) < 0 || !fifo_stat_ok(path, &fst, err, errlen)) {
		close(fd);
		return -1;
	}
	*out = fst;
	return fd;
}

static void fifo_line(struct keepalived_fifo *f, const char *line, size_t len)
{
	struct keepalived_event ev;
	char err[KEEPALIVED_ERR_MAX];
	int rc;

	f->st.lines++;
	rc = keepalived_parse_fifo_line(line, len, &ev, err, sizeof(err));
	if (rc == KEEPALIVED_OK) {
		f->st.events++;
		log_debug("keepalived: %s %s %s %d", keepalived_type_name(ev.type), ev.name,
			  role_event_name(ev.event), ev.priority);
		f->cb(&ev, f->ctx);
	} else if (rc == KEEPALIVED_IGNORED) {
		f->st.ignored++;
	} else {
		f->st.garbage++;
		/* The first few, then at powers of two: a writer gone mad must not flood the log. */
		if (f->st.garbage <= 8 || !(f->st.garbage & (f->st.garbage - 1)))
			log_warn("keepalived: %s: line ignored (%llu so far): %s", f->path,
				 (unsigned long long)f->st.garbage, err);
	}
}

static void fifo_feed(struct keepalived_fifo *f, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = data[i];

		if (ch == '\n') {
			if (f->discarding) {
				f->st.lines++;
				f->st.garbage++;
				if (f->st.garbage <= 8 || !(f->st.garbage & (f->st.garbage - 1)))
					log_warn("keepalived: %s: line longer than %d bytes ignored (%llu so far)",
						 f->path, KEEPALIVED_LINE_MAX,
						 (unsigned long long)f->st.garbage);
				f->discarding = false;
			} else {
				fifo_line(f, f->buf, f->len);
			}
			f->len = 0;
		} else if (!f->discarding) {
			if (f->len == sizeof(f->buf)) {
				f->discarding = true;
				f->len = 0;
			} else {
				f->buf[f->len++] = ch;
			}
		}
	}
}

static void fifo_close(struct keepalived_fifo *f)
{
	if (f->ev_read != NULL) {
		event_free(f->ev_read);
		f->ev_read = NULL;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->len = 0;
	f->discarding = false;
}

static void on_fifo_read(evutil_socket_t fd, short what, void *arg);

static int fifo_reopen(struct keepalived_fifo *f, bool first, char *err, size_t errlen)
{
	char msg[KEEPALIVED_ERR_MAX + CONF_FILEPATH_MAX];
	struct stat st;
	int fd;

	fifo_close(f);
	fd = fifo_prepare(f->path, &st, msg, sizeof(msg));
	if (fd < 0) {
		kerr(err, errlen, "%s", msg);
		if (!first && !f->open_failed_logged)
			log_err("keepalived: notify FIFO unusable, retrying every %d ms: %s",
				KEEPALIVED_CHECK_MS, msg);
		f->open_failed_logged = true;
		return -1;
	}
	f->ev_read = event_new(f->base, fd, EV_READ | EV_PERSIST, on_fifo_read, f);
	if (f->ev_read == NULL || event_add(f->ev_read, NULL) != 0) {
		if (f->ev_read != NULL)
			event_free(f->ev_read);
		f->ev_read = NULL;
		close(fd);
		kerr(err, errlen, "%s: cannot watch the FIFO", f->path);
		return -1;
	}
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	if (!first) {
		f->st.reopens++;
		log_info("keepalived: notify FIFO %s reopened", f->path);
	}
	f->open_failed_logged = false;
	return 0;
}

/* Read what is there; false when the FIFO must be reopened (EOF or error). */
static bool fifo_drain(struct keepalived_fifo *f)
{
	char data[4096];
	ssize_t n;

	if (f->fd < 0)
		return true;
	for (;;) {
		n = read(f->fd, data, sizeof(data));
		if (n > 0) {
			fifo_feed(f, data, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n < 0)
			log_warn("keepalived: reading %s: %s", f->path, strerror(errno));
		return false;	/* EOF: cannot happen while we hold a write end, but be safe */
	}
}

static void on_fifo_read(evutil_socket_t fd, short what, void *arg)
{
	struct keepalived_fifo *f = arg;

	if (!fifo_drain(f))
		fifo_reopen(f, false, NULL, 0);
}

static void on_fifo_check(evutil_socket_t fd, short what, void *arg)
{
	struct keepalived_fifo *f = arg;
	struct stat st;

	if (f->fd >= 0 && lstat(f->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino)
		return;
	/* Replaced, removed, or unusable so far: take what the old FIFO still holds, then switch. */
	fifo_drain(f);
	fifo_reopen(f, false, NULL, 0);
}

struct keepalived_fifo *keepalived_fifo_open(struct event_base *base, const char *path,
					     keepalived_event_fn cb, void *ctx,
					     char *err, size_t errlen)
{
	struct timeval tv = { KEEPALIVED_CHECK_MS / 1000, (KEEPALIVED_CHECK_MS % 1000) * 1000 };
	struct keepalived_fifo *f;

	if (path == NULL || path[0] != '/' || cb == NULL) {
		kerr(err, errlen, "the notify FIFO needs an absolute path and a callback");
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL || (f->path = strdup(path)) == NULL) {
		free(f);
		kerr(err, errlen, "out of memory");
		return NULL;
	}
	f->base = base;
	f->cb = cb;
	f->ctx = ctx;
	f->fd = -1;
	if (fifo_reopen(f, true, err, errlen) < 0) {
		keepalived_fifo_free(f);
		return NULL;
	}
	f->ev_check = event_new(base, -1, EV_PERSIST, on_fifo_check, f);
	if (f->ev_check == NULL || event_add(f->ev_check, &tv) != 0) {
		kerr(err, errlen, "cannot start the notify FIFO timer");
		keepalived_fifo_free(f);
		return NULL;
	}
	return f;
}

void keepalived_fifo_get_stats(const struct keepalived_fifo *f, struct keepalived_fifo_stats *out)
{
	*out = f->st;
}

void keepalived_fifo_poll(struct keepalived_fifo *f)
{
	on_fifo_read(f->fd, EV_READ, f);
}

void keepalived_fifo_free(struct keepalived_fifo *f)
{
	if (f == NULL)
		return;
	fifo_close(f);
	if (f->ev_check != NULL)
		event_free(f->ev_check);
	free(f->path);
	free(f);
}
