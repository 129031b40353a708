/* traffic_stats.h: hatraffic's pure part (packet codec, receive accounting, report, argument parsing); no I/O. */
#ifndef TRAFFIC_STATS_H
#define TRAFFIC_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Wire format of one datagram, big-endian, followed by zero padding up to
 * --size bytes:
 *   0  magic   u32  "HAT1" (0x48415431) data, "HATH" (0x48415448) hello
 *   4  run_id  u32  random per sender instance, so a restart is visible
 *   8  seq     u64  0, 1, 2, ... per run (0 in a hello)
 *  16  sent_ns u64  sender's CLOCK_MONOTONIC send time, ns since its start
 * A hello says "I am listening"; the sequence starts once the peer is heard.
 */
#define TRAFFIC_MAGIC		0x48415431u
#define TRAFFIC_MAGIC_HELLO	0x48415448u
#define TRAFFIC_HDR_LEN		24
#define TRAFFIC_MAX_SIZE	65507	/* largest UDP payload over IPv4 */
/* Sequence numbers at or above this are rejected: keeps seq + 1 from wrapping. */
#define TRAFFIC_SEQ_LIMIT	(UINT64_C(1) << 62)

#define TRAFFIC_GAP_REPORT_NS	(UINT64_C(100) * 1000000)	/* gaps_over_100ms */
#define TRAFFIC_WINDOW_MIN_BITS	4096
#define TRAFFIC_WINDOW_MAX_BITS	(1u << 20)	/* 128 KiB: 17 min of reordering at 1000 pps */
#define TRAFFIC_OLD_RUNS	8

struct traffic_pkt {
	int hello;
	uint32_t run_id;
	uint64_t seq;
	uint64_t sent_ns;
};

/* What traffic_stats_rx() made of one packet. */
enum traffic_rx {
	TRAFFIC_RX_NEW,		/* first copy: counted in received */
	TRAFFIC_RX_DUP,		/* seen before */
	TRAFFIC_RX_LATE,	/* below the window or from a finished run: cannot tell */
	TRAFFIC_RX_INVALID,	/* sequence number out of range */
	TRAFFIC_RX_HELLO,	/* not counted: only says the peer listens */
};

/* Bitmap of sequence numbers seen, covering [base, base + nwords * 64). */
struct traffic_window {
	uint64_t base;
	uint64_t *words;
	size_t nwords;
	size_t max_words;
};

struct traffic_stats {
	/* the sender run being tracked */
	int have_run;
	uint32_t run_id;
	uint64_t run_next;	/* highest sequence number received + 1 */
	uint64_t run_unique;	/* distinct sequence numbers received */
	struct traffic_window win;

	/* runs replaced by a newer one (peer restarts) */
	uint32_t old_runs[TRAFFIC_OLD_RUNS];
	size_t n_old_runs;
	uint64_t old_lost;

	uint64_t received;
	uint64_t duplicates;
	uint64_t reordered;
	uint64_t late;
	uint64_t invalid;
	uint64_t runs;

	/*
	 * Holes below the first sequence number received from the first run:
	 * the peer sent them before this instance was listening or before the
	 * path was up. Part of lost, reported apart so start-up is not blamed
	 * on a failover.
	 */
	int start_seen;
	uint64_t start_first_seq;
	uint64_t start_below_first;

	/* gap clock: arrivals of new packets, ns since the instance started */
	int any_rx;
	uint64_t first_rx_ns;
	uint64_t last_rx_ns;
	uint64_t max_gap_ns;
	uint64_t max_gap_start_ns;
	uint64_t gaps_over_100ms;
};

/* What the sender side adds to a report. */
struct traffic_report_info {
	uint64_t sent;
	uint64_t send_errors;
	uint64_t rate;
	uint64_t duration_ms;
	int64_t tx_start_ms;	/* -1: never started */
};

void traffic_pkt_encode(uint8_t *buf, const struct traffic_pkt *p);
int traffic_pkt_decode(const uint8_t *buf, size_t len, struct traffic_pkt *p);

/* max_bits: window cap in sequence numbers (0: TRAFFIC_WINDOW_MAX_BITS). -1 on ENOMEM. */
int traffic_stats_init(struct traffic_stats *st, size_t max_bits);
void traffic_stats_free(struct traffic_stats *st);
enum traffic_rx traffic_stats_rx(struct traffic_stats *st, const struct traffic_pkt *p, uint64_t now_ns);
void traffic_stats_invalid(struct traffic_stats *st);
uint64_t traffic_stats_lost(const struct traffic_stats *st);
uint64_t traffic_stats_lost_at_start(const struct traffic_stats *st);
size_t traffic_stats_window_bytes(const struct traffic_stats *st);

/* snprintf semantics: the length the whole line needs, without the NUL. */
int traffic_report_format(char *buf, size_t len, const struct traffic_stats *st,
    const struct traffic_report_info *info);

/* Send deadline of packet seq, ns after the start, exact for any rate. */
uint64_t traffic_deadline_ns(uint64_t seq, uint64_t rate);
uint64_t traffic_ns_to_ms(uint64_t ns);

/* Argument parsing; 0 or -1 with *err set to a message for people. */
int traffic_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sslen, const char **err);
int traffic_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **err);
int traffic_parse_seconds(const char *s, uint64_t *ns, const char **err);

#endif
