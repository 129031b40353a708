/* peer.c: the link to the peer gateway: transport events into the session engine, our snapshot out, the peer's records into the standby cache. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "peer.h"
#include "pluto.h"

#define PEER_TICK_MS	100

struct peer {
	struct event_base *base;
	const struct conf *conf;
	struct cache *own;
	struct cache *held;
	struct ike_cache *ike_own;	/* NULL: IKE sync off (no pluto socket) */
	struct ike_cache *ike_held;
	struct peer_ike_hooks ike_hooks;
	void *ike_ctx;
	uint64_t ike_refused;
	uint64_t ike_log_ms;
	struct transport *transport;
	struct session *session;
	struct event *tick;
	struct event *flush;

	bool own_ready;		/* our capture finished its dump: the snapshot is complete */
	bool snapshot_due;	/* established while our view was incomplete */
	bool dirty_while_down;	/* our kernel changed while no association carried it */
	bool held_complete;	/* a snapshot from the peer was applied in full */
	uint64_t resyncs;

	int64_t lag[PEER_LAG_SAMPLES];
	uint64_t lag_n;
};

uint64_t peer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t peer_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void peer_schedule_flush(struct peer *p)
{
	if (session_pending(p->session))
		event_active(p->flush, 0, 0);
}

/* ---------------------------------------------------------------- our state out */

static int peer_bulk_ike_one(void *ctx, const struct ike_entry *e, const struct ike_child *child,
			     const char *json, size_t len)
{
	struct peer *p = ctx;

	(void)child;
	return session_bulk_ike_record(p->session, e->spi_i, e->spi_r, json, len) == 0 ? 0 : 1;
}

static int peer_live_ike_one(void *ctx, const struct ike_entry *e, const struct ike_child *child,
			     const char *json, size_t len)
{
	struct peer *p = ctx;

	(void)child;
	return session_send_ike_record(p->session, e->spi_i, e->spi_r, json, len) == 0 ? 0 : 1;
}

static void peer_send_snapshot(struct peer *p)
{
	const struct cache_sa_entry **sas = NULL;
	const struct cache_policy_entry **pols = NULL;
	size_t n_sa, n_pol, i;
	long n_ike = 0;

	if (session_state(p->session) != SESSION_ESTABLISHED)
		return;
	if (!p->own_ready) {
		p->snapshot_due = true;
		return;
	}
	p->snapshot_due = false;
	n_sa = cache_sa_list(p->own, false, CACHE_VIP_NONE, &sas);
	n_pol = cache_policy_list(p->own, &pols);
	if (n_sa == (size_t)-1 || n_pol == (size_t)-1) {
		log_err("peer: out of memory listing our SAs for a snapshot");
		free(sas);
		free(pols);
		peer_resync(p, "out of memory");
		return;
	}
	session_bulk_begin(p->session);
	for (i = 0; i < n_pol; i++)
		session_bulk_policy(p->session, &pols[i]->pol);
	for (i = 0; i < n_sa; i++)
		session_bulk_sa(p->session, &sas[i]->sa);
	/* After the SAs: each IKE SA's document, its windows current, then its Child SAs'. */
	if (p->ike_own && session_ike_enabled(p->session))
		n_ike = ike_export(p->ike_own, false, IKE_VIP_NONE, peer_bulk_ike_one, p, NULL);
	session_bulk_end(p->session);
	free(sas);
	free(pols);
	p->dirty_while_down = false;
	log_info("peer: sent snapshot of %zu SAs, %zu policies and %ld IKE documents to %s", n_sa,
		 n_pol, n_ike, session_peer_id(p->session));
	peer_schedule_flush(p);
}

static bool peer_established(const struct peer *p)
{
	return session_state(p->session) == SESSION_ESTABLISHED;
}

/*
 * Whether a change of ours goes out as a live record. Not while the link is
 * down (the next association starts with a snapshot), nor while our view is
 * incomplete (a dump is running, and a snapshot follows when it ends:
 * sending each dumped SA live as well would send everything twice).
 */
static bool peer_live(struct peer *p)
{
	if (!peer_established(p)) {
		p->dirty_while_down = true;
		return false;
	}
	return p->own_ready;
}

void peer_sa_changed(struct peer *p, const struct ha_sa *sa, bool counters_only)
{
	if (!peer_live(p))
		return;
	if (counters_only)
		session_send_sa_update(p->session, sa);
	else
		session_send_sa(p->session, sa);
	peer_schedule_flush(p);
}

void peer_sa_deleted(struct peer *p, const struct ha_sa_key *key)
{
	if (!peer_live(p))
		return;
	session_send_sa_delete(p->session, key);
	peer_schedule_flush(p);
}

void peer_policy_changed(struct peer *p, const struct ha_policy *pol)
{
	if (!peer_live(p))
		return;
	session_send_policy(p->session, pol);
	peer_schedule_flush(p);
}

void peer_policy_deleted(struct peer *p, const struct ha_policy_key *key)
{
	if (!peer_live(p))
		return;
	session_send_policy_delete(p->session, key);
	peer_schedule_flush(p);
}

void peer_ike_record(struct peer *p, uint64_t spi_i, uint64_t spi_r, const char *json, size_t len)
{
	if (!p->ike_own || !peer_live(p))
		return;
	session_send_ike_record(p->session, spi_i, spi_r, json, len);
	peer_schedule_flush(p);
}

void peer_ike_deleted(struct peer *p, uint64_t spi_i, uint64_t spi_r)
{
	if (!p->ike_own || !peer_live(p))
		return;
	session_send_ike_delete(p->session, spi_i, spi_r);
	peer_schedule_flush(p);
}

void peer_ike_send_own(struct peer *p)
{
	long n;

	if (!p->ike_own || !peer_live(p) || !session_ike_enabled(p->session))
		return;
	n = ike_export(p->ike_own, false, IKE_VIP_NONE, peer_live_ike_one, p, NULL);
	log_info("peer: sent our pluto's %ld IKE documents to %s", n, session_peer_id(p->session));
	peer_schedule_flush(p);
}

void peer_set_ike(struct peer *p, struct ike_cache *own, struct ike_cache *held,
		  const struct peer_ike_hooks *hooks, void *ctx)
{
	p->ike_own = own;
	p->ike_held = held;
	if (hooks)
		p->ike_hooks = *hooks;
	p->ike_ctx = ctx;
}

uint64_t peer_ike_refused(const struct peer *p)
{
	return p->ike_refused;
}

void peer_set_own_ready(struct peer *p, bool ready)
{
	p->own_ready = ready;
	/* A complete view after a re-dump (netlink overrun) may differ from what
	 * the peer holds in ways no event told us: send it whole. */
	if (ready && peer_established(p))
		peer_send_snapshot(p);
}

/* ---------------------------------------------------------------- the peer's state in */

static void peer_note_lag(struct peer *p, uint64_t synced_at_ms)
{
	int64_t lag = (int64_t)(peer_wall_ms() - synced_at_ms);

	p->lag[p->lag_n % PEER_LAG_SAMPLES] = lag;
	p->lag_n++;
}

/* One log line a second at most for refused IKE records: the peer may send many. */
static void peer_ike_refuse(struct peer *p, const char *what, const char *detail)
{
	uint64_t now = peer_now_ms();

	p->ike_refused++;
	if (p->ike_log_ms && now - p->ike_log_ms < 1000)
		return;
	p->ike_log_ms = now;
	log_warn("peer: IKE record from %s refused: %s%s%s (%llu so far)", session_peer_id(p->session),
		 what, detail ? ": " : "", detail ? detail : "", (unsigned long long)p->ike_refused);
}

/* IKE_RECORD / IKE_DELETE into the held IKE cache, and live ones on to our pluto. */
static void peer_apply_ike(struct peer *p, const struct wire_record *rec, uint64_t now)
{
	bool bulk = rec->flags & WIRE_F_BULK;
	struct pluto_record pr;
	int rc;

	if (!p->ike_held)
		return;
	if (rec->type == WIRE_IKE_DELETE) {
		ike_delete(p->ike_held, rec->u.ike.spi_i, rec->u.ike.spi_r);
		if (p->ike_hooks.held_delete)
			p->ike_hooks.held_delete(p->ike_ctx, rec->u.ike.spi_i, rec->u.ike.spi_r);
		return;
	}
	/* The same parser as for our own pluto's socket: nothing half-applied. */
	rc = pluto_record_parse(rec->ike_json, rec->u.ike.json_len, &pr);
	if (rc != PLUTO_OK) {
		peer_ike_refuse(p, rc == PLUTO_IGNORED ? "unknown type" : pluto_strerror(rc),
				rc == PLUTO_IGNORED ? NULL : pr.bad_member);
		pluto_record_clear(&pr);
		return;
	}
	rc = ike_apply(p->ike_held, &pr, bulk, now);
	if (rc == IKE_E_NOMEM || rc == IKE_E_FULL) {
		pluto_record_clear(&pr);
		log_warn("peer: held IKE cache cannot take the peer's IKE SAs: %s", ike_strerror(rc));
		peer_resync(p, "held IKE cache cannot hold the peer's state");
		return;
	}
	if (rc != IKE_OK && rc != IKE_E_UNKNOWN)
		peer_ike_refuse(p, ike_strerror(rc), pluto_type_name(pr.type));
	else if (!bulk && p->ike_hooks.held_record)
		p->ike_hooks.held_record(p->ike_ctx, &pr, rec->ike_json, rec->u.ike.json_len);
	pluto_record_clear(&pr);
}

/*
 * BULK_END counts SA, policy and IKE records alike: the SA cache's share
 * is what the IKE cache did not take. Both bulks end, or neither.
 */
static int peer_bulk_end(struct peer *p, const struct wire_record *rec, uint64_t now)
{
	struct ike_bulk_info bi;
	uint64_t count = rec->u.bulk.count;
	int rc, irc;

	if (p->ike_held) {
		ike_bulk_info(p->ike_held, &bi);
		if (!bi.in_progress || bi.cur_records > count) {
			ike_bulk_abort(p->ike_held);
			cache_bulk_end(p->held, rec->u.bulk.generation, UINT64_MAX, now);
			return CACHE_E_COUNT;
		}
		count -= bi.cur_records;
	}
	rc = cache_bulk_end(p->held, rec->u.bulk.generation, count, now);
	if (!p->ike_held)
		return rc;
	if (rc != CACHE_OK) {
		ike_bulk_abort(p->ike_held);
		return rc;
	}
	irc = ike_bulk_end(p->ike_held, rec->u.bulk.generation, IKE_COUNT_ANY, IKE_COUNT_ANY, now,
			   NULL, NULL);
	if (irc != IKE_OK) {
		log_warn("peer: IKE snapshot %llu from %s: %s", (unsigned long long)rec->u.bulk.generation,
			 session_peer_id(p->session), ike_strerror(irc));
		return CACHE_E_COUNT;
	}
	log_info("peer: snapshot %llu from %s: %zu IKE SAs, %zu Child SAs",
		 (unsigned long long)rec->u.bulk.generation, session_peer_id(p->session),
		 ike_count(p->ike_held), ike_child_count(p->ike_held));
	if (p->ike_hooks.held_replaced)
		p->ike_hooks.held_replaced(p->ike_ctx);
	return CACHE_OK;
}

static void peer_apply(void *ctx, const struct wire_record *rec)
{
	struct peer *p = ctx;
	uint64_t now = peer_now_ms();
	int rc = CACHE_OK;

	switch (rec->type) {
	case WIRE_BULK_BEGIN:
		rc = cache_bulk_begin(p->held, rec->u.bulk.generation, now);
		if (p->ike_held)
			ike_bulk_begin(p->ike_held, rec->u.bulk.generation, now);
		break;
	case WIRE_IKE_RECORD:
	case WIRE_IKE_DELETE:
		peer_apply_ike(p, rec, now);
		return;
	case WIRE_BULK_END:
		rc = peer_bulk_end(p, rec, now);
		if (rc == CACHE_OK) {
			p->held_complete = true;
			log_info("peer: snapshot %llu from %s applied: %zu SAs, %zu policies",
				 (unsigned long long)rec->u.bulk.generation,
				 session_peer_id(p->session), cache_sa_count(p->held),
				 cache_policy_count(p->held));
		} else {
			log_warn("peer: snapshot %llu from %s incomplete (%s): asking for another",
				 (unsigned long long)rec->u.bulk.generation,
				 session_peer_id(p->session), cache_strerror(rc));
			peer_resync(p, "incomplete snapshot");
			return;
		}
		break;
	case WIRE_SA_ADD:
		rc = cache_sa_add(p->held, &rec->u.sa, now, rec->flags & WIRE_F_BULK);
		if (rc == CACHE_OK)
			peer_note_lag(p, rec->u.sa.synced_at_ms);
		break;
	case WIRE_SA_UPDATE:
		rc = cache_sa_update(p->held, &rec->u.update.key, &rec->u.update.replay,
				     &rec->u.update.curlft, rec->u.update.synced_at_ms, now);
		if (rc == CACHE_OK)
			peer_note_lag(p, rec->u.update.synced_at_ms);
		break;
	case WIRE_SA_DELETE:
		rc = cache_sa_delete(p->held, &rec->u.sa_key);
		break;
	case WIRE_POLICY_ADD:
		rc = cache_policy_add(p->held, &rec->u.policy, now, rec->flags & WIRE_F_BULK);
		break;
	case WIRE_POLICY_DELETE:
		rc = cache_policy_delete(p->held, &rec->u.policy_key);
		break;
	default:
		return;
	}
	/* Unknown SAs in updates and deletes are counted by the cache; anything
	 * else means our copy can no longer be trusted. */
	if (rc != CACHE_OK && rc != CACHE_E_UNKNOWN) {
		log_warn("peer: cannot apply %s from %s: %s", wire_type_name(rec->type),
			 session_peer_id(p->session), cache_strerror(rc));
		if (rc == CACHE_E_NOMEM || rc == CACHE_E_FULL)
			peer_resync(p, "standby cache cannot hold the peer's state");
	}
}

/* ---------------------------------------------------------------- session and transport */

static int peer_session_send(void *ctx, uint16_t stream, const uint8_t *buf, size_t len)
{
	struct peer *p = ctx;

	return transport_send(p->transport, stream, buf, len);
}

static void peer_session_reset(void *ctx, const char *why)
{
	struct peer *p = ctx;

	log_warn("peer: dropping the association: %s", why);
	p->resyncs++;
	transport_reset(p->transport, why);
}

static void peer_session_established(void *ctx, const char *peer_id)
{
	struct peer *p = ctx;

	log_info("peer: association with %s authenticated (%s, %s)", peer_id,
		 transport_is_initiator(p->transport) ? "we initiated" : "peer initiated",
		 conf_transport_name(p->conf->transport));
	peer_send_snapshot(p);
}

static void peer_transport_up(void *ctx)
{
	struct peer *p = ctx;

	session_transport_up(p->session, transport_is_initiator(p->transport), peer_now_ms());
}

static void peer_transport_down(void *ctx, const char *why)
{
	struct peer *p = ctx;

	if (session_state(p->session) != SESSION_DOWN)
		log_warn("peer: association lost: %s", why);
	session_transport_down(p->session);
}

static void peer_transport_frame(void *ctx, uint16_t stream, const uint8_t *buf, size_t len)
{
	struct peer *p = ctx;

	session_receive(p->session, stream, buf, len, peer_now_ms());
}

static void peer_transport_path(void *ctx, const struct sockaddr *addr, enum path_state st)
{
	char text[64];

	(void)ctx;
	log_info("peer: path to %s is %s", transport_addr_format(addr, text, sizeof(text)),
		 transport_path_state_name(st));
}

static void peer_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	(void)fd;
	(void)what;
	session_tick(p->session, peer_now_ms());
}

static void peer_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	(void)fd;
	(void)what;
	session_flush(p->session);
}

static void peer_sockaddr(struct sockaddr_storage *ss, const struct conf_addr *a, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = a->v4;
		sin->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = a->v6;
		sin6->sin6_port = htons(port);
	}
}

struct peer *peer_new(struct event_base *base, const struct conf *conf, const struct seal_psk *psk,
		      struct cache *own, struct cache *held)
{
	static const struct transport_callbacks tcb = {
		.up = peer_transport_up, .down = peer_transport_down,
		.frame = peer_transport_frame, .path = peer_transport_path,
	};
	static const struct session_callbacks scb = {
		.send = peer_session_send, .reset = peer_session_reset,
		.established = peer_session_established, .apply = peer_apply,
	};
	struct transport_config tc;
	struct session_config sc;
	struct peer *p;
	unsigned i;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base = base;
	p->conf = conf;
	p->own = own;
	p->held = held;

	memset(&tc, 0, sizeof(tc));
	tc.kind = conf->transport == CONF_TRANSPORT_TCP ? TRANSPORT_TCP : TRANSPORT_SCTP;
	for (i = 0; i < conf->n_local && i < TRANSPORT_ADDRS_MAX; i++)
		peer_sockaddr(&tc.local[i], &conf->local[i], conf->port);
	tc.n_local = (int)i;
	for (i = 0; i < conf->n_remote && i < TRANSPORT_ADDRS_MAX; i++)
		peer_sockaddr(&tc.remote[i], &conf->remote[i], conf->port);
	tc.n_remote = (int)i;
	tc.streams = (uint16_t)conf->streams;
	tc.reconnect_min_ms = conf->reconnect_min_ms;
	tc.reconnect_max_ms = conf->reconnect_max_ms;

	memset(&sc, 0, sizeof(sc));
	sc.node_id = conf->node_id;
	sc.psk = psk;
	sc.streams = (uint16_t)conf->streams;
	sc.caps = WIRE_CAP_ESN | WIRE_CAP_BATCH | WIRE_CAP_IKE;
	sc.max_unacked = conf->resend_queue;
	sc.heartbeat_ms = conf->heartbeat_ms;
	sc.dead_ms = conf->dead_time_ms;

	p->session = session_new(&sc, &scb, p);
	p->transport = transport_new(base, &tc, &tcb, p);
	p->tick = event_new(base, -1, EV_PERSIST, peer_on_tick, p);
	p->flush = event_new(base, -1, 0, peer_on_flush, p);
	if (!p->session || !p->transport || !p->tick || !p->flush) {
		peer_free(p);
		return NULL;
	}
	return p;
}

int peer_start(struct peer *p)
{
	struct timeval tv = { 0, PEER_TICK_MS * 1000 };

	if (event_add(p->tick, &tv) != 0)
		return -1;
	return transport_start(p->transport);
}

void peer_free(struct peer *p)
{
	if (!p)
		return;
	if (p->tick)
		event_free(p->tick);
	if (p->flush)
		event_free(p->flush);
	transport_free(p->transport);
	session_free(p->session);
	free(p);
}

void peer_resync(struct peer *p, const char *why)
{
	p->resyncs++;
	session_transport_down(p->session);
	transport_reset(p->transport, why);
}

/* ---------------------------------------------------------------- status */

bool peer_is_up(const struct peer *p)
{
	return peer_established(p);
}

bool peer_in_sync(const struct peer *p)
{
	if (!p->held_complete)
		return false;
	return peer_established(p) || !p->dirty_while_down;
}

const char *peer_state_name(const struct peer *p)
{
	if (peer_established(p))
		return "up";
	if (transport_is_up(p->transport) || session_state(p->session) != SESSION_DOWN)
		return "connecting";
	return "down";
}

const char *peer_node_id(const struct peer *p)
{
	const char *id = session_peer_id(p->session);

	return id[0] ? id : NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

void peer_get_lag(const struct peer *p, struct peer_lag *out)
{
	size_t n = p->lag_n < PEER_LAG_SAMPLES ? p->lag_n : PEER_LAG_SAMPLES;
	int64_t *sorted;

	memset(out, 0, sizeof(*out));
	out->samples = p->lag_n;
	out->p50_ms = out->p99_ms = out->max_ms = out->last_ms = -1;
	if (!n)
		return;
	out->last_ms = p->lag[(p->lag_n - 1) % PEER_LAG_SAMPLES];
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return;
	memcpy(sorted, p->lag, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_i64);
	out->p50_ms = sorted[n / 2];
	out->p99_ms = sorted[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	out->max_ms = sorted[n - 1];
	free(sorted);
}

void peer_get_session_stats(const struct peer *p, struct session_stats *out)
{
	session_get_stats(p->session, out);
}

const struct transport *peer_transport(const struct peer *p)
{
	return p->transport;
}

uint64_t peer_resyncs(const struct peer *p)
{
	return p->resyncs;
}
