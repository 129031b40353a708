/* keepalived.h: keepalived's notify events (script arguments, notify FIFO lines) parsed, mapped to VIPs, and the FIFO read on libevent. */
#ifndef HASYNC_KEEPALIVED_H
#define HASYNC_KEEPALIVED_H

#include <stddef.h>
#include <stdint.h>

#include "role.h"

struct conf;
struct event_base;
struct json_object;

#define KEEPALIVED_NAME_MAX	64	/* 63 characters + NUL, like CONF_NAME_MAX */
#define KEEPALIVED_LINE_MAX	512	/* a FIFO line, newline excluded; longer ones are garbage */
#define KEEPALIVED_ERR_MAX	128	/* enough for every parser message */
#define KEEPALIVED_CHECK_MS	1000	/* how often the FIFO's path is checked for a new FIFO */

enum keepalived_type {
	KEEPALIVED_INSTANCE,		/* a vrrp_instance */
	KEEPALIVED_GROUP,		/* a vrrp_sync_group */
};

struct keepalived_event {
	enum keepalived_type type;
	char name[KEEPALIVED_NAME_MAX];
	enum role_event event;		/* ROLE_EV_MASTER .. ROLE_EV_DELETED */
	int priority;			/* 0..255 (groups: 0); -1 when not given */
};

/* Parser results. */
#define KEEPALIVED_OK		0
#define KEEPALIVED_IGNORED	1	/* well-formed, but not a state change: see below */
#define KEEPALIVED_ERROR	(-1)

/*
 * The four arguments keepalived appends to a `notify` script:
 * TYPE ("INSTANCE" or "GROUP"), NAME, STATE ("MASTER", "BACKUP", "FAULT",
 * "STOP", "DELETED") and PRIORITY (0..255, decimal; NULL when the caller
 * has none: priority -1). Words are matched exactly as keepalived sends
 * them (upper case). Names are 1..63 printable ASCII characters without
 * blanks or '"'. Returns KEEPALIVED_OK and *out, or KEEPALIVED_ERROR and a
 * one-line reason in err (which quotes at most 32 bytes of the input,
 * non-printable bytes escaped). Pure.
 */
int keepalived_parse_args(const char *type, const char *name, const char *state,
			  const char *priority, struct keepalived_event *out,
			  char *err, size_t errlen);

/*
 * One line read from keepalived's notify FIFO, without its '\n' (a final
 * '\r' is tolerated), len bytes, not necessarily NUL-terminated, may hold
 * NULs (which make it garbage). keepalived writes
 *	INSTANCE "VI_1" MASTER 100
 *	GROUP "G1" BACKUP 0
 * Returns KEEPALIVED_OK and *out for those; KEEPALIVED_IGNORED for lines
 * keepalived writes that change no state: the checker's "VS ..." and
 * "RS ..." lines (a shared notify_fifo), and an instance's
 * MASTER_RX_LOWER_PRI, MASTER_PRIORITY and BACKUP_PRIORITY events;
 * KEEPALIVED_ERROR and the reason in err for anything else. Fuzzed by
 * tests/fuzz/fuzz_keepalived.c. Pure.
 */
int keepalived_parse_fifo_line(const char *line, size_t len, struct keepalived_event *out,
			       char *err, size_t errlen);

/*
 * The args of a control-socket `notify` request as hasyncctl sends them:
 * {"type":"INSTANCE","name":"VI_1","state":"MASTER","priority":100},
 * priority optional (an integer 0..255). Same results and errors as
 * keepalived_parse_args(); err names the member at fault. Pure.
 */
int keepalived_parse_json(struct json_object *args, struct keepalived_event *out,
			  char *err, size_t errlen);

/*
 * The VIPs an event concerns: the indexes i (ascending) of every
 * c->vips[i] whose instance equals ev->name (case-sensitive, like
 * keepalived's names), whatever ev->type: the config names an instance or
 * a sync group the same way. Writes at most max indexes to idx and returns
 * how many matched (may exceed max; 0: an event for an instance we do not
 * sync, which is normal). Pure.
 */
unsigned keepalived_match(const struct conf *c, const struct keepalived_event *ev,
			  unsigned *idx, unsigned max);

/* "INSTANCE", "GROUP". */
const char *keepalived_type_name(enum keepalived_type t);

/* ---- the notify FIFO reader (libevent) ---- */

/* Called once per state-change line, in the order keepalived wrote them. */
typedef void (*keepalived_event_fn)(const struct keepalived_event *ev, void *ctx);

struct keepalived_fifo_stats {
	uint64_t lines;			/* complete lines read */
	uint64_t events;		/* passed to the callback */
	uint64_t ignored;		/* KEEPALIVED_IGNORED lines */
	uint64_t garbage;		/* lines that did not parse, or too long */
	uint64_t reopens;		/* the FIFO was reopened (replaced, removed, EOF, read error) */
};

struct keepalived_fifo;

/*
 * Open the notify FIFO at path and read it from base. A missing FIFO is
 * created (mode 0600), so that keepalived, started after us, finds it and
 * does not remove it when it stops (keepalived unlinks only FIFOs it
 * created). The path must be a FIFO (not a symbolic link) owned by our
 * effective uid and not writable by group or others: anyone who can write
 * to it can make this node take over or step down. It is opened
 * O_RDWR | O_NONBLOCK, so we never see "no writer" (EOF) while keepalived
 * restarts, and keepalived's own O_NONBLOCK open always finds a reader.
 * Every KEEPALIVED_CHECK_MS the path is checked; if it now names another
 * file (keepalived created a new FIFO) or nothing (it is recreated), it is
 * reopened, as after EOF or a read error. A partial line is dropped on
 * reopen. Lines that do not parse are logged (rate-limited) and counted.
 * Returns NULL with a reason in err if the path is unusable at start.
 * The callback must not free the reader.
 */
struct keepalived_fifo *keepalived_fifo_open(struct event_base *base, const char *path,
					     keepalived_event_fn cb, void *ctx,
					     char *err, size_t errlen);
void keepalived_fifo_get_stats(const struct keepalived_fifo *f, struct keepalived_fifo_stats *out);
/* Read what is available now, as the event loop would (for tests and for a prompt start). */
void keepalived_fifo_poll(struct keepalived_fifo *f);
/* Closes the FIFO; leaves the file in place (keepalived may hold it open). */
void keepalived_fifo_free(struct keepalived_fifo *f);

#endif
