/* traffic_main.c: hatraffic, sequenced UDP both ways between two lab hosts to measure what a failover costs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "traffic_stats.h"

#define NS_PER_S		UINT64_C(1000000000)
#define NS_PER_MS		UINT64_C(1000000)
#define STOP_FILE_EVERY_NS	(100 * NS_PER_MS)
#define PROGRESS_EVERY_NS	NS_PER_S
#define HELLO_EVERY_MAX_NS	(10 * NS_PER_MS)
#define PEER_WAIT_NS		(5 * NS_PER_S)
#define RATE_MAX		1000000
#define RCVBUF_BYTES		(8 << 20)
#define SNDBUF_BYTES		(4 << 20)
#define STR(x)			#x
#define XSTR(x)			STR(x)

struct traffic_conf {
	struct sockaddr_storage bind_addr, peer_addr;
	socklen_t bind_len, peer_len;
	uint64_t rate;
	uint64_t duration_ns;	/* 0: until a signal or the stop file */
	uint64_t size;
	const char *report;
	const char *stop_file;
	int quiet;
};

static volatile sig_atomic_t traffic_stop;

static void usage(FILE *out)
{
	fprintf(out,
	    "usage: hatraffic --bind ADDR:PORT --peer ADDR:PORT [--rate PPS] [--duration SEC]\n"
	    "                 [--size BYTES] [--report FILE] [--stop-file FILE] [--quiet]\n"
	    "  ADDR is IPv4 (192.0.2.1:5001) or IPv6 in brackets ([2001:db8::1]:5001)\n"
	    "  --rate      packets per second to send (default 1000, max %d)\n"
	    "  --duration  seconds to run (default: until SIGTERM/SIGINT or the stop file)\n"
	    "  --size      UDP payload bytes (default 64, min %d, max %d)\n"
	    "  --report    write the JSON report line there (atomically), default stdout\n"
	    "  --stop-file stop when this file exists (checked every 100 ms)\n"
	    "  --quiet     no progress lines on stderr\n",
	    RATE_MAX, TRAFFIC_HDR_LEN, TRAFFIC_MAX_SIZE);
}

static void die_usage(const char *opt, const char *arg, const char *why)
{
	fprintf(stderr, "hatraffic: %s '%s': %s\n", opt, arg, why);
	fprintf(stderr, "try 'hatraffic --help'\n");
	exit(2);
}

static void conf_parse(struct traffic_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "peer", required_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "report", required_argument, NULL, 'o' },
		{ "stop-file", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *err;
	int have_bind = 0, have_peer = 0, ch;

	memset(c, 0, sizeof(*c));
	c->rate = 1000;
	c->size = 64;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			if (traffic_parse_addr(optarg, &c->bind_addr, &c->bind_len, &err) < 0)
				die_usage("--bind", optarg, err);
			have_bind = 1;
			break;
		case 'p':
			if (traffic_parse_addr(optarg, &c->peer_addr, &c->peer_len, &err) < 0)
				die_usage("--peer", optarg, err);
			have_peer = 1;
			break;
		case 'r':
			if (traffic_parse_uint(optarg, 1, RATE_MAX, &c->rate, &err) < 0)
				die_usage("--rate", optarg, "must be 1 to " XSTR(RATE_MAX));
			break;
		case 'd':
			if (traffic_parse_seconds(optarg, &c->duration_ns, &err) < 0)
				die_usage("--duration", optarg, err);
			break;
		case 's':
			if (traffic_parse_uint(optarg, TRAFFIC_HDR_LEN, TRAFFIC_MAX_SIZE, &c->size, &err) < 0)
				die_usage("--size", optarg, "must be " XSTR(TRAFFIC_HDR_LEN) " to " XSTR(TRAFFIC_MAX_SIZE));
			break;
		case 'o':
			if (*optarg == '\0')
				die_usage("--report", optarg, "empty file name");
			c->report = optarg;
			break;
		case 'f':
			if (*optarg == '\0')
				die_usage("--stop-file", optarg, "empty file name");
			c->stop_file = optarg;
			break;
		case 'q':
			c->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			fprintf(stderr, "hatraffic: %s needs a value\n", argv[optind - 1]);
			exit(2);
		default:
			fprintf(stderr, "hatraffic: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hatraffic: unexpected argument '%s'\n", argv[optind]);
		exit(2);
	}
	if (!have_bind || !have_peer) {
		fprintf(stderr, "hatraffic: --bind and --peer are required\n");
		usage(stderr);
		exit(2);
	}
	if (c->bind_addr.ss_family != c->peer_addr.ss_family) {
		fprintf(stderr, "hatraffic: --bind and --peer must both be IPv4 or both IPv6\n");
		exit(2);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	traffic_stop = 1;
}

/*
 * SIGTERM/SIGINT stay blocked except inside ppoll(), so a signal either
 * interrupts the wait or is seen on the next one: never lost between the
 * flag test and the sleep.
 */
static void signals_setup(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}

static int socket_open(const struct traffic_conf *c)
{
	int fd, v;

	fd = socket(c->bind_addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "hatraffic: socket: %s\n", strerror(errno));
		return -1;
	}
	/* A late wakeup finds a backlog: room for seconds of it (FORCE needs root). */
	v = RCVBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	v = SNDBUF_BYTES;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (bind(fd, (const struct sockaddr *)&c->bind_addr, c->bind_len) < 0) {
		fprintf(stderr, "hatraffic: bind: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static uint32_t run_id_make(void)
{
	uint32_t id;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) == (ssize_t)sizeof(id))
		return id;
	return (uint32_t)mono_ns() ^ ((uint32_t)getpid() << 16);
}

/*
 * Receive everything queued, timestamping each datagram as it is taken.
 * Returns whether anything came from a peer (data or hello).
 */
static int rx_drain(int fd, struct traffic_stats *st, uint64_t start, uint8_t *buf, size_t len)
{
	struct traffic_pkt p;
	int heard = 0;
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN: drained. Anything else (ICMP errors) is not ours to count. */
			return heard;
		}
		if (traffic_pkt_decode(buf, (size_t)n, &p) < 0) {
			traffic_stats_invalid(st);
			continue;
		}
		heard = 1;
		traffic_stats_rx(st, &p, mono_ns() - start);
	}
}

/* One datagram; 0 sent, 1 dropped by a full buffer (retry), -1 refused (counted). */
static int tx_one(int fd, const struct traffic_conf *c, uint8_t *buf, const struct traffic_pkt *p)
{
	ssize_t n;

	traffic_pkt_encode(buf, p);
	do {
		n = sendto(fd, buf, c->size, MSG_DONTWAIT,
		    (const struct sockaddr *)&c->peer_addr, c->peer_len);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 1;
	return -1;
}

static int report_write(const struct traffic_conf *c, const char *line)
{
	char tmp[4096];
	size_t len = strlen(line);
	int fd;

	if (c->report == NULL) {
		if (printf("%s\n", line) < 0 || fflush(stdout) != 0) {
			fprintf(stderr, "hatraffic: writing the report: %s\n", strerror(errno));
			return -1;
		}
		return 0;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", c->report, (long)getpid()) >= (int)sizeof(tmp)) {
		fprintf(stderr, "hatraffic: report file name too long\n");
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "hatraffic: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) < 0 || close(fd) < 0) {
		fprintf(stderr, "hatraffic: %s: %s\n", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, c->report) < 0) {
		fprintf(stderr, "hatraffic: %s: %s\n", c->report, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void progress(const struct traffic_stats *st, uint64_t t, uint64_t sent, uint64_t errs)
{
	fprintf(stderr, "hatraffic: t=%" PRIu64 "s sent=%" PRIu64 " send_errors=%" PRIu64
	    " received=%" PRIu64 " lost=%" PRIu64 " max_gap_ms=%" PRIu64 "\n",
	    t / NS_PER_S, sent, errs, st->received, traffic_stats_lost(st),
	    traffic_ns_to_ms(st->max_gap_ns));
}

int main(int argc, char **argv)
{
	struct traffic_conf c;
	struct traffic_stats st;
	struct traffic_report_info info;
	struct traffic_pkt pkt;
	struct pollfd pfd;
	struct timespec ts;
	sigset_t waitmask;
	uint64_t start, now, end, wake, next_stop_check, next_progress, next_hello, next_send;
	uint64_t tx_start = 0, seq = 0, sent = 0, send_errors = 0, hello_every;
	uint8_t *txbuf, *rxbuf;
	uint32_t run_id;
	int fd, tx_started = 0, blocked = 0, rc;
	char line[1024];

	conf_parse(&c, argc, argv);
	signals_setup(&waitmask);
	fd = socket_open(&c);
	if (fd < 0)
		return 1;
	txbuf = calloc(1, c.size);
	rxbuf = malloc(TRAFFIC_MAX_SIZE + 1);
	if (txbuf == NULL || rxbuf == NULL || traffic_stats_init(&st, 0) < 0) {
		fprintf(stderr, "hatraffic: out of memory\n");
		return 1;
	}
	run_id = run_id_make();
	start = mono_ns();
	end = c.duration_ns ? start + c.duration_ns : UINT64_MAX;
	next_stop_check = start;
	next_progress = start + PROGRESS_EVERY_NS;
	next_hello = start;
	/* at the data rate (it costs no more than the data will), at least every 10 ms */
	hello_every = NS_PER_S / c.rate;
	if (hello_every > HELLO_EVERY_MAX_NS)
		hello_every = HELLO_EVERY_MAX_NS;
	next_send = UINT64_MAX;
	pfd.fd = fd;

	while (!traffic_stop) {
		now = mono_ns();
		if (c.stop_file != NULL && now >= next_stop_check) {
			if (access(c.stop_file, F_OK) == 0)
				break;
			next_stop_check = now + STOP_FILE_EVERY_NS;
		}

		/*
		 * Hellos until the peer is heard from (or PEER_WAIT passes), so
		 * the sequence does not start into a socket that is not bound
		 * yet: the two instances never start at the same instant.
		 */
		if (rx_drain(fd, &st, start, rxbuf, TRAFFIC_MAX_SIZE + 1) || now >= start + PEER_WAIT_NS) {
			if (!tx_started) {
				tx_started = 1;
				tx_start = now;
			}
		}
		if (!tx_started && now >= next_hello) {
			pkt.hello = 1;
			pkt.run_id = run_id;
			pkt.seq = 0;
			pkt.sent_ns = now - start;
			tx_one(fd, &c, txbuf, &pkt);
			next_hello = now + hello_every;
		}

		/*
		 * Every packet whose absolute deadline has passed goes now, so a
		 * late wakeup catches up and the average rate stays exact. A full
		 * send buffer (EAGAIN) keeps the packet for the next POLLOUT;
		 * other errors (no route, a blocking policy) count and move on,
		 * and the receiver sees that sequence number as lost.
		 */
		blocked = 0;
		if (tx_started)
			next_send = tx_start + traffic_deadline_ns(seq, c.rate);
		while (tx_started && next_send <= now && next_send < end) {
			pkt.hello = 0;
			pkt.run_id = run_id;
			pkt.seq = seq;
			pkt.sent_ns = mono_ns() - start;
			rc = tx_one(fd, &c, txbuf, &pkt);
			if (rc > 0) {
				blocked = 1;
				break;
			}
			if (rc < 0)
				send_errors++;
			else
				sent++;
			seq++;
			next_send = tx_start + traffic_deadline_ns(seq, c.rate);
		}

		rx_drain(fd, &st, start, rxbuf, TRAFFIC_MAX_SIZE + 1);
		if (now >= end)
			break;

		if (!c.quiet && now >= next_progress) {
			progress(&st, now - start, sent, send_errors);
			while (next_progress <= now)
				next_progress += PROGRESS_EVERY_NS;
		}

		now = mono_ns();
		wake = now + NS_PER_S;	/* bounded sleep: nothing below can make it forever */
		if (end < wake)
			wake = end;
		if (!tx_started && next_hello < wake)
			wake = next_hello;
		if (tx_started && !blocked && next_send < wake)
			wake = next_send;
		if (c.stop_file != NULL && next_stop_check < wake)
			wake = next_stop_check;
		if (!c.quiet && next_progress < wake)
			wake = next_progress;
		if (wake <= now)
			continue;
		wake -= now;
		ts.tv_sec = (time_t)(wake / NS_PER_S);
		ts.tv_nsec = (long)(wake % NS_PER_S);
		pfd.events = POLLIN | (blocked ? POLLOUT : 0);
		if (ppoll(&pfd, 1, &ts, &waitmask) < 0 && errno != EINTR) {
			fprintf(stderr, "hatraffic: ppoll: %s\n", strerror(errno));
			break;
		}
	}

	/* Whatever arrived up to the stop counts. */
	rx_drain(fd, &st, start, rxbuf, TRAFFIC_MAX_SIZE + 1);
	now = mono_ns();
	info.sent = sent;
	info.send_errors = send_errors;
	info.rate = c.rate;
	info.duration_ms = traffic_ns_to_ms(now - start);
	info.tx_start_ms = tx_started ? (int64_t)traffic_ns_to_ms(tx_start - start) : -1;
	traffic_report_format(line, sizeof(line), &st, &info);
	rc = report_write(&c, line) < 0 ? 1 : 0;
	if (!c.quiet)
		progress(&st, now - start, sent, send_errors);
	traffic_stats_free(&st);
	free(txbuf);
	free(rxbuf);
	close(fd);
	return rc;
}
