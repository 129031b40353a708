/* sa.h: the in-memory model of a kernel XFRM SA and policy, shared by the codec, the standby cache and the capture code. */
#ifndef HASYNC_SA_H
#define HASYNC_SA_H

/*
 * Own fixed-size structures rather than libnl objects: they are copied,
 * hashed, compared with memcmp and put on the wire, so they hold no
 * pointers and everything has a fixed maximum size. A value of zero means
 * "absent" for every optional part (no mark, no encapsulation, an algorithm
 * whose name is empty), as it does for the kernel.
 *
 * Byte order: the SPI is kept in network order, as the kernel keeps it;
 * every other integer (ports included) is in host order, as libnl hands
 * them out. Addresses are in network order inside struct in_addr/in6_addr.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define HA_ALG_NAME_MAX	64	/* bytes with the NUL, as the kernel's alg_name */
#define HA_KEY_MAX	64	/* bytes: 512 bits */
#define HA_ESN_BMP_MAX	128	/* u32 words: a 4096-packet replay window */
#define HA_TMPL_MAX	4	/* templates per policy (Libreswan uses at most 3) */

/* XFRMA_SA_DIR values (Linux 6.10+; not in older headers). */
#define HA_SA_DIR_IN	1
#define HA_SA_DIR_OUT	2

/* family is AF_INET, AF_INET6, or AF_UNSPEC (0) with all bytes zero. */
struct ha_addr {
	uint8_t family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

struct ha_selector {
	struct ha_addr saddr;
	struct ha_addr daddr;
	uint8_t prefixlen_s;
	uint8_t prefixlen_d;
	uint16_t sport;
	uint16_t sport_mask;
	uint16_t dport;
	uint16_t dport_mask;
	uint8_t proto;
	int32_t ifindex;
	uint8_t family;		/* saddr.family and daddr.family equal it */
};

struct ha_mark {
	uint32_t v;
	uint32_t m;
};

struct ha_sa_id {
	struct ha_addr daddr;
	uint32_t spi;		/* network order, as the kernel */
	uint8_t proto;		/* IPPROTO_ESP, IPPROTO_AH, IPPROTO_COMP */
};

struct ha_alg_aead {
	char name[HA_ALG_NAME_MAX];
	uint8_t key[HA_KEY_MAX];
	uint32_t key_len_bits;
	uint32_t icv_len_bits;
};

struct ha_alg_crypt {
	char name[HA_ALG_NAME_MAX];
	uint8_t key[HA_KEY_MAX];
	uint32_t key_len_bits;
};

struct ha_alg_auth {
	char name[HA_ALG_NAME_MAX];
	uint8_t key[HA_KEY_MAX];
	uint32_t key_len_bits;
	uint32_t trunc_len_bits;	/* 0: XFRMA_ALG_AUTH, the kernel's default truncation */
};

struct ha_alg_comp {
	char name[HA_ALG_NAME_MAX];
};

struct ha_encap {
	uint16_t type;		/* UDP_ENCAP_ESPINUDP (2), TCP_ENCAP_ESPINTCP (7); 0: none */
	uint16_t sport;
	uint16_t dport;
	struct ha_addr oa;	/* NAT original address, AF_UNSPEC if none */
};

struct ha_lifetime_cfg {
	uint64_t soft_byte_limit;
	uint64_t hard_byte_limit;
	uint64_t soft_packet_limit;
	uint64_t hard_packet_limit;
	uint64_t soft_add_expires_seconds;
	uint64_t hard_add_expires_seconds;
	uint64_t soft_use_expires_seconds;
	uint64_t hard_use_expires_seconds;
};

struct ha_lifetime_cur {
	uint64_t bytes;
	uint64_t packets;
	uint64_t add_time;
	uint64_t use_time;
};

struct ha_replay_legacy {
	uint32_t oseq;
	uint32_t seq;
	uint32_t bitmap;
};

struct ha_replay_esn {
	uint32_t bmp_len;	/* words in use in bmp, <= HA_ESN_BMP_MAX */
	uint32_t oseq;
	uint32_t seq;
	uint32_t oseq_hi;
	uint32_t seq_hi;
	uint32_t replay_window;	/* packets, <= 32 * bmp_len */
	uint32_t bmp[HA_ESN_BMP_MAX];
};

/* XFRMA_REPLAY_VAL or XFRMA_REPLAY_ESN_VAL, whichever the kernel reported. */
struct ha_replay {
	bool is_esn;
	union {
		struct ha_replay_legacy legacy;
		struct ha_replay_esn esn;
	};
};

struct ha_sa {
	struct ha_sa_id id;
	struct ha_addr saddr;
	uint8_t family;		/* id.daddr.family and saddr.family equal it */
	uint8_t mode;		/* XFRM_MODE_* */
	uint32_t reqid;
	uint8_t flags;		/* XFRM_STATE_* */
	uint32_t extra_flags;	/* XFRM_SA_XFLAG_* */
	uint8_t replay_window;	/* xfrm_usersa_info's; ESN windows are in replay.esn */
	struct ha_selector sel;

	struct ha_alg_aead aead;
	struct ha_alg_crypt crypt;
	struct ha_alg_auth auth;
	struct ha_alg_comp comp;

	struct ha_encap encap;
	struct ha_mark mark;
	uint32_t if_id;
	uint8_t sa_dir;		/* 0 unset, HA_SA_DIR_IN, HA_SA_DIR_OUT */
	uint32_t tfcpad;

	struct ha_lifetime_cfg lft;
	struct ha_lifetime_cur curlft;
	struct ha_replay replay;
	uint32_t replay_thresh;	/* packets between XFRM_MSG_NEWAE events */
	uint32_t etimer_thresh;	/* 100 ms units, as the kernel */

	uint64_t synced_at_ms;	/* when the active node captured the counters (ms, Unix epoch) */
};

struct ha_tmpl {
	struct ha_sa_id id;	/* daddr may be all zero: any */
	struct ha_addr saddr;
	uint8_t family;
	uint32_t reqid;
	uint8_t mode;
	uint8_t share;
	uint8_t optional;
	uint32_t aalgos;
	uint32_t ealgos;
	uint32_t calgos;
};

struct ha_policy {
	struct ha_selector sel;
	uint8_t dir;		/* XFRM_POLICY_IN, _OUT, _FWD */
	uint32_t priority;
	uint32_t index;
	uint8_t action;		/* XFRM_POLICY_ALLOW, _BLOCK */
	uint8_t flags;
	uint8_t share;
	struct ha_mark mark;
	uint32_t if_id;
	uint8_t ntmpl;
	struct ha_tmpl tmpl[HA_TMPL_MAX];
};

/*
 * How the standby cache finds an SA: what the kernel needs to find it
 * (XFRM_MSG_GETSA / DELSA). Compare with ha_sa_key_equal() and hash the
 * fields: a structure copy need not keep padding bytes zero.
 */
struct ha_sa_key {
	struct ha_addr daddr;
	uint32_t spi;		/* network order */
	uint8_t proto;
	struct ha_mark mark;
};

/* How a policy is named for deletion, as XFRM_MSG_DELPOLICY does. */
struct ha_policy_key {
	struct ha_selector sel;
	uint8_t dir;
	uint32_t index;
	struct ha_mark mark;
	uint32_t if_id;
};

static inline struct ha_sa_key ha_sa_key_of(const struct ha_sa *sa)
{
	struct ha_sa_key k;

	memset(&k, 0, sizeof(k));
	k.daddr = sa->id.daddr;
	k.spi = sa->id.spi;
	k.proto = sa->id.proto;
	k.mark = sa->mark;
	return k;
}

static inline struct ha_policy_key ha_policy_key_of(const struct ha_policy *p)
{
	struct ha_policy_key k;

	memset(&k, 0, sizeof(k));
	k.sel = p->sel;
	k.dir = p->dir;
	k.index = p->index;
	k.mark = p->mark;
	k.if_id = p->if_id;
	return k;
}

static inline bool ha_addr_equal(const struct ha_addr *a, const struct ha_addr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->v4.s_addr == b->v4.s_addr;
	if (a->family == AF_INET6)
		return memcmp(&a->v6, &b->v6, sizeof(a->v6)) == 0;
	return true;
}

/* Field by field, so padding never matters. */
static inline bool ha_sa_key_equal(const struct ha_sa_key *a, const struct ha_sa_key *b)
{
	return a->spi == b->spi && a->proto == b->proto &&
	    a->mark.v == b->mark.v && a->mark.m == b->mark.m &&
	    ha_addr_equal(&a->daddr, &b->daddr);
}

#endif
