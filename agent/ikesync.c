/* ikesync.c: IKE sync orchestration: our pluto's records to the peer, the peer's to our pluto, activate and drop around takeovers. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ikesync.h"
#include "log.h"
#include "peer.h"	/* for peer_now_ms(), peer_wall_ms(): the clocks the caches are fed */
#include "seal.h"
#include "vip.h"	/* for vip_address() */

struct ikesync {
	const struct conf *conf;
	struct ikesync_links links;
	void *links_ctx;
	struct ike_cache *own;		/* our pluto's IKE SAs */
	struct ike_cache *held;		/* the peer's, handed to our pluto as dormant */
	struct pluto *pluto;
	uint64_t pluto_epoch;
	struct event *import_retry;	/* an import could not be written whole */
	struct ikesync_stats st;
};

/* ---------------------------------------------------------------- the peer's IKE SAs -> our pluto */

static void ikesync_import_later(struct ikesync *s)
{
	struct timeval tv = { 1, 0 };

	if (!evtimer_pending(s->import_retry, NULL))
		evtimer_add(s->import_retry, &tv);
}

/* haproto.md 2: flush, then the whole held cache, into our pluto as dormant SAs. */
static void ikesync_import(struct ikesync *s)
{
	size_t skipped = 0;
	long n;

	if (!s->pluto || !s->st.pluto_ready)
		return;
	evtimer_del(s->import_retry);
	n = pluto_import(s->pluto, s->held, &skipped);
	if (n < 0) {
		s->st.import_failures++;
		log_warn("pluto: import of the peer's IKE SAs incomplete (%s); again in 1 s", strerror(errno));
		ikesync_import_later(s);
		return;
	}
	s->st.imports++;
	log_info("pluto: handed %zu IKE SAs of the peer to pluto as dormant (%ld documents%s)",
		 ike_count(s->held), n, skipped ? ", some too big to send" : "");
}

static void ikesync_on_import_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ikesync_import(arg);
}

/* A live change the peer made to held: on to our pluto as it came. */
void ikesync_held_record(void *ctx, const struct pluto_record *rec, const char *json, size_t len)
{
	struct ikesync *s = ctx;

	if (!s->st.pluto_ready || evtimer_pending(s->import_retry, NULL))
		return;		/* the next import carries it */
	if (pluto_send(s->pluto, json, len) != 0) {
		s->st.forward_failures++;
		ikesync_import_later(s);
		return;
	}
	s->st.forwarded++;
	if (rec->type == PLUTO_IKE_SA) {
		const struct ike_entry *e = ike_lookup(s->held, rec->spi_i, rec->spi_r);

		if (e && e->state == IKE_STATE_ESTABLISHED)
			ike_set_state(s->held, rec->spi_i, rec->spi_r, IKE_STATE_DORMANT);
	}
}

void ikesync_held_delete(void *ctx, uint64_t spi_i, uint64_t spi_r)
{
	struct ikesync *s = ctx;

	if (!s->st.pluto_ready || evtimer_pending(s->import_retry, NULL))
		return;
	if (pluto_send_ike_delete(s->pluto, spi_i, spi_r) != 0) {
		s->st.forward_failures++;
		ikesync_import_later(s);
		return;
	}
	s->st.forwarded++;
}

void ikesync_held_replaced(void *ctx)
{
	ikesync_import(ctx);
}

/* ---------------------------------------------------------------- our pluto -> own cache -> the peer */

/* An IKE SA gone from our pluto's new snapshot: the peer drops it too, unless we stepped down. */
static void ikesync_on_own_ike_gone(void *ctx, const struct ike_entry *e)
{
	struct ikesync *s = ctx;

	if (s->links.reports_removals(s->links_ctx, e->vip))
		s->links.ike_deleted(s->links_ctx, e->spi_i, e->spi_r);
}

static void ikesync_on_pluto_connected(void *ctx, uint64_t epoch)
{
	struct ikesync *s = ctx;

	s->pluto_epoch = epoch;
	s->st.pluto_ready = false;
	ike_bulk_begin(s->own, epoch, peer_now_ms());
}

static void ikesync_on_pluto_disconnected(void *ctx, const char *why)
{
	struct ikesync *s = ctx;

	(void)why;
	s->st.pluto_ready = false;
	evtimer_del(s->import_retry);
}

static void ikesync_on_pluto_reply(struct ikesync *s, const struct pluto_record *rec)
{
	char addr[64] = "?";

	if (rec->local.addr.family == AF_INET)
		inet_ntop(AF_INET, &rec->local.addr.v4, addr, sizeof(addr));
	else if (rec->local.addr.family == AF_INET6)
		inet_ntop(AF_INET6, &rec->local.addr.v6, addr, sizeof(addr));
	s->st.last_reply.valid = true;
	s->st.last_reply.type = rec->type;
	snprintf(s->st.last_reply.local, sizeof(s->st.last_reply.local), "%s", addr);
	s->st.last_reply.ike = rec->n_ike;
	s->st.last_reply.child = rec->n_child;
	s->st.last_reply.failed = rec->n_failed;
	s->st.last_reply.at_wall_ms = peer_wall_ms();
	if (rec->type == PLUTO_ACTIVATED)
		log_info("pluto: activated %s: %llu IKE SAs, %llu Child SAs live, %llu failed", addr,
			 (unsigned long long)rec->n_ike, (unsigned long long)rec->n_child,
			 (unsigned long long)rec->n_failed);
	else
		log_info("pluto: dropped %s: %llu IKE SAs, %llu Child SAs deleted silently", addr,
			 (unsigned long long)rec->n_ike, (unsigned long long)rec->n_child);
}

static void ikesync_on_pluto_record(void *ctx, struct pluto_record *rec)
{
	struct ikesync *s = ctx;
	uint64_t now = peer_now_ms(), spi_i = 0, spi_r = 0;
	const struct ike_entry *e;
	bool have, report = true;
	int rc;

	switch (rec->type) {
	case PLUTO_ACTIVATED:
	case PLUTO_DROPPED:
		ikesync_on_pluto_reply(s, rec);
		return;
	case PLUTO_SNAPSHOT_END:
		rc = ike_bulk_end(s->own, s->pluto_epoch, rec->count,
				  rec->has_children ? rec->children : IKE_COUNT_ANY, now,
				  ikesync_on_own_ike_gone, s);
		if (rc != IKE_OK) {
			log_warn("pluto: snapshot did not add up (%s): asking again", ike_strerror(rc));
			pluto_reconnect(s->pluto, "snapshot did not add up");
			return;
		}
		log_info("pluto: %zu IKE SAs, %zu Child SAs of ours", ike_count(s->own),
			 ike_child_count(s->own));
		s->st.pluto_ready = true;
		s->links.send_own(s->links_ctx);
		ikesync_import(s);
		return;
	default:
		break;
	}
	have = ike_record_spis(s->own, rec, &spi_i, &spi_r);
	/* Deletes under a VIP we stepped down from hand the SAs over: not news for the peer. */
	if (rec->type == PLUTO_DELETE && have && (e = ike_lookup(s->own, spi_i, spi_r)) != NULL)
		report = s->links.reports_removals(s->links_ctx, e->vip);
	rc = ike_apply(s->own, rec, rec->in_snapshot, now);
	if (rc == IKE_E_NOMEM || rc == IKE_E_FULL) {
		log_warn("pluto: cannot keep our IKE SAs (%s): asking for a new snapshot", ike_strerror(rc));
		pluto_reconnect(s->pluto, "IKE cache full");
		return;
	}
	if (!rec->in_snapshot && have && report && rec->text)
		s->links.ike_record(s->links_ctx, spi_i, spi_r, rec->text, rec->text_len);
}

/* ---------------------------------------------------------------- promotion and step-down */

/* Held IKE SAs of VIP i as our pluto now has them. */
static void ikesync_held_vip_state(struct ikesync *s, unsigned i, enum ike_state state)
{
	const struct ike_entry **v;
	uint64_t (*spis)[2];
	size_t n = ike_list(s->held, true, (int)i, &v);

	if (n == (size_t)-1 || n == 0)
		return;
	spis = calloc(n, sizeof(*spis));
	for (size_t k = 0; spis && k < n; k++) {
		spis[k][0] = v[k]->spi_i;
		spis[k][1] = v[k]->spi_r;
	}
	free(v);
	for (size_t k = 0; spis && k < n; k++)
		ike_set_state(s->held, spis[k][0], spis[k][1], state);
	free(spis);
}

/* haproto.md 4: pluto deletes the VIP's live IKE SAs without a packet. */
static void ikesync_send_drop(struct ikesync *s, unsigned i, const char *when)
{
	struct ha_addr a = vip_address(&s->conf->vips[i]);

	if (!s->pluto || !pluto_is_connected(s->pluto))
		return;
	if (pluto_send_vip(s->pluto, false, &a) != 0)
		log_warn("vip %s: cannot ask pluto to drop its IKE SAs: %s", s->conf->vips[i].name,
			 strerror(errno));
	else
		log_info("vip %s: asked pluto to drop its IKE SAs silently (%s the step-down)",
			 s->conf->vips[i].name, when);
}

/* vips hook: a step-down is about to remove the VIP's kernel objects. */
void ikesync_before_demote(void *ctx, unsigned vip)
{
	ikesync_send_drop(ctx, vip, "before");
}

/* vips hook: the VIP is gone from here; pluto holds none of its SAs: hand it the peer's again. */
void ikesync_after_demote(void *ctx, unsigned vip)
{
	struct ikesync *s = ctx;

	ikesync_held_vip_state(s, vip, IKE_STATE_ESTABLISHED);
	ikesync_import(s);
}

/* vips hook: the VIP's kernel SAs are installed; pluto may now take its IKE SAs over. */
void ikesync_after_promote(void *ctx, unsigned vip, int rc)
{
	struct ikesync *s = ctx;
	struct ha_addr a = vip_address(&s->conf->vips[vip]);

	(void)rc;	/* SAs that failed are left out; pluto activates what it can */
	if (!s->pluto || !pluto_is_connected(s->pluto)) {
		log_warn("vip %s: promoted without pluto: IKE SAs not activated", s->conf->vips[vip].name);
		return;
	}
	if (pluto_send_vip(s->pluto, true, &a) != 0) {
		log_warn("vip %s: cannot ask pluto to activate: %s", s->conf->vips[vip].name,
			 strerror(errno));
		return;
	}
	ikesync_held_vip_state(s, vip, IKE_STATE_ACTIVE);
	log_info("vip %s: asked pluto to activate %zu dormant IKE SAs", s->conf->vips[vip].name,
		 ike_count_vip(s->held, (int)vip));
}

/* ---------------------------------------------------------------- life cycle */

struct ikesync *ikesync_new(struct event_base *base, const struct conf *conf,
			    const struct ikesync_links *links, void *links_ctx)
{
	static const struct pluto_callbacks pcb = {
		.connected = ikesync_on_pluto_connected, .record = ikesync_on_pluto_record,
		.disconnected = ikesync_on_pluto_disconnected,
	};
	struct pluto_config pc = { .socket_path = conf->pluto_ha_socket };
	struct ike_config ic;
	struct ikesync *s;
	unsigned i;

	s = calloc(1, sizeof(*s));
	if (!s) {
		log_err("cannot set up IKE sync with pluto (%s)", conf->pluto_ha_socket);
		return NULL;
	}
	s->conf = conf;
	s->links = *links;
	s->links_ctx = links_ctx;
	memset(&ic, 0, sizeof(ic));
	for (i = 0; i < conf->n_vips && i < IKE_VIPS_MAX; i++) {
		snprintf(ic.vips[i].name, sizeof(ic.vips[i].name), "%s", conf->vips[i].name);
		ic.vips[i].addr = vip_address(&conf->vips[i]);
	}
	ic.n_vips = i;
	/* Remote peers choose initiator SPIs: the hash key is secret. */
	if (seal_random(ic.hash_seed, sizeof(ic.hash_seed)) != SEAL_OK)
		goto fail_quiet;
	s->own = ike_new(&ic);
	if (seal_random(ic.hash_seed, sizeof(ic.hash_seed)) != SEAL_OK)
		goto fail_quiet;
	s->held = ike_new(&ic);
	explicit_bzero(ic.hash_seed, sizeof(ic.hash_seed));
	s->import_retry = evtimer_new(base, ikesync_on_import_retry, s);
	s->pluto = pluto_new(base, &pc, &pcb, s);
	if (!s->own || !s->held || !s->import_retry || !s->pluto) {
		log_err("cannot set up IKE sync with pluto (%s)", conf->pluto_ha_socket);
		ikesync_free(s);
		return NULL;
	}
	return s;

fail_quiet:
	explicit_bzero(ic.hash_seed, sizeof(ic.hash_seed));
	ikesync_free(s);
	return NULL;
}

int ikesync_start(struct ikesync *s)
{
	return pluto_start(s->pluto);
}

void ikesync_free(struct ikesync *s)
{
	if (!s)
		return;
	pluto_free(s->pluto);
	if (s->import_retry)
		event_free(s->import_retry);
	ike_free(s->own);
	ike_free(s->held);
	free(s);
}

struct ike_cache *ikesync_own(const struct ikesync *s)
{
	return s->own;
}

struct ike_cache *ikesync_held(const struct ikesync *s)
{
	return s->held;
}

struct pluto *ikesync_pluto(const struct ikesync *s)
{
	return s->pluto;
}

void ikesync_get_stats(const struct ikesync *s, struct ikesync_stats *out)
{
	*out = s->st;
}
