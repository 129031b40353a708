/* fuzz_conf.c: libFuzzer target for conf_parse_buffer(); a config that parses must survive a dump and re-parse unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_error err;
	struct conf *c, *again;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (conf_parse_buffer("fuzz.conf", (const char *)data, size, &c, &err) != 0) {
		/* Every error names the file and a line. */
		if (c || strncmp(err.msg, "fuzz.conf:", 10) || !err.line)
			abort();
		return 0;
	}
	f = open_memstream(&text, &len);
	if (!f)
		abort();
	conf_dump(c, f);
	fclose(f);
	if (conf_parse_buffer("dump", text, len, &again, &err) != 0) {
		fprintf(stderr, "dump does not parse: %s\n%s", err.msg, text);
		abort();
	}
	if (memcmp(c, again, sizeof(*c))) {
		fprintf(stderr, "dump parses to another config:\n%s", text);
		abort();
	}
	free(text);
	conf_free(again);
	conf_free(c);
	return 0;
}
