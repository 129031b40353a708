/* takeover.c: promotes a VIP's held SAs and policies into the kernel with advanced anti-replay counters, demotes them, and drives their routes (see docs/takeover.md). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/ipsec.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>

#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <netlink/xfrm/ae.h>
#include <netlink/xfrm/lifetime.h>
#include <netlink/xfrm/sa.h>
#include <netlink/xfrm/selector.h>
#include <netlink/xfrm/sp.h>
#include <netlink/xfrm/template.h>

#include "log.h"
#include "nlbatch.h"
#include "takeover.h"
#include "xfrm.h"

/*
 * Requests are built with libnl-xfrm (xfrmnl_sa_build_add_request(),
 * xfrmnl_sp_build_update_request(), the delete builders, xfrmnl_ae_set())
 * and sent in batches on the socket's descriptor (nlbatch.c): one send()
 * for up to NLBATCH_MAX requests, then one ACK per request, so that 10,000
 * SAs cost a few hundred system calls instead of 20,000.
 *
 * Where libnl 3.7 is not used, and why:
 * - XFRMA_SA_DIR, XFRMA_SA_EXTRA_FLAGS, XFRMA_IF_ID: libnl 3.7 has no
 *   setter; they are appended to libnl's message with nla_put().
 * - XFRMA_LTIME_VAL on a new SA: libnl's builder leaves the current
 *   lifetime out ("can be updated only via AE"), but the kernel applies it
 *   at XFRM_MSG_NEWSA too (xfrm_state_construct() ends with
 *   xfrm_update_ae_params()): appended the same way.
 * - Keys: libnl copies keys into objects it frees without wiping them.
 *   The libnl object is given an all-zero key of the right length and the
 *   real key bytes are written into the built message's attribute, which
 *   we wipe; libnl never holds a key.
 * - Dumps at demotion are read with recv() into a buffer we wipe, and
 *   parsed with the capture's parser (xfrm_parse_msg()), which checks every
 *   length libnl would trust.
 */

#define ATTR_SA_DIR	33	/* XFRMA_SA_DIR, newer than the headers we build with */
#define TX_MAX		(128 << 10)	/* < the kernel's default netlink send limit */
#define RX_MAX		(64 << 10)	/* > the 32 KiB a dump datagram can take */
#define ERRS_LOGGED	20		/* failures logged per phase; the rest are counted */
#define VIPS_REMEMBERED	64

struct vip_routes {
	struct ha_addr vip;
	struct rri_route *routes;
	size_t n;
};

struct takeover {
	struct nl_sock *sk;
	int fd;
	uint8_t *tx;
	uint8_t *rx;
	struct rri *rri;
	struct vip_routes added[VIPS_REMEMBERED];	/* what our last promotion of each VIP added */
	struct xfrm_msg *msg;				/* parser scratch: holds keys, wiped */
};

static const uint8_t zero_key[HA_KEY_MAX];

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ================================================================ pure */

static uint64_t seq64(uint32_t hi, uint32_t lo)
{
	return (uint64_t)hi << 32 | lo;
}

enum takeover_replay takeover_advance_replay(const struct ha_sa *synced, uint8_t dir,
		const struct takeover_params *params, struct ha_replay *out)
{
	bool esn = (synced->flags & XFRM_STATE_ESN) != 0;
	bool may_wrap = (synced->extra_flags & XFRM_SA_XFLAG_OSEQ_MAY_WRAP) != 0;
	uint64_t limit = esn ? UINT64_MAX : UINT32_MAX;
	uint64_t oseq, next, step = params->replay_out;
	enum takeover_replay rc = TAKEOVER_REPLAY_OK;

	*out = synced->replay;
	if (dir == 0)
		dir = synced->sa_dir;

	if (dir != HA_SA_DIR_IN) {
		/* Outbound, or unknown: the old master may have sent up to
		 * replay_out packets past the last counter it synced. */
		if (out->is_esn)
			oseq = esn ? seq64(out->esn.oseq_hi, out->esn.oseq) : out->esn.oseq;
		else
			oseq = out->legacy.oseq;
		if (oseq > limit - step) {
			if (may_wrap) {
				/* The kernel wraps this SA itself (no anti-replay
				 * at the receiver): so do we. */
				next = esn ? oseq + step : (oseq + step) & UINT32_MAX;
			} else {
				next = limit;
				rc = TAKEOVER_REPLAY_EXHAUSTED;
			}
		} else {
			next = oseq + step;
			/* Sequence numbers left after next: limit - next; an SA
			 * with no more than the margin left is not worth a new
			 * start, and the kernel refuses one with none left. */
			if (!may_wrap && limit - next <= params->exhaustion_margin)
				rc = TAKEOVER_REPLAY_EXHAUSTED;
		}
		if (out->is_esn) {
			out->esn.oseq = (uint32_t)next;
			if (esn)
				out->esn.oseq_hi = (uint32_t)(next >> 32);
		} else {
			out->legacy.oseq = (uint32_t)next;
		}
	}
	/* Inbound: the window as synced, so that packets the old master
	 * accepted are refused here except the last replay_in at most;
	 * nothing to compute, and seq never moves back. */

	/* 6.10+ direction rules: an output SA carries no inbound window, an
	 * input SA no output counter; only when the SA says its direction. */
	if (synced->sa_dir == HA_SA_DIR_OUT) {
		if (out->is_esn) {
			out->esn.seq = 0;
			out->esn.seq_hi = 0;
			memset(out->esn.bmp, 0, sizeof(out->esn.bmp));
		} else {
			out->legacy.seq = 0;
			out->legacy.bitmap = 0;
		}
	} else if (synced->sa_dir == HA_SA_DIR_IN) {
		if (out->is_esn) {
			out->esn.oseq = 0;
			out->esn.oseq_hi = 0;
		} else {
			out->legacy.oseq = 0;
		}
	}
	return rc;
}

static bool addr_is_zero(const struct ha_addr *a)
{
	static const struct in6_addr zero6;

	if (a->family == AF_INET)
		return a->v4.s_addr == 0;
	if (a->family == AF_INET6)
		return memcmp(&a->v6, &zero6, sizeof(zero6)) == 0;
	return true;
}

static bool sel_host_is(const struct ha_addr *a, uint8_t plen, const struct ha_addr *vip)
{
	if (a->family == AF_INET && plen != 32)
		return false;
	if (a->family == AF_INET6 && plen != 128)
		return false;
	return ha_addr_equal(a, vip);
}

bool takeover_policy_is_vip(const struct ha_policy *p, const struct ha_addr *vip)
{
	int i;

	if (vip->family != AF_INET && vip->family != AF_INET6)
		return false;
	for (i = 0; i < p->ntmpl && i < HA_TMPL_MAX; i++) {
		const struct ha_tmpl *t = &p->tmpl[i];

		if (ha_addr_equal(&t->saddr, vip) || ha_addr_equal(&t->id.daddr, vip))
			return true;
		if (t->mode == XFRM_MODE_TRANSPORT && addr_is_zero(&t->saddr) &&
		    addr_is_zero(&t->id.daddr) &&
		    (sel_host_is(&p->sel.saddr, p->sel.prefixlen_s, vip) ||
		    sel_host_is(&p->sel.daddr, p->sel.prefixlen_d, vip)))
			return true;
	}
	return false;
}

/* ================================================================ messages */

/* An nl_addr for a, or the all-zero address of family when a has none. */
static struct nl_addr *nl_of(const struct ha_addr *a, int family)
{
	static const uint8_t zero[16];

	if (a->family == AF_INET)
		return nl_addr_build(AF_INET, &a->v4, sizeof(a->v4));
	if (a->family == AF_INET6)
		return nl_addr_build(AF_INET6, &a->v6, sizeof(a->v6));
	if (family == AF_INET)
		return nl_addr_build(AF_INET, zero, 4);
	if (family == AF_INET6)
		return nl_addr_build(AF_INET6, zero, 16);
	return nl_addr_build(AF_UNSPEC, zero, 0);
}

static struct xfrmnl_sel *sel_new(const struct ha_selector *hs)
{
	struct xfrmnl_sel *sel = xfrmnl_sel_alloc();
	struct nl_addr *d, *s;

	if (sel == NULL)
		return NULL;
	d = nl_of(&hs->daddr, hs->family);
	s = nl_of(&hs->saddr, hs->family);
	if (d == NULL || s == NULL) {
		if (d)
			nl_addr_put(d);
		if (s)
			nl_addr_put(s);
		xfrmnl_sel_put(sel);
		return NULL;
	}
	xfrmnl_sel_set_daddr(sel, d);	/* takes its own reference */
	xfrmnl_sel_set_saddr(sel, s);
	nl_addr_put(d);
	nl_addr_put(s);
	xfrmnl_sel_set_family(sel, hs->family);
	xfrmnl_sel_set_prefixlen_d(sel, hs->prefixlen_d);
	xfrmnl_sel_set_prefixlen_s(sel, hs->prefixlen_s);
	xfrmnl_sel_set_dport(sel, hs->dport);
	xfrmnl_sel_set_dportmask(sel, hs->dport_mask);
	xfrmnl_sel_set_sport(sel, hs->sport);
	xfrmnl_sel_set_sportmask(sel, hs->sport_mask);
	xfrmnl_sel_set_proto(sel, hs->proto);
	xfrmnl_sel_set_ifindex(sel, (unsigned)hs->ifindex);
	return sel;
}

static struct xfrmnl_ltime_cfg *lft_new(const struct ha_lifetime_cfg *h)
{
	struct xfrmnl_ltime_cfg *l = xfrmnl_ltime_cfg_alloc();

	if (l == NULL)
		return NULL;
	xfrmnl_ltime_cfg_set_soft_bytelimit(l, h->soft_byte_limit);
	xfrmnl_ltime_cfg_set_hard_bytelimit(l, h->hard_byte_limit);
	xfrmnl_ltime_cfg_set_soft_packetlimit(l, h->soft_packet_limit);
	xfrmnl_ltime_cfg_set_hard_packetlimit(l, h->hard_packet_limit);
	xfrmnl_ltime_cfg_set_soft_addexpires(l, h->soft_add_expires_seconds);
	xfrmnl_ltime_cfg_set_hard_addexpires(l, h->hard_add_expires_seconds);
	xfrmnl_ltime_cfg_set_soft_useexpires(l, h->soft_use_expires_seconds);
	xfrmnl_ltime_cfg_set_hard_useexpires(l, h->hard_use_expires_seconds);
	return l;
}

void takeover_msg_free(struct nl_msg *msg)
{
	struct nlmsghdr *nlh;

	if (msg == NULL)
		return;
	nlh = nlmsg_hdr(msg);
	explicit_bzero(nlh, nlh->nlmsg_len);
	nlmsg_free(msg);
}

/* Writes key into every attribute of type in msg (libnl held a zero key). */
static int key_patch(struct nl_msg *msg, int type, size_t key_off, const uint8_t *key,
		     uint32_t bits)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	size_t klen = ((size_t)bits + 7) / 8;
	struct nlattr *a;
	int rem, found = 0;

	if (klen > HA_KEY_MAX)
		return -EINVAL;
	nlmsg_for_each_attr(a, nlh, sizeof(struct xfrm_usersa_info), rem) {
		if (nla_type(a) != type)
			continue;
		if ((size_t)nla_len(a) < key_off + klen)
			return -EINVAL;
		memcpy((uint8_t *)nla_data(a) + key_off, key, klen);
		found++;
	}
	return found ? 0 : -ENOENT;
}

static int sa_obj_fill(struct xfrmnl_sa *s, const struct ha_sa *sa, const struct ha_replay *r)
{
	struct nl_addr *d = nl_of(&sa->id.daddr, sa->family);
	struct nl_addr *src = nl_of(&sa->saddr, sa->family);
	struct xfrmnl_sel *sel = sel_new(&sa->sel);
	struct xfrmnl_ltime_cfg *lft = lft_new(&sa->lft);
	int rc = -ENOMEM;

	if (d == NULL || src == NULL || sel == NULL || lft == NULL)
		goto out;
	/* The family after the addresses: libnl checks them against it. */
	if (xfrmnl_sa_set_daddr(s, d) < 0 || xfrmnl_sa_set_saddr(s, src) < 0)
		goto out;
	xfrmnl_sa_set_family(s, sa->family);
	xfrmnl_sa_set_spi(s, ntohl(sa->id.spi));
	xfrmnl_sa_set_proto(s, sa->id.proto);
	xfrmnl_sa_set_mode(s, sa->mode);
	xfrmnl_sa_set_reqid(s, sa->reqid);
	xfrmnl_sa_set_flags(s, sa->flags);
	xfrmnl_sa_set_replay_window(s, sa->replay_window);
	xfrmnl_sa_set_sel(s, sel);
	xfrmnl_sa_set_lifetime_cfg(s, lft);

	if (sa->aead.name[0] &&
	    xfrmnl_sa_set_aead_params(s, sa->aead.name, sa->aead.key_len_bits,
	    sa->aead.icv_len_bits, (const char *)zero_key) < 0)
		goto out;
	if (sa->crypt.name[0] &&
	    xfrmnl_sa_set_crypto_params(s, sa->crypt.name, sa->crypt.key_len_bits,
	    (const char *)zero_key) < 0)
		goto out;
	if (sa->auth.name[0] &&
	    xfrmnl_sa_set_auth_params(s, sa->auth.name, sa->auth.key_len_bits,
	    sa->auth.trunc_len_bits, (const char *)zero_key) < 0)
		goto out;
	if (sa->comp.name[0] &&
	    xfrmnl_sa_set_comp_params(s, sa->comp.name, 0, (const char *)zero_key) < 0)
		goto out;
	if (sa->encap.type) {
		struct nl_addr *oa = nl_of(&sa->encap.oa, sa->family);

		if (oa == NULL)
			goto out;
		xfrmnl_sa_set_encap_tmpl(s, sa->encap.type, sa->encap.sport, sa->encap.dport, oa);
		nl_addr_put(oa);
	}
	if (sa->tfcpad)
		xfrmnl_sa_set_tfcpad(s, sa->tfcpad);
	if (sa->mark.v || sa->mark.m)
		xfrmnl_sa_set_mark(s, sa->mark.v, sa->mark.m);
	if (r->is_esn) {
		unsigned int bmp[HA_ESN_BMP_MAX];
		uint32_t n = r->esn.bmp_len <= HA_ESN_BMP_MAX ? r->esn.bmp_len : HA_ESN_BMP_MAX;

		memcpy(bmp, r->esn.bmp, sizeof(bmp));
		xfrmnl_sa_set_replay_state_esn(s, r->esn.oseq, r->esn.seq, r->esn.oseq_hi,
		    r->esn.seq_hi, r->esn.replay_window, n, bmp);
	} else {
		xfrmnl_sa_set_replay_state(s, r->legacy.oseq, r->legacy.seq, r->legacy.bitmap);
	}
	rc = 0;
out:
	if (d)
		nl_addr_put(d);
	if (src)
		nl_addr_put(src);
	if (sel)
		xfrmnl_sel_put(sel);
	if (lft)
		xfrmnl_ltime_cfg_put(lft);
	return rc;
}

int takeover_sa_msg(const struct ha_sa *sa, const struct ha_replay *replay, int type,
		    struct nl_msg **out)
{
	struct xfrmnl_sa *s;
	struct nl_msg *msg = NULL;
	int rc;

	*out = NULL;
	if (type != XFRM_MSG_NEWSA && type != XFRM_MSG_UPDSA)
		return -EINVAL;
	if (sa->family != AF_INET && sa->family != AF_INET6)
		return -EAFNOSUPPORT;
	s = xfrmnl_sa_alloc();
	if (s == NULL)
		return -ENOMEM;
	rc = sa_obj_fill(s, sa, replay);
	if (rc == 0) {
		rc = type == XFRM_MSG_NEWSA ? xfrmnl_sa_build_add_request(s, 0, &msg) :
		    xfrmnl_sa_build_update_request(s, 0, &msg);
		rc = rc < 0 ? -ENOMEM : 0;
	}
	xfrmnl_sa_put(s);
	if (rc)
		return rc;

	if (sa->extra_flags)
		rc |= nla_put_u32(msg, XFRMA_SA_EXTRA_FLAGS, sa->extra_flags);
	if (sa->if_id)
		rc |= nla_put_u32(msg, XFRMA_IF_ID, sa->if_id);
	if (sa->sa_dir)
		rc |= nla_put_u8(msg, ATTR_SA_DIR, sa->sa_dir);
	if (sa->curlft.bytes || sa->curlft.packets || sa->curlft.add_time || sa->curlft.use_time) {
		struct xfrm_lifetime_cur cur;

		memset(&cur, 0, sizeof(cur));
		cur.bytes = sa->curlft.bytes;
		cur.packets = sa->curlft.packets;
		cur.add_time = sa->curlft.add_time;
		cur.use_time = sa->curlft.use_time;
		rc |= nla_put(msg, XFRMA_LTIME_VAL, sizeof(cur), &cur);
	}
	if (rc) {
		takeover_msg_free(msg);
		return -EMSGSIZE;
	}

	/* The keys, into the message only (see the top of this file). */
	if (sa->aead.name[0])
		rc = key_patch(msg, XFRMA_ALG_AEAD, offsetof(struct xfrm_algo_aead, alg_key),
		    sa->aead.key, sa->aead.key_len_bits);
	if (rc == 0 && sa->crypt.name[0])
		rc = key_patch(msg, XFRMA_ALG_CRYPT, offsetof(struct xfrm_algo, alg_key),
		    sa->crypt.key, sa->crypt.key_len_bits);
	if (rc == 0 && sa->auth.name[0]) {
		/* libnl puts XFRMA_ALG_AUTH_TRUNC, XFRMA_ALG_AUTH or both. */
		int r1 = key_patch(msg, XFRMA_ALG_AUTH_TRUNC, offsetof(struct xfrm_algo_auth, alg_key),
		    sa->auth.key, sa->auth.key_len_bits);
		int r2 = key_patch(msg, XFRMA_ALG_AUTH, offsetof(struct xfrm_algo, alg_key),
		    sa->auth.key, sa->auth.key_len_bits);

		rc = (r1 == 0 || r2 == 0) && r1 != -EINVAL && r2 != -EINVAL ? 0 : -EINVAL;
	}
	if (rc) {
		takeover_msg_free(msg);
		return rc;
	}
	*out = msg;
	return 0;
}

int takeover_policy_msg(const struct ha_policy *p, struct nl_msg **out)
{
	struct xfrmnl_sp *sp;
	struct xfrmnl_sel *sel;
	struct xfrmnl_ltime_cfg *lft;
	struct ha_lifetime_cfg inf;
	struct nl_msg *msg = NULL;
	int i, rc = -ENOMEM;

	*out = NULL;
	sp = xfrmnl_sp_alloc();
	sel = sel_new(&p->sel);
	/* The model holds no policy lifetime: no limit, as pluto and ip set them. */
	memset(&inf, 0, sizeof(inf));
	inf.soft_byte_limit = inf.hard_byte_limit = XFRM_INF;
	inf.soft_packet_limit = inf.hard_packet_limit = XFRM_INF;
	lft = lft_new(&inf);
	if (sp == NULL || sel == NULL || lft == NULL)
		goto out;
	xfrmnl_sp_set_sel(sp, sel);
	xfrmnl_sp_set_lifetime_cfg(sp, lft);
	xfrmnl_sp_set_dir(sp, p->dir);
	xfrmnl_sp_set_priority(sp, p->priority);
	xfrmnl_sp_set_action(sp, p->action);
	xfrmnl_sp_set_flags(sp, p->flags);
	xfrmnl_sp_set_share(sp, p->share);
	if (p->mark.v || p->mark.m)
		xfrmnl_sp_set_mark(sp, p->mark.v, p->mark.m);
	for (i = 0; i < p->ntmpl && i < HA_TMPL_MAX; i++) {
		const struct ha_tmpl *t = &p->tmpl[i];
		struct xfrmnl_user_tmpl *ut = xfrmnl_user_tmpl_alloc();
		struct nl_addr *d = nl_of(&t->id.daddr, t->family);
		struct nl_addr *s = nl_of(&t->saddr, t->family);

		if (ut == NULL || d == NULL || s == NULL) {
			if (ut)
				xfrmnl_user_tmpl_free(ut);
			if (d)
				nl_addr_put(d);
			if (s)
				nl_addr_put(s);
			goto out;
		}
		xfrmnl_user_tmpl_set_daddr(ut, d);
		xfrmnl_user_tmpl_set_saddr(ut, s);
		nl_addr_put(d);
		nl_addr_put(s);
		xfrmnl_user_tmpl_set_family(ut, t->family);
		xfrmnl_user_tmpl_set_spi(ut, ntohl(t->id.spi));
		xfrmnl_user_tmpl_set_proto(ut, t->id.proto);
		xfrmnl_user_tmpl_set_reqid(ut, t->reqid);
		xfrmnl_user_tmpl_set_mode(ut, t->mode);
		xfrmnl_user_tmpl_set_share(ut, t->share);
		xfrmnl_user_tmpl_set_optional(ut, t->optional);
		xfrmnl_user_tmpl_set_aalgos(ut, t->aalgos);
		xfrmnl_user_tmpl_set_ealgos(ut, t->ealgos);
		xfrmnl_user_tmpl_set_calgos(ut, t->calgos);
		xfrmnl_sp_add_usertemplate(sp, ut);	/* the policy owns it now */
	}
	rc = xfrmnl_sp_build_update_request(sp, 0, &msg) < 0 ? -ENOMEM : 0;
	if (rc == 0 && p->if_id && nla_put_u32(msg, XFRMA_IF_ID, p->if_id) < 0)
		rc = -EMSGSIZE;
out:
	if (sel)
		xfrmnl_sel_put(sel);
	if (lft)
		xfrmnl_ltime_cfg_put(lft);
	if (sp)
		xfrmnl_sp_put(sp);
	if (rc) {
		if (msg)
			nlmsg_free(msg);
		return rc;
	}
	*out = msg;
	return 0;
}

static int sa_delete_msg(const struct ha_sa_key *k, struct nl_msg **out)
{
	struct xfrmnl_sa *s = xfrmnl_sa_alloc();
	struct nl_addr *d = nl_of(&k->daddr, k->daddr.family);
	int rc = -ENOMEM;

	*out = NULL;
	if (s && d && xfrmnl_sa_set_daddr(s, d) == 0) {
		xfrmnl_sa_set_spi(s, ntohl(k->spi));
		xfrmnl_sa_set_proto(s, k->proto);
		if (k->mark.v || k->mark.m)
			xfrmnl_sa_set_mark(s, k->mark.v, k->mark.m);
		rc = xfrmnl_sa_build_delete_request(s, 0, out) < 0 ? -ENOMEM : 0;
	}
	if (d)
		nl_addr_put(d);
	if (s)
		xfrmnl_sa_put(s);
	return rc;
}

/* By the kernel's own index (from the dump), direction, mark and if_id. */
static int policy_delete_msg(const struct ha_policy *p, struct nl_msg **out)
{
	struct xfrmnl_sp *sp = xfrmnl_sp_alloc();
	struct xfrmnl_sel *sel = sel_new(&p->sel);
	int rc = -ENOMEM;

	*out = NULL;
	if (sp && sel) {
		xfrmnl_sp_set_dir(sp, p->dir);
		if (p->index)
			xfrmnl_sp_set_index(sp, p->index);
		else
			xfrmnl_sp_set_sel(sp, sel);
		if (p->mark.v || p->mark.m)
			xfrmnl_sp_set_mark(sp, p->mark.v, p->mark.m);
		rc = xfrmnl_sp_build_delete_request(sp, 0, out) < 0 ? -ENOMEM : 0;
		if (rc == 0 && p->if_id && nla_put_u32(*out, XFRMA_IF_ID, p->if_id) < 0) {
			nlmsg_free(*out);
			*out = NULL;
			rc = -EMSGSIZE;
		}
	}
	if (sel)
		xfrmnl_sel_put(sel);
	if (sp)
		xfrmnl_sp_put(sp);
	return rc;
}

/* ================================================================ sockets */

struct takeover *takeover_new(void)
{
	struct takeover *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL)
		return NULL;
	t->tx = malloc(TX_MAX);
	t->rx = malloc(RX_MAX);
	t->msg = malloc(sizeof(*t->msg));
	t->sk = nl_socket_alloc();
	t->rri = rri_new();
	if (!t->tx || !t->rx || !t->msg || !t->sk || !t->rri) {
		takeover_free(t);
		return NULL;
	}
	/* 4 MiB: one batch's ACKs must fit. */
	rc = nlbatch_socket_connect(t->sk, NETLINK_XFRM, 4 << 20, &t->fd);
	if (rc < 0) {
		log_err("takeover: cannot open a netlink XFRM socket: %s", nl_geterror(rc));
		takeover_free(t);
		return NULL;
	}
	return t;
}

void takeover_free(struct takeover *t)
{
	int i;

	if (t == NULL)
		return;
	if (t->sk)
		nl_socket_free(t->sk);
	rri_free(t->rri);
	for (i = 0; i < VIPS_REMEMBERED; i++)
		free(t->added[i].routes);
	if (t->tx) {
		explicit_bzero(t->tx, TX_MAX);
		free(t->tx);
	}
	if (t->rx) {
		explicit_bzero(t->rx, RX_MAX);
		free(t->rx);
	}
	if (t->msg) {
		xfrm_msg_wipe(t->msg);
		free(t->msg);
	}
	free(t);
}

/* ---------------------------------------------------------------- batches */

/* An empty batch on t's socket, whose buffers are wiped: requests hold keys. */
static struct nlbatch *batch_new(struct takeover *t)
{
	const struct nlbatch_io io = {
		.sk = t->sk, .fd = t->fd,
		.tx = t->tx, .tx_max = TX_MAX,
		.rx = t->rx, .rx_max = RX_MAX,
		.wipe = true,
	};
	struct nlbatch *b = malloc(sizeof(*b));

	if (b)
		nlbatch_init(b, &io);
	return b;
}

/* Queues msg (flushing when full) and frees it, wiped. */
static void batch_queue(struct nlbatch *b, struct nl_msg *msg, size_t obj, nlbatch_done_fn done,
			void *ctx)
{
	nlbatch_queue(b, msg, obj, done, ctx);
	takeover_msg_free(msg);
}

/* ================================================================ logging */

static void addr_str(const struct ha_addr *a, char *buf, size_t len)
{
	if (a->family == AF_INET)
		inet_ntop(AF_INET, &a->v4, buf, (socklen_t)len);
	else if (a->family == AF_INET6)
		inet_ntop(AF_INET6, &a->v6, buf, (socklen_t)len);
	else
		snprintf(buf, len, "-");
}

static void log_sa_failure(unsigned *logged, const char *what, const struct ha_sa_key *k, int err,
			   const char *why)
{
	char d[INET6_ADDRSTRLEN];

	if ((*logged)++ >= ERRS_LOGGED)
		return;
	addr_str(&k->daddr, d, sizeof(d));
	log_warn("takeover: cannot %s SA spi 0x%08x dst %s: %s%s%s", what, ntohl(k->spi), d,
	    strerror(-err), why && why[0] ? ": " : "", why ? why : "");
}

static void log_policy_failure(unsigned *logged, const char *what, const struct ha_policy *p,
			       int err, const char *why)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	if ((*logged)++ >= ERRS_LOGGED)
		return;
	addr_str(&p->sel.saddr, s, sizeof(s));
	addr_str(&p->sel.daddr, d, sizeof(d));
	log_warn("takeover: cannot %s policy %s/%u -> %s/%u dir %u: %s%s%s", what, s,
	    p->sel.prefixlen_s, d, p->sel.prefixlen_d, p->dir, strerror(-err),
	    why && why[0] ? ": " : "", why ? why : "");
}

static void log_unlogged(unsigned logged, const char *what)
{
	if (logged > ERRS_LOGGED)
		log_warn("takeover: %u more %s failures not logged", logged - ERRS_LOGGED, what);
}

/* ================================================================ promote */

struct sa_phase {
	struct takeover *t;
	const struct cache_sa_entry **list;
	struct ha_replay *replay;	/* what was installed, per entry */
	size_t *exists;			/* entries the kernel already holds */
	size_t n_exists;
	struct takeover_result *res;
	unsigned logged;
};

static void sa_done(void *ctx, size_t obj, int err, const char *why)
{
	struct sa_phase *ph = ctx;
	struct ha_sa_key k;

	if (err == 0) {
		ph->res->sas_installed++;
		return;
	}
	if (err == -EEXIST) {
		ph->exists[ph->n_exists++] = obj;
		return;
	}
	ph->res->sas_failed++;
	k = ha_sa_key_of(&ph->list[obj]->sa);
	log_sa_failure(&ph->logged, "install", &k, err, why);
}

static void replay_from_ae(struct xfrmnl_ae *ae, struct ha_replay *r)
{
	unsigned int oseq, seq, oseq_hi, seq_hi, window, bmp_len, bmp;
	unsigned int words[1024];

	/* libnl copies bmp_len words without a bound (and through a NULL
	 * buffer): the kernel keeps bmp_len within HA_ESN_BMP_MAX words
	 * (XFRMA_REPLAY_ESN_MAX), the buffer allows for eight times that. */
	memset(r, 0, sizeof(*r));
	if (xfrmnl_ae_get_replay_state_esn(ae, &oseq, &seq, &oseq_hi, &seq_hi, &window, &bmp_len,
	    words) == 0 && bmp_len <= HA_ESN_BMP_MAX) {
		r->is_esn = true;
		r->esn.bmp_len = bmp_len;
		r->esn.oseq = oseq;
		r->esn.seq = seq;
		r->esn.oseq_hi = oseq_hi;
		r->esn.seq_hi = seq_hi;
		r->esn.replay_window = window;
		memcpy(r->esn.bmp, words, bmp_len * sizeof(uint32_t));
	} else if (xfrmnl_ae_get_replay_state(ae, &oseq, &seq, &bmp) == 0) {
		r->legacy.oseq = oseq;
		r->legacy.seq = seq;
		r->legacy.bitmap = bmp;
	}
}

/*
 * An SA the kernel already holds: its lifetimes and encapsulation from
 * ours (XFRM_MSG_UPDSA, which keeps the kernel's keys and counters), then
 * its counters moved to the larger of the kernel's and ours, never back
 * (XFRM_MSG_NEWAE with NLM_F_REPLACE).
 */
static int sa_update_existing(struct takeover *t, const struct ha_sa *sa,
			      const struct ha_replay *ours, char *why, size_t whylen)
{
	struct xfrmnl_ae *ae = NULL;
	struct nl_addr *d;
	struct nl_msg *msg;
	struct ha_replay kr, m;
	struct nlbatch *b;
	unsigned long long bytes, packets, add_time, use_time;
	int rc;

	why[0] = '\0';
	if (sa->id.spi == 0)
		return -EINVAL;		/* libnl's GETAE builder asserts on it */
	rc = takeover_sa_msg(sa, ours, XFRM_MSG_UPDSA, &msg);
	if (rc)
		return rc;
	b = batch_new(t);
	if (b == NULL) {
		takeover_msg_free(msg);
		return -ENOMEM;
	}
	rc = nlbatch_add(b, msg, 0);
	takeover_msg_free(msg);
	if (rc == 0) {
		nlbatch_flush(b);
		rc = b->err[0];
		snprintf(why, whylen, "%s", b->why[0]);
	}
	free(b);
	if (rc)
		return rc;

	d = nl_of(&sa->id.daddr, sa->family);
	if (d == NULL)
		return -ENOMEM;
	rc = xfrmnl_ae_get_kernel(t->sk, d, ntohl(sa->id.spi), sa->id.proto, sa->mark.m, sa->mark.v,
	    &ae);
	nl_addr_put(d);
	if (rc < 0 || ae == NULL) {
		snprintf(why, whylen, "reading its counters: %s", nl_geterror(rc));
		return rc == -NLE_OBJ_NOTFOUND ? -ESRCH : -EIO;
	}
	replay_from_ae(ae, &kr);
	m = kr;
	if (kr.is_esn != ours->is_esn) {
		snprintf(why, whylen, "the kernel's has another replay kind");
		rc = -EINVAL;		/* not the SA we hold */
		goto out;
	}
	if (!kr.is_esn || (kr.esn.bmp_len == ours->esn.bmp_len &&
	    kr.esn.replay_window == ours->esn.replay_window)) {
		xfrm_replay_merge(&m, ours);
	} else if (seq64(ours->esn.oseq_hi, ours->esn.oseq) > seq64(kr.esn.oseq_hi, kr.esn.oseq)) {
		/* Another window size: the kernel's window stays, the counter moves. */
		m.esn.oseq = ours->esn.oseq;
		m.esn.oseq_hi = ours->esn.oseq_hi;
	}
	if (m.is_esn)
		xfrmnl_ae_set_replay_state_esn(ae, m.esn.oseq, m.esn.seq, m.esn.oseq_hi, m.esn.seq_hi,
		    m.esn.replay_window, m.esn.bmp_len, m.esn.bmp);
	else
		xfrmnl_ae_set_replay_state(ae, m.legacy.oseq, m.legacy.seq, m.legacy.bitmap);
	if (xfrmnl_ae_get_curlifetime(ae, &bytes, &packets, &add_time, &use_time) == 0)
		xfrmnl_ae_set_curlifetime(ae, bytes > sa->curlft.bytes ? bytes : sa->curlft.bytes,
		    packets > sa->curlft.packets ? packets : sa->curlft.packets, add_time,
		    use_time > sa->curlft.use_time ? use_time : sa->curlft.use_time);
	rc = xfrmnl_ae_set(t->sk, ae, 0);
	if (rc < 0)
		snprintf(why, whylen, "setting its counters: %s", nl_geterror(rc));
	rc = rc < 0 ? -EIO : 0;
out:
	xfrmnl_ae_put(ae);
	return rc;
}

static void sas_promote(struct takeover *t, const struct cache *held, int vip,
			const struct takeover_params *params, struct takeover_result *res)
{
	struct sa_phase ph;
	struct nlbatch *b;
	size_t n, i;

	memset(&ph, 0, sizeof(ph));
	ph.t = t;
	ph.res = res;
	n = cache_sa_list(held, true, vip, &ph.list);
	if (n == (size_t)-1) {
		log_err("takeover: out of memory listing the held SAs");
		res->sas_failed++;
		return;
	}
	if (n == 0)
		return;
	ph.replay = calloc(n, sizeof(*ph.replay));
	ph.exists = calloc(n, sizeof(*ph.exists));
	b = batch_new(t);
	if (ph.replay == NULL || ph.exists == NULL || b == NULL) {
		log_err("takeover: out of memory for %zu SAs", n);
		res->sas_failed += (unsigned)n;
		goto out;
	}

	for (i = 0; i < n; i++) {
		const struct cache_sa_entry *e = ph.list[i];
		struct nl_msg *msg;
		int rc;

		if (takeover_advance_replay(&e->sa, e->dir, params, &ph.replay[i]) ==
		    TAKEOVER_REPLAY_EXHAUSTED) {
			char d[INET6_ADDRSTRLEN];

			res->sas_near_exhaustion++;
			addr_str(&e->sa.id.daddr, d, sizeof(d));
			log_info("takeover: SA spi 0x%08x dst %s is within %llu packets of its "
			    "sequence space's end: not installed, the peers will rekey",
			    ntohl(e->sa.id.spi), d, (unsigned long long)params->exhaustion_margin);
			continue;
		}
		rc = takeover_sa_msg(&e->sa, &ph.replay[i], XFRM_MSG_NEWSA, &msg);
		if (rc) {
			sa_done(&ph, i, rc, "");
			continue;
		}
		batch_queue(b, msg, i, sa_done, &ph);
	}
	nlbatch_run(b, sa_done, &ph);

	for (i = 0; i < ph.n_exists; i++) {
		const struct ha_sa *sa = &ph.list[ph.exists[i]]->sa;
		struct ha_sa_key k = ha_sa_key_of(sa);
		char why[96];
		int rc = sa_update_existing(t, sa, &ph.replay[ph.exists[i]], why, sizeof(why));

		if (rc == 0) {
			res->sas_installed++;
			res->sas_updated++;
		} else {
			res->sas_failed++;
			log_sa_failure(&ph.logged, "update", &k, rc, why);
		}
	}
	log_unlogged(ph.logged, "SA");
out:
	if (ph.replay) {
		explicit_bzero(ph.replay, n * sizeof(*ph.replay));
		free(ph.replay);
	}
	free(ph.exists);
	free(b);
	free(ph.list);
}

struct pol_phase {
	const struct ha_policy **pols;
	struct takeover_result *res;
	unsigned logged;
	bool removing;
};

static void pol_done(void *ctx, size_t obj, int err, const char *why)
{
	struct pol_phase *ph = ctx;

	if (ph->removing) {
		if (err == 0)
			ph->res->policies_removed++;
		else if (err != -ENOENT && err != -ESRCH) {
			ph->res->policies_failed++;
			log_policy_failure(&ph->logged, "delete", ph->pols[obj], err, why);
		}
		return;
	}
	if (err == 0) {
		ph->res->policies_installed++;
		return;
	}
	ph->res->policies_failed++;
	log_policy_failure(&ph->logged, "install", ph->pols[obj], err, why);
}

/* The held policies of the VIP, in the cache's order. */
static size_t vip_policies(const struct cache *held, const struct ha_addr *vip,
			   const struct ha_policy ***out)
{
	const struct cache_policy_entry **list = NULL;
	const struct ha_policy **pols;
	size_t n, i, k = 0;

	*out = NULL;
	n = cache_policy_list(held, &list);
	if (n == (size_t)-1)
		return (size_t)-1;
	if (n == 0)
		return 0;
	pols = calloc(n, sizeof(*pols));
	if (pols == NULL) {
		free(list);
		return (size_t)-1;
	}
	for (i = 0; i < n; i++)
		if (takeover_policy_is_vip(&list[i]->pol, vip))
			pols[k++] = &list[i]->pol;
	free(list);		/* the entries stay valid until the cache changes */
	*out = pols;
	return k;
}

static void policies_send(struct takeover *t, const struct ha_policy **pols, size_t n,
			  bool removing, struct takeover_result *res)
{
	struct pol_phase ph = { pols, res, 0, removing };
	struct nlbatch *b = batch_new(t);
	size_t i;

	if (b == NULL) {
		res->policies_failed += (unsigned)n;
		return;
	}
	for (i = 0; i < n; i++) {
		struct nl_msg *msg;
		int rc = removing ? policy_delete_msg(pols[i], &msg) : takeover_policy_msg(pols[i], &msg);

		if (rc) {
			pol_done(&ph, i, rc, "");
			continue;
		}
		batch_queue(b, msg, i, pol_done, &ph);
	}
	nlbatch_run(b, pol_done, &ph);
	log_unlogged(ph.logged, "policy");
	free(b);
}

static struct vip_routes *remembered(struct takeover *t, const struct ha_addr *vip, bool make)
{
	int i, free_slot = -1;

	for (i = 0; i < VIPS_REMEMBERED; i++) {
		if (t->added[i].vip.family && ha_addr_equal(&t->added[i].vip, vip))
			return &t->added[i];
		if (!t->added[i].vip.family && free_slot < 0)
			free_slot = i;
	}
	if (!make || free_slot < 0)
		return NULL;
	t->added[free_slot].vip = *vip;
	return &t->added[free_slot];
}

/* Pure derivation, sized in two passes. */
static size_t routes_of(const struct ha_policy **pols, size_t n, const struct ha_addr *vip,
			struct rri_route **out)
{
	unsigned conflicts = 0;
	size_t want = rri_routes_from_policies(pols, n, vip, NULL, 0, NULL);

	*out = NULL;
	if (want == 0)
		return 0;
	*out = calloc(want, sizeof(**out));
	if (*out == NULL)
		return (size_t)-1;
	rri_routes_from_policies(pols, n, vip, *out, want, &conflicts);
	if (conflicts)
		log_warn("takeover: %u outbound policies name another peer for a subnet "
		    "already routed: the first one wins", conflicts);
	return want;
}

int takeover_promote(struct takeover *t, const struct cache *held, int vip,
		     const struct takeover_params *params, const struct rri_params *rri,
		     struct takeover_result *res)
{
	const struct cache_config *cfg;
	const struct ha_policy **pols = NULL;
	const struct ha_addr *va;
	uint64_t t0 = mono_us(), t1;
	size_t np;
	char vs[INET6_ADDRSTRLEN];

	memset(res, 0, sizeof(*res));
	if (t == NULL || held == NULL || params == NULL)
		return -EINVAL;
	cfg = cache_config(held);
	if (vip < 0 || (unsigned)vip >= cfg->n_vips)
		return -EINVAL;
	va = (const struct ha_addr *)&cfg->vips[vip].addr;
	addr_str(va, vs, sizeof(vs));

	sas_promote(t, held, vip, params, res);
	t1 = mono_us();
	res->sas_us = t1 - t0;

	np = vip_policies(held, va, &pols);
	if (np == (size_t)-1) {
		log_err("takeover: out of memory listing the held policies");
		res->policies_failed++;
		np = 0;
	}
	policies_send(t, pols, np, false, res);
	res->policies_us = mono_us() - t1;

	if (rri && rri->enabled) {
		struct rri_route *routes = NULL;
		size_t nr = routes_of(pols, np, va, &routes);
		uint64_t t2 = mono_us();

		if (nr == (size_t)-1) {
			res->routes_failed++;
		} else if (nr > 0) {
			struct vip_routes *vr;

			rri_add(t->rri, rri, routes, nr, &res->routes_added, &res->routes_failed);
			vr = remembered(t, va, true);
			if (vr) {
				free(vr->routes);
				vr->routes = routes;
				vr->n = nr;
				routes = NULL;
			}
		}
		free(routes);
		res->routes_us = mono_us() - t2;
	}
	free(pols);
	res->total_us = mono_us() - t0;
	log_info("takeover: promoted VIP %s: %u SAs installed (%u updated), %u failed, %u near "
	    "exhaustion left out; %u policies, %u failed; %u routes, %u failed; %llu us",
	    vs, res->sas_installed, res->sas_updated, res->sas_failed, res->sas_near_exhaustion,
	    res->policies_installed, res->policies_failed, res->routes_added, res->routes_failed,
	    (unsigned long long)res->total_us);
	return res->sas_failed || res->policies_failed || res->routes_failed ? -EIO : 0;
}

/* ================================================================ demote */

struct dump_acc {
	struct ha_sa_key *keys;
	size_t n_keys, cap_keys;
	struct ha_policy *pols;
	size_t n_pols, cap_pols;
};

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	void *np;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? 2 * *cap : 64;
	np = realloc(*p, ncap * size);
	if (np == NULL)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

/* Dumps the SAs (type GETSA) or policies (GETPOLICY) and keeps the VIP's. */
static int dump_vip(struct takeover *t, int type, const struct xfrm_filter *f, struct dump_acc *acc)
{
	struct nl_msg *msg = xfrm_dump_msg(type);
	uint32_t seq;
	bool done = false;
	int rc = 0;

	if (msg == NULL)
		return -ENOMEM;
	seq = nl_socket_use_seq(t->sk);
	nlmsg_hdr(msg)->nlmsg_seq = seq;
	nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_REQUEST;
	if (send(t->fd, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len, 0) < 0)
		rc = -errno;
	nlmsg_free(msg);
	if (rc < 0)
		return rc;

	while (!done) {
		struct nlmsghdr *nlh;
		ssize_t n;
		int rem;

		n = recv(t->fd, t->rx, RX_MAX, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		rem = (int)n;
		for (nlh = (struct nlmsghdr *)t->rx; NLMSG_OK(nlh, rem); nlh = NLMSG_NEXT(nlh, rem)) {
			struct xfrm_msg *m = t->msg;

			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nlh);

				rc = nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(*e) && e->error ? e->error : -EIO;
				done = true;
				break;
			}
			if (xfrm_parse_msg(nlh, f, m) != 0)
				continue;
			if (m->kind == XFRM_MSG_KIND_SA && m->dir != XFRM_DIR_NONE) {
				if (grow((void **)&acc->keys, &acc->cap_keys, acc->n_keys,
				    sizeof(*acc->keys)) < 0)
					rc = -ENOMEM;
				else
					acc->keys[acc->n_keys++] = ha_sa_key_of(&m->sa);
			} else if (m->kind == XFRM_MSG_KIND_POLICY && m->ours) {
				if (grow((void **)&acc->pols, &acc->cap_pols, acc->n_pols,
				    sizeof(*acc->pols)) < 0)
					rc = -ENOMEM;
				else
					acc->pols[acc->n_pols++] = m->policy;
			}
			xfrm_msg_wipe(m);
		}
		explicit_bzero(t->rx, (size_t)n);
	}
	return rc;
}

struct del_phase {
	const struct ha_sa_key *keys;
	struct takeover_result *res;
	unsigned logged;
};

static void sa_del_done(void *ctx, size_t obj, int err, const char *why)
{
	struct del_phase *ph = ctx;

	if (err == 0)
		ph->res->sas_removed++;
	else if (err != -ESRCH && err != -ENOENT) {
		ph->res->sas_failed++;
		log_sa_failure(&ph->logged, "delete", &ph->keys[obj], err, why);
	}
}

int takeover_demote(struct takeover *t, const struct ha_addr *vip, const struct rri_params *rri,
		    struct takeover_result *res)
{
	struct xfrm_filter f;
	struct dump_acc acc;
	const struct ha_policy **pols = NULL;
	uint64_t t0 = mono_us(), t1;
	char vs[INET6_ADDRSTRLEN];
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	if (t == NULL || vip == NULL || (vip->family != AF_INET && vip->family != AF_INET6))
		return -EINVAL;
	addr_str(vip, vs, sizeof(vs));
	memset(&f, 0, sizeof(f));
	f.vips[0] = *vip;
	f.n_vips = 1;
	memset(&acc, 0, sizeof(acc));

	rc = dump_vip(t, XFRM_MSG_GETSA, &f, &acc);
	if (rc == 0)
		rc = dump_vip(t, XFRM_MSG_GETPOLICY, &f, &acc);
	if (rc < 0) {
		log_err("takeover: demote VIP %s: cannot list the kernel's SAs and policies: %s",
		    vs, strerror(-rc));
		goto out;
	}
	if (acc.n_pols) {
		pols = calloc(acc.n_pols, sizeof(*pols));
		if (pols == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		for (i = 0; i < acc.n_pols; i++)
			pols[i] = &acc.pols[i];
	}

	/* Routes first: stop drawing traffic here before its SAs go. */
	t1 = mono_us();
	if (rri && rri->enabled) {
		struct rri_route *routes = NULL;
		size_t nr = routes_of(pols, acc.n_pols, vip, &routes);
		struct vip_routes *vr = remembered(t, vip, false);
		unsigned removed = 0, failed = 0;

		if (nr == (size_t)-1) {
			res->routes_failed++;
			nr = 0;
		}
		if (nr)
			rri_remove(t->rri, rri, routes, nr, &removed, &failed);
		res->routes_removed += removed;
		res->routes_failed += failed;
		if (vr) {
			/* Those our last promotion added, whose policies may be gone. */
			rri_remove(t->rri, rri, vr->routes, vr->n, &removed, &failed);
			res->routes_removed += removed;
			res->routes_failed += failed;
			free(vr->routes);
			memset(vr, 0, sizeof(*vr));
		}
		free(routes);
	}
	res->routes_us = mono_us() - t1;

	/* Policies before SAs: no ACQUIRE for traffic that still matches. */
	t1 = mono_us();
	policies_send(t, pols, acc.n_pols, true, res);
	res->policies_us = mono_us() - t1;

	t1 = mono_us();
	if (acc.n_keys) {
		struct del_phase ph = { acc.keys, res, 0 };
		struct nlbatch *b = batch_new(t);

		if (b == NULL) {
			rc = -ENOMEM;
			goto out;
		}
			for (i = 0; i < acc.n_keys; i++) {
			struct nl_msg *msg;
			int r = sa_delete_msg(&acc.keys[i], &msg);

			if (r) {
				sa_del_done(&ph, i, r, "");
				continue;
			}
			batch_queue(b, msg, i, sa_del_done, &ph);
		}
		nlbatch_run(b, sa_del_done, &ph);
		log_unlogged(ph.logged, "SA");
		free(b);
	}
	res->sas_us = mono_us() - t1;
	res->total_us = mono_us() - t0;
	log_info("takeover: demoted VIP %s: %u SAs removed, %u failed; %u policies removed, "
	    "%u failed; %u routes removed, %u failed; %llu us", vs, res->sas_removed,
	    res->sas_failed, res->policies_removed, res->policies_failed, res->routes_removed,
	    res->routes_failed, (unsigned long long)res->total_us);
	rc = res->sas_failed || res->policies_failed || res->routes_failed ? -EIO : 0;
out:
	free(pols);
	free(acc.keys);
	free(acc.pols);
	return rc;
}
