/* cache_bench.c: the standby cache's insert/update/lookup/bulk rates and bytes per SA; prints figures, never pass/fail. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <nss.h>

#include "cache.h"

/*
 * Usage: cache_bench N. Human-readable lines go to stderr, one JSON object
 * to stdout (bench/cache.sh runs one process per N, so RSS figures of one
 * size are not blurred by memory the allocator kept from another). SAs
 * look like Libreswan's defaults (AES-GCM-256, ESN with a 128-packet
 * window), half inbound to the VIP, half outbound, each with its own SPI
 * and remote address. Each operation copies a ~1.3 KB struct ha_sa from a
 * template first, as the daemon does from a decoded record; that copy is
 * in the figures. Single-threaded: the figures are per core.
 */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

static struct ha_sa tmpl;

static void tmpl_init(void)
{
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.family = AF_INET;
	tmpl.id.daddr.family = tmpl.saddr.family = AF_INET;
	tmpl.id.proto = IPPROTO_ESP;
	tmpl.mode = 1;
	tmpl.reqid = 16389;
	tmpl.flags = 128;	/* ESN */
	tmpl.sel.family = AF_INET;
	snprintf(tmpl.aead.name, sizeof(tmpl.aead.name), "rfc4106(gcm(aes))");
	tmpl.aead.key_len_bits = 288;
	tmpl.aead.icv_len_bits = 128;
	memset(tmpl.aead.key, 0x42, 36);
	tmpl.replay.is_esn = true;
	tmpl.replay.esn.bmp_len = 4;
	tmpl.replay.esn.replay_window = 128;
	memset(&tmpl.lft, 0xff, sizeof(tmpl.lft));
}

/* SA number i: even ones inbound to the VIP, odd ones outbound to remote peer i / 2. */
static void sa_of(struct ha_sa *sa, uint32_t i)
{
	uint32_t vip = htonl(0xc0000201);		/* 192.0.2.1 */
	uint32_t peer = htonl(0x0a000000u + i / 2);	/* 10.0.0.0/8 */

	*sa = tmpl;
	sa->id.spi = htonl(0xc0000000u ^ (i * 2654435761u));
	sa->id.daddr.v4.s_addr = (i & 1) ? peer : vip;
	sa->saddr.v4.s_addr = (i & 1) ? vip : peer;
	sa->aead.key[0] = (uint8_t)i;
}

static struct ha_sa_key key_of(uint32_t i)
{
	struct ha_sa sa;

	sa_of(&sa, i);
	return ha_sa_key_of(&sa);
}

/* One decimal is all the precision these figures have. */
static struct json_object *num1(double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.1f", v);
	return json_object_new_double_s(v, buf);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "cache_bench: %s failed: %s\n", what, cache_strerror(rc));
	exit(1);
}

static double rate(const char *name, double secs, size_t n, struct json_object *rates)
{
	double r = (double)n / secs;

	fprintf(stderr, "  %-24s %11.0f /s  %7.0f ns each\n", name, r, secs * 1e9 / (double)n);
	json_object_object_add(rates, name, json_object_new_int64((int64_t)r));
	return r;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 100000;
	struct cache_config cfg;
	struct cache *c;
	struct ha_sa sa;
	struct ha_sa_key k;
	struct ha_lifetime_cur cur;
	struct ha_replay r;
	struct json_object *out = json_object_new_object(), *rates = json_object_new_object();
	struct json_object *arr, *mem = json_object_new_object(), *ms = json_object_new_object();
	uint8_t digest[CACHE_DIGEST_LEN];
	size_t rss0, rss1, acct, found = 0;
	uint32_t x = 2463534242u;
	double t;
	int rc;

	if (n == 0) {
		fprintf(stderr, "usage: cache_bench N\n");
		return 2;
	}
	tmpl_init();
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.vips[0].name, sizeof(cfg.vips[0].name), "outside");
	cfg.vips[0].addr.family = AF_INET;
	cfg.vips[0].addr.v4.s_addr = htonl(0xc0000201);
	cfg.n_vips = 1;
	for (int i = 0; i < CACHE_SEED_LEN; i++)
		cfg.hash_seed[i] = (uint8_t)(i * 37 + 1);
	fprintf(stderr, "cache_bench: %u SAs (struct cache_sa_entry is %zu bytes)\n", n,
		sizeof(struct cache_sa_entry));

	rss0 = rss_bytes();
	c = cache_new(&cfg);
	t = now();
	for (uint32_t i = 0; i < n; i++) {
		sa_of(&sa, i);
		if ((rc = cache_sa_add(c, &sa, 1, false)) != CACHE_OK)
			die("add", rc);
	}
	rate("insert", now() - t, n, rates);
	rss1 = rss_bytes();
	acct = cache_memory_bytes(c);

	/* Re-adding a held SA (an SA_ADD for changed parameters). */
	t = now();
	for (uint32_t i = 0; i < n; i++) {
		sa_of(&sa, i);
		if ((rc = cache_sa_add(c, &sa, 2, false)) != CACHE_OK)
			die("replace", rc);
	}
	rate("replace", now() - t, n, rates);

	/* SA_UPDATE: counters only, in random order. */
	memset(&cur, 0, sizeof(cur));
	r = tmpl.replay;
	t = now();
	for (uint32_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		k = key_of(x % n);
		r.esn.oseq = i;
		if ((rc = cache_sa_update(c, &k, &r, &cur, 3, 3)) != CACHE_OK)
			die("update", rc);
	}
	rate("update", now() - t, n, rates);

	t = now();
	for (uint32_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		k = key_of(x % n);
		found += cache_sa_lookup(c, &k) != NULL;
	}
	rate("lookup_hit", now() - t, n, rates);
	t = now();
	for (uint32_t i = 0; i < n; i++) {
		k = key_of(n + i);
		found += cache_sa_lookup(c, &k) != NULL;
	}
	rate("lookup_miss", now() - t, n, rates);
	if (found != n)
		die("lookup", CACHE_E_UNKNOWN);

	t = now();
	if ((rc = cache_digest(c, digest)) != CACHE_OK)
		die("digest", rc);
	json_object_object_add(ms, "digest", num1((now() - t) * 1e3));
	t = now();
	if ((arr = cache_sas_json(c, false, 0, 4)) == NULL)
		die("sas_json", CACHE_E_NOMEM);
	json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN);
	json_object_object_add(ms, "sas_listing_json", num1((now() - t) * 1e3));
	json_object_put(arr);

	/* A bulk snapshot of the same N replacing the live set: the standby's resync. */
	t = now();
	cache_bulk_begin(c, 1, 5);
	for (uint32_t i = 0; i < n; i++) {
		sa_of(&sa, i);
		if ((rc = cache_sa_add(c, &sa, 5, true)) != CACHE_OK)
			die("bulk add", rc);
	}
	if ((rc = cache_bulk_end(c, 1, n, 6)) != CACHE_OK)
		die("bulk end", rc);
	t = now() - t;
	rate("bulk_replace", t, n, rates);
	json_object_object_add(ms, "bulk_replace_total", num1(t * 1e3));

	t = now();
	for (uint32_t i = 0; i < n; i++) {
		k = key_of(i);
		if ((rc = cache_sa_delete(c, &k)) != CACHE_OK)
			die("delete", rc);
	}
	rate("delete", now() - t, n, rates);
	cache_free(c);

	json_object_object_add(mem, "entry_struct", json_object_new_int64((int64_t)sizeof(struct cache_sa_entry)));
	json_object_object_add(mem, "accounted", num1((double)acct / n));
	json_object_object_add(mem, "rss", num1((double)(rss1 - rss0) / n));
	fprintf(stderr, "  bytes per SA: %.0f accounted, %.0f from RSS (entry struct %zu)\n",
		(double)acct / n, (double)(rss1 - rss0) / n, sizeof(struct cache_sa_entry));
	fprintf(stderr, "  digest %.1f ms, sas listing as JSON %.1f ms\n",
		json_object_get_double(json_object_object_get(ms, "digest")),
		json_object_get_double(json_object_object_get(ms, "sas_listing_json")));

	json_object_object_add(out, "sas", json_object_new_int64(n));
	json_object_object_add(out, "ops_per_second", rates);
	json_object_object_add(out, "bytes_per_sa", mem);
	json_object_object_add(out, "ms", ms);
	printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	json_object_put(out);
	if (NSS_IsInitialized())
		NSS_Shutdown();
	return 0;
}
