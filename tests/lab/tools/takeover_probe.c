/* takeover_probe.c: drives the promotion (agent/takeover.c) in the lab: capture a node's SAs to a file, promote or demote them on another, synthesize SAs for the benchmark; JSON lines out, never a key. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <linux/xfrm.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <netlink/msg.h>

#include "cache.h"
#include "log.h"
#include "rri.h"
#include "takeover.h"
#include "wire.h"
#include "xfrm.h"

/*
 * The file between the nodes is what the sync channel would carry: SA_ADD
 * and POLICY_ADD records (docs/protocol.md), concatenated. It holds keys:
 * mode 0600, and only in the lab's run directory.
 */

struct opts {
	struct ha_addr vip;
	const char *file;
	const char *batch;
	struct xfrm_thresholds thr;
	struct takeover_params tp;
	struct rri_params rri;
	unsigned count;
	uint32_t spi_base;
	uint32_t oseq, seq;
	bool policies;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t now_ms(void)
{
	return mono_us() / 1000;
}

static void emit(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

static json_object *jaddr(const struct ha_addr *a)
{
	char buf[INET6_ADDRSTRLEN] = "any";

	if (a->family == AF_INET)
		inet_ntop(AF_INET, &a->v4, buf, sizeof(buf));
	else if (a->family == AF_INET6)
		inet_ntop(AF_INET6, &a->v6, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static json_object *jspi(uint32_t spi_net)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "0x%08x", ntohl(spi_net));
	return json_object_new_string(buf);
}

static int parse_addr(const char *s, struct ha_addr *a)
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

static struct cache *cache_for(const struct ha_addr *vip)
{
	struct cache_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.vips[0].name, sizeof(cfg.vips[0].name), "vip");
	cfg.vips[0].addr = *vip;
	cfg.n_vips = 1;
	return cache_new(&cfg);
}

/* One line per SA: its counters as the file holds them (64-bit under ESN). */
static void sa_line(const char *ev, const struct cache_sa_entry *e)
{
	const struct ha_sa *sa = &e->sa;
	json_object *o = json_object_new_object();
	uint64_t seq, oseq;

	if (sa->replay.is_esn) {
		seq = (uint64_t)sa->replay.esn.seq_hi << 32 | sa->replay.esn.seq;
		oseq = (uint64_t)sa->replay.esn.oseq_hi << 32 | sa->replay.esn.oseq;
	} else {
		seq = sa->replay.legacy.seq;
		oseq = sa->replay.legacy.oseq;
	}
	json_object_object_add(o, "ev", json_object_new_string(ev));
	json_object_object_add(o, "spi", jspi(sa->id.spi));
	json_object_object_add(o, "dir", json_object_new_string(e->dir == HA_SA_DIR_IN ? "in" :
	    e->dir == HA_SA_DIR_OUT ? "out" : "-"));
	json_object_object_add(o, "src", jaddr(&sa->saddr));
	json_object_object_add(o, "dst", jaddr(&sa->id.daddr));
	json_object_object_add(o, "esn", json_object_new_boolean((sa->flags & XFRM_STATE_ESN) != 0));
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)seq));
	json_object_object_add(o, "oseq", json_object_new_int64((int64_t)oseq));
	json_object_object_add(o, "packets", json_object_new_int64((int64_t)sa->curlft.packets));
	emit(o);
}

/* ================================================================ file */

static int file_write(struct cache *c, const char *path, bool quiet)
{
	const struct cache_sa_entry **sas = NULL;
	const struct cache_policy_entry **pols = NULL;
	size_t nsa, np, i, cap, len = 0;
	uint8_t *buf;
	uint64_t seq = 1;
	int fd, rc = 0;

	nsa = cache_sa_list(c, false, 0, &sas);
	np = cache_policy_list(c, &pols);
	if (nsa == (size_t)-1 || np == (size_t)-1)
		return -ENOMEM;
	cap = (nsa + np) * 2048 + 1;
	buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	for (i = 0; i < np && rc >= 0; i++) {
		rc = wire_encode_policy_add(buf + len, cap - len, seq++, 0, &pols[i]->pol);
		if (rc > 0)
			len += (size_t)rc;
	}
	for (i = 0; i < nsa && rc >= 0; i++) {
		rc = wire_encode_sa_add(buf + len, cap - len, seq++, 0, &sas[i]->sa);
		if (rc > 0)
			len += (size_t)rc;
		if (!quiet)
			sa_line("written", sas[i]);
	}
	if (rc < 0) {
		fprintf(stderr, "takeover_probe: encode: %s\n", wire_strerror(rc));
	} else {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
			fprintf(stderr, "takeover_probe: %s: %s\n", path, strerror(errno));
			rc = -EIO;
		}
		if (fd >= 0)
			close(fd);
	}
	explicit_bzero(buf, cap);
	free(buf);
	free(sas);
	free(pols);
	if (rc >= 0) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ev", json_object_new_string("file"));
		json_object_object_add(o, "sas", json_object_new_int64((int64_t)nsa));
		json_object_object_add(o, "policies", json_object_new_int64((int64_t)np));
		json_object_object_add(o, "bytes", json_object_new_int64((int64_t)len));
		emit(o);
	}
	return rc < 0 ? rc : 0;
}

static int file_read(struct cache *c, const char *path)
{
	struct wire_record *rec = malloc(sizeof(*rec));
	struct stat st;
	uint8_t *buf;
	size_t off = 0, used;
	int fd, rc = 0;

	fd = open(path, O_RDONLY);
	if (rec == NULL || fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "takeover_probe: %s: %s\n", path, strerror(errno));
		free(rec);
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL || read(fd, buf, (size_t)st.st_size) != st.st_size) {
		close(fd);
		free(buf);
		free(rec);
		return -EIO;
	}
	close(fd);
	while (off < (size_t)st.st_size && rc == 0) {
		rc = wire_decode(buf + off, (size_t)st.st_size - off, rec, &used);
		if (rc != WIRE_OK) {
			fprintf(stderr, "takeover_probe: decode at %zu: %s\n", off, wire_strerror(rc));
			rc = -EINVAL;
			break;
		}
		if (rec->type == WIRE_SA_ADD)
			rc = cache_sa_add(c, &rec->u.sa, now_ms(), false);
		else if (rec->type == WIRE_POLICY_ADD)
			rc = cache_policy_add(c, &rec->u.policy, now_ms(), false);
		off += used;
	}
	explicit_bzero(rec, sizeof(*rec));
	explicit_bzero(buf, (size_t)st.st_size);
	free(rec);
	free(buf);
	return rc;
}

/* ================================================================ capture */

struct cap_ctx {
	struct event_base *base;
	struct cache *c;
	bool dumped;
};

static void cap_sa(void *ctx, const struct ha_sa *sa, bool counters_only)
{
	struct cap_ctx *cc = ctx;

	(void)counters_only;
	cache_sa_add(cc->c, sa, now_ms(), false);	/* the whole SA, each time */
}

static void cap_sa_delete(void *ctx, const struct ha_sa_key *k)
{
	cache_sa_delete(((struct cap_ctx *)ctx)->c, k);
}

static void cap_policy(void *ctx, const struct ha_policy *p)
{
	cache_policy_add(((struct cap_ctx *)ctx)->c, p, now_ms(), false);
}

static void cap_policy_delete(void *ctx, const struct ha_policy *p)
{
	struct ha_policy_key k = ha_policy_key_of(p);

	cache_policy_delete(((struct cap_ctx *)ctx)->c, &k);
}

static void cap_dump_end(void *ctx)
{
	struct cap_ctx *cc = ctx;
	json_object *o = json_object_new_object();

	cc->dumped = true;
	json_object_object_add(o, "ev", json_object_new_string("dump_end"));
	json_object_object_add(o, "sas", json_object_new_int64((int64_t)cache_sa_count(cc->c)));
	json_object_object_add(o, "policies", json_object_new_int64((int64_t)cache_policy_count(cc->c)));
	emit(o);
}

static void cap_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(((struct cap_ctx *)arg)->base, NULL);
}

/* Runs the capture until SIGTERM, then writes what it holds: the last synced state. */
static int cmd_capture(const struct opts *o)
{
	struct xfrm_events ev = {
		.sa_update = cap_sa,
		.sa_delete = cap_sa_delete,
		.policy_update = cap_policy,
		.policy_delete = cap_policy_delete,
		.dump_end = cap_dump_end,
	};
	struct xfrm_filter f;
	struct cap_ctx cc = { 0 };
	struct xfrm_capture *cap;
	struct event *sigterm, *sigint;
	int rc;

	memset(&f, 0, sizeof(f));
	f.vips[0] = o->vip;
	f.n_vips = 1;
	cc.base = event_base_new();
	cc.c = cache_for(&o->vip);
	if (cc.base == NULL || cc.c == NULL)
		return 1;
	cap = xfrm_capture_new(cc.base, &f, &o->thr, &ev, &cc);
	if (cap == NULL || xfrm_capture_start(cap) < 0)
		return 1;
	sigterm = evsignal_new(cc.base, SIGTERM, cap_stop, &cc);
	sigint = evsignal_new(cc.base, SIGINT, cap_stop, &cc);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_base_dispatch(cc.base);
	rc = file_write(cc.c, o->file, false);
	event_free(sigterm);
	event_free(sigint);
	xfrm_capture_free(cap);
	cache_free(cc.c);
	event_base_free(cc.base);
	return rc < 0 ? 1 : 0;
}

/* ================================================================ promote, demote */

static void result_line(const char *ev, const struct takeover_result *r, int rc, uint64_t load_us,
			uint64_t wall_us)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ev", json_object_new_string(ev));
	json_object_object_add(o, "rc", json_object_new_int(rc));
	json_object_object_add(o, "sas_installed", json_object_new_int64(r->sas_installed));
	json_object_object_add(o, "sas_updated", json_object_new_int64(r->sas_updated));
	json_object_object_add(o, "sas_failed", json_object_new_int64(r->sas_failed));
	json_object_object_add(o, "sas_near_exhaustion", json_object_new_int64(r->sas_near_exhaustion));
	json_object_object_add(o, "policies_installed", json_object_new_int64(r->policies_installed));
	json_object_object_add(o, "policies_failed", json_object_new_int64(r->policies_failed));
	json_object_object_add(o, "routes_added", json_object_new_int64(r->routes_added));
	json_object_object_add(o, "routes_failed", json_object_new_int64(r->routes_failed));
	json_object_object_add(o, "sas_removed", json_object_new_int64(r->sas_removed));
	json_object_object_add(o, "policies_removed", json_object_new_int64(r->policies_removed));
	json_object_object_add(o, "routes_removed", json_object_new_int64(r->routes_removed));
	json_object_object_add(o, "sas_us", json_object_new_int64((int64_t)r->sas_us));
	json_object_object_add(o, "policies_us", json_object_new_int64((int64_t)r->policies_us));
	json_object_object_add(o, "routes_us", json_object_new_int64((int64_t)r->routes_us));
	json_object_object_add(o, "total_us", json_object_new_int64((int64_t)r->total_us));
	json_object_object_add(o, "load_us", json_object_new_int64((int64_t)load_us));
	json_object_object_add(o, "wall_us", json_object_new_int64((int64_t)wall_us));
	emit(o);
}

static int cmd_promote(const struct opts *o, bool twice)
{
	struct takeover_result r;
	struct takeover *t;
	struct cache *c;
	uint64_t t0 = mono_us(), t1;
	int rc;

	c = cache_for(&o->vip);
	if (c == NULL || file_read(c, o->file) < 0)
		return 1;
	t1 = mono_us();
	t = takeover_new();
	if (t == NULL)
		return 1;
	rc = takeover_promote(t, c, 0, &o->tp, &o->rri, &r);
	result_line("promote", &r, rc, t1 - t0, mono_us() - t0);
	if (twice) {
		/* Again over what is now installed: updated, not duplicated. */
		rc = takeover_promote(t, c, 0, &o->tp, &o->rri, &r);
		result_line("promote_again", &r, rc, 0, 0);
	}
	takeover_free(t);
	cache_free(c);
	return rc == 0 || rc == -EIO ? 0 : 1;
}

static int cmd_demote(const struct opts *o)
{
	struct takeover_result r;
	struct takeover *t = takeover_new();
	uint64_t t0 = mono_us();
	int rc;

	if (t == NULL)
		return 1;
	rc = takeover_demote(t, &o->vip, &o->rri, &r);
	result_line("demote", &r, rc, 0, mono_us() - t0);
	takeover_free(t);
	return rc == 0 || rc == -EIO ? 0 : 1;
}

/*
 * The userspace half of a promotion alone: counters advanced and every
 * NEWSA request built (libnl-xfrm), nothing sent. Promotion time minus
 * this is the kernel's share.
 */
static int cmd_buildcost(const struct opts *o)
{
	const struct cache_sa_entry **list = NULL;
	struct ha_replay *r = malloc(sizeof(*r));
	struct cache *c = cache_for(&o->vip);
	uint64_t t0, bytes = 0;
	size_t n, i;
	json_object *j;

	if (c == NULL || r == NULL || file_read(c, o->file) < 0)
		return 1;
	n = cache_sa_list(c, true, 0, &list);
	if (n == (size_t)-1)
		return 1;
	t0 = mono_us();
	for (i = 0; i < n; i++) {
		struct nl_msg *msg;

		takeover_advance_replay(&list[i]->sa, list[i]->dir, &o->tp, r);
		if (takeover_sa_msg(&list[i]->sa, r, XFRM_MSG_NEWSA, &msg) == 0) {
			bytes += nlmsg_hdr(msg)->nlmsg_len;
			takeover_msg_free(msg);
		}
	}
	j = json_object_new_object();
	json_object_object_add(j, "ev", json_object_new_string("buildcost"));
	json_object_object_add(j, "sas", json_object_new_int64((int64_t)n));
	json_object_object_add(j, "build_us", json_object_new_int64((int64_t)(mono_us() - t0)));
	json_object_object_add(j, "bytes", json_object_new_int64((int64_t)bytes));
	emit(j);
	explicit_bzero(r, sizeof(*r));
	free(r);
	free(list);
	cache_free(c);
	return 0;
}

/* Every route of ours in the table (rri_remove() with no list). */
static int cmd_rri_flush(const struct opts *o)
{
	struct rri *r = rri_new();
	unsigned removed = 0, failed = 0;
	json_object *j;
	int rc;

	if (r == NULL)
		return 1;
	rc = rri_remove(r, &o->rri, NULL, 0, &removed, &failed);
	j = json_object_new_object();
	json_object_object_add(j, "ev", json_object_new_string("rri_flush"));
	json_object_object_add(j, "rc", json_object_new_int(rc));
	json_object_object_add(j, "removed", json_object_new_int64(removed));
	json_object_object_add(j, "failed", json_object_new_int64(failed));
	emit(j);
	rri_free(r);
	return rc == 0 ? 0 : 1;
}

/* ================================================================ synthetic SAs */

/*
 * count SAs, alternately out of the VIP (even i) and into it (odd i), one
 * peer per pair in 100.64.0.0/10, AES-GCM (160-bit key: 128 + salt), ESN
 * with a 128-packet window and counters; the same SAs as an ip -batch
 * file, counters included, for the kernel's own insert rate. --policies:
 * each tunnel's three policies and its route too.
 */
static int cmd_synth(const struct opts *o)
{
	struct cache *c = cache_for(&o->vip);
	struct ha_sa *sa = calloc(1, sizeof(*sa));
	FILE *b = fopen(o->batch, "w");
	char vip[INET6_ADDRSTRLEN];
	unsigned i, k;
	int rc = 0;

	if (c == NULL || sa == NULL || b == NULL || o->vip.family != AF_INET) {
		fprintf(stderr, "takeover_probe: synth needs an IPv4 VIP and a writable --batch\n");
		return 1;
	}
	inet_ntop(AF_INET, &o->vip.v4, vip, sizeof(vip));
	for (i = 0; i < o->count && rc == 0; i++) {
		unsigned t = i / 2;
		char peer[32], key[2 * 20 + 1];
		uint32_t oseq = i % 2 ? 0 : o->oseq + i, seq = i % 2 ? o->seq + i : 0;

		memset(sa, 0, sizeof(*sa));
		snprintf(peer, sizeof(peer), "100.64.%u.%u", (t >> 8) & 255, t & 255);
		sa->family = AF_INET;
		if (i % 2) {
			inet_pton(AF_INET, peer, &sa->saddr.v4);
			sa->id.daddr = o->vip;
		} else {
			sa->saddr = o->vip;
			inet_pton(AF_INET, peer, &sa->id.daddr.v4);
		}
		sa->saddr.family = sa->id.daddr.family = AF_INET;
		sa->id.spi = htonl(o->spi_base + i);
		sa->id.proto = IPPROTO_ESP;
		sa->mode = XFRM_MODE_TUNNEL;
		sa->reqid = 10000 + t;
		sa->flags = XFRM_STATE_ESN;
		strcpy(sa->aead.name, "rfc4106(gcm(aes))");
		sa->aead.key_len_bits = 160;
		sa->aead.icv_len_bits = 128;
		for (k = 0; k < 20; k++) {
			/* Not secret: a benchmark's keys, different per SA. */
			sa->aead.key[k] = (uint8_t)((i * 131 + k * 7 + 1) & 0xff);
			snprintf(key + 2 * k, 3, "%02x", sa->aead.key[k]);
		}
		sa->lft.soft_byte_limit = sa->lft.hard_byte_limit = XFRM_INF;
		sa->lft.soft_packet_limit = sa->lft.hard_packet_limit = XFRM_INF;
		sa->replay.is_esn = true;
		sa->replay.esn.bmp_len = 4;
		sa->replay.esn.replay_window = 128;
		sa->replay.esn.oseq = oseq;
		sa->replay.esn.seq = seq;
		if (seq)
			sa->replay.esn.bmp[0] = 0xffffffffu;
		rc = cache_sa_add(c, sa, now_ms(), false);
		fprintf(b, "xfrm state add src %s dst %s proto esp spi 0x%08x reqid %u mode tunnel "
		    "flag esn replay-window 128 replay-seq 0x%x replay-oseq 0x%x "
		    "aead rfc4106(gcm(aes)) 0x%s 128\n", i % 2 ? peer : vip, i % 2 ? vip : peer,
		    o->spi_base + i, 10000 + t, seq, oseq, key);
	}
	/* A tunnel's policies (out, in, fwd) toward its own remote /32 in
	 * 10.128.0.0/9; in the batch file with the route RRI would add. */
	for (i = 0; o->policies && i < o->count / 2 && rc == 0; i++) {
		static const uint8_t dirs[3] = { XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD };
		static const char *const dname[3] = { "out", "in", "fwd" };
		char peer[32], remote[32];
		struct ha_policy pol;
		unsigned d;

		snprintf(peer, sizeof(peer), "100.64.%u.%u", (i >> 8) & 255, i & 255);
		snprintf(remote, sizeof(remote), "10.%u.%u.%u", 128 + ((i >> 16) & 127), (i >> 8) & 255,
		    i & 255);
		for (d = 0; d < 3 && rc == 0; d++) {
			bool out = dirs[d] == XFRM_POLICY_OUT;
			struct ha_addr local, rem, pa;

			memset(&pol, 0, sizeof(pol));
			memset(&local, 0, sizeof(local));
			memset(&rem, 0, sizeof(rem));
			memset(&pa, 0, sizeof(pa));
			local.family = rem.family = pa.family = AF_INET;
			inet_pton(AF_INET, "10.1.0.0", &local.v4);
			inet_pton(AF_INET, remote, &rem.v4);
			inet_pton(AF_INET, peer, &pa.v4);
			pol.sel.family = AF_INET;
			pol.sel.saddr = out ? local : rem;
			pol.sel.prefixlen_s = out ? 24 : 32;
			pol.sel.daddr = out ? rem : local;
			pol.sel.prefixlen_d = out ? 32 : 24;
			pol.dir = dirs[d];
			pol.priority = 1000;
			pol.action = XFRM_POLICY_ALLOW;
			pol.ntmpl = 1;
			pol.tmpl[0].family = AF_INET;
			pol.tmpl[0].saddr = out ? o->vip : pa;
			pol.tmpl[0].id.daddr = out ? pa : o->vip;
			pol.tmpl[0].id.proto = IPPROTO_ESP;
			pol.tmpl[0].mode = XFRM_MODE_TUNNEL;
			pol.tmpl[0].reqid = 10000 + i;
			pol.tmpl[0].aalgos = pol.tmpl[0].ealgos = pol.tmpl[0].calgos = ~0u;
			rc = cache_policy_add(c, &pol, now_ms(), false);
			fprintf(b, "xfrm policy add src %s/%u dst %s/%u dir %s priority 1000 "
			    "tmpl src %s dst %s proto esp reqid %u mode tunnel\n",
			    out ? "10.1.0.0" : remote, out ? 24 : 32, out ? remote : "10.1.0.0",
			    out ? 32 : 24, dname[d], out ? vip : peer, out ? peer : vip, 10000 + i);
		}
		fprintf(b, "route replace %s/32 via %s proto %u metric %u\n", remote, peer,
		    o->rri.protocol, o->rri.metric);
	}
	explicit_bzero(sa, sizeof(*sa));
	free(sa);
	fclose(b);
	if (rc == 0)
		rc = file_write(c, o->file, true);
	cache_free(c);
	return rc == 0 ? 0 : 1;
}

/* ================================================================ main */

static void usage(void)
{
	fprintf(stderr,
	    "usage: takeover_probe capture --vip A --file F [--replay-in N] [--replay-out N] [--etimer-ms MS]\n"
	    "       takeover_probe promote --vip A --file F [--replay-in N] [--replay-out N] [--margin N]\n"
	    "                      [--twice] [--rri] [--table T] [--metric M] [--proto P]\n"
	    "       takeover_probe demote  --vip A [--rri] [--table T] [--metric M] [--proto P]\n"
	    "       takeover_probe buildcost --vip A --file F   (build the requests, send nothing)\n"
	    "       takeover_probe rri-flush [--table T] [--proto P]\n"
	    "       takeover_probe synth   --vip A --file F --batch B --count N [--spi-base S]\n"
	    "                      [--oseq N] [--seq N] [--policies]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "vip", required_argument, NULL, 'a' },
		{ "file", required_argument, NULL, 'f' },
		{ "batch", required_argument, NULL, 'b' },
		{ "replay-in", required_argument, NULL, 'i' },
		{ "replay-out", required_argument, NULL, 'o' },
		{ "etimer-ms", required_argument, NULL, 'e' },
		{ "margin", required_argument, NULL, 'm' },
		{ "rri", no_argument, NULL, 'r' },
		{ "table", required_argument, NULL, 't' },
		{ "metric", required_argument, NULL, 'M' },
		{ "proto", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "spi-base", required_argument, NULL, 's' },
		{ "oseq", required_argument, NULL, 'O' },
		{ "seq", required_argument, NULL, 'S' },
		{ "twice", no_argument, NULL, '2' },
		{ "policies", no_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o;
	const char *cmd;
	bool twice = false;
	int c, level = LOG_INFO;

	memset(&o, 0, sizeof(o));
	o.thr.replay_in = 1000;
	o.thr.replay_out = 100000;
	o.thr.etimer_ms = 1000;
	o.tp.replay_in = 1000;
	o.tp.replay_out = 100000;
	o.tp.exhaustion_margin = 1000000;
	o.rri.table = 254;
	o.rri.metric = 50;
	o.rri.protocol = 201;
	o.count = 1000;
	o.spi_base = 0x100000;
	o.oseq = 1000;
	o.seq = 500;
	if (argc < 2)
		usage();
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "v", lopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (parse_addr(optarg, &o.vip) < 0)
				usage();
			break;
		case 'f':
			o.file = optarg;
			break;
		case 'b':
			o.batch = optarg;
			break;
		case 'i':
			o.thr.replay_in = o.tp.replay_in = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			o.thr.replay_out = o.tp.replay_out = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'e':
			o.thr.etimer_ms = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			o.tp.exhaustion_margin = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			o.rri.enabled = true;
			break;
		case 't':
			o.rri.table = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'M':
			o.rri.metric = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'p':
			o.rri.protocol = (uint8_t)strtoul(optarg, NULL, 0);
			break;
		case 'n':
			o.count = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			o.spi_base = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'O':
			o.oseq = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'S':
			o.seq = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case '2':
			twice = true;
			break;
		case 'P':
			o.policies = true;
			break;
		case 'v':
			level = LOG_DEBUG;
			break;
		default:
			usage();
		}
	}
	log_init("takeover_probe", true, level);
	if (!strcmp(cmd, "rri-flush"))
		return cmd_rri_flush(&o);
	if (o.vip.family == 0)
		usage();
	if (!strcmp(cmd, "capture") && o.file)
		return cmd_capture(&o);
	if (!strcmp(cmd, "promote") && o.file)
		return cmd_promote(&o, twice);
	if (!strcmp(cmd, "demote"))
		return cmd_demote(&o);
	if (!strcmp(cmd, "buildcost") && o.file)
		return cmd_buildcost(&o);
	if (!strcmp(cmd, "synth") && o.file && o.batch)
		return cmd_synth(&o);
	usage();
	return 2;
}
