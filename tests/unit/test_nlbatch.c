/* test_nlbatch.c: netlink batches without a kernel: extended ACK parsing, ACK matching, queueing limits, and a whole flush over a datagram socket pair (wiping included). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <cmocka.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "nlbatch.h"

#define BUF	(16 << 10)

struct fixture {
	struct nl_sock *sk;	/* never connected: only its sequence numbers */
	uint8_t *tx, *rx;
	struct nlbatch b;
	int fd[2];		/* fd[0] the batch's, fd[1] plays the kernel */
};

static uint32_t ackbuf[BUF / 4];	/* aligned like the kernel's datagrams */

/*
 * Appends an NLMSG_ERROR answering seq to ackbuf at *off: the request
 * echoed (echo payload bytes) unless capped, then with text an
 * NLMSGERR_ATTR_OFFS and an NLMSGERR_ATTR_MSG of tlen bytes of text.
 */
static void put_ack(size_t *off, uint32_t seq, int error, bool capped, size_t echo,
		    const char *text, size_t tlen)
{
	uint8_t *p = (uint8_t *)ackbuf + *off;
	struct nlmsghdr *nlh = (struct nlmsghdr *)p;
	struct nlmsgerr *e = NLMSG_DATA(nlh);
	size_t len = NLMSG_HDRLEN + sizeof(*e);

	memset(nlh, 0, NLMSG_HDRLEN + sizeof(*e));
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	e->error = error;
	e->msg.nlmsg_len = NLMSG_HDRLEN + (uint32_t)echo;
	e->msg.nlmsg_seq = seq;
	if (capped) {
		nlh->nlmsg_flags |= NLM_F_CAPPED;
	} else {
		/* The echo looks like an attribute: it must not be taken for one. */
		memset(p + len, 0, NLMSG_ALIGN(echo));
		if (echo >= NLA_HDRLEN + 8) {
			struct nlattr *fake = (struct nlattr *)(p + len);

			fake->nla_len = NLA_HDRLEN + 8;
			fake->nla_type = NLMSGERR_ATTR_MSG;
			memcpy(fake + 1, "echoed!", 8);
		}
		len += NLMSG_ALIGN(echo);
	}
	if (text) {
		struct nlattr *a = (struct nlattr *)(p + len);
		uint32_t offs = 16;

		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
		a->nla_len = NLA_HDRLEN + sizeof(offs);
		a->nla_type = NLMSGERR_ATTR_OFFS;
		memcpy((uint8_t *)a + NLA_HDRLEN, &offs, sizeof(offs));
		len += NLA_ALIGN(a->nla_len);
		a = (struct nlattr *)(p + len);
		a->nla_len = (uint16_t)(NLA_HDRLEN + tlen);
		a->nla_type = NLMSGERR_ATTR_MSG;
		memcpy((uint8_t *)a + NLA_HDRLEN, text, tlen);
		memset((uint8_t *)a + NLA_HDRLEN + tlen, 0, NLA_ALIGN(a->nla_len) - a->nla_len);
		len += NLA_ALIGN(a->nla_len);
	}
	nlh->nlmsg_len = (uint32_t)len;
	*off += NLMSG_ALIGN(len);
}

static const struct nlmsghdr *ack_at(size_t off)
{
	return (const struct nlmsghdr *)((const uint8_t *)ackbuf + off);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct nlbatch_io io;

	if (f == NULL)
		return -1;
	f->sk = nl_socket_alloc();
	f->tx = malloc(BUF);
	f->rx = malloc(BUF);
	if (f->sk == NULL || f->tx == NULL || f->rx == NULL ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, f->fd) < 0)
		return -1;
	memset(f->tx, 0xaa, BUF);	/* so that padding left unwritten shows */
	memset(&io, 0, sizeof(io));
	io.sk = f->sk;
	io.fd = f->fd[0];
	io.tx = f->tx;
	io.tx_max = BUF;
	io.rx = f->rx;
	io.rx_max = BUF;
	io.wipe = true;
	nlbatch_init(&f->b, &io);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd[0]);
	close(f->fd[1]);
	nl_socket_free(f->sk);
	free(f->tx);
	free(f->rx);
	free(f);
	return 0;
}

/* A request of type 0x1234 with payload bytes of payload (unaligned when odd). */
static struct nl_msg *req(size_t payload)
{
	struct nl_msg *msg = nlmsg_alloc_simple(0x1234, 0);
	uint8_t data[256];

	assert_non_null(msg);
	assert_true(payload <= sizeof(data));
	memset(data, 0x5c, payload);
	assert_int_equal(nlmsg_append(msg, data, payload, 0), 0);
	return msg;
}

static void add_n(struct nlbatch *b, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct nl_msg *msg = req(8);

		assert_int_equal(nlbatch_add(b, msg, 100 + i), 0);
		nlmsg_free(msg);
	}
}

/* ---------------------------------------------------------------- extack */

static void test_extack_capped(void **state)
{
	static const char text[] = "Invalid SA direction";
	size_t off = 0;
	char why[NLBATCH_WHY];

	(void)state;
	put_ack(&off, 7, -EINVAL, true, 0, text, sizeof(text));
	memset(why, 'x', sizeof(why));
	nlbatch_extack(ack_at(0), why, sizeof(why));
	assert_string_equal(why, text);
}

static void test_extack_echoed_request(void **state)
{
	size_t off = 0;
	char why[NLBATCH_WHY];

	(void)state;
	/* Without NETLINK_CAP_ACK: the echoed request comes first. */
	put_ack(&off, 7, -EEXIST, false, 37, "SA exists", 10);
	nlbatch_extack(ack_at(0), why, sizeof(why));
	assert_string_equal(why, "SA exists");
}

static void test_extack_cut(void **state)
{
	size_t off = 0;
	char why[8];

	(void)state;
	/* No NUL in the attribute, longer than the buffer. */
	put_ack(&off, 7, -EINVAL, true, 0, "abcdefghijklmnop", 16);
	nlbatch_extack(ack_at(0), why, sizeof(why));
	assert_string_equal(why, "abcdefg");
	/* No NUL, shorter: cut at the attribute's end, not beyond it. */
	off = 0;
	put_ack(&off, 7, -EINVAL, true, 0, "abc", 3);
	nlbatch_extack(ack_at(0), why, sizeof(why));
	assert_string_equal(why, "abc");
}

static void test_extack_none(void **state)
{
	size_t off = 0;
	char why[NLBATCH_WHY];
	struct nlmsghdr *nlh;
	struct nlattr *a;

	(void)state;
	/* Attributes without NLM_F_ACK_TLVS are not the kernel's. */
	put_ack(&off, 7, -EINVAL, true, 0, "ignored", 8);
	nlh = (struct nlmsghdr *)ackbuf;
	nlh->nlmsg_flags &= (uint16_t)~NLM_F_ACK_TLVS;
	strcpy(why, "stale");
	nlbatch_extack(nlh, why, sizeof(why));
	assert_string_equal(why, "");

	/* An attribute longer than the message: nothing, and no overrun (ASan). */
	off = 0;
	put_ack(&off, 7, -EINVAL, true, 0, "long", 5);
	a = (struct nlattr *)((uint8_t *)ackbuf + NLMSG_HDRLEN + sizeof(struct nlmsgerr) + 8);
	a->nla_len = 200;
	strcpy(why, "stale");
	nlbatch_extack(ack_at(0), why, sizeof(why));
	assert_string_equal(why, "");

	/* An attribute shorter than its header: nothing. */
	a->nla_len = 2;
	nlbatch_extack(ack_at(0), why, sizeof(why));
	assert_string_equal(why, "");

	/* A message too short to hold an nlmsgerr: nothing. */
	nlh->nlmsg_len = NLMSG_HDRLEN + 4;
	nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
	nlbatch_extack(nlh, why, sizeof(why));
	assert_string_equal(why, "");
}

/* ---------------------------------------------------------------- add */

static void test_add_copies(void **state)
{
	struct fixture *f = *state;
	struct nlbatch *b = &f->b;
	struct nl_msg *m1 = req(5), *m2 = req(8);
	const struct nlmsghdr *h1, *h2;

	assert_int_equal(nlbatch_add(b, m1, 3), 0);
	assert_int_equal(nlbatch_add(b, m2, 9), 0);
	assert_int_equal(b->n, 2);
	assert_int_equal(b->obj[0], 3);
	assert_int_equal(b->obj[1], 9);
	assert_int_equal(b->seq[1], b->seq[0] + 1);
	h1 = (const struct nlmsghdr *)f->tx;
	assert_int_equal(h1->nlmsg_len, NLMSG_HDRLEN + 5);
	assert_int_equal(h1->nlmsg_seq, b->seq[0]);
	assert_int_equal(h1->nlmsg_pid, 0);
	assert_int_equal(h1->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	/* The padding to the next request is zero, not what the buffer held. */
	assert_int_equal(f->tx[NLMSG_HDRLEN + 5], 0);
	assert_int_equal(f->tx[NLMSG_HDRLEN + 7], 0);
	h2 = (const struct nlmsghdr *)(f->tx + NLMSG_ALIGN(NLMSG_HDRLEN + 5));
	assert_int_equal(h2->nlmsg_seq, b->seq[1]);
	assert_int_equal(b->len, NLMSG_ALIGN(NLMSG_HDRLEN + 5) + NLMSG_HDRLEN + 8);
	/* The caller's message carries what was sent. */
	assert_int_equal(nlmsg_hdr(m2)->nlmsg_seq, b->seq[1]);
	nlmsg_free(m1);
	nlmsg_free(m2);
}

static void test_add_limits(void **state)
{
	struct fixture *f = *state;
	struct nlbatch *b = &f->b;
	struct nl_msg *msg = req(8);

	add_n(b, NLBATCH_MAX);
	assert_int_equal(nlbatch_add(b, msg, 0), -ENOSPC);
	assert_int_equal(b->n, NLBATCH_MAX);

	/* Room by bytes: a buffer that holds two requests of 24 bytes. */
	b->io.tx_max = 2 * (NLMSG_HDRLEN + 8);
	b->n = 0;
	b->len = 0;
	add_n(b, 2);
	assert_int_equal(nlbatch_add(b, msg, 0), -ENOSPC);
	/* Larger than the whole buffer: never. */
	b->io.tx_max = NLMSG_HDRLEN + 4;
	b->n = 0;
	b->len = 0;
	assert_int_equal(nlbatch_add(b, msg, 0), -EMSGSIZE);
	assert_int_equal(b->n, 0);
	nlmsg_free(msg);
}

/* ---------------------------------------------------------------- match */

static void test_match(void **state)
{
	static const char text[] = "no such SA";
	struct fixture *f = *state;
	struct nlbatch *b = &f->b;
	struct nlmsghdr *other;
	size_t off = 0;

	add_n(b, 4);
	/* Out of order; an unknown sequence number; a message that is no
	 * ACK; a second answer to request 1; request 3 unanswered. */
	put_ack(&off, b->seq[2], 0, true, 0, NULL, 0);
	put_ack(&off, b->seq[0] - 1, -EPERM, true, 0, NULL, 0);
	other = (struct nlmsghdr *)((uint8_t *)ackbuf + off);
	memset(other, 0, NLMSG_HDRLEN);
	other->nlmsg_len = NLMSG_HDRLEN;
	other->nlmsg_type = NLMSG_DONE;
	other->nlmsg_seq = b->seq[3];
	off += NLMSG_HDRLEN;
	put_ack(&off, b->seq[1], -ENOENT, true, 0, text, sizeof(text));
	put_ack(&off, b->seq[1], 0, true, 0, NULL, 0);
	put_ack(&off, b->seq[0], -EEXIST, true, 0, NULL, 0);

	assert_int_equal(nlbatch_match(b, ackbuf, off), 3);
	assert_int_equal(b->err[0], -EEXIST);
	assert_string_equal(b->why[0], "");
	assert_int_equal(b->err[1], -ENOENT);
	assert_string_equal(b->why[1], text);
	assert_int_equal(b->err[2], 0);
	assert_true(b->err[3] > 0);	/* still waiting */

	/* Answered requests stay answered; a cut datagram ends early. */
	off = 0;
	put_ack(&off, b->seq[0], 0, true, 0, NULL, 0);
	put_ack(&off, b->seq[3], -EINVAL, true, 0, NULL, 0);
	assert_int_equal(nlbatch_match(b, ackbuf, off - 1), 0);
	assert_int_equal(b->err[0], -EEXIST);
	assert_int_equal(nlbatch_match(b, ackbuf, off), 1);
	assert_int_equal(b->err[3], -EINVAL);
}

/* ---------------------------------------------------------------- flush */

static bool all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void test_flush(void **state)
{
	struct fixture *f = *state;
	struct nlbatch *b = &f->b;
	uint8_t sent[BUF];
	size_t off = 0, len;
	ssize_t n;

	add_n(b, 3);
	len = b->len;
	/* The "kernel" answers in two datagrams, queued before the requests go. */
	put_ack(&off, b->seq[1], -EINVAL, true, 0, "bad", 4);
	assert_int_equal(send(f->fd[1], ackbuf, off, 0), (ssize_t)off);
	off = 0;
	put_ack(&off, b->seq[0], 0, true, 0, NULL, 0);
	put_ack(&off, b->seq[2], 0, true, 0, NULL, 0);
	assert_int_equal(send(f->fd[1], ackbuf, off, 0), (ssize_t)off);

	nlbatch_flush(b);
	assert_int_equal(b->err[0], 0);
	assert_int_equal(b->err[1], -EINVAL);
	assert_string_equal(b->why[1], "bad");
	assert_int_equal(b->err[2], 0);
	/* All three requests in one datagram. */
	n = recv(f->fd[1], sent, sizeof(sent), MSG_DONTWAIT);
	assert_int_equal(n, (ssize_t)len);
	assert_int_equal(((struct nlmsghdr *)sent)->nlmsg_seq, b->seq[0]);
	/* Requests and answers may hold keys: both buffers wiped. */
	assert_true(all_zero(f->tx, len));
	assert_true(all_zero(f->rx, off));
}

static void test_flush_no_wipe(void **state)
{
	struct fixture *f = *state;
	struct nlbatch *b = &f->b;
	size_t off = 0;

	b->io.wipe = false;
	add_n(b, 1);
	put_ack(&off, b->seq[0], 0, true, 0, NULL, 0);
	assert_int_equal(send(f->fd[1], ackbuf, off, 0), (ssize_t)off);
	nlbatch_flush(b);
	assert_int_equal(b->err[0], 0);
	assert_int_equal(((struct nlmsghdr *)f->tx)->nlmsg_seq, b->seq[0]);
	assert_int_equal(((struct nlmsghdr *)f->rx)->nlmsg_seq, b->seq[0]);
}

static void test_flush_timeout(void **state)
{
	struct fixture *f = *state;
	struct nlbatch *b = &f->b;
	struct timeval tv = { 0, 20000 };
	size_t off = 0;

	assert_int_equal(setsockopt(f->fd[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	add_n(b, 2);
	put_ack(&off, b->seq[1], -EEXIST, true, 0, NULL, 0);
	assert_int_equal(send(f->fd[1], ackbuf, off, 0), (ssize_t)off);
	nlbatch_flush(b);
	assert_int_equal(b->err[0], -ETIMEDOUT);
	assert_int_equal(b->err[1], -EEXIST);
}

static void test_flush_send_fails(void **state)
{
	struct fixture *f = *state;
	struct nlbatch *b = &f->b;

	add_n(b, 2);
	close(f->fd[1]);
	f->fd[1] = -1;
	nlbatch_flush(b);
	assert_true(b->err[0] < 0);
	assert_int_equal(b->err[1], b->err[0]);
	assert_true(all_zero(f->tx, b->len));
}

/* ---------------------------------------------------------------- queue */

struct calls {
	unsigned n;
	size_t obj[NLBATCH_MAX + 2];
	int err[NLBATCH_MAX + 2];
};

static void record(void *ctx, size_t obj, int err, const char *why)
{
	struct calls *c = ctx;

	assert_non_null(why);
	assert_true(c->n < NLBATCH_MAX + 2);
	c->obj[c->n] = obj;
	c->err[c->n] = err;
	c->n++;
}

static void test_queue(void **state)
{
	struct fixture *f = *state;
	struct nlbatch *b = &f->b;
	struct timeval tv = { 0, 10000 };
	struct calls c;
	struct nl_msg *msg;
	size_t i;

	/* Nobody answers: each flush ends in one timeout. */
	assert_int_equal(setsockopt(f->fd[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	memset(&c, 0, sizeof(c));
	for (i = 0; i <= NLBATCH_MAX; i++) {
		msg = req(8);
		nlbatch_queue(b, msg, i, record, &c);
		nlmsg_free(msg);
	}
	/* The 65th request flushed the first 64, in order. */
	assert_int_equal(c.n, NLBATCH_MAX);
	for (i = 0; i < NLBATCH_MAX; i++) {
		assert_int_equal(c.obj[i], i);
		assert_int_equal(c.err[i], -ETIMEDOUT);
	}
	assert_int_equal(b->n, 1);
	/* One that can never fit is answered at once. */
	b->io.tx_max = NLMSG_HDRLEN + 16;
	msg = req(100);
	nlbatch_queue(b, msg, 500, record, &c);
	nlmsg_free(msg);
	assert_int_equal(c.n, NLBATCH_MAX + 1);
	assert_int_equal(c.obj[NLBATCH_MAX], 500);
	assert_int_equal(c.err[NLBATCH_MAX], -EMSGSIZE);
	nlbatch_run(b, record, &c);
	assert_int_equal(c.n, NLBATCH_MAX + 2);
	assert_int_equal(c.obj[NLBATCH_MAX + 1], NLBATCH_MAX);
	assert_int_equal(b->n, 0);
	assert_int_equal(b->len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extack_capped),
		cmocka_unit_test(test_extack_echoed_request),
		cmocka_unit_test(test_extack_cut),
		cmocka_unit_test(test_extack_none),
		cmocka_unit_test_setup_teardown(test_add_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_no_wipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_send_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
