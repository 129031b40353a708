/* ctl_handlers.c: the control socket's commands (status, sas, ike, peers, resync, check, notify, promote, demote) over the daemon's state. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "ctl_handlers.h"
#include "daemon.h"
#include "ikesync.h"
#include "log.h"
#include "peer.h"
#include "pluto.h"
#include "vip.h"
#include "xfrm.h"

static const char *ctlh_path_state_word(enum path_state st)
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

static unsigned ctlh_paths(const struct daemon *d, struct ctl_path_status *out, unsigned max)
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
				out[k].state = ctlh_path_state_word(info[j].state);
				if (info[j].rtt_ms)
					out[k].rtt_ms = info[j].rtt_ms;
			}
		}
	}
	return k;
}

static struct json_object *ctlh_takeover_json(const struct vip_takeover *t)
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
static void ctlh_status_takeovers(const struct daemon *d, struct json_object *data)
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
		json_object_object_add(o, "last_takeover", ctlh_takeover_json(vips_last(d->vips, (unsigned)i)));
	}
}

static struct json_object *ctlh_status_ike(const struct daemon *d, const struct session_stats *ss);

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
	st.n_paths = ctlh_paths(d, paths, CONF_PATHS_MAX);
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
	ctlh_status_takeovers(d, data);

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
	json_object_object_add(data, "ike", ctlh_status_ike(d, &ss));
	return 0;
}

/* status' "ike" object: pluto's socket, both IKE caches, the last activate/drop answer. */
static struct json_object *ctlh_status_ike(const struct daemon *d, const struct session_stats *ss)
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
	p.n_paths = ctlh_paths(d, paths, CONF_PATHS_MAX);
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

void ctlh_register(struct ctl *ctl, struct daemon *d)
{
	ctl_register(ctl, "status", handle_status, d);
	ctl_register(ctl, "sas", handle_sas, d);
	ctl_register(ctl, "ike", handle_ike, d);
	ctl_register(ctl, "peers", handle_peers, d);
	ctl_register(ctl, "resync", handle_resync, d);
	ctl_register(ctl, "check", handle_check, d);
	ctl_register(ctl, "notify", handle_notify, d);
	ctl_register(ctl, "promote", handle_promote, d);
	ctl_register(ctl, "demote", handle_demote, d);
}
