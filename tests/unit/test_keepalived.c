/* test_keepalived.c: unit tests for keepalived's event parsers, the VIP mapping and the notify FIFO reader. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "conf.h"
#include "ctl.h"
#include "keepalived.h"

/* ---- notify script arguments ---- */

static void test_parse_args(void **state)
{
	struct keepalived_event ev;
	char err[KEEPALIVED_ERR_MAX];

	assert_int_equal(keepalived_parse_args("INSTANCE", "VI_1", "MASTER", "100", &ev, err, sizeof(err)),
			 KEEPALIVED_OK);
	assert_int_equal(ev.type, KEEPALIVED_INSTANCE);
	assert_string_equal(ev.name, "VI_1");
	assert_int_equal(ev.event, ROLE_EV_MASTER);
	assert_int_equal(ev.priority, 100);

	assert_int_equal(keepalived_parse_args("GROUP", "G_GW1", "BACKUP", "0", &ev, err, sizeof(err)),
			 KEEPALIVED_OK);
	assert_int_equal(ev.type, KEEPALIVED_GROUP);
	assert_int_equal(ev.event, ROLE_EV_BACKUP);
	assert_int_equal(ev.priority, 0);

	assert_int_equal(keepalived_parse_args("INSTANCE", "a", "DELETED", NULL, &ev, err, sizeof(err)),
			 KEEPALIVED_OK);
	assert_int_equal(ev.event, ROLE_EV_DELETED);
	assert_int_equal(ev.priority, -1);
	assert_int_equal(keepalived_parse_args("INSTANCE", "a", "FAULT", "255", &ev, err, sizeof(err)),
			 KEEPALIVED_OK);
	assert_int_equal(ev.priority, 255);
	assert_int_equal(keepalived_parse_args("INSTANCE", "a", "STOP", "7", &ev, err, sizeof(err)),
			 KEEPALIVED_OK);
	assert_int_equal(ev.event, ROLE_EV_STOP);
	/* 63 characters is the longest name */
	assert_int_equal(keepalived_parse_args("GROUP", "123456789012345678901234567890123456789012345678901234567890123",
					       "MASTER", NULL, &ev, err, sizeof(err)), KEEPALIVED_OK);
}

static void test_parse_args_errors(void **state)
{
	static const struct {
		const char *type, *name, *state, *prio, *msg;
	} bad[] = {
		{ "instance", "VI_1", "MASTER", "1", "type \"instance\" is not INSTANCE or GROUP" },
		{ "", "VI_1", "MASTER", "1", "type \"\" is not INSTANCE or GROUP" },
		{ "INSTANCE", "", "MASTER", "1", "empty name" },
		{ "INSTANCE", "VI 1", "MASTER", "1", "name \"VI 1\" holds a blank, a quote or a control character" },
		{ "INSTANCE", "VI\"1", "MASTER", "1", "name \"VI\"1\" holds a blank, a quote or a control character" },
		{ "INSTANCE", "VI\n1", "MASTER", "1", "name \"VI\\x0a1\" holds a blank, a quote or a control character" },
		{ "INSTANCE", "1234567890123456789012345678901234567890123456789012345678901234", "MASTER", "1",
		  "name \"12345678901234567890123456789012...\" is longer than 63 characters" },
		{ "INSTANCE", "VI_1", "master", "1",
		  "state \"master\" is not MASTER, BACKUP, FAULT, STOP or DELETED" },
		{ "INSTANCE", "VI_1", "PROMOTE", "1",
		  "state \"PROMOTE\" is not MASTER, BACKUP, FAULT, STOP or DELETED" },
		{ "INSTANCE", "VI_1", "MASTER", "256", "priority \"256\" is not a number 0..255" },
		{ "INSTANCE", "VI_1", "MASTER", "-1", "priority \"-1\" is not a number 0..255" },
		{ "INSTANCE", "VI_1", "MASTER", "", "priority \"\" is not a number 0..255" },
		{ "INSTANCE", "VI_1", "MASTER", "1000", "priority \"1000\" is not a number 0..255" },
		{ "INSTANCE", "VI_1", "MASTER", "1x", "priority \"1x\" is not a number 0..255" },
		{ NULL, "VI_1", "MASTER", "1", "TYPE, NAME and STATE are needed" },
	};
	struct keepalived_event ev = { .priority = 42 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[KEEPALIVED_ERR_MAX] = "";

		assert_int_equal(keepalived_parse_args(bad[i].type, bad[i].name, bad[i].state, bad[i].prio,
						       &ev, err, sizeof(err)), KEEPALIVED_ERROR);
		if (strcmp(err, bad[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
	assert_int_equal(ev.priority, 42);	/* untouched on error */
	/* no error buffer at all is fine */
	assert_int_equal(keepalived_parse_args("X", "a", "MASTER", NULL, &ev, NULL, 0), KEEPALIVED_ERROR);
}

/* ---- notify FIFO lines ---- */

static int fifo_line(const char *s, struct keepalived_event *ev, char *err)
{
	return keepalived_parse_fifo_line(s, strlen(s), ev, err, KEEPALIVED_ERR_MAX);
}

static void test_fifo_lines(void **state)
{
	static const char *const ignored[] = {
		"VS [192.168.201.15]:tcp:80 UP",
		"RS [1.2.3.4]:tcp:80 [192.168.201.15]:tcp:80 DOWN",
		"INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100",
		"INSTANCE \"VI_1\" MASTER_PRIORITY 90",
		"INSTANCE \"VI_1\" BACKUP_PRIORITY 80",
	};
	struct keepalived_event ev;
	char err[KEEPALIVED_ERR_MAX];

	assert_int_equal(fifo_line("INSTANCE \"VI_1\" MASTER 100", &ev, err), KEEPALIVED_OK);
	assert_int_equal(ev.type, KEEPALIVED_INSTANCE);
	assert_string_equal(ev.name, "VI_1");
	assert_int_equal(ev.event, ROLE_EV_MASTER);
	assert_int_equal(ev.priority, 100);

	assert_int_equal(fifo_line("GROUP \"G1\" BACKUP 0", &ev, err), KEEPALIVED_OK);
	assert_int_equal(ev.type, KEEPALIVED_GROUP);
	assert_string_equal(ev.name, "G1");
	assert_int_equal(ev.event, ROLE_EV_BACKUP);
	assert_int_equal(ev.priority, 0);

	assert_int_equal(fifo_line("GROUP \"G1\" FAULT 0\r", &ev, err), KEEPALIVED_OK);
	assert_int_equal(ev.event, ROLE_EV_FAULT);
	assert_int_equal(fifo_line("INSTANCE \"x.y-z\" STOP 254", &ev, err), KEEPALIVED_OK);
	assert_int_equal(ev.event, ROLE_EV_STOP);
	assert_string_equal(ev.name, "x.y-z");
	assert_int_equal(fifo_line("INSTANCE \"VI_2\" DELETED 0", &ev, err), KEEPALIVED_OK);
	assert_int_equal(ev.event, ROLE_EV_DELETED);

	/* a line not NUL-terminated: only len bytes count */
	assert_int_equal(keepalived_parse_fifo_line("GROUP \"G\" MASTER 0GARBAGE", 18, &ev, err, sizeof(err)),
			 KEEPALIVED_OK);
	assert_string_equal(ev.name, "G");

	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		assert_int_equal(fifo_line(ignored[i], &ev, err), KEEPALIVED_IGNORED);
}

static void test_fifo_line_errors(void **state)
{
	static const struct {
		const char *line, *msg;
	} bad[] = {
		{ "", "empty line" },
		{ "\r", "empty line" },
		{ "HELLO", "not a keepalived notify line: \"HELLO\"" },
		{ "INSTANCE", "not a keepalived notify line: \"INSTANCE\"" },
		{ "VS", "not a keepalived notify line: \"VS\"" },
		{ "instance \"VI_1\" MASTER 100", "not a keepalived notify line: \"instance \"VI_1\" MASTER 100\"" },
		{ "INSTANCE VI_1 MASTER 100", "the name is not between double quotes: \"INSTANCE VI_1 MASTER 100\"" },
		{ "INSTANCE \"VI_1 MASTER 100", "the name is not between double quotes: \"INSTANCE \"VI_1 MASTER 100\"" },
		{ "INSTANCE \"\" MASTER 100", "empty name" },
		{ "INSTANCE \"V I\" MASTER 100", "name \"V I\" holds a blank, a quote or a control character" },
		{ "INSTANCE \"VI_1\"MASTER 100", "no state after the name: \"INSTANCE \"VI_1\"MASTER 100\"" },
		{ "INSTANCE \"VI_1\"", "no state after the name: \"INSTANCE \"VI_1\"\"" },
		{ "INSTANCE \"VI_1\" ", "no state after the name: \"INSTANCE \"VI_1\" \"" },
		{ "INSTANCE \"VI_1\" MASTER", "no priority after the state: \"INSTANCE \"VI_1\" MASTER\"" },
		{ "INSTANCE \"VI_1\" MASTER ", "priority \"\" is not a number 0..255" },
		{ "INSTANCE \"VI_1\" MASTER  100", "priority \" 100\" is not a number 0..255" },
		{ "INSTANCE \"VI_1\" MASTER 100 ", "priority \"100 \" is not a number 0..255" },
		{ "INSTANCE \"VI_1\" MASTER 100 extra", "priority \"100 extra\" is not a number 0..255" },
		{ "INSTANCE \"VI_1\" MASTER 256", "priority \"256\" is not a number 0..255" },
		{ "INSTANCE \"VI_1\" MASTER -1", "priority \"-1\" is not a number 0..255" },
		{ "INSTANCE \"VI_1\" {UNKNOWN} 100",
		  "state \"{UNKNOWN}\" is not MASTER, BACKUP, FAULT, STOP or DELETED" },
		{ "INSTANCE \"VI_1\" master 100", "state \"master\" is not MASTER, BACKUP, FAULT, STOP or DELETED" },
		{ "GROUP \"G1\" MASTER_PRIORITY 0",
		  "state \"MASTER_PRIORITY\" is not MASTER, BACKUP, FAULT, STOP or DELETED" },
		{ "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI x", "priority \"x\" is not a number 0..255" },
		{ "INSTANCE \"VI_1\" MASTER 1\r\r", "priority \"1\\x0d\" is not a number 0..255" },
		{ "INSTANCE \"\x01\" MASTER 1", "name \"\\x01\" holds a blank, a quote or a control character" },
	};
	struct keepalived_event ev;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[KEEPALIVED_ERR_MAX] = "";

		assert_int_equal(fifo_line(bad[i].line, &ev, err), KEEPALIVED_ERROR);
		if (strcmp(err, bad[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
	{
		static const char nul[] = "GROUP \"G\0\" MASTER 0";
		char err[KEEPALIVED_ERR_MAX];

		assert_int_equal(keepalived_parse_fifo_line(nul, sizeof(nul) - 1, &ev, err, sizeof(err)),
				 KEEPALIVED_ERROR);
		assert_string_equal(err, "NUL byte in line \"GROUP \"G\\x00\" MASTER 0\"");
	}
	{
		char line[200], err[KEEPALIVED_ERR_MAX];

		/* a long line is quoted cut short */
		snprintf(line, sizeof(line), "INSTANCE \"%0100d\" MASTER 1", 0);
		assert_int_equal(fifo_line(line, &ev, err), KEEPALIVED_ERROR);
		assert_string_equal(err, "name \"00000000000000000000000000000000...\" is longer than 63 characters");
	}
}

/* ---- the control socket's notify arguments ---- */

static int from_json(const char *text, struct keepalived_event *ev, char *err)
{
	struct json_object *o = json_tokener_parse(text);
	int rc;

	assert_non_null(o);
	rc = keepalived_parse_json(o, ev, err, KEEPALIVED_ERR_MAX);
	json_object_put(o);
	return rc;
}

static void test_parse_json(void **state)
{
	static const struct {
		const char *json, *msg;
	} bad[] = {
		{ "[]", "notify needs an object of arguments" },
		{ "{}", "\"type\" is missing or not a string" },
		{ "{\"type\":1,\"name\":\"a\",\"state\":\"MASTER\"}", "\"type\" is missing or not a string" },
		{ "{\"type\":\"GROUP\",\"state\":\"MASTER\"}", "\"name\" is missing or not a string" },
		{ "{\"type\":\"GROUP\",\"name\":\"a\"}", "\"state\" is missing or not a string" },
		{ "{\"type\":\"GROUP\",\"name\":\"a\\u0000b\",\"state\":\"MASTER\"}",
		  "\"name\" is missing or not a string" },
		{ "{\"type\":\"GROUP\",\"name\":\"a\",\"state\":\"UP\"}",
		  "state \"UP\" is not MASTER, BACKUP, FAULT, STOP or DELETED" },
		{ "{\"type\":\"GROUP\",\"name\":\"a\",\"state\":\"MASTER\",\"priority\":\"1\"}",
		  "\"priority\" is not an integer" },
		{ "{\"type\":\"GROUP\",\"name\":\"a\",\"state\":\"MASTER\",\"priority\":1.5}",
		  "\"priority\" is not an integer" },
		{ "{\"type\":\"GROUP\",\"name\":\"a\",\"state\":\"MASTER\",\"priority\":256}",
		  "priority 256 is not 0..255" },
		{ "{\"type\":\"GROUP\",\"name\":\"a\",\"state\":\"MASTER\",\"priority\":-3}",
		  "priority -3 is not 0..255" },
	};
	struct keepalived_event ev;
	char err[KEEPALIVED_ERR_MAX];

	assert_int_equal(from_json("{\"type\":\"INSTANCE\",\"name\":\"VI_1\",\"state\":\"FAULT\",\"priority\":100}",
				   &ev, err), KEEPALIVED_OK);
	assert_int_equal(ev.type, KEEPALIVED_INSTANCE);
	assert_string_equal(ev.name, "VI_1");
	assert_int_equal(ev.event, ROLE_EV_FAULT);
	assert_int_equal(ev.priority, 100);
	assert_int_equal(from_json("{\"type\":\"GROUP\",\"name\":\"G\",\"state\":\"MASTER\",\"extra\":true}",
				   &ev, err), KEEPALIVED_OK);
	assert_int_equal(ev.priority, -1);
	assert_int_equal(from_json("{\"type\":\"GROUP\",\"name\":\"G\",\"state\":\"MASTER\",\"priority\":null}",
				   &ev, err), KEEPALIVED_OK);
	assert_int_equal(ev.priority, -1);
	assert_int_equal(keepalived_parse_json(NULL, &ev, err, sizeof(err)), KEEPALIVED_ERROR);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(from_json(bad[i].json, &ev, err), KEEPALIVED_ERROR);
		if (strcmp(err, bad[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
	}
}

/* ---- events to VIPs ---- */

static void test_match(void **state)
{
	static const char text[] =
		"sync\n\tremote=10.9.0.2\n\tkey-file=/k\n"
		"vip outside\n\taddress=192.0.2.1\n\tinstance=G_GW1\n"
		"vip outside2\n\taddress=192.0.2.2\n\tinstance=G_GW2\n"
		"vip extra\n\taddress=192.0.2.3\n\tinstance=G_GW1\n"
		"vip VI_3\n\taddress=192.0.2.4\n";
	struct keepalived_event ev = { .type = KEEPALIVED_GROUP };
	struct conf_error cerr;
	struct conf *c;
	unsigned idx[4] = { 99, 99, 99, 99 };

	assert_int_equal(conf_parse_buffer("t", text, strlen(text), &c, &cerr), 0);
	snprintf(ev.name, sizeof(ev.name), "G_GW1");
	assert_int_equal(keepalived_match(c, &ev, idx, 4), 2);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 2);
	/* more matches than room: the count is still right, nothing written past max */
	idx[0] = idx[1] = 99;
	assert_int_equal(keepalived_match(c, &ev, idx, 1), 2);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 99);

	snprintf(ev.name, sizeof(ev.name), "G_GW2");
	assert_int_equal(keepalived_match(c, &ev, idx, 4), 1);
	assert_int_equal(idx[0], 1);
	/* instance defaults to the vip's name; a type does not matter */
	ev.type = KEEPALIVED_INSTANCE;
	snprintf(ev.name, sizeof(ev.name), "VI_3");
	assert_int_equal(keepalived_match(c, &ev, idx, 4), 1);
	assert_int_equal(idx[0], 3);
	/* names are case-sensitive, and an unknown one matches nothing */
	snprintf(ev.name, sizeof(ev.name), "g_gw1");
	assert_int_equal(keepalived_match(c, &ev, idx, 4), 0);
	snprintf(ev.name, sizeof(ev.name), "VI_OTHER");
	assert_int_equal(keepalived_match(c, &ev, NULL, 0), 0);
	conf_free(c);

	assert_string_equal(keepalived_type_name(KEEPALIVED_INSTANCE), "INSTANCE");
	assert_string_equal(keepalived_type_name(KEEPALIVED_GROUP), "GROUP");
}

/* ---- the FIFO reader ---- */

struct seen {
	struct keepalived_event ev[16];
	unsigned n;
};

static void on_event(const struct keepalived_event *ev, void *ctx)
{
	struct seen *s = ctx;

	if (s->n < 16)
		s->ev[s->n] = *ev;
	s->n++;
}

struct fx {
	char dir[64];
	char path[128];
	struct event_base *base;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_keepalived.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/keepalived.fifo", f->dir);
	f->base = event_base_new();
	*state = f;
	return f->base ? 0 : -1;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char other[160];

	unlink(f->path);
	snprintf(other, sizeof(other), "%s/other", f->dir);
	unlink(other);
	rmdir(f->dir);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* keepalived's side: open like it does and write. */
static int writer_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);

	assert_true(fd >= 0);
	return fd;
}

static void put(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Run the loop until nothing is pending; with a timeout so a bug cannot hang the test. */
static void loop_once(struct event_base *base, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void test_fifo_reader(void **state)
{
	struct fx *f = *state;
	struct keepalived_fifo_stats st;
	struct keepalived_fifo *kf;
	struct seen seen = { .n = 0 };
	char err[KEEPALIVED_ERR_MAX + 256];
	struct stat sb;
	char big[KEEPALIVED_LINE_MAX + 64];
	int w;

	kf = keepalived_fifo_open(f->base, f->path, on_event, &seen, err, sizeof(err));
	if (kf == NULL)
		fail_msg("%s", err);
	/* created, as a private FIFO */
	assert_int_equal(lstat(f->path, &sb), 0);
	assert_true(S_ISFIFO(sb.st_mode));
	assert_int_equal(sb.st_mode & 077, 0);

	w = writer_open(f->path);
	/* in order, split across writes, with noise between */
	put(w, "INSTANCE \"VI_1\" BACKUP 100\nGROUP \"G1\" MAS");
	put(w, "TER 0\nVS [192.0.2.9]:tcp:80 UP\nthis is garbage\n");
	put(w, "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100\n");
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	put(w, big);
	put(w, "\nGROUP \"G1\" FAULT 0\npartial");
	loop_once(f->base, 50);

	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.ev[0].name, "VI_1");
	assert_int_equal(seen.ev[0].event, ROLE_EV_BACKUP);
	assert_int_equal(seen.ev[0].priority, 100);
	assert_string_equal(seen.ev[1].name, "G1");
	assert_int_equal(seen.ev[1].type, KEEPALIVED_GROUP);
	assert_int_equal(seen.ev[1].event, ROLE_EV_MASTER);
	assert_int_equal(seen.ev[2].event, ROLE_EV_FAULT);
	keepalived_fifo_get_stats(kf, &st);
	assert_int_equal(st.lines, 7);
	assert_int_equal(st.events, 3);
	assert_int_equal(st.ignored, 2);
	assert_int_equal(st.garbage, 2);	/* "this is garbage" and the long line */
	assert_int_equal(st.reopens, 0);

	/* the partial line completes later */
	put(w, " line\nGROUP \"G1\" BACKUP 0\n");
	keepalived_fifo_poll(kf);
	assert_int_equal(seen.n, 4);
	assert_int_equal(seen.ev[3].event, ROLE_EV_BACKUP);
	keepalived_fifo_get_stats(kf, &st);
	assert_int_equal(st.garbage, 3);

	/* keepalived stops (closes its end): we hold a write end, so no EOF, nothing lost */
	close(w);
	keepalived_fifo_poll(kf);
	w = writer_open(f->path);
	put(w, "GROUP \"G1\" MASTER 0\n");
	loop_once(f->base, 50);
	assert_int_equal(seen.n, 5);
	keepalived_fifo_get_stats(kf, &st);
	assert_int_equal(st.reopens, 0);
	close(w);

	/* keepalived created a new FIFO at the path: events written to the old one
	 * before the switch are still delivered, then the new one is read */
	w = writer_open(f->path);
	put(w, "GROUP \"G1\" BACKUP 0\n");
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(mkfifo(f->path, 0644), 0);
	close(w);
	loop_once(f->base, KEEPALIVED_CHECK_MS + 300);
	keepalived_fifo_get_stats(kf, &st);
	assert_int_equal(st.reopens, 1);
	assert_int_equal(seen.n, 6);
	assert_int_equal(seen.ev[5].event, ROLE_EV_BACKUP);
	w = writer_open(f->path);
	put(w, "INSTANCE \"VI_9\" STOP 50\n");
	loop_once(f->base, 50);
	assert_int_equal(seen.n, 7);
	assert_string_equal(seen.ev[6].name, "VI_9");
	assert_int_equal(seen.ev[6].event, ROLE_EV_STOP);
	close(w);

	/* the FIFO is removed (keepalived unlinks a FIFO it created when it stops): recreated */
	assert_int_equal(unlink(f->path), 0);
	loop_once(f->base, KEEPALIVED_CHECK_MS + 300);
	assert_int_equal(lstat(f->path, &sb), 0);
	assert_true(S_ISFIFO(sb.st_mode));
	keepalived_fifo_get_stats(kf, &st);
	assert_int_equal(st.reopens, 2);
	w = writer_open(f->path);
	put(w, "GROUP \"G1\" MASTER 0\n");
	loop_once(f->base, 50);
	assert_int_equal(seen.n, 8);
	close(w);

	keepalived_fifo_free(kf);
	/* the file stays: keepalived may hold it open */
	assert_int_equal(lstat(f->path, &sb), 0);
}

static void test_fifo_refused(void **state)
{
	struct fx *f = *state;
	struct seen seen = { .n = 0 };
	char err[KEEPALIVED_ERR_MAX + 256], want[256], other[160];
	int fd;

	/* a regular file */
	fd = open(f->path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(keepalived_fifo_open(f->base, f->path, on_event, &seen, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a FIFO", f->path);
	assert_string_equal(err, want);
	unlink(f->path);

	/* a FIFO others may write to */
	assert_int_equal(mkfifo(f->path, 0600), 0);
	assert_int_equal(chmod(f->path, 0622), 0);
	assert_null(keepalived_fifo_open(f->base, f->path, on_event, &seen, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: writable by group or others (mode 0622): anyone could move our VIPs",
		 f->path);
	assert_string_equal(err, want);
	unlink(f->path);

	/* a symbolic link to a good FIFO */
	snprintf(other, sizeof(other), "%s/other", f->dir);
	assert_int_equal(mkfifo(other, 0600), 0);
	assert_int_equal(symlink(other, f->path), 0);
	assert_null(keepalived_fifo_open(f->base, f->path, on_event, &seen, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a FIFO", f->path);
	assert_string_equal(err, want);
	unlink(f->path);

	/* a directory that does not exist */
	assert_null(keepalived_fifo_open(f->base, "/nonexistent-dir/k.fifo", on_event, &seen, err, sizeof(err)));
	assert_string_equal(err, "/nonexistent-dir/k.fifo: cannot create the FIFO: No such file or directory");

	/* not an absolute path, no callback */
	assert_null(keepalived_fifo_open(f->base, "k.fifo", on_event, &seen, err, sizeof(err)));
	assert_null(keepalived_fifo_open(f->base, f->path, NULL, &seen, err, sizeof(err)));
	keepalived_fifo_free(NULL);
}

/* ---- hasyncctl notify, against a control socket server that echoes its args ---- */

struct cli {
	struct event_base *base;
	int argc;
	char *argv[12];
	int rc;
	char *out, *err;
	size_t outlen, errlen;
	atomic_int done;
};

static void *cli_thread(void *p)
{
	struct cli *c = p;
	FILE *out = open_memstream(&c->out, &c->outlen), *err = open_memstream(&c->err, &c->errlen);

	c->rc = ctl_client_main(c->argc, c->argv, out, err);
	fclose(out);
	fclose(err);
	atomic_store(&c->done, 1);
	return NULL;
}

/* Run hasyncctl in a thread while this one serves the socket. */
static void cli_run(struct cli *c, struct event_base *base, const char *sock, ...)
{
	pthread_t t;
	va_list ap;
	char *a;

	memset(c, 0, sizeof(*c));
	c->argv[c->argc++] = "hasyncctl";
	c->argv[c->argc++] = "--socket";
	c->argv[c->argc++] = (char *)sock;
	va_start(ap, sock);
	while ((a = va_arg(ap, char *)) != NULL && c->argc < 11)
		c->argv[c->argc++] = a;
	va_end(ap);
	assert_int_equal(pthread_create(&t, NULL, cli_thread, c), 0);
	while (!atomic_load(&c->done)) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	pthread_join(t, NULL);
}

static void cli_free(struct cli *c)
{
	free(c->out);
	free(c->err);
}

static int h_echo(struct json_object *args, struct json_object *data, char *err, size_t errlen, void *ctx)
{
	json_object_object_add(data, "args", json_object_get(args));
	return 0;
}

static void test_hasyncctl_notify(void **state)
{
	struct fx *f = *state;
	char sock[160], err[CTL_ERR_MAX], missing[160];
	struct ctl *ctl;
	struct cli c;

	if (geteuid() != 0)
		skip();	/* the control socket serves root only */
	snprintf(sock, sizeof(sock), "%s/ctl.sock", f->dir);
	ctl = ctl_new(f->base);
	assert_non_null(ctl);
	if (ctl_listen(ctl, sock, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(ctl_register(ctl, "notify", h_echo, NULL), 0);

	cli_run(&c, f->base, sock, "--json", "notify", "GROUP", "G_GW1", "MASTER", "0", NULL);
	assert_int_equal(c.rc, CTL_EXIT_OK);
	assert_string_equal(c.out, "{\"args\":{\"type\":\"GROUP\",\"name\":\"G_GW1\",\"state\":\"MASTER\","
			    "\"priority\":0}}\n");
	cli_free(&c);

	/* the priority is optional */
	cli_run(&c, f->base, sock, "--json", "notify", "INSTANCE", "VI_1", "DELETED", NULL);
	assert_int_equal(c.rc, CTL_EXIT_OK);
	assert_string_equal(c.out, "{\"args\":{\"type\":\"INSTANCE\",\"name\":\"VI_1\",\"state\":\"DELETED\"}}\n");
	cli_free(&c);

	/* checked before anything is sent: usage errors */
	cli_run(&c, f->base, sock, "notify", "GROUP", "G_GW1", "master", "0", NULL);
	assert_int_equal(c.rc, CTL_EXIT_USAGE);
	assert_string_equal(c.err, "hasyncctl: notify: state \"master\" is not MASTER, BACKUP, FAULT, STOP or DELETED\n");
	cli_free(&c);
	cli_run(&c, f->base, sock, "notify", "GROUP", "G_GW1", "MASTER", "300", NULL);
	assert_int_equal(c.rc, CTL_EXIT_USAGE);
	assert_string_equal(c.err, "hasyncctl: notify: priority \"300\" is not a number 0..255\n");
	cli_free(&c);
	cli_run(&c, f->base, sock, "notify", "GROUP", "G_GW1", NULL);
	assert_int_equal(c.rc, CTL_EXIT_USAGE);
	assert_string_equal(c.err, "hasyncctl: usage: hasyncctl notify TYPE NAME STATE [PRIORITY]\n");
	cli_free(&c);
	cli_run(&c, f->base, sock, "notify", "GROUP", "G_GW1", "MASTER", "0", "extra", NULL);
	assert_int_equal(c.rc, CTL_EXIT_USAGE);
	cli_free(&c);
	cli_run(&c, f->base, sock, "--help", NULL);
	assert_int_equal(c.rc, CTL_EXIT_OK);
	assert_non_null(strstr(c.out, "  notify TYPE NAME STATE [PRIORITY]\n"));
	cli_free(&c);

	/* a daemon without the handler says so: exit 1 */
	ctl_free(ctl);
	ctl = ctl_new(f->base);
	assert_int_equal(ctl_listen(ctl, sock, err, sizeof(err)), 0);
	cli_run(&c, f->base, sock, "notify", "GROUP", "G_GW1", "BACKUP", "0", NULL);
	assert_int_equal(c.rc, CTL_EXIT_NO);
	cli_free(&c);
	ctl_free(ctl);

	/* no daemon: exit 3 */
	snprintf(missing, sizeof(missing), "%s/none.sock", f->dir);
	cli_run(&c, f->base, missing, "notify", "GROUP", "G_GW1", "BACKUP", "0", NULL);
	assert_int_equal(c.rc, CTL_EXIT_UNREACHABLE);
	cli_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_args),
		cmocka_unit_test(test_parse_args_errors),
		cmocka_unit_test(test_fifo_lines),
		cmocka_unit_test(test_fifo_line_errors),
		cmocka_unit_test(test_parse_json),
		cmocka_unit_test(test_match),
		cmocka_unit_test_setup_teardown(test_fifo_reader, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_refused, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hasyncctl_notify, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
