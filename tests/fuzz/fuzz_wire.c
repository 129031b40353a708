/* fuzz_wire.c: libFuzzer target for the record decoder: no crash, no partial record, and decode(encode(decode(x))) is stable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static uint8_t enc1[WIRE_RECORD_MAX], enc2[WIRE_RECORD_MAX];

static void check(int cond)
{
	if (!cond)
		abort();
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* A record that decoded must re-encode, and decode again to the same thing. */
static void roundtrip(const struct wire_record *rec, size_t used)
{
	struct wire_record again;
	size_t used2 = 0;
	int n1, n2;

	n1 = wire_encode(enc1, sizeof(enc1), rec);
	check(n1 >= WIRE_HDR_LEN);
	/* The canonical form drops unknown and all-zero optional TLVs only. */
	check((size_t)n1 <= used);
	check(wire_decode(enc1, (size_t)n1, &again, &used2) == WIRE_OK);
	check(used2 == (size_t)n1);
	check(again.type == rec->type && again.flags == rec->flags && again.seq == rec->seq);
	check(memcmp(&again.u, &rec->u, sizeof(rec->u)) == 0);
	n2 = wire_encode(enc2, sizeof(enc2), &again);
	check(n2 == n1 && memcmp(enc1, enc2, (size_t)n1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wire_record rec;
	size_t off = 0;

	/* The input is a frame's plaintext: records back to back. */
	while (off < size) {
		size_t used = 0;
		int rc = wire_decode(data + off, size - off, &rec, &used);

		check(rc >= WIRE_STATUS_MIN && rc <= WIRE_SKIPPED);
		check(used <= size - off);
		if (rc < 0) {
			check(all_zero(&rec, sizeof(rec)));
			if (used == 0)
				break;	/* the header itself is bad: nothing to skip */
		} else {
			check(used >= WIRE_HDR_LEN && used == rec.length);
			if (rc == WIRE_OK)
				roundtrip(&rec, used);
			else
				check(all_zero(&rec.u, sizeof(rec.u)));
		}
		off += used;
	}
	return 0;
}
