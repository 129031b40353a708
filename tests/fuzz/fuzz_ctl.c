/* fuzz_ctl.c: libFuzzer target for the control socket's request parser: garbage gets an error, never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char command[CTL_COMMAND_MAX + 1];
	char err[CTL_ERR_MAX];
	struct json_object *args = NULL;

	if (size > CTL_REQUEST_MAX)
		return 0;
	if (ctl_parse_request((const char *)data, size, command, &args, err, sizeof(err)) == 0) {
		if (strlen(command) == 0 || strlen(command) > CTL_COMMAND_MAX || !args)
			abort();
		json_object_put(args);
	} else if (err[0] == '\0') {
		abort();
	}
	return 0;
}
