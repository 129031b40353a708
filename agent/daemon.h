/* daemon.h: struct daemon, the state of the one hasyncd process, shared by hasyncd.c and ctl_handlers.c. */
#ifndef HASYNC_DAEMON_H
#define HASYNC_DAEMON_H

/*
 * This header exists only because the control commands (ctl_handlers.c)
 * report on nearly every part of the daemon, and moving them out of
 * hasyncd.c moved them away from the struct. Only hasyncd.c writes it;
 * ctl_handlers.c reads it (and asks peer.c and vip.c to act). Library
 * modules take the pieces they need, never a struct daemon.
 */

#include <stdbool.h>
#include <stdint.h>

struct cache;
struct conf;
struct ctl;
struct event;
struct event_base;
struct ikesync;
struct keepalived_fifo;
struct peer;
struct seal_psk;
struct vips;
struct xfrm_capture;

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

#endif
