/* vip.c: each VIP's role and the takeover it drives: keepalived and hasyncctl events queued, applied one at a time. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "vip.h"

#define VIPS_QUEUE_MAX	256
/* An SA this close to the end of its sequence space is left to a rekey. */
#define VIPS_EXHAUSTION_MARGIN	(1u << 20)

struct vip_job {
	unsigned vip;
	enum role_event ev;
	uint64_t queued_us;
};

struct vips {
	const struct conf *conf;
	struct cache *held;
	struct takeover *takeover;
	struct event *run;
	struct role roles[CONF_VIPS_MAX];
	struct vip_takeover last[CONF_VIPS_MAX];
	bool stepped_down[CONF_VIPS_MAX];	/* the last action was a demotion */
	struct vip_job queue[VIPS_QUEUE_MAX];
	unsigned head, count;
	uint64_t dropped;
	struct vips_hooks hooks;
	void *hooks_ctx;
};

static uint64_t now_us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct ha_addr vip_address(const struct conf_vip *cv)
{
	struct ha_addr a;

	memset(&a, 0, sizeof(a));
	a.family = cv->address.family;
	if (a.family == AF_INET)
		a.v4 = cv->address.v4;
	else
		a.v6 = cv->address.v6;
	return a;
}

static void vips_apply(struct vips *v, const struct vip_job *job)
{
	const struct conf_vip *cv = &v->conf->vips[job->vip];
	struct role *r = &v->roles[job->vip];
	enum role_state before = r->state;
	enum role_action act = role_handle(r, job->ev, now_us(CLOCK_MONOTONIC) / 1000);
	struct rri_params rri = {
		.enabled = cv->rri, .table = cv->route_table, .metric = cv->route_metric,
		.protocol = cv->route_protocol,
	};
	struct takeover_params params = {
		.replay_out = v->conf->replay_interval_out,
		.replay_in = v->conf->replay_interval_in,
		.exhaustion_margin = VIPS_EXHAUSTION_MARGIN,
	};
	struct vip_takeover *last = &v->last[job->vip];
	struct ha_addr addr = vip_address(cv);
	uint64_t start = now_us(CLOCK_MONOTONIC);
	int rc;

	log_info("vip %s: %s in %s -> %s: %s", cv->name, role_event_name(job->ev),
		 role_state_name(before), role_state_name(r->state), role_action_name(act));
	if (act == ROLE_ACT_NONE)
		return;
	v->stepped_down[job->vip] = act == ROLE_ACT_DEMOTE;
	memset(last, 0, sizeof(*last));
	last->promotion = act == ROLE_ACT_PROMOTE;
	last->queued_us = start - job->queued_us;
	if (act == ROLE_ACT_PROMOTE) {
		rc = takeover_promote(v->takeover, v->held, (int)job->vip, &params, &rri, &last->res);
	} else {
		if (v->hooks.before_demote)
			v->hooks.before_demote(v->hooks_ctx, job->vip);
		rc = takeover_demote(v->takeover, &addr, &rri, &last->res);
	}
	last->valid = true;
	last->at_wall_ms = now_us(CLOCK_REALTIME) / 1000;
	if (act == ROLE_ACT_PROMOTE)
		log_info("vip %s: promoted %u SAs (%u near exhaustion, %u failed), %u policies, "
			 "%u routes in %.1f ms%s", cv->name, last->res.sas_installed,
			 last->res.sas_near_exhaustion, last->res.sas_failed,
			 last->res.policies_installed, last->res.routes_added,
			 last->res.total_us / 1000.0, rc ? " (with errors)" : "");
	else
		log_info("vip %s: stepped down: removed %u SAs, %u policies, %u routes in %.1f ms%s",
			 cv->name, last->res.sas_removed, last->res.policies_removed,
			 last->res.routes_removed, last->res.total_us / 1000.0,
			 rc ? " (with errors)" : "");
	if (act == ROLE_ACT_PROMOTE && v->hooks.after_promote)
		v->hooks.after_promote(v->hooks_ctx, job->vip, rc);
	else if (act == ROLE_ACT_DEMOTE && v->hooks.after_demote)
		v->hooks.after_demote(v->hooks_ctx, job->vip);
}

void vips_set_hooks(struct vips *v, const struct vips_hooks *hooks, void *ctx)
{
	v->hooks = *hooks;
	v->hooks_ctx = ctx;
}

void vips_run_queue(struct vips *v)
{
	while (v->count) {
		struct vip_job job = v->queue[v->head];

		v->head = (v->head + 1) % VIPS_QUEUE_MAX;
		v->count--;
		vips_apply(v, &job);
	}
}

static void vips_on_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	vips_run_queue(arg);
}

static int vips_enqueue(struct vips *v, unsigned vip, enum role_event ev)
{
	struct vip_job *job;

	if (v->count == VIPS_QUEUE_MAX) {
		v->dropped++;
		return -1;
	}
	job = &v->queue[(v->head + v->count) % VIPS_QUEUE_MAX];
	job->vip = vip;
	job->ev = ev;
	job->queued_us = now_us(CLOCK_MONOTONIC);
	v->count++;
	event_active(v->run, 0, 0);
	return 0;
}

struct vips *vips_new(struct event_base *base, const struct conf *conf, struct cache *held)
{
	struct vips *v = calloc(1, sizeof(*v));
	uint64_t now = now_us(CLOCK_MONOTONIC) / 1000;

	if (!v)
		return NULL;
	v->conf = conf;
	v->held = held;
	v->takeover = takeover_new();
	v->run = event_new(base, -1, 0, vips_on_run, v);
	if (!v->takeover || !v->run) {
		vips_free(v);
		return NULL;
	}
	for (unsigned i = 0; i < conf->n_vips; i++)
		role_init(&v->roles[i], now);
	return v;
}

void vips_free(struct vips *v)
{
	if (!v)
		return;
	if (v->run)
		event_free(v->run);
	takeover_free(v->takeover);
	free(v);
}

int vips_keepalived(struct vips *v, const struct keepalived_event *ev, char *err, size_t errlen)
{
	unsigned idx[CONF_VIPS_MAX];
	unsigned n = keepalived_match(v->conf, ev, idx, CONF_VIPS_MAX);

	if (n == 0) {
		snprintf(err, errlen, "no vip section has instance=%s: nothing to do", ev->name);
		return -1;
	}
	for (unsigned k = 0; k < n && k < CONF_VIPS_MAX; k++)
		if (vips_enqueue(v, idx[k], ev->event) != 0) {
			snprintf(err, errlen, "too many events waiting: %s %s dropped", ev->name,
				 role_event_name(ev->event));
			return -1;
		}
	return 0;
}

int vips_manual(struct vips *v, const char *name, bool promote, char *err, size_t errlen)
{
	for (unsigned i = 0; i < v->conf->n_vips; i++)
		if (!strcmp(v->conf->vips[i].name, name)) {
			if (vips_enqueue(v, i, promote ? ROLE_EV_PROMOTE : ROLE_EV_DEMOTE) != 0) {
				snprintf(err, errlen, "too many events waiting");
				return -1;
			}
			return 0;
		}
	snprintf(err, errlen, "no vip named %s", name);
	return -1;
}

const struct role *vips_role(const struct vips *v, unsigned i)
{
	return &v->roles[i];
}

const struct vip_takeover *vips_last(const struct vips *v, unsigned i)
{
	return &v->last[i];
}

bool vips_any_master(const struct vips *v)
{
	for (unsigned i = 0; i < v->conf->n_vips; i++)
		if (v->roles[i].state == ROLE_MASTER)
			return true;
	return false;
}

bool vips_reports_removals(const struct vips *v, int i)
{
	if (i < 0 || (unsigned)i >= v->conf->n_vips)
		return true;
	return !v->stepped_down[i];
}

unsigned vips_queued(const struct vips *v)
{
	return v->count;
}
