/* ike_msgid_bench.c: CPU cost of one pluto msgid record through the agent (parse, IKE cache, IKE_RECORD encode+seal), as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ike.h"
#include "pluto.h"
#include "seal.h"
#include "session.h"

#define SAS		10000
#define RATE_NEEDED	3000.0	/* records/s: 10,000 IKE SAs, liveness every 10 s (docs/pluto-ha.md) */

/* The other end: HELLOs and ACKs only; frames to it are counted, not opened. */
static struct session *peer_b;
static uint8_t hold[2][70000];
static size_t hold_len[2];
static uint64_t frames, bytes;
static int delivering;

static int send_a(void *ctx, uint16_t stream, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)stream;
	frames++;
	bytes += len;
	if (delivering && len <= sizeof(hold[0])) {
		memcpy(hold[0], buf, len);
		hold_len[0] = len;
	}
	return 0;
}

static int send_b(void *ctx, uint16_t stream, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)stream;
	if (len <= sizeof(hold[1])) {
		memcpy(hold[1], buf, len);
		hold_len[1] = len;
	}
	return 0;
}

static void on_reset(void *ctx, const char *why)
{
	(void)ctx;
	fprintf(stderr, "ike_msgid_bench: reset: %s\n", why);
	exit(1);
}

static void on_est(void *ctx, const char *id)
{
	(void)ctx;
	(void)id;
}

static void on_apply(void *ctx, const struct wire_record *r)
{
	(void)ctx;
	(void)r;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int doc_ike(char *buf, size_t cap, unsigned i)
{
	return snprintf(buf, cap,
		"{\"version\":1,\"type\":\"ike_sa\",\"event\":\"established\",\"serial\":%u,\"rekey_of\":0,"
		"\"connection\":\"tun%u\",\"instance\":0,\"role\":\"responder\","
		"\"spi_i\":\"%016x\",\"spi_r\":\"%016x\","
		"\"local\":{\"address\":\"192.0.2.1\",\"port\":500,\"protocol\":\"UDP\"},"
		"\"remote\":{\"address\":\"198.51.100.%u\",\"port\":500,\"protocol\":\"UDP\"},"
		"\"local_id\":\"@gateway\",\"remote_id\":\"@remote\","
		"\"msgid\":{\"initiator\":{\"sent\":1,\"recv\":1,\"wip\":-1},"
		"\"responder\":{\"sent\":1,\"recv\":1,\"wip\":-1}},"
		"\"keys\":{\"sk_d\":\"%064x\",\"sk_ei\":\"%072x\",\"sk_er\":\"%072x\"}}",
		i + 1, i, i * 7919u + 1, i + 1, i % 250 + 1, i, i, i);
}

/* 185-188 bytes, as in the lab. */
static int doc_msgid(char *buf, size_t cap, unsigned i, unsigned n)
{
	return snprintf(buf, cap,
		"{\"version\":1,\"type\":\"msgid\",\"serial\":%u,"
		"\"spi_i\":\"%016x\",\"spi_r\":\"%016x\","
		"\"msgid\":{\"initiator\":{\"sent\":%u,\"recv\":%u,\"wip\":-1},"
		"\"responder\":{\"sent\":%u,\"recv\":%u,\"wip\":-1}}}",
		i + 1, i * 7919u + 1, i + 1, n, n, n, n);
}

int main(int argc, char **argv)
{
	static const struct session_callbacks cba = { send_a, on_reset, on_est, on_apply };
	static const struct session_callbacks cbb = { send_b, on_reset, on_est, on_apply };
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	struct session_config cfg = { .streams = 8, .caps = WIRE_CAP_ESN | WIRE_CAP_IKE,
				      .max_unacked = UINT64_MAX, .heartbeat_ms = 1000000,
				      .dead_ms = 1000000 };
	struct ike_config ic;
	struct seal_psk *psk;
	struct session *a;
	struct ike_cache *own;
	struct pluto_record r;
	uint8_t key[32];
	char doc[2048];
	double t0, t_parse, t_send_1, t_send_b, avg_len = 0;
	uint64_t f0, b0;

	memset(key, 0x42, sizeof(key));
	if (seal_global_init() != SEAL_OK || seal_psk_new(key, sizeof(key), &psk) != SEAL_OK)
		return 1;
	cfg.psk = psk;
	cfg.node_id = "gw-a";
	a = session_new(&cfg, &cba, NULL);
	cfg.node_id = "gw-b";
	peer_b = session_new(&cfg, &cbb, NULL);
	delivering = 1;
	session_transport_up(a, true, 1);
	session_transport_up(peer_b, false, 1);
	/* HELLO a->b, HELLO b->a, first frame a->b. */
	session_receive(peer_b, 0, hold[0], hold_len[0], 2);
	session_receive(a, 0, hold[1], hold_len[1], 2);
	session_receive(peer_b, 0, hold[0], hold_len[0], 2);
	delivering = 0;
	if (!session_ike_enabled(a)) {
		fprintf(stderr, "ike_msgid_bench: no association\n");
		return 1;
	}

	memset(&ic, 0, sizeof(ic));
	strcpy(ic.vips[0].name, "outside");
	ic.vips[0].addr.family = AF_INET;
	ic.vips[0].addr.v4.s_addr = htonl(0xc0000201);
	ic.n_vips = 1;
	own = ike_new(&ic);
	for (unsigned i = 0; i < SAS; i++) {
		int len = doc_ike(doc, sizeof(doc), i);

		if (pluto_record_parse(doc, (size_t)len, &r) != PLUTO_OK || ike_apply(own, &r, false, 1) != IKE_OK)
			return 1;
		pluto_record_clear(&r);
	}

	/* 1. What the own side does per record: parse, find the SPIs, apply. */
	t0 = now_s();
	for (size_t k = 0; k < n; k++) {
		unsigned i = (unsigned)(k % SAS);
		int len = doc_msgid(doc, sizeof(doc), i, (unsigned)(k / SAS) + 2);
		uint64_t si, sr;

		avg_len += len;
		if (pluto_record_parse(doc, (size_t)len, &r) != PLUTO_OK)
			return 1;
		ike_record_spis(own, &r, &si, &sr);
		ike_apply(own, &r, false, 2);
		pluto_record_clear(&r);
	}
	t_parse = now_s() - t0;
	avg_len /= (double)n;

	/* 2. IKE_RECORD encode + seal, one record per frame (a quiet link). */
	f0 = frames;
	b0 = bytes;
	t0 = now_s();
	for (size_t k = 0; k < n; k++) {
		unsigned i = (unsigned)(k % SAS);
		int len = doc_msgid(doc, sizeof(doc), i, 5);

		session_send_ike_record(a, i * 7919u + 1, i + 1, doc, (size_t)len);
		session_flush(a);
	}
	t_send_1 = now_s() - t0;
	double bytes_per_frame_1 = (double)(bytes - b0) / (double)(frames - f0);

	/* 3. The same, batched per loop turn (64 records, as a busy pluto gives them). */
	t0 = now_s();
	for (size_t k = 0; k < n; k++) {
		unsigned i = (unsigned)(k % SAS);
		int len = doc_msgid(doc, sizeof(doc), i, 6);

		session_send_ike_record(a, i * 7919u + 1, i + 1, doc, (size_t)len);
		if (k % 64 == 63)
			session_flush(a);
	}
	session_flush(a);
	t_send_b = now_s() - t0;

	double ns_parse = t_parse * 1e9 / (double)n, ns_1 = t_send_1 * 1e9 / (double)n;
	double ns_b = t_send_b * 1e9 / (double)n;
	double rate_1 = 1e9 / (ns_parse + ns_1), rate_b = 1e9 / (ns_parse + ns_b);

	fprintf(stderr, "msgid record %.0f bytes: parse+cache %.0f ns, encode+seal 1/frame %.0f ns, "
		"batched %.0f ns; %.0f records/s (1/frame) = %.1f%% of one CPU at %.0f/s\n",
		avg_len, ns_parse, ns_1, ns_b, rate_1, 100.0 * RATE_NEEDED / rate_1, RATE_NEEDED);
	printf("{\n  \"benchmark\": \"ike-msgid\",\n  \"records\": %zu,\n  \"ike_sas\": %d,\n", n, SAS);
	printf("  \"cpus_online\": %ld,\n", sysconf(_SC_NPROCESSORS_ONLN));
	printf("  \"msgid_record_bytes\": %.1f,\n", avg_len);
	printf("  \"ns_per_record\": {\"parse_spis_apply\": %.0f, \"encode_seal_1_per_frame\": %.0f, "
	       "\"encode_seal_batched_64\": %.0f},\n", ns_parse, ns_1, ns_b);
	printf("  \"sealed_bytes_per_frame_1_per_frame\": %.1f,\n", bytes_per_frame_1);
	printf("  \"records_per_second_one_cpu\": {\"1_per_frame\": %.0f, \"batched_64\": %.0f},\n",
	       rate_1, rate_b);
	printf("  \"needed_records_per_second\": %.0f,\n", RATE_NEEDED);
	printf("  \"cpu_share_at_needed_rate\": {\"1_per_frame\": %.4f, \"batched_64\": %.4f}\n}\n",
	       RATE_NEEDED / rate_1, RATE_NEEDED / rate_b);
	ike_free(own);
	session_free(a);
	session_free(peer_b);
	seal_psk_free(psk);
	seal_global_shutdown();
	return 0;
}
