/* transport_probe.c: lab tool driving the sync transport: sends sequenced frames at a rate on K streams, verifies what it receives, reports path events and a JSON summary. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "transport.h"

#define PROBE_MAGIC	0x48535450u	/* "HSTP" */
#define PROBE_HDR	28		/* magic, stream, pad, seq, sent_ns, len */
#define PROBE_STREAMS_MAX 64
#define PROBE_BIG	70000		/* the largest frame hasyncd sends */
#define TICK_MS		5

struct probe {
	struct event_base *base;
	struct transport *t;
	struct transport_config cfg;
	const char *stop_file, *summary_file, *status_file;
	double rate;			/* frames per second; 0: receive only */
	unsigned streams;
	size_t size;
	unsigned big_every;
	uint64_t count;			/* stop sending after this many attempts; 0: no limit */
	double duration;		/* seconds; 0: until stopped */
	unsigned gap_log_ms;
	uint8_t *buf;

	uint64_t start_ns, last_status_ns;
	bool stopping;
	uint64_t stop_ns;

	/* sending */
	uint64_t attempts, sent, sent_bytes, refused_down, refused_full, refused_other;
	uint64_t next_seq[PROBE_STREAMS_MAX];

	/* receiving, checked per association */
	bool have[PROBE_STREAMS_MAX];
	uint64_t expect[PROBE_STREAMS_MAX];
	uint64_t received, received_bytes, lost, reordered, corrupt, big_received, wrong_stream;
	uint64_t last_rx_ns;
	double max_gap_ms, max_gap_at, max_latency_ms;

	unsigned ups, downs;
	struct {
		char addr[INET6_ADDRSTRLEN];
		enum path_state state;
	} paths[8];
	int n_paths;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Event lines carry CLOCK_MONOTONIC seconds, which in the guest is /proc/uptime's clock. */
static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void event_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event_line(const char *fmt, ...)
{
	va_list ap;

	printf("%.3f ", secs(now_ns()));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void host_of(const struct sockaddr *sa, char *buf, size_t size)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, size);
	else
		snprintf(buf, size, "?");
}

static void write_status(struct probe *p)
{
	char tmp[4096];
	FILE *f;
	int i;

	if (!p->status_file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->status_file);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "{\"t\":%.3f,\"up\":%s,\"ups\":%u,\"downs\":%u,\"sent\":%" PRIu64
		",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"paths\":{",
		secs(now_ns()), p->t && transport_is_up(p->t) ? "true" : "false", p->ups, p->downs,
		p->sent, p->received, p->lost, p->reordered);
	for (i = 0; i < p->n_paths; i++)
		fprintf(f, "%s\"%s\":\"%s\"", i ? "," : "", p->paths[i].addr,
			transport_path_state_name(p->paths[i].state));
	fprintf(f, "}}\n");
	fclose(f);
	rename(tmp, p->status_file);
}

static void write_summary(struct probe *p)
{
	struct transport_stats st;
	char line[2048];
	FILE *f;

	memset(&st, 0, sizeof(st));
	if (p->t)
		transport_get_stats(p->t, &st);
	snprintf(line, sizeof(line),
		 "{\"kind\":\"%s\",\"streams\":%u,\"rate\":%g,\"attempts\":%" PRIu64 ",\"sent\":%" PRIu64
		 ",\"sent_bytes\":%" PRIu64 ",\"refused_down\":%" PRIu64 ",\"refused_full\":%" PRIu64
		 ",\"refused_other\":%" PRIu64 ",\"received\":%" PRIu64 ",\"received_bytes\":%" PRIu64
		 ",\"big_received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"reordered\":%" PRIu64
		 ",\"corrupt\":%" PRIu64 ",\"wrong_stream\":%" PRIu64 ",\"max_gap_ms\":%.1f,\"max_gap_at\":%.3f,\"max_latency_ms\":%.1f"
		 ",\"ups\":%u,\"downs\":%u,\"refused\":%" PRIu64 ",\"garbage\":%" PRIu64
		 ",\"connects\":%" PRIu64 ",\"bytes_discarded\":%" PRIu64 "}",
		 p->cfg.kind == TRANSPORT_SCTP ? "sctp" : "tcp", p->streams, p->rate, p->attempts,
		 p->sent, p->sent_bytes, p->refused_down, p->refused_full, p->refused_other,
		 p->received, p->received_bytes, p->big_received, p->lost, p->reordered, p->corrupt,
		 p->wrong_stream, p->max_gap_ms, p->max_gap_at, p->max_latency_ms, p->ups, p->downs, st.refused,
		 st.garbage, st.connects, st.bytes_discarded);
	printf("%s\n", line);
	fflush(stdout);
	if (p->summary_file && (f = fopen(p->summary_file, "w"))) {
		fprintf(f, "%s\n", line);
		fclose(f);
	}
}

/* ---------------------------------------------------------------- transport callbacks */

static void on_up(void *ctx)
{
	struct probe *p = ctx;

	/* The send rate's clock starts with the first association, not at start. */
	if (p->ups++ == 0)
		p->start_ns = now_ns();
	/* Sequences are checked within one association: what was queued at a loss is gone. */
	memset(p->have, 0, sizeof(p->have));
	p->last_rx_ns = 0;
	event_line("up");
	write_status(p);
}

static void on_down(void *ctx, const char *why)
{
	struct probe *p = ctx;

	p->downs++;
	p->n_paths = 0;
	event_line("down %s", why);
	write_status(p);
}

static void on_path(void *ctx, const struct sockaddr *addr, enum path_state st)
{
	struct probe *p = ctx;
	char host[INET6_ADDRSTRLEN];
	int i;

	host_of(addr, host, sizeof(host));
	event_line("path %s %s", host, transport_path_state_name(st));
	for (i = 0; i < p->n_paths; i++)
		if (strcmp(p->paths[i].addr, host) == 0)
			break;
	if (i == p->n_paths) {
		if (p->n_paths == (int)(sizeof(p->paths) / sizeof(p->paths[0])))
			return;
		p->n_paths++;
		snprintf(p->paths[i].addr, sizeof(p->paths[i].addr), "%s", host);
	}
	p->paths[i].state = st;
	write_status(p);
}

static uint32_t get32(const uint8_t *b) { uint32_t v; memcpy(&v, b, 4); return v; }
static uint64_t get64(const uint8_t *b) { uint64_t v; memcpy(&v, b, 8); return v; }

static void on_frame(void *ctx, uint16_t stream, const uint8_t *buf, size_t len)
{
	struct probe *p = ctx;
	uint64_t now = now_ns(), seq, sent_ns;
	double lat;
	size_t i;
	uint16_t s;

	p->received++;
	p->received_bytes += len;
	if (len >= PROBE_BIG)
		p->big_received++;
	if (p->last_rx_ns) {
		double gap = (double)(now - p->last_rx_ns) / 1e6;

		if (gap > p->max_gap_ms) {
			p->max_gap_ms = gap;
			p->max_gap_at = secs(now);
		}
		if (p->gap_log_ms && gap >= p->gap_log_ms)
			event_line("gap %.1f", gap);
	}
	p->last_rx_ns = now;
	if (len < PROBE_HDR || get32(buf) != PROBE_MAGIC || get32(buf + 24) != len) {
		p->corrupt++;
		return;
	}
	memcpy(&s, buf + 4, 2);
	seq = get64(buf + 8);
	sent_ns = get64(buf + 16);
	for (i = PROBE_HDR; i < len; i++)
		if (buf[i] != (uint8_t)(seq + i)) {
			p->corrupt++;
			return;
		}
	if (s >= PROBE_STREAMS_MAX) {
		p->corrupt++;
		return;
	}
	/* Delivered on the stream it was sent on (both ends ask the same number of streams). */
	if (stream != s)
		p->wrong_stream++;
	lat = (double)(now - sent_ns) / 1e6;
	if (lat > p->max_latency_ms)
		p->max_latency_ms = lat;
	if (!p->have[s]) {
		p->have[s] = true;
	} else if (seq > p->expect[s]) {
		p->lost += seq - p->expect[s];
		event_line("lost stream %u seq %" PRIu64 "..%" PRIu64, s, p->expect[s], seq - 1);
	} else if (seq < p->expect[s]) {
		p->reordered++;
		event_line("reordered stream %u seq %" PRIu64 " after %" PRIu64, s, seq, p->expect[s] - 1);
		return;
	}
	p->expect[s] = seq + 1;
}

static const struct transport_callbacks callbacks = {
	.up = on_up, .down = on_down, .frame = on_frame, .path = on_path,
};

/* ---------------------------------------------------------------- sending */

static void send_one(struct probe *p)
{
	uint16_t s = (uint16_t)(p->attempts % p->streams);
	size_t len = p->big_every && p->attempts % p->big_every == p->big_every - 1 ? PROBE_BIG : p->size;
	uint64_t seq = p->next_seq[s], ns = now_ns();
	uint32_t magic = PROBE_MAGIC, l = (uint32_t)len;
	size_t i;

	p->attempts++;
	memcpy(p->buf, &magic, 4);
	memcpy(p->buf + 4, &s, 2);
	memset(p->buf + 6, 0, 2);
	memcpy(p->buf + 8, &seq, 8);
	memcpy(p->buf + 16, &ns, 8);
	memcpy(p->buf + 24, &l, 4);
	for (i = PROBE_HDR; i < len; i++)
		p->buf[i] = (uint8_t)(seq + i);
	if (transport_send(p->t, s, p->buf, len) == 0) {
		p->next_seq[s]++;
		p->sent++;
		p->sent_bytes += len;
	} else if (errno == ENOTCONN) {
		p->refused_down++;
	} else if (errno == ENOBUFS) {
		p->refused_full++;
	} else {
		p->refused_other++;
	}
}

static void finish(struct probe *p)
{
	write_status(p);
	write_summary(p);
	event_base_loopbreak(p->base);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	uint64_t now = now_ns();
	double elapsed = secs(now - p->start_ns);
	struct stat sb;

	if (!p->stopping) {
		if ((p->stop_file && stat(p->stop_file, &sb) == 0) ||
		    (p->duration > 0 && elapsed >= p->duration) ||
		    (p->count && p->attempts >= p->count && p->rate > 0)) {
			p->stopping = true;
			p->stop_ns = now;
			event_line("stopping");
		}
	}
	if (!p->stopping && p->rate > 0 && p->ups > 0) {
		uint64_t due = (uint64_t)(elapsed * p->rate);

		if (p->count && due > p->count)
			due = p->count;
		while (p->attempts < due)
			send_one(p);
	}
	if (p->stopping) {
		/* A sender waits (up to 3 s) for its queue to drain, so nothing is cut off. */
		if (p->rate == 0 || transport_queued_bytes(p->t) == 0 || now - p->stop_ns > 3000000000u) {
			finish(p);
			return;
		}
	}
	if (now - p->last_status_ns > 200000000u) {
		p->last_status_ns = now;
		write_status(p);
	}
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct probe *p = arg;

	if (!p->stopping) {
		p->stopping = true;
		p->stop_ns = now_ns();
		event_line("stopping (signal %d)", (int)sig);
	}
}

/* ---------------------------------------------------------------- options */

static int parse_addrs(const char *list, uint16_t port, struct sockaddr_storage *out, int *n)
{
	char copy[256], *tok, *save = NULL;

	snprintf(copy, sizeof(copy), "%s", list);
	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct sockaddr_storage *ss;

		if (*n == TRANSPORT_ADDRS_MAX)
			return -1;
		ss = &out[(*n)++];
		memset(ss, 0, sizeof(*ss));
		if (inet_pton(AF_INET, tok, &((struct sockaddr_in *)(void *)ss)->sin_addr) == 1) {
			ss->ss_family = AF_INET;
			((struct sockaddr_in *)(void *)ss)->sin_port = htons(port);
		} else if (inet_pton(AF_INET6, tok, &((struct sockaddr_in6 *)(void *)ss)->sin6_addr) == 1) {
			ss->ss_family = AF_INET6;
			((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons(port);
		} else {
			return -1;
		}
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: transport_probe --remote A[,B] [--local A[,B]] [options]\n"
		"  --kind sctp|tcp        transport (default sctp)\n"
		"  --port N               port on every address (default 7788)\n"
		"  --streams K            streams (default 4)\n"
		"  --rate R               frames per second to send, round robin on the streams,\n"
		"                         from the first association on; 0 (default): only receive\n"
		"  --size BYTES           frame size (default 256, at least %d)\n"
		"  --big-every N          every Nth frame is %d bytes\n"
		"  --count N              send N frames, then stop\n"
		"  --duration SEC         stop SEC seconds after the first association\n"
		"  --stop-file FILE       stop when FILE exists (also on SIGTERM/SIGINT)\n"
		"  --status FILE          JSON status, rewritten on every event and every 0.2 s\n"
		"  --summary FILE         JSON summary at the end (also printed)\n"
		"  --gap-log-ms MS        print a 'gap' event for delivery pauses >= MS (default 50)\n"
		"  --reconnect-min MS, --reconnect-max MS, --rto-min MS, --rto-max MS,\n"
		"  --hb MS, --path-max-retrans N   transport tuning (default: the transport's)\n"
		"stdout: one event per line, 'SECONDS EVENT...' with CLOCK_MONOTONIC seconds:\n"
		"  up | down WHY | path ADDR STATE | gap MS | lost ... | reordered ... | stopping,\n"
		"then the summary line.\n", PROBE_HDR, PROBE_BIG);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "local", required_argument, NULL, 'l' },
		{ "remote", required_argument, NULL, 'r' },
		{ "port", required_argument, NULL, 'p' },
		{ "streams", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'R' },
		{ "size", required_argument, NULL, 'z' },
		{ "big-every", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "stop-file", required_argument, NULL, 'S' },
		{ "status", required_argument, NULL, 'j' },
		{ "summary", required_argument, NULL, 'o' },
		{ "gap-log-ms", required_argument, NULL, 'g' },
		{ "reconnect-min", required_argument, NULL, 1 },
		{ "reconnect-max", required_argument, NULL, 2 },
		{ "rto-min", required_argument, NULL, 3 },
		{ "rto-max", required_argument, NULL, 4 },
		{ "hb", required_argument, NULL, 5 },
		{ "path-max-retrans", required_argument, NULL, 6 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct probe pr;
	struct probe *p = &pr;
	const char *local = NULL, *remote = NULL;
	unsigned long port = 7788;
	struct timeval tick = { 0, TICK_MS * 1000 };
	struct event *tick_ev, *sigterm_ev, *sigint_ev;
	int opt, rc;

	p->cfg.kind = TRANSPORT_SCTP;
	p->streams = 4;
	p->size = 256;
	p->gap_log_ms = 50;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'k':
			if (strcmp(optarg, "sctp") == 0)
				p->cfg.kind = TRANSPORT_SCTP;
			else if (strcmp(optarg, "tcp") == 0)
				p->cfg.kind = TRANSPORT_TCP;
			else
				goto bad;
			break;
		case 'l': local = optarg; break;
		case 'r': remote = optarg; break;
		case 'p': port = strtoul(optarg, NULL, 10); break;
		case 's': p->streams = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'R': p->rate = strtod(optarg, NULL); break;
		case 'z': p->size = strtoul(optarg, NULL, 10); break;
		case 'b': p->big_every = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': p->count = strtoull(optarg, NULL, 10); break;
		case 'd': p->duration = strtod(optarg, NULL); break;
		case 'S': p->stop_file = optarg; break;
		case 'j': p->status_file = optarg; break;
		case 'o': p->summary_file = optarg; break;
		case 'g': p->gap_log_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 1: p->cfg.reconnect_min_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 2: p->cfg.reconnect_max_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 3: p->cfg.rto_min_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 4: p->cfg.rto_max_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 5: p->cfg.hb_interval_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 6: p->cfg.path_max_retrans = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (!remote || port == 0 || port > 65535 || p->streams == 0 || p->streams > PROBE_STREAMS_MAX ||
	    p->size < PROBE_HDR || p->size > TRANSPORT_FRAME_MAX || p->rate < 0)
		goto bad;
	if (parse_addrs(remote, (uint16_t)port, p->cfg.remote, &p->cfg.n_remote) < 0 ||
	    (local && parse_addrs(local, (uint16_t)port, p->cfg.local, &p->cfg.n_local) < 0)) {
		fprintf(stderr, "transport_probe: bad address list\n");
		return 2;
	}
	p->cfg.streams = (uint16_t)p->streams;
	p->buf = malloc(PROBE_BIG > p->size ? PROBE_BIG : p->size);
	log_init("transport_probe", true, LOG_INFO);
	p->base = event_base_new();
	if (!p->buf || !p->base)
		return 1;
	p->t = transport_new(p->base, &p->cfg, &callbacks, p);
	if (!p->t)
		return 1;
	p->start_ns = now_ns();
	if (transport_start(p->t) < 0)
		return 1;
	event_line("started %s %s, %s", p->cfg.kind == TRANSPORT_SCTP ? "sctp" : "tcp",
		   transport_is_initiator(p->t) ? "connecting" : "accepting",
		   p->rate > 0 ? "sending" : "receiving");
	tick_ev = event_new(p->base, -1, EV_PERSIST, tick_cb, p);
	sigterm_ev = evsignal_new(p->base, SIGTERM, signal_cb, p);
	sigint_ev = evsignal_new(p->base, SIGINT, signal_cb, p);
	event_add(tick_ev, &tick);
	event_add(sigterm_ev, NULL);
	event_add(sigint_ev, NULL);
	rc = event_base_dispatch(p->base);
	event_free(tick_ev);
	event_free(sigterm_ev);
	event_free(sigint_ev);
	transport_free(p->t);
	event_base_free(p->base);
	free(p->buf);
	return rc < 0 ? 1 : 0;
bad:
	usage(stderr);
	return 2;
}
