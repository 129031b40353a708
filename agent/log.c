/* log.c: the agent's logging; syslog (which the journal collects) or stderr in the foreground. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

static bool log_to_stderr = true;
static int log_max_priority = LOG_INFO;

void log_init(const char *ident, bool to_stderr, int max_priority)
{
	log_to_stderr = to_stderr;
	log_max_priority = max_priority;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	if (priority > log_max_priority)
		return;
	va_start(ap, fmt);
	if (log_to_stderr) {
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(priority, fmt, ap);
	}
	va_end(ap);
}
