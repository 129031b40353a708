/* ctl_handlers.h: the control socket's commands (status, sas, ike, peers, resync, check, notify, promote, demote). */
#ifndef HASYNC_CTL_HANDLERS_H
#define HASYNC_CTL_HANDLERS_H

/*
 * ctl.c serves the socket and formats the documented objects; these are
 * the commands behind it, which gather what each answer needs from the
 * daemon's modules (docs/architecture.md) and, for resync, notify,
 * promote and demote, ask them to act. d must outlive ctl.
 */

struct ctl;
struct daemon;

void ctlh_register(struct ctl *ctl, struct daemon *d);

#endif
