/* transport_sctp.c: the sync transport over kernel SCTP (libsctp): one multi-homed one-to-one association, notifications as path events. */
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/sctp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#define TRANSPORT_BACKEND
#include "log.h"
#include "transport.h"

#define SCTP_CONNECT_TIMEOUT_MS	5000	/* INIT is retried SCTP_INIT_ATTEMPTS times within it */
#define SCTP_INIT_ATTEMPTS	4
#define SCTP_RBUF		(128 * 1024)	/* a 70,000-byte frame in one read */
#define SCTP_SOCKBUF		(4 * 1024 * 1024)	/* room for many big frames in flight */
#define SCTP_READS_PER_WAKE	64	/* then let writes and timers run */
#define SCTP_WRITE_RETRY_MS	2
#define SCTP_PATHS_MAX		8
/* Not in every libc's headers: linux/sctp.h's enum for SCTP_EXPOSE_POTENTIALLY_FAILED_STATE. */
#define HASYNC_SCTP_PF_EXPOSE_ENABLE 2

struct sctp_frame {
	TAILQ_ENTRY(sctp_frame) link;
	uint16_t stream;
	size_t len;
	uint8_t data[];
};

struct sctp_path {
	struct sockaddr_storage addr;
	enum path_state state;
};

struct sctp_priv {
	int lfd;
	struct event *accept_ev;

	int fd;				/* the association, or the attempt; -1 */
	bool established;
	struct event *conn_ev;		/* connect completion, with its timeout */
	struct event *read_ev, *write_ev, *retry_ev;
	bool kicked;			/* write_ev activated by transport_send, not by poll */
	uint16_t out_streams;		/* negotiated */
	int sndbuf;			/* the kernel refuses bigger messages */

	TAILQ_HEAD(, sctp_frame) queue;
	size_t queued;

	uint8_t *rbuf;
	uint8_t *msg;			/* partial delivery: pieces until MSG_EOR */
	size_t msg_len, msg_cap;
	uint16_t msg_stream;
	bool partial;

	struct sctp_path paths[SCTP_PATHS_MAX];
	int n_paths;
};

static struct sctp_priv *sctp_priv(const struct transport *t)
{
	return t->priv;
}

static int sctp_alloc(struct transport *t)
{
	struct sctp_priv *p;

	if (t->priv)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->rbuf = malloc(SCTP_RBUF);
	if (!p->rbuf) {
		free(p);
		return -1;
	}
	p->lfd = p->fd = -1;
	TAILQ_INIT(&p->queue);
	t->priv = p;
	return 0;
}

/* ---------------------------------------------------------------- addresses */

/* IPv6 socket if any address is IPv6: it also carries the IPv4 ones. */
static int sctp_family(const struct transport *t)
{
	int i;

	for (i = 0; i < t->cfg.n_local; i++)
		if (t->cfg.local[i].ss_family == AF_INET6)
			return AF_INET6;
	for (i = 0; i < t->cfg.n_remote; i++)
		if (t->cfg.remote[i].ss_family == AF_INET6)
			return AF_INET6;
	return AF_INET;
}

/* sctp_bindx()/sctp_connectx() take the addresses packed, each at its own size. */
static size_t sctp_pack(const struct sockaddr_storage *in, int n, bool zero_port,
			uint8_t out[TRANSPORT_ADDRS_MAX * sizeof(struct sockaddr_in6)])
{
	size_t off = 0;
	int i;

	for (i = 0; i < n; i++) {
		const struct sockaddr *sa = (const void *)&in[i];
		socklen_t len = transport_addr_len(sa);

		memcpy(out + off, sa, len);
		if (zero_port) {
			if (sa->sa_family == AF_INET)
				((struct sockaddr_in *)(void *)(out + off))->sin_port = 0;
			else
				((struct sockaddr_in6 *)(void *)(out + off))->sin6_port = 0;
		}
		off += len;
	}
	return off;
}

/* v4-mapped IPv6 addresses (an IPv6 socket's view of IPv4 peers) back to IPv4, for logs and callers. */
static void sctp_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 s6 = *(struct sockaddr_in6 *)(void *)ss;
	struct sockaddr_in *s4 = (void *)ss;

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
		return;
	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_port = s6.sin6_port;
	memcpy(&s4->sin_addr, &s6.sin6_addr.s6_addr[12], 4);
}

/* ---------------------------------------------------------------- socket options */

static void sctp_bufsize(int fd, int opt_force, int opt)
{
	int v = SCTP_SOCKBUF;

	/* FORCE passes net.core.[rw]mem_max when we are privileged, as hasyncd is. */
	if (setsockopt(fd, SOL_SOCKET, opt_force, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

static int sctp_subscribe(int fd)
{
	static const uint16_t types[] = {
		SCTP_DATA_IO_EVENT,		/* the stream of each message, for sctp_recvmsg() */
		SCTP_ASSOC_CHANGE,		/* up, lost, restarted */
		SCTP_PEER_ADDR_CHANGE,		/* path events */
		SCTP_SHUTDOWN_EVENT,
		SCTP_PARTIAL_DELIVERY_EVENT,	/* a partial message aborted */
	};
	struct sctp_event ev;
	struct sctp_event_subscribe old;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memset(&ev, 0, sizeof(ev));
		ev.se_type = types[i];
		ev.se_on = 1;
		if (setsockopt(fd, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev)) < 0)
			break;
	}
	if (i == sizeof(types) / sizeof(types[0]))
		return 0;
	/* Kernels before SCTP_EVENT (4.x) take the older all-in-one structure. */
	memset(&old, 0, sizeof(old));
	old.sctp_data_io_event = 1;
	old.sctp_association_event = 1;
	old.sctp_address_event = 1;
	old.sctp_shutdown_event = 1;
	old.sctp_partial_delivery_event = 1;
	return setsockopt(fd, IPPROTO_SCTP, SCTP_EVENTS, &old, sizeof(old));
}

/*
 * Set on the listening and the connecting socket before the association
 * exists, so they become the association's own parameters (an accepted
 * socket inherits them).
 */
static int sctp_sockopts(const struct transport *t, int fd)
{
	const struct transport_config *c = &t->cfg;
	struct sctp_initmsg init = {
		.sinit_num_ostreams = c->streams,
		.sinit_max_instreams = c->streams,
		.sinit_max_attempts = SCTP_INIT_ATTEMPTS,
		.sinit_max_init_timeo = (uint16_t)(c->rto_max_ms > UINT16_MAX ? UINT16_MAX : c->rto_max_ms),
	};
	struct sctp_rtoinfo rto = {
		.srto_initial = c->rto_max_ms,
		.srto_max = c->rto_max_ms,
		.srto_min = c->rto_min_ms,
	};
	struct sctp_paddrparams pp;
	struct sctp_paddrthlds th;
	struct sctp_assoc_value av = { .assoc_value = HASYNC_SCTP_PF_EXPOSE_ENABLE };
	int one = 1;

	memset(&pp, 0, sizeof(pp));
	pp.spp_hbinterval = c->hb_interval_ms;
	pp.spp_pathmaxrxt = (uint16_t)c->path_max_retrans;
	pp.spp_flags = SPP_HB_ENABLE;
	if (setsockopt(fd, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof(init)) < 0) {
		log_err("sctp: SCTP_INITMSG: %m");
		return -1;
	}
	if (setsockopt(fd, IPPROTO_SCTP, SCTP_RTOINFO, &rto, sizeof(rto)) < 0) {
		log_err("sctp: SCTP_RTOINFO (rto %u..%u ms): %m", c->rto_min_ms, c->rto_max_ms);
		return -1;
	}
	if (setsockopt(fd, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp)) < 0) {
		log_err("sctp: SCTP_PEER_ADDR_PARAMS (hb %u ms, path_max_retrans %u): %m",
			c->hb_interval_ms, c->path_max_retrans);
		return -1;
	}
	if (sctp_subscribe(fd) < 0) {
		log_err("sctp: subscribing to notifications: %m");
		return -1;
	}
	/*
	 * A path goes "potentially failed" at its first timeout and data moves
	 * to the other path at once (RFC 7829), rather than after
	 * path_max_retrans timeouts. Older kernels lack these: not fatal.
	 */
	memset(&th, 0, sizeof(th));
	th.spt_pathmaxrxt = (uint16_t)c->path_max_retrans;
	th.spt_pathpfthld = 0;
	if (setsockopt(fd, IPPROTO_SCTP, SCTP_PEER_ADDR_THLDS, &th, sizeof(th)) < 0)
		log_debug("sctp: SCTP_PEER_ADDR_THLDS: %m");
	if (setsockopt(fd, IPPROTO_SCTP, SCTP_EXPOSE_POTENTIALLY_FAILED_STATE, &av, sizeof(av)) < 0)
		log_debug("sctp: SCTP_EXPOSE_POTENTIALLY_FAILED_STATE: %m");
	/* Frames are whole messages already: no reason to wait for more. */
	if (setsockopt(fd, IPPROTO_SCTP, SCTP_NODELAY, &one, sizeof(one)) < 0)
		log_debug("sctp: SCTP_NODELAY: %m");
	sctp_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF);
	sctp_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	return 0;
}

static int sctp_socket(const struct transport *t)
{
	int fd = socket(sctp_family(t), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_SCTP);

	if (fd < 0) {
		if (errno == EPROTONOSUPPORT || errno == ESOCKTNOSUPPORT)
			log_err("sctp: this kernel has no SCTP (module missing or blacklisted?): "
				"use transport=tcp");
		else
			log_err("sctp: socket: %m");
		return -1;
	}
	if (sctp_sockopts(t, fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void sctp_abort_fd(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	/* SO_LINGER 0 makes close() send ABORT rather than a graceful SHUTDOWN. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* ---------------------------------------------------------------- the association */

/* libevent 2.1's event_free() does not take NULL. */
static void sctp_event_free(struct event **ev)
{
	if (*ev)
		event_free(*ev);
	*ev = NULL;
}

static void sctp_close(struct transport *t, bool abort)
{
	struct sctp_priv *p = sctp_priv(t);
	struct sctp_frame *f;

	if (!p)
		return;
	sctp_event_free(&p->conn_ev);
	sctp_event_free(&p->read_ev);
	sctp_event_free(&p->write_ev);
	sctp_event_free(&p->retry_ev);
	if (p->fd >= 0) {
		if (abort)
			sctp_abort_fd(p->fd);
		else
			close(p->fd);
		p->fd = -1;
	}
	while ((f = TAILQ_FIRST(&p->queue))) {
		TAILQ_REMOVE(&p->queue, f, link);
		free(f);
	}
	t->stats.bytes_discarded += p->queued;
	p->queued = 0;
	free(p->msg);
	p->msg = NULL;
	p->msg_len = p->msg_cap = 0;
	p->partial = false;
	p->established = false;
	p->n_paths = 0;
}

/* The association ended by itself. Always false: the caller stops reading or writing. */
static bool sctp_lost(struct transport *t, const char *why)
{
	sctp_close(t, false);
	transport_on_lost(t, why);
	return false;
}

static enum path_state sctp_spinfo_state(int32_t s)
{
	switch (s) {
	case SCTP_ACTIVE:
		return PATH_ACTIVE;
	case SCTP_PF:
		return PATH_POTENTIALLY_FAILED;
	case SCTP_INACTIVE:
		return PATH_INACTIVE;
	default:			/* SCTP_UNCONFIRMED, SCTP_UNKNOWN */
		return PATH_UNKNOWN;
	}
}

static int sctp_path_info(int fd, const struct sockaddr_storage *addr, struct transport_path_info *out)
{
	struct sctp_paddrinfo pi;
	socklen_t len = sizeof(pi);

	memset(&pi, 0, sizeof(pi));
	memcpy(&pi.spinfo_address, addr, sizeof(*addr));
	if (getsockopt(fd, IPPROTO_SCTP, SCTP_GET_PEER_ADDR_INFO, &pi, &len) < 0)
		return -1;
	out->addr = *addr;
	sctp_unmap(&out->addr);
	out->state = sctp_spinfo_state(pi.spinfo_state);
	out->rtt_ms = pi.spinfo_srtt;
	return 0;
}

/* The peer's addresses as the kernel sees them now. */
static int sctp_peer_paths(int fd, struct transport_path_info *out, int max)
{
	struct sockaddr *addrs;
	uint8_t *cur;
	int n, i, got = 0;

	n = sctp_getpaddrs(fd, 0, &addrs);
	if (n <= 0)
		return 0;
	cur = (uint8_t *)addrs;
	for (i = 0; i < n && got < max; i++) {
		struct sockaddr_storage ss;
		socklen_t len = transport_addr_len((const void *)cur);

		if (len == 0)
			break;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, cur, len);
		cur += len;
		if (sctp_path_info(fd, &ss, &out[got]) == 0)
			got++;
	}
	sctp_freepaddrs(addrs);
	return got;
}

/* Report a path's state if it changed; false if the callback dropped the association. */
static bool sctp_path_update(struct transport *t, const struct sockaddr_storage *addr_in,
			     enum path_state s)
{
	struct sctp_priv *p = sctp_priv(t);
	struct sockaddr_storage addr = *addr_in;
	struct sctp_path *path = NULL;
	int i;

	sctp_unmap(&addr);
	for (i = 0; i < p->n_paths; i++)
		if (transport_addr_same_host((void *)&p->paths[i].addr, (void *)&addr))
			path = &p->paths[i];
	if (!path) {
		if (p->n_paths == SCTP_PATHS_MAX)
			return true;
		path = &p->paths[p->n_paths++];
		path->addr = addr;
		path->state = (enum path_state)-1;
	}
	if (path->state == s)
		return true;
	path->state = s;
	return transport_on_path(t, (const void *)&path->addr, s);
}

static void sctp_write_cb(evutil_socket_t fd, short what, void *arg);
static void sctp_read_cb(evutil_socket_t fd, short what, void *arg);

static void sctp_established(struct transport *t)
{
	struct sctp_priv *p = sctp_priv(t);
	struct transport_path_info now[SCTP_PATHS_MAX];
	struct sctp_status st;
	socklen_t len = sizeof(st);
	int i, n;

	p->established = true;
	p->out_streams = t->cfg.streams;
	memset(&st, 0, sizeof(st));
	if (getsockopt(p->fd, IPPROTO_SCTP, SCTP_STATUS, &st, &len) == 0 && st.sstat_outstrms > 0)
		p->out_streams = st.sstat_outstrms;
	if (p->out_streams < t->cfg.streams)
		log_warn("sctp: the peer takes %u streams of the %u asked: streams are folded",
			 p->out_streams, t->cfg.streams);
	len = sizeof(p->sndbuf);
	if (getsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &p->sndbuf, &len) < 0)
		p->sndbuf = 0;
	p->read_ev = event_new(t->base, p->fd, EV_READ | EV_PERSIST, sctp_read_cb, t);
	p->write_ev = event_new(t->base, p->fd, EV_WRITE, sctp_write_cb, t);
	p->retry_ev = evtimer_new(t->base, sctp_write_cb, t);
	if (!p->read_ev || !p->write_ev || !p->retry_ev) {
		sctp_close(t, true);
		transport_on_lost(t, "out of memory");
		return;
	}
	event_add(p->read_ev, NULL);
	if (!transport_on_up(t))
		return;
	n = sctp_peer_paths(p->fd, now, SCTP_PATHS_MAX);
	for (i = 0; i < n; i++)
		if (!sctp_path_update(t, &now[i].addr, now[i].state))
			return;
}

static void sctp_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct transport *t = arg;
	int err = 0;
	socklen_t len = sizeof(err);
	char why[128];

	if (what & EV_TIMEOUT) {
		snprintf(why, sizeof(why), "no answer to INIT within %u ms", SCTP_CONNECT_TIMEOUT_MS);
		sctp_lost(t, why);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		snprintf(why, sizeof(why), "%s", strerror(err));
		sctp_lost(t, why);
		return;
	}
	sctp_event_free(&sctp_priv(t)->conn_ev);
	sctp_established(t);
}

static int sctp_connect(struct transport *t)
{
	struct sctp_priv *p = sctp_priv(t);
	struct timeval tv = { SCTP_CONNECT_TIMEOUT_MS / 1000, (SCTP_CONNECT_TIMEOUT_MS % 1000) * 1000 };
	uint8_t packed[TRANSPORT_ADDRS_MAX * sizeof(struct sockaddr_in6)];
	sctp_assoc_t id;

	p->fd = sctp_socket(t);
	if (p->fd < 0)
		return -1;
	/* Our configured addresses, so the association has both paths and the peer knows us; any port. */
	if (t->cfg.n_local > 0) {
		sctp_pack(t->cfg.local, t->cfg.n_local, true, packed);
		if (sctp_bindx(p->fd, (struct sockaddr *)packed, t->cfg.n_local, SCTP_BINDX_ADD_ADDR) < 0) {
			log_err("sctp: binding the connecting socket to the local addresses: %m");
			goto fail;
		}
	}
	sctp_pack(t->cfg.remote, t->cfg.n_remote, false, packed);
	if (sctp_connectx(p->fd, (struct sockaddr *)packed, t->cfg.n_remote, &id) < 0 &&
	    errno != EINPROGRESS) {
		log_warn("sctp: connect: %m");
		goto fail;
	}
	p->conn_ev = event_new(t->base, p->fd, EV_WRITE, sctp_connect_cb, t);
	if (!p->conn_ev || event_add(p->conn_ev, &tv) < 0)
		goto fail;
	return 0;
fail:
	sctp_close(t, true);
	return -1;
}

static void sctp_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct transport *t = arg;
	struct sctp_priv *p = sctp_priv(t);
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&from, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
			log_warn("sctp: accept: %m");
		return;
	}
	sctp_unmap(&from);
	if (!transport_accept_ok(t, (struct sockaddr *)&from)) {
		sctp_abort_fd(fd);
		return;
	}
	if (p->fd >= 0) {
		/* The peer only connects when it has no association: ours is stale. */
		sctp_close(t, true);
		if (!transport_on_lost(t, "replaced by a new association from the peer")) {
			sctp_abort_fd(fd);
			return;
		}
	}
	sctp_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF);
	sctp_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	p->fd = fd;
	sctp_established(t);
}

static int sctp_listen(struct transport *t)
{
	struct sctp_priv *p;
	struct sockaddr_storage la[TRANSPORT_ADDRS_MAX];
	uint8_t packed[TRANSPORT_ADDRS_MAX * sizeof(struct sockaddr_in6)];
	int n = t->cfg.n_local > 0 ? t->cfg.n_local : 1;
	int one = 1, i;

	if (sctp_alloc(t) < 0)
		return -1;
	p = sctp_priv(t);
	for (i = 0; i < n; i++)
		transport_listen_addr(t, i, &la[i]);
	p->lfd = sctp_socket(t);
	if (p->lfd < 0)
		return -1;
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sctp_pack(la, n, false, packed);
	if (sctp_bindx(p->lfd, (struct sockaddr *)packed, n, SCTP_BINDX_ADD_ADDR) < 0) {
		char a[TRANSPORT_ADDRSTRLEN];

		log_err("sctp: cannot bind to %s%s: %m",
			transport_addr_format((void *)&la[0], a, sizeof(a)),
			n > 1 ? " and the second local address" : "");
		goto fail;
	}
	if (listen(p->lfd, 8) < 0) {
		log_err("sctp: listen: %m");
		goto fail;
	}
	p->accept_ev = event_new(t->base, p->lfd, EV_READ | EV_PERSIST, sctp_accept_cb, t);
	if (!p->accept_ev || event_add(p->accept_ev, NULL) < 0)
		goto fail;
	return 0;
fail:
	close(p->lfd);
	p->lfd = -1;
	return -1;
}

/* ---------------------------------------------------------------- receiving */

static bool sctp_notification(struct transport *t, const uint8_t *buf, size_t len)
{
	struct sctp_priv *p = sctp_priv(t);
	const union sctp_notification *sn = (const void *)buf;
	char why[128];

	if (len < sizeof(sn->sn_header))
		return true;
	switch (sn->sn_header.sn_type) {
	case SCTP_ASSOC_CHANGE:
		if (len < sizeof(struct sctp_assoc_change))
			return true;
		switch (sn->sn_assoc_change.sac_state) {
		case SCTP_COMM_UP:
			if (sn->sn_assoc_change.sac_outbound_streams > 0)
				p->out_streams = sn->sn_assoc_change.sac_outbound_streams;
			return true;
		case SCTP_RESTART:
			/* Its state is gone: what it acknowledged before may be lost. */
			return sctp_lost(t, "the peer restarted the association");
		case SCTP_COMM_LOST:
			snprintf(why, sizeof(why), "association lost (no answer on any path, error %u)",
				 sn->sn_assoc_change.sac_error);
			return sctp_lost(t, why);
		case SCTP_SHUTDOWN_COMP:
			return sctp_lost(t, "the association was shut down");
		case SCTP_CANT_STR_ASSOC:
			return sctp_lost(t, "cannot start the association");
		default:
			return true;
		}
	case SCTP_PEER_ADDR_CHANGE: {
		struct sctp_paddr_change pc;
		struct sockaddr_storage addr;

		if (len < sizeof(pc))
			return true;
		/* The structure is packed: copy the address out before taking its address. */
		memcpy(&pc, buf, sizeof(pc));
		memcpy(&addr, (const uint8_t *)buf + offsetof(struct sctp_paddr_change, spc_aaddr),
		       sizeof(addr));
		switch (pc.spc_state) {
		case SCTP_ADDR_AVAILABLE:
		case SCTP_ADDR_CONFIRMED:
			return sctp_path_update(t, &addr, PATH_ACTIVE);
		case SCTP_ADDR_POTENTIALLY_FAILED:
			return sctp_path_update(t, &addr, PATH_POTENTIALLY_FAILED);
		case SCTP_ADDR_UNREACHABLE:
		case SCTP_ADDR_REMOVED:
			return sctp_path_update(t, &addr, PATH_INACTIVE);
		case SCTP_ADDR_ADDED: {
			struct transport_path_info pi;

			if (sctp_path_info(p->fd, &addr, &pi) < 0)
				pi.state = PATH_UNKNOWN;
			return sctp_path_update(t, &addr, pi.state);
		}
		default:		/* SCTP_ADDR_MADE_PRIM: no change of state */
			return true;
		}
	}
	case SCTP_SHUTDOWN_EVENT:
		return sctp_lost(t, "the peer shut the association down");
	case SCTP_PARTIAL_DELIVERY_EVENT:
		if (len >= sizeof(struct sctp_pdapi_event) &&
		    sn->sn_pdapi_event.pdapi_indication == SCTP_PARTIAL_DELIVERY_ABORTED && p->partial) {
			log_warn("sctp: the peer aborted a partly delivered message (%zu bytes dropped)",
				 p->msg_len);
			p->partial = false;
			p->msg_len = 0;
		}
		return true;
	default:
		return true;
	}
}

/* A piece of a message too big for one read; false if the association is gone. */
static bool sctp_piece(struct transport *t, uint16_t stream, const uint8_t *buf, size_t n, bool eor)
{
	struct sctp_priv *p = sctp_priv(t);
	size_t len;

	if (p->partial && stream != p->msg_stream) {
		t->stats.garbage++;
		return sctp_lost(t, "a partial message interleaved with another stream");
	}
	if (p->msg_len + n > TRANSPORT_FRAME_MAX) {
		t->stats.garbage++;
		return sctp_lost(t, "a message above the frame limit");
	}
	if (p->msg_len + n > p->msg_cap) {
		size_t cap = p->msg_cap ? p->msg_cap : SCTP_RBUF;
		uint8_t *m;

		while (cap < p->msg_len + n)
			cap *= 2;
		if (cap > TRANSPORT_FRAME_MAX)
			cap = TRANSPORT_FRAME_MAX;
		m = realloc(p->msg, cap);
		if (!m)
			return sctp_lost(t, "out of memory reassembling a message");
		p->msg = m;
		p->msg_cap = cap;
	}
	memcpy(p->msg + p->msg_len, buf, n);
	p->msg_len += n;
	p->msg_stream = stream;
	p->partial = !eor;
	if (!eor)
		return true;
	len = p->msg_len;
	p->msg_len = 0;
	return transport_on_frame(t, stream, p->msg, len);
}

static void sctp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct transport *t = arg;
	struct sctp_priv *p = sctp_priv(t);
	char why[128];
	int i;

	for (i = 0; i < SCTP_READS_PER_WAKE; i++) {
		struct sctp_sndrcvinfo sinfo;
		int flags = 0;
		ssize_t n;

		memset(&sinfo, 0, sizeof(sinfo));
		n = sctp_recvmsg(fd, p->rbuf, SCTP_RBUF, NULL, NULL, &sinfo, &flags);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			snprintf(why, sizeof(why), "receive: %s", strerror(errno));
			sctp_lost(t, why);
			return;
		}
		if (n == 0) {
			sctp_lost(t, "the peer closed the association");
			return;
		}
		if (flags & MSG_NOTIFICATION) {
			/* Ours are all far below SCTP_RBUF; a truncated one is skipped. */
			if ((flags & MSG_EOR) && !sctp_notification(t, p->rbuf, (size_t)n))
				return;
			continue;
		}
		if (!p->partial && (flags & MSG_EOR)) {
			if (!transport_on_frame(t, sinfo.sinfo_stream, p->rbuf, (size_t)n))
				return;
		} else if (!sctp_piece(t, sinfo.sinfo_stream, p->rbuf, (size_t)n, flags & MSG_EOR)) {
			return;
		}
	}
}

/* ---------------------------------------------------------------- sending */

static void sctp_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct transport *t = arg;
	struct sctp_priv *p = sctp_priv(t);
	bool polled = (what & EV_WRITE) && !p->kicked;
	bool sent = false;
	struct sctp_frame *f;
	char why[128];

	p->kicked = false;
	while ((f = TAILQ_FIRST(&p->queue))) {
		uint16_t stream = f->stream % p->out_streams;

		if (sctp_sendmsg(p->fd, f->data, f->len, NULL, 0, 0, 0, stream, 0, 0) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/*
				 * The socket polls writable as soon as any room is free, a big
				 * message needs room for all of it: after a writable wake that
				 * did not help, retry on a short timer instead of spinning.
				 */
				if (polled && !sent) {
					struct timeval tv = { 0, SCTP_WRITE_RETRY_MS * 1000 };

					evtimer_add(p->retry_ev, &tv);
				} else {
					event_add(p->write_ev, NULL);
				}
				return;
			}
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			sctp_lost(t, why);
			return;
		}
		TAILQ_REMOVE(&p->queue, f, link);
		p->queued -= f->len;
		free(f);
		sent = true;
	}
}

static int sctp_enqueue(struct transport *t, uint16_t stream, const uint8_t *buf, size_t len)
{
	struct sctp_priv *p = sctp_priv(t);
	struct sctp_frame *f;
	bool idle = TAILQ_EMPTY(&p->queue);

	if (p->sndbuf > 0 && len > (size_t)p->sndbuf) {
		errno = EMSGSIZE;
		return -1;
	}
	f = malloc(sizeof(*f) + len);
	if (!f)
		return -1;
	f->stream = stream;
	f->len = len;
	if (len)
		memcpy(f->data, buf, len);
	TAILQ_INSERT_TAIL(&p->queue, f, link);
	p->queued += len;
	/* Written from the loop, never from here: no callback runs inside transport_send(). */
	if (idle) {
		p->kicked = true;
		event_active(p->write_ev, EV_WRITE, 0);
	}
	return 0;
}

/* ---------------------------------------------------------------- the rest */

static void sctp_unlisten(struct transport *t)
{
	struct sctp_priv *p = sctp_priv(t);

	if (!p)
		return;
	sctp_event_free(&p->accept_ev);
	if (p->lfd >= 0)
		close(p->lfd);
	p->lfd = -1;
}

static int sctp_paths(const struct transport *t, struct transport_path_info *out, int max)
{
	struct sctp_priv *p = sctp_priv(t);

	if (!p || !p->established)
		return 0;
	return sctp_peer_paths(p->fd, out, max);
}

static size_t sctp_queued(const struct transport *t)
{
	struct sctp_priv *p = sctp_priv(t);

	return p ? p->queued : 0;
}

static void sctp_free(struct transport *t)
{
	struct sctp_priv *p = sctp_priv(t);

	if (!p)
		return;
	sctp_close(t, false);
	sctp_unlisten(t);
	free(p->rbuf);
	free(p);
	t->priv = NULL;
}

const struct transport_backend transport_sctp_backend = {
	.listen = sctp_listen,
	.connect = sctp_connect,
	.send = sctp_enqueue,
	.close = sctp_close,
	.unlisten = sctp_unlisten,
	.paths = sctp_paths,
	.queued = sctp_queued,
	.free = sctp_free,
};
