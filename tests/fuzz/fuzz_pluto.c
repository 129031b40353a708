/* fuzz_pluto.c: libFuzzer target for pluto's HA record parser, the IKE cache and the JSON writer: no crash, exported documents parse again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "ike.h"
#include "json_util.h"
#include "pluto.h"

static struct ike_cache *c;
static char out[PLUTO_RECORD_MAX * 2];
static uint64_t gen;

static int check_doc(void *ctx, const struct ike_entry *e, const struct ike_child *child,
		     const char *json, size_t len)
{
	struct pluto_record r;
	int rc = pluto_record_parse(json, len, &r);

	(void)ctx;
	if (rc != PLUTO_OK)
		abort();
	if (child == NULL && (r.type != PLUTO_IKE_SA || r.spi_i != e->spi_i || r.spi_r != e->spi_r ||
			      memcmp(&r.msgid, &e->msgid, sizeof(r.msgid)) != 0))
		abort();
	pluto_record_clear(&r);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pluto_record r, r2;
	int rc;

	if (!c)
		c = ike_new(NULL);
	if (size == 0)
		return 0;
	/* First byte: what to do around the record. */
	switch (data[0] % 8) {
	case 0: ike_bulk_begin(c, ++gen, 1); break;
	case 1: ike_bulk_end(c, gen, data[0] & 0x80 ? IKE_COUNT_ANY : data[0] % 3, IKE_COUNT_ANY, 2, NULL, NULL); break;
	case 2: if (ike_count(c) > 2000) { ike_free(c); c = ike_new(NULL); } break;
	case 3: if (ike_export(c, false, 0, check_doc, NULL, NULL) < 0) abort(); break;
	}
	rc = pluto_record_parse((const char *)data + 1, size - 1, &r);
	if (rc < PLUTO_STATUS_MIN || rc > PLUTO_IGNORED)
		abort();
	if (rc < 0) {
		if (r.json)
			abort();
		return 0;
	}
	{
		long n = json_util_write(r.json, out, sizeof(out));
		if (n < 0)
			abort();
		if (pluto_record_parse(out, (size_t)n, &r2) != rc)
			abort();
		if (!json_object_equal(r.json, r2.json))
			abort();
		pluto_record_clear(&r2);
	}
	if (rc == PLUTO_OK) {
		uint64_t i, j;

		(void)ike_record_spis(c, &r, &i, &j);
		ike_apply(c, &r, (data[0] & 0x40) != 0, 3);
	}
	pluto_record_clear(&r);
	return 0;
}
