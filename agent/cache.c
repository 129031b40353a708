/* cache.c: the standby's copy of the peer's SAs and policies: hash tables, bulk snapshots, digest, `sas` listing. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <nss.h>
#include <pk11pub.h>

#include "cache.h"
#include "siphash.h"

/*
 * Open addressing with linear probing and backward-shift deletion over
 * pointers to individually allocated entries: an entry never moves, so the
 * pointers handed out by lookups stay valid until that entry changes, and
 * growing the table moves 16-byte slots, not 1.3 KB SAs. Slots remember
 * the full hash so growing and probing rarely touch the entries.
 */
struct slot {
	uint64_t hash;
	void *e;		/* NULL: empty */
};

struct table {
	struct slot *slots;
	size_t cap;		/* 0 or a power of two */
	size_t n;
};

/* A live set or a snapshot: both tables and the per-VIP SA counts. */
struct set {
	struct table sas;
	struct table pols;
	size_t vip_count[CACHE_VIPS_MAX];
	size_t unowned;
};

struct cache {
	struct cache_config cfg;
	struct set live;
	struct set shadow;
	bool bulk_open;
	uint64_t gen;
	uint64_t bulk_gen;
	uint64_t bulk_begin_ms;
	uint64_t bulk_records;
	bool have_last;
	uint64_t last_gen;
	uint64_t last_begin_ms;
	uint64_t last_end_ms;
	uint64_t last_records;
	int last_result;
	struct cache_stats st;
};

#define TABLE_MIN_CAP	16
#define SER_MAX		4096	/* bytes: more than any serialized SA or policy */

/* ---- canonical serialization: field by field, big-endian, no padding ---- */

struct ser {
	uint8_t buf[SER_MAX];
	size_t len;
};

static void ser_bytes(struct ser *s, const void *p, size_t n)
{
	if (n > sizeof(s->buf) - s->len)	/* cannot happen with validated input */
		n = sizeof(s->buf) - s->len;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void ser_u8(struct ser *s, uint8_t v)
{
	ser_bytes(s, &v, 1);
}

static void ser_u16(struct ser *s, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	ser_bytes(s, b, 2);
}

static void ser_u32(struct ser *s, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	ser_bytes(s, b, 4);
}

static void ser_u64(struct ser *s, uint64_t v)
{
	ser_u32(s, (uint32_t)(v >> 32));
	ser_u32(s, (uint32_t)v);
}

static void ser_addr(struct ser *s, const struct ha_addr *a)
{
	ser_u8(s, a->family);
	if (a->family == AF_INET)
		ser_bytes(s, &a->v4, 4);
	else if (a->family == AF_INET6)
		ser_bytes(s, &a->v6, 16);
}

static void ser_name(struct ser *s, const char *name)
{
	size_t n = strnlen(name, HA_ALG_NAME_MAX);

	ser_u8(s, (uint8_t)n);
	ser_bytes(s, name, n);
}

static size_t key_bytes(uint32_t bits)
{
	size_t n = (bits + 7) / 8;

	return n > HA_KEY_MAX ? HA_KEY_MAX : n;
}

static void ser_selector(struct ser *s, const struct ha_selector *sel)
{
	ser_u8(s, sel->family);
	ser_addr(s, &sel->saddr);
	ser_addr(s, &sel->daddr);
	ser_u8(s, sel->prefixlen_s);
	ser_u8(s, sel->prefixlen_d);
	ser_u16(s, sel->sport);
	ser_u16(s, sel->sport_mask);
	ser_u16(s, sel->dport);
	ser_u16(s, sel->dport_mask);
	ser_u8(s, sel->proto);
	ser_u32(s, (uint32_t)sel->ifindex);
}

static void ser_sa_key(struct ser *s, const struct ha_sa_key *k)
{
	ser_addr(s, &k->daddr);
	ser_bytes(s, &k->spi, 4);
	ser_u8(s, k->proto);
	ser_u32(s, k->mark.v);
	ser_u32(s, k->mark.m);
}

static void ser_policy_key(struct ser *s, const struct ha_policy_key *k)
{
	ser_selector(s, &k->sel);
	ser_u8(s, k->dir);
	ser_u32(s, k->mark.v);
	ser_u32(s, k->mark.m);
	ser_u32(s, k->if_id);
}

/* Everything but synced_at_ms, which is capture time, not state. */
static void ser_sa(struct ser *s, const struct ha_sa *sa)
{
	struct ha_sa_key k = ha_sa_key_of(sa);

	ser_sa_key(s, &k);
	ser_addr(s, &sa->saddr);
	ser_u8(s, sa->family);
	ser_u8(s, sa->mode);
	ser_u32(s, sa->reqid);
	ser_u8(s, sa->flags);
	ser_u32(s, sa->extra_flags);
	ser_u8(s, sa->replay_window);
	ser_selector(s, &sa->sel);

	ser_name(s, sa->aead.name);
	ser_u32(s, sa->aead.key_len_bits);
	ser_u32(s, sa->aead.icv_len_bits);
	ser_bytes(s, sa->aead.key, key_bytes(sa->aead.key_len_bits));
	ser_name(s, sa->crypt.name);
	ser_u32(s, sa->crypt.key_len_bits);
	ser_bytes(s, sa->crypt.key, key_bytes(sa->crypt.key_len_bits));
	ser_name(s, sa->auth.name);
	ser_u32(s, sa->auth.key_len_bits);
	ser_u32(s, sa->auth.trunc_len_bits);
	ser_bytes(s, sa->auth.key, key_bytes(sa->auth.key_len_bits));
	ser_name(s, sa->comp.name);

	ser_u16(s, sa->encap.type);
	ser_u16(s, sa->encap.sport);
	ser_u16(s, sa->encap.dport);
	ser_addr(s, &sa->encap.oa);
	ser_u32(s, sa->if_id);
	ser_u8(s, sa->sa_dir);
	ser_u32(s, sa->tfcpad);

	ser_u64(s, sa->lft.soft_byte_limit);
	ser_u64(s, sa->lft.hard_byte_limit);
	ser_u64(s, sa->lft.soft_packet_limit);
	ser_u64(s, sa->lft.hard_packet_limit);
	ser_u64(s, sa->lft.soft_add_expires_seconds);
	ser_u64(s, sa->lft.hard_add_expires_seconds);
	ser_u64(s, sa->lft.soft_use_expires_seconds);
	ser_u64(s, sa->lft.hard_use_expires_seconds);
	ser_u64(s, sa->curlft.bytes);
	ser_u64(s, sa->curlft.packets);
	ser_u64(s, sa->curlft.add_time);
	ser_u64(s, sa->curlft.use_time);

	ser_u8(s, sa->replay.is_esn);
	if (sa->replay.is_esn) {
		const struct ha_replay_esn *e = &sa->replay.esn;
		uint32_t n = e->bmp_len > HA_ESN_BMP_MAX ? HA_ESN_BMP_MAX : e->bmp_len;

		ser_u32(s, e->bmp_len);
		ser_u32(s, e->oseq);
		ser_u32(s, e->seq);
		ser_u32(s, e->oseq_hi);
		ser_u32(s, e->seq_hi);
		ser_u32(s, e->replay_window);
		for (uint32_t i = 0; i < n; i++)
			ser_u32(s, e->bmp[i]);
	} else {
		ser_u32(s, sa->replay.legacy.oseq);
		ser_u32(s, sa->replay.legacy.seq);
		ser_u32(s, sa->replay.legacy.bitmap);
	}
	ser_u32(s, sa->replay_thresh);
	ser_u32(s, sa->etimer_thresh);
}

/* The index is left out: it is the peer kernel's, not part of the state we compare. */
static void ser_policy(struct ser *s, const struct ha_policy *p)
{
	struct ha_policy_key k = ha_policy_key_of(p);
	uint8_t n = p->ntmpl > HA_TMPL_MAX ? HA_TMPL_MAX : p->ntmpl;

	ser_policy_key(s, &k);
	ser_u32(s, p->priority);
	ser_u8(s, p->action);
	ser_u8(s, p->flags);
	ser_u8(s, p->share);
	ser_u8(s, n);
	for (uint8_t i = 0; i < n; i++) {
		const struct ha_tmpl *t = &p->tmpl[i];

		ser_addr(s, &t->id.daddr);
		ser_bytes(s, &t->id.spi, 4);
		ser_u8(s, t->id.proto);
		ser_addr(s, &t->saddr);
		ser_u8(s, t->family);
		ser_u32(s, t->reqid);
		ser_u8(s, t->mode);
		ser_u8(s, t->share);
		ser_u8(s, t->optional);
		ser_u32(s, t->aalgos);
		ser_u32(s, t->ealgos);
		ser_u32(s, t->calgos);
	}
}

/* ---- keys, equality, hashing ---- */

static bool selector_equal(const struct ha_selector *a, const struct ha_selector *b)
{
	return a->family == b->family && ha_addr_equal(&a->saddr, &b->saddr) &&
	    ha_addr_equal(&a->daddr, &b->daddr) && a->prefixlen_s == b->prefixlen_s &&
	    a->prefixlen_d == b->prefixlen_d && a->sport == b->sport &&
	    a->sport_mask == b->sport_mask && a->dport == b->dport &&
	    a->dport_mask == b->dport_mask && a->proto == b->proto && a->ifindex == b->ifindex;
}

static bool policy_key_equal(const struct ha_policy_key *a, const struct ha_policy_key *b)
{
	return a->dir == b->dir && a->mark.v == b->mark.v && a->mark.m == b->mark.m &&
	    a->if_id == b->if_id && selector_equal(&a->sel, &b->sel);
}

static uint64_t sa_key_hash(const struct cache *c, const struct ha_sa_key *k)
{
	struct ser s;

	s.len = 0;
	ser_sa_key(&s, k);
	return siphash24(c->cfg.hash_seed, s.buf, s.len);
}

static uint64_t policy_key_hash(const struct cache *c, const struct ha_policy_key *k)
{
	struct ser s;

	s.len = 0;
	ser_policy_key(&s, k);
	return siphash24(c->cfg.hash_seed, s.buf, s.len);
}

static bool sa_matches(const void *e, const void *key)
{
	struct ha_sa_key k = ha_sa_key_of(&((const struct cache_sa_entry *)e)->sa);

	return ha_sa_key_equal(&k, key);
}

static bool policy_matches(const void *e, const void *key)
{
	struct ha_policy_key k = ha_policy_key_of(&((const struct cache_policy_entry *)e)->pol);

	return policy_key_equal(&k, key);
}

/* ---- the table ---- */

static size_t table_find(const struct table *t, uint64_t hash,
			 bool (*match)(const void *, const void *), const void *key)
{
	size_t mask, i;

	if (t->cap == 0)
		return SIZE_MAX;
	mask = t->cap - 1;
	for (i = hash & mask; t->slots[i].e != NULL; i = (i + 1) & mask)
		if (t->slots[i].hash == hash && match(t->slots[i].e, key))
			return i;
	return SIZE_MAX;
}

static void table_place(struct slot *slots, size_t cap, uint64_t hash, void *e)
{
	size_t i, mask = cap - 1;

	for (i = hash & mask; slots[i].e != NULL; i = (i + 1) & mask)
		;
	slots[i].hash = hash;
	slots[i].e = e;
}

/* Room for one more at a load factor of at most 3/4. */
static int table_reserve(struct table *t)
{
	struct slot *slots;
	size_t cap;

	if ((t->n + 1) * 4 <= t->cap * 3)
		return 0;
	cap = t->cap ? t->cap * 2 : TABLE_MIN_CAP;
	if (cap > SIZE_MAX / sizeof(*slots) || (slots = calloc(cap, sizeof(*slots))) == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].e != NULL)
			table_place(slots, cap, t->slots[i].hash, t->slots[i].e);
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

static int table_insert(struct table *t, uint64_t hash, void *e)
{
	if (table_reserve(t) < 0)
		return -1;
	table_place(t->slots, t->cap, hash, e);
	t->n++;
	return 0;
}

/* Backward-shift deletion: no tombstones, probe chains stay short. */
static void table_remove_at(struct table *t, size_t i)
{
	size_t mask = t->cap - 1, j = i, home;

	for (;;) {
		j = (j + 1) & mask;
		if (t->slots[j].e == NULL)
			break;
		home = t->slots[j].hash & mask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].e = NULL;
	t->slots[i].hash = 0;
	t->n--;
}

static void entry_free(void *e, size_t size)
{
	explicit_bzero(e, size);
	free(e);
}

static void set_clear(struct set *s)
{
	for (size_t i = 0; i < s->sas.cap; i++)
		if (s->sas.slots[i].e != NULL)
			entry_free(s->sas.slots[i].e, sizeof(struct cache_sa_entry));
	for (size_t i = 0; i < s->pols.cap; i++)
		if (s->pols.slots[i].e != NULL)
			entry_free(s->pols.slots[i].e, sizeof(struct cache_policy_entry));
	free(s->sas.slots);
	free(s->pols.slots);
	memset(s, 0, sizeof(*s));
}

static size_t set_memory(const struct set *s)
{
	return (s->sas.cap + s->pols.cap) * sizeof(struct slot) +
	    s->sas.n * sizeof(struct cache_sa_entry) +
	    s->pols.n * sizeof(struct cache_policy_entry);
}

/* ---- VIPs and direction ---- */

int cache_vip_by_addr(const struct cache *c, const struct ha_addr *addr)
{
	for (unsigned i = 0; i < c->cfg.n_vips; i++)
		if (ha_addr_equal(&c->cfg.vips[i].addr, addr))
			return (int)i;
	return CACHE_VIP_NONE;
}

int cache_vip_by_name(const struct cache *c, const char *name)
{
	for (unsigned i = 0; i < c->cfg.n_vips; i++)
		if (!strcmp(c->cfg.vips[i].name, name))
			return (int)i;
	return CACHE_VIP_NONE;
}

/*
 * The SA's local address is its source when outbound, its destination when
 * inbound. XFRMA_SA_DIR says which when the kernel (6.10+) has it; else a
 * destination that is one of our VIPs makes it inbound.
 */
static void sa_classify(const struct cache *c, const struct ha_sa *sa, uint8_t *dir, int *vip)
{
	int vd = cache_vip_by_addr(c, &sa->id.daddr);
	int vs = cache_vip_by_addr(c, &sa->saddr);

	if (sa->sa_dir == HA_SA_DIR_IN || (sa->sa_dir != HA_SA_DIR_OUT && vd != CACHE_VIP_NONE)) {
		*dir = HA_SA_DIR_IN;
		*vip = vd;
	} else if (sa->sa_dir == HA_SA_DIR_OUT || vs != CACHE_VIP_NONE) {
		*dir = HA_SA_DIR_OUT;
		*vip = vs;
	} else {
		*dir = 0;
		*vip = CACHE_VIP_NONE;
	}
}

static void set_count(struct set *s, int vip, int delta)
{
	size_t *n = vip == CACHE_VIP_NONE ? &s->unowned : &s->vip_count[vip];

	*n = delta > 0 ? *n + 1 : *n - 1;
}

static bool sa_valid(const struct ha_sa *sa)
{
	if (sa->id.daddr.family != AF_INET && sa->id.daddr.family != AF_INET6)
		return false;
	if (sa->saddr.family != sa->id.daddr.family)
		return false;
	if (sa->replay.is_esn && sa->replay.esn.bmp_len > HA_ESN_BMP_MAX)
		return false;
	return sa->aead.key_len_bits <= 8 * HA_KEY_MAX && sa->crypt.key_len_bits <= 8 * HA_KEY_MAX &&
	    sa->auth.key_len_bits <= 8 * HA_KEY_MAX;
}

/* ---- life cycle ---- */

struct cache *cache_new(const struct cache_config *cfg)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (cfg != NULL) {
		c->cfg = *cfg;
		if (c->cfg.n_vips > CACHE_VIPS_MAX)
			c->cfg.n_vips = CACHE_VIPS_MAX;
		for (unsigned i = 0; i < c->cfg.n_vips; i++)
			c->cfg.vips[i].name[CACHE_VIP_NAME_MAX - 1] = '\0';
	}
	return c;
}

void cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	set_clear(&c->live);
	set_clear(&c->shadow);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

const struct cache_config *cache_config(const struct cache *c)
{
	return &c->cfg;
}

/* ---- SAs ---- */

static int set_sa_put(struct cache *c, struct set *s, const struct ha_sa *sa, uint64_t hash,
		      const struct ha_sa_key *k, uint64_t now_ms, uint64_t gen)
{
	struct cache_sa_entry *e;
	size_t i = table_find(&s->sas, hash, sa_matches, k);
	uint8_t dir;
	int vip;

	sa_classify(c, sa, &dir, &vip);
	if (i != SIZE_MAX) {
		e = s->sas.slots[i].e;
		set_count(s, e->vip, -1);
		e->sa = *sa;	/* overwrites every old key byte */
		c->st.sa_replaced++;
	} else {
		if (c->cfg.max_entries && s->sas.n + s->pols.n >= c->cfg.max_entries) {
			c->st.full++;
			return CACHE_E_FULL;
		}
		if ((e = malloc(sizeof(*e))) == NULL) {
			c->st.nomem++;
			return CACHE_E_NOMEM;
		}
		e->sa = *sa;
		if (table_insert(&s->sas, hash, e) < 0) {
			entry_free(e, sizeof(*e));
			c->st.nomem++;
			return CACHE_E_NOMEM;
		}
	}
	e->updated_ms = now_ms;
	e->gen = gen;
	e->dir = dir;
	e->vip = vip;
	set_count(s, vip, +1);
	return CACHE_OK;
}

int cache_sa_add(struct cache *c, const struct ha_sa *sa, uint64_t now_ms, bool bulk)
{
	struct ha_sa_key k = ha_sa_key_of(sa);
	uint64_t hash;
	int rc;

	if (!sa_valid(sa)) {
		c->st.invalid++;
		return CACHE_E_INVALID;
	}
	hash = sa_key_hash(c, &k);
	if (bulk) {
		if (!c->bulk_open) {
			c->st.bulk_orphans++;
			return CACHE_E_NOBULK;
		}
		if ((rc = set_sa_put(c, &c->shadow, sa, hash, &k, now_ms, c->bulk_gen)) == CACHE_OK) {
			c->bulk_records++;
			c->st.sa_adds++;
		}
		return rc;
	}
	if ((rc = set_sa_put(c, &c->live, sa, hash, &k, now_ms, c->gen)) != CACHE_OK)
		return rc;
	c->st.sa_adds++;
	/* The snapshot may already have sent this SA: keep its copy current. */
	if (c->bulk_open)
		return set_sa_put(c, &c->shadow, sa, hash, &k, now_ms, c->bulk_gen);
	return CACHE_OK;
}

/* 1 applied, 0 not held, -1 replay kind differs */
static int set_sa_update(struct set *s, uint64_t hash, const struct ha_sa_key *k,
			 const struct ha_replay *replay, const struct ha_lifetime_cur *curlft,
			 uint64_t synced_at_ms, uint64_t now_ms)
{
	size_t i = table_find(&s->sas, hash, sa_matches, k);
	struct cache_sa_entry *e;

	if (i == SIZE_MAX)
		return 0;
	e = s->sas.slots[i].e;
	if (e->sa.replay.is_esn != replay->is_esn)
		return -1;
	e->sa.replay = *replay;
	e->sa.curlft = *curlft;
	e->sa.synced_at_ms = synced_at_ms;
	e->updated_ms = now_ms;
	return 1;
}

int cache_sa_update(struct cache *c, const struct ha_sa_key *key, const struct ha_replay *replay,
		    const struct ha_lifetime_cur *curlft, uint64_t synced_at_ms, uint64_t now_ms)
{
	uint64_t hash = sa_key_hash(c, key);
	int a, b = 0;

	if (replay->is_esn && replay->esn.bmp_len > HA_ESN_BMP_MAX) {
		c->st.invalid++;
		return CACHE_E_INVALID;
	}
	a = set_sa_update(&c->live, hash, key, replay, curlft, synced_at_ms, now_ms);
	if (c->bulk_open)
		b = set_sa_update(&c->shadow, hash, key, replay, curlft, synced_at_ms, now_ms);
	if (a < 0 || b < 0) {
		c->st.update_mismatch++;
		return CACHE_E_INVALID;
	}
	if (a == 0 && b == 0) {
		c->st.update_unknown++;
		return CACHE_E_UNKNOWN;
	}
	c->st.sa_updates++;
	return CACHE_OK;
}

static bool set_sa_remove(struct set *s, uint64_t hash, const struct ha_sa_key *k)
{
	size_t i = table_find(&s->sas, hash, sa_matches, k);
	struct cache_sa_entry *e;

	if (i == SIZE_MAX)
		return false;
	e = s->sas.slots[i].e;
	set_count(s, e->vip, -1);
	table_remove_at(&s->sas, i);
	entry_free(e, sizeof(*e));
	return true;
}

int cache_sa_delete(struct cache *c, const struct ha_sa_key *key)
{
	uint64_t hash = sa_key_hash(c, key);
	bool found = set_sa_remove(&c->live, hash, key);

	/* Else the snapshot would bring a deleted SA back at BULK_END. */
	if (c->bulk_open)
		found = set_sa_remove(&c->shadow, hash, key) || found;
	if (!found) {
		c->st.delete_unknown++;
		return CACHE_E_UNKNOWN;
	}
	c->st.sa_deletes++;
	return CACHE_OK;
}

const struct cache_sa_entry *cache_sa_lookup(const struct cache *c, const struct ha_sa_key *key)
{
	size_t i = table_find(&c->live.sas, sa_key_hash(c, key), sa_matches, key);

	return i == SIZE_MAX ? NULL : c->live.sas.slots[i].e;
}

/* ---- policies ---- */

static int set_policy_put(struct cache *c, struct set *s, const struct ha_policy *pol,
			  uint64_t hash, const struct ha_policy_key *k, uint64_t now_ms,
			  uint64_t gen)
{
	struct cache_policy_entry *e;
	size_t i = table_find(&s->pols, hash, policy_matches, k);

	if (i != SIZE_MAX) {
		e = s->pols.slots[i].e;
	} else {
		if (c->cfg.max_entries && s->sas.n + s->pols.n >= c->cfg.max_entries) {
			c->st.full++;
			return CACHE_E_FULL;
		}
		if ((e = malloc(sizeof(*e))) == NULL || table_insert(&s->pols, hash, e) < 0) {
			free(e);
			c->st.nomem++;
			return CACHE_E_NOMEM;
		}
	}
	e->pol = *pol;
	e->updated_ms = now_ms;
	e->gen = gen;
	return CACHE_OK;
}

int cache_policy_add(struct cache *c, const struct ha_policy *pol, uint64_t now_ms, bool bulk)
{
	struct ha_policy_key k = ha_policy_key_of(pol);
	uint64_t hash;
	int rc;

	if (pol->ntmpl > HA_TMPL_MAX) {
		c->st.invalid++;
		return CACHE_E_INVALID;
	}
	hash = policy_key_hash(c, &k);
	if (bulk) {
		if (!c->bulk_open) {
			c->st.bulk_orphans++;
			return CACHE_E_NOBULK;
		}
		if ((rc = set_policy_put(c, &c->shadow, pol, hash, &k, now_ms, c->bulk_gen)) == CACHE_OK) {
			c->bulk_records++;
			c->st.policy_adds++;
		}
		return rc;
	}
	if ((rc = set_policy_put(c, &c->live, pol, hash, &k, now_ms, c->gen)) != CACHE_OK)
		return rc;
	c->st.policy_adds++;
	if (c->bulk_open)
		return set_policy_put(c, &c->shadow, pol, hash, &k, now_ms, c->bulk_gen);
	return CACHE_OK;
}

/*
 * By (selector, dir, mark, if_id); failing that, when the key carries an
 * index, by (dir, index) as XFRM_MSG_DELPOLICY allows: a linear scan, but
 * deletions by index alone are rare.
 */
static bool set_policy_remove(const struct cache *c, struct set *s, const struct ha_policy_key *k)
{
	size_t i = table_find(&s->pols, policy_key_hash(c, k), policy_matches, k);
	struct cache_policy_entry *e;

	if (i == SIZE_MAX && k->index != 0) {
		for (size_t j = 0; j < s->pols.cap; j++) {
			e = s->pols.slots[j].e;
			if (e != NULL && e->pol.index == k->index && e->pol.dir == k->dir) {
				i = j;
				break;
			}
		}
	}
	if (i == SIZE_MAX)
		return false;
	e = s->pols.slots[i].e;
	table_remove_at(&s->pols, i);
	entry_free(e, sizeof(*e));
	return true;
}

int cache_policy_delete(struct cache *c, const struct ha_policy_key *key)
{
	bool found = set_policy_remove(c, &c->live, key);

	if (c->bulk_open)
		found = set_policy_remove(c, &c->shadow, key) || found;
	if (!found) {
		c->st.delete_unknown++;
		return CACHE_E_UNKNOWN;
	}
	c->st.policy_deletes++;
	return CACHE_OK;
}

const struct cache_policy_entry *cache_policy_lookup(const struct cache *c,
						     const struct ha_policy_key *key)
{
	size_t i = table_find(&c->live.pols, policy_key_hash(c, key), policy_matches, key);

	return i == SIZE_MAX ? NULL : c->live.pols.slots[i].e;
}

/* ---- bulk snapshots ---- */

int cache_bulk_begin(struct cache *c, uint64_t gen, uint64_t now_ms)
{
	if (c->bulk_open) {
		set_clear(&c->shadow);
		c->st.bulk_aborted++;
	}
	c->bulk_open = true;
	c->bulk_gen = gen;
	c->bulk_begin_ms = now_ms;
	c->bulk_records = 0;
	return CACHE_OK;
}

int cache_bulk_end(struct cache *c, uint64_t gen, uint64_t count, uint64_t now_ms)
{
	int rc;

	if (!c->bulk_open) {
		c->st.bulk_orphans++;
		return CACHE_E_NOBULK;
	}
	if (gen != c->bulk_gen)
		rc = CACHE_E_GENERATION;
	else if (count != c->bulk_records)
		rc = CACHE_E_COUNT;
	else
		rc = CACHE_OK;

	c->have_last = true;
	c->last_gen = gen;
	c->last_begin_ms = c->bulk_begin_ms;
	c->last_end_ms = now_ms;
	c->last_records = c->bulk_records;
	c->last_result = rc;
	if (rc == CACHE_OK) {
		set_clear(&c->live);
		c->live = c->shadow;
		memset(&c->shadow, 0, sizeof(c->shadow));
		c->gen = gen;
		c->st.bulk_ok++;
	} else {
		set_clear(&c->shadow);
		c->st.bulk_failed++;
	}
	c->bulk_open = false;
	c->bulk_records = 0;
	return rc;
}

bool cache_bulk_in_progress(const struct cache *c)
{
	return c->bulk_open;
}

void cache_bulk_info(const struct cache *c, struct cache_bulk_info *out)
{
	memset(out, 0, sizeof(*out));
	out->in_progress = c->bulk_open;
	out->gen = c->gen;
	if (c->bulk_open) {
		out->cur_gen = c->bulk_gen;
		out->cur_begin_ms = c->bulk_begin_ms;
		out->cur_records = c->bulk_records;
	}
	out->have_last = c->have_last;
	out->last_gen = c->last_gen;
	out->last_begin_ms = c->last_begin_ms;
	out->last_end_ms = c->last_end_ms;
	out->last_records = c->last_records;
	out->last_result = c->last_result;
}

/* ---- counts ---- */

size_t cache_sa_count(const struct cache *c)
{
	return c->live.sas.n;
}

size_t cache_sa_count_vip(const struct cache *c, int vip)
{
	if (vip == CACHE_VIP_NONE)
		return c->live.unowned;
	if (vip < 0 || (unsigned)vip >= c->cfg.n_vips)
		return 0;
	return c->live.vip_count[vip];
}

size_t cache_policy_count(const struct cache *c)
{
	return c->live.pols.n;
}

size_t cache_memory_bytes(const struct cache *c)
{
	return sizeof(*c) + set_memory(&c->live) + set_memory(&c->shadow);
}

void cache_stats(const struct cache *c, struct cache_stats *out)
{
	*out = c->st;
}

/* ---- listings ---- */

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

/* Key order: SPI (as a number), destination, protocol, mark. */
static int sa_key_cmp(const struct ha_sa *a, const struct ha_sa *b)
{
	int r;

	CMP(ntohl(a->id.spi), ntohl(b->id.spi));
	if ((r = addr_cmp(&a->id.daddr, &b->id.daddr)) != 0)
		return r;
	CMP(a->id.proto, b->id.proto);
	CMP(a->mark.v, b->mark.v);
	CMP(a->mark.m, b->mark.m);
	return 0;
}

static int sa_list_cmp(const void *pa, const void *pb, void *arg)
{
	const struct cache *c = arg;
	const struct cache_sa_entry *a = *(const struct cache_sa_entry *const *)pa;
	const struct cache_sa_entry *b = *(const struct cache_sa_entry *const *)pb;
	int r;

	if (a->vip != b->vip) {
		if (a->vip == CACHE_VIP_NONE || b->vip == CACHE_VIP_NONE)
			return a->vip == CACHE_VIP_NONE ? 1 : -1;
		if ((r = addr_cmp(&c->cfg.vips[a->vip].addr, &c->cfg.vips[b->vip].addr)) != 0)
			return r;
		CMP(a->vip, b->vip);
	}
	return sa_key_cmp(&a->sa, &b->sa);
}

static int sa_digest_cmp(const void *pa, const void *pb)
{
	const struct cache_sa_entry *a = *(const struct cache_sa_entry *const *)pa;
	const struct cache_sa_entry *b = *(const struct cache_sa_entry *const *)pb;

	return sa_key_cmp(&a->sa, &b->sa);
}

static int policy_cmp(const void *pa, const void *pb)
{
	const struct cache_policy_entry *a = *(const struct cache_policy_entry *const *)pa;
	const struct cache_policy_entry *b = *(const struct cache_policy_entry *const *)pb;
	struct ha_policy_key ka = ha_policy_key_of(&a->pol), kb = ha_policy_key_of(&b->pol);
	struct ser sa, sb;
	int r;

	sa.len = sb.len = 0;
	ser_policy_key(&sa, &ka);
	ser_policy_key(&sb, &kb);
	r = memcmp(sa.buf, sb.buf, sa.len < sb.len ? sa.len : sb.len);
	if (r != 0)
		return r;
	CMP(sa.len, sb.len);
	return 0;
}

/* Pointers to the table's entries, unsorted; (size_t)-1 when out of memory. */
static size_t table_collect(const struct table *t, const void ***out)
{
	const void **v;
	size_t n = 0;

	*out = NULL;
	if (t->n == 0)
		return 0;
	if ((v = calloc(t->n, sizeof(*v))) == NULL)
		return (size_t)-1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].e != NULL)
			v[n++] = t->slots[i].e;
	*out = v;
	return n;
}

size_t cache_sa_list(const struct cache *c, bool vip_filter, int vip,
		     const struct cache_sa_entry ***out)
{
	const struct cache_sa_entry **v;
	size_t n, m = 0;

	n = table_collect(&c->live.sas, (const void ***)&v);
	*out = NULL;
	if (n == (size_t)-1 || n == 0)
		return n;
	if (vip_filter) {
		for (size_t i = 0; i < n; i++)
			if (v[i]->vip == vip)
				v[m++] = v[i];
		n = m;
	}
	if (n == 0) {
		free(v);
		return 0;
	}
	qsort_r(v, n, sizeof(*v), sa_list_cmp, (void *)c);
	*out = v;
	return n;
}

size_t cache_policy_list(const struct cache *c, const struct cache_policy_entry ***out)
{
	size_t n = table_collect(&c->live.pols, (const void ***)out);

	if (n != (size_t)-1 && n > 1)
		qsort(*out, n, sizeof(**out), policy_cmp);
	return n;
}

/* ---- hashing with NSS ---- */

static int nss_ready(void)
{
	if (NSS_IsInitialized())
		return 0;
	return NSS_NoDB_Init(NULL) == SECSuccess ? 0 : -1;
}

int cache_digest(const struct cache *c, uint8_t out[CACHE_DIGEST_LEN])
{
	const struct cache_sa_entry **sas = NULL;
	const struct cache_policy_entry **pols = NULL;
	PK11Context *ctx = NULL;
	struct ser *s = NULL;
	size_t nsa, npol;
	unsigned int len = 0;
	int rc = CACHE_E_NOMEM;
	SECStatus ok = SECSuccess;

	nsa = table_collect(&c->live.sas, (const void ***)&sas);
	npol = table_collect(&c->live.pols, (const void ***)&pols);
	if (nsa == (size_t)-1 || npol == (size_t)-1 || (s = malloc(sizeof(*s))) == NULL)
		goto out;
	if (nsa > 1)
		qsort(sas, nsa, sizeof(*sas), sa_digest_cmp);
	if (npol > 1)
		qsort(pols, npol, sizeof(*pols), policy_cmp);

	rc = CACHE_E_CRYPTO;
	if (nss_ready() < 0 || (ctx = PK11_CreateDigestContext(SEC_OID_SHA256)) == NULL)
		goto out;
	if (PK11_DigestBegin(ctx) != SECSuccess)
		goto out;
	s->len = 0;
	ser_bytes(s, "hasync cache v1", 15);
	ser_u64(s, nsa);
	ser_u64(s, npol);
	ok = PK11_DigestOp(ctx, s->buf, (unsigned int)s->len);
	for (size_t i = 0; i < nsa && ok == SECSuccess; i++) {
		s->len = 0;
		ser_sa(s, &sas[i]->sa);
		ok = PK11_DigestOp(ctx, s->buf, (unsigned int)s->len);
	}
	for (size_t i = 0; i < npol && ok == SECSuccess; i++) {
		s->len = 0;
		ser_policy(s, &pols[i]->pol);
		ok = PK11_DigestOp(ctx, s->buf, (unsigned int)s->len);
	}
	if (ok == SECSuccess && PK11_DigestFinal(ctx, out, &len, CACHE_DIGEST_LEN) == SECSuccess &&
	    len == CACHE_DIGEST_LEN)
		rc = CACHE_OK;
out:
	if (ctx != NULL)
		PK11_DestroyContext(ctx, PR_TRUE);
	if (s != NULL)
		entry_free(s, sizeof(*s));	/* it held key bytes */
	free(sas);
	free(pols);
	return rc;
}

int cache_key_fingerprint(const struct ha_sa *sa, char out[9])
{
	uint8_t buf[3 * HA_KEY_MAX], md[CACHE_DIGEST_LEN];
	size_t n = 0, k;
	int rc = CACHE_OK;

	out[0] = '\0';
	k = key_bytes(sa->aead.key_len_bits);
	memcpy(buf + n, sa->aead.key, k);
	n += k;
	k = key_bytes(sa->crypt.key_len_bits);
	memcpy(buf + n, sa->crypt.key, k);
	n += k;
	k = key_bytes(sa->auth.key_len_bits);
	memcpy(buf + n, sa->auth.key, k);
	n += k;
	if (n == 0)
		return CACHE_OK;
	if (nss_ready() < 0 || PK11_HashBuf(SEC_OID_SHA256, md, buf, (PRInt32)n) != SECSuccess)
		rc = CACHE_E_CRYPTO;
	else
		snprintf(out, 9, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(md, sizeof(md));
	return rc;
}

/* ---- the `sas` listing ---- */

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_ESP:
		return "esp";
	case IPPROTO_AH:
		return "ah";
	case IPPROTO_COMP:
		return "comp";
	default:
		return "unknown";
	}
}

static struct json_object *json_addr(const struct ha_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (a->family == AF_INET)
		return json_object_new_string(inet_ntop(AF_INET, &a->v4, buf, sizeof(buf)));
	if (a->family == AF_INET6)
		return json_object_new_string(inet_ntop(AF_INET6, &a->v6, buf, sizeof(buf)));
	return NULL;
}

static struct json_object *sa_json(const struct cache *c, const struct cache_sa_entry *e,
				   uint64_t now_ms)
{
	const struct ha_sa *sa = &e->sa;
	struct json_object *o = json_object_new_object();
	char spi[9], fp[9];
	uint64_t seq, oseq;
	uint32_t win;

	if (o == NULL)
		return NULL;
	if (sa->replay.is_esn) {
		seq = (uint64_t)sa->replay.esn.seq_hi << 32 | sa->replay.esn.seq;
		oseq = (uint64_t)sa->replay.esn.oseq_hi << 32 | sa->replay.esn.oseq;
		win = sa->replay.esn.replay_window;
	} else {
		seq = sa->replay.legacy.seq;
		oseq = sa->replay.legacy.oseq;
		win = sa->replay_window;
	}
	snprintf(spi, sizeof(spi), "%08x", ntohl(sa->id.spi));
	if (cache_key_fingerprint(sa, fp) != CACHE_OK)
		fp[0] = '\0';

	json_object_object_add(o, "vip", e->vip == CACHE_VIP_NONE ? NULL :
			       json_object_new_string(c->cfg.vips[e->vip].name));
	json_object_object_add(o, "dir", e->dir == HA_SA_DIR_IN ? json_object_new_string("in") :
			       e->dir == HA_SA_DIR_OUT ? json_object_new_string("out") : NULL);
	json_object_object_add(o, "spi", json_object_new_string(spi));
	json_object_object_add(o, "proto", json_object_new_string(proto_name(sa->id.proto)));
	json_object_object_add(o, "src", json_addr(&sa->saddr));
	json_object_object_add(o, "dst", json_addr(&sa->id.daddr));
	json_object_object_add(o, "reqid", json_object_new_int64(sa->reqid));
	json_object_object_add(o, "seq", json_object_new_uint64(seq));
	json_object_object_add(o, "oseq", json_object_new_uint64(oseq));
	json_object_object_add(o, "replay_window", json_object_new_int64(win));
	json_object_object_add(o, "key_sha256_8", fp[0] ? json_object_new_string(fp) : NULL);
	json_object_object_add(o, "age_ms",
			       json_object_new_uint64(now_ms > e->updated_ms ? now_ms - e->updated_ms : 0));
	return o;
}

struct json_object *cache_sas_json(const struct cache *c, bool vip_filter, int vip,
				   uint64_t now_ms)
{
	const struct cache_sa_entry **v;
	struct json_object *arr, *o;
	size_t n = cache_sa_list(c, vip_filter, vip, &v);

	if (n == (size_t)-1 || (arr = json_object_new_array()) == NULL) {
		free(n == (size_t)-1 ? NULL : v);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((o = sa_json(c, v[i], now_ms)) == NULL ||
		    json_object_array_add(arr, o) != 0) {
			json_object_put(o);
			json_object_put(arr);
			free(v);
			return NULL;
		}
	}
	free(v);
	return arr;
}

const char *cache_strerror(int status)
{
	switch (status) {
	case CACHE_OK:
		return "ok";
	case CACHE_E_NOMEM:
		return "out of memory";
	case CACHE_E_UNKNOWN:
		return "unknown entry";
	case CACHE_E_NOBULK:
		return "no bulk snapshot open";
	case CACHE_E_GENERATION:
		return "generation mismatch";
	case CACHE_E_COUNT:
		return "count mismatch";
	case CACHE_E_INVALID:
		return "invalid entry";
	case CACHE_E_FULL:
		return "cache full";
	case CACHE_E_CRYPTO:
		return "hashing failed";
	default:
		return "unknown error";
	}
}
