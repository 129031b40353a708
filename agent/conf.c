/* conf.c: parse /etc/hasyncd.conf (Libreswan ipsec.conf style) and check the pre-shared key file. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"

enum section {
	SEC_NONE,
	SEC_SETUP,
	SEC_SYNC,
	SEC_VIP,
};

enum key_type {
	T_NAME,		/* node-id, instance */
	T_SOCKPATH,
	T_FILEPATH,
	T_LOGLEVEL,
	T_BOOL,
	T_TRANSPORT,
	T_ADDRLIST,	/* local, remote: 1 or 2 addresses */
	T_UINT,
	T_DURATION,	/* stored in milliseconds */
	T_ADDR,
	T_TABLE,
	T_PROTO,
};

/* Key indexes: the table below is indexed by them, and so are the lines each was seen on. */
enum key_id {
	K_NODE_ID,
	K_CONTROL_SOCKET,
	K_LOG_LEVEL,
	K_PRIVATE_DEBUG,
	K_PLUTO_HA_SOCKET,
	K_NOTIFY_FIFO,
	K_TRANSPORT,
	K_LOCAL,
	K_REMOTE,
	K_PORT,
	K_STREAMS,
	K_KEY_FILE,
	K_REPLAY_IN,
	K_REPLAY_OUT,
	K_COUNTER_TIMER,
	K_HEARTBEAT,
	K_DEAD_TIME,
	K_RESEND_QUEUE,
	K_RECONNECT_MIN,
	K_RECONNECT_MAX,
	K_VIP_FIRST,
	K_ADDRESS = K_VIP_FIRST,
	K_INSTANCE,
	K_RRI,
	K_ROUTE_TABLE,
	K_ROUTE_METRIC,
	K_ROUTE_PROTOCOL,
	K_COUNT,
};

#define K_VIP_COUNT	(K_COUNT - K_VIP_FIRST)

struct key_def {
	enum section sec;
	const char *name;
	enum key_type type;
	size_t off;		/* in struct conf, or in struct conf_vip for SEC_VIP */
	size_t size;
	size_t count_off;	/* T_ADDRLIST: where the number of addresses goes */
	uint64_t min, max;	/* T_UINT, T_DURATION (ms) */
};

#define FSIZE(type, field)	sizeof(((type *)NULL)->field)
#define CKEY(s, n, t, f, lo, hi) \
	{ (s), (n), (t), offsetof(struct conf, f), FSIZE(struct conf, f), 0, (lo), (hi) }
#define LKEY(n, f, cnt) \
	{ SEC_SYNC, (n), T_ADDRLIST, offsetof(struct conf, f), FSIZE(struct conf, f), \
	  offsetof(struct conf, cnt), 0, 0 }
#define VKEY(n, t, f, lo, hi) \
	{ SEC_VIP, (n), (t), offsetof(struct conf_vip, f), FSIZE(struct conf_vip, f), 0, (lo), (hi) }

#define MS_S	UINT64_C(1000)
#define MS_M	(60 * MS_S)
#define MS_H	(60 * MS_M)

static const struct key_def keys[K_COUNT] = {
	[K_NODE_ID]		= CKEY(SEC_SETUP, "node-id", T_NAME, node_id, 0, 0),
	[K_CONTROL_SOCKET]	= CKEY(SEC_SETUP, "control-socket", T_SOCKPATH, control_socket, 0, 0),
	[K_LOG_LEVEL]		= CKEY(SEC_SETUP, "log-level", T_LOGLEVEL, log_level, 0, 0),
	[K_PRIVATE_DEBUG]	= CKEY(SEC_SETUP, "private-debug", T_BOOL, private_debug, 0, 0),
	[K_PLUTO_HA_SOCKET]	= CKEY(SEC_SETUP, "pluto-ha-socket", T_SOCKPATH, pluto_ha_socket, 0, 0),
	[K_NOTIFY_FIFO]		= CKEY(SEC_SETUP, "notify-fifo", T_FILEPATH, notify_fifo, 0, 0),
	[K_TRANSPORT]		= CKEY(SEC_SYNC, "transport", T_TRANSPORT, transport, 0, 0),
	[K_LOCAL]		= LKEY("local", local, n_local),
	[K_REMOTE]		= LKEY("remote", remote, n_remote),
	[K_PORT]		= CKEY(SEC_SYNC, "port", T_UINT, port, 1, 65535),
	[K_STREAMS]		= CKEY(SEC_SYNC, "streams", T_UINT, streams, 1, 64),
	[K_KEY_FILE]		= CKEY(SEC_SYNC, "key-file", T_FILEPATH, key_file, 0, 0),
	[K_REPLAY_IN]		= CKEY(SEC_SYNC, "replay-interval-inbound", T_UINT,
				       replay_interval_in, 1, 1ULL << 31),
	[K_REPLAY_OUT]		= CKEY(SEC_SYNC, "replay-interval-outbound", T_UINT,
				       replay_interval_out, 1, 1ULL << 31),
	[K_COUNTER_TIMER]	= CKEY(SEC_SYNC, "counter-timer", T_DURATION, counter_timer_ms,
				       100, MS_H),
	[K_HEARTBEAT]		= CKEY(SEC_SYNC, "heartbeat", T_DURATION, heartbeat_ms, 100, 60 * MS_S),
	[K_DEAD_TIME]		= CKEY(SEC_SYNC, "dead-time", T_DURATION, dead_time_ms, 200, 10 * MS_M),
	[K_RESEND_QUEUE]	= CKEY(SEC_SYNC, "resend-queue", T_UINT, resend_queue, 1024, 4194304),
	[K_RECONNECT_MIN]	= CKEY(SEC_SYNC, "reconnect-min", T_DURATION, reconnect_min_ms,
				       10, 60 * MS_S),
	[K_RECONNECT_MAX]	= CKEY(SEC_SYNC, "reconnect-max", T_DURATION, reconnect_max_ms,
				       100, 10 * MS_M),
	[K_ADDRESS]		= VKEY("address", T_ADDR, address, 0, 0),
	[K_INSTANCE]		= VKEY("instance", T_NAME, instance, 0, 0),
	[K_RRI]			= VKEY("rri", T_BOOL, rri, 0, 0),
	[K_ROUTE_TABLE]		= VKEY("route-table", T_TABLE, route_table, 0, 0),
	[K_ROUTE_METRIC]	= VKEY("route-metric", T_UINT, route_metric, 0, UINT32_MAX),
	[K_ROUTE_PROTOCOL]	= VKEY("route-protocol", T_PROTO, route_protocol, 0, 0),
};

struct word {
	const char *name;
	unsigned value;
};

static const struct word log_levels[] = {
	{ "err", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
	{ "info", LOG_INFO }, { "debug", LOG_DEBUG }, { NULL, 0 },
};

static const struct word transports[] = {
	{ "sctp", CONF_TRANSPORT_SCTP }, { "tcp", CONF_TRANSPORT_TCP }, { NULL, 0 },
};

static const struct word booleans[] = {
	{ "yes", 1 }, { "no", 0 }, { NULL, 0 },
};

static const struct word route_tables[] = {
	{ "main", 254 }, { "local", 255 }, { "default", 253 }, { NULL, 0 },
};

/*
 * iproute2's reserved protocol names (/etc/iproute2/rt_protos) plus ours:
 * built in because the parser reads no other file, and so that the same
 * config means the same on every host.
 */
static const struct word route_protocols[] = {
	{ "unspec", 0 }, { "redirect", 1 }, { "kernel", 2 }, { "boot", 3 },
	{ "static", 4 }, { "gated", 8 }, { "ra", 9 }, { "mrt", 10 },
	{ "zebra", 11 }, { "bird", 12 }, { "dnrouted", 13 }, { "xorp", 14 },
	{ "ntk", 15 }, { "dhcp", 16 }, { "keepalived", 18 }, { "babel", 42 },
	{ "openr", 99 }, { "bgp", 186 }, { "isis", 187 }, { "ospf", 188 },
	{ "rip", 189 }, { "eigrp", 192 }, { "hasync", CONF_ROUTE_PROTO_DEFAULT },
	{ NULL, 0 },
};

struct parser {
	const char *name;
	struct conf *c;
	struct conf_error *err;
	unsigned line;
	enum section sec;
	struct conf_vip *vip;		/* the current vip section */
	char label[CONF_NAME_MAX + 16];	/* "sync", "config setup", "vip NAME" */
	unsigned setup_line, sync_line;
	unsigned seen[K_VIP_FIRST];	/* line each key was set on, 0 if unset */
	unsigned vip_line[CONF_VIPS_MAX];
	unsigned vip_seen[CONF_VIPS_MAX][K_VIP_COUNT];
};

static void conf_fail(struct parser *p, unsigned line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void conf_fail(struct parser *p, unsigned line, const char *key, const char *fmt, ...)
{
	char *msg = p->err->msg;
	size_t size = sizeof(p->err->msg), n;
	va_list ap;

	p->err->line = line;
	if (key)
		snprintf(msg, size, "%s:%u: %s: ", p->name, line, key);
	else
		snprintf(msg, size, "%s:%u: ", p->name, line);
	n = strlen(msg);
	va_start(ap, fmt);
	vsnprintf(msg + n, size - n, fmt, ap);
	va_end(ap);
}

static void error_set(struct conf_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void error_set(struct conf_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->line = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* A value as shown in an error: quoted, and cut short so the message stays readable. */
static const char *conf_quote(char *buf, size_t size, const char *v)
{
	size_t n = strlen(v);

	if (n > 64)
		snprintf(buf, size, "\"%.64s...\"", v);
	else
		snprintf(buf, size, "\"%s\"", v);
	return buf;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static const char *skip_blank(const char *s)
{
	while (is_blank(*s))
		s++;
	return s;
}

static int word_lookup(const struct word *w, const char *s, unsigned *out)
{
	for (; w->name; w++) {
		if (!strcmp(w->name, s)) {
			*out = w->value;
			return 0;
		}
	}
	return -1;
}

static const char *word_name(const struct word *w, unsigned value)
{
	for (; w->name; w++)
		if (w->value == value)
			return w->name;
	return NULL;
}

/* "a|b|c", for error messages. */
static const char *word_list(const struct word *w, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; w->name && used < size; w++)
		used += snprintf(buf + used, size - used, "%s%s", used ? "|" : "", w->name);
	return buf;
}

/* Decimal digits only (no sign, no base prefix): 1 when too big for 64 bits, -1 when not a number. */
static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	bool overflow = false;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	*end = p;
	*out = v;
	return overflow ? 1 : 0;
}

/* Milliseconds in the largest unit that divides them exactly. */
static const char *duration_format(uint64_t ms, char *buf, size_t size)
{
	if (ms && ms % MS_H == 0)
		snprintf(buf, size, "%" PRIu64 "h", ms / MS_H);
	else if (ms && ms % MS_M == 0)
		snprintf(buf, size, "%" PRIu64 "m", ms / MS_M);
	else if (ms && ms % MS_S == 0)
		snprintf(buf, size, "%" PRIu64 "s", ms / MS_S);
	else
		snprintf(buf, size, "%" PRIu64 "ms", ms);
	return buf;
}

static void store_uint(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case 1: *(uint8_t *)field = (uint8_t)v; break;
	case 2: *(uint16_t *)field = (uint16_t)v; break;
	case 4: *(uint32_t *)field = (uint32_t)v; break;
	default: *(uint64_t *)field = v; break;
	}
}

static bool name_valid(const char *s, size_t size)
{
	size_t n = strlen(s);

	if (n == 0 || n >= size)
		return false;
	for (; *s; s++) {
		char ch = *s;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static bool addr_usable(const struct conf_addr *a)
{
	if (a->family == AF_INET) {
		uint32_t v = ntohl(a->v4.s_addr);

		return v != 0 && !IN_MULTICAST(v) && v != INADDR_BROADCAST;
	}
	return !IN6_IS_ADDR_UNSPECIFIED(&a->v6) && !IN6_IS_ADDR_MULTICAST(&a->v6);
}

static bool addr_equal(const struct conf_addr *a, const struct conf_addr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->v4.s_addr == b->v4.s_addr;
	return !memcmp(&a->v6, &b->v6, sizeof(a->v6));
}

/* One unicast address, v4 or v6; scoped (fe80::1%eth0) is refused as it needs an interface lookup. */
static int parse_addr(struct parser *p, const char *key, const char *s, struct conf_addr *out)
{
	char q[96];

	memset(out, 0, sizeof(*out));
	if (strchr(s, '%')) {
		conf_fail(p, p->line, key, "%s: scoped IPv6 addresses are not supported",
			  conf_quote(q, sizeof(q), s));
		return -1;
	}
	if (inet_pton(AF_INET, s, &out->v4) == 1) {
		out->family = AF_INET;
	} else if (inet_pton(AF_INET6, s, &out->v6) == 1) {
		out->family = AF_INET6;
	} else {
		conf_fail(p, p->line, key, "%s is not an IPv4 or IPv6 address",
			  conf_quote(q, sizeof(q), s));
		return -1;
	}
	if (!addr_usable(out)) {
		conf_fail(p, p->line, key, "%s is not a unicast address", conf_quote(q, sizeof(q), s));
		return -1;
	}
	return 0;
}

/* "A" or "A,B", blanks allowed around the comma when the value is quoted. */
static int parse_addr_list(struct parser *p, const char *key, const char *s,
			   struct conf_addr *list, unsigned *count)
{
	struct conf_addr tmp[CONF_PATHS_MAX];
	const char *all = s;
	unsigned n = 0;
	char q[96];

	for (;;) {
		char one[INET6_ADDRSTRLEN + 16];
		const char *start = skip_blank(s);
		const char *end = strchr(start, ',');
		size_t len = end ? (size_t)(end - start) : strlen(start);

		while (len && is_blank(start[len - 1]))
			len--;
		if (len == 0) {
			conf_fail(p, p->line, key, "%s has an empty address", conf_quote(q, sizeof(q), all));
			return -1;
		}
		if (n == CONF_PATHS_MAX) {
			conf_fail(p, p->line, key, "%s has more than %d addresses",
				  conf_quote(q, sizeof(q), all), CONF_PATHS_MAX);
			return -1;
		}
		if (len >= sizeof(one))
			len = sizeof(one) - 1;	/* too long to be an address: parse_addr() says so */
		memcpy(one, start, len);
		one[len] = '\0';
		if (parse_addr(p, key, one, &tmp[n]) < 0)
			return -1;
		if (n > 0 && tmp[n].family != tmp[0].family) {
			conf_fail(p, p->line, key, "%s mixes IPv4 and IPv6", conf_quote(q, sizeof(q), all));
			return -1;
		}
		if (n > 0 && addr_equal(&tmp[n], &tmp[0])) {
			conf_fail(p, p->line, key, "%s lists the same address twice",
				  conf_quote(q, sizeof(q), all));
			return -1;
		}
		n++;
		if (!end)
			break;
		s = end + 1;
	}
	memcpy(list, tmp, n * sizeof(tmp[0]));
	*count = n;
	return 0;
}

static int parse_path(struct parser *p, const char *key, const char *v, char *field, size_t size)
{
	char q[96];

	if (v[0] != '/') {
		conf_fail(p, p->line, key, "%s is not an absolute path", conf_quote(q, sizeof(q), v));
		return -1;
	}
	if (strlen(v) >= size) {
		conf_fail(p, p->line, key, "%s is too long (at most %zu bytes)",
			  conf_quote(q, sizeof(q), v), size - 1);
		return -1;
	}
	/* Printable ASCII without '"', so that conf_dump() can always write it back. */
	for (const char *s = v; *s; s++) {
		if (*s < 0x20 || *s > 0x7e || *s == '"') {
			conf_fail(p, p->line, key, "%s: paths may hold printable ASCII only, without '\"'",
				  conf_quote(q, sizeof(q), v));
			return -1;
		}
	}
	memcpy(field, v, strlen(v) + 1);
	return 0;
}

static int vip_address_unique(struct parser *p, const char *key, const struct conf_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < p->c->n_vips; i++) {
		const struct conf_vip *other = &p->c->vips[i];

		if (other == p->vip || !other->address.family)
			continue;
		if (addr_equal(&other->address, a)) {
			conf_fail(p, p->line, key, "%s is already the address of vip %s (line %u)",
				  conf_addr_format(a, buf, sizeof(buf)), other->name,
				  p->vip_seen[i][K_ADDRESS - K_VIP_FIRST]);
			return -1;
		}
	}
	return 0;
}

static int key_apply(struct parser *p, enum key_id id, const char *label, const char *v)
{
	const struct key_def *k = &keys[id];
	void *base = k->sec == SEC_VIP ? (void *)p->vip : (void *)p->c;
	void *field = (char *)base + k->off;
	char q[96], list[96], lo[32], hi[32];
	const char *end;
	uint64_t u;
	unsigned w;
	int r;

	if (!*v) {
		conf_fail(p, p->line, label, "empty value");
		return -1;
	}
	switch (k->type) {
	case T_NAME:
		if (!name_valid(v, k->size)) {
			conf_fail(p, p->line, label,
				  "%s is not a name of 1..%zu letters, digits, '.', '_' or '-'",
				  conf_quote(q, sizeof(q), v), k->size - 1);
			return -1;
		}
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case T_SOCKPATH:
	case T_FILEPATH:
		return parse_path(p, label, v, field, k->size);
	case T_LOGLEVEL:
		if (word_lookup(log_levels, v, &w) < 0)
			goto not_one_of;
		*(int *)field = (int)w;
		return 0;
	case T_BOOL:
		if (word_lookup(booleans, v, &w) < 0)
			goto not_one_of;
		*(bool *)field = w;
		return 0;
	case T_TRANSPORT:
		if (word_lookup(transports, v, &w) < 0)
			goto not_one_of;
		*(enum conf_transport *)field = (enum conf_transport)w;
		return 0;
	case T_ADDRLIST:
		return parse_addr_list(p, label, v, field, (unsigned *)((char *)p->c + k->count_off));
	case T_ADDR: {
		struct conf_addr a;

		if (parse_addr(p, label, v, &a) < 0 || vip_address_unique(p, label, &a) < 0)
			return -1;
		*(struct conf_addr *)field = a;
		return 0;
	}
	case T_UINT:
		r = parse_u64(v, &end, &u);
		if (r < 0 || *end) {
			conf_fail(p, p->line, label, "%s is not a number", conf_quote(q, sizeof(q), v));
			return -1;
		}
		if (r > 0 || u < k->min || u > k->max) {
			conf_fail(p, p->line, label, "%s is out of range %" PRIu64 "..%" PRIu64,
				  conf_quote(q, sizeof(q), v), k->min, k->max);
			return -1;
		}
		store_uint(field, k->size, u);
		return 0;
	case T_DURATION: {
		uint64_t scale;

		r = parse_u64(v, &end, &u);
		if (r < 0) {
			conf_fail(p, p->line, label, "%s is not a duration (a number and ms, s, m or h)",
				  conf_quote(q, sizeof(q), v));
			return -1;
		}
		if (!*end) {
			conf_fail(p, p->line, label, "%s needs a unit: ms, s, m or h",
				  conf_quote(q, sizeof(q), v));
			return -1;
		}
		if (!strcmp(end, "ms"))
			scale = 1;
		else if (!strcmp(end, "s"))
			scale = MS_S;
		else if (!strcmp(end, "m"))
			scale = MS_M;
		else if (!strcmp(end, "h"))
			scale = MS_H;
		else {
			conf_fail(p, p->line, label, "%s is not a duration (a number and ms, s, m or h)",
				  conf_quote(q, sizeof(q), v));
			return -1;
		}
		if (r > 0 || u > UINT64_MAX / scale || u * scale < k->min || u * scale > k->max) {
			conf_fail(p, p->line, label, "%s is out of range %s..%s",
				  conf_quote(q, sizeof(q), v), duration_format(k->min, lo, sizeof(lo)),
				  duration_format(k->max, hi, sizeof(hi)));
			return -1;
		}
		store_uint(field, k->size, u * scale);
		return 0;
	}
	case T_TABLE:
		if (word_lookup(route_tables, v, &w) == 0) {
			store_uint(field, k->size, w);
			return 0;
		}
		r = parse_u64(v, &end, &u);
		if (r != 0 || *end || u < 1 || u > UINT32_MAX) {
			conf_fail(p, p->line, label, "%s is not main, local, default or 1..%" PRIu32,
				  conf_quote(q, sizeof(q), v), UINT32_MAX);
			return -1;
		}
		store_uint(field, k->size, u);
		return 0;
	case T_PROTO:
		if (word_lookup(route_protocols, v, &w) == 0) {
			store_uint(field, k->size, w);
			return 0;
		}
		r = parse_u64(v, &end, &u);
		if (r != 0 || *end || u > 255) {
			conf_fail(p, p->line, label,
				  "%s is neither 0..255 nor a protocol name listed in hasyncd.conf(5)",
				  conf_quote(q, sizeof(q), v));
			return -1;
		}
		store_uint(field, k->size, u);
		return 0;
	}
	return -1;

not_one_of:
	conf_fail(p, p->line, label, "%s is not one of %s", conf_quote(q, sizeof(q), v),
		  word_list(k->type == T_LOGLEVEL ? log_levels :
			    k->type == T_BOOL ? booleans : transports, list, sizeof(list)));
	return -1;
}

static void vip_defaults(struct conf_vip *vip, const char *name)
{
	memset(vip, 0, sizeof(*vip));
	snprintf(vip->name, sizeof(vip->name), "%s", name);
	snprintf(vip->instance, sizeof(vip->instance), "%s", name);
	vip->rri = false;
	vip->route_table = 254;
	vip->route_metric = 0;
	vip->route_protocol = CONF_ROUTE_PROTO_DEFAULT;
}

static void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->control_socket, sizeof(c->control_socket), "/run/hasyncd/ctl.sock");
	c->log_level = LOG_INFO;
	c->private_debug = false;
	snprintf(c->pluto_ha_socket, sizeof(c->pluto_ha_socket), "/run/pluto/ha.ctl");
	c->transport = CONF_TRANSPORT_SCTP;
	c->port = 7788;
	c->streams = 8;
	c->replay_interval_in = 1000;		/* Cisco's defaults */
	c->replay_interval_out = 100000;
	c->counter_timer_ms = 1000;
	c->heartbeat_ms = 1000;
	c->dead_time_ms = 3000;
	c->resend_queue = 65536;
	c->reconnect_min_ms = 100;
	c->reconnect_max_ms = 5000;
}

/* The next blank-separated word of a section header, stopping at a comment. */
static const char *header_word(const char **s, char *buf, size_t size)
{
	const char *p = skip_blank(*s);
	size_t n = 0;

	if (!*p || *p == '#')
		return NULL;
	while (*p && !is_blank(*p)) {
		if (n + 1 < size)
			buf[n++] = *p;
		p++;
	}
	buf[n] = '\0';
	*s = p;
	return buf;
}

static int parse_header(struct parser *p, const char *line)
{
	char w1[CONF_LINE_MAX + 1], w2[CONF_LINE_MAX + 1], w3[CONF_LINE_MAX + 1], q[96];
	const char *s = line;
	const char *a = header_word(&s, w1, sizeof(w1));
	const char *b = header_word(&s, w2, sizeof(w2));
	const char *extra = header_word(&s, w3, sizeof(w3));

	if (strchr(a, '=')) {
		conf_fail(p, p->line, NULL, "%s: key=value lines must be indented under a section",
			  conf_quote(q, sizeof(q), line));
		return -1;
	}
	if (!strcmp(a, "config") && b && !strcmp(b, "setup") && !extra) {
		if (p->setup_line) {
			conf_fail(p, p->line, "config setup", "duplicate section (first on line %u)",
				  p->setup_line);
			return -1;
		}
		p->setup_line = p->line;
		p->sec = SEC_SETUP;
		snprintf(p->label, sizeof(p->label), "config setup");
		return 0;
	}
	if (!strcmp(a, "sync") && !b) {
		if (p->sync_line) {
			conf_fail(p, p->line, "sync", "duplicate section (first on line %u)", p->sync_line);
			return -1;
		}
		p->sync_line = p->line;
		p->sec = SEC_SYNC;
		snprintf(p->label, sizeof(p->label), "sync");
		return 0;
	}
	if (!strcmp(a, "vip")) {
		if (!b) {
			conf_fail(p, p->line, "vip", "the section needs a name: vip NAME");
			return -1;
		}
		if (extra) {
			conf_fail(p, p->line, "vip", "%s: one name only, without blanks",
				  conf_quote(q, sizeof(q), line));
			return -1;
		}
		if (!name_valid(b, CONF_NAME_MAX)) {
			conf_fail(p, p->line, "vip",
				  "%s is not a name of 1..%d letters, digits, '.', '_' or '-'",
				  conf_quote(q, sizeof(q), b), CONF_NAME_MAX - 1);
			return -1;
		}
		for (unsigned i = 0; i < p->c->n_vips; i++) {
			if (!strcmp(p->c->vips[i].name, b)) {
				conf_fail(p, p->line, "vip", "duplicate vip name \"%s\" (first on line %u)",
					  b, p->vip_line[i]);
				return -1;
			}
		}
		if (p->c->n_vips == CONF_VIPS_MAX) {
			conf_fail(p, p->line, "vip", "too many vip sections (at most %d)", CONF_VIPS_MAX);
			return -1;
		}
		p->vip_line[p->c->n_vips] = p->line;
		p->vip = &p->c->vips[p->c->n_vips++];
		vip_defaults(p->vip, b);
		p->sec = SEC_VIP;
		snprintf(p->label, sizeof(p->label), "vip %s", b);
		return 0;
	}
	conf_fail(p, p->line, NULL, "unknown section %s (expected config setup, sync or vip NAME)",
		  conf_quote(q, sizeof(q), line));
	return -1;
}

static int parse_keyval(struct parser *p, const char *s)
{
	char key[CONF_LINE_MAX + 1], value[CONF_LINE_MAX + 1];
	char label[sizeof(p->label) + 72], q[96];
	size_t n = 0;
	unsigned *seen;
	int id;

	while (*s && *s != '=' && !is_blank(*s))
		key[n++] = *s++;
	key[n] = '\0';
	s = skip_blank(s);
	if (*s != '=') {
		conf_fail(p, p->line, NULL, "%s: expected key=value", conf_quote(q, sizeof(q), key));
		return -1;
	}
	if (n == 0) {
		conf_fail(p, p->line, NULL, "a key is missing before '='");
		return -1;
	}
	if (p->sec == SEC_NONE) {
		conf_fail(p, p->line, key, "key outside a section (indented lines follow a section header)");
		return -1;
	}
	snprintf(label, sizeof(label), "%s/%.64s", p->label, key);

	s = skip_blank(s + 1);
	n = 0;
	if (*s == '"') {
		const char *close = strchr(s + 1, '"');

		if (!close) {
			conf_fail(p, p->line, label, "unterminated quoted value");
			return -1;
		}
		n = (size_t)(close - (s + 1));
		memcpy(value, s + 1, n);
		s = close + 1;
		/* Like an unquoted value, a quoted one ends at a blank or the line's end. */
		if (*s && !is_blank(*s)) {
			conf_fail(p, p->line, label, "unexpected text after the closing quote");
			return -1;
		}
	} else {
		while (*s && !is_blank(*s))
			value[n++] = *s++;
	}
	value[n] = '\0';
	s = skip_blank(s);
	if (*s && *s != '#') {
		conf_fail(p, p->line, label, "unexpected text after the value: %s (quote values with blanks)",
			  conf_quote(q, sizeof(q), s));
		return -1;
	}

	for (id = 0; id < K_COUNT; id++)
		if (keys[id].sec == p->sec && !strcmp(keys[id].name, key))
			break;
	if (id == K_COUNT) {
		conf_fail(p, p->line, label, "unknown key");
		return -1;
	}
	if (p->sec == SEC_VIP)
		seen = &p->vip_seen[p->vip - p->c->vips][id - K_VIP_FIRST];
	else
		seen = &p->seen[id];
	if (*seen) {
		conf_fail(p, p->line, label, "duplicate key (first on line %u)", *seen);
		return -1;
	}
	*seen = p->line;
	return key_apply(p, (enum key_id)id, label, value);
}

static int parse_line(struct parser *p, const char *line)
{
	const char *s;

	if (!is_blank(line[0])) {
		if (line[0] == '\0' || line[0] == '#')
			return 0;
		return parse_header(p, line);
	}
	s = skip_blank(line);
	if (*s == '\0' || *s == '#')
		return 0;
	return parse_keyval(p, s);
}

/* Checks that need the whole file: mandatory keys and keys that depend on each other. */
static int conf_finish(struct parser *p, unsigned last_line)
{
	struct conf *c = p->c;
	unsigned at = p->sync_line ? p->sync_line : last_line;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], x[32], y[32];

	if (!p->seen[K_REMOTE]) {
		conf_fail(p, at, "sync/remote", "missing; the peer's address is mandatory");
		return -1;
	}
	if (!p->seen[K_KEY_FILE]) {
		conf_fail(p, at, "sync/key-file", "missing; a pre-shared key file is mandatory");
		return -1;
	}
	if (c->n_local && c->local[0].family != c->remote[0].family) {
		bool local_last = p->seen[K_LOCAL] > p->seen[K_REMOTE];

		conf_fail(p, local_last ? p->seen[K_LOCAL] : p->seen[K_REMOTE],
			  local_last ? "sync/local" : "sync/remote",
			  "%s and %s are not the same address family",
			  conf_addr_format(&c->local[0], a, sizeof(a)),
			  conf_addr_format(&c->remote[0], b, sizeof(b)));
		return -1;
	}
	if (c->dead_time_ms <= c->heartbeat_ms) {
		bool dead_set = p->seen[K_DEAD_TIME] != 0;

		conf_fail(p, dead_set ? p->seen[K_DEAD_TIME] : p->seen[K_HEARTBEAT],
			  dead_set ? "sync/dead-time" : "sync/heartbeat",
			  "dead-time (%s) must be longer than heartbeat (%s)",
			  duration_format(c->dead_time_ms, x, sizeof(x)),
			  duration_format(c->heartbeat_ms, y, sizeof(y)));
		return -1;
	}
	if (c->reconnect_max_ms < c->reconnect_min_ms) {
		bool max_set = p->seen[K_RECONNECT_MAX] != 0;

		conf_fail(p, max_set ? p->seen[K_RECONNECT_MAX] : p->seen[K_RECONNECT_MIN],
			  max_set ? "sync/reconnect-max" : "sync/reconnect-min",
			  "reconnect-max (%s) must not be shorter than reconnect-min (%s)",
			  duration_format(c->reconnect_max_ms, x, sizeof(x)),
			  duration_format(c->reconnect_min_ms, y, sizeof(y)));
		return -1;
	}
	if (c->n_vips == 0) {
		conf_fail(p, last_line, "vip", "none configured; at least one vip section is needed");
		return -1;
	}
	for (unsigned i = 0; i < c->n_vips; i++) {
		if (!p->vip_seen[i][K_ADDRESS - K_VIP_FIRST]) {
			char label[CONF_NAME_MAX + 16];

			snprintf(label, sizeof(label), "vip %s/address", c->vips[i].name);
			conf_fail(p, p->vip_line[i], label, "missing; every vip needs its address");
			return -1;
		}
	}
	if (!c->node_id[0]) {
		char host[256] = "";

		/* A host name we would refuse as node-id (or none): fall back so a default always works. */
		if (gethostname(host, sizeof(host) - 1) == 0 && name_valid(host, sizeof(c->node_id)))
			memcpy(c->node_id, host, strlen(host) + 1);
		else
			snprintf(c->node_id, sizeof(c->node_id), "hasyncd");
	}
	return 0;
}

int conf_parse_buffer(const char *name, const char *text, size_t len,
		      struct conf **out, struct conf_error *err)
{
	struct conf_error dummy;
	struct parser *p;
	struct conf *c;
	size_t pos = 0;
	int ret = -1;

	*out = NULL;
	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	c = malloc(sizeof(*c));
	p = calloc(1, sizeof(*p));
	if (!c || !p) {
		error_set(err, "%s: out of memory", name);
		goto done;
	}
	conf_defaults(c);
	p->name = name;
	p->c = c;
	p->err = err;

	/* A UTF-8 byte order mark from a Windows editor is harmless: skip it. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;
	while (pos < len) {
		char line[CONF_LINE_MAX + 1];
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;

		pos += n + (nl ? 1 : 0);
		p->line++;
		if (n && start[n - 1] == '\r')
			n--;
		if (n > CONF_LINE_MAX) {
			conf_fail(p, p->line, NULL, "line too long (%zu bytes, at most %d)", n, CONF_LINE_MAX);
			goto done;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)start[i];

			if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
				conf_fail(p, p->line, NULL, "control character 0x%02x in column %zu",
					  ch, i + 1);
				goto done;
			}
		}
		memcpy(line, start, n);
		line[n] = '\0';
		if (parse_line(p, line) < 0)
			goto done;
	}
	if (conf_finish(p, p->line ? p->line : 1) < 0)
		goto done;
	*out = c;
	c = NULL;
	ret = 0;
done:
	free(c);
	free(p);
	return ret;
}

int conf_load(const char *path, struct conf **out, struct conf_error *err)
{
	struct conf_error dummy;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, ret = -1;

	*out = NULL;
	if (!err)
		err = &dummy;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		error_set(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		error_set(err, "%s: cannot stat: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		error_set(err, "%s: not a regular file", path);
		goto done;
	}
	/* One byte more than allowed, to tell "too big" from "exactly the limit". */
	buf = malloc((size_t)CONF_FILE_MAX + 1);
	if (!buf) {
		error_set(err, "%s: out of memory", path);
		goto done;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, (size_t)CONF_FILE_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			error_set(err, "%s: cannot read: %s", path, strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > CONF_FILE_MAX) {
			error_set(err, "%s: bigger than %d bytes", path, CONF_FILE_MAX);
			goto done;
		}
	}
	ret = conf_parse_buffer(path, buf, len, out, err);
done:
	free(buf);
	close(fd);
	return ret;
}

void conf_free(struct conf *c)
{
	free(c);
}

static int key_fd_check(const char *path, int fd, struct stat *st, struct conf_error *err)
{
	if (fstat(fd, st) < 0) {
		error_set(err, "%s: cannot stat: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		error_set(err, "%s: the key file is not a regular file", path);
		return -1;
	}
	if (st->st_uid != 0) {
		error_set(err, "%s: the key file is owned by uid %u; it must be owned by root",
			  path, (unsigned)st->st_uid);
		return -1;
	}
	if (st->st_mode & 077) {
		error_set(err, "%s: the key file has mode %04o, which lets group or others in; "
			  "it must be 0600 or stricter (chmod 600)", path, (unsigned)(st->st_mode & 07777));
		return -1;
	}
	if (st->st_size < CONF_KEY_MIN || st->st_size > CONF_KEY_MAX) {
		error_set(err, "%s: the key file has %lld bytes; it must have %d..%d",
			  path, (long long)st->st_size, CONF_KEY_MIN, CONF_KEY_MAX);
		return -1;
	}
	return 0;
}

static int key_open(const char *path, struct stat *st, struct conf_error *err)
{
	/* O_NONBLOCK: a FIFO in its place must fail the checks, not hang the daemon. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		error_set(err, "%s: cannot open the key file: %s", path, strerror(errno));
		return -1;
	}
	if (key_fd_check(path, fd, st, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int conf_check_key_file(const char *path, struct conf_error *err)
{
	struct stat st;
	int fd = key_open(path, &st, err);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int conf_read_key_file(const char *path, uint8_t *buf, size_t bufsize,
		       size_t *len, struct conf_error *err)
{
	struct stat st;
	size_t n = 0;
	int fd;

	*len = 0;
	fd = key_open(path, &st, err);
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r;

		if (n == bufsize) {
			char probe;

			/* Full buffer: fine only if the file ends here. */
			do
				r = read(fd, &probe, 1);
			while (r < 0 && errno == EINTR);
			if (r != 0) {
				explicit_bzero(&probe, sizeof(probe));
				error_set(err, "%s: the key file is bigger than the %zu bytes expected",
					  path, bufsize);
				goto fail;
			}
			break;
		}
		r = read(fd, buf + n, bufsize - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			error_set(err, "%s: cannot read the key file: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	/* The file may have changed since fstat(): check the bytes actually read. */
	if (n < CONF_KEY_MIN || n > CONF_KEY_MAX) {
		error_set(err, "%s: read %zu bytes from the key file; it must have %d..%d",
			  path, n, CONF_KEY_MIN, CONF_KEY_MAX);
		goto fail;
	}
	close(fd);
	*len = n;
	return 0;
fail:
	explicit_bzero(buf, bufsize);
	close(fd);
	return -1;
}

const char *conf_transport_name(enum conf_transport t)
{
	const char *n = word_name(transports, t);

	return n ? n : "?";
}

const char *conf_log_level_name(int level)
{
	const char *n = level >= 0 ? word_name(log_levels, (unsigned)level) : NULL;

	return n ? n : "?";
}

const char *conf_addr_format(const struct conf_addr *a, char *buf, size_t size)
{
	const void *bin = a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6;

	if (!inet_ntop(a->family, bin, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

static void dump_path(FILE *out, const char *key, const char *v)
{
	bool quote = strchr(v, ' ') != NULL;	/* parse_path() refused tabs and quotes */

	fprintf(out, "\t%s=%s%s%s\n", key, quote ? "\"" : "", v, quote ? "\"" : "");
}

static void dump_addrs(FILE *out, const char *key, const struct conf_addr *list, unsigned n)
{
	char buf[INET6_ADDRSTRLEN];

	fprintf(out, "\t%s=", key);
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? "," : "", conf_addr_format(&list[i], buf, sizeof(buf)));
	fputc('\n', out);
}

static void dump_duration(FILE *out, const char *key, uint32_t ms)
{
	char buf[32];

	fprintf(out, "\t%s=%s\n", key, duration_format(ms, buf, sizeof(buf)));
}

void conf_dump(const struct conf *c, FILE *out)
{
	char buf[INET6_ADDRSTRLEN];

	fprintf(out, "# effective hasyncd configuration, defaults filled in\n");
	fprintf(out, "config setup\n");
	fprintf(out, "\tnode-id=%s\n", c->node_id);
	dump_path(out, "control-socket", c->control_socket);
	fprintf(out, "\tlog-level=%s\n", conf_log_level_name(c->log_level));
	fprintf(out, "\tprivate-debug=%s\n", c->private_debug ? "yes" : "no");
	dump_path(out, "pluto-ha-socket", c->pluto_ha_socket);
	if (c->notify_fifo[0])
		dump_path(out, "notify-fifo", c->notify_fifo);
	else
		fprintf(out, "\t# notify-fifo is not set: keepalived's events come through hasyncctl notify\n");

	fprintf(out, "\nsync\n");
	fprintf(out, "\ttransport=%s\n", conf_transport_name(c->transport));
	if (c->n_local)
		dump_addrs(out, "local", c->local, c->n_local);
	else
		fprintf(out, "\t# local is not set: the kernel picks the source address\n");
	dump_addrs(out, "remote", c->remote, c->n_remote);
	fprintf(out, "\tport=%u\n", c->port);
	fprintf(out, "\tstreams=%u\n", c->streams);
	/* Only the path is known here; the key itself is read later and never printed. */
	dump_path(out, "key-file", c->key_file);
	fprintf(out, "\treplay-interval-inbound=%" PRIu32 "\n", c->replay_interval_in);
	fprintf(out, "\treplay-interval-outbound=%" PRIu32 "\n", c->replay_interval_out);
	dump_duration(out, "counter-timer", c->counter_timer_ms);
	dump_duration(out, "heartbeat", c->heartbeat_ms);
	dump_duration(out, "dead-time", c->dead_time_ms);
	fprintf(out, "\tresend-queue=%" PRIu32 "\n", c->resend_queue);
	dump_duration(out, "reconnect-min", c->reconnect_min_ms);
	dump_duration(out, "reconnect-max", c->reconnect_max_ms);

	for (unsigned i = 0; i < c->n_vips; i++) {
		const struct conf_vip *v = &c->vips[i];
		const char *table = word_name(route_tables, v->route_table);
		const char *proto = word_name(route_protocols, v->route_protocol);

		fprintf(out, "\nvip %s\n", v->name);
		fprintf(out, "\taddress=%s\n", conf_addr_format(&v->address, buf, sizeof(buf)));
		fprintf(out, "\tinstance=%s\n", v->instance);
		fprintf(out, "\trri=%s\n", v->rri ? "yes" : "no");
		if (table)
			fprintf(out, "\troute-table=%s\n", table);
		else
			fprintf(out, "\troute-table=%" PRIu32 "\n", v->route_table);
		fprintf(out, "\troute-metric=%" PRIu32 "\n", v->route_metric);
		if (proto)
			fprintf(out, "\troute-protocol=%s\n", proto);
		else
			fprintf(out, "\troute-protocol=%u\n", v->route_protocol);
	}
}
