/* test_transport_tcp.c: the sync transport's TCP fallback over 127.0.0.1 with a real libevent loop, and its pure helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "transport.h"

#define STREAMS		8
#define WAIT_MS		5000	/* upper bound for anything to happen on loopback */

/* ---------------------------------------------------------------- fixtures */

enum action { ACT_NONE, ACT_FREE_ON_FRAME, ACT_RESET_ON_FRAME, ACT_FREE_ON_DOWN };

struct side {
	struct transport *t;
	struct event_base *base;
	int ups, downs, path_active;
	char why[256];
	uint32_t next_seq[STREAMS];
	unsigned long frames;
	unsigned long bytes;
	int bad;			/* frames corrupted or out of order */
	enum action action;
	unsigned long action_at;	/* frame count that triggers the action */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Frames carry stream, sequence and length, then a pattern from them: any damage shows. */
static size_t frame_make(uint8_t *buf, uint16_t stream, uint32_t seq, size_t len)
{
	size_t i;

	assert_true(len >= 10);
	buf[0] = (uint8_t)(stream >> 8);
	buf[1] = (uint8_t)stream;
	memcpy(buf + 2, &seq, 4);
	memcpy(buf + 6, &(uint32_t){ (uint32_t)len }, 4);
	for (i = 10; i < len; i++)
		buf[i] = (uint8_t)(seq * 31 + i * 7 + stream);
	return len;
}

static bool frame_check(uint16_t stream, const uint8_t *buf, size_t len, uint32_t *seq)
{
	uint32_t l;
	size_t i;

	if (len < 10 || (uint16_t)(buf[0] << 8 | buf[1]) != stream)
		return false;
	memcpy(seq, buf + 2, 4);
	memcpy(&l, buf + 6, 4);
	if (l != len)
		return false;
	for (i = 10; i < len; i++)
		if (buf[i] != (uint8_t)(*seq * 31 + i * 7 + stream))
			return false;
	return true;
}

static void on_up(void *ctx)
{
	struct side *s = ctx;

	s->ups++;
	/* A fresh association: the peer's sequences start over with its sends. */
}

static void on_down(void *ctx, const char *why)
{
	struct side *s = ctx;

	s->downs++;
	snprintf(s->why, sizeof(s->why), "%s", why);
	if (s->action == ACT_FREE_ON_DOWN) {
		transport_free(s->t);
		s->t = NULL;
	}
}

static void on_frame(void *ctx, uint16_t stream, const uint8_t *buf, size_t len)
{
	struct side *s = ctx;
	uint32_t seq;

	if (stream >= STREAMS || !frame_check(stream, buf, len, &seq) || seq != s->next_seq[stream])
		s->bad++;
	else
		s->next_seq[stream]++;
	s->frames++;
	s->bytes += len;
	if (s->action_at && s->frames == s->action_at) {
		if (s->action == ACT_FREE_ON_FRAME) {
			transport_free(s->t);
			s->t = NULL;
		} else if (s->action == ACT_RESET_ON_FRAME) {
			transport_reset(s->t, "test reset from a frame callback");
		}
	}
}

static void on_path(void *ctx, const struct sockaddr *addr, enum path_state st)
{
	struct side *s = ctx;

	if (st == PATH_ACTIVE)
		s->path_active++;
}

static const struct transport_callbacks callbacks = {
	.up = on_up, .down = on_down, .frame = on_frame, .path = on_path,
};

static void addr_v4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *s4 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
}

static void addr_v6(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in6 *s6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
}

/* A port free right now on 127.0.0.1 (the kernel's choice, then released). */
static uint16_t free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void config(struct transport_config *c, uint16_t lport, uint16_t rport)
{
	memset(c, 0, sizeof(*c));
	c->kind = TRANSPORT_TCP;
	addr_v4(&c->local[0], "127.0.0.1", lport);
	c->n_local = 1;
	addr_v4(&c->remote[0], "127.0.0.1", rport);
	c->n_remote = 1;
	c->streams = STREAMS;
	c->reconnect_min_ms = 20;
	c->reconnect_max_ms = 200;
}

static void side_open(struct side *s, struct event_base *base, uint16_t lport, uint16_t rport)
{
	struct transport_config c;

	memset(s, 0, sizeof(*s));
	s->base = base;
	config(&c, lport, rport);
	s->t = transport_new(base, &c, &callbacks, s);
	assert_non_null(s->t);
	assert_int_equal(transport_start(s->t), 0);
}

static void side_close(struct side *s)
{
	transport_free(s->t);
	s->t = NULL;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Run the loop until pred(arg) holds or ms pass; returns pred's last value. */
static bool run_until(struct event_base *base, bool (*pred)(void *), void *arg, unsigned ms)
{
	struct timeval tv = { 0, 5000 };
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	uint64_t deadline = now_ms() + ms;
	bool ok;

	event_add(tick, &tv);
	while (!(ok = pred(arg)) && now_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return ok;
}

static bool never(void *arg)
{
	return false;
}

static void run_for(struct event_base *base, unsigned ms)
{
	run_until(base, never, NULL, ms);
}

struct pair {
	struct event_base *base;
	struct side a, b;		/* a connects (lower port), b accepts */
	uint16_t pa, pb;
};

static bool pair_up(void *arg)
{
	struct pair *p = arg;

	return p->a.t && p->b.t && transport_is_up(p->a.t) && transport_is_up(p->b.t);
}

static void pair_open(struct pair *p)
{
	memset(p, 0, sizeof(*p));
	p->base = event_base_new();
	assert_non_null(p->base);
	p->pa = free_port();
	do
		p->pb = free_port();
	while (p->pb == p->pa);
	if (p->pa > p->pb) {
		uint16_t x = p->pa;

		p->pa = p->pb;
		p->pb = x;
	}
	side_open(&p->b, p->base, p->pb, p->pa);
	side_open(&p->a, p->base, p->pa, p->pb);
	assert_true(transport_is_initiator(p->a.t));
	assert_false(transport_is_initiator(p->b.t));
	assert_true(run_until(p->base, pair_up, p, WAIT_MS));
	assert_int_equal(p->a.ups, 1);
	assert_int_equal(p->b.ups, 1);
}

static void pair_close(struct pair *p)
{
	side_close(&p->a);
	side_close(&p->b);
	event_base_free(p->base);
}

struct want {
	struct side *s;
	unsigned long frames;
};

static bool got_frames(void *arg)
{
	struct want *w = arg;

	return w->s->frames >= w->frames;
}

/* A raw client, for the cases a well-behaved transport never produces. */
static int raw_connect(const char *src, uint16_t port)
{
	struct sockaddr_storage from, to;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	addr_v4(&from, src, 0);
	addr_v4(&to, "127.0.0.1", port);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(struct sockaddr_in)), 0);
	return fd;
}

/* After the loop ran: the server closed the raw client's connection (EOF or reset). */
static bool raw_closed(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, 0) != 1)
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* ---------------------------------------------------------------- pure helpers */

static void test_addr_rule(void **state)
{
	struct sockaddr_storage a, b;

	/* IPv4 before IPv6, whatever the bytes. */
	addr_v4(&a, "255.255.255.255", 1);
	addr_v6(&b, "::1", 1);
	assert_true(transport_addr_cmp(&a, &b) < 0);
	assert_true(transport_addr_cmp(&b, &a) > 0);
	/* Numeric order of the address bytes. */
	addr_v4(&a, "10.9.0.1", 7788);
	addr_v4(&b, "10.9.0.2", 7788);
	assert_true(transport_addr_cmp(&a, &b) < 0);
	addr_v4(&a, "10.9.1.1", 7788);
	addr_v4(&b, "10.10.0.1", 7788);
	assert_true(transport_addr_cmp(&a, &b) < 0);
	addr_v6(&a, "2001:db8::2", 7788);
	addr_v6(&b, "2001:db8::10", 7788);
	assert_true(transport_addr_cmp(&a, &b) < 0);
	/* The port breaks a tie, which only one host (these tests) can produce. */
	addr_v4(&a, "127.0.0.1", 4000);
	addr_v4(&b, "127.0.0.1", 3000);
	assert_true(transport_addr_cmp(&a, &b) > 0);
	addr_v4(&b, "127.0.0.1", 4000);
	assert_int_equal(transport_addr_cmp(&a, &b), 0);

	/* Same host: port ignored, v4-mapped IPv6 is its IPv4. */
	addr_v4(&a, "10.9.0.2", 1);
	addr_v6(&b, "::ffff:10.9.0.2", 2);
	assert_true(transport_addr_same_host((void *)&a, (void *)&b));
	addr_v6(&b, "::ffff:10.9.0.3", 2);
	assert_false(transport_addr_same_host((void *)&a, (void *)&b));
	addr_v6(&a, "2001:db8::1", 1);
	addr_v6(&b, "2001:db8::1", 9);
	assert_true(transport_addr_same_host((void *)&a, (void *)&b));
}

static void test_addr_format(void **state)
{
	struct sockaddr_storage a;
	char buf[TRANSPORT_ADDRSTRLEN];

	addr_v4(&a, "192.0.2.1", 7788);
	assert_string_equal(transport_addr_format((void *)&a, buf, sizeof(buf)), "192.0.2.1:7788");
	addr_v6(&a, "2001:db8::1", 7788);
	assert_string_equal(transport_addr_format((void *)&a, buf, sizeof(buf)), "[2001:db8::1]:7788");
}

static void test_backoff(void **state)
{
	uint32_t r;
	unsigned n;

	/* Without jitter: min, doubling, capped. */
	assert_int_equal(transport_backoff_ms(100, 5000, 0, 0), 100);
	assert_int_equal(transport_backoff_ms(100, 5000, 1, 0), 200);
	assert_int_equal(transport_backoff_ms(100, 5000, 3, 0), 800);
	assert_int_equal(transport_backoff_ms(100, 5000, 6, 0), 5000);
	assert_int_equal(transport_backoff_ms(100, 5000, 1000, 0), 5000);
	/* Jitter takes at most a quarter off and never goes below min. */
	for (n = 0; n < 40; n++)
		for (r = 0; r < 5000; r += 97) {
			uint32_t d = transport_backoff_ms(100, 5000, n, r * 2654435761u);
			uint32_t top = transport_backoff_ms(100, 5000, n, 0);

			assert_true(d >= 100 && d <= 5000);
			assert_true(d <= top && d >= top - top / 4);
		}
	assert_int_equal(transport_backoff_ms(100, 100, 7, 12345), 100);
	assert_int_equal(transport_backoff_ms(0, 0, 0, 0), 1);
}

static void test_tcp_header(void **state)
{
	uint8_t h[TRANSPORT_TCP_HEADER];
	uint32_t len;
	uint16_t stream;

	transport_tcp_header_encode(h, 70000, 3);
	assert_memory_equal(h, "\x00\x01\x11\x70\x00\x03", 6);
	assert_int_equal(transport_tcp_header_decode(h, 8, &len, &stream), 0);
	assert_int_equal(len, 70000);
	assert_int_equal(stream, 3);
	/* The length limit is inclusive. */
	transport_tcp_header_encode(h, TRANSPORT_FRAME_MAX, 0);
	assert_int_equal(transport_tcp_header_decode(h, 1, &len, &stream), 0);
	transport_tcp_header_encode(h, TRANSPORT_FRAME_MAX + 1, 0);
	assert_int_equal(transport_tcp_header_decode(h, 1, &len, &stream), -1);
	memcpy(h, "\xff\xff\xff\xff\x00\x00", 6);
	assert_int_equal(transport_tcp_header_decode(h, 1, &len, &stream), -1);
	/* Streams beyond the configured count are garbage. */
	transport_tcp_header_encode(h, 10, 8);
	assert_int_equal(transport_tcp_header_decode(h, 8, &len, &stream), -1);
	transport_tcp_header_encode(h, 0, 7);
	assert_int_equal(transport_tcp_header_decode(h, 8, &len, &stream), 0);
	assert_int_equal(len, 0);
}

static void test_bad_config(void **state)
{
	struct event_base *base = event_base_new();
	struct transport_config c;

	config(&c, 1000, 2000);
	c.n_remote = 0;
	assert_null(transport_new(base, &c, &callbacks, NULL));
	config(&c, 1000, 2000);
	c.reconnect_min_ms = 500;
	c.reconnect_max_ms = 100;
	assert_null(transport_new(base, &c, &callbacks, NULL));
	config(&c, 1000, 0);
	assert_null(transport_new(base, &c, &callbacks, NULL));
	config(&c, 1000, 2000);
	c.local[0].ss_family = AF_UNIX;
	assert_null(transport_new(base, &c, &callbacks, NULL));
	assert_null(transport_new(base, NULL, &callbacks, NULL));
	/* The same address on both ends: nobody would connect. */
	{
		struct transport *t;

		config(&c, 1000, 1000);
		t = transport_new(base, &c, &callbacks, NULL);
		assert_non_null(t);
		assert_int_equal(transport_start(t), -1);
		transport_free(t);
	}
	event_base_free(base);
}

/* ---------------------------------------------------------------- over loopback */

static void test_streams_in_order(void **state)
{
	struct pair p;
	uint8_t buf[600];
	uint32_t seq[STREAMS] = { 0 };
	uint32_t bseq[STREAMS] = { 0 };
	struct want wa, wb;
	struct transport_path_info pi[2];
	struct transport_stats st;
	int i;

	pair_open(&p);
	assert_int_equal(p.a.path_active, 1);
	assert_int_equal(p.b.path_active, 1);
	/* Both ways, streams interleaved, sizes varied. */
	for (i = 0; i < 800; i++) {
		uint16_t s = (uint16_t)((i * 5) % STREAMS);
		size_t len = 10 + (size_t)(i * 13) % 590;

		assert_int_equal(transport_send(p.a.t, s, buf, frame_make(buf, s, seq[s]++, len)), 0);
		s = (uint16_t)((i * 3 + 1) % STREAMS);
		assert_int_equal(transport_send(p.b.t, s, buf, frame_make(buf, s, bseq[s]++, len)), 0);
	}
	wb = (struct want){ &p.b, 800 };
	wa = (struct want){ &p.a, 800 };
	assert_true(run_until(p.base, got_frames, &wb, WAIT_MS));
	assert_true(run_until(p.base, got_frames, &wa, WAIT_MS));
	assert_int_equal(p.a.bad, 0);
	assert_int_equal(p.b.bad, 0);
	for (i = 0; i < STREAMS; i++) {
		assert_int_equal(p.b.next_seq[i], seq[i]);
		assert_int_equal(p.a.next_seq[i], bseq[i]);
	}
	assert_int_equal(transport_paths(p.a.t, pi, 2), 1);
	assert_int_equal(pi[0].state, PATH_ACTIVE);
	transport_get_stats(p.a.t, &st);
	assert_int_equal(st.frames_out, 800);
	assert_int_equal(st.frames_in, 800);
	assert_int_equal(st.ups, 1);
	assert_int_equal(st.refused + st.garbage, 0);
	pair_close(&p);
}

static void test_big_frames(void **state)
{
	struct pair p;
	uint8_t *buf = malloc(TRANSPORT_FRAME_MAX);
	uint32_t seq = 0, bseq = 0;
	struct want w;
	int i;

	assert_non_null(buf);
	pair_open(&p);
	for (i = 0; i < 40; i++)
		assert_int_equal(transport_send(p.a.t, 1, buf, frame_make(buf, 1, seq++, 70000)), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(transport_send(p.b.t, 6, buf, frame_make(buf, 6, bseq++, 70000)), 0);
	/* The largest frame the limit allows goes through too. */
	assert_int_equal(transport_send(p.a.t, 1, buf, frame_make(buf, 1, seq++, TRANSPORT_FRAME_MAX)), 0);
	w = (struct want){ &p.b, 41 };
	assert_true(run_until(p.base, got_frames, &w, WAIT_MS));
	w = (struct want){ &p.a, 10 };
	assert_true(run_until(p.base, got_frames, &w, WAIT_MS));
	assert_int_equal(p.b.bad, 0);
	assert_int_equal(p.a.bad, 0);
	assert_int_equal(p.b.bytes, 40 * 70000 + TRANSPORT_FRAME_MAX);
	assert_int_equal(p.b.next_seq[1], 41);
	assert_int_equal(p.a.next_seq[6], 10);
	pair_close(&p);
	free(buf);
}

static void test_many_small_frames(void **state)
{
	struct pair p;
	uint8_t buf[64];
	uint32_t seq[STREAMS] = { 0 };
	struct want w;
	int i;

	pair_open(&p);
	for (i = 0; i < 10000; i++) {
		uint16_t s = (uint16_t)((i * 7 + i / 3) % STREAMS);

		assert_int_equal(transport_send(p.a.t, s, buf, frame_make(buf, s, seq[s]++, 10 + i % 50)), 0);
	}
	w = (struct want){ &p.b, 10000 };
	assert_true(run_until(p.base, got_frames, &w, WAIT_MS));
	assert_int_equal(p.b.bad, 0);
	for (i = 0; i < STREAMS; i++)
		assert_int_equal(p.b.next_seq[i], seq[i]);
	assert_int_equal(transport_queued_bytes(p.a.t), 0);
	pair_close(&p);
}

static bool side_up(void *arg)
{
	struct side *s = arg;

	return s->t && transport_is_up(s->t);
}

static bool side_down(void *arg)
{
	struct side *s = arg;

	return s->downs > 0;
}

struct raw_wait {
	int fd;
};

static bool raw_wait_closed(void *arg)
{
	struct raw_wait *r = arg;

	return raw_closed(r->fd);
}

static void test_refuses_stranger(void **state)
{
	struct event_base *base = event_base_new();
	struct side x;
	struct transport_stats st;
	struct raw_wait rw;
	uint16_t px = free_port(), py;
	int fd, fd2;

	do
		py = free_port();
	while (py == px);
	/* x accepts: its port is the higher one. */
	if (px < py) {
		uint16_t tmp = px;

		px = py;
		py = tmp;
	}
	side_open(&x, base, px, py);
	assert_false(transport_is_initiator(x.t));

	/* 127.0.0.2 is loopback too, but not the configured remote. */
	rw.fd = raw_connect("127.0.0.2", px);
	assert_true(run_until(base, raw_wait_closed, &rw, WAIT_MS));
	close(rw.fd);
	transport_get_stats(x.t, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(x.ups, 0);

	/* From the configured remote: taken. */
	fd = raw_connect("127.0.0.1", px);
	assert_true(run_until(base, side_up, &x, WAIT_MS));
	/* A second one from the remote replaces the first, which is stale. */
	fd2 = raw_connect("127.0.0.1", px);
	rw.fd = fd;
	assert_true(run_until(base, raw_wait_closed, &rw, WAIT_MS));
	assert_int_equal(x.ups, 2);
	assert_int_equal(x.downs, 1);
	assert_true(transport_is_up(x.t));
	/* Once it carries frames it is alive: a third one from the remote's
	 * address (anyone can spoof it) is refused and the live one stays. */
	{
		uint8_t frame[TRANSPORT_TCP_HEADER + 4] = { 0 };
		struct want w = { &x, 1 };

		transport_tcp_header_encode(frame, 4, 0);
		assert_int_equal(write(fd2, frame, sizeof(frame)), (ssize_t)sizeof(frame));
		assert_true(run_until(base, got_frames, &w, WAIT_MS));
	}
	rw.fd = raw_connect("127.0.0.1", px);
	assert_true(run_until(base, raw_wait_closed, &rw, WAIT_MS));
	close(rw.fd);
	transport_get_stats(x.t, &st);
	assert_int_equal(st.refused, 2);
	assert_int_equal(x.ups, 2);
	assert_int_equal(x.downs, 1);
	assert_true(transport_is_up(x.t));
	close(fd);
	close(fd2);
	assert_true(run_until(base, side_down, &x, WAIT_MS));
	side_close(&x);

	/* The node that connects turns incoming connections away, even from the remote. */
	side_open(&x, base, py, px);
	assert_true(transport_is_initiator(x.t));
	rw.fd = raw_connect("127.0.0.1", py);
	assert_true(run_until(base, raw_wait_closed, &rw, WAIT_MS));
	close(rw.fd);
	transport_get_stats(x.t, &st);
	assert_int_equal(st.refused, 1);
	side_close(&x);
	event_base_free(base);
}

static void test_reconnect(void **state)
{
	struct pair p;
	uint8_t buf[100];
	struct want w;
	uint64_t t0;

	pair_open(&p);
	/* The acceptor goes away: the connector notices and retries. */
	side_close(&p.b);
	assert_true(run_until(p.base, side_down, &p.a, WAIT_MS));
	assert_false(transport_is_up(p.a.t));
	assert_int_equal(transport_send(p.a.t, 0, buf, 20), -1);
	assert_int_equal(errno, ENOTCONN);
	run_for(p.base, 300);		/* a few refused attempts */
	t0 = now_ms();
	side_open(&p.b, p.base, p.pb, p.pa);
	assert_true(run_until(p.base, pair_up, &p, WAIT_MS));
	/* Within reconnect_max (200 ms), with room for a loaded machine. */
	assert_true(now_ms() - t0 < 800);
	assert_int_equal(p.a.ups, 2);
	assert_int_equal(p.a.downs, 1);
	assert_int_equal(transport_send(p.a.t, 2, buf, frame_make(buf, 2, 0, 100)), 0);
	w = (struct want){ &p.b, 1 };
	assert_true(run_until(p.base, got_frames, &w, WAIT_MS));
	assert_int_equal(p.b.bad, 0);

	/* The connector goes away and comes back: the acceptor takes the new connection. */
	side_close(&p.a);
	assert_true(run_until(p.base, side_down, &p.b, WAIT_MS));
	side_open(&p.a, p.base, p.pa, p.pb);
	assert_true(run_until(p.base, pair_up, &p, WAIT_MS));
	assert_int_equal(p.b.ups, 2);
	pair_close(&p);
}

/* Connect as the remote would and feed the acceptor raw bytes. */
static void garbage_case(const uint8_t *bytes, size_t len, unsigned long want_frames,
			 uint64_t want_garbage)
{
	struct event_base *base = event_base_new();
	struct side x;
	struct transport_stats st;
	struct raw_wait rw;
	uint16_t px = free_port(), py = 1;	/* remote port 1: x accepts */

	side_open(&x, base, px, py);
	rw.fd = raw_connect("127.0.0.1", px);
	assert_true(run_until(base, side_up, &x, WAIT_MS));
	assert_int_equal(send(rw.fd, bytes, len, 0), (ssize_t)len);
	if (want_garbage == 0)
		shutdown(rw.fd, SHUT_WR);	/* the peer vanishes, mid-frame or not */
	assert_true(run_until(base, side_down, &x, WAIT_MS));
	assert_true(run_until(base, raw_wait_closed, &rw, WAIT_MS));
	close(rw.fd);
	transport_get_stats(x.t, &st);
	assert_int_equal(st.garbage, want_garbage);
	assert_int_equal(x.frames, want_frames);
	assert_int_equal(x.bad, 0);
	assert_false(transport_is_up(x.t));
	/* Still listening and working afterwards. */
	rw.fd = raw_connect("127.0.0.1", px);
	assert_true(run_until(base, side_up, &x, WAIT_MS));
	close(rw.fd);
	side_close(&x);
	event_base_free(base);
}

static void test_garbage(void **state)
{
	uint8_t buf[4096];
	uint8_t frame[64];
	size_t n, i;
	uint32_t r = 12345;

	/* An oversized length prefix, and the largest possible one. */
	transport_tcp_header_encode(buf, TRANSPORT_FRAME_MAX + 1, 0);
	garbage_case(buf, TRANSPORT_TCP_HEADER, 0, 1);
	memset(buf, 0xff, 16);
	garbage_case(buf, 16, 0, 1);
	/* A stream the config does not have. */
	transport_tcp_header_encode(buf, 4, STREAMS);
	garbage_case(buf, TRANSPORT_TCP_HEADER + 4, 0, 1);
	/* Text, as from a client on the wrong port. */
	garbage_case((const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, 0, 1);
	/* A good frame, then garbage: the good one is delivered, then the drop. */
	n = frame_make(frame, 3, 0, 40);
	transport_tcp_header_encode(buf, (uint32_t)n, 3);
	memcpy(buf + TRANSPORT_TCP_HEADER, frame, n);
	memset(buf + TRANSPORT_TCP_HEADER + n, 0xee, 8);
	garbage_case(buf, TRANSPORT_TCP_HEADER + n + 8, 1, 1);
	/* Random bytes. */
	for (i = 0; i < sizeof(buf); i++) {
		r = r * 1103515245 + 12345;
		buf[i] = (uint8_t)(r >> 16);
	}
	garbage_case(buf, sizeof(buf), 0, 1);
	/* A good frame, then the peer vanishes mid-frame: the partial frame is dropped, not delivered. */
	transport_tcp_header_encode(buf, (uint32_t)n, 3);
	memcpy(buf + TRANSPORT_TCP_HEADER, frame, n);
	transport_tcp_header_encode(buf + TRANSPORT_TCP_HEADER + n, 70000, 3);
	memset(buf + 2 * TRANSPORT_TCP_HEADER + n, 0x11, 500);
	garbage_case(buf, 2 * TRANSPORT_TCP_HEADER + n + 500, 1, 0);
	/* Vanishing mid-header. */
	garbage_case(buf, 3, 0, 0);
}

static void test_send_errors(void **state)
{
	struct pair p;
	struct transport_config c;
	struct transport *t;
	struct event_base *base = event_base_new();
	uint8_t *buf = calloc(1, TRANSPORT_FRAME_MAX + 1);
	struct transport_stats st;
	struct want w;
	int i, rc = 0;

	/* Not connected (not even started). */
	config(&c, free_port(), 1);
	t = transport_new(base, &c, &callbacks, NULL);
	assert_int_equal(transport_send(t, 0, buf, 10), -1);
	assert_int_equal(errno, ENOTCONN);
	transport_free(t);
	event_base_free(base);

	pair_open(&p);
	assert_int_equal(transport_send(p.a.t, STREAMS, buf, 10), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(transport_send(p.a.t, 0, buf, TRANSPORT_FRAME_MAX + 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* The queue is bounded (16 MiB by default): fill it before the loop can write. */
	for (i = 0; i < 1000 && rc == 0; i++)
		rc = transport_send(p.a.t, 0, buf, frame_make(buf, 0, (uint32_t)i, 70000));
	assert_int_equal(rc, -1);
	assert_int_equal(errno, ENOBUFS);
	assert_true(transport_queued_bytes(p.a.t) <= TRANSPORT_QUEUE_DEFAULT);
	assert_true(transport_queued_bytes(p.a.t) > TRANSPORT_QUEUE_DEFAULT - 70006);
	transport_get_stats(p.a.t, &st);
	assert_int_equal(st.queue_full, 1);
	/* Everything accepted arrives, and the queue drains. */
	w = (struct want){ &p.b, (unsigned long)i - 1 };
	assert_true(run_until(p.base, got_frames, &w, 20000));
	assert_int_equal(p.b.bad, 0);
	assert_int_equal(transport_queued_bytes(p.a.t), 0);
	pair_close(&p);
	free(buf);
}

static void test_callbacks_may_free_or_reset(void **state)
{
	struct pair p;
	uint8_t buf[200];
	struct want w;
	int i;

	/* transport_free() from a frame callback with more frames in the same read. */
	pair_open(&p);
	p.b.action = ACT_FREE_ON_FRAME;
	p.b.action_at = 1;
	for (i = 0; i < 50; i++)
		assert_int_equal(transport_send(p.a.t, 0, buf, frame_make(buf, 0, (uint32_t)i, 200)), 0);
	assert_true(run_until(p.base, side_down, &p.a, WAIT_MS));
	assert_null(p.b.t);
	assert_int_equal(p.b.frames, 1);
	pair_close(&p);

	/* transport_reset() from a frame callback: down at once, then a new association. */
	pair_open(&p);
	p.b.action = ACT_RESET_ON_FRAME;
	p.b.action_at = 10;
	for (i = 0; i < 50; i++)
		assert_int_equal(transport_send(p.a.t, 0, buf, frame_make(buf, 0, (uint32_t)i, 200)), 0);
	w = (struct want){ &p.b, 10 };
	assert_true(run_until(p.base, got_frames, &w, WAIT_MS));
	assert_int_equal(p.b.downs, 1);
	assert_int_equal(p.b.frames, 10);	/* nothing after the reset was delivered */
	assert_string_equal(p.b.why, "test reset from a frame callback");
	assert_true(run_until(p.base, side_down, &p.a, WAIT_MS));
	assert_true(run_until(p.base, pair_up, &p, WAIT_MS));
	assert_int_equal(p.a.ups, 2);
	assert_int_equal(p.b.ups, 2);
	pair_close(&p);

	/* transport_free() from the down callback. */
	pair_open(&p);
	p.a.action = ACT_FREE_ON_DOWN;
	side_close(&p.b);
	assert_true(run_until(p.base, side_down, &p.a, WAIT_MS));
	assert_null(p.a.t);
	pair_close(&p);
}

static void test_sctp_unavailable_fails_cleanly(void **state)
{
	struct event_base *base = event_base_new();
	struct transport_config c;
	struct transport *t;

	/* The host kernel has no SCTP: start fails and says so; where it has, it works. */
	config(&c, free_port(), 1);
	c.kind = TRANSPORT_SCTP;
	t = transport_new(base, &c, &callbacks, NULL);
	assert_non_null(t);
	(void)transport_start(t);
	transport_free(t);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_rule),
		cmocka_unit_test(test_addr_format),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_tcp_header),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_streams_in_order),
		cmocka_unit_test(test_big_frames),
		cmocka_unit_test(test_many_small_frames),
		cmocka_unit_test(test_refuses_stranger),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_send_errors),
		cmocka_unit_test(test_callbacks_may_free_or_reset),
		cmocka_unit_test(test_sctp_unavailable_fails_cleanly),
	};

	log_init("test_transport_tcp", true, LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
