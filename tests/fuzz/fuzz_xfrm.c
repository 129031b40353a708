/* fuzz_xfrm.c: libFuzzer target for the XFRM netlink message parser: any bytes claiming to be a kernel message, no crash, no read past the message. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>
#include <linux/xfrm.h>

#include "xfrm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xfrm_filter filter;
	struct xfrm_msg msg;
	struct nlmsghdr *nlh;
	uint16_t type;

	if (size < 2 || size > 65536)
		return 0;
	/* The first two bytes pick the message type among XFRM's; the rest
	 * is the body. The header's length is always the true length, as
	 * the capture checks it before parsing. */
	type = (uint16_t)(XFRM_MSG_BASE + data[0] % (XFRM_MSG_MAX - XFRM_MSG_BASE + 1));
	nlh = malloc(NLMSG_HDRLEN + size - 2);
	if (!nlh)
		return 0;
	nlh->nlmsg_len = (uint32_t)(NLMSG_HDRLEN + size - 2);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = data[1];
	nlh->nlmsg_seq = 0;
	nlh->nlmsg_pid = 0;
	memcpy(NLMSG_DATA(nlh), data + 2, size - 2);

	memset(&filter, 0, sizeof(filter));
	filter.n_vips = 1;
	filter.vips[0].family = AF_INET;
	filter.vips[0].v4.s_addr = htonl(0xc0000201);
	memset(&msg, 0, sizeof(msg));
	if (xfrm_parse_msg(nlh, &filter, &msg) == 0)
		xfrm_msg_wipe(&msg);
	free(nlh);
	return 0;
}
