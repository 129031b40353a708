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
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cache.h"
#include "conf.h"
#include "ctl.h"
#include "ctl_handlers.h"
#include "daemon.h"
#include "log.h"
#include "ikesync.h"
#include "peer.h"
#include "seal.h"
#include "vip.h"
#include "xfrm.h"

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

/* ---------------------------------------------------------------- keepalived notify FIFO */

static void on_keepalived(const struct keepalived_event *ev, void *ctx)
{
	struct daemon *d = ctx;
	char err[CTL_ERR_MAX];

	if (vips_keepalived(d->vips, ev, err, sizeof(err)) != 0)
		log_info("keepalived: %s %s %s: %s", keepalived_type_name(ev->type), ev->name,
			 role_event_name(ev->event), err);
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
	ctlh_register(d->ctl, d);
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
