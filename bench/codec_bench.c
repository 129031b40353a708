/* codec_bench.c: records/s and bytes per SA of the sync codec, plain and sealed; prints figures, never pass/fail. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nss.h>

#include "seal.h"
#include "wire.h"

/*
 * Usage: codec_bench [N]. Human-readable lines go to stderr, one JSON
 * object to stdout (bench/codec.sh stores it). Every phase handles N
 * records (default 100,000); SAs look like Libreswan's defaults
 * (AES-GCM-256, ESN, a 128-packet window, NAT-T), each of the pool with its
 * own SPI and addresses. Single-threaded: the figures are per core.
 */

#define BATCH_PLAINTEXT	16384	/* a bulk-sync frame: well under 64 KiB, few SCTP fragments */
#define SA_POOL		16384	/* distinct SAs, reused round robin: 23 MB, beyond any cache */
#define REC_MAX		400	/* bytes an SA_ADD of this profile needs, with room */

struct phase {
	const char *name;
	double secs;
	size_t records;
};

static struct phase phases[16];
static int nphases;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void phase_add(const char *name, double secs, size_t records)
{
	phases[nphases].name = name;
	phases[nphases].secs = secs;
	phases[nphases].records = records;
	nphases++;
	fprintf(stderr, "%-28s %10.0f records/s  %8.0f ns/record\n", name,
	    (double)records / secs, secs * 1e9 / (double)records);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "codec_bench: %s failed: %d\n", what, rc);
	exit(1);
}

static void sa_make(struct ha_sa *sa, uint32_t i)
{
	memset(sa, 0, sizeof(*sa));
	sa->family = AF_INET;
	sa->id.daddr.family = AF_INET;
	sa->id.daddr.v4.s_addr = htonl(0xc6120000 | (i & 0xffff));	/* 198.18.x.y */
	sa->id.spi = htonl(0xc0000000 | i);
	sa->id.proto = IPPROTO_ESP;
	sa->saddr.family = AF_INET;
	sa->saddr.v4.s_addr = htonl(0xc0000201);
	sa->mode = 1;
	sa->flags = 0x80;
	sa->reqid = 16384 + i;
	sa->sel.family = AF_INET;
	sa->sel.saddr.family = AF_INET;
	sa->sel.daddr.family = AF_INET;
	sa->sel.saddr.v4.s_addr = htonl(0x0a000000 | (i << 8));
	sa->sel.daddr.v4.s_addr = htonl(0x0a800000);
	sa->sel.prefixlen_s = 24;
	sa->sel.prefixlen_d = 16;
	strcpy(sa->aead.name, "rfc4106(gcm(aes))");
	sa->aead.key_len_bits = 288;
	sa->aead.icv_len_bits = 128;
	for (int k = 0; k < 36; k++)
		sa->aead.key[k] = (uint8_t)(i * 31 + k);
	sa->encap.type = 2;
	sa->encap.sport = 4500;
	sa->encap.dport = 4500;
	sa->lft.soft_byte_limit = UINT64_MAX;
	sa->lft.hard_byte_limit = UINT64_MAX;
	sa->lft.soft_packet_limit = UINT64_MAX;
	sa->lft.hard_packet_limit = UINT64_MAX;
	sa->lft.soft_add_expires_seconds = 25920;
	sa->lft.hard_add_expires_seconds = 28800;
	sa->curlft.bytes = 1000 * (uint64_t)i;
	sa->curlft.packets = i;
	sa->curlft.add_time = 1700000000;
	sa->replay.is_esn = true;
	sa->replay.esn.bmp_len = 4;
	sa->replay.esn.replay_window = 128;
	sa->replay.esn.seq = i;
	sa->replay.esn.oseq = i;
	sa->replay.esn.bmp[0] = 0xffffffff;
	sa->replay_thresh = 1024;
	sa->etimer_thresh = 10;
	sa->synced_at_ms = 1700000000000ULL + i;
}

/* Encode n records of one kind back to back into buf; return bytes used. */
static size_t encode_all(uint8_t *buf, size_t cap, const struct ha_sa *sas, size_t n,
    bool update, const char *name)
{
	size_t off = 0;
	double t0 = now();

	for (size_t i = 0; i < n; i++) {
		const struct ha_sa *sa = &sas[i % SA_POOL];
		int rc = update ?
		    wire_encode_sa_update(buf + off, cap - off, i + 1, 0, sa) :
		    wire_encode_sa_add(buf + off, cap - off, i + 1, WIRE_F_BULK, sa);

		if (rc < 0)
			die("encode", rc);
		off += (size_t)rc;
	}
	phase_add(name, now() - t0, n);
	return off;
}

static void decode_all(const uint8_t *buf, size_t len, size_t n, const char *name)
{
	static struct wire_record rec;
	size_t off = 0, got = 0, used;
	double t0 = now();

	while (off < len) {
		int rc = wire_decode(buf + off, len - off, &rec, &used);

		if (rc != WIRE_OK)
			die("decode", rc);
		off += used;
		got++;
	}
	phase_add(name, now() - t0, got);
	if (got != n)
		die("decode count", (int)got);
	explicit_bzero(&rec, sizeof(rec));
}

/*
 * Seal the records of buf: one frame per record (live updates), or packed
 * into frames of up to BATCH_PLAINTEXT bytes (bulk sync). Return the frame
 * bytes; frames go back to back into out, each preceded by its u32 length
 * (as on the TCP fallback) so that the open phase finds them.
 */
static size_t seal_all(struct seal_session *s, const uint8_t *buf, size_t len, size_t n,
    bool batch, uint8_t *out, size_t cap, size_t *wire_bytes, const char *name)
{
	size_t off = 0, o = 0, frames = 0;
	double t0 = now();

	*wire_bytes = 0;
	while (off < len) {
		size_t take = 0;
		int rc;

		/* Whole records only. */
		while (off + take < len) {
			const uint8_t *r = buf + off + take;
			size_t rl = (size_t)r[4] << 24 | (size_t)r[5] << 16 | (size_t)r[6] << 8 | r[7];

			if (take > 0 && (!batch || take + rl > BATCH_PLAINTEXT))
				break;
			take += rl;
			if (!batch)
				break;
		}
		rc = seal_frame(s, (uint16_t)(frames % 4), buf + off, take, out + o + 4, cap - o - 4);
		if (rc < 0)
			die("seal", rc);
		out[o] = (uint8_t)(rc >> 24);
		out[o + 1] = (uint8_t)(rc >> 16);
		out[o + 2] = (uint8_t)(rc >> 8);
		out[o + 3] = (uint8_t)rc;
		o += 4 + (size_t)rc;
		*wire_bytes += (size_t)rc;
		off += take;
		frames++;
	}
	phase_add(name, now() - t0, n);
	return o;
}

static void open_all(struct seal_session *s, const uint8_t *frames, size_t len, size_t n,
    uint8_t *pt, const char *name)
{
	size_t off = 0;
	double t0 = now();
	uint16_t st;

	while (off < len) {
		size_t fl = (size_t)frames[off] << 24 | (size_t)frames[off + 1] << 16 |
		    (size_t)frames[off + 2] << 8 | frames[off + 3];
		int rc = seal_open(s, frames + off + 4, fl, pt, SEAL_PLAINTEXT_MAX, &st);

		if (rc < 0)
			die("open", rc);
		off += 4 + fl;
	}
	phase_add(name, now() - t0, n);
}

/* Seal then open, on fresh sessions (counters restart, as on a new association). */
static size_t seal_open_phase(const struct seal_psk *k, const uint8_t *ni, const uint8_t *nr,
    const uint8_t *buf, size_t len, size_t n, bool batch, uint8_t *frames, size_t fcap,
    uint8_t *pt, const char *seal_name, const char *open_name)
{
	struct seal_session *si, *sr;
	size_t fr_len, wire;
	int rc;

	if ((rc = seal_session_new(k, true, ni, nr, "gw-a", "gw-b", 4, &si)) != SEAL_OK ||
	    (rc = seal_session_new(k, false, ni, nr, "gw-a", "gw-b", 4, &sr)) != SEAL_OK)
		die("session", rc);
	fr_len = seal_all(si, buf, len, n, batch, frames, fcap, &wire, seal_name);
	open_all(sr, frames, fr_len, n, pt, open_name);
	seal_session_free(si);
	seal_session_free(sr);
	return wire;
}

static double rate(const char *name)
{
	for (int i = 0; i < nphases; i++)
		if (strcmp(phases[i].name, name) == 0)
			return (double)phases[i].records / phases[i].secs;
	return 0;
}

/* Records/s of a pipeline of phases run one after the other. */
static double chain(const char *a, const char *b)
{
	return 1.0 / (1.0 / rate(a) + 1.0 / rate(b));
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	size_t cap, fcap, add_len, upd_len, wire_add1, wire_add_b, wire_upd1, wire_upd_b;
	uint8_t psk[32], ni[32], nr[32], *add, *upd, *frames, *pt;
	struct seal_psk *k;
	struct ha_sa *sas;
	int rc;

	if (n == 0 || n > 10000000)
		n = 100000;
	if ((rc = seal_global_init()) != SEAL_OK)
		die("NSS init", rc);
	sas = calloc(SA_POOL, sizeof(*sas));
	cap = n * REC_MAX;
	fcap = cap + n * (4 + SEAL_OVERHEAD);
	add = malloc(cap);
	upd = malloc(cap);
	frames = malloc(fcap);
	pt = malloc(SEAL_PLAINTEXT_MAX);
	if (!sas || !add || !upd || !frames || !pt)
		die("malloc", 0);
	for (size_t i = 0; i < SA_POOL; i++)
		sa_make(&sas[i], (uint32_t)i);

	memset(psk, 0x11, sizeof(psk));
	if ((rc = seal_random(ni, sizeof(ni))) != SEAL_OK || (rc = seal_random(nr, sizeof(nr))) != SEAL_OK)
		die("random", rc);
	if ((rc = seal_psk_new(psk, sizeof(psk), &k)) != SEAL_OK)
		die("psk", rc);

	fprintf(stderr, "codec_bench: %zu records per phase, NSS %s\n", n, NSS_GetVersion());
	add_len = encode_all(add, cap, sas, n, false, "sa_add_encode");
	decode_all(add, add_len, n, "sa_add_decode");
	upd_len = encode_all(upd, cap, sas, n, true, "sa_update_encode");
	decode_all(upd, upd_len, n, "sa_update_decode");

	wire_add1 = seal_open_phase(k, ni, nr, add, add_len, n, false, frames, fcap, pt,
	    "sa_add_seal_1_per_frame", "sa_add_open_1_per_frame");
	wire_add_b = seal_open_phase(k, ni, nr, add, add_len, n, true, frames, fcap, pt,
	    "sa_add_seal_batched", "sa_add_open_batched");
	wire_upd1 = seal_open_phase(k, ni, nr, upd, upd_len, n, false, frames, fcap, pt,
	    "sa_update_seal_1_per_frame", "sa_update_open_1_per_frame");
	wire_upd_b = seal_open_phase(k, ni, nr, upd, upd_len, n, true, frames, fcap, pt,
	    "sa_update_seal_batched", "sa_update_open_batched");

	fprintf(stderr, "bytes per SA on the wire: SA_ADD %.1f plain, %.1f sealed alone, %.1f "
	    "sealed in %d-byte batches; SA_UPDATE %.1f, %.1f, %.1f\n",
	    (double)add_len / n, (double)wire_add1 / n, (double)wire_add_b / n, BATCH_PLAINTEXT,
	    (double)upd_len / n, (double)wire_upd1 / n, (double)wire_upd_b / n);
	fprintf(stderr, "bulk sync pipeline (encode+seal batched, then open+decode): "
	    "%.0f SAs/s sender, %.0f SAs/s receiver\n",
	    chain("sa_add_encode", "sa_add_seal_batched"),
	    chain("sa_add_open_batched", "sa_add_decode"));

	printf("{\n  \"benchmark\": \"codec\",\n  \"records_per_phase\": %zu,\n", n);
	printf("  \"nss_version\": \"%s\",\n  \"cpus_online\": %ld,\n", NSS_GetVersion(),
	    sysconf(_SC_NPROCESSORS_ONLN));
	printf("  \"sa_profile\": \"IPv4 tunnel, rfc4106(gcm(aes)) 288-bit key, ESN window 128, NAT-T\",\n");
	printf("  \"batch_plaintext_bytes\": %d,\n", BATCH_PLAINTEXT);
	printf("  \"records_per_second\": {\n");
	for (int i = 0; i < nphases; i++)
		printf("    \"%s\": %.0f,\n", phases[i].name, (double)phases[i].records / phases[i].secs);
	printf("    \"bulk_sender_encode_seal_batched\": %.0f,\n",
	    chain("sa_add_encode", "sa_add_seal_batched"));
	printf("    \"bulk_receiver_open_decode_batched\": %.0f,\n",
	    chain("sa_add_open_batched", "sa_add_decode"));
	printf("    \"update_sender_encode_seal_1_per_frame\": %.0f,\n",
	    chain("sa_update_encode", "sa_update_seal_1_per_frame"));
	printf("    \"update_receiver_open_decode_1_per_frame\": %.0f\n",
	    chain("sa_update_open_1_per_frame", "sa_update_decode"));
	printf("  },\n  \"bytes_per_sa\": {\n");
	printf("    \"sa_add_plain\": %.1f,\n    \"sa_add_sealed_1_per_frame\": %.1f,\n"
	    "    \"sa_add_sealed_batched\": %.1f,\n", (double)add_len / n, (double)wire_add1 / n,
	    (double)wire_add_b / n);
	printf("    \"sa_update_plain\": %.1f,\n    \"sa_update_sealed_1_per_frame\": %.1f,\n"
	    "    \"sa_update_sealed_batched\": %.1f\n  }\n}\n", (double)upd_len / n,
	    (double)wire_upd1 / n, (double)wire_upd_b / n);

	seal_psk_free(k);
	explicit_bzero(add, cap);
	explicit_bzero(frames, fcap);
	explicit_bzero(pt, SEAL_PLAINTEXT_MAX);
	explicit_bzero(sas, SA_POOL * sizeof(*sas));
	free(sas);
	free(add);
	free(upd);
	free(frames);
	free(pt);
	seal_global_shutdown();
	return 0;
}
