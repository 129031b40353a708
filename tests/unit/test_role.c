/* test_role.c: unit tests for the per-VIP role state machine: every cell of the table, idempotence, counters, names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "role.h"

#define I ROLE_INIT
#define B ROLE_BACKUP
#define M ROLE_MASTER
#define F ROLE_FAULT
#define N ROLE_ACT_NONE
#define P ROLE_ACT_PROMOTE
#define D ROLE_ACT_DEMOTE

struct want {
	enum role_state to;
	enum role_action act;
};

/* The table of role.h and docs/deployment.md, written out again by hand. */
static const struct want table[ROLE_STATE_COUNT][ROLE_EVENT_COUNT] = {
	/*        MASTER   BACKUP   FAULT    STOP     DELETED  PROMOTE  DEMOTE */
	[I] = { { M, P }, { B, D }, { F, D }, { I, D }, { I, D }, { M, P }, { B, D } },
	[B] = { { M, P }, { B, N }, { F, N }, { I, D }, { I, D }, { M, P }, { B, N } },
	[M] = { { M, N }, { B, D }, { F, D }, { I, D }, { I, D }, { M, N }, { B, D } },
	[F] = { { M, P }, { B, N }, { F, N }, { I, D }, { I, D }, { M, P }, { F, N } },
};

/* Bring a fresh role into state s through events, as the daemon would see them. */
static void reach(struct role *r, enum role_state s)
{
	role_init(r, 0);
	switch (s) {
	case ROLE_INIT:
		break;
	case ROLE_BACKUP:
		role_handle(r, ROLE_EV_BACKUP, 1);
		break;
	case ROLE_MASTER:
		role_handle(r, ROLE_EV_MASTER, 1);
		break;
	case ROLE_FAULT:
		role_handle(r, ROLE_EV_FAULT, 1);
		break;
	default:
		fail();
	}
	assert_int_equal(r->state, s);
}

static void test_every_cell(void **state)
{
	for (int s = 0; s < ROLE_STATE_COUNT; s++) {
		for (int e = 0; e < ROLE_EVENT_COUNT; e++) {
			const struct want *w = &table[s][e];
			struct role r;
			enum role_state to;
			enum role_action act;
			uint64_t before_tr;

			/* the table alone */
			act = role_next((enum role_state)s, (enum role_event)e, &to);
			if (to != w->to || act != w->act)
				fail_msg("role_next(%s, %s) = %s, %s; want %s, %s",
					 role_state_name((enum role_state)s), role_event_name((enum role_event)e),
					 role_state_name(to), role_action_name(act),
					 role_state_name(w->to), role_action_name(w->act));

			/* and through a struct role, with its bookkeeping */
			reach(&r, (enum role_state)s);
			before_tr = r.transitions;
			act = role_handle(&r, (enum role_event)e, 100);
			assert_int_equal(act, w->act);
			assert_int_equal(r.state, w->to);
			assert_int_equal(r.last_event_ms, 100);
			if ((int)w->to != s) {
				assert_int_equal(r.transitions, before_tr + 1);
				assert_int_equal(r.since_ms, 100);
			} else {
				assert_int_equal(r.transitions, before_tr);
				assert_true(r.since_ms <= 1);
			}
		}
	}
}

/* The same event twice: the second never promotes, and only STOP/DELETED demote again. */
static void test_idempotent(void **state)
{
	for (int s = 0; s < ROLE_STATE_COUNT; s++) {
		for (int e = 0; e < ROLE_EVENT_COUNT; e++) {
			struct role r;
			enum role_action second;
			enum role_state after;

			reach(&r, (enum role_state)s);
			role_handle(&r, (enum role_event)e, 10);
			after = r.state;
			second = role_handle(&r, (enum role_event)e, 20);
			assert_int_equal(r.state, after);
			if (e == ROLE_EV_STOP || e == ROLE_EV_DELETED)
				assert_int_equal(second, ROLE_ACT_DEMOTE);
			else
				assert_int_equal(second, ROLE_ACT_NONE);
		}
	}
}

/* A failover and a failback as keepalived reports them, with the counters. */
static void test_sequence_and_counters(void **state)
{
	struct role r;

	role_init(&r, 5);
	assert_int_equal(r.state, ROLE_INIT);
	assert_int_equal(r.vrrp, -1);
	assert_string_equal(role_vrrp_name(&r), "unknown");
	assert_string_equal(role_name(&r), "standby");
	assert_int_equal(r.since_ms, 5);

	assert_int_equal(role_handle(&r, ROLE_EV_BACKUP, 10), ROLE_ACT_DEMOTE);	/* make sure */
	assert_int_equal(role_handle(&r, ROLE_EV_BACKUP, 11), ROLE_ACT_NONE);
	assert_int_equal(role_handle(&r, ROLE_EV_MASTER, 20), ROLE_ACT_PROMOTE);
	assert_string_equal(role_name(&r), "active");
	assert_string_equal(role_vrrp_name(&r), "MASTER");
	assert_int_equal(role_handle(&r, ROLE_EV_MASTER, 21), ROLE_ACT_NONE);
	assert_int_equal(role_handle(&r, ROLE_EV_FAULT, 30), ROLE_ACT_DEMOTE);
	assert_int_equal(role_handle(&r, ROLE_EV_BACKUP, 40), ROLE_ACT_NONE);
	assert_int_equal(role_handle(&r, ROLE_EV_MASTER, 50), ROLE_ACT_PROMOTE);
	assert_int_equal(role_handle(&r, ROLE_EV_STOP, 60), ROLE_ACT_DEMOTE);
	assert_int_equal(r.state, ROLE_INIT);
	assert_string_equal(role_vrrp_name(&r), "STOP");

	assert_int_equal(r.transitions, 6);	/* BACKUP MASTER FAULT BACKUP MASTER INIT */
	assert_int_equal(r.promotions, 2);
	assert_int_equal(r.demotions, 3);
	assert_int_equal(r.events[ROLE_EV_BACKUP], 3);
	assert_int_equal(r.events[ROLE_EV_MASTER], 3);
	assert_int_equal(r.events[ROLE_EV_FAULT], 1);
	assert_int_equal(r.events[ROLE_EV_STOP], 1);
	assert_int_equal(r.events[ROLE_EV_DELETED], 0);
	assert_int_equal(r.since_ms, 60);
	assert_int_equal(r.last_event_ms, 60);
}

/* Manual moves are marked until keepalived speaks again, and keepalived stays the authority. */
static void test_manual(void **state)
{
	struct role r;

	role_init(&r, 0);
	assert_int_equal(role_handle(&r, ROLE_EV_BACKUP, 1), ROLE_ACT_DEMOTE);
	assert_false(r.manual);
	assert_int_equal(role_handle(&r, ROLE_EV_PROMOTE, 2), ROLE_ACT_PROMOTE);
	assert_true(r.manual);
	assert_int_equal(r.state, ROLE_MASTER);
	assert_string_equal(role_vrrp_name(&r), "BACKUP");	/* manual events are not keepalived's */
	/* keepalived repeats BACKUP (a reload): we step down again */
	assert_int_equal(role_handle(&r, ROLE_EV_BACKUP, 3), ROLE_ACT_DEMOTE);
	assert_false(r.manual);
	assert_int_equal(role_handle(&r, ROLE_EV_MASTER, 4), ROLE_ACT_PROMOTE);
	assert_int_equal(role_handle(&r, ROLE_EV_DEMOTE, 5), ROLE_ACT_DEMOTE);
	assert_true(r.manual);
	assert_int_equal(r.state, ROLE_BACKUP);
	/* a manual DEMOTE that changes nothing leaves the flag alone */
	role_init(&r, 0);
	role_handle(&r, ROLE_EV_FAULT, 1);
	assert_int_equal(role_handle(&r, ROLE_EV_DEMOTE, 2), ROLE_ACT_NONE);
	assert_false(r.manual);
	assert_int_equal(r.state, ROLE_FAULT);
}

static void test_out_of_range(void **state)
{
	struct role r;
	enum role_state to;

	role_init(&r, 0);
	assert_int_equal(role_handle(&r, (enum role_event)ROLE_EVENT_COUNT, 1), ROLE_ACT_NONE);
	assert_int_equal(role_handle(&r, (enum role_event)-1, 1), ROLE_ACT_NONE);
	assert_int_equal(r.last_event_ms, 0);
	assert_int_equal(role_next((enum role_state)9, ROLE_EV_MASTER, &to), ROLE_ACT_NONE);
	assert_int_equal(to, 9);
	assert_string_equal(role_state_name((enum role_state)9), "?");
	assert_string_equal(role_event_name((enum role_event)9), "?");
	assert_string_equal(role_action_name((enum role_action)9), "?");
}

static void test_names_and_parse(void **state)
{
	static const char *const states[] = { "INIT", "BACKUP", "MASTER", "FAULT" };
	static const char *const events[] = { "MASTER", "BACKUP", "FAULT", "STOP", "DELETED",
					      "PROMOTE", "DEMOTE" };
	static const char *const bad[] = { "master", "Master", "MASTER ", " MASTER", "", "PROMOTE",
					   "DEMOTE", "INIT", "MASTER_RX_LOWER_PRI", "{UNKNOWN}" };
	enum role_event ev;

	for (int s = 0; s < ROLE_STATE_COUNT; s++)
		assert_string_equal(role_state_name((enum role_state)s), states[s]);
	for (int e = 0; e < ROLE_EVENT_COUNT; e++)
		assert_string_equal(role_event_name((enum role_event)e), events[e]);
	assert_string_equal(role_action_name(ROLE_ACT_NONE), "none");
	assert_string_equal(role_action_name(ROLE_ACT_PROMOTE), "promote");
	assert_string_equal(role_action_name(ROLE_ACT_DEMOTE), "demote");

	for (int e = ROLE_EV_MASTER; e <= ROLE_EV_DELETED; e++) {
		assert_int_equal(role_event_parse(events[e], &ev), 0);
		assert_int_equal(ev, e);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(role_event_parse(bad[i], &ev), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cell),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_sequence_and_counters),
		cmocka_unit_test(test_manual),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_names_and_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
