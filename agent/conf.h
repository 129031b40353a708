/* conf.h: /etc/hasyncd.conf parsed into struct conf (pure), plus the key file checks. */
#ifndef HASYNC_CONF_H
#define HASYNC_CONF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_PATH_DEFAULT	"/etc/hasyncd.conf"
#define CONF_LINE_MAX		1024	/* bytes per line, without the line end */
#define CONF_FILE_MAX		(1024 * 1024)	/* conf_load() refuses bigger files */
#define CONF_VIPS_MAX		64
#define CONF_PATHS_MAX		2	/* sync address pairs (SCTP multi-homing) */
#define CONF_NAME_MAX		64	/* node-id, vip names, instances: 63 chars + NUL */
#define CONF_SOCKPATH_MAX	108	/* sizeof(sun_path), NUL included */
#define CONF_FILEPATH_MAX	CONF_LINE_MAX
#define CONF_ERROR_MAX		512
#define CONF_KEY_MIN		32	/* key file size bounds, in bytes */
#define CONF_KEY_MAX		1024
#define CONF_ROUTE_PROTO_DEFAULT 201	/* "hasync"; unused by iproute2, FRR, bird */

enum conf_transport {
	CONF_TRANSPORT_SCTP,
	CONF_TRANSPORT_TCP,
};

/* Same layout as struct ha_addr in sa.h, so conversion is a field copy. */
struct conf_addr {
	uint8_t family;		/* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

struct conf_vip {
	char name[CONF_NAME_MAX];
	struct conf_addr address;
	char instance[CONF_NAME_MAX];	/* keepalived vrrp_instance or vrrp_sync_group */
	bool rri;
	uint32_t route_table;		/* 254 main, 255 local, 253 default */
	uint32_t route_metric;
	uint8_t route_protocol;
};

struct conf {
	/* config setup */
	char node_id[CONF_NAME_MAX + 1];	/* a host name may have 64 chars */
	char control_socket[CONF_SOCKPATH_MAX];
	int log_level;				/* LOG_ERR .. LOG_DEBUG */
	bool private_debug;
	char pluto_ha_socket[CONF_SOCKPATH_MAX];
	char notify_fifo[CONF_FILEPATH_MAX];		/* keepalived's notify FIFO; "" = not read */

	/* sync */
	enum conf_transport transport;
	struct conf_addr local[CONF_PATHS_MAX];	/* n_local == 0: any address */
	unsigned n_local;
	struct conf_addr remote[CONF_PATHS_MAX];
	unsigned n_remote;
	uint16_t port;
	unsigned streams;
	char key_file[CONF_FILEPATH_MAX];
	uint32_t replay_interval_in;		/* packets */
	uint32_t replay_interval_out;
	uint32_t counter_timer_ms;
	uint32_t heartbeat_ms;
	uint32_t dead_time_ms;
	uint32_t resend_queue;			/* records */
	uint32_t reconnect_min_ms;
	uint32_t reconnect_max_ms;

	struct conf_vip vips[CONF_VIPS_MAX];
	unsigned n_vips;
};

/*
 * The first error found, already formatted as
 * "FILE:LINE: SECTION/KEY: what is wrong" (the key part is left out when
 * the error is about a line, not a key). line is 0 for errors not tied to
 * a line (file unreadable, key file checks).
 */
struct conf_error {
	unsigned line;
	char msg[CONF_ERROR_MAX];
};

/*
 * Parse a whole configuration held in memory; name is the file name used
 * in errors. Returns 0 and a new struct conf in *out, or -1, *out NULL and
 * the first error in *err: a config is applied whole or not at all. Pure
 * except that an unset node-id takes the host name (gethostname(2)).
 */
int conf_parse_buffer(const char *name, const char *text, size_t len,
		      struct conf **out, struct conf_error *err);

/* Read path (at most CONF_FILE_MAX bytes) and parse it like conf_parse_buffer(). */
int conf_load(const char *path, struct conf **out, struct conf_error *err);

void conf_free(struct conf *c);

/* Write the effective config, defaults filled in, in the file's own syntax. */
void conf_dump(const struct conf *c, FILE *out);

/*
 * The key file must be a regular file owned by root, with no group or
 * other permission bits, of CONF_KEY_MIN..CONF_KEY_MAX bytes. Symbolic
 * links are followed: the checks apply to the file actually read.
 */
int conf_check_key_file(const char *path, struct conf_error *err);

/*
 * Check the key file as above and read it into buf (bufsize >= its size;
 * CONF_KEY_MAX is always enough). The caller wipes buf with explicit_bzero()
 * after use; on error buf is wiped here.
 */
int conf_read_key_file(const char *path, uint8_t *buf, size_t bufsize,
		       size_t *len, struct conf_error *err);

const char *conf_transport_name(enum conf_transport t);
const char *conf_log_level_name(int level);
/* Format an address like inet_ntop(); buf needs INET6_ADDRSTRLEN bytes. */
const char *conf_addr_format(const struct conf_addr *a, char *buf, size_t size);

#endif
