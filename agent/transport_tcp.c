/* transport_tcp.c: the TCP fallback of the sync transport (hosts without SCTP): one connection, length+stream framing. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define TRANSPORT_BACKEND
#include "log.h"
#include "transport.h"

#define TCP_CONNECT_TIMEOUT_MS	3000	/* two SYN retransmissions */
#define TCP_READ_CHUNK		(64 * 1024)

struct tcp_priv {
	struct evconnlistener *listener;
	struct bufferevent *bev;	/* the connection, or the attempt */
	bool established;
};

static struct tcp_priv *tcp_priv(const struct transport *t)
{
	return t->priv;
}

static int tcp_alloc(struct transport *t)
{
	if (!t->priv)
		t->priv = calloc(1, sizeof(struct tcp_priv));
	return t->priv ? 0 : -1;
}

/*
 * Keepalive and the user timeout follow the SCTP heartbeat settings, so a
 * dead peer is found in about the same time on either transport:
 * idle = interval = hb (at least 1 s), path_max_retrans + 1 probes.
 */
static void tcp_sockopts(const struct transport *t, int fd)
{
	int one = 1;
	int secs = (int)((t->cfg.hb_interval_ms + 999) / 1000);
	int cnt = (int)t->cfg.path_max_retrans + 1;
	unsigned user_ms;

	if (secs < 1)
		secs = 1;
	user_ms = (unsigned)(secs + secs * cnt) * 1000;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &secs, sizeof(secs)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &secs, sizeof(secs)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof(user_ms)) < 0)
		log_warn("tcp: setting socket options: %m");
}

static void tcp_abort_fd(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void tcp_close(struct transport *t, bool abort)
{
	struct tcp_priv *p = tcp_priv(t);
	size_t left;

	if (!p || !p->bev)
		return;
	left = evbuffer_get_length(bufferevent_get_output(p->bev));
	if (p->established)
		t->stats.bytes_discarded += left;
	if (abort) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		int fd = bufferevent_getfd(p->bev);

		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	bufferevent_free(p->bev);
	p->bev = NULL;
	p->established = false;
}

/* The connection went away by itself. */
static void tcp_lost(struct transport *t, const char *why)
{
	tcp_close(t, false);
	transport_on_lost(t, why);
}

static void tcp_garbage(struct transport *t, const uint8_t *h)
{
	char why[128];

	t->stats.garbage++;
	snprintf(why, sizeof(why),
		 "malformed frame header %02x%02x%02x%02x %02x%02x (length above %u or stream above %u)",
		 h[0], h[1], h[2], h[3], h[4], h[5], TRANSPORT_FRAME_MAX, t->cfg.streams - 1);
	tcp_close(t, true);
	transport_on_lost(t, why);
}

static void tcp_read_cb(struct bufferevent *bev, void *arg)
{
	struct transport *t = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t h[TRANSPORT_TCP_HEADER];
	const uint8_t *data;
	uint32_t len;
	uint16_t stream;

	for (;;) {
		size_t avail = evbuffer_get_length(in);

		if (avail < TRANSPORT_TCP_HEADER)
			return;
		evbuffer_copyout(in, h, sizeof(h));
		/* Checked before waiting for the payload: a hostile length never makes us buffer it. */
		if (transport_tcp_header_decode(h, t->cfg.streams, &len, &stream) < 0) {
			tcp_garbage(t, h);
			return;
		}
		if (avail < TRANSPORT_TCP_HEADER + (size_t)len)
			return;
		evbuffer_drain(in, TRANSPORT_TCP_HEADER);
		data = len ? evbuffer_pullup(in, len) : h;
		if (!data) {
			tcp_lost(t, "out of memory reassembling a frame");
			return;
		}
		if (!transport_on_frame(t, stream, data, len))
			return;
		evbuffer_drain(in, len);
	}
}

static void tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct transport *t = arg;
	struct tcp_priv *p = tcp_priv(t);
	char why[160];

	if (what & BEV_EVENT_CONNECTED) {
		p->established = true;
		bufferevent_set_timeouts(bev, NULL, NULL);
		if (transport_on_up(t))
			transport_on_path(t, (const void *)&t->cfg.remote[0], PATH_ACTIVE);
		return;
	}
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "the peer closed the connection");
	else if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "connect timed out after %u ms", TCP_CONNECT_TIMEOUT_MS);
	else
		snprintf(why, sizeof(why), "%s",
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	tcp_lost(t, why);
}

static int tcp_adopt(struct transport *t, int fd)
{
	struct tcp_priv *p = tcp_priv(t);

	p->bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!p->bev)
		return -1;
	bufferevent_setcb(p->bev, tcp_read_cb, NULL, tcp_event_cb, t);
	bufferevent_set_max_single_read(p->bev, TCP_READ_CHUNK);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	return 0;
}

static void tcp_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int salen, void *arg)
{
	struct transport *t = arg;
	struct tcp_priv *p = tcp_priv(t);

	if (!transport_accept_ok(t, sa)) {
		tcp_abort_fd(fd);
		return;
	}
	if (p->bev) {
		/* The peer only connects when it has no connection: ours is stale. */
		tcp_close(t, true);
		if (!transport_on_lost(t, "replaced by a new connection from the peer")) {
			tcp_abort_fd(fd);
			return;
		}
	}
	tcp_sockopts(t, fd);
	if (tcp_adopt(t, fd) < 0) {
		log_err("tcp: cannot set up an accepted connection: %m");
		tcp_abort_fd(fd);
		return;
	}
	p->established = true;
	if (transport_on_up(t))
		transport_on_path(t, sa, PATH_ACTIVE);
}

static void tcp_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct transport *t = arg;

	/* EMFILE and friends: the listener stays, the next accept may work. */
	log_warn("%s: accept: %s", t->name, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static int tcp_listen(struct transport *t)
{
	struct tcp_priv *p;
	struct sockaddr_storage la;
	char a[TRANSPORT_ADDRSTRLEN];

	if (tcp_alloc(t) < 0)
		return -1;
	p = tcp_priv(t);
	transport_listen_addr(t, 0, &la);
	p->listener = evconnlistener_new_bind(t->base, tcp_accept_cb, t,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
					      LEV_OPT_REUSEABLE, 8,
					      (struct sockaddr *)&la, (int)transport_addr_len((void *)&la));
	if (!p->listener) {
		log_err("tcp: cannot listen on %s: %m",
			transport_addr_format((void *)&la, a, sizeof(a)));
		return -1;
	}
	evconnlistener_set_error_cb(p->listener, tcp_accept_error_cb);
	return 0;
}

static int tcp_connect(struct transport *t)
{
	struct tcp_priv *p = tcp_priv(t);
	const struct sockaddr *r = (const void *)&t->cfg.remote[0];
	struct timeval tv = { TCP_CONNECT_TIMEOUT_MS / 1000, (TCP_CONNECT_TIMEOUT_MS % 1000) * 1000 };
	struct sockaddr_storage src;
	char a[TRANSPORT_ADDRSTRLEN];
	int fd;

	fd = socket(r->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("tcp: socket: %m");
		return -1;
	}
	/* From our configured address, so the peer recognises us; any port. */
	if (t->cfg.n_local > 0) {
		src = t->cfg.local[0];
		if (src.ss_family == AF_INET)
			((struct sockaddr_in *)(void *)&src)->sin_port = 0;
		else
			((struct sockaddr_in6 *)(void *)&src)->sin6_port = 0;
		if (bind(fd, (struct sockaddr *)&src, transport_addr_len((void *)&src)) < 0) {
			log_err("tcp: cannot bind to %s: %m",
				transport_addr_format((void *)&src, a, sizeof(a)));
			close(fd);
			return -1;
		}
	}
	tcp_sockopts(t, fd);
	if (tcp_adopt(t, fd) < 0) {
		close(fd);
		return -1;
	}
	/* A write timeout covers the connect; cleared once connected. */
	bufferevent_set_timeouts(p->bev, NULL, &tv);
	if (bufferevent_socket_connect(p->bev, r, (int)transport_addr_len(r)) < 0) {
		bufferevent_free(p->bev);
		p->bev = NULL;
		return -1;
	}
	return 0;
}

static int tcp_send(struct transport *t, uint16_t stream, const uint8_t *buf, size_t len)
{
	struct tcp_priv *p = tcp_priv(t);
	struct evbuffer *out = bufferevent_get_output(p->bev);
	struct evbuffer_iovec v;

	/* Header and payload in one reserved region: never a header without its payload. */
	if (evbuffer_reserve_space(out, (ev_ssize_t)(TRANSPORT_TCP_HEADER + len), &v, 1) != 1 ||
	    v.iov_len < TRANSPORT_TCP_HEADER + len) {
		errno = ENOMEM;
		return -1;
	}
	transport_tcp_header_encode(v.iov_base, (uint32_t)len, stream);
	if (len)
		memcpy((uint8_t *)v.iov_base + TRANSPORT_TCP_HEADER, buf, len);
	v.iov_len = TRANSPORT_TCP_HEADER + len;
	if (evbuffer_commit_space(out, &v, 1) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static void tcp_unlisten(struct transport *t)
{
	struct tcp_priv *p = tcp_priv(t);

	if (p && p->listener) {
		evconnlistener_free(p->listener);
		p->listener = NULL;
	}
}

static int tcp_paths(const struct transport *t, struct transport_path_info *out, int max)
{
	struct tcp_priv *p = tcp_priv(t);
	struct tcp_info ti;
	socklen_t len = sizeof(out->addr);
	int fd;

	if (!p || !p->bev || !p->established)
		return 0;
	fd = bufferevent_getfd(p->bev);
	memset(out, 0, sizeof(*out));
	if (getpeername(fd, (struct sockaddr *)&out->addr, &len) < 0)
		out->addr = t->cfg.remote[0];
	out->state = PATH_ACTIVE;
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
		out->rtt_ms = ti.tcpi_rtt / 1000;
	return 1;
}

static size_t tcp_queued(const struct transport *t)
{
	struct tcp_priv *p = tcp_priv(t);

	return p && p->bev ? evbuffer_get_length(bufferevent_get_output(p->bev)) : 0;
}

static void tcp_free(struct transport *t)
{
	struct tcp_priv *p = tcp_priv(t);

	if (!p)
		return;
	tcp_close(t, false);
	tcp_unlisten(t);
	free(p);
	t->priv = NULL;
}

const struct transport_backend transport_tcp_backend = {
	.listen = tcp_listen,
	.connect = tcp_connect,
	.send = tcp_send,
	.close = tcp_close,
	.unlisten = tcp_unlisten,
	.paths = tcp_paths,
	.queued = tcp_queued,
	.free = tcp_free,
};
