/* traffic_stats.c: hatraffic's receive accounting, report line and argument parsing, with no I/O so it is unit-tested. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traffic_stats.h"

#define NS_PER_S	UINT64_C(1000000000)
#define NS_PER_MS	UINT64_C(1000000)

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* buf must hold TRAFFIC_HDR_LEN bytes; padding is the caller's. */
void traffic_pkt_encode(uint8_t *buf, const struct traffic_pkt *p)
{
	put_be32(buf, p->hello ? TRAFFIC_MAGIC_HELLO : TRAFFIC_MAGIC);
	put_be32(buf + 4, p->run_id);
	put_be64(buf + 8, p->seq);
	put_be64(buf + 16, p->sent_ns);
}

int traffic_pkt_decode(const uint8_t *buf, size_t len, struct traffic_pkt *p)
{
	uint32_t magic;

	if (len < TRAFFIC_HDR_LEN)
		return -1;
	magic = get_be32(buf);
	if (magic != TRAFFIC_MAGIC && magic != TRAFFIC_MAGIC_HELLO)
		return -1;
	p->hello = magic == TRAFFIC_MAGIC_HELLO;
	p->run_id = get_be32(buf + 4);
	p->seq = get_be64(buf + 8);
	p->sent_ns = get_be64(buf + 16);
	return 0;
}

int traffic_stats_init(struct traffic_stats *st, size_t max_bits)
{
	size_t max_words;

	memset(st, 0, sizeof(*st));
	if (max_bits == 0)
		max_bits = TRAFFIC_WINDOW_MAX_BITS;
	max_words = max_bits / 64 + (max_bits % 64 != 0);
	st->win.max_words = max_words;
	st->win.nwords = TRAFFIC_WINDOW_MIN_BITS / 64;
	if (st->win.nwords > max_words)
		st->win.nwords = max_words;
	st->win.words = calloc(st->win.nwords, sizeof(uint64_t));
	if (st->win.words == NULL)
		return -1;
	return 0;
}

void traffic_stats_free(struct traffic_stats *st)
{
	free(st->win.words);
	st->win.words = NULL;
	st->win.nwords = 0;
}

size_t traffic_stats_window_bytes(const struct traffic_stats *st)
{
	return st->win.nwords * sizeof(uint64_t);
}

/*
 * Move the window up so that seq fits. What falls off the bottom is final:
 * a hole there stays lost even if the packet turns up later (then "late").
 * Moving by at least an eighth of the window keeps the memmove amortised.
 */
static void window_slide(struct traffic_window *w, uint64_t seq)
{
	uint64_t nbits = (uint64_t)w->nwords * 64;
	uint64_t shift = seq - w->base - nbits + 1;
	uint64_t shift_words;

	if (shift < nbits / 8)
		shift = nbits / 8;
	shift = (shift + 63) & ~UINT64_C(63);
	shift_words = shift / 64;
	if (shift_words >= w->nwords) {
		memset(w->words, 0, w->nwords * sizeof(uint64_t));
	} else {
		memmove(w->words, w->words + shift_words,
		    (w->nwords - shift_words) * sizeof(uint64_t));
		memset(w->words + (w->nwords - shift_words), 0,
		    shift_words * sizeof(uint64_t));
	}
	w->base += shift;
}

/* Grow the window up to its cap (failure to grow is not fatal), else slide. */
static void window_fit(struct traffic_window *w, uint64_t seq)
{
	uint64_t off = seq - w->base;
	uint64_t *words;
	size_t n;

	if (off < (uint64_t)w->nwords * 64)
		return;
	/* Only grow when that makes seq fit: a jump past the cap slides instead. */
	if (off / 64 < w->max_words) {
		n = w->nwords * 2;
		if (n < off / 64 + 1)
			n = off / 64 + 1;
		if (n > w->max_words)
			n = w->max_words;
		words = realloc(w->words, n * sizeof(uint64_t));
		if (words != NULL) {
			memset(words + w->nwords, 0, (n - w->nwords) * sizeof(uint64_t));
			w->words = words;
			w->nwords = n;
			return;
		}
	}
	window_slide(w, seq);
}

static int run_is_old(const struct traffic_stats *st, uint32_t run_id)
{
	size_t i;

	for (i = 0; i < st->n_old_runs && i < TRAFFIC_OLD_RUNS; i++)
		if (st->old_runs[i] == run_id)
			return 1;
	return 0;
}

/*
 * A new run id means the peer restarted: its sequence starts again at 0.
 * The old run's loss is frozen (its tail is unknowable, as always) and the
 * gap clock keeps going, so the restart's outage shows as a gap.
 */
static void run_start(struct traffic_stats *st, uint32_t run_id)
{
	if (st->have_run) {
		st->old_lost += st->run_next - st->run_unique;
		st->old_runs[st->n_old_runs % TRAFFIC_OLD_RUNS] = st->run_id;
		st->n_old_runs++;
	}
	st->have_run = 1;
	st->run_id = run_id;
	st->run_next = 0;
	st->run_unique = 0;
	st->win.base = 0;
	memset(st->win.words, 0, st->win.nwords * sizeof(uint64_t));
	st->runs++;
}

static void gap_clock(struct traffic_stats *st, uint64_t now_ns)
{
	uint64_t gap;

	if (!st->any_rx) {
		st->any_rx = 1;
		st->first_rx_ns = now_ns;
		st->last_rx_ns = now_ns;
		return;
	}
	/* The caller's clock is monotonic; a stray earlier time is a zero gap. */
	gap = now_ns > st->last_rx_ns ? now_ns - st->last_rx_ns : 0;
	if (gap > st->max_gap_ns) {
		st->max_gap_ns = gap;
		st->max_gap_start_ns = st->last_rx_ns;
	}
	if (gap > TRAFFIC_GAP_REPORT_NS)
		st->gaps_over_100ms++;
	if (now_ns > st->last_rx_ns)
		st->last_rx_ns = now_ns;
}

enum traffic_rx traffic_stats_rx(struct traffic_stats *st, const struct traffic_pkt *p, uint64_t now_ns)
{
	struct traffic_window *w = &st->win;
	uint64_t off, bit;

	if (p->hello)
		return TRAFFIC_RX_HELLO;
	if (p->seq >= TRAFFIC_SEQ_LIMIT || w->words == NULL) {
		st->invalid++;
		return TRAFFIC_RX_INVALID;
	}
	if (!st->have_run || p->run_id != st->run_id) {
		if (run_is_old(st, p->run_id)) {
			st->late++;
			return TRAFFIC_RX_LATE;
		}
		run_start(st, p->run_id);
	}
	if (p->seq < w->base) {
		st->late++;
		return TRAFFIC_RX_LATE;
	}
	window_fit(w, p->seq);
	off = p->seq - w->base;
	bit = UINT64_C(1) << (off % 64);
	if (w->words[off / 64] & bit) {
		st->duplicates++;
		return TRAFFIC_RX_DUP;
	}
	w->words[off / 64] |= bit;
	st->run_unique++;
	st->received++;
	if (p->seq < st->run_next)
		st->reordered++;
	else
		st->run_next = p->seq + 1;
	if (st->runs == 1) {
		if (!st->start_seen) {
			st->start_seen = 1;
			st->start_first_seq = p->seq;
		} else if (p->seq < st->start_first_seq) {
			st->start_below_first++;
		}
	}
	gap_clock(st, now_ns);
	return TRAFFIC_RX_NEW;
}

/* A datagram that is not ours (short, wrong magic). */
void traffic_stats_invalid(struct traffic_stats *st)
{
	st->invalid++;
}

/* Holes below the highest sequence number received, in every run seen. */
uint64_t traffic_stats_lost(const struct traffic_stats *st)
{
	return st->old_lost + (st->run_next - st->run_unique);
}

uint64_t traffic_stats_lost_at_start(const struct traffic_stats *st)
{
	return st->start_seen ? st->start_first_seq - st->start_below_first : 0;
}

uint64_t traffic_ns_to_ms(uint64_t ns)
{
	return (ns + NS_PER_MS / 2) / NS_PER_MS;
}

static int64_t ms_or_none(int have, uint64_t ns)
{
	return have ? (int64_t)traffic_ns_to_ms(ns) : -1;
}

int traffic_report_format(char *buf, size_t len, const struct traffic_stats *st,
    const struct traffic_report_info *info)
{
	int have_gap = st->received > 1;

	return snprintf(buf, len,
	    "{\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64
	    ",\"duplicates\":%" PRIu64 ",\"reordered\":%" PRIu64
	    ",\"max_gap_ms\":%" PRIu64 ",\"max_gap_start_ms\":%" PRId64
	    ",\"gaps_over_100ms\":%" PRIu64
	    ",\"first_rx_ms\":%" PRId64 ",\"last_rx_ms\":%" PRId64
	    ",\"rate\":%" PRIu64 ",\"duration_ms\":%" PRIu64
	    ",\"send_errors\":%" PRIu64 ",\"late\":%" PRIu64
	    ",\"invalid\":%" PRIu64 ",\"runs\":%" PRIu64
	    ",\"lost_at_start\":%" PRIu64 ",\"tx_start_ms\":%" PRId64 "}",
	    info->sent, st->received, traffic_stats_lost(st),
	    st->duplicates, st->reordered,
	    traffic_ns_to_ms(st->max_gap_ns), ms_or_none(have_gap, st->max_gap_start_ns),
	    st->gaps_over_100ms,
	    ms_or_none(st->any_rx, st->first_rx_ns), ms_or_none(st->any_rx, st->last_rx_ns),
	    info->rate, info->duration_ms,
	    info->send_errors, st->late, st->invalid, st->runs,
	    traffic_stats_lost_at_start(st), info->tx_start_ms);
}

/* start + seq / rate seconds without drift or overflow (seq < 2^62, rate < 2^32). */
uint64_t traffic_deadline_ns(uint64_t seq, uint64_t rate)
{
	if (rate == 0)
		return UINT64_MAX;
	return (seq / rate) * NS_PER_S + (seq % rate) * NS_PER_S / rate;
}

int traffic_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **err)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9') {
		*err = "not a number";
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0') {
		*err = "not a number";
		return -1;
	}
	if (v < min || v > max) {
		*err = "out of range";
		return -1;
	}
	*out = v;
	return 0;
}

/* Seconds, with up to nine decimals ("2", "0.5"); 0 is refused (omit the option instead). */
int traffic_parse_seconds(const char *s, uint64_t *ns, const char **err)
{
	uint64_t whole = 0, frac = 0, scale = NS_PER_S;
	const char *p = s;
	int digits = 0;

	*err = "not a number of seconds";
	if (s == NULL)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (whole > 1000000000)	/* 31 years is enough */
			goto range;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
			if (scale == 1)
				return -1;
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
		}
	}
	if (*p != '\0' || digits == 0)
		return -1;
	if (whole > 1000000000)
		goto range;
	*ns = whole * NS_PER_S + frac;
	if (*ns == 0) {
		*err = "must be more than 0";
		return -1;
	}
	return 0;
range:
	*err = "out of range";
	return -1;
}

static int parse_port(const char *s, uint16_t *port, const char **err)
{
	uint64_t v;

	if (traffic_parse_uint(s, 1, 65535, &v, err) < 0) {
		*err = "bad port (1-65535)";
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

/* Numeric only (no resolver in the lab): "192.0.2.1:5001" or "[2001:db8::1]:5001". */
int traffic_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sslen, const char **err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *close;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	uint16_t port;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (s == NULL || *s == '\0') {
		*err = "empty address";
		return -1;
	}
	if (*s == '[') {
		close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			*err = "IPv6 address must be written [ADDR]:PORT";
			return -1;
		}
		n = (size_t)(close - s - 1);
		if (n == 0 || n >= sizeof(host)) {
			*err = "bad IPv6 address";
			return -1;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*err = "bad IPv6 address";
			return -1;
		}
		if (parse_port(close + 2, &port, err) < 0)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*sslen = sizeof(*sin6);
		return 0;
	}
	colon = strchr(s, ':');
	if (colon == NULL) {
		*err = "missing :PORT";
		return -1;
	}
	if (strchr(colon + 1, ':') != NULL) {
		*err = "IPv6 address must be written [ADDR]:PORT";
		return -1;
	}
	n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof(host)) {
		*err = "bad IPv4 address";
		return -1;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		*err = "bad IPv4 address";
		return -1;
	}
	if (parse_port(colon + 1, &port, err) < 0)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	*sslen = sizeof(*sin);
	return 0;
}
