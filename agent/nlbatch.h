/* nlbatch.h: batches of netlink requests sent with one send() and their ACKs matched back by sequence number (used by rri.c and takeover.c). */
#ifndef HASYNC_NLBATCH_H
#define HASYNC_NLBATCH_H

/*
 * A promotion writes thousands of kernel objects: one round trip per
 * request would cost as much as the kernel's work itself. A batch copies
 * up to NLBATCH_MAX requests into one buffer, sends them with one send(),
 * then reads their ACKs (NLM_F_ACK) and matches them by sequence number,
 * keeping each request's errno and the kernel's extended ACK message.
 *
 * The socket is the caller's: it should have NETLINK_CAP_ACK (an error ACK
 * then carries no copy of the request, keys included), NETLINK_EXT_ACK
 * (the kernel's reason in words), libnl's sequence check off (libnl never
 * sees these answers), a receive buffer that holds one batch's ACKs, and
 * SO_RCVTIMEO so that a kernel that never answers cannot hang a failover.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nl_msg;
struct nl_sock;
struct nlmsghdr;

#define NLBATCH_MAX	64	/* requests per send() */
#define NLBATCH_WHY	96	/* bytes kept of the kernel's message, with its NUL */

/* Where a batch goes and with what: the caller's socket and buffers. */
struct nlbatch_io {
	struct nl_sock *sk;	/* hands out the sequence numbers */
	int fd;			/* its descriptor (any datagram socket in tests) */
	uint8_t *tx;		/* requests are copied here, tx_max bytes at most */
	size_t tx_max;
	uint8_t *rx;		/* answers are read here, rx_max bytes per recv() */
	size_t rx_max;
	bool wipe;		/* requests hold keys: wipe tx once sent, rx once read */
};

struct nlbatch {
	struct nlbatch_io io;
	size_t len;			/* bytes queued in io.tx */
	unsigned n;			/* requests queued */
	uint32_t seq[NLBATCH_MAX];
	size_t obj[NLBATCH_MAX];	/* caller's index of each request */
	int err[NLBATCH_MAX];		/* after a flush: 0, or -errno */
	char why[NLBATCH_MAX][NLBATCH_WHY];	/* the kernel's extended ACK message, if any */
};

/* What the caller does with each answered request of a flushed batch. */
typedef void (*nlbatch_done_fn)(void *ctx, size_t obj, int err, const char *why);

/*
 * Connects sk to the netlink protocol and sets it up as above: libnl's
 * sequence check off, CAP_ACK and EXT_ACK, a receive buffer of rcvbuf
 * bytes (past rmem_max when we may), a 5 s receive timeout. *fd is the
 * socket's descriptor. 0, or libnl's error from nl_connect().
 */
int nlbatch_socket_connect(struct nl_sock *sk, int protocol, int rcvbuf, int *fd);
/* An int SOL_NETLINK option; a kernel without it is logged at debug level, not an error. */
void nlbatch_sockopt(int fd, int opt, int val);

/* An empty batch on io (copied). */
void nlbatch_init(struct nlbatch *b, const struct nlbatch_io *io);

/*
 * Queues a copy of msg as request obj, with the next sequence number of
 * io.sk and NLM_F_REQUEST | NLM_F_ACK set (in msg too). -ENOSPC: the
 * batch is full, flush it first; -EMSGSIZE: msg can never fit. The caller
 * still owns msg.
 */
int nlbatch_add(struct nlbatch *b, struct nl_msg *msg, size_t obj);

/*
 * Sends what is queued and reads one ACK per request, until all are
 * answered or recv() fails (-ETIMEDOUT after SO_RCVTIMEO). Leaves each
 * request's answer in err[] and why[]; the requests stay queued.
 */
void nlbatch_flush(struct nlbatch *b);

/*
 * Pure: takes the ACKs in one received datagram (buf, len) for the
 * requests still unanswered, and returns how many it answered. Anything
 * else in buf (other messages, other sequence numbers, a second answer
 * to one request) is ignored.
 */
unsigned nlbatch_match(struct nlbatch *b, const void *buf, size_t len);

/* Flushes, calls done for each request in order, and empties the batch. */
void nlbatch_run(struct nlbatch *b, nlbatch_done_fn done, void *ctx);

/*
 * Queues msg as request obj, running the full batch through done first if
 * it must; a request that cannot be queued goes to done with its error at
 * once. The caller still owns msg.
 */
void nlbatch_queue(struct nlbatch *b, struct nl_msg *msg, size_t obj, nlbatch_done_fn done,
		   void *ctx);

/*
 * Pure: the text of NLMSGERR_ATTR_MSG in an NLMSG_ERROR message, if the
 * kernel sent one (NLM_F_ACK_TLVS), cut to len - 1 bytes; "" otherwise.
 * nlh->nlmsg_len bytes at nlh must be readable.
 */
void nlbatch_extack(const struct nlmsghdr *nlh, char *buf, size_t len);

#endif
