/* sync_inject.c: lab tool that attacks hasyncd's sync port (garbage, a HELLO under a wrong key, a replayed association, a replayed frame, a tampered frame) and prints one JSON line of what it sent and saw. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/sctp.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "seal.h"
#include "transport.h"
#include "wire.h"

/*
 * The tool plays the initiator of docs/protocol.md sections 6 and 7 with
 * the agent's own codec (wire.c) and crypto (seal.c), so what it sends is
 * byte for byte what a hasyncd peer would send, except for the one thing
 * each mode gets wrong on purpose. It judges nothing: the scenario reads
 * the verdict from the daemon's counters. It only reports what it did and
 * what came back, so that a scenario can tell "rejected at once" from
 * "rejected later for another reason".
 *
 * Exit status: 0 the mode was carried out (everything it is meant to send
 * was sent), 1 usage or local error, 2 the peer refused or ended the
 * association before the mode could be carried out.
 */

#define INJECT_GARBAGE_LEN	200
#define INJECT_PSK_MAX		1024	/* docs/protocol.md section 6 */
#define INJECT_MSG_MAX		(SEAL_FRAME_MAX + 64)
#define INJECT_ASSOCS_MAX	2
#define INJECT_WRONG_PSK_LEN	32
#define INJECT_STALE_PAUSE_MS	200	/* lets the peer see the first association go */

enum mode { M_GARBAGE, M_BAD_HELLO, M_STALE_HELLO, M_REPLAY, M_TAMPER };

static const char *const mode_names[] = {
	[M_GARBAGE] = "garbage", [M_BAD_HELLO] = "bad-hello", [M_STALE_HELLO] = "stale-hello",
	[M_REPLAY] = "replay", [M_TAMPER] = "tamper",
};

struct opts {
	enum mode mode;
	bool tcp;
	struct sockaddr_storage bind, peer;
	const char *bind_text, *peer_text, *key_file, *node_id;
	uint32_t spi;			/* host order */
	bool have_spi;
	unsigned streams;
	unsigned timeout_ms;		/* per wait for the peer */
};

/* What happened on one association, for the JSON line. */
struct assoc {
	int fd;
	bool tcp;
	uint64_t t0_ms;
	double last_send_ms;		/* now_ms_fine(); 0 before the first */
	struct json_object *sent;	/* array of what we sent */

	/* The handshake. */
	uint8_t nonce_i[SEAL_NONCE_LEN];
	struct seal_session *seal;
	const char *peer_hello;		/* none, verified, unverified, bad-mac, malformed, stale-echo */
	char peer_id[WIRE_NODE_ID_MAX + 1];

	/* What the peer sent once keyed. */
	uint64_t peer_frames, peer_unopened;
	struct json_object *peer_records;	/* type name -> count */
	uint64_t peer_acked;

	/* How it ended. */
	const char *end;		/* NULL while open */
	char end_text[96];
	double end_after_ms;		/* since our last send */
};

struct inject {
	struct opts o;
	struct seal_psk *psk;
	struct assoc a[INJECT_ASSOCS_MAX];
	int n_assoc;
	uint64_t valid_records;		/* records in frames the peer must be able to open */
	const char *error;
	uint8_t *msg;			/* one received message */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Finer, for how long the peer took to drop an association. */
static double now_ms_fine(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sync_inject --bind ADDR --peer ADDR:PORT --mode MODE [--key FILE] [--spi HEX]\n"
		"                   [--tcp] [--node-id ID] [--streams N] [--timeout MS]\n"
		"modes: garbage, bad-hello, stale-hello (key), replay (key, spi), tamper (key, spi)\n");
	exit(1);
}

/* ---------------------------------------------------------------- addresses and options */

static int parse_host(const char *text, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return 0;
	}
	return -1;
}

static socklen_t addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* "192.0.2.1:7788" or "[2001:db8::1]:7788". */
static int parse_host_port(const char *text, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(text, ':');
	size_t hl;
	char *end;
	unsigned long port;

	if (!colon)
		return -1;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return -1;
	hl = (size_t)(colon - text);
	if (hl >= 2 && text[0] == '[' && text[hl - 1] == ']') {
		text++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, text, hl);
	host[hl] = '\0';
	return parse_host(host, (uint16_t)port, ss);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "peer", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "key", required_argument, NULL, 'k' },
		{ "spi", required_argument, NULL, 's' },
		{ "tcp", no_argument, NULL, 't' },
		{ "node-id", required_argument, NULL, 'n' },
		{ "streams", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	char *end;
	int c, mode = -1;
	size_t i;

	memset(o, 0, sizeof(*o));
	o->node_id = "sync-inject";
	o->streams = 8;		/* hasyncd's default */
	o->timeout_ms = 3000;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bind_text = optarg;
			if (parse_host(optarg, 0, &o->bind) < 0)
				usage();
			break;
		case 'p':
			o->peer_text = optarg;
			if (parse_host_port(optarg, &o->peer) < 0)
				usage();
			break;
		case 'm':
			for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
				if (!strcmp(optarg, mode_names[i]))
					mode = (int)i;
			if (mode < 0)
				usage();
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 's':
			errno = 0;
			v = strtoul(optarg, &end, 16);
			if (errno || *end || end == optarg || v == 0 || v > UINT32_MAX)
				usage();
			o->spi = (uint32_t)v;
			o->have_spi = true;
			break;
		case 't':
			o->tcp = true;
			break;
		case 'n':
			o->node_id = optarg;
			if (strlen(optarg) == 0 || strlen(optarg) > WIRE_NODE_ID_MAX)
				usage();
			break;
		case 'S':
			v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || v > 64)
				usage();
			o->streams = (unsigned)v;
			break;
		case 'T':
			v = strtoul(optarg, &end, 10);
			if (*end || v < 100 || v > 60000)
				usage();
			o->timeout_ms = (unsigned)v;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || mode < 0 || !o->bind_text || !o->peer_text)
		usage();
	o->mode = (enum mode)mode;
	if (o->bind.ss_family != o->peer.ss_family)
		usage();
	if (o->mode >= M_STALE_HELLO && !o->key_file)
		usage();
	if ((o->mode == M_REPLAY || o->mode == M_TAMPER) && !o->have_spi)
		usage();
}

/* The key file's bytes, as hasyncd reads them; wiped once imported. */
static int load_psk(const char *path, struct seal_psk **out)
{
	uint8_t buf[INJECT_PSK_MAX + 1];
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	rc = len >= SEAL_PSK_MIN && len <= INJECT_PSK_MAX ? seal_psk_new(buf, len, out) : -1;
	explicit_bzero(buf, sizeof(buf));
	return rc == SEAL_OK ? 0 : -1;
}

/* ---------------------------------------------------------------- the association */

static void assoc_end(struct assoc *a, const char *end, const char *detail)
{
	if (a->end)
		return;
	a->end = end;
	snprintf(a->end_text, sizeof(a->end_text), "%s%s%s", end, detail ? ": " : "",
		 detail ? detail : "");
	a->end_after_ms = a->last_send_ms > 0 ? now_ms_fine() - a->last_send_ms : -1;
}

static int sctp_setup(int fd, unsigned streams)
{
	struct sctp_initmsg init = {
		.sinit_num_ostreams = (uint16_t)streams,
		.sinit_max_instreams = (uint16_t)streams,
		.sinit_max_attempts = 2,
	};
	struct sctp_event ev = { .se_type = SCTP_DATA_IO_EVENT, .se_on = 1 };
	struct sctp_event_subscribe old;
	int one = 1;

	if (setsockopt(fd, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof(init)) < 0)
		return -1;
	/* The stream of each message comes with it only with this subscription. */
	if (setsockopt(fd, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev)) < 0) {
		memset(&old, 0, sizeof(old));
		old.sctp_data_io_event = 1;
		if (setsockopt(fd, IPPROTO_SCTP, SCTP_EVENTS, &old, sizeof(old)) < 0)
			return -1;
	}
	setsockopt(fd, IPPROTO_SCTP, SCTP_NODELAY, &one, sizeof(one));
	return 0;
}

/* Connect within the timeout: 0, -1 the peer did not take it, -2 a local failure. */
static int assoc_open(struct inject *in, struct assoc *a)
{
	const struct opts *o = &in->o;
	socklen_t alen = addr_len((const struct sockaddr *)&o->peer);
	struct pollfd pfd;
	int err = 0, fl;
	socklen_t elen = sizeof(err);

	memset(a, 0, sizeof(*a));
	a->tcp = o->tcp;
	a->t0_ms = now_ms();
	a->sent = json_object_new_array();
	a->peer_records = json_object_new_object();
	a->peer_hello = "none";
	a->fd = socket(o->peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
		       o->tcp ? IPPROTO_TCP : IPPROTO_SCTP);
	if (a->fd < 0 || (!o->tcp && sctp_setup(a->fd, o->streams) < 0)) {
		assoc_end(a, "no-socket", strerror(errno));
		in->error = "cannot make the socket";
		return -2;
	}
	if (o->tcp) {
		int one = 1;

		setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (bind(a->fd, (const struct sockaddr *)&o->bind,
		 addr_len((const struct sockaddr *)&o->bind)) < 0) {
		assoc_end(a, "no-bind", strerror(errno));
		in->error = "cannot bind the local address";
		return -2;
	}
	fl = fcntl(a->fd, F_GETFL);
	fcntl(a->fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(a->fd, (const struct sockaddr *)&o->peer, alen) < 0 && errno != EINPROGRESS) {
		assoc_end(a, "connect-failed", strerror(errno));
		return -1;
	}
	pfd.fd = a->fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, (int)o->timeout_ms) <= 0) {
		assoc_end(a, "connect-failed", "timeout");
		return -1;
	}
	if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		assoc_end(a, "connect-failed", strerror(err));
		return -1;
	}
	fcntl(a->fd, F_SETFL, fl & ~O_NONBLOCK);
	return 0;
}

static void assoc_close(struct assoc *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	seal_session_free(a->seal);
	a->seal = NULL;
	explicit_bzero(a->nonce_i, sizeof(a->nonce_i));
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One message: an SCTP message on a stream, or on TCP the transport's
 * framing (transport.h: u32 length, u16 stream). raw skips the framing,
 * for garbage that must reach the peer's parser as it is.
 */
static int assoc_send_raw(struct assoc *a, uint16_t stream, const uint8_t *buf, size_t len, bool raw)
{
	int rc;

	if (a->end)
		return -1;
	if (a->tcp) {
		uint8_t h[TRANSPORT_TCP_HEADER];

		transport_tcp_header_encode(h, (uint32_t)len, stream);
		rc = (raw ? 0 : write_all(a->fd, h, sizeof(h))) == 0 ? write_all(a->fd, buf, len) : -1;
	} else {
		rc = sctp_sendmsg(a->fd, buf, len, NULL, 0, 0, 0, stream, 0, 0) == (ssize_t)len ? 0 : -1;
	}
	if (rc < 0) {
		assoc_end(a, errno == ECONNRESET || errno == EPIPE ? "abort" : "error",
			  strerror(errno));
		return -1;
	}
	a->last_send_ms = now_ms_fine();
	return 0;
}

static void note_sent(struct assoc *a, const char *what, size_t bytes, int stream, int64_t counter,
		      const char *records)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "what", json_object_new_string(what));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)bytes));
	if (stream >= 0)
		json_object_object_add(o, "stream", json_object_new_int(stream));
	if (counter >= 0)
		json_object_object_add(o, "counter", json_object_new_int64(counter));
	if (records)
		json_object_object_add(o, "records", json_object_new_string(records));
	json_object_object_add(o, "at_ms", json_object_new_int64((int64_t)(now_ms() - a->t0_ms)));
	json_object_array_add(a->sent, o);
}

/* kind says how to show it: a frame's counter is read back from its header. */
enum sent_kind { SENT_RAW, SENT_HELLO, SENT_FRAME };

static int assoc_send(struct assoc *a, enum sent_kind kind, const char *what, uint16_t stream,
		      const uint8_t *buf, size_t len, const char *records)
{
	int64_t counter = -1;

	if (kind == SENT_FRAME && len >= SEAL_HDR_LEN) {
		counter = 0;
		for (int i = 2; i < SEAL_HDR_LEN; i++)
			counter = counter << 8 | buf[i];
	}
	if (assoc_send_raw(a, stream, buf, len, kind == SENT_RAW) < 0)
		return -1;
	note_sent(a, what, len, kind == SENT_RAW ? -1 : stream, counter, records);
	return 0;
}

/*
 * Wait up to ms for one message: 1 with *len and *stream, 0 when the
 * association ended (recorded in a->end), -1 on timeout.
 */
static int assoc_recv(struct inject *in, struct assoc *a, unsigned ms, size_t *len, uint16_t *stream)
{
	uint64_t deadline = now_ms() + ms;
	size_t got = 0;

	for (;;) {
		struct pollfd pfd = { .fd = a->fd, .events = POLLIN };
		uint64_t now = now_ms();
		struct sctp_sndrcvinfo sinfo;
		int flags = 0, pr;
		ssize_t n;

		if (a->end)
			return 0;
		if (now >= deadline)
			return -1;
		pr = poll(&pfd, 1, (int)(deadline - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1;
		if (a->tcp) {
			uint8_t h[TRANSPORT_TCP_HEADER];
			uint32_t flen;

			n = recv(a->fd, h, sizeof(h), MSG_WAITALL);
			if (n == (ssize_t)sizeof(h)) {
				if (transport_tcp_header_decode(h, (uint16_t)in->o.streams, &flen, stream) < 0 ||
				    flen > INJECT_MSG_MAX) {
					assoc_end(a, "error", "bad framing from the peer");
					return 0;
				}
				n = flen ? recv(a->fd, in->msg, flen, MSG_WAITALL) : 0;
				if (n == (ssize_t)flen) {
					*len = flen;
					return 1;
				}
			}
			if (n == 0 || (n > 0 && n < (ssize_t)sizeof(h)))
				assoc_end(a, "shutdown", NULL);
			else if (n < 0)
				assoc_end(a, errno == ECONNRESET ? "abort" : "error", strerror(errno));
			else
				assoc_end(a, "shutdown", "in the middle of a frame");
			return 0;
		}
		memset(&sinfo, 0, sizeof(sinfo));
		n = sctp_recvmsg(a->fd, in->msg + got, INJECT_MSG_MAX - got, NULL, NULL, &sinfo, &flags);
		if (n == 0) {
			assoc_end(a, "shutdown", NULL);
			return 0;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			assoc_end(a, errno == ECONNRESET ? "abort" : "error", strerror(errno));
			return 0;
		}
		if (flags & MSG_NOTIFICATION)
			continue;
		got += (size_t)n;
		if (!(flags & MSG_EOR)) {
			if (got >= INJECT_MSG_MAX) {
				assoc_end(a, "error", "message from the peer too big");
				return 0;
			}
			continue;
		}
		*len = got;
		*stream = sinfo.sinfo_stream;
		return 1;
	}
}

/* A frame from the peer, once keyed: open it, count its records, note ACKs. */
static void assoc_peer_frame(struct inject *in, struct assoc *a, uint16_t stream, size_t len)
{
	uint8_t *pt = malloc(SEAL_PLAINTEXT_MAX);
	struct wire_record rec;
	uint16_t got_stream;
	size_t off = 0, used;
	int n, rc;

	if (!pt)
		return;
	n = seal_open(a->seal, in->msg, len, pt, SEAL_PLAINTEXT_MAX, &got_stream);
	if (n < 0 || got_stream != stream) {
		a->peer_unopened++;
		free(pt);
		return;
	}
	a->peer_frames++;
	while (off < (size_t)n) {
		struct json_object *c;
		const char *name;

		rc = wire_decode(pt + off, (size_t)n - off, &rec, &used);
		if (rc < 0 || used == 0)
			break;
		off += used;
		name = wire_type_name(rec.type);
		if (json_object_object_get_ex(a->peer_records, name, &c))
			json_object_set_int64(c, json_object_get_int64(c) + 1);
		else
			json_object_object_add(a->peer_records, name, json_object_new_int64(1));
		if (rc == WIRE_OK && rec.type == WIRE_ACK && rec.u.ack_seq > a->peer_acked)
			a->peer_acked = rec.u.ack_seq;
		explicit_bzero(&rec, sizeof(rec));
	}
	explicit_bzero(pt, SEAL_PLAINTEXT_MAX);
	free(pt);
}

/* A message before we have keys: only a HELLO makes sense; say what it was. */
static void assoc_peer_unkeyed(struct inject *in, struct assoc *a, size_t len)
{
	struct wire_record rec;
	size_t used;

	if (wire_decode(in->msg, len, &rec, &used) != WIRE_OK || rec.type != WIRE_HELLO)
		a->peer_hello = "malformed";
	else if (!in->psk)
		a->peer_hello = "unverified";
	else
		a->peer_hello = seal_hello_verify(in->psk, in->msg, len) == SEAL_OK ? "verified" : "bad-mac";
	explicit_bzero(&rec, sizeof(rec));
}

/*
 * Read what the peer sends for up to ms, or until done(a) holds: frames
 * are opened once keyed; anything before keys is taken for nothing here.
 */
static void assoc_pump(struct inject *in, struct assoc *a, unsigned ms, bool (*done)(const struct assoc *))
{
	uint64_t deadline = now_ms() + ms;
	uint16_t stream = 0;
	size_t len;

	while (!a->end && !(done && done(a))) {
		uint64_t now = now_ms();

		if (now >= deadline || assoc_recv(in, a, (unsigned)(deadline - now), &len, &stream) != 1)
			return;
		if (a->seal)
			assoc_peer_frame(in, a, stream, len);
		else
			assoc_peer_unkeyed(in, a, len);
	}
}

static bool peer_established(const struct assoc *a)
{
	return a->peer_frames > 0;
}

static bool peer_acked_one(const struct assoc *a)
{
	return a->peer_acked >= 1;
}

/* ---------------------------------------------------------------- HELLO */

/* Our HELLO, signed with psk (the real one or a wrong one), into buf. */
static int make_hello(const struct inject *in, const struct seal_psk *psk, const uint8_t nonce[SEAL_NONCE_LEN],
		      uint8_t *buf, size_t cap)
{
	struct wire_hello h;
	int n;

	memset(&h, 0, sizeof(h));
	h.proto_version = WIRE_VERSION;
	snprintf(h.node_id, sizeof(h.node_id), "%s", in->o.node_id);
	memcpy(h.nonce, nonce, SEAL_NONCE_LEN);
	h.caps = WIRE_CAP_ESN | WIRE_CAP_BATCH;
	n = wire_encode_hello(buf, cap, 0, &h);
	if (n < 0 || seal_hello_sign(psk, buf, (size_t)n) != SEAL_OK)
		return -1;
	return n;
}

/*
 * Wait for the responder's HELLO and check it as an initiator would
 * (section 6, step 3); on success derive the session keys. 0 keyed, -1 not.
 */
static int await_peer_hello(struct inject *in, struct assoc *a, bool derive)
{
	struct wire_record rec;
	uint16_t stream;
	size_t len, used;
	int rc;

	if (assoc_recv(in, a, in->o.timeout_ms, &len, &stream) != 1)
		return -1;
	rc = wire_decode(in->msg, len, &rec, &used);
	if (rc != WIRE_OK || used != len || rec.type != WIRE_HELLO) {
		a->peer_hello = "malformed";
		return -1;
	}
	snprintf(a->peer_id, sizeof(a->peer_id), "%s", rec.u.hello.node_id);
	if (seal_hello_verify(in->psk, in->msg, len) != SEAL_OK) {
		a->peer_hello = "bad-mac";
		return -1;
	}
	if (!rec.u.hello.has_peer_nonce ||
	    memcmp(rec.u.hello.peer_nonce, a->nonce_i, SEAL_NONCE_LEN)) {
		a->peer_hello = "stale-echo";
		return -1;
	}
	a->peer_hello = "verified";
	if (!derive)
		return 0;
	rc = seal_session_new(in->psk, true, a->nonce_i, rec.u.hello.nonce, in->o.node_id,
			      rec.u.hello.node_id, in->o.streams, &a->seal);
	explicit_bzero(&rec, sizeof(rec));
	return rc == SEAL_OK ? 0 : -1;
}

/* HELLO out, the peer's HELLO back, keys: the legitimate start of an association. */
static int handshake(struct inject *in, struct assoc *a, uint8_t *hello, size_t cap, size_t *hello_len)
{
	int n;

	if (seal_random(a->nonce_i, sizeof(a->nonce_i)) != SEAL_OK) {
		in->error = "no random bytes";
		return -1;
	}
	n = make_hello(in, in->psk, a->nonce_i, hello, cap);
	if (n < 0) {
		in->error = "cannot build the HELLO";
		return -1;
	}
	if (hello_len)
		*hello_len = (size_t)n;
	if (assoc_send(a, SENT_HELLO, "hello", 0, hello, (size_t)n, NULL) < 0)
		return -1;
	return await_peer_hello(in, a, true);
}

/* Open an association and shake hands: 0, or the exit status to give up with. */
static int start_keyed(struct inject *in, struct assoc *a, uint8_t *hello, size_t cap, size_t *hello_len)
{
	int rc = assoc_open(in, a);

	if (rc < 0)
		return rc == -2 ? 1 : 2;
	if (handshake(in, a, hello, cap, hello_len) < 0)
		return in->error ? 1 : 2;
	return 0;
}

/* ---------------------------------------------------------------- frames */

static int seal_records(struct assoc *a, const uint8_t *pt, size_t len, uint8_t *frame, size_t cap)
{
	return seal_frame(a->seal, 0, pt, len, frame, cap);
}

static int heartbeat_frame(struct assoc *a, uint8_t *frame, size_t cap)
{
	uint8_t rec[64];
	int n = wire_encode_heartbeat(rec, sizeof(rec), 0, wall_ms());

	return n < 0 ? n : seal_records(a, rec, (size_t)n, frame, cap);
}

/*
 * An SA_ADD for a made-up ESP SA of the outside VIP (192.0.2.1 ->
 * 192.0.2.100, the lab's addresses) with a random AEAD key: record
 * number 1, the first state record of the association.
 */
static int sa_add_frame(const struct inject *in, struct assoc *a, uint8_t *frame, size_t cap)
{
	uint8_t rec[2048];
	struct ha_sa sa;
	int n;

	memset(&sa, 0, sizeof(sa));
	sa.family = AF_INET;
	sa.id.daddr.family = AF_INET;
	inet_pton(AF_INET, "192.0.2.100", &sa.id.daddr.v4);
	sa.id.spi = htonl(in->o.spi);
	sa.id.proto = IPPROTO_ESP;
	sa.saddr.family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &sa.saddr.v4);
	sa.mode = 1;		/* tunnel */
	sa.reqid = 4242;
	sa.replay_window = 32;
	sa.sel.family = AF_INET;
	sa.sel.saddr.family = sa.sel.daddr.family = AF_INET;
	inet_pton(AF_INET, "10.1.0.0", &sa.sel.saddr.v4);
	inet_pton(AF_INET, "10.2.99.0", &sa.sel.daddr.v4);
	sa.sel.prefixlen_s = sa.sel.prefixlen_d = 24;
	snprintf(sa.aead.name, sizeof(sa.aead.name), "rfc4106(gcm(aes))");
	sa.aead.key_len_bits = 288;
	sa.aead.icv_len_bits = 128;
	if (seal_random(sa.aead.key, 36) != SEAL_OK)
		return -1;
	sa.lft.soft_byte_limit = sa.lft.hard_byte_limit = UINT64_MAX;
	sa.lft.soft_packet_limit = sa.lft.hard_packet_limit = UINT64_MAX;
	sa.curlft.add_time = wall_ms() / 1000;
	sa.synced_at_ms = wall_ms();
	n = wire_encode_sa_add(rec, sizeof(rec), 1, 0, &sa);
	explicit_bzero(&sa, sizeof(sa));
	if (n > 0)
		n = seal_records(a, rec, (size_t)n, frame, cap);
	explicit_bzero(rec, sizeof(rec));
	return n;
}

/* ---------------------------------------------------------------- modes */

/* After the last thing sent: the peer's reaction, up to the timeout. */
static void await_end(struct inject *in, struct assoc *a)
{
	assoc_pump(in, a, in->o.timeout_ms, NULL);
	if (!a->end)
		assoc_end(a, "open", "the peer kept the association past the timeout");
}

static int mode_garbage(struct inject *in)
{
	struct assoc *a = &in->a[in->n_assoc++];
	uint8_t junk[INJECT_GARBAGE_LEN];

	int rc;

	if ((rc = assoc_open(in, a)) < 0)
		return rc == -2 ? 1 : 2;
	if (seal_random(junk, sizeof(junk)) != SEAL_OK) {
		in->error = "no random bytes";
		return 1;
	}
	if (assoc_send(a, SENT_RAW, "garbage", 0, junk, sizeof(junk), NULL) < 0)
		return 2;
	await_end(in, a);
	return 0;
}

static int mode_bad_hello(struct inject *in)
{
	struct assoc *a = &in->a[in->n_assoc++];
	uint8_t wrong[INJECT_WRONG_PSK_LEN], hello[512];
	struct seal_psk *psk = NULL;
	int n, rc;

	if ((rc = assoc_open(in, a)) < 0)
		return rc == -2 ? 1 : 2;
	if (seal_random(wrong, sizeof(wrong)) != SEAL_OK ||
	    seal_psk_new(wrong, sizeof(wrong), &psk) != SEAL_OK ||
	    seal_random(a->nonce_i, sizeof(a->nonce_i)) != SEAL_OK) {
		explicit_bzero(wrong, sizeof(wrong));
		seal_psk_free(psk);
		in->error = "cannot make the wrong key";
		return 1;
	}
	explicit_bzero(wrong, sizeof(wrong));
	n = make_hello(in, psk, a->nonce_i, hello, sizeof(hello));
	seal_psk_free(psk);
	if (n < 0) {
		in->error = "cannot build the HELLO";
		return 1;
	}
	if (assoc_send(a, SENT_HELLO, "hello (wrong key)", 0, hello, (size_t)n, NULL) < 0)
		return 2;
	/* A HELLO back would mean the peer took ours: it shows as peer_hello. */
	await_end(in, a);
	return 0;
}

/*
 * A recorded association played back: the HELLO passes the MAC check
 * (it is genuine) but the old frame was sealed with keys that depended on
 * the old responder nonce, so it cannot open under the new ones.
 */
static int mode_stale_hello(struct inject *in)
{
	struct assoc *a1 = &in->a[in->n_assoc++], *a2;
	uint8_t hello[512], frame[256], old_nonce[SEAL_NONCE_LEN];
	size_t hello_len = 0;
	int n, rc;

	if ((rc = start_keyed(in, a1, hello, sizeof(hello), &hello_len)) != 0)
		return rc;
	n = heartbeat_frame(a1, frame, sizeof(frame));
	if (n < 0) {
		in->error = "cannot seal a HEARTBEAT";
		return 1;
	}
	if (assoc_send(a1, SENT_FRAME, "frame", 0, frame, (size_t)n, "HEARTBEAT") < 0)
		return 2;
	in->valid_records++;
	/* The peer's snapshot shows it took our frame: the association was genuine. */
	assoc_pump(in, a1, in->o.timeout_ms, peer_established);
	if (!peer_established(a1)) {
		in->error = "the peer did not answer the first association's frame";
		return 2;
	}
	assoc_pump(in, a1, 100, NULL);		/* drain, so close() is a SHUTDOWN */
	assoc_end(a1, "closed-by-us", NULL);
	/* The replayed HELLO carries the old nonce: the answer's echo is checked against it. */
	memcpy(old_nonce, a1->nonce_i, SEAL_NONCE_LEN);
	assoc_close(a1);
	sleep_ms(INJECT_STALE_PAUSE_MS);

	a2 = &in->a[in->n_assoc++];
	rc = assoc_open(in, a2);
	memcpy(a2->nonce_i, old_nonce, SEAL_NONCE_LEN);
	explicit_bzero(old_nonce, sizeof(old_nonce));
	if (rc < 0)
		return rc == -2 ? 1 : 2;
	if (assoc_send(a2, SENT_HELLO, "hello (replayed)", 0, hello, hello_len, NULL) < 0)
		return 2;
	/* The responder answers a genuine HELLO, however old: step 2 is as far as it gets. */
	await_peer_hello(in, a2, false);
	if (assoc_send(a2, SENT_FRAME, "frame (replayed)", 0, frame, (size_t)n, "HEARTBEAT") < 0)
		return 2;
	await_end(in, a2);
	return 0;
}

static int mode_replay(struct inject *in)
{
	struct assoc *a = &in->a[in->n_assoc++];
	uint8_t hello[512], frame[4096];
	int n, rc;

	if ((rc = start_keyed(in, a, hello, sizeof(hello), NULL)) != 0)
		return rc;
	n = sa_add_frame(in, a, frame, sizeof(frame));
	if (n < 0) {
		in->error = "cannot seal the SA_ADD";
		return 1;
	}
	if (assoc_send(a, SENT_FRAME, "frame", 0, frame, (size_t)n, "SA_ADD") < 0)
		return 2;
	in->valid_records++;
	/* The ACK says the fresh copy was applied before the replayed one goes. */
	assoc_pump(in, a, in->o.timeout_ms, peer_acked_one);
	if (assoc_send(a, SENT_FRAME, "frame (replayed copy)", 0, frame, (size_t)n, "SA_ADD") < 0)
		return 2;
	explicit_bzero(frame, sizeof(frame));
	await_end(in, a);
	return 0;
}

static int mode_tamper(struct inject *in)
{
	struct assoc *a = &in->a[in->n_assoc++];
	uint8_t hello[512], frame[4096];
	int n, rc;

	if ((rc = start_keyed(in, a, hello, sizeof(hello), NULL)) != 0)
		return rc;
	/* Established first, so the forgery meets the state that applies records. */
	n = heartbeat_frame(a, frame, sizeof(frame));
	if (n < 0 || assoc_send(a, SENT_FRAME, "frame", 0, frame, (size_t)n, "HEARTBEAT") < 0)
		return n < 0 ? 1 : 2;
	in->valid_records++;
	assoc_pump(in, a, in->o.timeout_ms, peer_established);
	n = sa_add_frame(in, a, frame, sizeof(frame));
	if (n < 0) {
		in->error = "cannot seal the SA_ADD";
		return 1;
	}
	/* One bit of the ciphertext, inside the SA_ID's SPI: the tag must catch it. */
	frame[SEAL_HDR_LEN + WIRE_HDR_LEN + WIRE_TLV_HDR_LEN] ^= 0x01;
	if (assoc_send(a, SENT_FRAME, "frame (one ciphertext bit flipped)", 0, frame, (size_t)n, "SA_ADD") < 0)
		return 2;
	explicit_bzero(frame, sizeof(frame));
	await_end(in, a);
	return 0;
}

/* ---------------------------------------------------------------- report */

static void report(const struct inject *in, int status)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	char spi[16], ms[32];
	int i;

	json_object_object_add(o, "mode", json_object_new_string(mode_names[in->o.mode]));
	json_object_object_add(o, "transport", json_object_new_string(in->o.tcp ? "tcp" : "sctp"));
	json_object_object_add(o, "bind", json_object_new_string(in->o.bind_text));
	json_object_object_add(o, "peer", json_object_new_string(in->o.peer_text));
	json_object_object_add(o, "node_id", json_object_new_string(in->o.node_id));
	if (in->o.have_spi) {
		snprintf(spi, sizeof(spi), "%08x", in->o.spi);
		json_object_object_add(o, "spi", json_object_new_string(spi));
	}
	for (i = 0; i < in->n_assoc; i++) {
		const struct assoc *a = &in->a[i];
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "sent", json_object_get(a->sent));
		json_object_object_add(j, "peer_hello", json_object_new_string(a->peer_hello));
		json_object_object_add(j, "peer_node_id", a->peer_id[0] ?
				       json_object_new_string(a->peer_id) : NULL);
		json_object_object_add(j, "peer_frames", json_object_new_int64((int64_t)a->peer_frames));
		json_object_object_add(j, "peer_frames_unopened",
				       json_object_new_int64((int64_t)a->peer_unopened));
		json_object_object_add(j, "peer_records", json_object_get(a->peer_records));
		json_object_object_add(j, "peer_acked", json_object_new_int64((int64_t)a->peer_acked));
		json_object_object_add(j, "end", json_object_new_string(a->end ? a->end : "open"));
		json_object_object_add(j, "end_detail", json_object_new_string(a->end_text));
		snprintf(ms, sizeof(ms), "%.3f", a->end_after_ms);
		json_object_object_add(j, "end_after_ms", a->end_after_ms < 0 ? NULL :
				       json_object_new_double_s(a->end_after_ms, ms));
		json_object_array_add(arr, j);
	}
	json_object_object_add(o, "associations", arr);
	/* Records the peer may count as received: the rest must never open. */
	json_object_object_add(o, "valid_records", json_object_new_int64((int64_t)in->valid_records));
	/* Did the peer end the last association (the one under attack) itself? */
	json_object_object_add(o, "peer_closed", json_object_new_boolean(
		in->n_assoc > 0 && in->a[in->n_assoc - 1].end &&
		(!strcmp(in->a[in->n_assoc - 1].end, "abort") ||
		 !strcmp(in->a[in->n_assoc - 1].end, "shutdown"))));
	json_object_object_add(o, "done", json_object_new_boolean(status == 0));
	json_object_object_add(o, "error", in->error ? json_object_new_string(in->error) : NULL);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

int main(int argc, char **argv)
{
	struct inject in;
	int status, i;

	memset(&in, 0, sizeof(in));
	parse_opts(argc, argv, &in.o);
	signal(SIGPIPE, SIG_IGN);
	in.msg = malloc(INJECT_MSG_MAX);
	if (!in.msg || seal_global_init() != SEAL_OK) {
		fprintf(stderr, "sync_inject: cannot start NSS\n");
		return 1;
	}
	if (in.o.key_file && load_psk(in.o.key_file, &in.psk) < 0) {
		fprintf(stderr, "sync_inject: cannot use the key file %s (32 to %d bytes)\n",
			in.o.key_file, INJECT_PSK_MAX);
		return 1;
	}
	switch (in.o.mode) {
	case M_GARBAGE:
		status = mode_garbage(&in);
		break;
	case M_BAD_HELLO:
		status = mode_bad_hello(&in);
		break;
	case M_STALE_HELLO:
		status = mode_stale_hello(&in);
		break;
	case M_REPLAY:
		status = mode_replay(&in);
		break;
	default:
		status = mode_tamper(&in);
		break;
	}
	if (status == 2 && !in.error)
		in.error = "the peer refused or ended the association before the mode was carried out";
	report(&in, status);
	for (i = 0; i < in.n_assoc; i++) {
		assoc_close(&in.a[i]);
		json_object_put(in.a[i].sent);
		json_object_put(in.a[i].peer_records);
	}
	seal_psk_free(in.psk);
	seal_global_shutdown();
	free(in.msg);
	return status;
}
