/* xfrm_probe.c: runs the XFRM capture (agent/xfrm.c) for the VIPs given and prints one JSON line per event; never a key, only its SHA-256. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/xfrm.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <nss.h>
#include <pk11pub.h>

#include "log.h"
#include "xfrm.h"

struct probe {
	struct event_base *base;
	struct xfrm_capture *cap;
	struct xfrm_filter filter;
	bool quiet;
	uint64_t t0;
	uint64_t dump_t0;
	long rss0_kb;
	unsigned updates;	/* sa lines since the last dump_begin */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void emit(struct probe *pr, json_object *o)
{
	json_object_object_add(o, "t_ms", json_object_new_int64((int64_t)(mono_ms() - pr->t0)));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

static json_object *jaddr(const struct ha_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (a->family == AF_INET)
		inet_ntop(AF_INET, &a->v4, buf, sizeof(buf));
	else if (a->family == AF_INET6)
		inet_ntop(AF_INET6, &a->v6, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "any");
	return json_object_new_string(buf);
}

static json_object *jprefix(const struct ha_addr *a, unsigned plen)
{
	char buf[INET6_ADDRSTRLEN + 8];

	if (a->family == AF_INET)
		inet_ntop(AF_INET, &a->v4, buf, INET6_ADDRSTRLEN);
	else if (a->family == AF_INET6)
		inet_ntop(AF_INET6, &a->v6, buf, INET6_ADDRSTRLEN);
	else
		snprintf(buf, INET6_ADDRSTRLEN, "any");
	snprintf(buf + strlen(buf), 8, "/%u", plen);
	return json_object_new_string(buf);
}

static json_object *jspi(uint32_t spi_net)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "0x%08x", ntohl(spi_net));
	return json_object_new_string(buf);
}

/* The SHA-256 of the key bytes, hex: what the scenario compares. */
static json_object *jkeyhash(const uint8_t *key, uint32_t bits)
{
	unsigned char d[32];
	char hex[65];
	unsigned len = (bits + 7) / 8, i;

	if (len > HA_KEY_MAX || PK11_HashBuf(SEC_OID_SHA256, d, key, (PRInt32)len) != SECSuccess)
		return json_object_new_string("error");
	for (i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return json_object_new_string(hex);
}

static const char *dir_of(struct probe *pr, const struct ha_sa *sa)
{
	if (xfrm_filter_match(&pr->filter, &sa->saddr))
		return "out";
	if (xfrm_filter_match(&pr->filter, &sa->id.daddr))
		return "in";
	return "-";
}

static void on_sa_update(void *ctx, const struct ha_sa *sa, bool counters_only)
{
	struct probe *pr = ctx;
	json_object *o;

	pr->updates++;
	if (pr->quiet)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "ev", json_object_new_string("sa"));
	json_object_object_add(o, "counters_only", json_object_new_boolean(counters_only));
	json_object_object_add(o, "dir", json_object_new_string(dir_of(pr, sa)));
	json_object_object_add(o, "src", jaddr(&sa->saddr));
	json_object_object_add(o, "dst", jaddr(&sa->id.daddr));
	json_object_object_add(o, "spi", jspi(sa->id.spi));
	json_object_object_add(o, "proto", json_object_new_int(sa->id.proto));
	json_object_object_add(o, "reqid", json_object_new_int64(sa->reqid));
	json_object_object_add(o, "mode", json_object_new_int(sa->mode));
	json_object_object_add(o, "flags", json_object_new_int(sa->flags));
	json_object_object_add(o, "sa_dir", json_object_new_int(sa->sa_dir));
	json_object_object_add(o, "esn", json_object_new_boolean(sa->replay.is_esn));
	if (sa->replay.is_esn) {
		const struct ha_replay_esn *e = &sa->replay.esn;

		json_object_object_add(o, "seq", json_object_new_int64(e->seq));
		json_object_object_add(o, "seq_hi", json_object_new_int64(e->seq_hi));
		json_object_object_add(o, "oseq", json_object_new_int64(e->oseq));
		json_object_object_add(o, "oseq_hi", json_object_new_int64(e->oseq_hi));
		json_object_object_add(o, "replay_window", json_object_new_int64(e->replay_window));
		json_object_object_add(o, "bmp_len", json_object_new_int64(e->bmp_len));
	} else {
		json_object_object_add(o, "seq", json_object_new_int64(sa->replay.legacy.seq));
		json_object_object_add(o, "oseq", json_object_new_int64(sa->replay.legacy.oseq));
		json_object_object_add(o, "bitmap", json_object_new_int64(sa->replay.legacy.bitmap));
		json_object_object_add(o, "replay_window", json_object_new_int(sa->replay_window));
	}
	json_object_object_add(o, "packets", json_object_new_int64((int64_t)sa->curlft.packets));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)sa->curlft.bytes));
	json_object_object_add(o, "replay_thresh", json_object_new_int64(sa->replay_thresh));
	json_object_object_add(o, "etimer_thresh", json_object_new_int64(sa->etimer_thresh));
	if (!counters_only) {
		if (sa->aead.name[0]) {
			json_object_object_add(o, "aead", json_object_new_string(sa->aead.name));
			json_object_object_add(o, "aead_key_bits", json_object_new_int64(sa->aead.key_len_bits));
			json_object_object_add(o, "aead_icv_bits", json_object_new_int64(sa->aead.icv_len_bits));
			json_object_object_add(o, "aead_key_sha256", jkeyhash(sa->aead.key, sa->aead.key_len_bits));
		}
		if (sa->crypt.name[0]) {
			json_object_object_add(o, "enc", json_object_new_string(sa->crypt.name));
			json_object_object_add(o, "enc_key_bits", json_object_new_int64(sa->crypt.key_len_bits));
			json_object_object_add(o, "enc_key_sha256", jkeyhash(sa->crypt.key, sa->crypt.key_len_bits));
		}
		if (sa->auth.name[0]) {
			json_object_object_add(o, "auth", json_object_new_string(sa->auth.name));
			json_object_object_add(o, "auth_key_bits", json_object_new_int64(sa->auth.key_len_bits));
			json_object_object_add(o, "auth_trunc_bits", json_object_new_int64(sa->auth.trunc_len_bits));
			json_object_object_add(o, "auth_key_sha256", jkeyhash(sa->auth.key, sa->auth.key_len_bits));
		}
		json_object_object_add(o, "sel_src", jprefix(&sa->sel.saddr, sa->sel.prefixlen_s));
		json_object_object_add(o, "sel_dst", jprefix(&sa->sel.daddr, sa->sel.prefixlen_d));
	}
	json_object_object_add(o, "synced_at_ms", json_object_new_int64((int64_t)sa->synced_at_ms));
	emit(pr, o);
}

static void on_sa_delete(void *ctx, const struct ha_sa_key *k)
{
	struct probe *pr = ctx;
	json_object *o;

	if (pr->quiet)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "ev", json_object_new_string("sa_delete"));
	json_object_object_add(o, "dst", jaddr(&k->daddr));
	json_object_object_add(o, "spi", jspi(k->spi));
	json_object_object_add(o, "proto", json_object_new_int(k->proto));
	emit(pr, o);
}

static const char *pdir(uint8_t dir)
{
	switch (dir) {
	case XFRM_POLICY_IN:
		return "in";
	case XFRM_POLICY_OUT:
		return "out";
	case XFRM_POLICY_FWD:
		return "fwd";
	}
	return "?";
}

static void policy_line(struct probe *pr, const char *ev, const struct ha_policy *p)
{
	json_object *o, *tmpls;
	int i;

	if (pr->quiet)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "ev", json_object_new_string(ev));
	json_object_object_add(o, "dir", json_object_new_string(pdir(p->dir)));
	json_object_object_add(o, "index", json_object_new_int64(p->index));
	json_object_object_add(o, "priority", json_object_new_int64(p->priority));
	json_object_object_add(o, "action", json_object_new_int(p->action));
	json_object_object_add(o, "src", jprefix(&p->sel.saddr, p->sel.prefixlen_s));
	json_object_object_add(o, "dst", jprefix(&p->sel.daddr, p->sel.prefixlen_d));
	tmpls = json_object_new_array();
	for (i = 0; i < p->ntmpl; i++) {
		json_object *t = json_object_new_object();

		json_object_object_add(t, "src", jaddr(&p->tmpl[i].saddr));
		json_object_object_add(t, "dst", jaddr(&p->tmpl[i].id.daddr));
		json_object_object_add(t, "proto", json_object_new_int(p->tmpl[i].id.proto));
		json_object_object_add(t, "reqid", json_object_new_int64(p->tmpl[i].reqid));
		json_object_object_add(t, "mode", json_object_new_int(p->tmpl[i].mode));
		json_object_array_add(tmpls, t);
	}
	json_object_object_add(o, "tmpl", tmpls);
	emit(pr, o);
}

static void on_policy_update(void *ctx, const struct ha_policy *p)
{
	policy_line(ctx, "policy", p);
}

static void on_policy_delete(void *ctx, const struct ha_policy *p)
{
	policy_line(ctx, "policy_delete", p);
}

static void add_stats(struct probe *pr, json_object *o)
{
	struct xfrm_capture_stats st;

	xfrm_capture_get_stats(pr->cap, &st);
	json_object_object_add(o, "sas", json_object_new_int64((int64_t)st.sas));
	json_object_object_add(o, "policies", json_object_new_int64((int64_t)st.policies));
	json_object_object_add(o, "events", json_object_new_int64((int64_t)st.events));
	json_object_object_add(o, "aevents", json_object_new_int64((int64_t)st.aevents));
	json_object_object_add(o, "dumps", json_object_new_int64((int64_t)st.dumps));
	json_object_object_add(o, "enobufs", json_object_new_int64((int64_t)st.enobufs));
	json_object_object_add(o, "filtered_out", json_object_new_int64((int64_t)st.filtered_out));
	json_object_object_add(o, "errors", json_object_new_int64((int64_t)st.errors));
	json_object_object_add(o, "ae_sets", json_object_new_int64((int64_t)st.ae_sets));
	json_object_object_add(o, "ae_set_errors", json_object_new_int64((int64_t)st.ae_set_errors));
	json_object_object_add(o, "rss_kb", json_object_new_int64(rss_kb()));
	json_object_object_add(o, "rss0_kb", json_object_new_int64(pr->rss0_kb));
}

static void on_dump_begin(void *ctx)
{
	struct probe *pr = ctx;
	json_object *o = json_object_new_object();

	pr->dump_t0 = mono_ms();
	pr->updates = 0;
	json_object_object_add(o, "ev", json_object_new_string("dump_begin"));
	emit(pr, o);
}

static void on_dump_end(void *ctx)
{
	struct probe *pr = ctx;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ev", json_object_new_string("dump_end"));
	json_object_object_add(o, "dump_ms", json_object_new_int64((int64_t)(mono_ms() - pr->dump_t0)));
	json_object_object_add(o, "updates", json_object_new_int64(pr->updates));
	add_stats(pr, o);
	emit(pr, o);
}

static void stop(evutil_socket_t fd, short what, void *arg)
{
	struct probe *pr = arg;

	(void)fd;
	(void)what;
	event_base_loopexit(pr->base, NULL);
}

static int parse_vip(const char *s, struct ha_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->v4) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a->v6) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -1;
}

static void usage(void)
{
	fprintf(stderr,
	    "usage: xfrm_probe [--for SEC] [--rcvbuf BYTES] [--replay-in N] [--replay-out N]\n"
	    "                  [--etimer-ms MS] [--hz HZ] [--no-thresholds] [--quiet] [-v] VIP...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "for", required_argument, NULL, 'f' },
		{ "rcvbuf", required_argument, NULL, 'b' },
		{ "replay-in", required_argument, NULL, 'i' },
		{ "replay-out", required_argument, NULL, 'o' },
		{ "etimer-ms", required_argument, NULL, 'e' },
		{ "hz", required_argument, NULL, 'z' },
		{ "no-thresholds", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct xfrm_thresholds thr = { .replay_in = 32, .replay_out = 32, .etimer_ms = 1000 };
	struct xfrm_events ev = {
		.sa_update = on_sa_update,
		.sa_delete = on_sa_delete,
		.policy_update = on_policy_update,
		.policy_delete = on_policy_delete,
		.dump_begin = on_dump_begin,
		.dump_end = on_dump_end,
	};
	struct probe pr = { 0 };
	struct event *timer = NULL, *sigterm, *sigint;
	int secs = 0, rcvbuf = 0, c, loglevel = LOG_INFO;
	json_object *o, *vips;

	while ((c = getopt_long(argc, argv, "qv", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			secs = atoi(optarg);
			break;
		case 'b':
			rcvbuf = atoi(optarg);
			break;
		case 'i':
			thr.replay_in = strtoul(optarg, NULL, 0);
			break;
		case 'o':
			thr.replay_out = strtoul(optarg, NULL, 0);
			break;
		case 'e':
			thr.etimer_ms = strtoul(optarg, NULL, 0);
			break;
		case 'z':
			thr.kernel_hz = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			memset(&thr, 0, sizeof(thr));
			break;
		case 'q':
			pr.quiet = true;
			break;
		case 'v':
			loglevel = LOG_DEBUG;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	for (; optind < argc && pr.filter.n_vips < XFRM_FILTER_VIPS_MAX; optind++) {
		if (parse_vip(argv[optind], &pr.filter.vips[pr.filter.n_vips]) < 0) {
			fprintf(stderr, "xfrm_probe: not an address: %s\n", argv[optind]);
			return 2;
		}
		pr.filter.n_vips++;
	}
	log_init("xfrm_probe", true, loglevel);
	if (NSS_NoDB_Init(NULL) != SECSuccess) {
		fprintf(stderr, "xfrm_probe: NSS_NoDB_Init failed\n");
		return 1;
	}
	pr.t0 = mono_ms();
	pr.base = event_base_new();
	pr.cap = xfrm_capture_new(pr.base, &pr.filter, &thr, &ev, &pr);
	if (pr.base == NULL || pr.cap == NULL)
		return 1;
	if (rcvbuf > 0)
		xfrm_capture_set_rcvbuf(pr.cap, rcvbuf);

	sigterm = evsignal_new(pr.base, SIGTERM, stop, &pr);
	sigint = evsignal_new(pr.base, SIGINT, stop, &pr);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	if (secs > 0) {
		struct timeval tv = { secs, 0 };

		timer = evtimer_new(pr.base, stop, &pr);
		evtimer_add(timer, &tv);
	}

	pr.rss0_kb = rss_kb();
	o = json_object_new_object();
	json_object_object_add(o, "ev", json_object_new_string("start"));
	vips = json_object_new_array();
	for (c = 0; c < pr.filter.n_vips; c++)
		json_object_array_add(vips, jaddr(&pr.filter.vips[c]));
	json_object_object_add(o, "vips", vips);
	json_object_object_add(o, "replay_in", json_object_new_int64(thr.replay_in));
	json_object_object_add(o, "replay_out", json_object_new_int64(thr.replay_out));
	json_object_object_add(o, "etimer_ms", json_object_new_int64(thr.etimer_ms));
	json_object_object_add(o, "etimer_value", json_object_new_int64(xfrm_etimer_value(&thr)));
	json_object_object_add(o, "rss_kb", json_object_new_int64(pr.rss0_kb));
	emit(&pr, o);

	if (xfrm_capture_start(pr.cap) < 0) {
		fprintf(stderr, "xfrm_probe: cannot start the capture\n");
		return 1;
	}
	event_base_dispatch(pr.base);

	o = json_object_new_object();
	json_object_object_add(o, "ev", json_object_new_string("stats"));
	add_stats(&pr, o);
	emit(&pr, o);

	xfrm_capture_free(pr.cap);
	if (timer)
		event_free(timer);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(pr.base);
	NSS_Shutdown();
	return 0;
}
