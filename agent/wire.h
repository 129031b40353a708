/* wire.h: encoder and decoder for the sync protocol's records (docs/protocol.md); pure code, no I/O. */
#ifndef HASYNC_WIRE_H
#define HASYNC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "sa.h"

#define WIRE_VERSION		1
#define WIRE_HDR_LEN		16
#define WIRE_TLV_HDR_LEN	4
#define WIRE_RECORD_MAX		65536	/* a record, header included */
#define WIRE_NODE_ID_MAX	63	/* bytes, without NUL */
#define WIRE_NONCE_LEN		32
#define WIRE_MAC_LEN		32	/* HMAC-SHA256 */
#define WIRE_IKE_JSON_MAX	61440	/* bytes of JSON in one IKE_RECORD (60 KiB) */

/* Header flags. */
#define WIRE_F_BULK		0x0001	/* part of the snapshot, counted by BULK_END */
#define WIRE_F_ACK_REQ		0x0002	/* please ACK now */

/* HELLO capability bits. */
#define WIRE_CAP_ESN		0x00000001
#define WIRE_CAP_IKE		0x00000002
#define WIRE_CAP_BATCH		0x00000004

enum wire_type {
	WIRE_HELLO		= 0x01,
	WIRE_BULK_BEGIN		= 0x02,
	WIRE_BULK_END		= 0x03,
	WIRE_SA_ADD		= 0x10,
	WIRE_SA_UPDATE		= 0x11,
	WIRE_SA_DELETE		= 0x12,
	WIRE_POLICY_ADD		= 0x20,
	WIRE_POLICY_DELETE	= 0x21,
	WIRE_ACK		= 0x30,
	WIRE_HEARTBEAT		= 0x31,
	WIRE_IKE_RECORD		= 0x40,	/* one pluto HA record, JSON, carried opaquely */
	WIRE_IKE_DELETE		= 0x41,	/* an IKE SA is gone, by its SPIs */
	WIRE_IKE_FIRST		= 0x40,	/* the IKE range; 0x42-0x5f are still skipped */
	WIRE_IKE_LAST		= 0x5f,
};

enum wire_tlv {
	WIRE_T_PROTO_VERSION	= 0x0001,
	WIRE_T_NODE_ID		= 0x0002,
	WIRE_T_NONCE		= 0x0003,
	WIRE_T_CAPS		= 0x0004,
	WIRE_T_PEER_NONCE	= 0x0005,
	WIRE_T_HELLO_MAC	= 0x0006,
	WIRE_T_GENERATION	= 0x0008,
	WIRE_T_RECORD_COUNT	= 0x0009,
	WIRE_T_ACK_SEQ		= 0x000a,
	WIRE_T_TIMESTAMP	= 0x000b,
	WIRE_T_SA_ID		= 0x0010,
	WIRE_T_SA_SADDR		= 0x0011,
	WIRE_T_SA_PARAMS	= 0x0012,
	WIRE_T_SELECTOR		= 0x0013,
	WIRE_T_MARK		= 0x0014,
	WIRE_T_IF_ID		= 0x0015,
	WIRE_T_SA_DIR		= 0x0016,
	WIRE_T_TFCPAD		= 0x0017,
	WIRE_T_ENCAP		= 0x0018,
	WIRE_T_REPLAY_THRESH	= 0x0019,
	WIRE_T_ALG_AEAD		= 0x0020,
	WIRE_T_ALG_CRYPT	= 0x0021,
	WIRE_T_ALG_AUTH		= 0x0022,
	WIRE_T_ALG_COMP		= 0x0023,
	WIRE_T_REPLAY_LEGACY	= 0x0028,
	WIRE_T_REPLAY_ESN	= 0x0029,
	WIRE_T_LIFETIME_CFG	= 0x002a,
	WIRE_T_LIFETIME_CUR	= 0x002b,
	WIRE_T_SYNCED_AT	= 0x002c,
	WIRE_T_POLICY_PARAMS	= 0x0030,
	WIRE_T_TMPL		= 0x0031,
	WIRE_T_POLICY_KEY	= 0x0032,
	WIRE_T_IKE_SPIS		= 0x0038,
	WIRE_T_IKE_JSON		= 0x0039,
};

/* Distinct values so that the caller can count each kind of failure. */
enum wire_status {
	WIRE_OK			= 0,
	WIRE_SKIPPED		= 1,	/* unknown record type: skip *used bytes */
	WIRE_E_TRUNCATED	= -1,
	WIRE_E_VERSION		= -2,
	WIRE_E_LENGTH		= -3,
	WIRE_E_TOO_BIG		= -4,
	WIRE_E_TLV_TRUNCATED	= -5,
	WIRE_E_TLV_LENGTH	= -6,
	WIRE_E_DUPLICATE	= -7,
	WIRE_E_MISSING		= -8,
	WIRE_E_RANGE		= -9,
	WIRE_E_INCONSISTENT	= -10,
	WIRE_E_NOSPACE		= -11,	/* encoder: buffer too small */
	WIRE_E_TYPE		= -12,	/* encoder: no such record type */
};
#define WIRE_STATUS_MIN	WIRE_E_TYPE	/* for callers sizing a counter array */

struct wire_hello {
	uint8_t proto_version;
	char node_id[WIRE_NODE_ID_MAX + 1];
	uint8_t nonce[WIRE_NONCE_LEN];
	uint32_t caps;
	bool has_peer_nonce;
	uint8_t peer_nonce[WIRE_NONCE_LEN];
	/* Filled in by seal_hello_sign(); the encoder copies it as it is. */
	uint8_t mac[WIRE_MAC_LEN];
};

struct wire_bulk {
	uint64_t generation;
	uint64_t count;		/* BULK_END only */
};

/* SA_UPDATE: the counters of an SA the receiver already holds. */
struct wire_sa_update {
	struct ha_sa_key key;
	struct ha_replay replay;
	struct ha_lifetime_cur curlft;
	uint64_t synced_at_ms;
};

/*
 * IKE_RECORD and IKE_DELETE. The JSON itself is not in the structure
 * (60 KiB would make every struct wire_record that big): see
 * wire_record.ike_json.
 */
struct wire_ike {
	uint64_t spi_i;		/* IKE SPIs as numbers: "41443052916ec1bb" is 0x41443052916ec1bb */
	uint64_t spi_r;
	uint32_t json_len;	/* IKE_RECORD: 1..WIRE_IKE_JSON_MAX; IKE_DELETE: 0 */
	bool has_spis;		/* IKE_RECORD: optional; IKE_DELETE: always */
};

struct wire_record {
	/* The header; version and length are set by the encoder. */
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t length;
	uint64_t seq;
	union {
		struct wire_hello hello;		/* HELLO */
		struct wire_bulk bulk;			/* BULK_BEGIN, BULK_END */
		struct ha_sa sa;			/* SA_ADD */
		struct wire_sa_update update;		/* SA_UPDATE */
		struct ha_sa_key sa_key;		/* SA_DELETE */
		struct ha_policy policy;		/* POLICY_ADD */
		struct ha_policy_key policy_key;	/* POLICY_DELETE */
		uint64_t ack_seq;			/* ACK */
		uint64_t timestamp_ms;			/* HEARTBEAT */
		struct wire_ike ike;			/* IKE_RECORD, IKE_DELETE */
	} u;
	/*
	 * IKE_RECORD: the JSON document, u.ike.json_len bytes, no NUL inside
	 * and none after it. The decoder does not copy it: it points into the
	 * buffer given to wire_decode() and lives as long as that buffer. The
	 * encoder reads it from here. NULL for every other type.
	 */
	const char *ike_json;
};

/*
 * Key material: an encoded SA_ADD and a decoded struct ha_sa hold the SA's
 * keys in the clear. Seal the bytes at once and explicit_bzero() both the
 * buffer and the structure when done with them; never log either.
 *
 * Decode the record at the start of buf. On WIRE_OK, *rec is complete and
 * *used is the record's length (the buffer may hold more records after it).
 * On WIRE_SKIPPED (unknown type, 0x42-0x5f included), only the header
 * fields of *rec are set and *used says how far to skip. On an error *rec
 * is all zero; *used is the record's length when its header was sound and
 * the whole record was present (so a caller may skip it), 0 otherwise.
 */
int wire_decode(const uint8_t *buf, size_t len, struct wire_record *rec, size_t *used);

/*
 * Encode into buf: return the record's length, or a negative
 * enum wire_status. The structure is checked with the decoder's rules
 * first, so nothing is written that the peer would reject.
 */
int wire_encode(uint8_t *buf, size_t cap, const struct wire_record *rec);

int wire_encode_hello(uint8_t *buf, size_t cap, uint64_t seq, const struct wire_hello *h);
int wire_encode_bulk_begin(uint8_t *buf, size_t cap, uint64_t seq, uint64_t generation);
int wire_encode_bulk_end(uint8_t *buf, size_t cap, uint64_t seq, uint64_t generation,
    uint64_t count);
int wire_encode_sa_add(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_sa *sa);
int wire_encode_sa_update(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_sa *sa);
int wire_encode_sa_delete(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_sa_key *key);
int wire_encode_policy_add(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_policy *p);
int wire_encode_policy_delete(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct ha_policy_key *key);
int wire_encode_ack(uint8_t *buf, size_t cap, uint64_t seq, uint64_t ack_seq);
int wire_encode_heartbeat(uint8_t *buf, size_t cap, uint64_t seq, uint64_t timestamp_ms);
/*
 * json holds ike->json_len bytes (an ike_sa or child_sa record carries
 * the IKE SA's keys: seal the buffer at once and wipe it, as for SA_ADD).
 */
int wire_encode_ike_record(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    const struct wire_ike *ike, const char *json);
int wire_encode_ike_delete(uint8_t *buf, size_t cap, uint64_t seq, uint16_t flags,
    uint64_t spi_i, uint64_t spi_r);

/* The counters part of an SA, as SA_UPDATE carries them. */
void wire_sa_update_of(const struct ha_sa *sa, struct wire_sa_update *u);

const char *wire_strerror(int status);
const char *wire_type_name(uint8_t type);

#endif
