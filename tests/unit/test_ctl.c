/* test_ctl.c: the control socket server and hasyncctl's client over a real Unix socket in a temp dir, in one libevent loop. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <nss.h>

#include "cache.h"
#include "ctl.h"
#include "ike.h"
#include "pluto.h"

struct fixture {
	char dir[64];
	char rundir[96];
	char sock[128];
	struct event_base *base;
	struct ctl *ctl;
	struct cache *cache;
	struct ike_cache *ike_own, *ike_held;
	bool in_sync;
};

/* ---- handlers the tests register, as the daemon would ---- */

static const struct ctl_vip_status vips[] = {
	{ "outside", "192.0.2.1", "VI_OUTSIDE", "active", "MASTER" },
	{ "inside", "10.0.0.1", "VI_INSIDE", "standby", "BACKUP" },
};
static const struct ctl_path_status paths[] = {
	{ "10.9.0.1", "10.9.0.2", "up", true, 1 },
	{ "10.9.1.1", "10.9.1.2", "down", false, -1 },
};
static const struct ctl_counter decode_errors[] = {
	{ "truncated", 0 }, { "bad version", 3 },
};

static void status_of(struct ctl_status *st, bool in_sync)
{
	memset(st, 0, sizeof(*st));
	st->node_id = "gw1";
	st->vips = vips;
	st->n_vips = 2;
	st->peer_node_id = "gw2";
	st->peer_state = "up";
	st->transport = "sctp";
	st->paths = paths;
	st->n_paths = 2;
	st->sync_lag_ms = 12;
	st->in_sync = in_sync;
	st->decode_errors = decode_errors;
	st->n_decode_errors = 2;
	st->auth_failures = 1;
	st->records_sent = 120;
	st->records_received = 4411;
}

static int h_status(struct json_object *args, struct json_object *data, char *err, size_t errlen,
		    void *ctx)
{
	struct fixture *f = ctx;
	struct ctl_status st;

	status_of(&st, f->in_sync);
	return ctl_status_json(&st, f->cache, f->ctl, 66000, data);
}

static int h_sas(struct json_object *args, struct json_object *data, char *err, size_t errlen,
		 void *ctx)
{
	struct fixture *f = ctx;

	return ctl_sas_json(f->cache, args, 1000, data, err, errlen);
}

static int h_ike(struct json_object *args, struct json_object *data, char *err, size_t errlen,
		 void *ctx)
{
	struct fixture *f = ctx;

	return ctl_ike_json(f->ike_own, f->ike_held, args, 1000, data, err, errlen);
}

static int h_peers(struct json_object *args, struct json_object *data, char *err, size_t errlen,
		   void *ctx)
{
	struct ctl_peers p = {
		.peer_node_id = "gw2", .peer_state = "up", .transport = "sctp",
		.paths = paths, .n_paths = 2, .records_sent = 5, .resyncs = 1,
	};

	return ctl_peers_json(&p, data);
}

static int h_check(struct json_object *args, struct json_object *data, char *err, size_t errlen,
		   void *ctx)
{
	struct fixture *f = ctx;

	json_object_object_add(data, "in_sync", json_object_new_boolean(f->in_sync));
	json_object_object_add(data, "reason", json_object_new_string(
		f->in_sync ? "first bulk sync complete" : "first bulk sync not complete"));
	return 0;
}

static int h_fail(struct json_object *args, struct json_object *data, char *err, size_t errlen,
		  void *ctx)
{
	snprintf(err, errlen, "the peer is not connected");
	return -1;
}

static int h_echo(struct json_object *args, struct json_object *data, char *err, size_t errlen,
		  void *ctx)
{
	json_object_object_add(data, "args", json_object_get(args));
	return 0;
}

/* ---- the cache behind `sas` and `status` ---- */

static void addr4(struct ha_addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, s, &a->v4), 1);
}

static void sa_make(struct ha_sa *sa, bool in, uint32_t spi)
{
	memset(sa, 0, sizeof(*sa));
	addr4(&sa->id.daddr, in ? "192.0.2.1" : "198.51.100.7");
	addr4(&sa->saddr, in ? "198.51.100.7" : "192.0.2.1");
	sa->family = AF_INET;
	sa->id.spi = htonl(spi);
	sa->id.proto = IPPROTO_ESP;
	sa->reqid = 16389;
	sa->replay_window = 32;
	snprintf(sa->aead.name, sizeof(sa->aead.name), "rfc4106(gcm(aes))");
	sa->aead.key_len_bits = 160;
	memset(sa->aead.key, 0x5a, 20);
	sa->replay.legacy.seq = 4711;
}

static struct cache *cache_make(void)
{
	struct cache_config cfg;
	struct cache *c;
	struct ha_sa sa;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.vips[0].name, sizeof(cfg.vips[0].name), "outside");
	addr4(&cfg.vips[0].addr, "192.0.2.1");
	snprintf(cfg.vips[1].name, sizeof(cfg.vips[1].name), "inside");
	addr4(&cfg.vips[1].addr, "10.0.0.1");
	cfg.n_vips = 2;
	c = cache_new(&cfg);
	assert_non_null(c);
	sa_make(&sa, true, 0xc0ffee01);
	assert_int_equal(cache_sa_add(c, &sa, 150, false), CACHE_OK);
	sa_make(&sa, false, 0x0badcafe);
	assert_int_equal(cache_sa_add(c, &sa, 150, false), CACHE_OK);
	assert_int_equal(cache_bulk_begin(c, 3, 500), CACHE_OK);
	sa_make(&sa, true, 0xc0ffee01);
	assert_int_equal(cache_sa_add(c, &sa, 600, true), CACHE_OK);
	sa_make(&sa, false, 0x0badcafe);
	assert_int_equal(cache_sa_add(c, &sa, 600, true), CACHE_OK);
	assert_int_equal(cache_bulk_end(c, 3, 2, 840), CACHE_OK);
	return c;
}

#define IKE_SECRET "5ec2e75ec2e75ec2e75ec2e75ec2e7aa"

/* An IKE cache holding one IKE SA with its keys and one Child SA with its keymat. */
static struct ike_cache *ike_make(const char *spi_i)
{
	char doc[2048];
	struct ike_config cfg;
	struct pluto_record r;
	struct ike_cache *c;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.vips[0].name, sizeof(cfg.vips[0].name), "outside");
	addr4(&cfg.vips[0].addr, "192.0.2.1");
	cfg.n_vips = 1;
	c = ike_new(&cfg);
	assert_non_null(c);
	snprintf(doc, sizeof(doc),
		 "{\"version\":1,\"type\":\"ike_sa\",\"event\":\"established\",\"serial\":1,"
		 "\"connection\":\"tun1\",\"role\":\"responder\",\"spi_i\":\"%s\","
		 "\"spi_r\":\"f0985e9dd355b672\","
		 "\"local\":{\"address\":\"192.0.2.1\",\"port\":500,\"protocol\":\"UDP\"},"
		 "\"remote\":{\"address\":\"192.0.2.100\",\"port\":500,\"protocol\":\"UDP\"},"
		 "\"msgid\":{\"initiator\":{\"sent\":4,\"recv\":4,\"wip\":-1},"
		 "\"responder\":{\"sent\":7,\"recv\":7,\"wip\":-1}},"
		 "\"keys\":{\"sk_d\":\"" IKE_SECRET "\",\"sk_ei\":\"" IKE_SECRET "\"}}", spi_i);
	assert_int_equal(pluto_record_parse(doc, strlen(doc), &r), PLUTO_OK);
	assert_int_equal(ike_apply(c, &r, false, 100), IKE_OK);
	pluto_record_clear(&r);
	snprintf(doc, sizeof(doc),
		 "{\"version\":1,\"type\":\"child_sa\",\"serial\":2,\"ike_serial\":1,"
		 "\"spi_in\":\"c6b8e638\",\"spi_out\":\"c66044a5\",\"reqid\":1002,"
		 "\"keys\":{\"in\":{\"encrypt\":\"" IKE_SECRET "\"},\"out\":{\"encrypt\":\"" IKE_SECRET "\"}}}");
	assert_int_equal(pluto_record_parse(doc, strlen(doc), &r), PLUTO_OK);
	assert_int_equal(ike_apply(c, &r, false, 100), IKE_OK);
	pluto_record_clear(&r);
	return c;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[CTL_ERR_MAX];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_ctl.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->rundir, sizeof(f->rundir), "%s/run", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/ctl.sock", f->rundir);
	f->base = event_base_new();
	f->ctl = ctl_new(f->base);
	f->cache = cache_make();
	f->ike_own = ike_make("41443052916ec1bb");
	f->ike_held = ike_make("0102030405060708");
	f->in_sync = true;
	assert_int_equal(ctl_listen(f->ctl, f->sock, err, sizeof(err)), 0);
	assert_int_equal(ctl_register(f->ctl, "status", h_status, f), 0);
	assert_int_equal(ctl_register(f->ctl, "sas", h_sas, f), 0);
	assert_int_equal(ctl_register(f->ctl, "peers", h_peers, f), 0);
	assert_int_equal(ctl_register(f->ctl, "check", h_check, f), 0);
	assert_int_equal(ctl_register(f->ctl, "resync", h_fail, f), 0);
	assert_int_equal(ctl_register(f->ctl, "promote", h_echo, f), 0);
	assert_int_equal(ctl_register(f->ctl, "ike", h_ike, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ctl_free(f->ctl);
	event_base_free(f->base);
	cache_free(f->cache);
	ike_free(f->ike_own);
	ike_free(f->ike_held);
	rmdir(f->rundir);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- running a blocking client while the loop serves it ---- */

struct job {
	void (*fn)(void *);
	void *arg;
	atomic_int done;
};

static void *job_thread(void *p)
{
	struct job *j = p;

	j->fn(j->arg);
	atomic_store(&j->done, 1);
	return NULL;
}

static void run_with_loop(struct fixture *f, void (*fn)(void *), void *arg)
{
	struct job j = { fn, arg, 0 };
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, job_thread, &j), 0);
	while (!atomic_load(&j.done)) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(200);
	}
	pthread_join(th, NULL);
	/* Let the server finish closing. */
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
}

struct cli {
	int argc;
	char *argv[12];
	int rc;
	char *out;
	char *err;
};

static void cli_run(void *p)
{
	struct cli *c = p;
	size_t olen, elen;
	FILE *out = open_memstream(&c->out, &olen), *err = open_memstream(&c->err, &elen);

	c->rc = ctl_client_main(c->argc, c->argv, out, err);
	fclose(out);
	fclose(err);
}

/* hasyncctl --socket SOCK ARGS... */
static struct cli *cli(struct fixture *f, ...)
{
	struct cli *c = calloc(1, sizeof(*c));
	va_list ap;
	char *a;

	c->argv[c->argc++] = "hasyncctl";
	c->argv[c->argc++] = "--socket";
	c->argv[c->argc++] = f->sock;
	va_start(ap, f);
	while ((a = va_arg(ap, char *)) != NULL && c->argc < 11)
		c->argv[c->argc++] = a;
	va_end(ap);
	run_with_loop(f, cli_run, c);
	return c;
}

static void cli_free(struct cli *c)
{
	free(c->out);
	free(c->err);
	free(c);
}

struct raw {
	const char *path;
	const char *data;
	size_t len;
	bool shut;		/* shut down our sending side after the data */
	char reply[8192];
	size_t rlen;
};

static void raw_run(void *p)
{
	struct raw *r = p;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct pollfd pfd;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ssize_t n;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", r->path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto out;
	if (send(fd, r->data, r->len, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		goto out;
	if (r->shut)
		shutdown(fd, SHUT_WR);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (r->rlen < sizeof(r->reply) - 1 && poll(&pfd, 1, 3000) > 0) {
		n = recv(fd, r->reply + r->rlen, sizeof(r->reply) - 1 - r->rlen, 0);
		if (n <= 0)
			break;
		r->rlen += (size_t)n;
	}
out:
	r->reply[r->rlen] = '\0';
	if (fd >= 0)
		close(fd);
}

/* Send bytes, return the reply line's parsed object (or NULL). */
static struct json_object *raw(struct fixture *f, const char *data, size_t len, bool shut)
{
	struct raw *r = calloc(1, sizeof(*r));
	struct json_object *o;

	r->path = f->sock;
	r->data = data;
	r->len = len;
	r->shut = shut;
	run_with_loop(f, raw_run, r);
	/* Exactly one line. */
	if (r->rlen == 0 || r->reply[r->rlen - 1] != '\n' || memchr(r->reply, '\n', r->rlen) != r->reply + r->rlen - 1) {
		free(r);
		return NULL;
	}
	o = json_tokener_parse(r->reply);
	free(r);
	return o;
}

static const char *reply_error(struct json_object *o)
{
	struct json_object *v;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "ok", &v));
	assert_false(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(o, "error", &v));
	return json_object_get_string(v);
}

static void sun_set(struct sockaddr_un *sun, const char *path)
{
	assert_true(strlen(path) < sizeof(sun->sun_path));
	memcpy(sun->sun_path, path, strlen(path) + 1);
}

#define NEED_ROOT() do { if (geteuid() != 0) skip(); } while (0)

/* ---- tests ---- */

static void test_parse_request(void **state)
{
	static const struct {
		const char *in;
		const char *cmd;	/* NULL: error containing err */
		const char *err;
	} cases[] = {
		{ "{\"command\":\"status\",\"args\":{}}", "status", NULL },
		{ "{\"command\":\"status\"}", "status", NULL },
		{ "  {\"args\":{\"vip\":\"x\"},\"command\":\"sas\",\"future\":1}  \r", "sas", NULL },
		{ "{\"command\":\"status\",\"args\":null}", "status", NULL },
		{ "", NULL, "empty" },
		{ "status", NULL, "not JSON" },
		{ "{\"command\":\"status\"", NULL, "not JSON" },
		{ "{\"command\":\"status\"} x", NULL, "after the JSON" },
		{ "[\"status\"]", NULL, "not a JSON object" },
		{ "\"status\"", NULL, "not a JSON object" },
		{ "{}", NULL, "no \"command\"" },
		{ "{\"command\":5}", NULL, "no \"command\"" },
		{ "{\"command\":\"\"}", NULL, "must be 1-32" },
		{ "{\"command\":\"Status\"}", NULL, "must be 1-32" },
		{ "{\"command\":\"a b\"}", NULL, "must be 1-32" },
		{ "{\"command\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", NULL, "must be 1-32" },
		{ "{\"command\":\"status\",\"args\":[]}", NULL, "\"args\" must be an object" },
		{ "{\"command\":\"status\",\"args\":\"x\"}", NULL, "\"args\" must be an object" },
		{ "{\"command\":\"st\\u0000\"}", NULL, "must be 1-32" },
	};
	char cmd[CTL_COMMAND_MAX + 1], err[CTL_ERR_MAX], deep[200];
	struct json_object *args;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = ctl_parse_request(cases[i].in, strlen(cases[i].in), cmd, &args, err, sizeof(err));

		if (cases[i].cmd != NULL) {
			assert_int_equal(rc, 0);
			assert_string_equal(cmd, cases[i].cmd);
			assert_true(json_object_is_type(args, json_type_object));
			json_object_put(args);
		} else {
			assert_int_equal(rc, -1);
			assert_null(args);
			if (strstr(err, cases[i].err) == NULL)
				fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].err);
		}
	}
	/* A NUL byte, and nesting deeper than the tokenizer allows. */
	assert_int_equal(ctl_parse_request("{\"command\":\"s\"}\0", 16, cmd, &args, err, sizeof(err)), -1);
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	assert_int_equal(ctl_parse_request(deep, 200, cmd, &args, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not JSON"));
}

static void test_socket_files(void **state)
{
	struct fixture *f = *state;
	struct ctl *other;
	struct stat st;
	char err[CTL_ERR_MAX], path[160];
	int fd;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	assert_int_equal(stat(f->rundir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	/* A second daemon on the same socket is refused. */
	other = ctl_new(f->base);
	assert_int_equal(ctl_listen(other, f->sock, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "another daemon"));
	ctl_free(other);
	assert_int_equal(lstat(f->sock, &st), 0);

	/* A stale socket (its owner died) is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	sun_set(&sun, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	other = ctl_new(f->base);
	assert_int_equal(ctl_listen(other, path, err, sizeof(err)), 0);
	ctl_free(other);
	assert_int_equal(lstat(path, &st), -1);	/* removed on free */

	/* A file that is not a socket is left alone. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	other = ctl_new(f->base);
	assert_int_equal(ctl_listen(other, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a socket"));
	ctl_free(other);
	assert_int_equal(unlink(path), 0);

	other = ctl_new(f->base);
	assert_int_equal(ctl_listen(other, "relative.sock", err, sizeof(err)), -1);
	ctl_free(other);
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	struct cli *c;
	struct json_object *got, *want;
	struct ctl_status st;

	NEED_ROOT();
	c = cli(f, "status", NULL);
	assert_int_equal(c->rc, 0);
	assert_string_equal(c->err, "");
	assert_non_null(strstr(c->out, "node: gw1\n"));
	assert_non_null(strstr(c->out, "peer: gw2, up, sctp\n"));
	assert_non_null(strstr(c->out, "path 10.9.0.1 -> 10.9.0.2: up, primary\n"));
	assert_non_null(strstr(c->out, "VIP      ADDRESS    INSTANCE    ROLE     VRRP    SAS\n"));
	assert_non_null(strstr(c->out, "outside  192.0.2.1  VI_OUTSIDE  active   MASTER  2\n"));
	assert_non_null(strstr(c->out, "SAs held: 2 (0 policies, 0 not on a VIP)\n"));
	assert_non_null(strstr(c->out, "last bulk sync: 1m05s ago, took 340 ms, 2 records, generation 3, ok\n"));
	assert_non_null(strstr(c->out, "in sync: yes\n"));
	assert_non_null(strstr(c->out, "errors: 3 decode, 1 auth failures"));
	assert_non_null(strstr(c->out, "  decode errors: bad version 3\n"));
	cli_free(c);

	/* --json: the data object as the handler built it, one line. */
	c = cli(f, "--json", "status", NULL);
	assert_int_equal(c->rc, 0);
	assert_non_null(strchr(c->out, '\n'));
	assert_ptr_equal(strchr(c->out, '\n'), c->out + strlen(c->out) - 1);
	got = json_tokener_parse(c->out);
	assert_non_null(got);
	want = json_object_new_object();
	status_of(&st, true);
	/* Counters move with each request: compare what the handler builds now. */
	assert_int_equal(ctl_status_json(&st, f->cache, f->ctl, 66000, want), 0);
	assert_true(json_object_equal(got, want));
	assert_int_equal(json_object_get_int(json_object_object_get(
		json_object_object_get(got, "last_bulk"), "duration_ms")), 340);
	assert_null(json_object_object_get(json_object_array_get_idx(
		json_object_object_get(got, "paths"), 1), "rtt_ms"));
	json_object_put(got);
	json_object_put(want);
	cli_free(c);

	/* Options after the command work too. */
	c = cli(f, "status", "-j", NULL);
	assert_int_equal(c->rc, 0);
	assert_int_equal(c->out[0], '{');
	cli_free(c);
}

static void test_sas(void **state)
{
	struct fixture *f = *state;
	struct cli *c;
	struct json_object *o, *arr;

	NEED_ROOT();
	c = cli(f, "sas", NULL);
	assert_int_equal(c->rc, 0);
	assert_non_null(strstr(c->out, "VIP      DIR  SPI       PROTO  SRC"));
	assert_non_null(strstr(c->out, "outside  in   c0ffee01  esp    198.51.100.7  192.0.2.1"));
	assert_non_null(strstr(c->out, "0badcafe"));
	assert_non_null(strstr(c->out, "4711"));
	assert_non_null(strstr(c->out, "\n2 SAs\n"));
	cli_free(c);

	c = cli(f, "--json", "sas", "outside", NULL);
	assert_int_equal(c->rc, 0);
	o = json_tokener_parse(c->out);
	assert_non_null(o);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "count")), 2);
	arr = json_object_object_get(o, "sas");
	assert_string_equal(json_object_get_string(json_object_object_get(
		json_object_array_get_idx(arr, 0), "spi")), "0badcafe");
	assert_int_equal(json_object_get_int(json_object_object_get(
		json_object_array_get_idx(arr, 0), "age_ms")), 400);
	json_object_put(o);
	cli_free(c);

	c = cli(f, "sas", "inside", NULL);
	assert_int_equal(c->rc, 0);
	assert_string_equal(c->out, "0 SAs\n");
	cli_free(c);

	c = cli(f, "sas", "nope", NULL);
	assert_int_equal(c->rc, CTL_EXIT_NO);
	assert_string_equal(c->err, "hasyncctl: sas: no VIP named nope\n");
	cli_free(c);

	c = cli(f, "sas", "a", "b", NULL);
	assert_int_equal(c->rc, CTL_EXIT_USAGE);
	cli_free(c);
}

/* `ike`: both sides, the windows and Child SAs, never a key. */
static void test_ike(void **state)
{
	struct fixture *f = *state;
	struct json_object *o, *d;
	struct cli *c;

	c = cli(f, "--json", "ike", NULL);
	assert_int_equal(c->rc, 0);
	assert_null(strstr(c->out, "sk_"));
	assert_null(strstr(c->out, "keys"));
	assert_null(strstr(c->out, IKE_SECRET));
	assert_null(strstr(c->out, "5ec2e7"));
	o = json_tokener_parse(c->out);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "own", &d));
	assert_int_equal(json_object_get_int(json_object_object_get(d, "count")), 1);
	assert_non_null(strstr(json_object_to_json_string(d), "41443052916ec1bb"));
	assert_true(json_object_object_get_ex(o, "held", &d));
	assert_int_equal(json_object_get_int(json_object_object_get(d, "count")), 1);
	assert_non_null(strstr(json_object_to_json_string(d), "0102030405060708"));
	assert_true(json_object_get_boolean(json_object_object_get(o, "enabled")));
	json_object_put(o);
	cli_free(c);

	c = cli(f, "ike", NULL);
	assert_int_equal(c->rc, 0);
	assert_null(strstr(c->out, "5ec2e7"));
	assert_non_null(strstr(c->out, "SIDE"));
	assert_non_null(strstr(c->out, "own"));
	assert_non_null(strstr(c->out, "held"));
	assert_non_null(strstr(c->out, "4/4"));
	assert_non_null(strstr(c->out, "7/7"));
	assert_non_null(strstr(c->out, "1 IKE SA of ours, 1 of the peer held\n"));
	cli_free(c);

	c = cli(f, "ike", "outside", NULL);
	assert_int_equal(c->rc, 0);
	assert_non_null(strstr(c->out, "1 IKE SA of ours, 1 of the peer held\n"));
	cli_free(c);
	c = cli(f, "ike", "nowhere", NULL);
	assert_int_equal(c->rc, CTL_EXIT_NO);
	assert_string_equal(c->err, "hasyncctl: ike: no VIP named nowhere\n");
	cli_free(c);
}

static void test_peers_check_and_errors(void **state)
{
	struct fixture *f = *state;
	struct cli *c;
	struct ctl_stats st;

	NEED_ROOT();
	c = cli(f, "peers", NULL);
	assert_int_equal(c->rc, 0);
	assert_non_null(strstr(c->out, "peer: gw2, up\ntransport: sctp\n"));
	assert_non_null(strstr(c->out, "10.9.1.1  10.9.1.2  down   no       -\n"));
	assert_non_null(strstr(c->out, "resyncs: 1"));
	cli_free(c);

	c = cli(f, "check", NULL);
	assert_int_equal(c->rc, 0);
	assert_string_equal(c->out, "in sync\n");
	assert_string_equal(c->err, "");
	cli_free(c);

	f->in_sync = false;
	c = cli(f, "check", NULL);
	assert_int_equal(c->rc, CTL_EXIT_NO);
	assert_string_equal(c->out, "");
	assert_string_equal(c->err, "not in sync: first bulk sync not complete\n");
	cli_free(c);
	c = cli(f, "--json", "check", NULL);
	assert_int_equal(c->rc, CTL_EXIT_NO);
	assert_string_equal(c->out, "{\"in_sync\":false,\"reason\":\"first bulk sync not complete\"}\n");
	cli_free(c);

	/* A handler's error, a command not implemented yet, one passed through. */
	c = cli(f, "resync", NULL);
	assert_int_equal(c->rc, CTL_EXIT_NO);
	assert_string_equal(c->err, "hasyncctl: resync: the peer is not connected\n");
	cli_free(c);
	c = cli(f, "demote", "outside", NULL);
	assert_int_equal(c->rc, CTL_EXIT_NO);
	assert_string_equal(c->err, "hasyncctl: demote: not implemented: demote\n");
	cli_free(c);
	c = cli(f, "--json", "promote", "outside", NULL);
	assert_int_equal(c->rc, 0);
	assert_string_equal(c->out, "{\"args\":{\"vip\":\"outside\"}}\n");
	cli_free(c);
	c = cli(f, "promote", NULL);
	assert_int_equal(c->rc, CTL_EXIT_USAGE);
	cli_free(c);

	ctl_get_stats(f->ctl, &st);
	assert_int_equal(st.served, 5);
	assert_int_equal(st.handler_errors, 1);
	assert_int_equal(st.not_implemented, 1);
	assert_int_equal(st.refused, 0);
}

static void test_unknown_garbage_oversized(void **state)
{
	struct fixture *f = *state;
	static const char *const garbage[] = {
		"hello\n", "[1,2]\n", "{\"command\":5}\n", "{\"command\":\"status\",\"args\":[]}\n",
		"\xff\xfe\x00\x01\n", "\n", "{\"command\":\"status\"}}\n",
	};
	struct json_object *o;
	struct ctl_stats st;
	struct cli *c;
	char *big;
	size_t n;

	NEED_ROOT();
	o = raw(f, "{\"command\":\"frobnicate\"}\n", 25, false);
	assert_string_equal(reply_error(o), "unknown command: frobnicate");
	json_object_put(o);

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		n = i == 4 ? 5 : strlen(garbage[i]);
		o = raw(f, garbage[i], n, false);
		assert_non_null(strstr(reply_error(o), "bad request"));
		json_object_put(o);
	}
	/* No line end, but the client shut its side: that is the request. */
	o = raw(f, "{\"command\":\"check\"}", 19, true);
	assert_non_null(o);
	assert_true(json_object_get_boolean(json_object_object_get(o, "ok")));
	json_object_put(o);

	/* Oversized: with no line end at all, and as one long line. */
	big = malloc(9000);
	memset(big, 'a', 9000);
	o = raw(f, big, 9000, false);
	assert_string_equal(reply_error(o), "request too large (max 4096 bytes)");
	json_object_put(o);
	big[4500] = '\n';
	o = raw(f, big, 4501, false);
	assert_string_equal(reply_error(o), "request too large (max 4096 bytes)");
	json_object_put(o);

	/* The largest request allowed: 4095 bytes and its line end. */
	n = (size_t)snprintf(big, 9000, "{\"command\":\"check\",\"pad\":\"");
	memset(big + n, 'x', 4095 - n - 2);
	memcpy(big + 4095 - 2, "\"}\n", 3);
	o = raw(f, big, 4096, false);
	assert_non_null(o);
	assert_true(json_object_get_boolean(json_object_object_get(o, "ok")));
	json_object_put(o);
	/* One more byte is too many. */
	memmove(big + n + 1, big + n, 4096 - n);
	big[n] = 'x';
	o = raw(f, big, 4097, false);
	assert_string_equal(reply_error(o), "request too large (max 4096 bytes)");
	json_object_put(o);
	free(big);

	/* The server still serves after all that. */
	c = cli(f, "check", NULL);
	assert_int_equal(c->rc, 0);
	cli_free(c);

	ctl_get_stats(f->ctl, &st);
	assert_int_equal(st.unknown_command, 1);
	assert_int_equal(st.bad_request, 7);
	assert_int_equal(st.too_large, 3);
	assert_int_equal(st.served, 3);
	assert_int_equal(ctl_connections(f->ctl), 0);
}

static void test_unreachable(void **state)
{
	struct fixture *f = *state;
	struct cli *c;
	char path[160], want[256];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	c = calloc(1, sizeof(*c));
	snprintf(path, sizeof(path), "%s/none.sock", f->dir);
	c->argc = 4;
	c->argv[0] = "hasyncctl";
	c->argv[1] = "--socket";
	c->argv[2] = path;
	c->argv[3] = "status";
	cli_run(c);
	assert_int_equal(c->rc, CTL_EXIT_UNREACHABLE);
	snprintf(want, sizeof(want), "hasyncctl: cannot reach hasyncd at %s: No such file or directory\n", path);
	assert_string_equal(c->err, want);
	free(c->out);
	free(c->err);

	/* A socket nobody listens on any more. */
	sun_set(&sun, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	c->argv[3] = "check";
	cli_run(c);
	assert_int_equal(c->rc, CTL_EXIT_UNREACHABLE);
	assert_non_null(strstr(c->err, "Connection refused"));
	free(c->out);
	free(c->err);
	unlink(path);

	/* Usage errors never reach for the socket. */
	c->argc = 2;
	c->argv[1] = "frobnicate";
	cli_run(c);
	assert_int_equal(c->rc, CTL_EXIT_USAGE);
	assert_string_equal(c->err, "hasyncctl: unknown command 'frobnicate' (try --help)\n");
	free(c->out);
	free(c->err);
	c->argv[1] = "--frob";
	cli_run(c);
	assert_int_equal(c->rc, CTL_EXIT_USAGE);
	free(c->out);
	free(c->err);
	c->argc = 1;
	cli_run(c);
	assert_int_equal(c->rc, CTL_EXIT_USAGE);
	free(c->out);
	free(c->err);
	/* An explicit config that cannot be read is a usage error. */
	c->argc = 4;
	c->argv[1] = "--config";
	c->argv[2] = path;
	c->argv[3] = "status";
	cli_run(c);
	assert_int_equal(c->rc, CTL_EXIT_USAGE);
	cli_free(c);
}

static void test_program_names(void **state)
{
	struct cli *c = calloc(1, sizeof(*c));

	c->argc = 2;
	c->argv[0] = "/usr/libexec/ipsec/ha";
	c->argv[1] = "--help";
	cli_run(c);
	assert_int_equal(c->rc, 0);
	assert_non_null(strstr(c->out, "usage: ipsec ha [--socket PATH]"));
	free(c->out);
	free(c->err);
	c->argv[1] = "frob";
	cli_run(c);
	assert_string_equal(c->err, "ipsec ha: unknown command 'frob' (try --help)\n");
	free(c->out);
	free(c->err);
	c->argv[0] = "/usr/sbin/hasyncctl";
	c->argv[1] = "--version";
	cli_run(c);
	assert_int_equal(c->rc, 0);
	assert_string_equal(c->out, "hasyncctl " HASYNC_VERSION "\n");
	cli_free(c);
}

/* Run hasyncctl status as uid 65534 in a child; its exit code and stderr. */
static int run_as_nobody(struct fixture *f, char *errbuf, size_t size)
{
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;
	size_t len = 0;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { "hasyncctl", "--socket", f->sock, "status", NULL };
		FILE *err;

		close(pipefd[0]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(99);
		err = fdopen(pipefd[1], "w");
		_exit(ctl_client_main(4, argv, err, err) + (fflush(err) ? 100 : 0));
	}
	close(pipefd[1]);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(200);
	}
	while (len < size - 1 && (n = read(pipefd[0], errbuf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	errbuf[len] = '\0';
	close(pipefd[0]);
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_nonroot_refused(void **state)
{
	struct fixture *f = *state;
	struct ctl_stats st;
	char err[512];

	NEED_ROOT();
	/* The file mode stops other users first. */
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(chmod(f->rundir, 0755), 0);
	assert_int_equal(run_as_nobody(f, err, sizeof(err)), CTL_EXIT_UNREACHABLE);
	assert_non_null(strstr(err, "Permission denied"));
	ctl_get_stats(f->ctl, &st);
	assert_int_equal(st.refused, 0);

	/* With the mode loosened, SO_PEERCRED still refuses. */
	assert_int_equal(chmod(f->sock, 0666), 0);
	assert_int_equal(run_as_nobody(f, err, sizeof(err)), CTL_EXIT_NO);
	assert_string_equal(err, "hasyncctl: status: permission denied: uid 65534 is not root\n");
	ctl_get_stats(f->ctl, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.served, 0);
	assert_int_equal(ctl_connections(f->ctl), 0);
}

/* Idle clients time out; above CTL_CONN_MAX connections, newcomers are turned away. */
static void test_busy_and_timeout(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fds[CTL_CONN_MAX], fd;
	struct ctl_stats st;
	struct json_object *o;

	NEED_ROOT();
	ctl_set_timeout(f->ctl, 300);
	sun_set(&sun, f->sock);
	for (int i = 0; i < CTL_CONN_MAX; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sun, sizeof(sun)), 0);
		for (int k = 0; k < 5; k++)
			event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(ctl_connections(f->ctl), CTL_CONN_MAX);
	o = raw(f, "{\"command\":\"check\"}\n", 20, false);
	assert_string_equal(reply_error(o), "busy: too many control connections");
	json_object_put(o);

	/* The idle ones are closed after the timeout. */
	for (int i = 0; i < 100 && ctl_connections(f->ctl) > 0; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(10000);
	}
	assert_int_equal(ctl_connections(f->ctl), 0);
	for (int i = 0; i < CTL_CONN_MAX; i++) {
		char b;

		assert_int_equal(recv(fds[i], &b, 1, 0), 0);	/* EOF */
		close(fds[i]);
	}
	ctl_get_stats(f->ctl, &st);
	assert_int_equal(st.busy, 1);
	assert_int_equal(st.timeouts, CTL_CONN_MAX);

	/* A client that sends half a line and stops is timed out too. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(send(fd, "{\"comm", 6, 0), 6);
	for (int i = 0; i < 100 && st.timeouts == CTL_CONN_MAX; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(10000);
		ctl_get_stats(f->ctl, &st);
	}
	assert_int_equal(st.timeouts, CTL_CONN_MAX + 1);
	close(fd);
}

/* A client that leaves before its reply is written must not hurt the daemon (SIGPIPE). */
static void test_client_gone(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ctl_stats st;
	struct cli *c;
	int fd;

	NEED_ROOT();
	sun_set(&sun, f->sock);
	for (int i = 0; i < 3; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		assert_int_equal(send(fd, "{\"command\":\"status\"}\n", 21, 0), 21);
		close(fd);
		for (int k = 0; k < 50; k++)
			event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(ctl_connections(f->ctl), 0);
	c = cli(f, "check", NULL);
	assert_int_equal(c->rc, 0);
	cli_free(c);
	ctl_get_stats(f->ctl, &st);
	assert_int_equal(st.served, 4);
}

static void test_register(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ctl_register(f->ctl, "Bad", h_echo, NULL), -1);
	assert_int_equal(ctl_register(f->ctl, "", h_echo, NULL), -1);
	assert_int_equal(ctl_register(f->ctl, "ok-name_2", NULL, NULL), -1);
	assert_int_equal(ctl_register(f->ctl, "ok-name_2", h_echo, NULL), 0);
	/* Re-registering replaces. */
	assert_int_equal(ctl_register(f->ctl, "ok-name_2", h_fail, NULL), 0);
}

static int group_teardown(void **state)
{
	if (NSS_IsInitialized())
		NSS_Shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_request),
		/* First, before NSS is initialised: NSPR ignores SIGPIPE, which would hide the bug. */
		cmocka_unit_test_setup_teardown(test_client_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ike, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peers_check_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_garbage_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
		cmocka_unit_test(test_program_names),
		cmocka_unit_test_setup_teardown(test_nonroot_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_and_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
