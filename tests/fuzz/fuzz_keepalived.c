/* fuzz_keepalived.c: libFuzzer target for keepalived's notify FIFO line parser; an accepted line must survive a rewrite and re-parse. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keepalived.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keepalived_event ev, again;
	char err[KEEPALIVED_ERR_MAX], line[KEEPALIVED_LINE_MAX];
	size_t n;
	int rc, len;

	if (size > KEEPALIVED_LINE_MAX)
		return 0;	/* the reader never hands longer lines to the parser */
	memset(err, 0xa5, sizeof(err));
	rc = keepalived_parse_fifo_line((const char *)data, size, &ev, err, sizeof(err));
	if (rc == KEEPALIVED_ERROR) {
		/* a reason is always given, terminated, printable */
		n = strnlen(err, sizeof(err));
		if (n == 0 || n == sizeof(err))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] > 0x7e)
				abort();
		return 0;
	}
	if (rc == KEEPALIVED_IGNORED)
		return 0;
	if (rc != KEEPALIVED_OK)
		abort();
	n = strnlen(ev.name, sizeof(ev.name));
	if (n == 0 || n == sizeof(ev.name) || ev.event > ROLE_EV_DELETED || ev.priority < 0 || ev.priority > 255)
		abort();
	/* Written back the way keepalived writes it, it parses to the same event. */
	len = snprintf(line, sizeof(line), "%s \"%s\" %s %d", keepalived_type_name(ev.type), ev.name,
		       role_event_name(ev.event), ev.priority);
	if (len < 0 || (size_t)len >= sizeof(line))
		abort();
	if (keepalived_parse_fifo_line(line, (size_t)len, &again, err, sizeof(err)) != KEEPALIVED_OK ||
	    again.type != ev.type || strcmp(again.name, ev.name) || again.event != ev.event ||
	    again.priority != ev.priority)
		abort();
	/* The same words as notify script arguments give the same event too. */
	snprintf(line, sizeof(line), "%d", ev.priority);
	if (keepalived_parse_args(keepalived_type_name(ev.type), ev.name, role_event_name(ev.event), line,
				  &again, err, sizeof(err)) != KEEPALIVED_OK ||
	    again.type != ev.type || strcmp(again.name, ev.name) || again.event != ev.event ||
	    again.priority != ev.priority)
		abort();
	return 0;
}
