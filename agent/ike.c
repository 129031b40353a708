/* ike.c: the IKE SA cache: pluto's records per IKE SA, keyed by SPIs (and serial), snapshots, export, the `ike` listing. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "ike.h"
#include "json_util.h"
#include "siphash.h"

/*
 * Each set (live, and the shadow of an open snapshot) has two chained
 * hash indexes over the same nodes: by (spi_i, spi_r), the key, and by
 * serial, which msgid, delete and child_sa records may use instead. A
 * node never moves, so the views handed out stay valid until it changes.
 * Chains are keyed with SipHash and a secret seed: remote peers choose
 * initiator SPIs and must not be able to aim collisions at one bucket.
 */

struct node {
	struct ike_entry e;
	size_t cap_children;
	struct node *next_spi;
	struct node *next_serial;
};

struct set {
	struct node **by_spi;
	struct node **by_serial;
	size_t nb;		/* buckets: 0 or a power of two */
	size_t n;
	size_t n_children;
	size_t vip_count[IKE_VIPS_MAX];
	size_t unowned;
};

struct ike_cache {
	struct ike_config cfg;
	struct set live;
	struct set shadow;
	bool bulk_open;
	uint64_t gen;
	uint64_t bulk_gen;
	uint64_t bulk_begin_ms;
	uint64_t bulk_ike;
	uint64_t bulk_children;
	uint64_t bulk_records;
	bool have_last;
	uint64_t last_gen;
	uint64_t last_begin_ms;
	uint64_t last_end_ms;
	uint64_t last_ike;
	uint64_t last_children;
	int last_result;
	struct ike_stats st;
	char *scratch;		/* PLUTO_RECORD_MAX: documents are written here, then copied */
};

#define BUCKETS_MIN	16


static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t hash_spis(const struct ike_cache *c, uint64_t spi_i, uint64_t spi_r)
{
	uint8_t b[16];

	put64(b, spi_i);
	put64(b + 8, spi_r);
	return siphash24(c->cfg.hash_seed, b, sizeof(b));
}

static uint64_t hash_serial(const struct ike_cache *c, uint64_t serial)
{
	uint8_t b[9];

	b[0] = 'n';	/* another length and domain than the SPI hash */
	put64(b + 1, serial);
	return siphash24(c->cfg.hash_seed, b, sizeof(b));
}

/* ---------------------------------------------------------------- VIPs */

static bool addr_equal(const struct ha_addr *a, const struct ha_addr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->v4.s_addr == b->v4.s_addr;
	if (a->family == AF_INET6)
		return !memcmp(&a->v6, &b->v6, 16);
	return false;
}

int ike_vip_by_addr(const struct ike_cache *c, const struct ha_addr *addr)
{
	for (unsigned i = 0; i < c->cfg.n_vips; i++)
		if (addr_equal(&c->cfg.vips[i].addr, addr))
			return (int)i;
	return IKE_VIP_NONE;
}

int ike_vip_by_name(const struct ike_cache *c, const char *name)
{
	for (unsigned i = 0; i < c->cfg.n_vips; i++)
		if (!strcmp(c->cfg.vips[i].name, name))
			return (int)i;
	return IKE_VIP_NONE;
}

static void set_count_vip(struct set *s, int vip, int delta)
{
	if (vip == IKE_VIP_NONE)
		s->unowned += (size_t)delta;
	else
		s->vip_count[vip] += (size_t)delta;
}

/* ---------------------------------------------------------------- nodes and sets */

/* Documents hold keys: wiped before they go. */
static void doc_free(char **doc, size_t *len)
{
	if (*doc != NULL) {
		explicit_bzero(*doc, *len);
		free(*doc);
	}
	*doc = NULL;
	*len = 0;
}

static void child_clear(struct ike_child *ch)
{
	doc_free(&ch->doc, &ch->doc_len);
	memset(ch, 0, sizeof(*ch));
}

static void node_free(struct node *nd)
{
	for (size_t i = 0; i < nd->e.n_children; i++)
		child_clear(&nd->e.children[i]);
	free(nd->e.children);
	doc_free(&nd->e.doc, &nd->e.doc_len);
	free(nd->e.local_id);
	free(nd->e.remote_id);
	free(nd);
}

static struct node *set_find_spis(const struct ike_cache *c, const struct set *s, uint64_t spi_i,
				  uint64_t spi_r)
{
	struct node *nd;

	if (s->nb == 0)
		return NULL;
	nd = s->by_spi[hash_spis(c, spi_i, spi_r) & (s->nb - 1)];
	for (; nd != NULL; nd = nd->next_spi)
		if (nd->e.spi_i == spi_i && nd->e.spi_r == spi_r)
			return nd;
	return NULL;
}

static struct node *set_find_serial(const struct ike_cache *c, const struct set *s, uint64_t serial)
{
	struct node *nd;

	if (s->nb == 0 || serial == 0)
		return NULL;
	nd = s->by_serial[hash_serial(c, serial) & (s->nb - 1)];
	for (; nd != NULL; nd = nd->next_serial)
		if (nd->e.serial == serial)
			return nd;
	return NULL;
}

static void link_spi(const struct ike_cache *c, struct set *s, struct node *nd)
{
	size_t b = hash_spis(c, nd->e.spi_i, nd->e.spi_r) & (s->nb - 1);

	nd->next_spi = s->by_spi[b];
	s->by_spi[b] = nd;
}

/* At the head: a serial held twice (a restarted pluto) finds the newest. */
static void link_serial(const struct ike_cache *c, struct set *s, struct node *nd)
{
	size_t b = hash_serial(c, nd->e.serial) & (s->nb - 1);

	nd->next_serial = s->by_serial[b];
	s->by_serial[b] = nd;
}

static void unlink_serial(const struct ike_cache *c, struct set *s, struct node *nd)
{
	struct node **pp = &s->by_serial[hash_serial(c, nd->e.serial) & (s->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->next_serial) {
		if (*pp == nd) {
			*pp = nd->next_serial;
			return;
		}
	}
}

static void unlink_spi(const struct ike_cache *c, struct set *s, struct node *nd)
{
	struct node **pp = &s->by_spi[hash_spis(c, nd->e.spi_i, nd->e.spi_r) & (s->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->next_spi) {
		if (*pp == nd) {
			*pp = nd->next_spi;
			return;
		}
	}
}

static int set_grow(const struct ike_cache *c, struct set *s)
{
	size_t nb = s->nb ? s->nb * 2 : BUCKETS_MIN, old_nb = s->nb;
	struct node **old = s->by_spi, **sp, **sr;

	sp = calloc(nb, sizeof(*sp));
	sr = calloc(nb, sizeof(*sr));
	if (sp == NULL || sr == NULL) {
		free(sp);
		free(sr);
		return IKE_E_NOMEM;
	}
	free(s->by_serial);
	s->by_spi = sp;
	s->by_serial = sr;
	s->nb = nb;
	/* Serial order within a chain is lost here; duplicates only exist
	 * across a pluto restart, which a snapshot resolves. */
	for (size_t i = 0; i < old_nb; i++) {
		struct node *nd = old[i], *next;

		for (; nd != NULL; nd = next) {
			next = nd->next_spi;
			link_spi(c, s, nd);
			link_serial(c, s, nd);
		}
	}
	free(old);
	return IKE_OK;
}

static int set_insert(const struct ike_cache *c, struct set *s, struct node *nd)
{
	int rc;

	if (s->n + 1 > s->nb && (rc = set_grow(c, s)) != IKE_OK)
		return rc;
	link_spi(c, s, nd);
	link_serial(c, s, nd);
	s->n++;
	s->n_children += nd->e.n_children;
	set_count_vip(s, nd->e.vip, 1);
	return IKE_OK;
}

static void set_remove(const struct ike_cache *c, struct set *s, struct node *nd)
{
	unlink_spi(c, s, nd);
	unlink_serial(c, s, nd);
	s->n--;
	s->n_children -= nd->e.n_children;
	set_count_vip(s, nd->e.vip, -1);
	node_free(nd);
}

static void set_clear(struct set *s)
{
	for (size_t i = 0; i < s->nb; i++) {
		struct node *nd = s->by_spi[i], *next;

		for (; nd != NULL; nd = next) {
			next = nd->next_spi;
			node_free(nd);
		}
	}
	free(s->by_spi);
	free(s->by_serial);
	memset(s, 0, sizeof(*s));
}

/* ---------------------------------------------------------------- documents */

/* o as JSON text (without its top-level member skip) in a new string. */
static int doc_store(struct ike_cache *c, struct json_object *o, const char *skip, char **doc,
		     size_t *len)
{
	long n = json_util_write_except(o, skip, c->scratch, PLUTO_RECORD_MAX);
	char *d;

	if (n < 0) {
		explicit_bzero(c->scratch, PLUTO_RECORD_MAX);
		return IKE_E_INVALID;
	}
	d = malloc((size_t)n + 1);
	if (d != NULL) {
		memcpy(d, c->scratch, (size_t)n);
		d[n] = '\0';
	}
	explicit_bzero(c->scratch, (size_t)n);
	if (d == NULL)
		return IKE_E_NOMEM;
	*doc = d;
	*len = (size_t)n;
	return IKE_OK;
}

/*
 * The held document with the new record's members put over it: members of
 * the new one win, the others stay (a record of a later patch may carry
 * only what changed).
 */
static int doc_merged(struct ike_cache *c, const struct ike_entry *e, struct json_object *newj,
		      char **doc, size_t *len)
{
	struct json_object *old = json_util_parse(e->doc, e->doc_len, PLUTO_JSON_DEPTH, NULL), *m;
	int rc;

	if (old == NULL || !json_object_is_type(old, json_type_object)) {
		json_util_free(old);
		return doc_store(c, newj, "msgid", doc, len);
	}
	if ((m = json_object_new_object()) == NULL) {
		json_util_free(old);
		return IKE_E_NOMEM;
	}
	json_object_object_foreach(newj, knew, vnew)
		json_object_object_add(m, knew, json_object_get(vnew));
	json_object_object_foreach(old, kold, vold)
		if (!json_object_object_get_ex(m, kold, NULL))
			json_object_object_add(m, kold, json_object_get(vold));
	rc = doc_store(c, m, "msgid", doc, len);
	/* m shares its values with newj (the caller's) and old: only old is ours. */
	json_object_put(m);
	json_util_free(old);
	return rc;
}

static void ids_update(struct ike_entry *e, struct json_object *j)
{
	static const char *const names[2] = { "local_id", "remote_id" };
	char **dst[2] = { &e->local_id, &e->remote_id };
	struct json_object *v;

	for (int i = 0; i < 2; i++) {
		if (!json_object_object_get_ex(j, names[i], &v) || !json_object_is_type(v, json_type_string))
			continue;
		free(*dst[i]);
		/* Display only: out of memory leaves it unknown. */
		*dst[i] = strndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
	}
}

static int window_text(char *buf, size_t cap, const struct pluto_window *w)
{
	return snprintf(buf, cap, "{\"sent\":%" PRId64 ",\"recv\":%" PRId64 ",\"wip\":%" PRId64 "}",
			w->sent, w->recv, w->wip);
}

/* The "msgid" member as pluto writes it. */
static size_t msgid_text(char *buf, size_t cap, const struct pluto_msgids *m)
{
	char i[96], r[96];

	window_text(i, sizeof(i), &m->initiator);
	window_text(r, sizeof(r), &m->responder);
	return (size_t)snprintf(buf, cap, "\"msgid\":{\"initiator\":%s,\"responder\":%s}", i, r);
}

static struct json_object *window_json(const struct pluto_window *w)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "sent", json_object_new_int64(w->sent));
	json_object_object_add(o, "recv", json_object_new_int64(w->recv));
	json_object_object_add(o, "wip", json_object_new_int64(w->wip));
	return o;
}

static struct json_object *msgid_json(const struct pluto_msgids *m)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "initiator", window_json(&m->initiator));
	json_object_object_add(o, "responder", window_json(&m->responder));
	return o;
}

/* ---------------------------------------------------------------- records into one set */

struct outcome {
	bool created;
	size_t moved;
};

/* The summary fields of an ike_sa record; the serial index is the caller's. */
static void entry_fill(const struct ike_cache *c, struct ike_entry *e, const struct pluto_record *r,
		       uint64_t now_ms)
{
	e->spi_i = r->spi_i;
	e->spi_r = r->spi_r;
	e->serial = r->serial;
	e->rekey_of = r->rekey_of;
	e->instance = r->instance;
	memcpy(e->connection, r->connection, sizeof(e->connection));
	memcpy(e->event, r->event, sizeof(e->event));
	e->role = r->role;
	e->local = r->local;
	e->remote = r->remote;
	e->msgid = r->msgid;
	e->vip = ike_vip_by_addr(c, &r->local.addr);
	e->updated_ms = now_ms;
}

static int set_ike_sa(struct ike_cache *c, struct set *s, const struct pluto_record *r,
		      uint64_t now_ms, uint64_t gen, struct outcome *out)
{
	struct node *nd = set_find_spis(c, s, r->spi_i, r->spi_r), *old;
	char *doc;
	size_t len;
	int rc;

	if (nd != NULL) {
		rc = doc_merged(c, &nd->e, r->json, &doc, &len);
		if (rc == IKE_E_INVALID)	/* too big together: the new record alone */
			rc = doc_store(c, r->json, "msgid", &doc, &len);
		if (rc != IKE_OK)
			return rc;
		doc_free(&nd->e.doc, &nd->e.doc_len);
		nd->e.doc = doc;
		nd->e.doc_len = len;
		ids_update(&nd->e, r->json);
		set_count_vip(s, nd->e.vip, -1);
		if (nd->e.serial != r->serial) {
			unlink_serial(c, s, nd);
			entry_fill(c, &nd->e, r, now_ms);
			link_serial(c, s, nd);
		} else {
			entry_fill(c, &nd->e, r, now_ms);
		}
		set_count_vip(s, nd->e.vip, 1);
		nd->e.gen = gen;
		return IKE_OK;
	}
	if (c->cfg.max_entries && s->n >= c->cfg.max_entries)
		return IKE_E_FULL;
	if ((rc = doc_store(c, r->json, "msgid", &doc, &len)) != IKE_OK)
		return rc;
	if ((nd = calloc(1, sizeof(*nd))) == NULL) {
		doc_free(&doc, &len);
		return IKE_E_NOMEM;
	}
	entry_fill(c, &nd->e, r, now_ms);
	ids_update(&nd->e, r->json);
	nd->e.doc = doc;
	nd->e.doc_len = len;
	nd->e.first_seen_ms = now_ms;
	nd->e.gen = gen;
	nd->e.state = IKE_STATE_ESTABLISHED;
	/* pluto moved the old IKE SA's Child SAs to this one when it rekeyed it. */
	old = r->rekey_of ? set_find_serial(c, s, r->rekey_of) : NULL;
	if (old != NULL && old->e.n_children > 0) {
		nd->e.children = old->e.children;
		nd->e.n_children = old->e.n_children;
		nd->cap_children = old->cap_children;
		s->n_children -= old->e.n_children;
		out->moved = old->e.n_children;
		old->e.children = NULL;
		old->e.n_children = 0;
		old->cap_children = 0;
	}
	if ((rc = set_insert(c, s, nd)) != IKE_OK) {
		if (out->moved) {	/* give them back */
			old->e.children = nd->e.children;
			old->e.n_children = nd->e.n_children;
			old->cap_children = nd->cap_children;
			s->n_children += nd->e.n_children;
			nd->e.children = NULL;
			nd->e.n_children = 0;
			out->moved = 0;
		}
		node_free(nd);
		return rc;
	}
	out->created = true;
	return IKE_OK;
}

/* The IKE SA a record names: by SPIs when it has them, else by serial. */
static struct node *set_find_owner(const struct ike_cache *c, const struct set *s,
				   const struct pluto_record *r, uint64_t serial)
{
	if (r->has_spis)
		return set_find_spis(c, s, r->spi_i, r->spi_r);
	return set_find_serial(c, s, serial);
}

/* The frequent one: no JSON is touched, the windows live in the summary. */
static int set_msgid(const struct ike_cache *c, struct set *s, const struct pluto_record *r,
		     uint64_t now_ms)
{
	struct node *nd = set_find_owner(c, s, r, r->serial);

	if (nd == NULL)
		return IKE_E_UNKNOWN;
	nd->e.msgid = r->msgid;
	nd->e.msgid_ms = now_ms;
	nd->e.updated_ms = now_ms;
	nd->e.msgid_updates++;
	return IKE_OK;
}

static ssize_t child_index(const struct ike_entry *e, uint64_t serial)
{
	for (size_t i = 0; i < e->n_children; i++)
		if (e->children[i].serial == serial)
			return (ssize_t)i;
	return -1;
}

/* The IKE SA holding Child SA serial, by a walk (a Child SA delete without its IKE SA's serial). */
static struct node *set_find_child_owner(const struct set *s, uint64_t serial)
{
	for (size_t b = 0; b < s->nb; b++)
		for (struct node *nd = s->by_spi[b]; nd != NULL; nd = nd->next_spi)
			if (child_index(&nd->e, serial) >= 0)
				return nd;
	return NULL;
}

static void child_remove(struct set *s, struct node *nd, size_t i)
{
	child_clear(&nd->e.children[i]);
	memmove(&nd->e.children[i], &nd->e.children[i + 1],
		(nd->e.n_children - i - 1) * sizeof(nd->e.children[0]));
	nd->e.n_children--;
	s->n_children--;
}

static int set_delete_child(const struct ike_cache *c, struct set *s, const struct pluto_record *r)
{
	struct node *nd;
	ssize_t i;

	if (r->has_spis || r->ike_serial) {
		nd = set_find_owner(c, s, r, r->ike_serial);
		if (nd != NULL && (i = child_index(&nd->e, r->serial)) >= 0) {
			child_remove(s, nd, (size_t)i);
			return IKE_OK;
		}
	}
	/* No owner named, or not where it said: look everywhere (rare, a Child SA delete). */
	if ((nd = set_find_child_owner(s, r->serial)) == NULL)
		return IKE_E_UNKNOWN;
	child_remove(s, nd, (size_t)child_index(&nd->e, r->serial));
	return IKE_OK;
}

static int set_delete(const struct ike_cache *c, struct set *s, const struct pluto_record *r)
{
	struct node *nd;

	if (r->child)
		return set_delete_child(c, s, r);
	if ((nd = set_find_owner(c, s, r, r->serial)) == NULL)
		return IKE_E_UNKNOWN;
	set_remove(c, s, nd);
	return IKE_OK;
}

static int set_child(struct ike_cache *c, struct set *s, const struct pluto_record *r,
		     uint64_t now_ms, struct outcome *out)
{
	struct node *nd = set_find_owner(c, s, r, r->ike_serial);
	struct ike_child *ch;
	char *doc;
	size_t len;
	ssize_t i;
	int rc;

	if (nd == NULL)
		return IKE_E_UNKNOWN;
	i = child_index(&nd->e, r->serial);
	if (i < 0 && nd->e.n_children >= IKE_CHILDREN_MAX)
		return IKE_E_FULL;
	if ((rc = doc_store(c, r->json, NULL, &doc, &len)) != IKE_OK)
		return rc;
	if (i < 0) {
		if (nd->e.n_children == nd->cap_children) {
			size_t cap = nd->cap_children ? nd->cap_children * 2 : 2;
			struct ike_child *v = realloc(nd->e.children, cap * sizeof(*v));

			if (v == NULL) {
				doc_free(&doc, &len);
				return IKE_E_NOMEM;
			}
			nd->e.children = v;
			nd->cap_children = cap;
		}
		i = (ssize_t)nd->e.n_children++;
		memset(&nd->e.children[i], 0, sizeof(nd->e.children[i]));
		s->n_children++;
		out->created = true;
	}
	ch = &nd->e.children[i];
	doc_free(&ch->doc, &ch->doc_len);	/* the keys of the Child SA's previous record */
	ch->doc = doc;
	ch->doc_len = len;
	ch->serial = r->serial;
	ch->rekey_of = r->rekey_of;
	ch->spi_in = r->spi_in;
	ch->spi_out = r->spi_out;
	ch->reqid = r->reqid;
	ch->updated_ms = now_ms;
	return IKE_OK;
}

static int set_apply(struct ike_cache *c, struct set *s, const struct pluto_record *r,
		     uint64_t now_ms, uint64_t gen, struct outcome *out)
{
	memset(out, 0, sizeof(*out));
	switch (r->type) {
	case PLUTO_IKE_SA:
		return set_ike_sa(c, s, r, now_ms, gen, out);
	case PLUTO_MSGID:
		return set_msgid(c, s, r, now_ms);
	case PLUTO_DELETE:
		return set_delete(c, s, r);
	case PLUTO_CHILD_SA:
		return set_child(c, s, r, now_ms, out);
	default:
		return IKE_E_INVALID;
	}
}

/* ---------------------------------------------------------------- the cache */

struct ike_cache *ike_new(const struct ike_config *cfg)
{
	struct ike_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if ((c->scratch = malloc(PLUTO_RECORD_MAX)) == NULL) {
		free(c);
		return NULL;
	}
	if (cfg != NULL) {
		c->cfg = *cfg;
		if (c->cfg.n_vips > IKE_VIPS_MAX)
			c->cfg.n_vips = IKE_VIPS_MAX;
	}
	return c;
}

void ike_free(struct ike_cache *c)
{
	if (c == NULL)
		return;
	set_clear(&c->live);
	set_clear(&c->shadow);
	explicit_bzero(c->cfg.hash_seed, sizeof(c->cfg.hash_seed));
	free(c->scratch);	/* wiped after every use */
	free(c);
}

static void count_outcome(struct ike_cache *c, const struct pluto_record *r, int rc,
			  const struct outcome *o)
{
	switch (rc) {
	case IKE_OK:
		break;
	case IKE_E_UNKNOWN:
		c->st.unknown++;
		return;
	case IKE_E_FULL:
		c->st.full++;
		return;
	case IKE_E_NOMEM:
		c->st.nomem++;
		return;
	default:
		c->st.invalid++;
		return;
	}
	switch (r->type) {
	case PLUTO_IKE_SA:
		if (o->created)
			c->st.ike_adds++;
		else
			c->st.ike_updates++;
		c->st.children_moved += o->moved;
		break;
	case PLUTO_MSGID:
		c->st.msgid_updates++;
		break;
	case PLUTO_DELETE:
		if (r->child)
			c->st.child_deletes++;
		else
			c->st.ike_deletes++;
		break;
	case PLUTO_CHILD_SA:
		if (o->created)
			c->st.child_adds++;
		else
			c->st.child_updates++;
		break;
	default:
		break;
	}
}

static bool rc_is_failure(int rc)
{
	return rc == IKE_E_NOMEM || rc == IKE_E_FULL;
}

int ike_apply(struct ike_cache *c, const struct pluto_record *rec, bool bulk, uint64_t now_ms)
{
	struct outcome lo, so;
	int rl, rs;

	if (rec->type < PLUTO_IKE_SA || rec->type > PLUTO_TYPE_MAX || rec->type == PLUTO_SNAPSHOT_END ||
	    ((rec->type == PLUTO_IKE_SA || rec->type == PLUTO_CHILD_SA) && rec->json == NULL)) {
		c->st.invalid++;
		return IKE_E_INVALID;
	}
	if (bulk) {
		if (!c->bulk_open) {
			c->st.bulk_orphans++;
			return IKE_E_NOBULK;
		}
		rs = set_apply(c, &c->shadow, rec, now_ms, c->bulk_gen, &so);
		if (rs == IKE_OK) {
			c->bulk_records++;
			if (rec->type == PLUTO_IKE_SA)
				c->bulk_ike++;
			else if (rec->type == PLUTO_CHILD_SA)
				c->bulk_children++;
		}
		count_outcome(c, rec, rs, &so);
		return rs;
	}
	rl = set_apply(c, &c->live, rec, now_ms, c->gen, &lo);
	if (!c->bulk_open) {
		count_outcome(c, rec, rl, &lo);
		return rl;
	}
	/* The snapshot may already hold this SA: keep its copy current too. */
	rs = set_apply(c, &c->shadow, rec, now_ms, c->bulk_gen, &so);
	if (rl == IKE_OK || rs == IKE_OK) {
		int rc = rc_is_failure(rl) ? rl : rc_is_failure(rs) ? rs : IKE_OK;

		count_outcome(c, rec, rc, rl == IKE_OK ? &lo : &so);
		return rc;
	}
	count_outcome(c, rec, rl, &lo);
	return rl;
}

int ike_delete(struct ike_cache *c, uint64_t spi_i, uint64_t spi_r)
{
	struct node *nd;
	bool found = false;

	if ((nd = set_find_spis(c, &c->live, spi_i, spi_r)) != NULL) {
		set_remove(c, &c->live, nd);
		found = true;
	}
	/* Else the snapshot would bring it back. */
	if (c->bulk_open && (nd = set_find_spis(c, &c->shadow, spi_i, spi_r)) != NULL) {
		set_remove(c, &c->shadow, nd);
		found = true;
	}
	if (!found) {
		c->st.unknown++;
		return IKE_E_UNKNOWN;
	}
	c->st.ike_deletes++;
	return IKE_OK;
}

int ike_bulk_begin(struct ike_cache *c, uint64_t gen, uint64_t now_ms)
{
	if (c->bulk_open) {
		set_clear(&c->shadow);
		c->st.bulk_aborted++;
	}
	c->bulk_open = true;
	c->bulk_gen = gen;
	c->bulk_begin_ms = now_ms;
	c->bulk_ike = 0;
	c->bulk_children = 0;
	c->bulk_records = 0;
	return IKE_OK;
}

static void bulk_close(struct ike_cache *c, uint64_t gen, uint64_t now_ms, int result)
{
	c->have_last = true;
	c->last_gen = gen;
	c->last_begin_ms = c->bulk_begin_ms;
	c->last_end_ms = now_ms;
	c->last_ike = c->bulk_ike;
	c->last_children = c->bulk_children;
	c->last_result = result;
	c->bulk_open = false;
	c->bulk_ike = 0;
	c->bulk_children = 0;
	c->bulk_records = 0;
}

int ike_bulk_end(struct ike_cache *c, uint64_t gen, uint64_t count, uint64_t children,
		 uint64_t now_ms, ike_gone_fn gone, void *ctx)
{
	int rc = IKE_OK;

	if (!c->bulk_open) {
		c->st.bulk_orphans++;
		return IKE_E_NOBULK;
	}
	if (gen != c->bulk_gen)
		rc = IKE_E_GENERATION;
	else if ((count != IKE_COUNT_ANY && count != c->bulk_ike) ||
		 (children != IKE_COUNT_ANY && children != c->bulk_children))
		rc = IKE_E_COUNT;
	if (rc != IKE_OK) {
		set_clear(&c->shadow);
		c->st.bulk_failed++;
		bulk_close(c, gen, now_ms, rc);
		return rc;
	}
	for (size_t b = 0; b < c->live.nb; b++) {
		for (struct node *nd = c->live.by_spi[b]; nd != NULL; nd = nd->next_spi) {
			struct node *twin = set_find_spis(c, &c->shadow, nd->e.spi_i, nd->e.spi_r);

			if (twin != NULL) {
				/* The same SA: it was not established again, nor re-imported. */
				twin->e.first_seen_ms = nd->e.first_seen_ms;
				twin->e.state = nd->e.state;
				continue;
			}
			c->st.bulk_gone++;
			if (gone != NULL)
				gone(ctx, &nd->e);
		}
	}
	set_clear(&c->live);
	c->live = c->shadow;
	memset(&c->shadow, 0, sizeof(c->shadow));
	c->gen = gen;
	c->st.bulk_ok++;
	bulk_close(c, gen, now_ms, IKE_OK);
	return IKE_OK;
}

void ike_bulk_abort(struct ike_cache *c)
{
	if (!c->bulk_open)
		return;
	set_clear(&c->shadow);
	c->st.bulk_failed++;
	bulk_close(c, c->bulk_gen, c->bulk_begin_ms, IKE_E_COUNT);
}

bool ike_bulk_in_progress(const struct ike_cache *c)
{
	return c->bulk_open;
}

void ike_bulk_info(const struct ike_cache *c, struct ike_bulk_info *out)
{
	memset(out, 0, sizeof(*out));
	out->in_progress = c->bulk_open;
	out->gen = c->gen;
	if (c->bulk_open) {
		out->cur_gen = c->bulk_gen;
		out->cur_begin_ms = c->bulk_begin_ms;
		out->cur_ike = c->bulk_ike;
		out->cur_children = c->bulk_children;
		out->cur_records = c->bulk_records;
	}
	out->have_last = c->have_last;
	out->last_gen = c->last_gen;
	out->last_begin_ms = c->last_begin_ms;
	out->last_end_ms = c->last_end_ms;
	out->last_ike = c->last_ike;
	out->last_children = c->last_children;
	out->last_result = c->last_result;
}

const struct ike_entry *ike_lookup(const struct ike_cache *c, uint64_t spi_i, uint64_t spi_r)
{
	struct node *nd = set_find_spis(c, &c->live, spi_i, spi_r);

	return nd ? &nd->e : NULL;
}

static struct node *record_owner(const struct ike_cache *c, const struct set *s,
				 const struct pluto_record *rec)
{
	bool child = rec->type == PLUTO_CHILD_SA || (rec->type == PLUTO_DELETE && rec->child);
	struct node *nd;

	if (!child)
		return set_find_serial(c, s, rec->serial);
	if (rec->ike_serial && (nd = set_find_serial(c, s, rec->ike_serial)) != NULL)
		return nd;
	return rec->type == PLUTO_DELETE ? set_find_child_owner(s, rec->serial) : NULL;
}

bool ike_record_spis(const struct ike_cache *c, const struct pluto_record *rec, uint64_t *spi_i,
		     uint64_t *spi_r)
{
	struct node *nd;

	if (rec->has_spis) {
		*spi_i = rec->spi_i;
		*spi_r = rec->spi_r;
		return true;
	}
	nd = record_owner(c, &c->live, rec);
	if (nd == NULL && c->bulk_open)
		nd = record_owner(c, &c->shadow, rec);
	if (nd == NULL)
		return false;
	*spi_i = nd->e.spi_i;
	*spi_r = nd->e.spi_r;
	return true;
}

const struct ike_entry *ike_lookup_serial(const struct ike_cache *c, uint64_t serial)
{
	struct node *nd = set_find_serial(c, &c->live, serial);

	return nd ? &nd->e : NULL;
}

int ike_set_state(struct ike_cache *c, uint64_t spi_i, uint64_t spi_r, enum ike_state state)
{
	struct node *nd = set_find_spis(c, &c->live, spi_i, spi_r), *sh = NULL;

	if (c->bulk_open)
		sh = set_find_spis(c, &c->shadow, spi_i, spi_r);
	if (nd == NULL && sh == NULL)
		return IKE_E_UNKNOWN;
	if (nd != NULL)
		nd->e.state = state;
	if (sh != NULL)
		sh->e.state = state;
	return IKE_OK;
}

size_t ike_count(const struct ike_cache *c)
{
	return c->live.n;
}

size_t ike_count_vip(const struct ike_cache *c, int vip)
{
	if (vip == IKE_VIP_NONE)
		return c->live.unowned;
	if (vip < 0 || (unsigned)vip >= c->cfg.n_vips)
		return 0;
	return c->live.vip_count[vip];
}

size_t ike_child_count(const struct ike_cache *c)
{
	return c->live.n_children;
}

void ike_stats(const struct ike_cache *c, struct ike_stats *out)
{
	*out = c->st;
}

/* ---------------------------------------------------------------- listings */

static int addr_cmp(const struct ha_addr *a, const struct ha_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->family == AF_INET)
		return memcmp(&a->v4, &b->v4, 4);
	if (a->family == AF_INET6)
		return memcmp(&a->v6, &b->v6, 16);
	return 0;
}

#define CMP(a, b) do { if ((a) != (b)) return (a) < (b) ? -1 : 1; } while (0)

static int entry_cmp(const void *pa, const void *pb, void *arg)
{
	const struct ike_cache *c = arg;
	const struct ike_entry *a = *(const struct ike_entry *const *)pa;
	const struct ike_entry *b = *(const struct ike_entry *const *)pb;
	int r;

	if (a->vip != b->vip) {
		if (a->vip == IKE_VIP_NONE || b->vip == IKE_VIP_NONE)
			return a->vip == IKE_VIP_NONE ? 1 : -1;
		if ((r = addr_cmp(&c->cfg.vips[a->vip].addr, &c->cfg.vips[b->vip].addr)) != 0)
			return r;
		CMP(a->vip, b->vip);
	}
	CMP(a->spi_i, b->spi_i);
	CMP(a->spi_r, b->spi_r);
	return 0;
}

size_t ike_list(const struct ike_cache *c, bool vip_filter, int vip,
		const struct ike_entry ***out)
{
	const struct ike_entry **v;
	size_t n = 0;

	*out = NULL;
	if (c->live.n == 0)
		return 0;
	if ((v = calloc(c->live.n, sizeof(*v))) == NULL)
		return (size_t)-1;
	for (size_t b = 0; b < c->live.nb; b++)
		for (struct node *nd = c->live.by_spi[b]; nd != NULL; nd = nd->next_spi)
			if (!vip_filter || nd->e.vip == vip)
				v[n++] = &nd->e;
	if (n == 0) {
		free(v);
		return 0;
	}
	qsort_r(v, n, sizeof(*v), entry_cmp, (void *)c);
	*out = v;
	return n;
}

/*
 * A Child SA's document naming the IKE SA it belongs to now. Pluto does not
 * send a child_sa record again when an IKE SA rekey moves the Child SA
 * (migrate_v2_children()), so the stored "ike_serial" may name the old IKE
 * SA, which whoever imports the export (the peer's cache, our pluto)
 * never sees: it would drop the Child SA as an orphan.
 */
static long child_doc_of(const struct ike_entry *e, const struct ike_child *ch, char *buf,
			 size_t cap)
{
	struct json_object *o = json_util_parse(ch->doc, ch->doc_len, PLUTO_JSON_DEPTH, NULL);
	long len;

	if (o == NULL)
		return -1;
	json_object_object_add(o, "ike_serial", json_object_new_int64((int64_t)e->serial));
	len = json_util_write(o, buf, cap);
	json_util_free(o);
	return len;
}

long ike_export(const struct ike_cache *c, bool vip_filter, int vip, ike_export_fn fn, void *ctx,
		size_t *skipped)
{
	const struct ike_entry **v;
	size_t n = ike_list(c, vip_filter, vip, &v);
	long done = 0;
	char *buf;

	if (skipped)
		*skipped = 0;
	if (n == (size_t)-1)
		return -1;
	if (n == 0)
		return 0;
	if ((buf = malloc(PLUTO_RECORD_MAX)) == NULL) {
		free(v);
		return -1;
	}
	for (size_t i = 0; i < n && done >= 0; i++) {
		const struct ike_entry *e = v[i];
		size_t len = 1 + msgid_text(buf + 1, PLUTO_RECORD_MAX - 1, &e->msgid);

		/* {"msgid":{...}, then the stored document after its "{". */
		buf[0] = '{';
		if (len + e->doc_len > PLUTO_RECORD_MAX || e->doc_len < 2) {
			/* Its Child SAs would be orphans without it. */
			if (skipped)
				*skipped += 1 + e->n_children;
			continue;
		}
		if (e->doc_len > 2)
			buf[len++] = ',';
		memcpy(buf + len, e->doc + 1, e->doc_len - 1);
		len += e->doc_len - 1;
		done = fn(ctx, e, NULL, buf, len) != 0 ? -1 : done + 1;
		explicit_bzero(buf, len);
		for (size_t k = 0; k < e->n_children && done >= 0; k++) {
			const struct ike_child *ch = &e->children[k];
			long clen = child_doc_of(e, ch, buf, PLUTO_RECORD_MAX);

			if (clen < 0) {
				if (skipped)
					*skipped += 1;
				continue;
			}
			done = fn(ctx, e, ch, buf, (size_t)clen) != 0 ? -1 : done + 1;
			explicit_bzero(buf, (size_t)clen);
		}
	}
	free(buf);
	free(v);
	return done;
}

static struct json_object *json_hex(uint64_t v, int digits)
{
	char text[17];

	snprintf(text, sizeof(text), "%0*" PRIx64, digits, v);
	return json_object_new_string(text);
}

static struct json_object *json_addr(const struct ha_addr *a)
{
	char text[INET6_ADDRSTRLEN];

	if (inet_ntop(a->family, a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6,
		      text, sizeof(text)) == NULL)
		return NULL;
	return json_object_new_string(text);
}

static struct json_object *entry_json(const struct ike_cache *c, const struct ike_entry *e,
				      uint64_t now_ms)
{
	struct json_object *o = json_object_new_object(), *children;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "vip", e->vip == IKE_VIP_NONE ? NULL :
			       json_object_new_string(c->cfg.vips[e->vip].name));
	json_object_object_add(o, "spi_i", json_hex(e->spi_i, 16));
	json_object_object_add(o, "spi_r", json_hex(e->spi_r, 16));
	json_object_object_add(o, "serial", json_object_new_int64((int64_t)e->serial));
	json_object_object_add(o, "connection", json_object_new_string(e->connection));
	json_object_object_add(o, "instance", json_object_new_int64((int64_t)e->instance));
	json_object_object_add(o, "role", json_object_new_string(
		e->role == PLUTO_ROLE_INITIATOR ? "initiator" : "responder"));
	json_object_object_add(o, "local", json_addr(&e->local.addr));
	json_object_object_add(o, "local_port", json_object_new_int(e->local.port));
	json_object_object_add(o, "peer", json_addr(&e->remote.addr));
	json_object_object_add(o, "peer_port", json_object_new_int(e->remote.port));
	json_object_object_add(o, "transport", json_object_new_string(e->remote.tcp ? "tcp" : "udp"));
	/* Identities as pluto printed them; nothing is taken from the documents. */
	json_object_object_add(o, "local_id", e->local_id ? json_object_new_string(e->local_id) : NULL);
	json_object_object_add(o, "remote_id", e->remote_id ? json_object_new_string(e->remote_id) : NULL);
	json_object_object_add(o, "state", json_object_new_string(ike_state_name(e->state)));
	json_object_object_add(o, "msgid", msgid_json(&e->msgid));
	children = json_object_new_array();
	for (size_t i = 0; children != NULL && i < e->n_children; i++) {
		const struct ike_child *ch = &e->children[i];
		struct json_object *co = json_object_new_object();

		if (co == NULL)
			break;
		json_object_object_add(co, "serial", json_object_new_int64((int64_t)ch->serial));
		json_object_object_add(co, "spi_in", ch->spi_in ? json_hex(ch->spi_in, 8) : NULL);
		json_object_object_add(co, "spi_out", ch->spi_out ? json_hex(ch->spi_out, 8) : NULL);
		json_object_object_add(co, "reqid", json_object_new_int64(ch->reqid));
		json_object_object_add(co, "age_ms", json_object_new_int64(
			(int64_t)(now_ms >= ch->updated_ms ? now_ms - ch->updated_ms : 0)));
		json_object_array_add(children, co);
	}
	json_object_object_add(o, "child_sas", children);
	json_object_object_add(o, "age_ms", json_object_new_int64(
		(int64_t)(now_ms >= e->first_seen_ms ? now_ms - e->first_seen_ms : 0)));
	json_object_object_add(o, "msgid_age_ms", e->msgid_ms == 0 ? NULL : json_object_new_int64(
		(int64_t)(now_ms >= e->msgid_ms ? now_ms - e->msgid_ms : 0)));
	return o;
}

int ike_json_list(const struct ike_cache *c, bool vip_filter, int vip, uint64_t now_ms,
		  struct json_object *data)
{
	const struct ike_entry **v;
	size_t n = ike_list(c, vip_filter, vip, &v);
	struct json_object *arr;

	if (n == (size_t)-1)
		return -1;
	if ((arr = json_object_new_array()) == NULL) {
		free(v);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = entry_json(c, v[i], now_ms);

		if (o == NULL || json_object_array_add(arr, o) != 0) {
			json_object_put(o);
			json_object_put(arr);
			free(v);
			return -1;
		}
	}
	free(v);
	json_object_object_add(data, "ike_sas", arr);
	json_object_object_add(data, "count", json_object_new_int64((int64_t)n));
	return 0;
}

const char *ike_strerror(int status)
{
	switch (status) {
	case IKE_OK:		return "ok";
	case IKE_E_NOMEM:	return "out of memory";
	case IKE_E_UNKNOWN:	return "no such IKE or Child SA";
	case IKE_E_NOBULK:	return "no snapshot open";
	case IKE_E_GENERATION:	return "snapshot generation mismatch";
	case IKE_E_COUNT:	return "snapshot count mismatch";
	case IKE_E_INVALID:	return "record not applicable to the cache";
	case IKE_E_FULL:	return "IKE cache full";
	default:		return "unknown IKE cache status";
	}
}

const char *ike_state_name(enum ike_state state)
{
	switch (state) {
	case IKE_STATE_ESTABLISHED:	return "established";
	case IKE_STATE_DORMANT:		return "dormant";
	case IKE_STATE_ACTIVE:		return "active";
	default:			return "unknown";
	}
}
