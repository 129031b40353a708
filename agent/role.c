/* role.c: the per-VIP role state machine (pure, no I/O); the table and its reasons are in role.h. */
#include <string.h>

#include "role.h"

struct cell {
	enum role_state to;
	enum role_action act;
};

#define C(s, a)	{ ROLE_##s, ROLE_ACT_##a }

/* [from][event]; keep in step with the table in role.h and docs/deployment.md. */
static const struct cell table[ROLE_STATE_COUNT][ROLE_EVENT_COUNT] = {
	/*		MASTER		BACKUP		  FAULT		   STOP		   DELETED	   PROMOTE	    DEMOTE */
	[ROLE_INIT]   = { C(MASTER, PROMOTE), C(BACKUP, DEMOTE), C(FAULT, DEMOTE), C(INIT, DEMOTE), C(INIT, DEMOTE),
			  C(MASTER, PROMOTE), C(BACKUP, DEMOTE) },
	[ROLE_BACKUP] = { C(MASTER, PROMOTE), C(BACKUP, NONE), C(FAULT, NONE), C(INIT, DEMOTE), C(INIT, DEMOTE),
			  C(MASTER, PROMOTE), C(BACKUP, NONE) },
	[ROLE_MASTER] = { C(MASTER, NONE), C(BACKUP, DEMOTE), C(FAULT, DEMOTE), C(INIT, DEMOTE), C(INIT, DEMOTE),
			  C(MASTER, NONE), C(BACKUP, DEMOTE) },
	[ROLE_FAULT]  = { C(MASTER, PROMOTE), C(BACKUP, NONE), C(FAULT, NONE), C(INIT, DEMOTE), C(INIT, DEMOTE),
			  C(MASTER, PROMOTE), C(FAULT, NONE) },
};

#undef C

static const char *const state_names[ROLE_STATE_COUNT] = {
	[ROLE_INIT] = "INIT", [ROLE_BACKUP] = "BACKUP", [ROLE_MASTER] = "MASTER", [ROLE_FAULT] = "FAULT",
};

static const char *const event_names[ROLE_EVENT_COUNT] = {
	[ROLE_EV_MASTER] = "MASTER", [ROLE_EV_BACKUP] = "BACKUP", [ROLE_EV_FAULT] = "FAULT",
	[ROLE_EV_STOP] = "STOP", [ROLE_EV_DELETED] = "DELETED", [ROLE_EV_PROMOTE] = "PROMOTE",
	[ROLE_EV_DEMOTE] = "DEMOTE",
};

static bool event_from_keepalived(enum role_event ev)
{
	return ev <= ROLE_EV_DELETED;
}

void role_init(struct role *r, uint64_t now_ms)
{
	memset(r, 0, sizeof(*r));
	r->state = ROLE_INIT;
	r->vrrp = -1;
	r->since_ms = now_ms;
}

enum role_action role_next(enum role_state from, enum role_event ev, enum role_state *to)
{
	if ((unsigned)from >= ROLE_STATE_COUNT || (unsigned)ev >= ROLE_EVENT_COUNT) {
		*to = from;
		return ROLE_ACT_NONE;
	}
	*to = table[from][ev].to;
	return table[from][ev].act;
}

enum role_action role_handle(struct role *r, enum role_event ev, uint64_t now_ms)
{
	enum role_state to;
	enum role_action act;

	if ((unsigned)ev >= ROLE_EVENT_COUNT || (unsigned)r->state >= ROLE_STATE_COUNT)
		return ROLE_ACT_NONE;
	act = role_next(r->state, ev, &to);
	r->events[ev]++;
	r->last_event_ms = now_ms;
	if (event_from_keepalived(ev)) {
		r->vrrp = (int)ev;
		r->manual = false;
	}
	if (to != r->state) {
		r->state = to;
		r->since_ms = now_ms;
		r->transitions++;
		if (!event_from_keepalived(ev))
			r->manual = true;
	}
	if (act == ROLE_ACT_PROMOTE)
		r->promotions++;
	else if (act == ROLE_ACT_DEMOTE)
		r->demotions++;
	return act;
}

const char *role_state_name(enum role_state s)
{
	return (unsigned)s < ROLE_STATE_COUNT ? state_names[s] : "?";
}

const char *role_event_name(enum role_event ev)
{
	return (unsigned)ev < ROLE_EVENT_COUNT ? event_names[ev] : "?";
}

const char *role_action_name(enum role_action a)
{
	switch (a) {
	case ROLE_ACT_NONE:
		return "none";
	case ROLE_ACT_PROMOTE:
		return "promote";
	case ROLE_ACT_DEMOTE:
		return "demote";
	}
	return "?";
}

int role_event_parse(const char *s, enum role_event *out)
{
	for (int ev = ROLE_EV_MASTER; ev <= ROLE_EV_DELETED; ev++) {
		if (!strcmp(s, event_names[ev])) {
			*out = (enum role_event)ev;
			return 0;
		}
	}
	return -1;
}

const char *role_name(const struct role *r)
{
	return r->state == ROLE_MASTER ? "active" : "standby";
}

const char *role_vrrp_name(const struct role *r)
{
	if (r->vrrp < 0 || r->vrrp > ROLE_EV_DELETED)
		return "unknown";
	return event_names[r->vrrp];
}
