/* test_session.c: two session engines wired back to back in memory: handshake, bulk, ACKs, stream order, forgery, replay, dead peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <string.h>
#include <cmocka.h>

#include "seal.h"
#include "session.h"

#define MSG_MAX 4096

struct msg {
	int to;			/* 0: node a, 1: node b */
	uint16_t stream;
	size_t len;
	uint8_t *buf;
};

struct node {
	struct session *s;
	int index;
	int resets;
	char last_reset[128];
	int established;
	char peer[64];
	/* What apply() saw. */
	int bulk_begins, bulk_ends, sa_adds, bulk_sa_adds, sa_updates, sa_deletes, policies;
	uint64_t last_bulk_count;
	uint32_t update_spis[1024];
	int n_update_spis;
	uint16_t streams_used[64];
	int ike_records, bulk_ike_records, ike_deletes;
	uint64_t ike_spi_i, ike_spi_r;
	char *ike_json;		/* the last IKE_RECORD's document */
	size_t ike_json_len;
};

/* Capabilities make() gives each node. */
static uint32_t node_caps[2] = { WIRE_CAP_ESN, WIRE_CAP_ESN };

static struct msg queue[MSG_MAX];
static int queued;
static struct node nodes[2];
static struct seal_psk *psk_a, *psk_b;

static int cb_send(void *ctx, uint16_t stream, const uint8_t *buf, size_t len)
{
	struct node *n = ctx;

	assert_true(queued < MSG_MAX);
	queue[queued].to = !n->index;
	queue[queued].stream = stream;
	queue[queued].len = len;
	queue[queued].buf = malloc(len);
	memcpy(queue[queued].buf, buf, len);
	queued++;
	if (stream < 64)
		n->streams_used[stream]++;
	return 0;
}

static void cb_reset(void *ctx, const char *why)
{
	struct node *n = ctx;

	n->resets++;
	snprintf(n->last_reset, sizeof(n->last_reset), "%s", why);
}

static void cb_established(void *ctx, const char *peer)
{
	struct node *n = ctx;

	n->established++;
	snprintf(n->peer, sizeof(n->peer), "%s", peer);
}

static void cb_apply(void *ctx, const struct wire_record *rec)
{
	struct node *n = ctx;

	switch (rec->type) {
	case WIRE_BULK_BEGIN:
		n->bulk_begins++;
		break;
	case WIRE_BULK_END:
		n->bulk_ends++;
		n->last_bulk_count = rec->u.bulk.count;
		break;
	case WIRE_SA_ADD:
		if (rec->flags & WIRE_F_BULK)
			n->bulk_sa_adds++;
		else
			n->sa_adds++;
		break;
	case WIRE_SA_UPDATE:
		n->sa_updates++;
		if (n->n_update_spis < 1024)
			n->update_spis[n->n_update_spis++] = rec->u.update.key.spi;
		break;
	case WIRE_SA_DELETE:
		n->sa_deletes++;
		break;
	case WIRE_POLICY_ADD:
		n->policies++;
		break;
	case WIRE_IKE_RECORD:
		if (rec->flags & WIRE_F_BULK)
			n->bulk_ike_records++;
		else
			n->ike_records++;
		n->ike_spi_i = rec->u.ike.spi_i;
		n->ike_spi_r = rec->u.ike.spi_r;
		free(n->ike_json);
		n->ike_json = malloc(rec->u.ike.json_len);
		memcpy(n->ike_json, rec->ike_json, rec->u.ike.json_len);
		n->ike_json_len = rec->u.ike.json_len;
		break;
	case WIRE_IKE_DELETE:
		n->ike_deletes++;
		n->ike_spi_i = rec->u.ike.spi_i;
		n->ike_spi_r = rec->u.ike.spi_r;
		break;
	default:
		fail_msg("unexpected record type %u", rec->type);
	}
}

static const struct session_callbacks callbacks = {
	.send = cb_send, .reset = cb_reset, .established = cb_established, .apply = cb_apply,
};

static void drop_queue(void)
{
	for (int i = 0; i < queued; i++)
		free(queue[i].buf);
	queued = 0;
}

/* Deliver everything in order of sending. */
static void pump(uint64_t now)
{
	while (queued) {
		struct msg m = queue[0];

		memmove(queue, queue + 1, (size_t)(queued - 1) * sizeof(*queue));
		queued--;
		session_receive(nodes[m.to].s, m.stream, m.buf, m.len, now);
		free(m.buf);
	}
}

/* Deliver the highest stream's messages first: SCTP may reorder across streams, never within one. */
static void pump_streams_reversed(uint64_t now)
{
	while (queued) {
		int best = 0;

		for (int i = 1; i < queued; i++)
			if (queue[i].stream > queue[best].stream)
				best = i;
		struct msg m = queue[best];

		memmove(queue + best, queue + best + 1, (size_t)(queued - best - 1) * sizeof(*queue));
		queued--;
		session_receive(nodes[m.to].s, m.stream, m.buf, m.len, now);
		free(m.buf);
	}
}

static struct session *make(int index, const char *id, struct seal_psk *psk)
{
	struct session_config cfg = {
		.node_id = id, .psk = psk, .streams = 8, .caps = node_caps[index],
		.max_unacked = 1000, .heartbeat_ms = 1000, .dead_ms = 3000,
	};

	memset(&nodes[index], 0, sizeof(nodes[index]));
	nodes[index].index = index;
	nodes[index].s = session_new(&cfg, &callbacks, &nodes[index]);
	assert_non_null(nodes[index].s);
	return nodes[index].s;
}

static int setup(void **state)
{
	uint8_t key[32], other[32];

	(void)state;
	assert_int_equal(seal_global_init(), SEAL_OK);
	for (int i = 0; i < 32; i++) {
		key[i] = (uint8_t)(i * 7);
		other[i] = (uint8_t)(i * 7 + 1);
	}
	assert_int_equal(seal_psk_new(key, sizeof(key), &psk_a), SEAL_OK);
	assert_int_equal(seal_psk_new(other, sizeof(other), &psk_b), SEAL_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seal_psk_free(psk_a);
	seal_psk_free(psk_b);
	return 0;
}

static int per_test_teardown(void **state)
{
	(void)state;
	drop_queue();
	free(nodes[0].ike_json);
	free(nodes[1].ike_json);
	node_caps[0] = node_caps[1] = WIRE_CAP_ESN;
	session_free(nodes[0].s);
	session_free(nodes[1].s);
	nodes[0].s = nodes[1].s = NULL;
	return 0;
}

static void connect_pair(void)
{
	make(0, "gw1", psk_a);
	make(1, "gw2", psk_a);
	assert_int_equal(session_transport_up(nodes[0].s, true, 100), 0);
	assert_int_equal(session_transport_up(nodes[1].s, false, 100), 0);
	pump(100);
}

static struct ha_sa sa_numbered(uint32_t n)
{
	struct ha_sa sa;

	memset(&sa, 0, sizeof(sa));
	sa.family = AF_INET;
	sa.id.daddr.family = AF_INET;
	sa.id.daddr.v4.s_addr = htonl(0xc0000264);	/* 192.0.2.100 */
	sa.id.spi = htonl(0x1000 + n);
	sa.id.proto = IPPROTO_ESP;
	sa.saddr.family = AF_INET;
	sa.saddr.v4.s_addr = htonl(0xc0000201);
	sa.mode = 1;
	sa.reqid = 1000 + n;
	sa.sel.family = AF_INET;
	sa.sel.saddr.family = sa.sel.daddr.family = AF_INET;
	strcpy(sa.aead.name, "rfc4106(gcm(aes))");
	sa.aead.key_len_bits = 288;
	sa.aead.icv_len_bits = 128;
	memset(sa.aead.key, (int)n, 36);
	sa.replay.is_esn = true;
	sa.replay.esn.bmp_len = 4;
	sa.replay.esn.replay_window = 128;
	sa.replay.esn.oseq = n;
	sa.lft.soft_byte_limit = sa.lft.hard_byte_limit = UINT64_MAX;
	sa.lft.soft_packet_limit = sa.lft.hard_packet_limit = UINT64_MAX;
	sa.flags = 128;	/* XFRM_STATE_ESN */
	return sa;
}

static void test_handshake(void **state)
{
	(void)state;
	connect_pair();
	assert_int_equal(session_state(nodes[0].s), SESSION_ESTABLISHED);
	assert_int_equal(session_state(nodes[1].s), SESSION_ESTABLISHED);
	assert_string_equal(nodes[0].peer, "gw2");
	assert_string_equal(nodes[1].peer, "gw1");
	assert_int_equal(nodes[0].established, 1);
	assert_int_equal(nodes[1].established, 1);
	assert_int_equal(session_peer_caps(nodes[0].s), WIRE_CAP_ESN);
	assert_int_equal(nodes[0].resets + nodes[1].resets, 0);
}

static void test_bulk_then_live_on_streams(void **state)
{
	struct ha_sa sa;

	(void)state;
	connect_pair();
	assert_int_equal(session_bulk_begin(nodes[0].s), 0);
	for (uint32_t i = 0; i < 500; i++) {
		sa = sa_numbered(i);
		assert_int_equal(session_bulk_sa(nodes[0].s, &sa), 0);
	}
	assert_int_equal(session_bulk_end(nodes[0].s), 0);
	/* A live update queued before the snapshot is acknowledged stays on stream 0. */
	sa = sa_numbered(1);
	assert_int_equal(session_send_sa_update(nodes[0].s, &sa), 0);
	assert_int_equal(session_flush(nodes[0].s), 0);
	for (int i = 1; i < 8; i++)
		assert_int_equal(nodes[0].streams_used[i], 0);
	assert_false(session_bulk_acked(nodes[0].s));
	pump(200);
	assert_int_equal(nodes[1].bulk_begins, 1);
	assert_int_equal(nodes[1].bulk_sa_adds, 500);
	assert_int_equal(nodes[1].bulk_ends, 1);
	assert_int_equal(nodes[1].last_bulk_count, 500);
	assert_int_equal(nodes[1].sa_updates, 1);
	assert_true(session_bulk_acked(nodes[0].s));
	assert_int_equal(session_unacked(nodes[0].s), 0);

	/* Now SAs spread over streams 1..7, and each SA's updates stay in order. */
	for (uint32_t round = 0; round < 3; round++)
		for (uint32_t i = 0; i < 50; i++) {
			sa = sa_numbered(i);
			sa.replay.esn.oseq = 1000 * round + i;
			assert_int_equal(session_send_sa_update(nodes[0].s, &sa), 0);
		}
	assert_int_equal(session_flush(nodes[0].s), 0);
	int spread = 0;
	for (int i = 1; i < 8; i++)
		spread += nodes[0].streams_used[i] > 0;
	assert_true(spread >= 3);
	assert_true(session_unacked(nodes[0].s) == 150);
	pump_streams_reversed(300);
	assert_int_equal(nodes[1].sa_updates, 151);
	assert_int_equal(session_unacked(nodes[0].s), 0);
	assert_int_equal(nodes[0].resets + nodes[1].resets, 0);
}

/* A pluto-like document of len bytes: {"version":1,"type":"msgid","pad":"xxx..."}. */
static char *ike_doc(size_t len, char fill)
{
	static const char head[] = "{\"version\":1,\"type\":\"ike_sa\",\"pad\":\"";
	char *d = malloc(len);

	assert_true(len > sizeof(head) + 2);
	memcpy(d, head, sizeof(head) - 1);
	memset(d + sizeof(head) - 1, fill, len - (sizeof(head) - 1) - 2);
	memcpy(d + len - 2, "\"}", 2);
	return d;
}

static void test_ike_records_round_trip(void **state)
{
	struct session_stats st;
	struct ha_sa sa = sa_numbered(1);
	char *small = ike_doc(300, 'a'), *big = ike_doc(20000, 'b'), *max = ike_doc(WIRE_IKE_JSON_MAX, 'c');
	uint16_t stream_a = 0;

	(void)state;
	node_caps[0] = node_caps[1] = WIRE_CAP_ESN | WIRE_CAP_IKE;
	connect_pair();
	assert_true(session_ike_enabled(nodes[0].s));
	assert_int_equal(session_bulk_begin(nodes[0].s), 0);
	assert_int_equal(session_bulk_sa(nodes[0].s, &sa), 0);
	assert_int_equal(session_bulk_ike_record(nodes[0].s, 1, 2, small, 300), 0);
	assert_int_equal(session_bulk_ike_record(nodes[0].s, 1, 2, big, 20000), 0);
	assert_int_equal(session_bulk_ike_record(nodes[0].s, 3, 4, max, WIRE_IKE_JSON_MAX), 0);
	assert_int_equal(session_bulk_end(nodes[0].s), 0);
	assert_int_equal(session_flush(nodes[0].s), 0);
	pump(200);
	assert_int_equal(nodes[1].bulk_sa_adds, 1);
	assert_int_equal(nodes[1].bulk_ike_records, 3);
	assert_int_equal(nodes[1].last_bulk_count, 4);
	assert_int_equal(nodes[1].ike_json_len, WIRE_IKE_JSON_MAX);
	assert_memory_equal(nodes[1].ike_json, max, WIRE_IKE_JSON_MAX);
	assert_true(session_bulk_acked(nodes[0].s));

	/* Live: the 20 KB document in a frame of its own, on the IKE SA's stream. */
	memset(nodes[0].streams_used, 0, sizeof(nodes[0].streams_used));
	assert_int_equal(session_send_ike_record(nodes[0].s, 0x1122334455667788ull, 0x99, big, 20000), 0);
	assert_int_equal(session_flush(nodes[0].s), 0);
	for (int i = 1; i < 8; i++)
		if (nodes[0].streams_used[i])
			stream_a = (uint16_t)i;
	assert_true(stream_a > 0);
	pump(300);
	assert_int_equal(nodes[1].ike_records, 1);
	assert_true(nodes[1].ike_spi_i == 0x1122334455667788ull && nodes[1].ike_spi_r == 0x99);
	assert_int_equal(nodes[1].ike_json_len, 20000);
	assert_memory_equal(nodes[1].ike_json, big, 20000);
	/* Every record of that IKE SA, its delete included, takes the same stream. */
	memset(nodes[0].streams_used, 0, sizeof(nodes[0].streams_used));
	assert_int_equal(session_send_ike_record(nodes[0].s, 0x1122334455667788ull, 0x99, small, 300), 0);
	assert_int_equal(session_send_ike_delete(nodes[0].s, 0x1122334455667788ull, 0x99), 0);
	assert_int_equal(session_flush(nodes[0].s), 0);
	for (int i = 1; i < 8; i++)
		assert_int_equal(nodes[0].streams_used[i], i == stream_a ? 1 : 0);
	pump(400);
	assert_int_equal(nodes[1].ike_records, 2);
	assert_int_equal(nodes[1].ike_deletes, 1);
	assert_int_equal(session_unacked(nodes[0].s), 0);
	/* Too big or empty: refused before numbering. */
	assert_true(session_send_ike_record(nodes[0].s, 1, 2, max, WIRE_IKE_JSON_MAX + 1) < 0);
	assert_true(session_send_ike_record(nodes[0].s, 1, 2, max, 0) < 0);
	assert_int_equal(session_unacked(nodes[0].s), 0);
	session_get_stats(nodes[0].s, &st);
	assert_int_equal(st.ike_records_out, 5);
	assert_int_equal(st.ike_deletes_out, 1);
	assert_int_equal(st.ike_skipped, 0);
	session_get_stats(nodes[1].s, &st);
	assert_int_equal(st.ike_records_in, 6);
	assert_int_equal(nodes[0].resets + nodes[1].resets, 0);
	free(small);
	free(big);
	free(max);
}

/* A peer without WIRE_CAP_IKE never sees an IKE record: it would skip it and never ACK past it. */
static void test_ike_needs_caps(void **state)
{
	struct session_stats st;
	struct ha_sa sa = sa_numbered(1);
	char *doc = ike_doc(500, 'x');

	(void)state;
	node_caps[0] = WIRE_CAP_ESN | WIRE_CAP_IKE;	/* we offer it, the peer does not */
	connect_pair();
	assert_false(session_ike_enabled(nodes[0].s));
	assert_int_equal(session_peer_caps(nodes[0].s) & WIRE_CAP_IKE, 0);
	assert_int_equal(session_bulk_begin(nodes[0].s), 0);
	assert_int_equal(session_bulk_sa(nodes[0].s, &sa), 0);
	assert_int_equal(session_bulk_ike_record(nodes[0].s, 1, 2, doc, 500), 0);
	assert_int_equal(session_bulk_end(nodes[0].s), 0);
	assert_int_equal(session_send_ike_record(nodes[0].s, 1, 2, doc, 500), 0);
	assert_int_equal(session_send_ike_delete(nodes[0].s, 1, 2), 0);
	assert_int_equal(session_flush(nodes[0].s), 0);
	pump(200);
	assert_int_equal(nodes[1].last_bulk_count, 1);
	assert_int_equal(nodes[1].bulk_ike_records + nodes[1].ike_records + nodes[1].ike_deletes, 0);
	assert_int_equal(session_unacked(nodes[0].s), 0);
	session_get_stats(nodes[0].s, &st);
	assert_int_equal(st.ike_skipped, 3);
	assert_int_equal(st.ike_records_out + st.ike_deletes_out, 0);
	session_get_stats(nodes[1].s, &st);
	assert_int_equal(st.skipped_records, 0);
	assert_int_equal(nodes[0].resets + nodes[1].resets, 0);
	free(doc);
}

static void test_wrong_psk_rejected(void **state)
{
	(void)state;
	make(0, "gw1", psk_a);
	make(1, "gw2", psk_b);
	session_transport_up(nodes[0].s, true, 0);
	session_transport_up(nodes[1].s, false, 0);
	pump(0);
	assert_int_equal(nodes[1].resets, 1);
	assert_non_null(strstr(nodes[1].last_reset, "authentication"));
	assert_int_equal(nodes[1].established, 0);
	assert_int_equal(nodes[0].established, 0);
	struct session_stats st;
	session_get_stats(nodes[1].s, &st);
	assert_int_equal(st.hello_rejected, 1);
}

static void test_reflected_hello_rejected(void **state)
{
	(void)state;
	make(0, "gw1", psk_a);
	make(1, "gw2", psk_a);
	session_transport_up(nodes[0].s, true, 0);
	/* Send gw1's own HELLO back to it. */
	assert_int_equal(queued, 1);
	queue[0].to = 0;
	pump(0);
	assert_int_equal(nodes[0].resets, 1);
	assert_int_equal(session_state(nodes[0].s), SESSION_DOWN);
}

static void test_forged_frame_resets(void **state)
{
	struct ha_sa sa = sa_numbered(7);
	struct session_stats st;

	(void)state;
	connect_pair();
	session_send_sa(nodes[0].s, &sa);
	session_flush(nodes[0].s);
	assert_int_equal(queued, 1);
	queue[0].buf[queue[0].len / 2] ^= 0x01;
	pump(10);
	assert_int_equal(nodes[1].resets, 1);
	assert_int_equal(nodes[1].sa_adds, 0);
	session_get_stats(nodes[1].s, &st);
	assert_int_equal(st.frames_forged, 1);
}

static void test_replayed_frame_resets(void **state)
{
	struct ha_sa sa = sa_numbered(7);
	struct session_stats st;
	uint8_t copy[MSG_MAX];
	size_t len;
	uint16_t stream;

	(void)state;
	connect_pair();
	session_send_sa(nodes[0].s, &sa);
	session_flush(nodes[0].s);
	assert_int_equal(queued, 1);
	len = queue[0].len;
	stream = queue[0].stream;
	memcpy(copy, queue[0].buf, len);
	pump(10);
	assert_int_equal(nodes[1].sa_adds, 1);
	session_receive(nodes[1].s, stream, copy, len, 11);
	assert_int_equal(nodes[1].sa_adds, 1);
	assert_int_equal(nodes[1].resets, 1);
	session_get_stats(nodes[1].s, &st);
	assert_int_equal(st.frames_replayed, 1);
}

static void test_garbage_before_hello(void **state)
{
	uint8_t junk[40];

	(void)state;
	make(1, "gw2", psk_a);
	session_transport_up(nodes[1].s, false, 0);
	memset(junk, 0xa5, sizeof(junk));
	session_receive(nodes[1].s, 0, junk, sizeof(junk), 1);
	assert_int_equal(nodes[1].resets, 1);
	assert_int_equal(session_state(nodes[1].s), SESSION_DOWN);
}

static void test_heartbeat_and_dead_peer(void **state)
{
	(void)state;
	connect_pair();
	drop_queue();
	session_tick(nodes[0].s, 1200);		/* idle past heartbeat_ms */
	assert_int_equal(queued, 1);
	pump(1200);
	assert_int_equal(session_last_rx_ms(nodes[1].s), 1200);
	session_tick(nodes[1].s, 1200 + 2999);
	assert_int_equal(nodes[1].resets, 0);
	drop_queue();
	session_tick(nodes[1].s, 1200 + 3000);
	assert_int_equal(nodes[1].resets, 1);
	assert_non_null(strstr(nodes[1].last_reset, "dead-time"));
}

static void test_unacked_bound(void **state)
{
	struct ha_sa sa = sa_numbered(1);

	(void)state;
	connect_pair();
	for (int i = 0; i < 1000; i++)
		assert_int_equal(session_send_sa_update(nodes[0].s, &sa), 0);
	assert_int_equal(session_send_sa_update(nodes[0].s, &sa), -1);
	assert_int_equal(nodes[0].resets, 1);
	assert_int_equal(session_state(nodes[0].s), SESSION_DOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_handshake, per_test_teardown),
		cmocka_unit_test_teardown(test_bulk_then_live_on_streams, per_test_teardown),
		cmocka_unit_test_teardown(test_ike_records_round_trip, per_test_teardown),
		cmocka_unit_test_teardown(test_ike_needs_caps, per_test_teardown),
		cmocka_unit_test_teardown(test_wrong_psk_rejected, per_test_teardown),
		cmocka_unit_test_teardown(test_reflected_hello_rejected, per_test_teardown),
		cmocka_unit_test_teardown(test_forged_frame_resets, per_test_teardown),
		cmocka_unit_test_teardown(test_replayed_frame_resets, per_test_teardown),
		cmocka_unit_test_teardown(test_garbage_before_hello, per_test_teardown),
		cmocka_unit_test_teardown(test_heartbeat_and_dead_peer, per_test_teardown),
		cmocka_unit_test_teardown(test_unacked_bound, per_test_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
