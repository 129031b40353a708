/* role.h: the per-VIP role state machine driven by keepalived and hasyncctl (pure, no I/O; docs/deployment.md section 7). */
#ifndef HASYNC_ROLE_H
#define HASYNC_ROLE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * What this node is for one VIP. Only MASTER means "the VIP's SAs are ours
 * in the kernel"; INIT means we do not know yet what keepalived thinks
 * (daemon just started, or keepalived stopped or deleted the instance).
 */
enum role_state {
	ROLE_INIT,
	ROLE_BACKUP,
	ROLE_MASTER,
	ROLE_FAULT,
	ROLE_STATE_COUNT,
};

/*
 * MASTER .. DELETED come from keepalived, with its own spelling
 * (role_event_parse()); PROMOTE and DEMOTE from `hasyncctl promote|demote
 * VIP`, for maintenance.
 */
enum role_event {
	ROLE_EV_MASTER,
	ROLE_EV_BACKUP,
	ROLE_EV_FAULT,
	ROLE_EV_STOP,
	ROLE_EV_DELETED,
	ROLE_EV_PROMOTE,
	ROLE_EV_DEMOTE,
	ROLE_EVENT_COUNT,
};

/* What the daemon must do after role_handle(): takeover_promote() / takeover_demote() for that VIP. */
enum role_action {
	ROLE_ACT_NONE,
	ROLE_ACT_PROMOTE,
	ROLE_ACT_DEMOTE,
};

/* One per VIP (conf->vips[i]); plain data, the daemon may copy it. */
struct role {
	enum role_state state;
	int vrrp;			/* last keepalived event (enum role_event), -1: none yet */
	bool manual;			/* the last transition came from hasyncctl */
	uint64_t since_ms;		/* when state last changed (the caller's clock) */
	uint64_t last_event_ms;		/* when the last event arrived, changed or not */
	uint64_t transitions;		/* state changes */
	uint64_t promotions;		/* ROLE_ACT_PROMOTE returned */
	uint64_t demotions;		/* ROLE_ACT_DEMOTE returned */
	uint64_t events[ROLE_EVENT_COUNT];	/* every event received, by kind */
};

/*
 * The table (state x event -> new state, action). "=" keeps the state,
 * "-" is no action. Every cell is tested in tests/unit/test_role.c.
 *
 *            MASTER        BACKUP        FAULT        STOP        DELETED     PROMOTE       DEMOTE
 *   INIT     MASTER,PROM   BACKUP,DEM    FAULT,DEM    INIT,DEM    INIT,DEM    MASTER,PROM   BACKUP,DEM
 *   BACKUP   MASTER,PROM   =,-           FAULT,-      INIT,DEM    INIT,DEM    MASTER,PROM   =,-
 *   MASTER   =,-           BACKUP,DEM    FAULT,DEM    INIT,DEM    INIT,DEM    =,-           BACKUP,DEM
 *   FAULT    MASTER,PROM   BACKUP,-      =,-          INIT,DEM    INIT,DEM    MASTER,PROM   =,-
 *
 * Why:
 * - Promote only when not MASTER: a second PROMOTE would reinstall the SAs
 *   from the standby cache, which stops being fed once we are master, and
 *   could move live outbound sequence numbers backwards. Repeated events
 *   (a FIFO and a script both configured, keepalived re-sending states on
 *   reload) are therefore harmless.
 * - From INIT we do not know what a previous run of the daemon left in the
 *   kernel, so any step towards "not master" demotes to make sure.
 * - BACKUP <-> FAULT: both already demoted; nothing to do.
 * - STOP and DELETED always demote, whatever the state: they are the last
 *   word keepalived says about the instance, they are rare, and a
 *   demotion that removes nothing costs one dump of the VIP's SAs, while
 *   SAs left behind would be used by both nodes at once. The state goes
 *   back to INIT: keepalived no longer owns the VIP.
 * - PROMOTE/DEMOTE are the operator's: they move the state like MASTER and
 *   BACKUP would, and mark it manual until keepalived's next event, which
 *   is applied as usual (keepalived stays the authority).
 */
void role_init(struct role *r, uint64_t now_ms);
/* Apply one event; returns what the daemon must do. An out-of-range event counts nothing and returns NONE. */
enum role_action role_handle(struct role *r, enum role_event ev, uint64_t now_ms);
/* The table alone, for docs and tests: the next state and action without touching a struct role. */
enum role_action role_next(enum role_state from, enum role_event ev, enum role_state *to);

/* "INIT", "BACKUP", "MASTER", "FAULT"; "?" out of range. */
const char *role_state_name(enum role_state s);
/* "MASTER", ..., "DELETED", "PROMOTE", "DEMOTE"; "?" out of range. */
const char *role_event_name(enum role_event ev);
/* "none", "promote", "demote"; "?" out of range. */
const char *role_action_name(enum role_action a);
/*
 * keepalived's state words, exactly as keepalived writes them (upper
 * case): MASTER, BACKUP, FAULT, STOP, DELETED. Returns 0 and the event, or
 * -1 for anything else (PROMOTE and DEMOTE are not keepalived's).
 */
int role_event_parse(const char *s, enum role_event *out);
/* For `hasyncctl status`: "active" when MASTER, else "standby". */
const char *role_name(const struct role *r);
/* The last keepalived state as status shows it: "MASTER", ..., "DELETED", or "unknown". */
const char *role_vrrp_name(const struct role *r);

#endif
