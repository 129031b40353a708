/* nlbatch.c: batches of netlink requests sent with one send() and their ACKs matched back by sequence number (used by rri.c and takeover.c). */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/netlink.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "log.h"
#include "nlbatch.h"

/* err[] of a request sent and not answered yet: no errno is positive. */
#define PENDING	1

void nlbatch_sockopt(int fd, int opt, int val)
{
	if (setsockopt(fd, SOL_NETLINK, opt, &val, sizeof(val)) < 0)
		log_debug("netlink option %d: %s", opt, strerror(errno));
}

int nlbatch_socket_connect(struct nl_sock *sk, int protocol, int rcvbuf, int *fd)
{
	struct timeval tv = { 5, 0 };
	int rc = nl_connect(sk, protocol);

	if (rc < 0)
		return rc;
	*fd = nl_socket_get_fd(sk);
	/* Batches take sequence numbers that libnl never sees answered. */
	nl_socket_disable_seq_check(sk);
	/*
	 * CAP_ACK: an error ACK would otherwise echo the whole request, keys
	 * included, into our receive buffer. EXT_ACK: the kernel's reason,
	 * which the 6.10+ direction rules give in words.
	 */
	nlbatch_sockopt(*fd, NETLINK_CAP_ACK, 1);
	nlbatch_sockopt(*fd, NETLINK_EXT_ACK, 1);
	/* One batch's ACKs must fit, or the kernel drops them. */
	if (setsockopt(*fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		nl_socket_set_buffer_size(sk, rcvbuf, 0);
	/* A kernel that never answers must not hang a failover. */
	setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

void nlbatch_init(struct nlbatch *b, const struct nlbatch_io *io)
{
	memset(b, 0, sizeof(*b));
	b->io = *io;
}

void nlbatch_extack(const struct nlmsghdr *nlh, char *buf, size_t len)
{
	const struct nlmsgerr *e = NLMSG_DATA(nlh);
	size_t off, end = nlh->nlmsg_len;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || end < NLMSG_HDRLEN + sizeof(*e))
		return;
	/* Without NETLINK_CAP_ACK the request comes back first: skip it. */
	off = NLMSG_HDRLEN + sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len > NLMSG_HDRLEN ? NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN) : 0;
	while (off + NLA_HDRLEN <= end) {
		const struct nlattr *a = (const void *)((const char *)nlh + off);

		if (a->nla_len < NLA_HDRLEN || a->nla_len > end - off)
			return;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
			const char *s = (const char *)a + NLA_HDRLEN;
			size_t l = strnlen(s, a->nla_len - NLA_HDRLEN);

			if (l >= len)
				l = len - 1;
			memcpy(buf, s, l);
			buf[l] = '\0';
			return;
		}
		off += NLA_ALIGN(a->nla_len);
	}
}

int nlbatch_add(struct nlbatch *b, struct nl_msg *msg, size_t obj)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	uint8_t *dst = b->io.tx + b->len;

	if (nlh->nlmsg_len > b->io.tx_max)
		return -EMSGSIZE;
	if (b->n == NLBATCH_MAX || b->len + NLMSG_ALIGN(nlh->nlmsg_len) > b->io.tx_max)
		return -ENOSPC;
	nlh->nlmsg_seq = nl_socket_use_seq(b->io.sk);
	nlh->nlmsg_pid = 0;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	memcpy(dst, nlh, nlh->nlmsg_len);
	memset(dst + nlh->nlmsg_len, 0, NLMSG_ALIGN(nlh->nlmsg_len) - nlh->nlmsg_len);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->seq[b->n] = nlh->nlmsg_seq;
	b->obj[b->n] = obj;
	b->err[b->n] = PENDING;
	b->why[b->n][0] = '\0';
	b->n++;
	return 0;
}

unsigned nlbatch_match(struct nlbatch *b, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh;
	int rem = len > INT_MAX ? INT_MAX : (int)len;
	unsigned got = 0, i;

	for (nlh = buf; NLMSG_OK(nlh, rem); nlh = NLMSG_NEXT(nlh, rem)) {
		const struct nlmsgerr *e = NLMSG_DATA(nlh);

		if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
			continue;
		for (i = 0; i < b->n; i++) {
			if (b->seq[i] != nlh->nlmsg_seq || b->err[i] != PENDING)
				continue;
			b->err[i] = e->error;
			if (e->error)
				nlbatch_extack(nlh, b->why[i], sizeof(b->why[i]));
			got++;
			break;
		}
	}
	return got;
}

void nlbatch_flush(struct nlbatch *b)
{
	const struct nlbatch_io *io = &b->io;
	unsigned got = 0, i;
	ssize_t n;

	if (b->n == 0)
		return;
	n = send(io->fd, io->tx, b->len, 0);
	if (io->wipe)
		explicit_bzero(io->tx, b->len);
	if (n < 0) {
		int e = errno;

		for (i = 0; i < b->n; i++)
			b->err[i] = -e;
		got = b->n;
	}
	while (got < b->n) {
		n = recv(io->fd, io->rx, io->rx_max, 0);
		if (n < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			for (i = 0; i < b->n; i++)
				if (b->err[i] == PENDING)
					b->err[i] = e == EAGAIN ? -ETIMEDOUT : -e;
			break;
		}
		got += nlbatch_match(b, io->rx, (size_t)n);
		/* ACKs carry no request with NETLINK_CAP_ACK; a kernel without
		 * it would echo ours, keys included. */
		if (io->wipe)
			explicit_bzero(io->rx, (size_t)n);
	}
}

void nlbatch_run(struct nlbatch *b, nlbatch_done_fn done, void *ctx)
{
	unsigned i;

	nlbatch_flush(b);
	for (i = 0; i < b->n; i++)
		done(ctx, b->obj[i], b->err[i], b->why[i]);
	b->n = 0;
	b->len = 0;
}

void nlbatch_queue(struct nlbatch *b, struct nl_msg *msg, size_t obj, nlbatch_done_fn done,
		   void *ctx)
{
	int rc = nlbatch_add(b, msg, obj);

	if (rc == -ENOSPC) {
		nlbatch_run(b, done, ctx);
		rc = nlbatch_add(b, msg, obj);
	}
	if (rc < 0)
		done(ctx, obj, rc, "");
}
