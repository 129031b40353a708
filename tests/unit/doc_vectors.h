/* doc_vectors.h: test helpers shared by the codec and crypto tests: hex parsing, and the vectors of docs/protocol.md read back so the doc and the code cannot drift apart. */
#ifndef HASYNC_TEST_DOC_VECTORS_H
#define HASYNC_TEST_DOC_VECTORS_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	while (*s) {
		unsigned int b;

		if (*s == ' ') {
			s++;
			continue;
		}
		assert_int_equal(sscanf(s, "%2x", &b), 1);
		out[n++] = (uint8_t)b;
		s += 2;
	}
	return n;
}

/*
 * The vectors above must be the ones in docs/protocol.md: read the first
 * fenced block after a heading and collect its runs of hex-only lines
 * (a run ends at any other line). Skipped when run from elsewhere.
 */
static int doc_vectors(const char *heading, uint8_t out[][512], size_t *lens, int max)
{
	char line[512];
	FILE *f = fopen("docs/protocol.md", "r");
	int state = 0, n = 0;	/* 0 looking for heading, 1 for fence, 2 inside */
	bool in_run = false;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && n < max) {
		if (state == 0) {
			if (strncmp(line, heading, strlen(heading)) == 0)
				state = 1;
			continue;
		}
		if (strncmp(line, "```", 3) == 0) {
			if (state == 2)
				break;
			state = 2;
			continue;
		}
		if (state != 2)
			continue;
		{
			bool hex = true;
			size_t len = strlen(line), k = 0;
			uint8_t tmpb[32];

			while (len && (line[len - 1] == '\n' || line[len - 1] == ' '))
				line[--len] = '\0';
			for (size_t i = 0; i < len && hex; i += 3) {
				unsigned int b;

				if (i + 2 > len || (i + 2 < len && line[i + 2] != ' ') ||
				    sscanf(line + i, "%2x", &b) != 1 || !isxdigit((unsigned char)line[i]) ||
				    !isxdigit((unsigned char)line[i + 1]) || k == sizeof(tmpb))
					hex = false;
				else
					tmpb[k++] = (uint8_t)b;
			}
			if (!hex || len == 0) {
				if (in_run)
					n++;
				in_run = false;
				continue;
			}
			if (!in_run)
				lens[n] = 0;
			in_run = true;
			memcpy(out[n] + lens[n], tmpb, k);
			lens[n] += k;
		}
	}
	if (in_run)
		n++;
	fclose(f);
	return n;
}

static void doc_check(const char *heading, int index, const char *hex)
{
	uint8_t got[4][512], want[512];
	size_t lens[4], wn = unhex(hex, want);
	int n = doc_vectors(heading, got, lens, 4);

	if (n < 0) {
		print_message("docs/protocol.md not found here; doc check skipped\n");
		return;
	}
	assert_true(n > index);
	assert_int_equal(lens[index], wn);
	assert_memory_equal(got[index], want, wn);
}

#endif
