/* test_traffic_stats.c: unit tests for hatraffic's receive accounting, report line, packet codec and argument parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "traffic_stats.h"

#define MS	UINT64_C(1000000)

static enum traffic_rx rx(struct traffic_stats *st, uint32_t run, uint64_t seq, uint64_t t_ms)
{
	struct traffic_pkt p = { .run_id = run, .seq = seq, .sent_ns = t_ms * MS };

	return traffic_stats_rx(st, &p, t_ms * MS);
}

static void report(const struct traffic_stats *st, char *buf, size_t len)
{
	struct traffic_report_info info = {
		.sent = 3000, .send_errors = 2, .rate = 1000, .duration_ms = 3000, .tx_start_ms = 3,
	};
	int n = traffic_report_format(buf, len, st, &info);

	assert_true(n > 0 && (size_t)n < len);
}

/* The value of "key":N in a report line, as text. */
static void field(const char *line, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	assert_non_null(p);
	p += strlen(pat);
	n = strcspn(p, ",}");
	assert_true(n < len);
	memcpy(out, p, n);
	out[n] = '\0';
}

static void assert_field(const char *line, const char *key, const char *want)
{
	char got[32];

	field(line, key, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s in %s", key, got, want, line);
}

static void test_in_order(void **state)
{
	struct traffic_stats st;
	char line[512];
	uint64_t i;

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	for (i = 0; i < 3000; i++)
		assert_int_equal(rx(&st, 7, i, 5 + i), TRAFFIC_RX_NEW);
	assert_int_equal(st.received, 3000);
	assert_int_equal(traffic_stats_lost(&st), 0);
	assert_int_equal(st.duplicates, 0);
	assert_int_equal(st.reordered, 0);
	report(&st, line, sizeof(line));
	assert_string_equal(line,
	    "{\"sent\":3000,\"received\":3000,\"lost\":0,\"duplicates\":0,\"reordered\":0,"
	    "\"max_gap_ms\":1,\"max_gap_start_ms\":5,\"gaps_over_100ms\":0,"
	    "\"first_rx_ms\":5,\"last_rx_ms\":3004,\"rate\":1000,\"duration_ms\":3000,"
	    "\"send_errors\":2,\"late\":0,\"invalid\":0,\"runs\":1,\"lost_at_start\":0,"
	    "\"tx_start_ms\":3}");
	/* well past the first window allocation, still below the cap */
	assert_true(traffic_stats_window_bytes(&st) <= TRAFFIC_WINDOW_MAX_BITS / 8);
	traffic_stats_free(&st);
}

static void test_loss_in_middle(void **state)
{
	struct traffic_stats st;
	char line[512];
	uint64_t i;

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	for (i = 0; i < 1000; i++)
		if (i < 400 || i >= 450)
			rx(&st, 1, i, i);
	assert_int_equal(st.received, 950);
	assert_int_equal(traffic_stats_lost(&st), 50);
	assert_int_equal(traffic_stats_lost_at_start(&st), 0);
	report(&st, line, sizeof(line));
	assert_field(line, "lost", "50");
	/* 399 arrived at 399 ms, 450 at 450 ms */
	assert_field(line, "max_gap_ms", "51");
	assert_field(line, "max_gap_start_ms", "399");
	assert_field(line, "gaps_over_100ms", "0");
	traffic_stats_free(&st);
}

static void test_gap_exact(void **state)
{
	struct traffic_stats st;
	char line[512];
	uint64_t i;

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	for (i = 0; i < 10; i++)
		rx(&st, 1, i, 100 + i);
	/* nothing for exactly 750 ms, then the stream goes on with no loss */
	for (i = 10; i < 20; i++)
		rx(&st, 1, i, 109 + 750 + (i - 10));
	report(&st, line, sizeof(line));
	assert_field(line, "max_gap_ms", "750");
	assert_field(line, "max_gap_start_ms", "109");
	assert_field(line, "gaps_over_100ms", "1");
	assert_field(line, "first_rx_ms", "100");
	assert_field(line, "last_rx_ms", "868");
	assert_field(line, "lost", "0");
	/* exactly 100 ms is not over 100 ms; 100.001 ms is */
	rx(&st, 1, 20, 968);
	assert_int_equal(st.gaps_over_100ms, 1);
	{
		struct traffic_pkt p = { .run_id = 1, .seq = 21 };

		traffic_stats_rx(&st, &p, 1068 * MS + 1000);
	}
	assert_int_equal(st.gaps_over_100ms, 2);
	traffic_stats_free(&st);
}

static void test_gap_rounding(void **state)
{
	struct traffic_stats st;
	struct traffic_pkt p = { .run_id = 1 };

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	traffic_stats_rx(&st, &p, 0);
	p.seq = 1;
	traffic_stats_rx(&st, &p, 499 * MS + 499999);
	assert_int_equal(traffic_ns_to_ms(st.max_gap_ns), 499);
	p.seq = 2;
	traffic_stats_rx(&st, &p, 499 * MS + 499999 + 500 * MS + 500000);
	assert_int_equal(traffic_ns_to_ms(st.max_gap_ns), 501);
	traffic_stats_free(&st);
}

static void test_duplicates(void **state)
{
	struct traffic_stats st;
	char line[512];

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	assert_int_equal(rx(&st, 1, 0, 0), TRAFFIC_RX_NEW);
	assert_int_equal(rx(&st, 1, 1, 1), TRAFFIC_RX_NEW);
	assert_int_equal(rx(&st, 1, 1, 2), TRAFFIC_RX_DUP);
	assert_int_equal(rx(&st, 1, 0, 3), TRAFFIC_RX_DUP);
	assert_int_equal(rx(&st, 1, 2, 400), TRAFFIC_RX_NEW);
	assert_int_equal(rx(&st, 1, 2, 401), TRAFFIC_RX_DUP);
	assert_int_equal(st.received, 3);
	assert_int_equal(st.duplicates, 3);
	assert_int_equal(traffic_stats_lost(&st), 0);
	/* duplicates are not traffic getting through: the gap runs from 1 ms */
	report(&st, line, sizeof(line));
	assert_field(line, "max_gap_ms", "399");
	assert_field(line, "max_gap_start_ms", "1");
	assert_field(line, "last_rx_ms", "400");
	traffic_stats_free(&st);
}

static void test_reordering(void **state)
{
	struct traffic_stats st;

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	rx(&st, 1, 0, 0);
	rx(&st, 1, 2, 1);
	assert_int_equal(traffic_stats_lost(&st), 1);
	rx(&st, 1, 1, 2);
	rx(&st, 1, 3, 3);
	assert_int_equal(st.reordered, 1);
	assert_int_equal(traffic_stats_lost(&st), 0);
	/* a jump ahead then the missing ones trickling in, one twice */
	rx(&st, 1, 10, 4);
	assert_int_equal(traffic_stats_lost(&st), 6);
	rx(&st, 1, 5, 5);
	rx(&st, 1, 4, 6);
	rx(&st, 1, 4, 7);
	assert_int_equal(st.reordered, 3);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(traffic_stats_lost(&st), 4);
	assert_int_equal(st.received, 7);
	traffic_stats_free(&st);
}

static void test_peer_restart(void **state)
{
	struct traffic_stats st;
	char line[512];
	uint64_t i;

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	for (i = 0; i < 100; i++)
		if (i != 50)
			rx(&st, 0xaaaa, i, i);
	/* the peer restarts: new run id, sequence from 0 again, 300 ms later */
	for (i = 0; i < 100; i++)
		if (i != 10 && i != 11)
			rx(&st, 0xbbbb, i, 399 + i);
	assert_int_equal(st.runs, 2);
	assert_int_equal(st.received, 99 + 98);
	assert_int_equal(traffic_stats_lost(&st), 3);
	/* restarting at 0 is not reordering, and 0..99 of the new run are not duplicates */
	assert_int_equal(st.reordered, 0);
	assert_int_equal(st.duplicates, 0);
	/* a straggler of the old run cannot be placed any more */
	assert_int_equal(rx(&st, 0xaaaa, 50, 600), TRAFFIC_RX_LATE);
	assert_int_equal(st.late, 1);
	assert_int_equal(traffic_stats_lost(&st), 3);
	report(&st, line, sizeof(line));
	assert_field(line, "max_gap_ms", "300");
	assert_field(line, "max_gap_start_ms", "99");
	assert_field(line, "runs", "2");
	/* the new run's loss can still be repaired by reordering */
	assert_int_equal(rx(&st, 0xbbbb, 10, 601), TRAFFIC_RX_NEW);
	assert_int_equal(traffic_stats_lost(&st), 2);
	traffic_stats_free(&st);
}

static void test_many_restarts(void **state)
{
	struct traffic_stats st;
	uint32_t run;

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	for (run = 1; run <= 3 * TRAFFIC_OLD_RUNS; run++) {
		rx(&st, run, 0, run * 10);
		rx(&st, run, 2, run * 10 + 1);
	}
	assert_int_equal(st.runs, 3 * TRAFFIC_OLD_RUNS);
	assert_int_equal(traffic_stats_lost(&st), 3 * TRAFFIC_OLD_RUNS);
	assert_int_equal(rx(&st, 3 * TRAFFIC_OLD_RUNS - 1, 1, 1000), TRAFFIC_RX_LATE);
	traffic_stats_free(&st);
}

static void test_huge_jump(void **state)
{
	struct traffic_stats st;
	uint64_t i, jump = UINT64_C(1000000000000);

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	for (i = 0; i < 10; i++)
		rx(&st, 1, i, i);
	assert_int_equal(rx(&st, 1, jump, 20), TRAFFIC_RX_NEW);
	assert_true(traffic_stats_window_bytes(&st) <= TRAFFIC_WINDOW_MAX_BITS / 8);
	assert_int_equal(st.received, 11);
	assert_int_equal(traffic_stats_lost(&st), jump - 10);
	/* an old one below the window: late, not a duplicate, still lost */
	assert_int_equal(rx(&st, 1, 5, 21), TRAFFIC_RX_LATE);
	assert_int_equal(rx(&st, 1, 11, 22), TRAFFIC_RX_LATE);
	assert_int_equal(traffic_stats_lost(&st), jump - 10);
	/* just below the jump is inside the window: reordered, repairs loss */
	assert_int_equal(rx(&st, 1, jump - 1, 23), TRAFFIC_RX_NEW);
	assert_int_equal(rx(&st, 1, jump - 1, 24), TRAFFIC_RX_DUP);
	assert_int_equal(traffic_stats_lost(&st), jump - 11);
	assert_int_equal(st.reordered, 1);
	/* the stream continues normally */
	for (i = 1; i < 100; i++)
		assert_int_equal(rx(&st, 1, jump + i, 24 + i), TRAFFIC_RX_NEW);
	assert_int_equal(traffic_stats_lost(&st), jump - 11);
	traffic_stats_free(&st);
}

static void test_sequence_limit(void **state)
{
	struct traffic_stats st;

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	assert_int_equal(rx(&st, 1, UINT64_MAX, 0), TRAFFIC_RX_INVALID);
	assert_int_equal(rx(&st, 1, TRAFFIC_SEQ_LIMIT, 0), TRAFFIC_RX_INVALID);
	assert_int_equal(rx(&st, 1, TRAFFIC_SEQ_LIMIT - 1, 0), TRAFFIC_RX_NEW);
	assert_int_equal(traffic_stats_lost(&st), TRAFFIC_SEQ_LIMIT - 1);
	assert_int_equal(st.invalid, 2);
	assert_int_equal(st.received, 1);
	traffic_stats_free(&st);
}

/* A small cap forces the window to slide many times over a long stream. */
static void test_window_slides(void **state)
{
	struct traffic_stats st;
	uint64_t i, lost = 0;

	assert_int_equal(traffic_stats_init(&st, 256), 0);
	assert_true(traffic_stats_window_bytes(&st) <= 256 / 8);
	for (i = 0; i < 100000; i++) {
		if (i % 1000 == 7) {
			lost++;
			continue;
		}
		/* swap each pair 100/101, 1100/1101, ...: reordering inside the window */
		if (i % 1000 == 100) {
			assert_int_equal(rx(&st, 1, i + 1, i), TRAFFIC_RX_NEW);
			assert_int_equal(rx(&st, 1, i, i), TRAFFIC_RX_NEW);
			i++;
			continue;
		}
		assert_int_equal(rx(&st, 1, i, i), TRAFFIC_RX_NEW);
	}
	assert_int_equal(traffic_stats_lost(&st), lost);
	assert_int_equal(st.reordered, 100);
	assert_int_equal(st.received, 100000 - lost);
	assert_int_equal(traffic_stats_window_bytes(&st), 256 / 8);
	/* duplicates are still seen inside the window */
	assert_int_equal(rx(&st, 1, 99999, 100000), TRAFFIC_RX_DUP);
	assert_int_equal(rx(&st, 1, 99999 - 150, 100000), TRAFFIC_RX_DUP);
	traffic_stats_free(&st);
}

static void test_empty(void **state)
{
	struct traffic_stats st;
	char line[512];

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	report(&st, line, sizeof(line));
	assert_field(line, "received", "0");
	assert_field(line, "lost", "0");
	assert_field(line, "max_gap_ms", "0");
	assert_field(line, "max_gap_start_ms", "-1");
	assert_field(line, "first_rx_ms", "-1");
	assert_field(line, "last_rx_ms", "-1");
	assert_field(line, "runs", "0");
	traffic_stats_free(&st);
}

static void test_one_packet(void **state)
{
	struct traffic_stats st;
	char line[512];

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	rx(&st, 1, 0, 42);
	report(&st, line, sizeof(line));
	assert_field(line, "max_gap_ms", "0");
	assert_field(line, "max_gap_start_ms", "-1");
	assert_field(line, "first_rx_ms", "42");
	assert_field(line, "last_rx_ms", "42");
	traffic_stats_free(&st);
}

static void test_lost_at_start(void **state)
{
	struct traffic_stats st;
	uint64_t i;

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	/* we started listening after the peer had sent 0..4; 2 comes late */
	for (i = 5; i < 20; i++)
		rx(&st, 1, i, i);
	rx(&st, 1, 2, 20);
	for (i = 21; i < 30; i++)
		if (i != 25)
			rx(&st, 1, i, i);
	assert_int_equal(traffic_stats_lost_at_start(&st), 4);
	/* 0, 1, 3, 4 before the first arrival, then 20 and 25 */
	assert_int_equal(traffic_stats_lost(&st), 6);
	/* a restart of the peer later does not add to it */
	rx(&st, 2, 3, 40);
	assert_int_equal(traffic_stats_lost_at_start(&st), 4);
	assert_int_equal(traffic_stats_lost(&st), 9);
	traffic_stats_free(&st);
}

static void test_report_truncated(void **state)
{
	struct traffic_stats st;
	struct traffic_report_info info = { .tx_start_ms = -1 };
	char full[512], small[16];
	int n;

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	n = traffic_report_format(full, sizeof(full), &st, &info);
	assert_int_equal(n, (int)strlen(full));
	assert_int_equal(traffic_report_format(small, sizeof(small), &st, &info), n);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_null(strchr(full, '\n'));
	assert_field(full, "tx_start_ms", "-1");
	traffic_stats_free(&st);
}

static void test_pkt_codec(void **state)
{
	uint8_t buf[64];
	struct traffic_pkt in = { .run_id = 0xdeadbeef, .seq = UINT64_C(0x0102030405060708), .sent_ns = 42 };
	struct traffic_pkt out;
	static const uint8_t want[TRAFFIC_HDR_LEN] = {
		'H', 'A', 'T', '1', 0xde, 0xad, 0xbe, 0xef,
		1, 2, 3, 4, 5, 6, 7, 8,
		0, 0, 0, 0, 0, 0, 0, 42,
	};

	memset(buf, 0, sizeof(buf));
	traffic_pkt_encode(buf, &in);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(traffic_pkt_decode(buf, 64, &out), 0);
	assert_int_equal(out.hello, 0);
	assert_int_equal(out.run_id, in.run_id);
	assert_int_equal(out.seq, in.seq);
	assert_int_equal(out.sent_ns, in.sent_ns);
	assert_int_equal(traffic_pkt_decode(buf, TRAFFIC_HDR_LEN, &out), 0);
	assert_int_equal(traffic_pkt_decode(buf, TRAFFIC_HDR_LEN - 1, &out), -1);
	assert_int_equal(traffic_pkt_decode(buf, 0, &out), -1);
	buf[3] = '2';
	assert_int_equal(traffic_pkt_decode(buf, 64, &out), -1);

	in.hello = 1;
	traffic_pkt_encode(buf, &in);
	assert_memory_equal(buf, "HATH", 4);
	assert_int_equal(traffic_pkt_decode(buf, TRAFFIC_HDR_LEN, &out), 0);
	assert_int_equal(out.hello, 1);
	assert_int_equal(out.run_id, in.run_id);
}

/* A hello only says the peer listens: it counts as nothing, and does not move the gap clock. */
static void test_hello_ignored(void **state)
{
	struct traffic_stats st;
	struct traffic_pkt hello = { .hello = 1, .run_id = 9 };

	assert_int_equal(traffic_stats_init(&st, 0), 0);
	assert_int_equal(traffic_stats_rx(&st, &hello, 5 * MS), TRAFFIC_RX_HELLO);
	assert_int_equal(st.received + st.duplicates + st.late + st.invalid + st.runs, 0);
	assert_int_equal(st.any_rx, 0);
	rx(&st, 9, 0, 10);
	assert_int_equal(traffic_stats_rx(&st, &hello, 500 * MS), TRAFFIC_RX_HELLO);
	rx(&st, 9, 1, 11);
	assert_int_equal(st.received, 2);
	assert_int_equal(traffic_ns_to_ms(st.max_gap_ns), 1);
	assert_int_equal(st.first_rx_ns, 10 * MS);
	traffic_stats_free(&st);
}

static void test_deadline(void **state)
{
	assert_int_equal(traffic_deadline_ns(0, 1000), 0);
	assert_int_equal(traffic_deadline_ns(1, 1000), 1000000);
	assert_int_equal(traffic_deadline_ns(3000, 1000), UINT64_C(3000000000));
	assert_int_equal(traffic_deadline_ns(1, 3), 333333333);
	assert_int_equal(traffic_deadline_ns(2, 3), 666666666);
	assert_int_equal(traffic_deadline_ns(3, 3), 1000000000);
	/* no drift after a long run: exactly one hour */
	assert_int_equal(traffic_deadline_ns(UINT64_C(7) * 3600, 7), UINT64_C(3600) * 1000000000);
	assert_int_equal(traffic_deadline_ns(UINT64_C(1000000) * 86400 * 365, 1000000),
	    UINT64_C(86400) * 365 * 1000000000);
}

static void test_parse_addr(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	const char *err = NULL;
	char buf[INET6_ADDRSTRLEN];
	static const char *bad[] = {
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:5001x",
		"127.0.0.1:-1", "127.0.0.1: 5", "localhost:5001", "1.2.3:5001", "::1:5001", "[::1]",
		"[::1]5001", "[::1:5001", "[]:5001", "[127.0.0.1]:5001", "[::1]:0", ":5001",
		"[fe80::1%eth0]:5001",
	};
	size_t i;

	assert_int_equal(traffic_parse_addr("127.0.0.1:5001", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(sin->sin_port), 5001);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);

	assert_int_equal(traffic_parse_addr("[2001:db8::1]:65535", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(sin6->sin6_port), 65535);
	inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::1");

	assert_int_equal(traffic_parse_addr("0.0.0.0:1", &ss, &len, &err), 0);
	assert_int_equal(traffic_parse_addr("[::]:5002", &ss, &len, &err), 0);
	assert_int_equal(traffic_parse_addr("[::ffff:192.0.2.1]:5002", &ss, &len, &err), 0);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		if (traffic_parse_addr(bad[i], &ss, &len, &err) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_non_null(err);
	}
}

static void test_parse_numbers(void **state)
{
	uint64_t v;
	const char *err;

	assert_int_equal(traffic_parse_uint("1000", 1, 1000000, &v, &err), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(traffic_parse_uint("0", 1, 10, &v, &err), -1);
	assert_int_equal(traffic_parse_uint("11", 1, 10, &v, &err), -1);
	assert_int_equal(traffic_parse_uint("-1", 0, 10, &v, &err), -1);
	assert_int_equal(traffic_parse_uint(" 5", 0, 10, &v, &err), -1);
	assert_int_equal(traffic_parse_uint("5k", 0, 10, &v, &err), -1);
	assert_int_equal(traffic_parse_uint("", 0, 10, &v, &err), -1);
	assert_int_equal(traffic_parse_uint("99999999999999999999999", 0, UINT64_MAX, &v, &err), -1);

	assert_int_equal(traffic_parse_seconds("3", &v, &err), 0);
	assert_int_equal(v, UINT64_C(3000000000));
	assert_int_equal(traffic_parse_seconds("0.5", &v, &err), 0);
	assert_int_equal(v, 500000000);
	assert_int_equal(traffic_parse_seconds("2.", &v, &err), 0);
	assert_int_equal(v, UINT64_C(2000000000));
	assert_int_equal(traffic_parse_seconds(".25", &v, &err), 0);
	assert_int_equal(v, 250000000);
	assert_int_equal(traffic_parse_seconds("0.000000001", &v, &err), 0);
	assert_int_equal(v, 1);
	assert_int_equal(traffic_parse_seconds("0.0000000001", &v, &err), -1);
	assert_int_equal(traffic_parse_seconds("0", &v, &err), -1);
	assert_int_equal(traffic_parse_seconds("0.0", &v, &err), -1);
	assert_int_equal(traffic_parse_seconds("", &v, &err), -1);
	assert_int_equal(traffic_parse_seconds(".", &v, &err), -1);
	assert_int_equal(traffic_parse_seconds("-1", &v, &err), -1);
	assert_int_equal(traffic_parse_seconds("1s", &v, &err), -1);
	assert_int_equal(traffic_parse_seconds("1e3", &v, &err), -1);
	assert_int_equal(traffic_parse_seconds("99999999999999999999", &v, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_loss_in_middle),
		cmocka_unit_test(test_gap_exact),
		cmocka_unit_test(test_gap_rounding),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_reordering),
		cmocka_unit_test(test_peer_restart),
		cmocka_unit_test(test_many_restarts),
		cmocka_unit_test(test_huge_jump),
		cmocka_unit_test(test_sequence_limit),
		cmocka_unit_test(test_window_slides),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one_packet),
		cmocka_unit_test(test_lost_at_start),
		cmocka_unit_test(test_report_truncated),
		cmocka_unit_test(test_pkt_codec),
		cmocka_unit_test(test_hello_ignored),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_parse_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
