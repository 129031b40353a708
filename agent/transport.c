/* transport.c: the sync channel's life cycle shared by SCTP and TCP: who connects, reconnect backoff, callbacks, framing helpers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define TRANSPORT_BACKEND
#include "log.h"
#include "transport.h"

/* A port scanner must not flood the log: refusals past this many a minute are only counted. */
#define REFUSAL_LOGS_PER_MIN	10

static uint64_t transport_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- pure helpers */

socklen_t transport_addr_len(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

static int family_rank(int family)
{
	return family == AF_INET ? 0 : family == AF_INET6 ? 1 : 2;
}

int transport_addr_cmp(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;
	int ra = family_rank(a->ss_family), rb = family_rank(b->ss_family);
	uint16_t pa, pb;
	int c;

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->ss_family == AF_INET) {
		c = memcmp(&a4->sin_addr, &b4->sin_addr, sizeof(a4->sin_addr));
		pa = ntohs(a4->sin_port);
		pb = ntohs(b4->sin_port);
	} else if (a->ss_family == AF_INET6) {
		c = memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr));
		pa = ntohs(a6->sin6_port);
		pb = ntohs(b6->sin6_port);
	} else {
		return 0;
	}
	if (c != 0)
		return c < 0 ? -1 : 1;
	return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/* The IPv4 address in a (possibly v4-mapped IPv6) address; false if there is none. */
static bool addr_v4(const struct sockaddr *sa, struct in_addr *out)
{
	const struct sockaddr_in6 *s6 = (const void *)sa;

	if (sa->sa_family == AF_INET) {
		*out = ((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return true;
	}
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(out, &s6->sin6_addr.s6_addr[12], sizeof(*out));
		return true;
	}
	return false;
}

bool transport_addr_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	struct in_addr a4, b4;

	if (addr_v4(a, &a4) && addr_v4(b, &b4))
		return a4.s_addr == b4.s_addr;
	if (a->sa_family == AF_INET6 && b->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return false;
}

const char *transport_addr_format(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, size, "(family %d)", sa->sa_family);
	}
	return buf;
}

uint32_t transport_backoff_ms(uint32_t min_ms, uint32_t max_ms, unsigned attempt, uint32_t rnd)
{
	uint64_t d = min_ms ? min_ms : 1;
	uint64_t jitter;
	unsigned i;

	for (i = 0; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* Spread the retries of many nodes restarted together. */
	jitter = d / 4;
	if (jitter)
		d -= rnd % (jitter + 1);
	if (d < min_ms)
		d = min_ms;
	return d ? (uint32_t)d : 1;	/* a zero timer would spin */
}

void transport_tcp_header_encode(uint8_t out[TRANSPORT_TCP_HEADER], uint32_t len, uint16_t stream)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	out[4] = (uint8_t)(stream >> 8);
	out[5] = (uint8_t)stream;
}

int transport_tcp_header_decode(const uint8_t in[TRANSPORT_TCP_HEADER], uint16_t streams,
				uint32_t *len, uint16_t *stream)
{
	uint32_t l = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
	uint16_t s = (uint16_t)(in[4] << 8 | in[5]);

	if (l > TRANSPORT_FRAME_MAX || s >= streams)
		return -1;
	*len = l;
	*stream = s;
	return 0;
}

const char *transport_path_state_name(enum path_state s)
{
	switch (s) {
	case PATH_ACTIVE:
		return "ACTIVE";
	case PATH_POTENTIALLY_FAILED:
		return "POTENTIALLY_FAILED";
	case PATH_INACTIVE:
		return "INACTIVE";
	case PATH_UNKNOWN:
	default:
		return "UNKNOWN";
	}
}

/* ---------------------------------------------------------------- config */

static bool addr_ok(const struct sockaddr_storage *ss, bool need_port)
{
	const struct sockaddr *sa = (const void *)ss;
	uint16_t port;

	if (transport_addr_len(sa) == 0)
		return false;
	port = sa->sa_family == AF_INET ? ((const struct sockaddr_in *)(const void *)sa)->sin_port
					: ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port;
	return !need_port || port != 0;
}

static int config_fill(struct transport_config *c)
{
	int i;

	if (c->kind != TRANSPORT_SCTP && c->kind != TRANSPORT_TCP) {
		log_err("transport: unknown kind %d", (int)c->kind);
		return -1;
	}
	if (c->n_local < 0 || c->n_local > TRANSPORT_ADDRS_MAX ||
	    c->n_remote < 1 || c->n_remote > TRANSPORT_ADDRS_MAX) {
		log_err("transport: needs 0 to %d local and 1 to %d remote addresses",
			TRANSPORT_ADDRS_MAX, TRANSPORT_ADDRS_MAX);
		return -1;
	}
	for (i = 0; i < c->n_local; i++)
		if (!addr_ok(&c->local[i], true)) {
			log_err("transport: local address %d is not IPv4/IPv6 with a port", i + 1);
			return -1;
		}
	for (i = 0; i < c->n_remote; i++)
		if (!addr_ok(&c->remote[i], true)) {
			log_err("transport: remote address %d is not IPv4/IPv6 with a port", i + 1);
			return -1;
		}
	if (c->streams == 0)
		c->streams = 1;
	if (c->reconnect_min_ms == 0)
		c->reconnect_min_ms = TRANSPORT_RECONNECT_MIN_MS;
	if (c->reconnect_max_ms == 0)
		c->reconnect_max_ms = c->reconnect_min_ms > TRANSPORT_RECONNECT_MAX_MS ?
				      c->reconnect_min_ms : TRANSPORT_RECONNECT_MAX_MS;
	if (c->rto_min_ms == 0)
		c->rto_min_ms = TRANSPORT_RTO_MIN_MS;
	if (c->rto_max_ms == 0)
		c->rto_max_ms = c->rto_min_ms > TRANSPORT_RTO_MAX_MS ? c->rto_min_ms : TRANSPORT_RTO_MAX_MS;
	if (c->hb_interval_ms == 0)
		c->hb_interval_ms = TRANSPORT_HB_MS;
	if (c->path_max_retrans == 0)
		c->path_max_retrans = TRANSPORT_PATH_MAX_RETRANS;
	if (c->queue_max == 0)
		c->queue_max = TRANSPORT_QUEUE_DEFAULT;
	if (c->reconnect_min_ms > c->reconnect_max_ms || c->rto_min_ms > c->rto_max_ms) {
		log_err("transport: a minimum is above its maximum (reconnect %u..%u ms, rto %u..%u ms)",
			c->reconnect_min_ms, c->reconnect_max_ms, c->rto_min_ms, c->rto_max_ms);
		return -1;
	}
	if (c->path_max_retrans > UINT16_MAX) {
		log_err("transport: path_max_retrans %u is above %u", c->path_max_retrans, UINT16_MAX);
		return -1;
	}
	return 0;
}

void transport_listen_addr(const struct transport *t, int i, struct sockaddr_storage *out)
{
	const struct sockaddr_storage *r = &t->cfg.remote[0];

	if (t->cfg.n_local > 0) {
		*out = t->cfg.local[i];
		return;
	}
	memset(out, 0, sizeof(*out));
	out->ss_family = r->ss_family;
	if (r->ss_family == AF_INET)
		((struct sockaddr_in *)(void *)out)->sin_port = ((const struct sockaddr_in *)(const void *)r)->sin_port;
	else
		((struct sockaddr_in6 *)(void *)out)->sin6_port = ((const struct sockaddr_in6 *)(const void *)r)->sin6_port;
}

/*
 * With no configured local address, the first local address is the one the
 * kernel would send from to reach remote[0] (a connected UDP socket sends
 * nothing), with the shared port.
 */
static int transport_route_source(const struct transport *t, struct sockaddr_storage *out)
{
	const struct sockaddr *r = (const void *)&t->cfg.remote[0];
	socklen_t len = sizeof(*out);
	struct sockaddr_storage wild;
	int fd, rc = -1;

	fd = socket(r->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, r, transport_addr_len(r)) == 0 &&
	    getsockname(fd, (struct sockaddr *)out, &len) == 0)
		rc = 0;
	close(fd);
	if (rc == 0) {
		transport_listen_addr(t, 0, &wild);
		if (out->ss_family == AF_INET)
			((struct sockaddr_in *)(void *)out)->sin_port = ((struct sockaddr_in *)(void *)&wild)->sin_port;
		else
			((struct sockaddr_in6 *)(void *)out)->sin6_port = ((struct sockaddr_in6 *)(void *)&wild)->sin6_port;
	}
	return rc;
}

/* ---------------------------------------------------------------- life cycle */

static void transport_destroy(struct transport *t)
{
	t->ops->free(t);
	event_free(t->retry_ev);
	free(t);
}

/* Around every callback: false if the transport was freed by it. */
static void transport_enter(struct transport *t)
{
	t->busy++;
}

static bool transport_leave(struct transport *t)
{
	t->busy--;
	if (t->doomed) {
		if (t->busy == 0)
			transport_destroy(t);
		return false;
	}
	return true;
}

static void transport_attempt(struct transport *t);

static void transport_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	transport_attempt(arg);
}

static void transport_schedule_retry(struct transport *t)
{
	uint32_t ms;
	struct timeval tv;

	if (!t->initiator || !t->started || t->doomed)
		return;
	ms = transport_backoff_ms(t->cfg.reconnect_min_ms, t->cfg.reconnect_max_ms, t->attempt,
				  arc4random());
	if (t->attempt < 32)
		t->attempt++;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(t->retry_ev, &tv);
}

static void transport_attempt(struct transport *t)
{
	if (t->up || t->connecting)
		return;
	t->connecting = true;
	t->stats.connects++;
	if (t->ops->connect(t) < 0) {
		t->connecting = false;
		t->stats.connect_failures++;
		transport_schedule_retry(t);
	}
}

struct transport *transport_new(struct event_base *base, const struct transport_config *cfg,
				const struct transport_callbacks *cb, void *ctx)
{
	struct transport *t;

	if (!base || !cfg || !cb || !cb->frame) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *cfg;
	if (config_fill(&t->cfg) < 0) {
		free(t);
		errno = EINVAL;
		return NULL;
	}
	t->base = base;
	t->cb = *cb;
	t->ctx = ctx;
	t->ops = cfg->kind == TRANSPORT_SCTP ? &transport_sctp_backend : &transport_tcp_backend;
	snprintf(t->name, sizeof(t->name), "%s", cfg->kind == TRANSPORT_SCTP ? "sctp" : "tcp");
	t->retry_ev = evtimer_new(base, transport_retry_cb, t);
	if (!t->retry_ev) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

int transport_start(struct transport *t)
{
	struct sockaddr_storage first;
	char a[TRANSPORT_ADDRSTRLEN], b[TRANSPORT_ADDRSTRLEN];
	struct sigaction sa;
	int c;

	if (t->started) {
		errno = EALREADY;
		return -1;
	}
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);

	if (t->cfg.n_local > 0) {
		first = t->cfg.local[0];
	} else if (transport_route_source(t, &first) < 0) {
		log_err("%s: no route to %s to pick the local address from: %m", t->name,
			transport_addr_format((const void *)&t->cfg.remote[0], b, sizeof(b)));
		return -1;
	}
	c = transport_addr_cmp(&first, &t->cfg.remote[0]);
	transport_addr_format((const void *)&first, a, sizeof(a));
	transport_addr_format((const void *)&t->cfg.remote[0], b, sizeof(b));
	if (c == 0) {
		log_err("%s: local %s and remote %s are the same address", t->name, a, b);
		errno = EINVAL;
		return -1;
	}
	t->initiator = c < 0;
	log_info("%s: local %s %s remote %s: this node %s", t->name, a, c < 0 ? "<" : ">", b,
		 t->initiator ? "connects" : "accepts");

	if (t->ops->listen(t) < 0)
		return -1;
	t->started = true;
	if (t->initiator)
		transport_attempt(t);
	return 0;
}

bool transport_on_up(struct transport *t)
{
	uint64_t gen = t->generation;

	t->connecting = false;
	t->up = true;
	t->up_since_ms = transport_now_ms();
	t->stats.ups++;
	evtimer_del(t->retry_ev);
	if (t->attempt > 1)
		log_info("%s: association up after %u attempts", t->name, t->attempt);
	else
		log_info("%s: association up", t->name);
	if (!t->cb.up)
		return true;
	transport_enter(t);
	t->cb.up(t->ctx);
	return transport_leave(t) && t->generation == gen;
}

/* The association (or the attempt) is gone and the backend closed it. */
static bool transport_gone(struct transport *t, const char *why, bool reset)
{
	bool was_up = t->up;

	t->up = false;
	t->connecting = false;
	t->generation++;
	if (was_up) {
		t->stats.downs++;
		/* Backoff starts over only after an association that lasted. */
		if (transport_now_ms() - t->up_since_ms >= t->cfg.reconnect_max_ms)
			t->attempt = 0;
		if (reset)
			log_info("%s: association reset: %s", t->name, why);
		else
			log_warn("%s: association lost: %s", t->name, why);
	} else if (!reset) {
		t->stats.connect_failures++;
		/* A peer that is down for long would log a line every reconnect_max. */
		if (t->attempt == 0)
			log_warn("%s: cannot connect: %s (retrying)", t->name, why);
		else
			log_debug("%s: cannot connect: %s (attempt %u)", t->name, why, t->attempt);
	}
	transport_schedule_retry(t);
	if (!was_up || !t->cb.down)
		return true;
	transport_enter(t);
	t->cb.down(t->ctx, why);
	return transport_leave(t);
}

bool transport_on_lost(struct transport *t, const char *why)
{
	return transport_gone(t, why, false);
}

bool transport_on_frame(struct transport *t, uint16_t stream, const uint8_t *buf, size_t len)
{
	uint64_t gen = t->generation;

	t->stats.frames_in++;
	t->stats.bytes_in += len;
	t->last_frame_ms = transport_now_ms();
	transport_enter(t);
	t->cb.frame(t->ctx, stream, buf, len);
	return transport_leave(t) && t->generation == gen;
}

bool transport_on_path(struct transport *t, const struct sockaddr *addr, enum path_state s)
{
	uint64_t gen = t->generation;
	char a[TRANSPORT_ADDRSTRLEN];

	log_info("%s: path %s %s", t->name, transport_addr_format(addr, a, sizeof(a)),
		 transport_path_state_name(s));
	if (!t->cb.path)
		return true;
	transport_enter(t);
	t->cb.path(t->ctx, addr, s);
	return transport_leave(t) && t->generation == gen;
}

bool transport_accept_ok(struct transport *t, const struct sockaddr *peer)
{
	char a[TRANSPORT_ADDRSTRLEN];
	const char *why = "not a configured remote address";
	uint64_t now = transport_now_ms();
	int i;

	for (i = 0; i < t->cfg.n_remote; i++)
		if (transport_addr_same_host(peer, (const void *)&t->cfg.remote[i])) {
			if (t->up && now - t->last_frame_ms < TRANSPORT_LIVE_MS) {
				why = "the live association with the peer still carries frames";
				break;
			}
			if (!t->initiator)
				return true;
			why = "the peer connects but this node is the one that connects "
			      "(check that both configurations mirror each other)";
			break;
		}
	t->stats.refused++;
	if (now - t->refusal_window_ms >= 60000) {
		if (t->refusals_suppressed)
			log_warn("%s: %u more incoming associations refused", t->name,
				 t->refusals_suppressed);
		t->refusal_window_ms = now;
		t->refusals_logged = t->refusals_suppressed = 0;
	}
	if (t->refusals_logged < REFUSAL_LOGS_PER_MIN) {
		t->refusals_logged++;
		log_warn("%s: refused an association from %s: %s", t->name,
			 transport_addr_format(peer, a, sizeof(a)), why);
	} else {
		t->refusals_suppressed++;
	}
	return false;
}

int transport_send(struct transport *t, uint16_t stream, const uint8_t *buf, size_t len)
{
	if (!t->up) {
		errno = ENOTCONN;
		return -1;
	}
	if (len > TRANSPORT_FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (stream >= t->cfg.streams) {
		errno = EINVAL;
		return -1;
	}
	if (t->ops->queued(t) + len > t->cfg.queue_max) {
		t->stats.queue_full++;
		errno = ENOBUFS;
		return -1;
	}
	if (t->ops->send(t, stream, buf, len) < 0)
		return -1;
	t->stats.frames_out++;
	t->stats.bytes_out += len;
	return 0;
}

void transport_reset(struct transport *t, const char *why)
{
	if (!t->started || t->doomed)
		return;
	if (!t->up && !t->connecting) {
		/* Nothing to drop: an initiator already waits for its next attempt. */
		return;
	}
	t->ops->close(t, true);
	transport_gone(t, why, true);
}

int transport_paths(const struct transport *t, struct transport_path_info *out, int max)
{
	if (!t->up || max <= 0)
		return 0;
	return t->ops->paths(t, out, max);
}

bool transport_is_up(const struct transport *t)
{
	return t->up;
}

bool transport_is_initiator(const struct transport *t)
{
	return t->initiator;
}

size_t transport_queued_bytes(const struct transport *t)
{
	return t->up ? t->ops->queued(t) : 0;
}

void transport_get_stats(const struct transport *t, struct transport_stats *out)
{
	*out = t->stats;
}

void transport_free(struct transport *t)
{
	if (!t || t->doomed)
		return;
	evtimer_del(t->retry_ev);
	if (t->started) {
		t->ops->close(t, false);
		t->ops->unlisten(t);
	}
	t->started = false;
	t->up = false;
	t->connecting = false;
	t->generation++;
	if (t->busy) {
		t->doomed = true;
		return;
	}
	transport_destroy(t);
}
