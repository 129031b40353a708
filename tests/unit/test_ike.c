/* test_ike.c: unit tests of the IKE SA cache: records applied, rekeys, deletes, snapshots, listing without keys, export, hostile sequences. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "ike.h"

#define VIP4 "192.0.2.1"
#define VIP6 "2001:db8::1"
#define SECRET "5ec2e75ec2e75ec2e75ec2e75ec2e7"

/* ---------------------------------------------------------------- records */

static void rec_parse(struct pluto_record *r, const char *text)
{
	int rc = pluto_record_parse(text, strlen(text), r);

	if (rc != PLUTO_OK)
		print_error("%s: %s (%s)\n", text, pluto_strerror(rc), r->bad_member ? r->bad_member : "");
	assert_int_equal(rc, PLUTO_OK);
}

struct ike_args {
	uint64_t serial, spi_i, spi_r, rekey_of;
	const char *local;
	const char *conn;
	int resp_sent;		/* responder window: sent = recv = this */
	const char *extra;	/* more members, "" or ",\"x\":1" */
};

static void rec_ike(struct pluto_record *r, const struct ike_args *a)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{\"version\":1,\"type\":\"ike_sa\",\"event\":\"established\",\"serial\":%" PRIu64 ","
		 "\"rekey_of\":%" PRIu64 ",\"connection\":\"%s\",\"instance\":0,\"role\":\"responder\","
		 "\"spi_i\":\"%016" PRIx64 "\",\"spi_r\":\"%016" PRIx64 "\","
		 "\"local\":{\"address\":\"%s\",\"port\":500,\"protocol\":\"UDP\"},"
		 "\"remote\":{\"address\":\"%s\",\"port\":4500,\"protocol\":\"UDP\"},"
		 "\"local_id\":\"@gw\",\"remote_id\":\"@peer%" PRIu64 "\","
		 "\"msgid\":{\"initiator\":{\"sent\":-1,\"recv\":-1,\"wip\":-1},"
		 "\"responder\":{\"sent\":%d,\"recv\":%d,\"wip\":-1}},"
		 "\"keys\":{\"sk_d\":\"" SECRET "\",\"sk_ei\":\"" SECRET "\"}%s}",
		 a->serial, a->rekey_of, a->conn ? a->conn : "tun", a->spi_i, a->spi_r,
		 a->local ? a->local : VIP4,
		 a->local && strchr(a->local, ':') ? "2001:db8:ffff::7" : "198.51.100.7",
		 a->serial, a->resp_sent, a->resp_sent, a->extra ? a->extra : "");
	rec_parse(r, text);
}

static int apply_ike(struct ike_cache *c, uint64_t serial, uint64_t spi_i, uint64_t spi_r,
		     bool bulk, uint64_t now)
{
	struct ike_args a = { serial, spi_i, spi_r, 0, NULL, NULL, 0, NULL };
	struct pluto_record r;
	int rc;

	rec_ike(&r, &a);
	rc = ike_apply(c, &r, bulk, now);
	pluto_record_clear(&r);
	return rc;
}

/* msgid by serial (spi_i 0) or by SPIs. */
static int apply_msgid(struct ike_cache *c, uint64_t serial, uint64_t spi_i, uint64_t spi_r,
		       int isent, int rsent, uint64_t now)
{
	char text[512], who[128];
	struct pluto_record r;
	int rc;

	if (spi_i)
		snprintf(who, sizeof(who), "\"spi_i\":\"%016" PRIx64 "\",\"spi_r\":\"%016" PRIx64 "\"",
			 spi_i, spi_r);
	else
		snprintf(who, sizeof(who), "\"serial\":%" PRIu64, serial);
	snprintf(text, sizeof(text),
		 "{\"version\":1,\"type\":\"msgid\",%s,"
		 "\"msgid\":{\"initiator\":{\"sent\":%d,\"recv\":%d,\"wip\":-1},"
		 "\"responder\":{\"sent\":%d,\"recv\":%d,\"wip\":-1}}}",
		 who, isent, isent, rsent, rsent);
	rec_parse(&r, text);
	rc = ike_apply(c, &r, false, now);
	pluto_record_clear(&r);
	return rc;
}

/* owner: "\"ike_serial\":N" or SPIs. */
static int apply_child(struct ike_cache *c, uint64_t serial, const char *owner, uint32_t spi_in,
		       bool bulk, uint64_t now)
{
	char text[512];
	struct pluto_record r;
	int rc;

	snprintf(text, sizeof(text),
		 "{\"version\":1,\"type\":\"child_sa\",\"event\":\"established\",\"serial\":%" PRIu64 ","
		 "%s,\"reqid\":16389,\"spi_in\":\"%08x\",\"spi_out\":\"%08x\","
		 "\"keymat\":{\"in\":\"" SECRET "\",\"out\":\"" SECRET "\"}}",
		 serial, owner, spi_in, spi_in + 1);
	rec_parse(&r, text);
	rc = ike_apply(c, &r, bulk, now);
	pluto_record_clear(&r);
	return rc;
}

static int apply_text(struct ike_cache *c, const char *text, bool bulk, uint64_t now)
{
	struct pluto_record r;
	int rc;

	rec_parse(&r, text);
	rc = ike_apply(c, &r, bulk, now);
	pluto_record_clear(&r);
	return rc;
}

static struct ike_cache *cache_make(size_t max)
{
	struct ike_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.vips[0].name, sizeof(cfg.vips[0].name), "outside");
	cfg.vips[0].addr.family = AF_INET;
	inet_pton(AF_INET, VIP4, &cfg.vips[0].addr.v4);
	snprintf(cfg.vips[1].name, sizeof(cfg.vips[1].name), "outside6");
	cfg.vips[1].addr.family = AF_INET6;
	inet_pton(AF_INET6, VIP6, &cfg.vips[1].addr.v6);
	cfg.n_vips = 2;
	for (int i = 0; i < IKE_SEED_LEN; i++)
		cfg.hash_seed[i] = (uint8_t)i;
	cfg.max_entries = max;
	return ike_new(&cfg);
}

static const char *member_string(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return NULL;
	return json_object_get_string(v);
}

/* ---------------------------------------------------------------- tests */

static void test_add_lookup(void **state)
{
	struct ike_cache *c = cache_make(0);
	struct ike_args a = { 7, 0x1111, 0x2222, 0, VIP6, "rw6", 3, NULL };
	const struct ike_entry *e;
	struct pluto_record r;
	struct ike_stats st;

	assert_int_equal(apply_ike(c, 1, 0xa1, 0xb1, false, 1000), IKE_OK);
	rec_ike(&r, &a);
	assert_int_equal(ike_apply(c, &r, false, 1001), IKE_OK);
	pluto_record_clear(&r);
	assert_int_equal(ike_count(c), 2);
	assert_int_equal(ike_count_vip(c, 0), 1);
	assert_int_equal(ike_count_vip(c, 1), 1);
	assert_int_equal(ike_count_vip(c, IKE_VIP_NONE), 0);

	e = ike_lookup(c, 0xa1, 0xb1);
	assert_non_null(e);
	assert_true(e->serial == 1 && e->vip == 0 && e->first_seen_ms == 1000);
	assert_int_equal(e->role, PLUTO_ROLE_RESPONDER);
	assert_int_equal(e->remote.port, 4500);
	assert_int_equal(e->state, IKE_STATE_ESTABLISHED);
	assert_string_equal(e->event, "established");
	assert_ptr_equal(ike_lookup_serial(c, 1), e);
	e = ike_lookup_serial(c, 7);
	assert_non_null(e);
	assert_true(e->spi_i == 0x1111 && e->vip == 1 && e->msgid.responder.sent == 3);
	assert_string_equal(e->connection, "rw6");
	assert_null(ike_lookup(c, 0xa1, 0xb2));
	assert_null(ike_lookup(c, 0xb1, 0xa1));
	assert_null(ike_lookup_serial(c, 2));

	/* Not a record the cache applies. */
	assert_int_equal(apply_text(c, "{\"version\":1,\"type\":\"snapshot_end\",\"count\":0}", false, 1),
			 IKE_E_INVALID);
	ike_stats(c, &st);
	assert_true(st.ike_adds == 2 && st.invalid == 1);
	ike_free(c);
	ike_free(NULL);
}

/* A second ike_sa for the same SPIs merges: new members win, others stay; keys replaced are wiped. */
static void test_merge(void **state)
{
	struct ike_cache *c = cache_make(0);
	struct ike_args a = { 1, 0xa1, 0xb1, 0, NULL, NULL, 0, ",\"only_first\":true" };
	struct ike_args b = { 1, 0xa1, 0xb1, 0, NULL, "renamed", 5, ",\"only_second\":2" };
	const struct ike_entry *e;
	struct pluto_record r;
	struct ike_stats st;

	rec_ike(&r, &a);
	assert_int_equal(ike_apply(c, &r, false, 10), IKE_OK);
	pluto_record_clear(&r);
	rec_ike(&r, &b);
	assert_int_equal(ike_apply(c, &r, false, 20), IKE_OK);
	pluto_record_clear(&r);
	assert_int_equal(ike_count(c), 1);
	e = ike_lookup(c, 0xa1, 0xb1);
	assert_string_equal(e->connection, "renamed");
	assert_true(e->msgid.responder.sent == 5 && e->first_seen_ms == 10 && e->updated_ms == 20);
	assert_int_equal(strlen(e->doc), e->doc_len);
	assert_non_null(strstr(e->doc, "\"only_first\":true"));
	assert_non_null(strstr(e->doc, "\"only_second\":2"));
	assert_non_null(strstr(e->doc, "\"connection\":\"renamed\""));
	assert_null(strstr(e->doc, "\"tun\""));
	assert_non_null(strstr(e->doc, SECRET));
	/* The windows live in the summary, not in the stored text. */
	assert_null(strstr(e->doc, "msgid"));
	assert_string_equal(e->remote_id, "@peer1");
	ike_stats(c, &st);
	assert_true(st.ike_adds == 1 && st.ike_updates == 1);
	ike_free(c);
}

/* The IKE SA's exported document, parsed back. */
static int grab_first(void *ctx, const struct ike_entry *e, const struct ike_child *child,
		      const char *json, size_t len)
{
	struct pluto_record *r = ctx;

	if (child == NULL && r->json == NULL)
		assert_int_equal(pluto_record_parse(json, len, r), PLUTO_OK);
	return 0;
}

static void test_msgid(void **state)
{
	struct ike_cache *c = cache_make(0);
	const struct ike_entry *e;
	struct pluto_record r;
	struct ike_stats st;

	assert_int_equal(apply_ike(c, 4, 0xa1, 0xb1, false, 1), IKE_OK);
	assert_int_equal(apply_msgid(c, 4, 0, 0, 2, 9, 50), IKE_OK);
	e = ike_lookup(c, 0xa1, 0xb1);
	assert_true(e->msgid.initiator.sent == 2 && e->msgid.responder.recv == 9);
	assert_true(e->msgid_ms == 50 && e->msgid_updates == 1);
	/* An export carries the settled windows. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(ike_export(c, false, 0, grab_first, &r, NULL), 1);
	assert_int_equal(r.type, PLUTO_IKE_SA);
	assert_true(r.msgid.initiator.sent == 2 && r.msgid.initiator.recv == 2 &&
		    r.msgid.initiator.wip == -1 && r.msgid.responder.sent == 9);
	assert_true(r.serial == 4 && r.spi_i == 0xa1);
	pluto_record_clear(&r);
	assert_int_equal(apply_msgid(c, 0, 0xa1, 0xb1, 3, 10, 60), IKE_OK);
	assert_true(e->msgid.initiator.sent == 3 && e->msgid_updates == 2);
	/* Unknown SA: counted, nothing changes. */
	assert_int_equal(apply_msgid(c, 5, 0, 0, 1, 1, 70), IKE_E_UNKNOWN);
	assert_int_equal(apply_msgid(c, 0, 0xa1, 0xb2, 1, 1, 70), IKE_E_UNKNOWN);
	assert_true(e->msgid.initiator.sent == 3);
	ike_stats(c, &st);
	assert_true(st.msgid_updates == 2 && st.unknown == 2);
	ike_free(c);
}

static void test_children(void **state)
{
	struct ike_cache *c = cache_make(0);
	char owner[128];
	const struct ike_entry *e;
	struct ike_stats st;

	assert_int_equal(apply_ike(c, 1, 0xa1, 0xb1, false, 1), IKE_OK);
	assert_int_equal(apply_child(c, 2, "\"ike_serial\":1", 0xc0ffee01, false, 2), IKE_OK);
	snprintf(owner, sizeof(owner), "\"spi_i\":\"%016x\",\"spi_r\":\"%016x\"", 0xa1, 0xb1);
	assert_int_equal(apply_child(c, 3, owner, 0xc0ffee03, false, 3), IKE_OK);
	/* Same serial again: replaced, not added. */
	assert_int_equal(apply_child(c, 2, "\"ike_serial\":1", 0xc0ffee05, false, 4), IKE_OK);
	e = ike_lookup(c, 0xa1, 0xb1);
	assert_int_equal(e->n_children, 2);
	assert_true(e->children[0].serial == 2 && e->children[0].spi_in == 0xc0ffee05 &&
		    e->children[0].spi_out == 0xc0ffee06 && e->children[0].reqid == 16389);
	assert_true(e->children[1].serial == 3);
	assert_int_equal(ike_child_count(c), 2);
	/* An orphan: no such IKE SA. */
	assert_int_equal(apply_child(c, 9, "\"ike_serial\":77", 1, false, 5), IKE_E_UNKNOWN);
	/* Delete one by serial with its owner, one without. */
	assert_int_equal(apply_text(c, "{\"version\":1,\"type\":\"delete\",\"sa\":\"child\",\"serial\":2,"
				       "\"ike_serial\":1}", false, 6), IKE_OK);
	assert_int_equal(apply_text(c, "{\"version\":1,\"type\":\"child_sa\",\"event\":\"deleted\","
				       "\"serial\":3,\"ike_serial\":99}", false, 7), IKE_OK);
	assert_int_equal(e->n_children, 0);
	assert_int_equal(apply_text(c, "{\"version\":1,\"type\":\"delete\",\"sa\":\"child\",\"serial\":3}",
				    false, 8), IKE_E_UNKNOWN);
	ike_stats(c, &st);
	assert_true(st.child_adds == 2 && st.child_updates == 1 && st.child_deletes == 2);
	assert_true(st.unknown == 2);

	/* No more than IKE_CHILDREN_MAX per IKE SA. */
	for (int i = 0; i < IKE_CHILDREN_MAX; i++)
		assert_int_equal(apply_child(c, 100 + (uint64_t)i, "\"ike_serial\":1", 1, false, 9), IKE_OK);
	assert_int_equal(apply_child(c, 999, "\"ike_serial\":1", 1, false, 9), IKE_E_FULL);
	assert_int_equal(apply_child(c, 100, "\"ike_serial\":1", 7, false, 9), IKE_OK);
	assert_int_equal(ike_child_count(c), IKE_CHILDREN_MAX);
	ike_free(c);
}

/* An IKE SA rekey moves the Child SAs; the old IKE SA's delete then leaves them be. */
static void test_rekey_and_delete(void **state)
{
	struct ike_cache *c = cache_make(0);
	struct ike_args a = { 10, 0xc1, 0xd1, 1, NULL, NULL, -1, NULL };
	const struct ike_entry *e;
	struct pluto_record r;
	struct ike_stats st;

	assert_int_equal(apply_ike(c, 1, 0xa1, 0xb1, false, 1), IKE_OK);
	assert_int_equal(apply_child(c, 2, "\"ike_serial\":1", 0x100, false, 2), IKE_OK);
	assert_int_equal(apply_child(c, 3, "\"ike_serial\":1", 0x200, false, 2), IKE_OK);
	rec_ike(&r, &a);
	assert_int_equal(ike_apply(c, &r, false, 3), IKE_OK);
	pluto_record_clear(&r);
	e = ike_lookup(c, 0xc1, 0xd1);
	assert_true(e->rekey_of == 1 && e->n_children == 2);
	assert_int_equal(ike_lookup(c, 0xa1, 0xb1)->n_children, 0);
	assert_int_equal(ike_child_count(c), 2);
	assert_int_equal(apply_text(c, "{\"version\":1,\"type\":\"delete\",\"sa\":\"ike\",\"serial\":1}",
				    false, 4), IKE_OK);
	assert_null(ike_lookup(c, 0xa1, 0xb1));
	assert_null(ike_lookup_serial(c, 1));
	assert_int_equal(ike_count(c), 1);
	assert_int_equal(ike_child_count(c), 2);
	/* Deleting the IKE SA deletes its Child SAs. */
	assert_int_equal(apply_text(c, "{\"version\":1,\"type\":\"delete\",\"spi_i\":\"00000000000000c1\","
				       "\"spi_r\":\"00000000000000d1\"}", false, 5), IKE_OK);
	assert_int_equal(ike_count(c), 0);
	assert_int_equal(ike_child_count(c), 0);
	assert_int_equal(apply_text(c, "{\"version\":1,\"type\":\"delete\",\"serial\":10}", false, 6),
			 IKE_E_UNKNOWN);
	/* IKE_DELETE from the peer. */
	assert_int_equal(apply_ike(c, 1, 0xa1, 0xb1, false, 7), IKE_OK);
	assert_int_equal(ike_delete(c, 0xa1, 0xb1), IKE_OK);
	assert_int_equal(ike_delete(c, 0xa1, 0xb1), IKE_E_UNKNOWN);
	ike_stats(c, &st);
	assert_true(st.children_moved == 2 && st.ike_deletes == 3 && st.unknown == 2);
	ike_free(c);
}

struct gone {
	int n;
	uint64_t spi_i[8];
};

static void on_gone(void *ctx, const struct ike_entry *e)
{
	struct gone *g = ctx;

	if (g->n < 8)
		g->spi_i[g->n] = e->spi_i;
	g->n++;
}

static void test_snapshot(void **state)
{
	struct ike_cache *c = cache_make(0);
	struct ike_bulk_info bi;
	struct gone g = { 0 };
	const struct ike_entry *e;
	struct ike_stats st;

	/* Live: A, B (B dormant in our pluto). */
	assert_int_equal(apply_ike(c, 1, 0xa, 0xa, false, 100), IKE_OK);
	assert_int_equal(apply_ike(c, 2, 0xb, 0xb, false, 100), IKE_OK);
	assert_int_equal(ike_set_state(c, 0xb, 0xb, IKE_STATE_DORMANT), IKE_OK);
	assert_int_equal(ike_set_state(c, 0xf, 0xf, IKE_STATE_DORMANT), IKE_E_UNKNOWN);

	/* Bulk records need an open snapshot. */
	assert_int_equal(apply_ike(c, 3, 0xc, 0xc, true, 150), IKE_E_NOBULK);
	assert_int_equal(ike_bulk_end(c, 1, 0, IKE_COUNT_ANY, 150, NULL, NULL), IKE_E_NOBULK);

	/* Snapshot: B and C. While it is open, live changes reach both sets. */
	assert_int_equal(ike_bulk_begin(c, 5, 200), IKE_OK);
	assert_true(ike_bulk_in_progress(c));
	assert_int_equal(apply_ike(c, 2, 0xb, 0xb, true, 210), IKE_OK);
	assert_int_equal(apply_child(c, 20, "\"ike_serial\":2", 0x20, true, 211), IKE_OK);
	assert_int_equal(apply_ike(c, 3, 0xc, 0xc, true, 220), IKE_OK);
	assert_int_equal(apply_msgid(c, 3, 0, 0, 7, 7, 230), IKE_OK);	/* only in the shadow */
	assert_int_equal(apply_msgid(c, 1, 0, 0, 8, 8, 230), IKE_OK);	/* only live */
	assert_int_equal(ike_count(c), 2);				/* live unchanged */
	assert_null(ike_lookup(c, 0xc, 0xc));
	ike_bulk_info(c, &bi);
	assert_true(bi.in_progress && bi.cur_gen == 5 && bi.cur_ike == 2 && bi.cur_records == 3);

	/* A wrong count discards it; the live set stays. */
	assert_int_equal(ike_bulk_end(c, 5, 3, IKE_COUNT_ANY, 240, on_gone, &g), IKE_E_COUNT);
	assert_int_equal(g.n, 0);
	assert_int_equal(ike_count(c), 2);
	assert_non_null(ike_lookup(c, 0xa, 0xa));
	ike_bulk_info(c, &bi);
	assert_true(!bi.in_progress && bi.have_last && bi.last_result == IKE_E_COUNT);

	/* Again, and a generation mismatch. */
	assert_int_equal(ike_bulk_begin(c, 6, 300), IKE_OK);
	assert_int_equal(apply_ike(c, 2, 0xb, 0xb, true, 310), IKE_OK);
	assert_int_equal(ike_bulk_end(c, 7, 1, IKE_COUNT_ANY, 320, on_gone, &g), IKE_E_GENERATION);

	/* Again, right: A is gone (reported), B keeps its age and state, C comes in. */
	assert_int_equal(ike_bulk_begin(c, 8, 400), IKE_OK);
	assert_int_equal(ike_bulk_begin(c, 9, 400), IKE_OK);	/* aborts the first */
	assert_int_equal(apply_ike(c, 2, 0xb, 0xb, true, 410), IKE_OK);
	assert_int_equal(apply_ike(c, 3, 0xc, 0xc, true, 420), IKE_OK);
	assert_int_equal(apply_child(c, 30, "\"ike_serial\":3", 0x30, true, 421), IKE_OK);
	assert_int_equal(apply_msgid(c, 3, 0, 0, 4, 4, 425), IKE_OK);	/* live: unknown, shadow: applied */
	assert_int_equal(apply_ike(c, 4, 0xd, 0xd, false, 426), IKE_OK);	/* live, and into the snapshot */
	assert_int_equal(ike_delete(c, 0xd, 0xd), IKE_OK);		/* from both */
	assert_int_equal(ike_bulk_end(c, 9, 2, 1, 430, on_gone, &g), IKE_OK);
	assert_int_equal(g.n, 1);
	assert_true(g.spi_i[0] == 0xa);
	assert_int_equal(ike_count(c), 2);
	assert_null(ike_lookup(c, 0xa, 0xa));
	assert_null(ike_lookup(c, 0xd, 0xd));
	e = ike_lookup(c, 0xb, 0xb);
	assert_true(e->first_seen_ms == 100 && e->state == IKE_STATE_DORMANT && e->gen == 9);
	e = ike_lookup(c, 0xc, 0xc);
	assert_true(e->first_seen_ms == 420 && e->msgid.initiator.sent == 4 && e->n_children == 1);
	assert_int_equal(ike_child_count(c), 1);
	ike_bulk_info(c, &bi);
	assert_true(bi.gen == 9 && bi.last_ike == 2 && bi.last_children == 1 && bi.last_result == IKE_OK);

	/* Abort, and IKE_COUNT_ANY for a caller that counts records itself. */
	assert_int_equal(ike_bulk_begin(c, 10, 500), IKE_OK);
	ike_bulk_abort(c);
	assert_false(ike_bulk_in_progress(c));
	ike_bulk_abort(c);
	/* A Child SA short: discarded. */
	assert_int_equal(ike_bulk_begin(c, 11, 600), IKE_OK);
	assert_int_equal(apply_ike(c, 3, 0xc, 0xc, true, 610), IKE_OK);
	assert_int_equal(ike_bulk_end(c, 11, 1, 1, 615, NULL, NULL), IKE_E_COUNT);
	assert_int_equal(ike_count(c), 2);
	assert_int_equal(ike_bulk_begin(c, 11, 600), IKE_OK);
	assert_int_equal(apply_ike(c, 3, 0xc, 0xc, true, 610), IKE_OK);
	assert_int_equal(ike_bulk_end(c, 11, IKE_COUNT_ANY, IKE_COUNT_ANY, 620, NULL, NULL), IKE_OK);
	assert_int_equal(ike_count(c), 1);

	ike_stats(c, &st);
	assert_true(st.bulk_ok == 2 && st.bulk_failed == 4 && st.bulk_aborted == 1);
	assert_true(st.bulk_orphans == 2 && st.bulk_gone == 2);
	ike_free(c);
}

static void test_listing(void **state)
{
	struct ike_cache *c = cache_make(0);
	struct ike_args a6 = { 9, 0x09, 0x99, 0, VIP6, "v6", 1, NULL };
	struct ike_args none = { 8, 0x08, 0x88, 0, "203.0.113.5", "elsewhere", 1, NULL };
	struct json_object *data = json_object_new_object(), *arr, *o, *ch, *m;
	const struct ike_entry **list;
	struct pluto_record r;
	const char *text;

	assert_int_equal(apply_ike(c, 2, 0x20, 0x21, false, 1000), IKE_OK);
	assert_int_equal(apply_ike(c, 1, 0x10, 0x11, false, 1000), IKE_OK);
	rec_ike(&r, &a6);
	assert_int_equal(ike_apply(c, &r, false, 1000), IKE_OK);
	pluto_record_clear(&r);
	rec_ike(&r, &none);
	assert_int_equal(ike_apply(c, &r, false, 1000), IKE_OK);
	pluto_record_clear(&r);
	assert_int_equal(apply_child(c, 3, "\"ike_serial\":1", 0xc0ffee01, false, 1200), IKE_OK);
	assert_int_equal(apply_msgid(c, 1, 0, 0, 5, 6, 1300), IKE_OK);

	/* Sorted by VIP address (IPv4 first, no VIP last), then SPIs. */
	assert_int_equal(ike_list(c, false, 0, &list), 4);
	assert_true(list[0]->spi_i == 0x10 && list[1]->spi_i == 0x20 && list[2]->spi_i == 0x09 &&
		    list[3]->spi_i == 0x08);
	free(list);
	assert_int_equal(ike_list(c, true, 1, &list), 1);
	free(list);
	assert_int_equal(ike_list(c, true, IKE_VIP_NONE, &list), 1);
	free(list);
	assert_int_equal(ike_vip_by_name(c, "outside6"), 1);
	assert_int_equal(ike_vip_by_name(c, "nope"), IKE_VIP_NONE);

	assert_int_equal(ike_json_list(c, false, 0, 2000, data), 0);
	text = json_object_to_json_string(data);
	/* Never a key, whatever the documents hold. */
	assert_null(strstr(text, "5ec2e7"));
	assert_null(strstr(text, "sk_d"));
	assert_null(strstr(text, "keymat"));
	assert_true(json_object_object_get_ex(data, "ike_sas", &arr));
	assert_int_equal(json_object_array_length(arr), 4);
	assert_true(json_object_object_get_ex(data, "count", &o));
	assert_int_equal(json_object_get_int(o), 4);
	o = json_object_array_get_idx(arr, 0);
	assert_string_equal(member_string(o, "vip"), "outside");
	assert_string_equal(member_string(o, "spi_i"), "0000000000000010");
	assert_string_equal(member_string(o, "spi_r"), "0000000000000011");
	assert_string_equal(member_string(o, "connection"), "tun");
	assert_string_equal(member_string(o, "role"), "responder");
	assert_string_equal(member_string(o, "local"), VIP4);
	assert_string_equal(member_string(o, "peer"), "198.51.100.7");
	assert_string_equal(member_string(o, "peer_port"), "4500");
	assert_string_equal(member_string(o, "transport"), "udp");
	assert_string_equal(member_string(o, "remote_id"), "@peer1");
	assert_string_equal(member_string(o, "state"), "established");
	assert_string_equal(member_string(o, "age_ms"), "1000");
	assert_string_equal(member_string(o, "msgid_age_ms"), "700");
	assert_true(json_object_object_get_ex(o, "msgid", &m));
	assert_true(json_object_object_get_ex(m, "initiator", &m));
	assert_string_equal(member_string(m, "sent"), "5");
	assert_true(json_object_object_get_ex(o, "child_sas", &ch));
	assert_int_equal(json_object_array_length(ch), 1);
	ch = json_object_array_get_idx(ch, 0);
	assert_string_equal(member_string(ch, "spi_in"), "c0ffee01");
	assert_string_equal(member_string(ch, "spi_out"), "c0ffee02");
	assert_string_equal(member_string(ch, "serial"), "3");
	o = json_object_array_get_idx(arr, 3);
	assert_null(member_string(o, "vip"));
	assert_null(member_string(o, "msgid_age_ms"));
	json_object_put(data);

	data = json_object_new_object();
	assert_int_equal(ike_json_list(c, true, 1, 2000, data), 0);
	assert_true(json_object_object_get_ex(data, "ike_sas", &arr));
	assert_int_equal(json_object_array_length(arr), 1);
	assert_string_equal(member_string(json_object_array_get_idx(arr, 0), "peer"), "2001:db8:ffff::7");
	json_object_put(data);
	ike_free(c);

	/* Empty. */
	c = cache_make(0);
	data = json_object_new_object();
	assert_int_equal(ike_json_list(c, false, 0, 0, data), 0);
	assert_string_equal(json_object_to_json_string(data), "{ \"ike_sas\": [ ], \"count\": 0 }");
	json_object_put(data);
	ike_free(c);
}

struct sink {
	struct ike_cache *into;
	int ike, child;
	bool keys_seen;
	int stop_at;
};

/* The peer's side: each exported document parsed and applied as a bulk record. */
static int on_export(void *ctx, const struct ike_entry *e, const struct ike_child *child,
		     const char *json, size_t len)
{
	struct sink *s = ctx;
	struct pluto_record r;

	if (s->stop_at && s->ike + s->child + 1 == s->stop_at)
		return 1;
	assert_int_equal(pluto_record_parse(json, len, &r), PLUTO_OK);
	assert_int_equal(r.type, child ? PLUTO_CHILD_SA : PLUTO_IKE_SA);
	if (child)
		s->child++;
	else
		s->ike++;
	if (memmem(json, len, SECRET, strlen(SECRET)))
		s->keys_seen = true;
	if (s->into)
		assert_int_equal(ike_apply(s->into, &r, true, 5000), IKE_OK);
	pluto_record_clear(&r);
	(void)e;
	return 0;
}

static void test_export(void **state)
{
	struct ike_cache *own = cache_make(0), *held = cache_make(0);
	struct sink s = { held, 0, 0, false, 0 };
	struct json_object *a = json_object_new_object(), *b = json_object_new_object();
	size_t skipped;

	for (uint64_t i = 1; i <= 20; i++) {
		char owner[64];

		assert_int_equal(apply_ike(own, i * 10, 0x1000 + i, 0x2000 + i, false, 100), IKE_OK);
		snprintf(owner, sizeof(owner), "\"ike_serial\":%" PRIu64, i * 10);
		assert_int_equal(apply_child(own, i * 10 + 1, owner, (uint32_t)i, false, 100), IKE_OK);
	}
	assert_int_equal(apply_msgid(own, 10, 0, 0, 11, 12, 150), IKE_OK);

	assert_int_equal(ike_bulk_begin(held, 1, 5000), IKE_OK);
	assert_int_equal(ike_export(own, false, 0, on_export, &s, &skipped), 40);
	assert_int_equal(skipped, 0);
	assert_true(s.ike == 20 && s.child == 20 && s.keys_seen);
	assert_int_equal(ike_bulk_end(held, 1, 20, 20, 5000, NULL, NULL), IKE_OK);

	/* The peer now lists the same SAs, windows and Child SAs included. */
	assert_int_equal(ike_json_list(own, false, 0, 5000, a), 0);
	assert_int_equal(ike_json_list(held, false, 0, 5000, b), 0);
	{
		/* Ages differ by design (first seen on each node); drop them. */
		struct json_object *arrs[2], *objs[2] = { a, b };

		for (int k = 0; k < 2; k++) {
			assert_true(json_object_object_get_ex(objs[k], "ike_sas", &arrs[k]));
			for (size_t i = 0; i < json_object_array_length(arrs[k]); i++) {
				struct json_object *o = json_object_array_get_idx(arrs[k], i), *chs;

				json_object_object_del(o, "age_ms");
				json_object_object_del(o, "msgid_age_ms");
				json_object_object_get_ex(o, "child_sas", &chs);
				for (size_t j = 0; j < json_object_array_length(chs); j++)
					json_object_object_del(json_object_array_get_idx(chs, j), "age_ms");
			}
		}
		assert_string_equal(json_object_to_json_string(a), json_object_to_json_string(b));
	}
	assert_int_equal(ike_lookup_serial(held, 10)->msgid.initiator.sent, 11);

	/* The walk stops when asked; one VIP only. */
	s.into = NULL;
	s.ike = s.child = 0;
	s.stop_at = 5;
	assert_int_equal(ike_export(own, false, 0, on_export, &s, NULL), -1);
	assert_int_equal(s.ike + s.child, 4);
	s.stop_at = 0;
	s.ike = s.child = 0;
	assert_int_equal(ike_export(own, true, 1, on_export, &s, NULL), 0);
	assert_int_equal(s.ike, 0);

	json_object_put(a);
	json_object_put(b);
	ike_free(own);
	ike_free(held);
}

/* An ike_sa record for SPIs 0xa1/0xb1 padded with a member name of pad bytes; its length. */
/*
 * After an IKE SA rekey the Child SAs' records still name the old IKE SA
 * (pluto does not send them again): the export must name the new one, or
 * the importer, which never saw the old IKE SA, drops them as orphans.
 */
static void test_export_after_ike_rekey(void **state)
{
	struct ike_cache *own = cache_make(0), *held = cache_make(0);
	struct sink s = { held, 0, 0, false, 0 };
	struct ike_args a = { 20, 0xc1, 0xd1, 10, NULL, NULL, -1, NULL };
	struct pluto_record r;

	assert_int_equal(apply_ike(own, 10, 0xa1, 0xb1, false, 1), IKE_OK);
	assert_int_equal(apply_child(own, 11, "\"ike_serial\":10", 0x100, false, 2), IKE_OK);
	rec_ike(&r, &a);
	assert_int_equal(ike_apply(own, &r, false, 3), IKE_OK);
	pluto_record_clear(&r);
	assert_int_equal(ike_delete(own, 0xa1, 0xb1), IKE_OK);
	assert_int_equal(ike_lookup(own, 0xc1, 0xd1)->n_children, 1);

	assert_int_equal(ike_bulk_begin(held, 1, 10), IKE_OK);
	assert_int_equal(ike_export(own, false, 0, on_export, &s, NULL), 2);
	assert_int_equal(ike_bulk_end(held, 1, 1, 1, 20, NULL, NULL), IKE_OK);
	assert_int_equal(ike_lookup(held, 0xc1, 0xd1)->n_children, 1);
	assert_int_equal(ike_child_count(held), 1);
	ike_free(own);
	ike_free(held);
	(void)state;
}

static size_t big_ike(struct pluto_record *r, const char *name, size_t pad, int wsent)
{
	static const char fmt[] =
		"{\"version\":1,\"type\":\"ike_sa\",\"serial\":1,\"connection\":\"big\","
		"\"role\":\"initiator\",\"spi_i\":\"00000000000000a1\",\"spi_r\":\"00000000000000b1\","
		"\"local\":{\"address\":\"192.0.2.1\",\"port\":500},"
		"\"remote\":{\"address\":\"198.51.100.7\",\"port\":500},"
		"\"msgid\":{\"initiator\":{\"sent\":%d,\"recv\":%d,\"wip\":-1},"
		"\"responder\":{\"sent\":-1,\"recv\":-1,\"wip\":-1}},\"%s\":\"%s\"}";
	char *padding = malloc(pad + 1), *text = malloc(pad + sizeof(fmt) + 64);
	int n;

	assert_non_null(padding);
	assert_non_null(text);
	memset(padding, 'p', pad);
	padding[pad] = '\0';
	n = snprintf(text, pad + sizeof(fmt) + 64, fmt, wsent, wsent, name, padding);
	assert_int_equal(pluto_record_parse(text, (size_t)n, r), PLUTO_OK);
	free(padding);
	free(text);
	return (size_t)n;
}

static int count_docs(void *ctx, const struct ike_entry *e, const struct ike_child *child,
		      const char *json, size_t len)
{
	(*(int *)ctx)++;
	assert_true(len <= PLUTO_RECORD_MAX);
	return 0;
}

/* Documents near PLUTO_RECORD_MAX: a merge too big keeps the new record, an export too big is skipped. */
static void test_big_documents(void **state)
{
	struct ike_cache *c = cache_make(0);
	const struct ike_entry *e;
	struct pluto_record r;
	size_t skipped, base;
	int docs = 0;

	base = big_ike(&r, "pad1", 0, -1);
	pluto_record_clear(&r);
	big_ike(&r, "pad1", 40000, 0);
	assert_int_equal(ike_apply(c, &r, false, 1), IKE_OK);
	pluto_record_clear(&r);
	big_ike(&r, "pad2", 30000, 0);
	assert_int_equal(ike_apply(c, &r, false, 2), IKE_OK);
	pluto_record_clear(&r);
	e = ike_lookup(c, 0xa1, 0xb1);
	assert_non_null(strstr(e->doc, "\"pad2\""));
	assert_null(strstr(e->doc, "\"pad1\""));
	assert_true(e->doc_len < 31000);

	/* The largest record, windows at -1; then windows of ten digits make it too big to export. */
	assert_int_equal(big_ike(&r, "pad3", PLUTO_RECORD_MAX - base, -1), PLUTO_RECORD_MAX);
	assert_int_equal(ike_apply(c, &r, false, 3), IKE_OK);
	pluto_record_clear(&r);
	assert_int_equal(apply_child(c, 2, "\"ike_serial\":1", 0x100, false, 4), IKE_OK);
	assert_int_equal(ike_export(c, false, 0, count_docs, &docs, &skipped), 2);
	assert_true(docs == 2 && skipped == 0);
	assert_int_equal(apply_msgid(c, 1, 0, 0, 2000000000, 2000000000, 5), IKE_OK);
	docs = 0;
	assert_int_equal(ike_export(c, false, 0, count_docs, &docs, &skipped), 0);
	assert_true(docs == 0 && skipped == 2);
	ike_free(c);
}

/* Which IKE SA a record is about, before it is applied. */
static void test_record_spis(void **state)
{
	struct ike_cache *c = cache_make(0);
	struct pluto_record r;
	uint64_t i = 0, rr = 0;

	assert_int_equal(apply_ike(c, 1, 0xa1, 0xb1, false, 1), IKE_OK);
	assert_int_equal(apply_child(c, 2, "\"ike_serial\":1", 0x100, false, 2), IKE_OK);

	rec_parse(&r, "{\"version\":1,\"type\":\"msgid\",\"serial\":1,"
		  "\"msgid\":{\"initiator\":{\"sent\":1,\"recv\":1,\"wip\":-1},"
		  "\"responder\":{\"sent\":1,\"recv\":1,\"wip\":-1}}}");
	assert_true(ike_record_spis(c, &r, &i, &rr) && i == 0xa1 && rr == 0xb1);
	pluto_record_clear(&r);
	rec_parse(&r, "{\"version\":1,\"type\":\"child_sa\",\"serial\":3,\"ike_serial\":1}");
	i = rr = 0;
	assert_true(ike_record_spis(c, &r, &i, &rr) && i == 0xa1 && rr == 0xb1);
	pluto_record_clear(&r);
	rec_parse(&r, "{\"version\":1,\"type\":\"child_sa\",\"serial\":3,\"ike_serial\":9}");
	assert_false(ike_record_spis(c, &r, &i, &rr));
	pluto_record_clear(&r);
	/* A Child SA delete without its IKE SA's serial: found by the Child SA. */
	rec_parse(&r, "{\"version\":1,\"type\":\"delete\",\"sa\":\"child\",\"serial\":2}");
	i = rr = 0;
	assert_true(ike_record_spis(c, &r, &i, &rr) && i == 0xa1 && rr == 0xb1);
	pluto_record_clear(&r);
	rec_parse(&r, "{\"version\":1,\"type\":\"delete\",\"sa\":\"ike\",\"serial\":1}");
	i = rr = 0;
	assert_true(ike_record_spis(c, &r, &i, &rr) && i == 0xa1 && rr == 0xb1);
	assert_int_equal(ike_apply(c, &r, false, 3), IKE_OK);
	assert_false(ike_record_spis(c, &r, &i, &rr));	/* gone now */
	pluto_record_clear(&r);
	rec_parse(&r, "{\"version\":1,\"type\":\"delete\",\"spi_i\":\"0000000000000005\","
		  "\"spi_r\":\"0000000000000006\"}");
	assert_true(ike_record_spis(c, &r, &i, &rr) && i == 5 && rr == 6);
	pluto_record_clear(&r);
	/* In an open snapshot too. */
	assert_int_equal(ike_bulk_begin(c, 1, 4), IKE_OK);
	assert_int_equal(apply_ike(c, 7, 0xc1, 0xd1, true, 5), IKE_OK);
	rec_parse(&r, "{\"version\":1,\"type\":\"child_sa\",\"serial\":8,\"ike_serial\":7}");
	assert_true(ike_record_spis(c, &r, &i, &rr) && i == 0xc1 && rr == 0xd1);
	pluto_record_clear(&r);
	ike_free(c);
}

static void test_limits(void **state)
{
	struct ike_cache *c = cache_make(3);
	struct ike_stats st;

	for (uint64_t i = 1; i <= 3; i++)
		assert_int_equal(apply_ike(c, i, i, i, false, 1), IKE_OK);
	assert_int_equal(apply_ike(c, 4, 4, 4, false, 1), IKE_E_FULL);
	assert_int_equal(apply_ike(c, 3, 3, 3, false, 2), IKE_OK);	/* an update still fits */
	ike_stats(c, &st);
	assert_true(st.full == 1 && st.ike_adds == 3 && st.ike_updates == 1);
	ike_free(c);
}

/* 10,000 IKE SAs: the tables grow, every SA stays reachable by SPIs and serial. */
static void test_many(void **state)
{
	struct ike_cache *c = cache_make(0);
	struct timespec t0, t1, t2;
	const int n = 10000;
	double add_us, msgid_us;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 1; i <= n; i++)
		assert_int_equal(apply_ike(c, (uint64_t)i, 0x4144305200000000ULL + (uint64_t)i,
					   0xf098000000000000ULL ^ (uint64_t)i, false, 1), IKE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (int i = 1; i <= n; i++)
		assert_int_equal(apply_msgid(c, (uint64_t)i, 0, 0, i % 100, i % 50, 2), IKE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	assert_int_equal(ike_count(c), n);
	for (int i = 1; i <= n; i++) {
		const struct ike_entry *e = ike_lookup(c, 0x4144305200000000ULL + (uint64_t)i,
						       0xf098000000000000ULL ^ (uint64_t)i);

		assert_non_null(e);
		assert_ptr_equal(ike_lookup_serial(c, (uint64_t)i), e);
		assert_int_equal(e->msgid.initiator.sent, i % 100);
	}
	add_us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
	msgid_us = ((double)(t2.tv_sec - t1.tv_sec) * 1e6 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e3) / n;
	print_message("%d IKE SAs: parse+apply %.1f us per ike_sa record, %.1f us per msgid record\n",
		      n, add_us, msgid_us);
	for (int i = 1; i <= n; i += 2)
		assert_int_equal(ike_delete(c, 0x4144305200000000ULL + (uint64_t)i,
					    0xf098000000000000ULL ^ (uint64_t)i), IKE_OK);
	assert_int_equal(ike_count(c), n / 2);
	assert_null(ike_lookup_serial(c, 1));
	assert_non_null(ike_lookup_serial(c, 2));
	ike_free(c);
}

/* Random records over a few SAs, live and in snapshots: the counts always agree with a walk. */
static void test_random_sequences(void **state)
{
	struct ike_cache *c = cache_make(0);
	unsigned seed = 4242;
	uint64_t gen = 0;

	for (int i = 0; i < 20000; i++) {
		unsigned op, k;
		char text[256], owner[64];
		const struct ike_entry **list;
		size_t n, children = 0;

		seed = seed * 1103515245 + 12345;
		op = (seed >> 16) % 9;
		k = (seed >> 8) % 12 + 1;
		snprintf(owner, sizeof(owner), "\"ike_serial\":%u", k);
		switch (op) {
		case 0:
		case 1:
			apply_ike(c, k, k, k + 100, ike_bulk_in_progress(c) && (seed & 1), (uint64_t)i);
			break;
		case 2:
			apply_msgid(c, k, 0, 0, (int)(seed % 7), 1, (uint64_t)i);
			break;
		case 3:
			apply_child(c, 1000 + (seed >> 4) % 30, owner, 1, false, (uint64_t)i);
			break;
		case 4:
			snprintf(text, sizeof(text), "{\"version\":1,\"type\":\"delete\",\"sa\":\"child\","
				 "\"serial\":%u}", 1000 + (seed >> 4) % 30);
			apply_text(c, text, false, (uint64_t)i);
			break;
		case 5:
			snprintf(text, sizeof(text), "{\"version\":1,\"type\":\"delete\",\"serial\":%u}", k);
			apply_text(c, text, false, (uint64_t)i);
			break;
		case 6:
			ike_bulk_begin(c, ++gen, (uint64_t)i);
			break;
		case 7:
			ike_bulk_end(c, gen, (seed & 2) ? IKE_COUNT_ANY : k % 3, IKE_COUNT_ANY, (uint64_t)i, NULL, NULL);
			break;
		case 8: {
			struct ike_args a = { k + 20, k + 50, k, k, NULL, NULL, 0, NULL };
			struct pluto_record r;

			rec_ike(&r, &a);	/* a rekey of serial k */
			ike_apply(c, &r, false, (uint64_t)i);
			pluto_record_clear(&r);
			break;
		}
		}
		n = ike_list(c, false, 0, &list);
		assert_true(n != (size_t)-1);
		assert_int_equal(n, ike_count(c));
		for (size_t j = 0; j < n; j++) {
			children += list[j]->n_children;
			assert_ptr_equal(ike_lookup(c, list[j]->spi_i, list[j]->spi_r), list[j]);
		}
		assert_int_equal(children, ike_child_count(c));
		assert_int_equal(ike_count_vip(c, 0) + ike_count_vip(c, IKE_VIP_NONE), n);
		free(list);
	}
	ike_free(c);
}

static void test_names(void **state)
{
	for (int s = IKE_E_FULL; s <= IKE_OK; s++)
		assert_string_not_equal(ike_strerror(s), "unknown IKE cache status");
	assert_string_equal(ike_state_name(IKE_STATE_DORMANT), "dormant");
	assert_string_equal(ike_state_name(IKE_STATE_ACTIVE), "active");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_lookup),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_msgid),
		cmocka_unit_test(test_children),
		cmocka_unit_test(test_rekey_and_delete),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_export_after_ike_rekey),
		cmocka_unit_test(test_big_documents),
		cmocka_unit_test(test_record_spis),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_random_sequences),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
