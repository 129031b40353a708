/* test_ikesync.c: unit tests of the IKE orchestration: what goes to a fake pluto and to fake peer links on records, snapshots, promotions and step-downs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "ike.h"
#include "ikesync.h"
#include "log.h"
#include "pluto.h"
#include "seal.h"

#define WAIT_MS 2000

/* VIP 0 is 192.0.2.1, VIP 1 is 192.0.2.2: an IKE SA's local address says whose it is. */
#define SPI_A_I 0x41443052916ec1bbull	/* IKE SA A, under VIP 0 */
#define SPI_A_R 0xf0985e9dd355b672ull
#define SPI_B_I 0x1111111111111111ull	/* IKE SA B, under VIP 1 */
#define SPI_B_R 0x2222222222222222ull

/* The peer and the VIP roles as ikesync sees them through its links. */
struct fake_links {
	int records, deletes, send_own;
	uint64_t record_spis[8][2], delete_spis[8][2];
	char last_record[4096];
	bool stepped_down[2];	/* reports_removals() answers false for these VIPs */
};

static void fake_ike_record(void *ctx, uint64_t spi_i, uint64_t spi_r, const char *json, size_t len)
{
	struct fake_links *f = ctx;

	if (f->records < 8) {
		f->record_spis[f->records][0] = spi_i;
		f->record_spis[f->records][1] = spi_r;
	}
	f->records++;
	snprintf(f->last_record, sizeof(f->last_record), "%.*s", (int)len, json);
}

static void fake_ike_deleted(void *ctx, uint64_t spi_i, uint64_t spi_r)
{
	struct fake_links *f = ctx;

	if (f->deletes < 8) {
		f->delete_spis[f->deletes][0] = spi_i;
		f->delete_spis[f->deletes][1] = spi_r;
	}
	f->deletes++;
}

static void fake_send_own(void *ctx)
{
	((struct fake_links *)ctx)->send_own++;
}

static bool fake_reports_removals(void *ctx, int vip)
{
	struct fake_links *f = ctx;

	return vip < 0 || vip > 1 || !f->stepped_down[vip];
}

static const struct ikesync_links links = {
	.ike_record = fake_ike_record, .ike_deleted = fake_ike_deleted,
	.send_own = fake_send_own, .reports_removals = fake_reports_removals,
};

/* One ikesync with two VIPs, and the other end of its pluto socket. */
struct fixture {
	struct event_base *base;
	struct conf conf;
	struct fake_links f;
	struct ikesync *s;
	int pluto_fd;		/* the fake pluto's end */
};

static void ike_sa_text(char *buf, size_t cap, uint64_t serial, uint64_t spi_i, uint64_t spi_r,
			const char *local)
{
	snprintf(buf, cap,
		 "{\"version\":1,\"type\":\"ike_sa\",\"event\":\"established\",\"serial\":%llu,"
		 "\"connection\":\"tun%llu\",\"instance\":0,\"role\":\"responder\","
		 "\"spi_i\":\"%016llx\",\"spi_r\":\"%016llx\","
		 "\"local\":{\"address\":\"%s\",\"port\":500,\"protocol\":\"UDP\"},"
		 "\"remote\":{\"address\":\"198.51.100.7\",\"port\":500,\"protocol\":\"UDP\"},"
		 "\"msgid\":{\"initiator\":{\"sent\":-1,\"recv\":-1,\"wip\":-1},"
		 "\"responder\":{\"sent\":0,\"recv\":0,\"wip\":1}},"
		 "\"keys\":{\"sk_d\":\"5ec2e75ec2e75ec2e75ec2e75ec2e7aa\"}}",
		 (unsigned long long)serial, (unsigned long long)serial, (unsigned long long)spi_i,
		 (unsigned long long)spi_r, local);
}

static void held_apply(struct fixture *x, uint64_t serial, uint64_t spi_i, uint64_t spi_r, const char *local)
{
	char text[2048];
	struct pluto_record r;

	ike_sa_text(text, sizeof(text), serial, spi_i, spi_r, local);
	assert_int_equal(pluto_record_parse(text, strlen(text), &r), PLUTO_OK);
	assert_int_equal(ike_apply(ikesync_held(x->s), &r, false, 1), IKE_OK);
	pluto_record_clear(&r);
}

/* The peer's live record text, as peer.c hands it on once held took it. */
static void peer_sends(struct fixture *x, const char *text)
{
	struct pluto_record r;

	assert_int_equal(pluto_record_parse(text, strlen(text), &r), PLUTO_OK);
	ikesync_held_record(x->s, &r, text, strlen(text));
	pluto_record_clear(&r);
}

static enum ike_state held_state(struct fixture *x, uint64_t spi_i, uint64_t spi_r)
{
	const struct ike_entry *e = ike_lookup(ikesync_held(x->s), spi_i, spi_r);

	assert_non_null(e);
	return e->state;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static bool run_until(struct fixture *x, bool (*pred)(struct fixture *), unsigned ms)
{
	struct timeval tv = { 0, 2000 };
	struct event *tick = event_new(x->base, -1, EV_PERSIST, tick_cb, NULL);
	uint64_t deadline = now_ms() + ms;
	bool ok;

	event_add(tick, &tv);
	while (!(ok = pred(x)) && now_ms() < deadline)
		event_base_loop(x->base, EVLOOP_ONCE);
	event_free(tick);
	return ok;
}

static bool is_ready(struct fixture *x)
{
	struct ikesync_stats st;

	ikesync_get_stats(x->s, &st);
	return st.pluto_ready;
}

static bool is_disconnected(struct fixture *x)
{
	return !pluto_is_connected(ikesync_pluto(x->s));
}

static bool has_reply(struct fixture *x)
{
	struct ikesync_stats st;

	ikesync_get_stats(x->s, &st);
	return st.last_reply.valid;
}

static bool has_record(struct fixture *x)
{
	return x->f.records > 0;
}

static bool has_dropped_reply(struct fixture *x)
{
	struct ikesync_stats st;

	ikesync_get_stats(x->s, &st);
	return st.last_reply.valid && st.last_reply.type == PLUTO_DROPPED;
}

static void pluto_says(struct fixture *x, const char *text)
{
	assert_int_equal(send(x->pluto_fd, text, strlen(text), 0), (ssize_t)strlen(text));
}

/* The next message ikesync sent to pluto, NUL-terminated; -1 if there is none. */
static ssize_t pluto_got(struct fixture *x, char *buf, size_t cap)
{
	ssize_t n = recv(x->pluto_fd, buf, cap - 1, MSG_DONTWAIT);

	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static void attach_pluto(struct fixture *x)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(pluto_attach_fd(ikesync_pluto(x->s), sv[0]), 0);
	x->pluto_fd = sv[1];
}

static struct fixture *fixture_new(void)
{
	struct fixture *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->base = event_base_new();
	assert_non_null(x->base);
	x->conf.n_vips = 2;
	strcpy(x->conf.vips[0].name, "vip1");
	x->conf.vips[0].address.family = AF_INET;
	x->conf.vips[0].address.v4.s_addr = htonl(0xc0000201);
	strcpy(x->conf.vips[1].name, "vip2");
	x->conf.vips[1].address.family = AF_INET;
	x->conf.vips[1].address.v4.s_addr = htonl(0xc0000202);
	x->s = ikesync_new(x->base, &x->conf, &links, &x->f);
	assert_non_null(x->s);
	x->pluto_fd = -1;
	return x;
}

static void fixture_free(struct fixture *x)
{
	if (x->pluto_fd >= 0)
		close(x->pluto_fd);
	ikesync_free(x->s);
	event_base_free(x->base);
	free(x);
}

/* Our pluto connects and sends a snapshot of own IKE SA A and B; ikesync becomes ready. */
static void snapshot_a_and_b(struct fixture *x)
{
	char text[2048];

	attach_pluto(x);
	ike_sa_text(text, sizeof(text), 1, SPI_A_I, SPI_A_R, "192.0.2.1");
	pluto_says(x, text);
	ike_sa_text(text, sizeof(text), 2, SPI_B_I, SPI_B_R, "192.0.2.2");
	pluto_says(x, text);
	pluto_says(x, "{\"version\":1,\"type\":\"snapshot_end\",\"count\":2}");
	assert_true(run_until(x, is_ready, WAIT_MS));
}

/* ---------------------------------------------------------------- tests */

/*
 * Before our pluto's snapshot is in, nothing of the peer's goes to pluto;
 * once it is: the own cache goes to the peer, then flush and the held
 * cache to pluto, whose IKE SAs become DORMANT.
 */
static void test_snapshot_then_import(void **state)
{
	struct fixture *x = fixture_new();
	struct ikesync_stats st;
	struct pluto_record r;
	char got[4096], text[2048];

	held_apply(x, 7, SPI_A_I, SPI_A_R, "192.0.2.1");
	attach_pluto(x);
	ikesync_get_stats(x->s, &st);
	assert_false(st.pluto_ready);

	/* A peer record before the snapshot: left to the import. */
	ike_sa_text(text, sizeof(text), 7, SPI_A_I, SPI_A_R, "192.0.2.1");
	peer_sends(x, text);
	ikesync_held_delete(x->s, SPI_A_I, SPI_A_R);
	assert_int_equal(pluto_got(x, got, sizeof(got)), -1);
	ikesync_get_stats(x->s, &st);
	assert_true(st.forwarded == 0 && st.forward_failures == 0);

	/* The snapshot: its records are not forwarded one by one, the whole cache is. */
	ike_sa_text(text, sizeof(text), 1, SPI_B_I, SPI_B_R, "192.0.2.2");
	pluto_says(x, text);
	pluto_says(x, "{\"version\":1,\"type\":\"snapshot_end\",\"count\":1}");
	assert_true(run_until(x, is_ready, WAIT_MS));
	assert_int_equal(x->f.send_own, 1);
	assert_int_equal(x->f.records, 0);
	assert_int_equal(ike_count(ikesync_own(x->s)), 1);
	assert_non_null(ike_lookup(ikesync_own(x->s), SPI_B_I, SPI_B_R));

	assert_true(pluto_got(x, got, sizeof(got)) > 0);
	assert_string_equal(got, "{\"version\":1,\"type\":\"flush\"}");
	assert_true(pluto_got(x, got, sizeof(got)) > 0);
	assert_int_equal(pluto_record_parse(got, strlen(got), &r), PLUTO_OK);
	assert_true(r.type == PLUTO_IKE_SA && r.spi_i == SPI_A_I && r.spi_r == SPI_A_R);
	pluto_record_clear(&r);
	assert_int_equal(pluto_got(x, got, sizeof(got)), -1);
	assert_int_equal(held_state(x, SPI_A_I, SPI_A_R), IKE_STATE_DORMANT);
	ikesync_get_stats(x->s, &st);
	assert_int_equal(st.imports, 1);

	/* A live record of ours after the snapshot goes to the peer as pluto wrote it. */
	pluto_says(x, "{\"version\":1,\"type\":\"msgid\",\"serial\":1,"
		   "\"msgid\":{\"initiator\":{\"sent\":-1,\"recv\":-1,\"wip\":-1},"
		   "\"responder\":{\"sent\":1,\"recv\":1,\"wip\":-1}}}");
	assert_true(run_until(x, has_record, WAIT_MS));
	assert_int_equal(x->f.records, 1);
	assert_true(x->f.record_spis[0][0] == SPI_B_I && x->f.record_spis[0][1] == SPI_B_R);
	assert_non_null(strstr(x->f.last_record, "\"type\":\"msgid\""));
	explicit_bzero(got, sizeof(got));
	fixture_free(x);
}

/* Live peer records go to pluto as they came; a failed send waits for a whole import. */
static void test_held_forwarding(void **state)
{
	struct fixture *x = fixture_new();
	struct ikesync_stats st;
	char got[4096], text[2048];

	snapshot_a_and_b(x);
	while (pluto_got(x, got, sizeof(got)) >= 0)
		;	/* the (empty) import: flush */

	/* A new held IKE SA, as the peer sends it: to pluto byte for byte, then DORMANT. */
	held_apply(x, 9, SPI_A_I, SPI_A_R, "192.0.2.1");
	assert_int_equal(held_state(x, SPI_A_I, SPI_A_R), IKE_STATE_ESTABLISHED);
	ike_sa_text(text, sizeof(text), 9, SPI_A_I, SPI_A_R, "192.0.2.1");
	peer_sends(x, text);
	assert_true(pluto_got(x, got, sizeof(got)) > 0);
	assert_string_equal(got, text);
	assert_int_equal(held_state(x, SPI_A_I, SPI_A_R), IKE_STATE_DORMANT);

	/* A wire IKE_DELETE: pluto's delete of that IKE SA. */
	ikesync_held_delete(x->s, SPI_A_I, SPI_A_R);
	assert_true(pluto_got(x, got, sizeof(got)) > 0);
	assert_string_equal(got, "{\"version\":1,\"type\":\"delete\",\"sa\":\"ike\","
			    "\"spi_i\":\"41443052916ec1bb\",\"spi_r\":\"f0985e9dd355b672\"}");
	ikesync_get_stats(x->s, &st);
	assert_true(st.forwarded == 2 && st.forward_failures == 0);

	/* pluto stops reading: the send fails, and the next record waits for the retried import. */
	assert_int_equal(shutdown(x->pluto_fd, SHUT_RD), 0);
	peer_sends(x, text);
	ikesync_get_stats(x->s, &st);
	assert_true(st.forwarded == 2 && st.forward_failures == 1);
	peer_sends(x, text);
	ikesync_held_delete(x->s, SPI_A_I, SPI_A_R);
	ikesync_get_stats(x->s, &st);
	assert_true(st.forwarded == 2 && st.forward_failures == 1);
	explicit_bzero(got, sizeof(got));
	explicit_bzero(text, sizeof(text));
	fixture_free(x);
}

/* pluto goes away: nothing is sent until its next snapshot is in. */
static void test_disconnect(void **state)
{
	struct fixture *x = fixture_new();
	struct ikesync_stats st;
	char text[2048];

	snapshot_a_and_b(x);
	held_apply(x, 9, SPI_A_I, SPI_A_R, "192.0.2.1");
	close(x->pluto_fd);
	x->pluto_fd = -1;
	assert_true(run_until(x, is_disconnected, WAIT_MS));
	ikesync_get_stats(x->s, &st);
	assert_false(st.pluto_ready);

	ike_sa_text(text, sizeof(text), 9, SPI_A_I, SPI_A_R, "192.0.2.1");
	peer_sends(x, text);
	ikesync_held_delete(x->s, SPI_A_I, SPI_A_R);
	ikesync_held_replaced(x->s);
	ikesync_get_stats(x->s, &st);
	/* Skipped, not failed: the import after the next snapshot carries them. */
	assert_true(st.forwarded == 0 && st.forward_failures == 0 && st.imports == 1 &&
		    st.import_failures == 0);
	assert_int_equal(held_state(x, SPI_A_I, SPI_A_R), IKE_STATE_ESTABLISHED);

	/* Promotion without pluto: no activate, held SAs stay as they were. */
	ikesync_after_promote(x->s, 0, 0);
	ikesync_before_demote(x->s, 0);
	assert_int_equal(held_state(x, SPI_A_I, SPI_A_R), IKE_STATE_ESTABLISHED);
	explicit_bzero(text, sizeof(text));
	fixture_free(x);
}

/*
 * Promotion: activate with the VIP's address, that VIP's held SAs ACTIVE,
 * the other VIP's untouched. Step-down: drop first, then the held cache
 * again, the VIP's SAs DORMANT.
 */
static void test_promote_demote(void **state)
{
	struct fixture *x = fixture_new();
	char got[4096];
	int docs = 0;

	held_apply(x, 7, SPI_A_I, SPI_A_R, "192.0.2.1");
	held_apply(x, 8, SPI_B_I, SPI_B_R, "192.0.2.2");
	snapshot_a_and_b(x);
	while (pluto_got(x, got, sizeof(got)) >= 0)
		;	/* the import */
	assert_int_equal(held_state(x, SPI_A_I, SPI_A_R), IKE_STATE_DORMANT);
	assert_int_equal(held_state(x, SPI_B_I, SPI_B_R), IKE_STATE_DORMANT);

	ikesync_after_promote(x->s, 0, 0);
	assert_true(pluto_got(x, got, sizeof(got)) > 0);
	assert_string_equal(got, "{\"version\":1,\"type\":\"activate\",\"local\":\"192.0.2.1\"}");
	assert_int_equal(pluto_got(x, got, sizeof(got)), -1);
	assert_int_equal(held_state(x, SPI_A_I, SPI_A_R), IKE_STATE_ACTIVE);
	assert_int_equal(held_state(x, SPI_B_I, SPI_B_R), IKE_STATE_DORMANT);

	ikesync_before_demote(x->s, 0);
	assert_true(pluto_got(x, got, sizeof(got)) > 0);
	assert_string_equal(got, "{\"version\":1,\"type\":\"drop\",\"local\":\"192.0.2.1\"}");
	assert_int_equal(pluto_got(x, got, sizeof(got)), -1);
	assert_int_equal(held_state(x, SPI_A_I, SPI_A_R), IKE_STATE_ACTIVE);

	ikesync_after_demote(x->s, 0);
	assert_true(pluto_got(x, got, sizeof(got)) > 0);
	assert_string_equal(got, "{\"version\":1,\"type\":\"flush\"}");
	while (pluto_got(x, got, sizeof(got)) > 0)
		docs++;
	assert_int_equal(docs, 2);
	assert_int_equal(held_state(x, SPI_A_I, SPI_A_R), IKE_STATE_DORMANT);
	assert_int_equal(held_state(x, SPI_B_I, SPI_B_R), IKE_STATE_DORMANT);
	explicit_bzero(got, sizeof(got));
	fixture_free(x);
}

/* Our IKE SAs that go away: news for the peer, unless their VIP was stepped down from. */
static void test_own_removals(void **state)
{
	struct fixture *x = fixture_new();

	snapshot_a_and_b(x);
	assert_int_equal(x->f.deletes, 0);
	x->f.stepped_down[0] = true;

	/* A new connection whose snapshot lacks both: only B's removal is reported. */
	close(x->pluto_fd);
	x->pluto_fd = -1;
	assert_true(run_until(x, is_disconnected, WAIT_MS));
	attach_pluto(x);
	pluto_says(x, "{\"version\":1,\"type\":\"snapshot_end\",\"count\":0}");
	assert_true(run_until(x, is_ready, WAIT_MS));
	assert_int_equal(x->f.send_own, 2);
	assert_int_equal(x->f.deletes, 1);
	assert_true(x->f.delete_spis[0][0] == SPI_B_I && x->f.delete_spis[0][1] == SPI_B_R);
	assert_int_equal(ike_count(ikesync_own(x->s)), 0);
	fixture_free(x);
}

/* Live deletes from our pluto: forwarded only under a VIP we did not step down from. */
static void test_own_live_deletes(void **state)
{
	struct fixture *x = fixture_new();

	snapshot_a_and_b(x);
	x->f.stepped_down[0] = true;
	pluto_says(x, "{\"version\":1,\"type\":\"delete\",\"sa\":\"ike\",\"serial\":1,"
		   "\"spi_i\":\"41443052916ec1bb\",\"spi_r\":\"f0985e9dd355b672\"}");
	pluto_says(x, "{\"version\":1,\"type\":\"delete\",\"sa\":\"ike\",\"serial\":2,"
		   "\"spi_i\":\"1111111111111111\",\"spi_r\":\"2222222222222222\"}");
	/* Then an answer, which is never forwarded: once it is in, both deletes were handled. */
	pluto_says(x, "{\"version\":1,\"type\":\"dropped\",\"local\":\"192.0.2.1\",\"ike\":0,\"child\":0}");
	assert_true(run_until(x, has_dropped_reply, WAIT_MS));
	assert_int_equal(x->f.records, 1);
	assert_true(x->f.record_spis[0][0] == SPI_B_I && x->f.record_spis[0][1] == SPI_B_R);
	assert_non_null(strstr(x->f.last_record, "\"type\":\"delete\""));
	/* Both left our cache all the same. */
	assert_int_equal(ike_count(ikesync_own(x->s)), 0);
	fixture_free(x);
}

/* A snapshot that does not add up is asked for again: nothing to the peer, not ready. */
static void test_snapshot_mismatch(void **state)
{
	struct fixture *x = fixture_new();
	struct ikesync_stats st;
	char text[2048];

	attach_pluto(x);
	ike_sa_text(text, sizeof(text), 1, SPI_A_I, SPI_A_R, "192.0.2.1");
	pluto_says(x, text);
	pluto_says(x, "{\"version\":1,\"type\":\"snapshot_end\",\"count\":5}");
	assert_true(run_until(x, is_disconnected, WAIT_MS));
	ikesync_get_stats(x->s, &st);
	assert_false(st.pluto_ready);
	assert_int_equal(st.imports, 0);
	assert_int_equal(x->f.send_own, 0);
	assert_int_equal(ike_count(ikesync_own(x->s)), 0);
	fixture_free(x);
}

/* pluto's answers to activate and drop are kept for status. */
static void test_replies(void **state)
{
	struct fixture *x = fixture_new();
	struct ikesync_stats st;

	attach_pluto(x);
	pluto_says(x, "{\"version\":1,\"type\":\"activated\",\"local\":\"192.0.2.1\","
		   "\"ike\":2,\"child\":3,\"failed\":1}");
	assert_true(run_until(x, has_reply, WAIT_MS));
	ikesync_get_stats(x->s, &st);
	assert_int_equal(st.last_reply.type, PLUTO_ACTIVATED);
	assert_string_equal(st.last_reply.local, "192.0.2.1");
	assert_true(st.last_reply.ike == 2 && st.last_reply.child == 3 && st.last_reply.failed == 1);
	assert_true(st.last_reply.at_wall_ms > 0);
	/* Not a record of ours: no snapshot closed, nothing to the peer. */
	assert_false(st.pluto_ready);
	assert_true(x->f.records == 0 && x->f.send_own == 0);

	pluto_says(x, "{\"version\":1,\"type\":\"dropped\",\"local\":\"192.0.2.2\",\"ike\":4,\"child\":5}");
	assert_true(run_until(x, has_dropped_reply, WAIT_MS));
	ikesync_get_stats(x->s, &st);
	assert_string_equal(st.last_reply.local, "192.0.2.2");
	assert_true(st.last_reply.ike == 4 && st.last_reply.child == 5 && st.last_reply.failed == 0);
	fixture_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_then_import),
		cmocka_unit_test(test_held_forwarding),
		cmocka_unit_test(test_disconnect),
		cmocka_unit_test(test_promote_demote),
		cmocka_unit_test(test_own_removals),
		cmocka_unit_test(test_own_live_deletes),
		cmocka_unit_test(test_snapshot_mismatch),
		cmocka_unit_test(test_replies),
	};
	int rc;

	log_init("test_ikesync", true, LOG_EMERG);
	if (seal_global_init() != SEAL_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	seal_global_shutdown();
	return rc;
}
