/* hasyncd.c: the IPsec state-sync daemon: options, config, key, the event loop tying capture, peer link, caches and control socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cache.h"
#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "ike.h"
#include "ikesync.h"
#include "peer.h"
#include "pluto.h"
#include "seal.h"
#include "vip.h"
#include "xfrm.h"

struct daemon {
	struct conf *conf;
	struct event_base *base;
	struct seal_psk *psk;
	struct cache *own;		/* what our kernel holds for our VIPs */
	struct cache *held;		/* what the peer's kernel holds: the standby cache */
	struct xfrm_capture *capture;
	struct peer *peer;
	struct ctl *ctl;
	struct vips *vips;		/* role per VIP, promotion and step-down */
	struct keepalived_fifo *fifo;
	struct event *sig_term, *sig_int, *sig_hup, *watchdog;
	uint64_t own_gen;		/* dumps of our kernel, as bulk generations of `own` */
	uint64_t own_dump_count;	/* entries the running dump added */
	bool own_dumping;

	struct ikesync *ike;		/* IKE sync (docs/architecture.md); NULL without pluto-ha-socket */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: hasyncd [-f] [-c FILE] [--check-config] [--version]\n"
		"  -f, --foreground     stay in the foreground, log to stderr\n"
		"  -c, --config FILE    configuration file (default %s)\n"
		"      --check-config   validate the configuration and the key file, print\n"
		"                       the effective configuration, and exit\n"
		"  -V, --version        print the version and exit\n", CONF_PATH_DEFAULT);
}

/* ---------------------------------------------------------------- capture -> own cache -> peer */

static void on_sa_update(void *ctx, const struct ha_sa *captured, bool counters_only)
{
	struct daemon *d = ctx;
	struct ha_sa sa = *captured;
	struct ha_sa_key key;
	uint64_t now = peer_now_ms();
	int rc;

	/* SYNCED_AT is wall-clock time on the wire (docs/protocol.md): the
	 * standby measures lag against its own clock. */
	sa.synced_at_ms = peer_wall_ms();
	if (counters_only) {
		key = ha_sa_key_of(&sa);
		rc = cache_sa_update(d->own, &key, &sa.replay, &sa.curlft, sa.synced_at_ms, now);
		if (rc == CACHE_E_UNKNOWN)
			rc = cache_sa_add(d->own, &sa, now, d->own_dumping);
	} else {
		rc = cache_sa_add(d->own, &sa, now, d->own_dumping);
		if (rc == CACHE_OK && d->own_dumping)
			d->own_dump_count++;
	}
	if (rc != CACHE_OK)
		log_warn("capture: cannot keep SA spi 0x%08x: %s", ntohl(sa.id.spi), cache_strerror(rc));
	peer_sa_changed(d->peer, &sa, counters_only);
	explicit_bzero(&sa, sizeof(sa));
}

static void on_sa_delete(void *ctx, const struct ha_sa_key *key)
{
	struct daemon *d = ctx;
	const struct cache_sa_entry *e = cache_sa_lookup(d->own, key);
	bool report = vips_reports_removals(d->vips, e ? e->vip : CACHE_VIP_NONE);

	cache_sa_delete(d->own, key);
	if (report)
		peer_sa_deleted(d->peer, key);
}

/* A policy removed by our own step-down is handed over, not news for the peer. */
static bool policy_removal_reported(const struct daemon *d, const struct ha_policy *pol)
{
	for (unsigned i = 0; i < d->conf->n_vips; i++) {
		struct ha_addr a = vip_address(&d->conf->vips[i]);

		if (takeover_policy_is_vip(pol, &a) && !vips_reports_removals(d->vips, (int)i))
			return false;
	}
	return true;
}

static void on_policy_update(void *ctx, const struct ha_policy *pol)
{
	struct daemon *d = ctx;

	if (cache_policy_add(d->own, pol, peer_now_ms(), d->own_dumping) == CACHE_OK && d->own_dumping)
		d->own_dump_count++;
	peer_policy_changed(d->peer, pol);
}

static void on_policy_delete(void *ctx, const struct ha_policy *pol)
{
	struct daemon *d = ctx;
	struct ha_policy_key key = ha_policy_key_of(pol);

	cache_policy_delete(d->own, &key);
	if (policy_removal_reported(d, pol))
		peer_policy_deleted(d->peer, &key);
}

static void on_dump_begin(void *ctx)
{
	struct daemon *d = ctx;

	d->own_gen++;
	d->own_dump_count = 0;
	d->own_dumping = true;
	cache_bulk_begin(d->own, d->own_gen, peer_now_ms());
	peer_set_own_ready(d->peer, false);
}

static void on_dump_end(void *ctx)
{
	struct daemon *d = ctx;
	int rc;

	d->own_dumping = false;
	rc = cache_bulk_end(d->own, d->own_gen, d->own_dump_count, peer_now_ms());
	if (rc != CACHE_OK) {
		log_err("capture: our kernel's dump did not add up (%s)", cache_strerror(rc));
		return;
	}
	log_info("capture: %zu SAs and %zu policies of our VIPs in the kernel",
		 cache_sa_count(d->own), cache_policy_count(d->own));
	peer_set_own_ready(d->peer, true);
}

/* ---------------------------------------------------------------- IKE sync's links to the peer and the VIPs */

static void on_ike_record(void *ctx, uint64_t spi_i, uint64_t spi_r, const char *json, size_t len)
{
	struct daemon *d = ctx;

	peer_ike_record(d->peer, spi_i, spi_r, json, len);
}

static void on_ike_deleted(void *ctx, uint64_t spi_i, uint64_t spi_r)
{
	struct daemon *d = ctx;

	peer_ike_deleted(d->peer, spi_i, spi_r);
}

static void on_ike_send_own(void *ctx)
{
	struct daemon *d = ctx;

	peer_ike_send_own(d->peer);
}

static bool on_ike_reports_removals(void *ctx, int vip)
{
	struct daemon *d = ctx;

	return vips_reports_removals(d->vips, vip);
}

/* ---------------------------------------------------------------- control socket */

static const char *path_state_word(enum path_state st)
{
	switch (st) {
	case PATH_ACTIVE:
		return "up";
	case PATH_POTENTIALLY_FAILED:
		return "failing";
	case PATH_INACTIVE:
		return "down";
	default:
		return "unknown";
	}
}

static unsigned daemon_paths(const struct daemon *d, struct ctl_path_status *out, unsigned max)
{
	struct transport_path_info info[TRANSPORT_ADDRS_MAX];
	int n = transport_paths(peer_transport(d->peer), info, TRANSPORT_ADDRS_MAX);
	unsigned i, k = 0;

	for (i = 0; i < d->conf->n_remote && k < max; i++, k++) {
		memset(&out[k], 0, sizeof(out[k]));
		if (i < d->conf->n_local)
			conf_addr_format(&d->conf->local[i], out[k].local, sizeof(out[k].local));
		conf_addr_format(&d->conf->remote[i], out[k].remote, sizeof(out[k].remote));
		out[k].state = "down";
		out[k].rtt_ms = -1;
		out[k].primary = i == 0;
		for (int j = 0; j < n; j++) {
			char text[CTL_ADDR_MAX];
			struct sockaddr *sa = (struct sockaddr *)&info[j].addr;

			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, text, sizeof(text));
			else
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof(text));
			if (!strcmp(text, out[k].remote)) {
				out[k].state = path_state_word(info[j].state);
				if (info[j].rtt_ms)
					out[k].rtt_ms = info[j].rtt_ms;
			}
		}
	}
	return k;
}

static struct json_object *takeover_json(const struct vip_takeover *t)
{
	struct json_object *o;

	if (!t->valid)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string(t->promotion ? "promote" : "demote"));
	json_object_object_add(o, "at_ms", json_object_new_int64((int64_t)t->at_wall_ms));
	json_object_object_add(o, "queued_ms", json_object_new_double(t->queued_us / 1000.0));
	json_object_object_add(o, "total_ms", json_object_new_double(t->res.total_us / 1000.0));
	json_object_object_add(o, "sas_ms", json_object_new_double(t->res.sas_us / 1000.0));
	json_object_object_add(o, "policies_ms", json_object_new_double(t->res.policies_us / 1000.0));
	json_object_object_add(o, "routes_ms", json_object_new_double(t->res.routes_us / 1000.0));
	if (t->promotion) {
		json_object_object_add(o, "sas", json_object_new_int(t->res.sas_installed));
		json_object_object_add(o, "sas_failed", json_object_new_int(t->res.sas_failed));
		json_object_object_add(o, "sas_near_exhaustion",
				       json_object_new_int(t->res.sas_near_exhaustion));
		json_object_object_add(o, "policies", json_object_new_int(t->res.policies_installed));
		json_object_object_add(o, "policies_failed", json_object_new_int(t->res.policies_failed));
		json_object_object_add(o, "routes", json_object_new_int(t->res.routes_added));
		json_object_object_add(o, "routes_failed", json_object_new_int(t->res.routes_failed));
	} else {
		json_object_object_add(o, "sas", json_object_new_int(t->res.sas_removed));
		json_object_object_add(o, "policies", json_object_new_int(t->res.policies_removed));
		json_object_object_add(o, "routes", json_object_new_int(t->res.routes_removed));
	}
	return o;
}

/* Each VIP's last promotion or step-down, and its role counters, into status' vips[]. */
static void status_add_takeovers(const struct daemon *d, struct json_object *data)
{
	struct json_object *arr;

	if (!json_object_object_get_ex(data, "vips", &arr))
		return;
	for (size_t i = 0; i < json_object_array_length(arr) && i < d->conf->n_vips; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const struct role *r = vips_role(d->vips, (unsigned)i);

		json_object_object_add(o, "state", json_object_new_string(role_state_name(r->state)));
		json_object_object_add(o, "promotions", json_object_new_int64((int64_t)r->promotions));
		json_object_object_add(o, "demotions", json_object_new_int64((int64_t)r->demotions));
		json_object_object_add(o, "last_takeover", takeover_json(vips_last(d->vips, (unsigned)i)));
	}
}

static struct json_object *status_ike(const struct daemon *d, const struct session_stats *ss);

static int handle_status(struct json_object *args, struct json_object *data, char *err,
			 size_t errlen, void *ctx)
{
	struct daemon *d = ctx;
	struct ctl_vip_status vips[CONF_VIPS_MAX];
	struct ctl_path_status paths[CONF_PATHS_MAX];
	struct ctl_counter decode[-WIRE_STATUS_MIN + 1];
	struct session_stats ss;
	struct xfrm_capture_stats xs;
	struct transport_stats ts;
	struct peer_lag lag;
	struct ctl_status st;
	struct json_object *extra;
	unsigned i, nd = 0;

	(void)args;
	(void)err;
	(void)errlen;
	memset(&st, 0, sizeof(st));
	for (i = 0; i < d->conf->n_vips; i++) {
		memset(&vips[i], 0, sizeof(vips[i]));
		vips[i].name = d->conf->vips[i].name;
		conf_addr_format(&d->conf->vips[i].address, vips[i].address, sizeof(vips[i].address));
		vips[i].instance = d->conf->vips[i].instance;
		vips[i].role = role_name(vips_role(d->vips, i));
		vips[i].vrrp_state = role_vrrp_name(vips_role(d->vips, i));
	}
	peer_get_session_stats(d->peer, &ss);
	for (i = 1; i < sizeof(ss.decode_errors) / sizeof(ss.decode_errors[0]); i++) {
		decode[nd].name = wire_strerror(-(int)i);
		decode[nd++].value = ss.decode_errors[i];
	}
	peer_get_lag(d->peer, &lag);
	st.node_id = d->conf->node_id;
	st.vips = vips;
	st.n_vips = d->conf->n_vips;
	st.peer_node_id = peer_node_id(d->peer);
	st.peer_state = peer_state_name(d->peer);
	st.transport = conf_transport_name(d->conf->transport);
	st.paths = paths;
	st.n_paths = daemon_paths(d, paths, CONF_PATHS_MAX);
	st.sync_lag_ms = lag.p50_ms;
	st.in_sync = peer_in_sync(d->peer);
	st.decode_errors = decode;
	st.n_decode_errors = nd;
	st.auth_failures = ss.hello_rejected + ss.frames_forged;
	st.replays = ss.frames_replayed;
	st.records_sent = ss.records_out;
	st.records_received = ss.records_in;
	st.in_sync = st.in_sync || vips_any_master(d->vips);
	if (ctl_status_json(&st, d->held, d->ctl, peer_now_ms(), data) != 0)
		return -1;
	status_add_takeovers(d, data);

	/* What the documented object does not cover yet: our own capture,
	 * lag percentiles, and that takeover is not built. */
	xfrm_capture_get_stats(d->capture, &xs);
	extra = json_object_new_object();
	json_object_object_add(extra, "own_sas", json_object_new_int64((int64_t)cache_sa_count(d->own)));
	json_object_object_add(extra, "own_policies",
			       json_object_new_int64((int64_t)cache_policy_count(d->own)));
	json_object_object_add(extra, "held_policies",
			       json_object_new_int64((int64_t)cache_policy_count(d->held)));
	json_object_object_add(extra, "netlink_events", json_object_new_int64((int64_t)xs.events));
	json_object_object_add(extra, "netlink_overruns", json_object_new_int64((int64_t)xs.enobufs));
	json_object_object_add(extra, "kernel_dumps", json_object_new_int64((int64_t)xs.dumps));
	json_object_object_add(extra, "lag_samples", json_object_new_int64((int64_t)lag.samples));
	json_object_object_add(extra, "lag_p50_ms", lag.p50_ms < 0 ? NULL : json_object_new_int64(lag.p50_ms));
	json_object_object_add(extra, "lag_p99_ms", lag.p99_ms < 0 ? NULL : json_object_new_int64(lag.p99_ms));
	json_object_object_add(extra, "lag_max_ms", lag.max_ms < 0 ? NULL : json_object_new_int64(lag.max_ms));
	json_object_object_add(extra, "resyncs", json_object_new_int64((int64_t)peer_resyncs(d->peer)));
	transport_get_stats(peer_transport(d->peer), &ts);
	/* Turned away before any HELLO: strangers, and bytes no frame can be made of. */
	json_object_object_add(extra, "transport_refused", json_object_new_int64((int64_t)ts.refused));
	json_object_object_add(extra, "transport_garbage", json_object_new_int64((int64_t)ts.garbage));
	json_object_object_add(extra, "held_memory_bytes",
			       json_object_new_int64((int64_t)cache_memory_bytes(d->held)));
	json_object_object_add(extra, "takeover", json_object_new_string(d->ike ?
		"kernel SAs, policies and routes by hasyncd; IKE SAs activated in pluto (patch 0007)" :
		"kernel-only: ESP SAs, policies and routes; IKE sync off (no pluto-ha-socket)"));
	json_object_object_add(data, "agent", extra);
	json_object_object_add(data, "ike", status_ike(d, &ss));
	return 0;
}

/* status' "ike" object: pluto's socket, both IKE caches, the last activate/drop answer. */
static struct json_object *status_ike(const struct daemon *d, const struct session_stats *ss)
{
	struct json_object *o = json_object_new_object(), *r;
	struct ikesync_stats is;
	struct pluto_stats ps;
	struct ike_cache *own, *held;

	json_object_object_add(o, "enabled", json_object_new_boolean(d->ike != NULL));
	if (!d->ike)
		return o;
	pluto_get_stats(ikesync_pluto(d->ike), &ps);
	ikesync_get_stats(d->ike, &is);
	own = ikesync_own(d->ike);
	held = ikesync_held(d->ike);
	json_object_object_add(o, "pluto_socket", json_object_new_string(d->conf->pluto_ha_socket));
	json_object_object_add(o, "pluto_connected", json_object_new_boolean(ps.connected));
	json_object_object_add(o, "pluto_snapshot_done", json_object_new_boolean(is.pluto_ready));
	json_object_object_add(o, "pluto_records", json_object_new_int64((int64_t)ps.records));
	json_object_object_add(o, "pluto_malformed", json_object_new_int64((int64_t)ps.malformed));
	json_object_object_add(o, "pluto_sent", json_object_new_int64((int64_t)ps.sent));
	json_object_object_add(o, "pluto_send_failures", json_object_new_int64((int64_t)ps.send_failures));
	json_object_object_add(o, "own", json_object_new_int64((int64_t)ike_count(own)));
	json_object_object_add(o, "own_children", json_object_new_int64((int64_t)ike_child_count(own)));
	json_object_object_add(o, "held", json_object_new_int64((int64_t)ike_count(held)));
	json_object_object_add(o, "held_children",
			       json_object_new_int64((int64_t)ike_child_count(held)));
	json_object_object_add(o, "imports", json_object_new_int64((int64_t)is.imports));
	json_object_object_add(o, "import_failures", json_object_new_int64((int64_t)is.import_failures));
	json_object_object_add(o, "forwarded", json_object_new_int64((int64_t)is.forwarded));
	json_object_object_add(o, "forward_failures", json_object_new_int64((int64_t)is.forward_failures));
	json_object_object_add(o, "records_sent", json_object_new_int64((int64_t)(ss->ike_records_out +
												   ss->ike_deletes_out)));
	json_object_object_add(o, "records_received", json_object_new_int64((int64_t)ss->ike_records_in));
	json_object_object_add(o, "skipped_no_cap", json_object_new_int64((int64_t)ss->ike_skipped));
	json_object_object_add(o, "refused", json_object_new_int64((int64_t)peer_ike_refused(d->peer)));
	r = NULL;
	if (is.last_reply.valid) {
		r = json_object_new_object();
		json_object_object_add(r, "type", json_object_new_string(pluto_type_name(is.last_reply.type)));
		json_object_object_add(r, "local", json_object_new_string(is.last_reply.local));
		json_object_object_add(r, "ike", json_object_new_int64((int64_t)is.last_reply.ike));
		json_object_object_add(r, "child", json_object_new_int64((int64_t)is.last_reply.child));
		json_object_object_add(r, "failed", json_object_new_int64((int64_t)is.last_reply.failed));
		json_object_object_add(r, "at_ms", json_object_new_int64((int64_t)is.last_reply.at_wall_ms));
	}
	json_object_object_add(o, "last_reply", r);
	return o;
}

static int handle_ike(struct json_object *args, struct json_object *data, char *err, size_t errlen,
		      void *ctx)
{
	struct daemon *d = ctx;

	return ctl_ike_json(d->ike ? ikesync_own(d->ike) : NULL, d->ike ? ikesync_held(d->ike) : NULL, args,
			    peer_now_ms(), data, err, errlen);
}

static int handle_sas(struct json_object *args, struct json_object *data, char *err, size_t errlen,
		      void *ctx)
{
	struct daemon *d = ctx;
	struct json_object *which;
	struct cache *c = d->held;

	/* {"own":true} lists what this node captured instead of what it holds for the peer. */
	if (json_object_object_get_ex(args, "own", &which) && json_object_get_boolean(which))
		c = d->own;
	return ctl_sas_json(c, args, peer_now_ms(), data, err, errlen);
}

static int handle_peers(struct json_object *args, struct json_object *data, char *err,
			size_t errlen, void *ctx)
{
	struct daemon *d = ctx;
	struct ctl_path_status paths[CONF_PATHS_MAX];
	struct session_stats ss;
	struct ctl_peers p;

	(void)args;
	(void)err;
	(void)errlen;
	peer_get_session_stats(d->peer, &ss);
	memset(&p, 0, sizeof(p));
	p.peer_node_id = peer_node_id(d->peer);
	p.peer_state = peer_state_name(d->peer);
	p.transport = conf_transport_name(d->conf->transport);
	p.paths = paths;
	p.n_paths = daemon_paths(d, paths, CONF_PATHS_MAX);
	p.records_sent = ss.records_out;
	p.records_received = ss.records_in;
	p.bytes_sent = ss.bytes_out;
	p.bytes_received = ss.bytes_in;
	p.resyncs = peer_resyncs(d->peer);
	return ctl_peers_json(&p, data);
}

static int handle_resync(struct json_object *args, struct json_object *data, char *err,
			 size_t errlen, void *ctx)
{
	struct daemon *d = ctx;

	(void)args;
	if (!peer_is_up(d->peer)) {
		snprintf(err, errlen, "the peer is not connected: a snapshot follows when it is");
		return -1;
	}
	log_info("control: resync asked: new association, snapshots both ways");
	peer_resync(d->peer, "operator asked for a resync");
	json_object_object_add(data, "resync", json_object_new_string("started"));
	return 0;
}

static int handle_check(struct json_object *args, struct json_object *data, char *err,
			size_t errlen, void *ctx)
{
	struct daemon *d = ctx;
	bool master = vips_any_master(d->vips);
	bool ok = master || peer_in_sync(d->peer);

	(void)args;
	(void)err;
	(void)errlen;
	/* A master holds the truth itself: failing it would only move the VIP
	 * to a node that knows less. */
	json_object_object_add(data, "in_sync", json_object_new_boolean(ok));
	json_object_object_add(data, "reason", json_object_new_string(
		master ? "master: this node's kernel holds the state"
		: ok ? "holding a complete snapshot from the peer"
		: peer_is_up(d->peer) ? "first snapshot from the peer not complete yet"
		: "no snapshot from the peer, or unsent changes, and the peer is not connected"));
	return 0;
}

static void on_keepalived(const struct keepalived_event *ev, void *ctx)
{
	struct daemon *d = ctx;
	char err[CTL_ERR_MAX];

	if (vips_keepalived(d->vips, ev, err, sizeof(err)) != 0)
		log_info("keepalived: %s %s %s: %s", keepalived_type_name(ev->type), ev->name,
			 role_event_name(ev->event), err);
}

/* keepalived's notify script, through hasyncctl: queued, answered at once. */
static int handle_notify(struct json_object *args, struct json_object *data, char *err,
			 size_t errlen, void *ctx)
{
	struct daemon *d = ctx;
	struct keepalived_event ev;

	if (keepalived_parse_json(args, &ev, err, errlen) != KEEPALIVED_OK)
		return -1;
	log_info("keepalived: %s %s is %s", keepalived_type_name(ev.type), ev.name,
		 role_event_name(ev.event));
	if (vips_keepalived(d->vips, &ev, err, errlen) != 0)
		return -1;
	json_object_object_add(data, "queued", json_object_new_int((int)vips_queued(d->vips)));
	return 0;
}

static int handle_manual(struct json_object *args, struct json_object *data, char *err,
			 size_t errlen, void *ctx, bool promote)
{
	struct daemon *d = ctx;
	struct json_object *name;

	if (!json_object_object_get_ex(args, "vip", &name) || !json_object_is_type(name, json_type_string)) {
		snprintf(err, errlen, "args.vip: the VIP's name is missing");
		return -1;
	}
	log_info("control: %s %s asked by the operator", promote ? "promote" : "demote",
		 json_object_get_string(name));
	if (vips_manual(d->vips, json_object_get_string(name), promote, err, errlen) != 0)
		return -1;
	/* Maintenance is interactive: answer once it is done. */
	vips_run_queue(d->vips);
	json_object_object_add(data, promote ? "promoted" : "demoted",
			       json_object_new_string(json_object_get_string(name)));
	return 0;
}

static int handle_promote(struct json_object *args, struct json_object *data, char *err,
			  size_t errlen, void *ctx)
{
	return handle_manual(args, data, err, errlen, ctx, true);
}

static int handle_demote(struct json_object *args, struct json_object *data, char *err,
			 size_t errlen, void *ctx)
{
	return handle_manual(args, data, err, errlen, ctx, false);
}

/* ---------------------------------------------------------------- process */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_info("SIGHUP: configuration reload is not supported; restart hasyncd to apply changes");
		return;
	}
	log_info("signal %d: stopping (kernel SAs and the standby cache are left as they are)", (int)sig);
	event_base_loopexit(d->base, NULL);
}

#ifdef HAVE_SYSTEMD
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}
#endif

static int daemon_watchdog(struct daemon *d)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec) {
		struct timeval tv = { (time_t)(usec / 2 / 1000000), (suseconds_t)(usec / 2 % 1000000) };

		d->watchdog = event_new(d->base, -1, EV_PERSIST, on_watchdog, d);
		if (!d->watchdog || event_add(d->watchdog, &tv) != 0)
			return -1;
	}
#else
	(void)d;
#endif
	return 0;
}

static int daemon_load_key(struct daemon *d)
{
	struct conf_error err;
	uint8_t key[CONF_KEY_MAX];
	size_t len = 0;
	int rc;

	if (conf_check_key_file(d->conf->key_file, &err) != 0 ||
	    conf_read_key_file(d->conf->key_file, key, sizeof(key), &len, &err) != 0) {
		log_err("%s", err.msg);
		return -1;
	}
	rc = seal_psk_new(key, len, &d->psk);
	explicit_bzero(key, sizeof(key));
	if (rc != SEAL_OK) {
		log_err("%s: %s", d->conf->key_file, seal_strerror(rc));
		return -1;
	}
	return 0;
}

/* IKE sync: both IKE caches and the client of pluto's HA socket, hooked to the peer and the VIPs. */
static int daemon_init_ike(struct daemon *d)
{
	static const struct ikesync_links links = {
		.ike_record = on_ike_record, .ike_deleted = on_ike_deleted,
		.send_own = on_ike_send_own, .reports_removals = on_ike_reports_removals,
	};
	static const struct peer_ike_hooks hooks = {
		.held_record = ikesync_held_record, .held_delete = ikesync_held_delete,
		.held_replaced = ikesync_held_replaced,
	};

	d->ike = ikesync_new(d->base, d->conf, &links, d);
	if (!d->ike)
		return -1;
	peer_set_ike(d->peer, ikesync_own(d->ike), ikesync_held(d->ike), &hooks, d->ike);
	vips_set_hooks(d->vips, &(struct vips_hooks){ .before_demote = ikesync_before_demote,
		.after_demote = ikesync_after_demote, .after_promote = ikesync_after_promote }, d->ike);
	return 0;
}

static int daemon_init(struct daemon *d)
{
	static const struct xfrm_events ev = {
		.sa_update = on_sa_update, .sa_delete = on_sa_delete,
		.policy_update = on_policy_update, .policy_delete = on_policy_delete,
		.dump_begin = on_dump_begin, .dump_end = on_dump_end,
	};
	struct cache_config cc;
	struct xfrm_filter filter;
	struct xfrm_thresholds thr;
	char err[CTL_ERR_MAX];
	unsigned i;

	if (seal_global_init() != SEAL_OK) {
		log_err("cannot initialise NSS");
		return -1;
	}
	if (daemon_load_key(d) != 0)
		return -1;

	memset(&cc, 0, sizeof(cc));
	memset(&filter, 0, sizeof(filter));
	for (i = 0; i < d->conf->n_vips; i++) {
		const struct conf_vip *v = &d->conf->vips[i];
		struct ha_addr a = { .family = v->address.family };

		if (a.family == AF_INET)
			a.v4 = v->address.v4;
		else
			a.v6 = v->address.v6;
		snprintf(cc.vips[i].name, sizeof(cc.vips[i].name), "%s", v->name);
		cc.vips[i].addr = a;
		filter.vips[i] = a;
	}
	cc.n_vips = d->conf->n_vips;
	filter.n_vips = (int)d->conf->n_vips;
	/* The table's hash key is secret so remote peers, who pick our inbound
	 * SPIs, cannot aim collisions at it. */
	if (seal_random(cc.hash_seed, sizeof(cc.hash_seed)) != SEAL_OK)
		return -1;
	d->own = cache_new(&cc);
	if (seal_random(cc.hash_seed, sizeof(cc.hash_seed)) != SEAL_OK)
		return -1;
	d->held = cache_new(&cc);
	explicit_bzero(cc.hash_seed, sizeof(cc.hash_seed));
	if (!d->own || !d->held)
		return -1;

	d->base = event_base_new();
	if (!d->base)
		return -1;
	d->peer = peer_new(d->base, d->conf, d->psk, d->own, d->held);
	if (!d->peer) {
		log_err("cannot set up the sync transport");
		return -1;
	}
	d->vips = vips_new(d->base, d->conf, d->held);
	if (!d->vips) {
		log_err("cannot set up takeover (netlink)");
		return -1;
	}
	if (d->conf->pluto_ha_socket[0] && daemon_init_ike(d) != 0)
		return -1;
	memset(&thr, 0, sizeof(thr));
	thr.replay_in = d->conf->replay_interval_in;
	thr.replay_out = d->conf->replay_interval_out;
	thr.etimer_ms = d->conf->counter_timer_ms;
	d->capture = xfrm_capture_new(d->base, &filter, &thr, &ev, d);
	if (!d->capture) {
		log_err("cannot set up the XFRM capture");
		return -1;
	}

	d->ctl = ctl_new(d->base);
	if (!d->ctl || ctl_listen(d->ctl, d->conf->control_socket, err, sizeof(err)) != 0) {
		log_err("control socket: %s", d->ctl ? err : "out of memory");
		return -1;
	}
	ctl_register(d->ctl, "status", handle_status, d);
	ctl_register(d->ctl, "sas", handle_sas, d);
	ctl_register(d->ctl, "ike", handle_ike, d);
	ctl_register(d->ctl, "peers", handle_peers, d);
	ctl_register(d->ctl, "resync", handle_resync, d);
	ctl_register(d->ctl, "check", handle_check, d);
	ctl_register(d->ctl, "notify", handle_notify, d);
	ctl_register(d->ctl, "promote", handle_promote, d);
	ctl_register(d->ctl, "demote", handle_demote, d);
	if (d->conf->notify_fifo[0]) {
		d->fifo = keepalived_fifo_open(d->base, d->conf->notify_fifo, on_keepalived, d, err,
					       sizeof(err));
		if (!d->fifo) {
			log_err("notify-fifo %s: %s", d->conf->notify_fifo, err);
			return -1;
		}
	}

	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	if (!d->sig_term || !d->sig_int || !d->sig_hup || event_add(d->sig_term, NULL) ||
	    event_add(d->sig_int, NULL) || event_add(d->sig_hup, NULL))
		return -1;
	if (daemon_watchdog(d) != 0)
		return -1;

	if (xfrm_capture_start(d->capture) != 0) {
		log_err("cannot read the kernel's XFRM state (netlink): %s", strerror(errno));
		return -1;
	}
	if (peer_start(d->peer) != 0) {
		log_err("cannot start the sync transport: %s", strerror(errno));
		return -1;
	}
	if (d->ike && ikesync_start(d->ike) != 0) {
		log_err("cannot start the pluto client: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void daemon_free(struct daemon *d)
{
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->watchdog)
		event_free(d->watchdog);
	ctl_free(d->ctl);
	keepalived_fifo_free(d->fifo);
	vips_free(d->vips);
	xfrm_capture_free(d->capture);
	peer_free(d->peer);
	ikesync_free(d->ike);
	cache_free(d->own);
	cache_free(d->held);
	seal_psk_free(d->psk);
	if (d->base)
		event_base_free(d->base);
	conf_free(d->conf);
	seal_global_shutdown();
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = CONF_PATH_DEFAULT;
	bool foreground = false, check_only = false;
	struct daemon d;
	struct conf_error err;
	int opt, status = EXIT_FAILURE;

	while ((opt = getopt_long(argc, argv, "fc:Vh", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
			foreground = true;
			break;
		case 'c':
			path = optarg;
			break;
		case 'C':
			check_only = true;
			break;
		case 'V':
			printf("hasyncd %s\n", HASYNC_VERSION);
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	memset(&d, 0, sizeof(d));
	if (conf_load(path, &d.conf, &err) != 0) {
		fprintf(stderr, "hasyncd: %s\n", err.msg);
		return EXIT_FAILURE;
	}
	if (check_only) {
		if (conf_check_key_file(d.conf->key_file, &err) != 0) {
			fprintf(stderr, "hasyncd: %s\n", err.msg);
			conf_free(d.conf);
			return EXIT_FAILURE;
		}
		conf_dump(d.conf, stdout);
		conf_free(d.conf);
		return EXIT_SUCCESS;
	}

	/* Under systemd (NOTIFY_SOCKET) or -f we stay in the foreground; the
	 * journal takes stderr only with -f, syslog otherwise. */
	log_init("hasyncd", foreground, d.conf->log_level);
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	if (!foreground && !getenv("NOTIFY_SOCKET") && daemon(0, 0) != 0) {
		log_err("cannot daemonize: %s", strerror(errno));
		conf_free(d.conf);
		return EXIT_FAILURE;
	}
	if (daemon_init(&d) == 0) {
		char peer[64];

		log_info("hasyncd %s: node %s, %u VIP(s), peer %s over %s", HASYNC_VERSION,
			 d.conf->node_id, d.conf->n_vips,
			 conf_addr_format(&d.conf->remote[0], peer, sizeof(peer)),
			 conf_transport_name(d.conf->transport));
#ifdef HAVE_SYSTEMD
		sd_notify(0, "READY=1\nSTATUS=syncing");
#endif
		event_base_dispatch(d.base);
#ifdef HAVE_SYSTEMD
		sd_notify(0, "STOPPING=1");
#endif
		status = EXIT_SUCCESS;
	}
	daemon_free(&d);
	return status;
}
