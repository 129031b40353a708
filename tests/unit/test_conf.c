/* test_conf.c: unit tests for the hasyncd.conf parser, conf_dump() and the key file checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"

#define NAME "/etc/hasyncd.conf"

/* The example from the design brief, word for word. */
static const char example[] =
	"config setup\n"
	"\tnode-id=gw1                        # default: the host name\n"
	"\tcontrol-socket=/run/hasyncd/ctl.sock\n"
	"\tlog-level=info                     # err|warning|notice|info|debug\n"
	"\tprivate-debug=no                   # yes|no: only then may keys be logged\n"
	"\tpluto-ha-socket=/run/pluto/ha.ctl  # used by a later issue; accept it\n"
	"\n"
	"sync\n"
	"\ttransport=sctp                     # sctp|tcp\n"
	"\tlocal=10.9.0.1,10.9.1.1            # 1 or 2 addresses\n"
	"\tremote=10.9.0.2,10.9.1.2           # 1 or 2 addresses\n"
	"\tport=7788                          # 1..65535\n"
	"\tstreams=8                          # 1..64 SCTP streams\n"
	"\tkey-file=/etc/hasyncd.key          # pre-shared key; mandatory\n"
	"\treplay-interval-inbound=1000       # packets\n"
	"\treplay-interval-outbound=100000    # packets\n"
	"\tcounter-timer=1s                   # XFRM aevent timer\n"
	"\theartbeat=1s                       # 100ms..60s\n"
	"\tdead-time=3s                       # > heartbeat\n"
	"\tresend-queue=65536                 # records kept unacked\n"
	"\treconnect-min=100ms\n"
	"\treconnect-max=5s\n"
	"\n"
	"vip outside                            # one section per VIP we sync\n"
	"\taddress=192.0.2.1                  # the VIP\n"
	"\tinstance=VI_OUTSIDE                # keepalived vrrp_instance\n"
	"\trri=yes                            # reverse route injection\n"
	"\troute-table=main                   # main|local|default|1..4294967295\n"
	"\troute-metric=100                   # 0..4294967295\n"
	"\troute-protocol=hasync              # name or 0..255\n";

/* The least a valid config holds: everything else has a default. */
static const char minimal[] =
	"sync\n"
	"\tremote=10.9.0.2\n"
	"\tkey-file=/etc/hasyncd.key\n"
	"vip outside\n"
	"\taddress=192.0.2.1\n";

static struct conf *parse_ok(const char *text)
{
	struct conf_error err;
	struct conf *c = NULL;
	int r = conf_parse_buffer(NAME, text, strlen(text), &c, &err);

	if (r != 0)
		fail_msg("unexpected error: %s", err.msg);
	assert_non_null(c);
	return c;
}

static void addr_is(const struct conf_addr *a, int family, const char *text)
{
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(a->family, family);
	assert_string_equal(conf_addr_format(a, buf, sizeof(buf)), text);
}

static void test_example(void **state)
{
	struct conf *c = parse_ok(example);
	const struct conf_vip *v = &c->vips[0];

	assert_string_equal(c->node_id, "gw1");
	assert_string_equal(c->control_socket, "/run/hasyncd/ctl.sock");
	assert_int_equal(c->log_level, LOG_INFO);
	assert_false(c->private_debug);
	assert_string_equal(c->pluto_ha_socket, "/run/pluto/ha.ctl");
	assert_int_equal(c->transport, CONF_TRANSPORT_SCTP);
	assert_int_equal(c->n_local, 2);
	addr_is(&c->local[0], AF_INET, "10.9.0.1");
	addr_is(&c->local[1], AF_INET, "10.9.1.1");
	assert_int_equal(c->n_remote, 2);
	addr_is(&c->remote[0], AF_INET, "10.9.0.2");
	addr_is(&c->remote[1], AF_INET, "10.9.1.2");
	assert_int_equal(c->port, 7788);
	assert_int_equal(c->streams, 8);
	assert_string_equal(c->key_file, "/etc/hasyncd.key");
	assert_int_equal(c->replay_interval_in, 1000);
	assert_int_equal(c->replay_interval_out, 100000);
	assert_int_equal(c->counter_timer_ms, 1000);
	assert_int_equal(c->heartbeat_ms, 1000);
	assert_int_equal(c->dead_time_ms, 3000);
	assert_int_equal(c->resend_queue, 65536);
	assert_int_equal(c->reconnect_min_ms, 100);
	assert_int_equal(c->reconnect_max_ms, 5000);
	assert_int_equal(c->n_vips, 1);
	assert_string_equal(v->name, "outside");
	addr_is(&v->address, AF_INET, "192.0.2.1");
	assert_string_equal(v->instance, "VI_OUTSIDE");
	assert_true(v->rri);
	assert_int_equal(v->route_table, 254);
	assert_int_equal(v->route_metric, 100);
	assert_int_equal(v->route_protocol, 201);
	conf_free(c);
}

static void test_defaults(void **state)
{
	struct conf *c = parse_ok(minimal);
	const struct conf_vip *v = &c->vips[0];
	char host[256] = "";

	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(c->node_id, host);
	assert_string_equal(c->control_socket, "/run/hasyncd/ctl.sock");
	assert_int_equal(c->log_level, LOG_INFO);
	assert_false(c->private_debug);
	assert_string_equal(c->pluto_ha_socket, "/run/pluto/ha.ctl");
	assert_string_equal(c->notify_fifo, "");	/* off: events come through hasyncctl notify */
	assert_int_equal(c->transport, CONF_TRANSPORT_SCTP);
	assert_int_equal(c->n_local, 0);
	assert_int_equal(c->n_remote, 1);
	addr_is(&c->remote[0], AF_INET, "10.9.0.2");
	assert_int_equal(c->port, 7788);
	assert_int_equal(c->streams, 8);
	assert_int_equal(c->replay_interval_in, 1000);
	assert_int_equal(c->replay_interval_out, 100000);
	assert_int_equal(c->counter_timer_ms, 1000);
	assert_int_equal(c->heartbeat_ms, 1000);
	assert_int_equal(c->dead_time_ms, 3000);
	assert_int_equal(c->resend_queue, 65536);
	assert_int_equal(c->reconnect_min_ms, 100);
	assert_int_equal(c->reconnect_max_ms, 5000);
	assert_int_equal(c->n_vips, 1);
	assert_string_equal(v->name, "outside");
	assert_string_equal(v->instance, "outside");	/* defaults to the vip's name */
	assert_false(v->rri);
	assert_int_equal(v->route_table, 254);
	assert_int_equal(v->route_metric, 0);
	assert_int_equal(v->route_protocol, CONF_ROUTE_PROTO_DEFAULT);
	conf_free(c);
}

/* Every value form each key takes, with what it stores. */
static void test_values(void **state)
{
	struct conf *c = parse_ok(
		"config setup\n"
		"\tlog-level=debug\n"
		"\tprivate-debug=yes\n"
		"sync\n"
		"\ttransport=tcp\n"
		"\tremote=10.9.0.2\n"
		"\tkey-file=/etc/a#b\n"		/* '#' not after a blank: part of the value */
		"\tport=65535\n"
		"\tstreams=64\n"
		"\treplay-interval-inbound=2147483648\n"
		"\treplay-interval-outbound=1\n"
		"\tcounter-timer=1h\n"
		"\theartbeat=100ms\n"
		"\tdead-time=2m\n"
		"\tresend-queue=4194304\n"
		"\treconnect-min=10ms\n"
		"\treconnect-max=10m\n"
		"vip a\n"
		"\taddress=192.0.2.1\n"
		"\troute-table=local\n"
		"\troute-metric=4294967295\n"
		"\troute-protocol=0\n"
		"vip b\n"
		"\taddress=192.0.2.2\n"
		"\troute-table=default\n"
		"\troute-protocol=bird\n"
		"vip c\n"
		"\taddress=192.0.2.3\n"
		"\troute-table=4294967295\n"
		"\troute-protocol=255\n"
		"\trri=no\n");

	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_true(c->private_debug);
	assert_int_equal(c->transport, CONF_TRANSPORT_TCP);
	assert_string_equal(c->key_file, "/etc/a#b");
	assert_int_equal(c->port, 65535);
	assert_int_equal(c->streams, 64);
	assert_int_equal(c->replay_interval_in, 2147483648u);
	assert_int_equal(c->replay_interval_out, 1);
	assert_int_equal(c->counter_timer_ms, 3600000);
	assert_int_equal(c->heartbeat_ms, 100);
	assert_int_equal(c->dead_time_ms, 120000);
	assert_int_equal(c->resend_queue, 4194304);
	assert_int_equal(c->reconnect_min_ms, 10);
	assert_int_equal(c->reconnect_max_ms, 600000);
	assert_int_equal(c->n_vips, 3);
	assert_int_equal(c->vips[0].route_table, 255);
	assert_int_equal(c->vips[0].route_metric, 4294967295u);
	assert_int_equal(c->vips[0].route_protocol, 0);
	assert_int_equal(c->vips[1].route_table, 253);
	assert_int_equal(c->vips[1].route_protocol, 12);
	assert_int_equal(c->vips[2].route_table, 4294967295u);
	assert_int_equal(c->vips[2].route_protocol, 255);
	assert_false(c->vips[2].rri);
	conf_free(c);
}

struct bad {
	const char *text;
	const char *msg;
	unsigned line;
};

#define SYNC_OK "sync\n\tremote=10.9.0.2\n\tkey-file=/etc/hasyncd.key\n"	/* lines 1..3 */
#define VIP_OK "vip outside\n\taddress=192.0.2.1\n"				/* 2 lines */

static const struct bad bad[] = {
	/* duplicated key in one section */
	{ SYNC_OK "\tport=1\n\tport=2\n" VIP_OK,
	  NAME ":5: sync/port: duplicate key (first on line 4)", 5 },
	{ SYNC_OK VIP_OK "\trri=yes\n\trri=no\n",
	  NAME ":7: vip outside/rri: duplicate key (first on line 6)", 7 },
	/* the same key in two vips is fine, the same section twice is not */
	{ "config setup\n\tnode-id=a\n" SYNC_OK "config setup\n",
	  NAME ":6: config setup: duplicate section (first on line 1)", 6 },
	{ SYNC_OK VIP_OK "sync\n",
	  NAME ":6: sync: duplicate section (first on line 1)", 6 },
	/* duplicate vip name or address */
	{ SYNC_OK VIP_OK "vip outside\n",
	  NAME ":6: vip: duplicate vip name \"outside\" (first on line 4)", 6 },
	{ SYNC_OK VIP_OK "vip other\n\taddress=192.0.2.1\n",
	  NAME ":7: vip other/address: 192.0.2.1 is already the address of vip outside (line 5)", 7 },
	{ SYNC_OK "vip a\n\taddress=2001:db8::1\nvip b\n\taddress=2001:DB8:0::1\n",
	  NAME ":7: vip b/address: 2001:db8::1 is already the address of vip a (line 5)", 7 },
	/* unknown section */
	{ SYNC_OK VIP_OK "conn foo\n",
	  NAME ":6: unknown section \"conn foo\" (expected config setup, sync or vip NAME)", 6 },
	{ "config\n", NAME ":1: unknown section \"config\" (expected config setup, sync or vip NAME)", 1 },
	{ "sync extra\n", NAME ":1: unknown section \"sync extra\" (expected config setup, sync or vip NAME)", 1 },
	{ "vip\n", NAME ":1: vip: the section needs a name: vip NAME", 1 },
	{ "vip a b\n", NAME ":1: vip: \"vip a b\": one name only, without blanks", 1 },
	{ "vip \"a\"\n", NAME ":1: vip: \"\"a\"\" is not a name of 1..63 letters, digits, '.', '_' or '-'", 1 },
	{ "vip a/b\n", NAME ":1: vip: \"a/b\" is not a name of 1..63 letters, digits, '.', '_' or '-'", 1 },
	/* unknown key, in each kind of section */
	{ SYNC_OK "\tprot=1\n" VIP_OK, NAME ":4: sync/prot: unknown key", 4 },
	{ "config setup\n\tPort=1\n", NAME ":2: config setup/Port: unknown key", 2 },
	{ "config setup\n\tport=1\n", NAME ":2: config setup/port: unknown key", 2 },
	{ SYNC_OK VIP_OK "\tmetric=1\n", NAME ":6: vip outside/metric: unknown key", 6 },
	/* key outside a section */
	{ "\tport=1\n" SYNC_OK, NAME ":1: port: key outside a section (indented lines follow a section header)", 1 },
	{ "# comment\n\n  port = 1\n", NAME ":3: port: key outside a section (indented lines follow a section header)", 3 },
	{ "port=1\n", NAME ":1: \"port=1\": key=value lines must be indented under a section", 1 },
	/* syntax */
	{ SYNC_OK "\tport\n", NAME ":4: \"port\": expected key=value", 4 },
	{ SYNC_OK "\t=1\n", NAME ":4: a key is missing before '='", 4 },
	{ SYNC_OK "\tport=\n", NAME ":4: sync/port: empty value", 4 },
	{ SYNC_OK "\tport=\"\"\n", NAME ":4: sync/port: empty value", 4 },
	{ SYNC_OK "\tport=\"1\n", NAME ":4: sync/port: unterminated quoted value", 4 },
	{ SYNC_OK "\tport=\"1\"2\n", NAME ":4: sync/port: unexpected text after the closing quote", 4 },
	{ SYNC_OK "\tport=1 2\n",
	  NAME ":4: sync/port: unexpected text after the value: \"2\" (quote values with blanks)", 4 },
	{ SYNC_OK "\tport=1\x01\n", NAME ":4: control character 0x01 in column 8", 4 },
	{ SYNC_OK "\tport=1\r2\n", NAME ":4: control character 0x0d in column 8", 4 },
	{ "sync\n\tport=7\0\n", NAME ":2: control character 0x00 in column 8", 2 },
	/* bad values */
	{ "config setup\n\tlog-level=verbose\n",
	  NAME ":2: config setup/log-level: \"verbose\" is not one of err|warning|notice|info|debug", 2 },
	{ "config setup\n\tprivate-debug=true\n",
	  NAME ":2: config setup/private-debug: \"true\" is not one of yes|no", 2 },
	{ "config setup\n\tnode-id=gw 1\n",
	  NAME ":2: config setup/node-id: unexpected text after the value: \"1\" (quote values with blanks)", 2 },
	{ "config setup\n\tnode-id=\"gw 1\"\n",
	  NAME ":2: config setup/node-id: \"gw 1\" is not a name of 1..64 letters, digits, '.', '_' or '-'", 2 },
	{ "config setup\n\tcontrol-socket=run/ctl.sock\n",
	  NAME ":2: config setup/control-socket: \"run/ctl.sock\" is not an absolute path", 2 },
	{ "config setup\n\tnotify-fifo=run/keepalived.fifo\n" SYNC_OK VIP_OK,
	  NAME ":2: config setup/notify-fifo: \"run/keepalived.fifo\" is not an absolute path", 2 },
	{ "config setup\n\tnotify-fifo=\n" SYNC_OK VIP_OK,
	  NAME ":2: config setup/notify-fifo: empty value", 2 },
	{ "config setup\n\tcontrol-socket=/run/hasyncd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  NAME ":2: config setup/control-socket: \"/run/hasyncd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" "
	  "is too long (at most 107 bytes)", 2 },
	{ "sync\n\tkey-file=/etc/a\"b\n",
	  NAME ":2: sync/key-file: \"/etc/a\"b\": paths may hold printable ASCII only, without '\"'", 2 },
	{ "sync\n\ttransport=udp\n", NAME ":2: sync/transport: \"udp\" is not one of sctp|tcp", 2 },
	{ "sync\n\tport=http\n", NAME ":2: sync/port: \"http\" is not a number", 2 },
	{ "sync\n\tport=-1\n", NAME ":2: sync/port: \"-1\" is not a number", 2 },
	{ "sync\n\tport=0x10\n", NAME ":2: sync/port: \"0x10\" is not a number", 2 },
	{ "sync\n\theartbeat=5\n", NAME ":2: sync/heartbeat: \"5\" needs a unit: ms, s, m or h", 2 },
	{ "sync\n\theartbeat=5sec\n",
	  NAME ":2: sync/heartbeat: \"5sec\" is not a duration (a number and ms, s, m or h)", 2 },
	{ "sync\n\theartbeat=s\n",
	  NAME ":2: sync/heartbeat: \"s\" is not a duration (a number and ms, s, m or h)", 2 },
	{ "sync\n\tremote=gw2\n", NAME ":2: sync/remote: \"gw2\" is not an IPv4 or IPv6 address", 2 },
	{ "sync\n\tremote=10.9.0.2,\n", NAME ":2: sync/remote: \"10.9.0.2,\" has an empty address", 2 },
	{ "sync\n\tremote=1.1.1.1,2.2.2.2,3.3.3.3\n",
	  NAME ":2: sync/remote: \"1.1.1.1,2.2.2.2,3.3.3.3\" has more than 2 addresses", 2 },
	{ "sync\n\tremote=10.9.0.2,2001:db8::2\n",
	  NAME ":2: sync/remote: \"10.9.0.2,2001:db8::2\" mixes IPv4 and IPv6", 2 },
	{ "sync\n\tlocal=10.9.0.1,10.9.0.1\n",
	  NAME ":2: sync/local: \"10.9.0.1,10.9.0.1\" lists the same address twice", 2 },
	{ "sync\n\tremote=fe80::1%eth0\n",
	  NAME ":2: sync/remote: \"fe80::1%eth0\": scoped IPv6 addresses are not supported", 2 },
	{ "sync\n\tremote=0.0.0.0\n", NAME ":2: sync/remote: \"0.0.0.0\" is not a unicast address", 2 },
	{ "vip a\n\taddress=ff02::1\n", NAME ":2: vip a/address: \"ff02::1\" is not a unicast address", 2 },
	{ "vip a\n\taddress=224.0.0.18\n", NAME ":2: vip a/address: \"224.0.0.18\" is not a unicast address", 2 },
	{ "vip a\n\tinstance=VI 1\n",
	  NAME ":2: vip a/instance: unexpected text after the value: \"1\" (quote values with blanks)", 2 },
	{ "vip a\n\troute-table=inside\n",
	  NAME ":2: vip a/route-table: \"inside\" is not main, local, default or 1..4294967295", 2 },
	{ "vip a\n\troute-protocol=frr\n",
	  NAME ":2: vip a/route-protocol: \"frr\" is neither 0..255 nor a protocol name listed in hasyncd.conf(5)", 2 },
	/* out of range */
	{ SYNC_OK "\tport=70000\n", NAME ":4: sync/port: \"70000\" is out of range 1..65535", 4 },
	{ "sync\n\tport=0\n", NAME ":2: sync/port: \"0\" is out of range 1..65535", 2 },
	{ "sync\n\tport=99999999999999999999999\n",
	  NAME ":2: sync/port: \"99999999999999999999999\" is out of range 1..65535", 2 },
	{ "sync\n\tstreams=65\n", NAME ":2: sync/streams: \"65\" is out of range 1..64", 2 },
	{ "sync\n\tstreams=0\n", NAME ":2: sync/streams: \"0\" is out of range 1..64", 2 },
	{ "sync\n\treplay-interval-inbound=2147483649\n",
	  NAME ":2: sync/replay-interval-inbound: \"2147483649\" is out of range 1..2147483648", 2 },
	{ "sync\n\treplay-interval-outbound=0\n",
	  NAME ":2: sync/replay-interval-outbound: \"0\" is out of range 1..2147483648", 2 },
	{ "sync\n\tcounter-timer=99ms\n", NAME ":2: sync/counter-timer: \"99ms\" is out of range 100ms..1h", 2 },
	{ "sync\n\tcounter-timer=61m\n", NAME ":2: sync/counter-timer: \"61m\" is out of range 100ms..1h", 2 },
	{ "sync\n\theartbeat=61s\n", NAME ":2: sync/heartbeat: \"61s\" is out of range 100ms..1m", 2 },
	{ "sync\n\theartbeat=99999999999999999999h\n",
	  NAME ":2: sync/heartbeat: \"99999999999999999999h\" is out of range 100ms..1m", 2 },
	{ "sync\n\theartbeat=9999999999999999h\n",
	  NAME ":2: sync/heartbeat: \"9999999999999999h\" is out of range 100ms..1m", 2 },
	{ "sync\n\tresend-queue=1023\n", NAME ":2: sync/resend-queue: \"1023\" is out of range 1024..4194304", 2 },
	{ "sync\n\treconnect-min=1ms\n", NAME ":2: sync/reconnect-min: \"1ms\" is out of range 10ms..1m", 2 },
	{ "vip a\n\troute-metric=4294967296\n",
	  NAME ":2: vip a/route-metric: \"4294967296\" is out of range 0..4294967295", 2 },
	{ "vip a\n\troute-table=0\n",
	  NAME ":2: vip a/route-table: \"0\" is not main, local, default or 1..4294967295", 2 },
	{ "vip a\n\troute-protocol=256\n",
	  NAME ":2: vip a/route-protocol: \"256\" is neither 0..255 nor a protocol name listed in hasyncd.conf(5)", 2 },
	/* what the whole file must hold */
	{ "", NAME ":1: sync/remote: missing; the peer's address is mandatory", 1 },
	{ "# nothing\n\nconfig setup\n", NAME ":3: sync/remote: missing; the peer's address is mandatory", 3 },
	{ "config setup\nsync\n\tport=1\n" VIP_OK,
	  NAME ":2: sync/remote: missing; the peer's address is mandatory", 2 },
	{ "sync\n\tremote=10.9.0.2\n" VIP_OK,
	  NAME ":1: sync/key-file: missing; a pre-shared key file is mandatory", 1 },
	{ SYNC_OK, NAME ":3: vip: none configured; at least one vip section is needed", 3 },
	{ SYNC_OK VIP_OK "vip b\n\tinstance=VI_B\n",
	  NAME ":6: vip b/address: missing; every vip needs its address", 6 },
	{ SYNC_OK "\tlocal=2001:db8::1\n" VIP_OK,
	  NAME ":4: sync/local: 2001:db8::1 and 10.9.0.2 are not the same address family", 4 },
	{ "sync\n\tlocal=2001:db8::1\n\tremote=10.9.0.2\n\tkey-file=/k\n" VIP_OK,
	  NAME ":3: sync/remote: 2001:db8::1 and 10.9.0.2 are not the same address family", 3 },
	{ SYNC_OK "\tdead-time=1s\n" VIP_OK,
	  NAME ":4: sync/dead-time: dead-time (1s) must be longer than heartbeat (1s)", 4 },
	{ SYNC_OK "\theartbeat=5s\n" VIP_OK,
	  NAME ":4: sync/heartbeat: dead-time (3s) must be longer than heartbeat (5s)", 4 },
	{ SYNC_OK "\treconnect-max=500ms\n\treconnect-min=1s\n" VIP_OK,
	  NAME ":4: sync/reconnect-max: reconnect-max (500ms) must not be shorter than reconnect-min (1s)", 4 },
	{ SYNC_OK "\treconnect-min=6s\n" VIP_OK,
	  NAME ":4: sync/reconnect-min: reconnect-max (5s) must not be shorter than reconnect-min (6s)", 4 },
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct conf_error err;
		struct conf *c = (struct conf *)&err;	/* must come back NULL */
		/* One case holds a NUL byte: its length is not strlen(). */
		size_t len = strlen(bad[i].text);

		if (strstr(bad[i].msg, "0x00"))
			len += 2;
		if (conf_parse_buffer(NAME, bad[i].text, len, &c, &err) == 0)
			fail_msg("case %zu parsed: %s", i, bad[i].text);
		assert_null(c);
		if (strcmp(err.msg, bad[i].msg))
			fail_msg("case %zu:\n got  %s\n want %s", i, err.msg, bad[i].msg);
		assert_int_equal(err.line, bad[i].line);
	}
}

static void test_line_too_long(void **state)
{
	char text[2200], *p = text;
	struct conf_error err;
	struct conf *c;

	p += sprintf(p, SYNC_OK "\tkey-file=/");
	/* line 4: "\tkey-file=/" is 11 bytes; pad to exactly 1024, then 1025 */
	memset(p, 'a', 1024 - 11);
	p += 1024 - 11;
	strcpy(p, "\r\n" VIP_OK);
	/* 1024 bytes (the CR does not count) are accepted, up to the duplicate key */
	assert_int_equal(conf_parse_buffer(NAME, text, strlen(text), &c, &err), -1);
	assert_string_equal(err.msg, NAME ":4: sync/key-file: duplicate key (first on line 3)");

	memmove(p + 1, p, strlen(p) + 1);
	*p = 'a';
	assert_int_equal(conf_parse_buffer(NAME, text, strlen(text), &c, &err), -1);
	assert_null(c);
	assert_string_equal(err.msg, NAME ":4: line too long (1025 bytes, at most 1024)");
	assert_int_equal(err.line, 4);

	/* the same without a final newline */
	snprintf(text, sizeof(text), "config setup\n#%01100d", 0);
	assert_int_equal(conf_parse_buffer(NAME, text, strlen(text), &c, &err), -1);
	assert_string_equal(err.msg, NAME ":2: line too long (1101 bytes, at most 1024)");
}

static void test_too_many_vips(void **state)
{
	char *text = malloc(65 * 64 + 256), *p = text;
	struct conf_error err;
	struct conf *c;

	p += sprintf(p, SYNC_OK);
	for (int i = 0; i < 64; i++)
		p += sprintf(p, "vip v%d\n\taddress=10.1.%d.%d\n", i, i / 8, i % 8 + 1);
	c = parse_ok(text);
	assert_int_equal(c->n_vips, 64);
	addr_is(&c->vips[63].address, AF_INET, "10.1.7.8");
	conf_free(c);

	sprintf(p, "vip v64\n\taddress=10.1.9.1\n");
	assert_int_equal(conf_parse_buffer(NAME, text, strlen(text), &c, &err), -1);
	assert_null(c);
	assert_string_equal(err.msg, NAME ":132: vip: too many vip sections (at most 64)");
	free(text);
}

/* A valid file with one mistake on its last line yields nothing at all. */
static void test_late_error(void **state)
{
	size_t n = strlen(example);
	char *text = malloc(n + 64);
	struct conf_error err;
	struct conf *c = (struct conf *)text;

	memcpy(text, example, n);
	strcpy(text + n, "vip late\n\troute-metric=-1\n");
	assert_int_equal(conf_parse_buffer(NAME, text, strlen(text), &c, &err), -1);
	assert_null(c);
	assert_string_equal(err.msg, NAME ":32: vip late/route-metric: \"-1\" is not a number");
	free(text);
}

static void assert_conf_equal(const struct conf *a, const struct conf *b)
{
	/* Both start from memset() and only fields are written, so padding compares too. */
	assert_memory_equal(a, b, sizeof(*a));
}

/* CRLF line ends, spaces instead of tabs, blanks around '=': the same config. */
static void test_crlf_and_blanks(void **state)
{
	size_t n = strlen(example);
	char *crlf = malloc(2 * n + 1), *spaces = malloc(8 * n + 1);
	char *p = crlf, *q = spaces;
	struct conf *ref = parse_ok(example), *c;

	for (size_t i = 0; i < n; i++) {
		if (example[i] == '\n')
			*p++ = '\r';
		*p++ = example[i];
		if (example[i] == '\t') {
			memcpy(q, "    ", 4);
			q += 4;
		} else if (example[i] == '=') {
			memcpy(q, " = ", 3);
			q += 3;
		} else {
			*q++ = example[i];
		}
	}
	*p = *q = '\0';
	c = parse_ok(crlf);
	assert_conf_equal(ref, c);
	conf_free(c);
	c = parse_ok(spaces);
	assert_conf_equal(ref, c);
	conf_free(c);
	conf_free(ref);
	free(crlf);
	free(spaces);

	/* Mixed indentation, a UTF-8 byte order mark, no final newline. */
	c = parse_ok("\xef\xbb\xbfsync\r\n \t remote=10.9.0.2\n\t  key-file=/k\r\n"
		     "# a comment at column 0\n   # an indented comment\n\t\n"
		     "vip a # the comment after a header\n\taddress=192.0.2.1\t# and a tab");
	addr_is(&c->remote[0], AF_INET, "10.9.0.2");
	assert_string_equal(c->key_file, "/k");
	addr_is(&c->vips[0].address, AF_INET, "192.0.2.1");
	conf_free(c);
}

static void test_quoted_values(void **state)
{
	struct conf *c = parse_ok(
		"config setup\n"
		"\tnode-id=\"gw1\"\n"
		"\tcontrol-socket=\"/run/has yncd/ctl#sock\" # a comment\n"
		"sync\n"
		"\tremote=\"10.9.0.2 , 10.9.1.2\"\n"
		"\tlocal=\"10.9.0.1,10.9.1.1\"\n"
		"\tkey-file=\"/etc/my keys/ha.key\"\n"
		"\tport=\"7789\"\n"
		"\theartbeat=\"500ms\"\n"
		"vip a\n"
		"\taddress=\"192.0.2.1\"\n"
		"\tinstance=\"VI_1\"\n");

	assert_string_equal(c->node_id, "gw1");
	assert_string_equal(c->control_socket, "/run/has yncd/ctl#sock");
	assert_int_equal(c->n_remote, 2);
	addr_is(&c->remote[1], AF_INET, "10.9.1.2");
	assert_int_equal(c->n_local, 2);
	assert_string_equal(c->key_file, "/etc/my keys/ha.key");
	assert_int_equal(c->port, 7789);
	assert_int_equal(c->heartbeat_ms, 500);
	addr_is(&c->vips[0].address, AF_INET, "192.0.2.1");
	assert_string_equal(c->vips[0].instance, "VI_1");
	conf_free(c);
}

static void test_ipv6(void **state)
{
	struct conf *c = parse_ok(
		"sync\n"
		"\tlocal=2001:db8:9::1,2001:db8:9:1::1\n"
		"\tremote=2001:DB8:9::2,2001:db8:9:1:0:0:0:2\n"
		"\tkey-file=/etc/hasyncd.key\n"
		"vip v6\n"
		"\taddress=2001:db8:ffff::1\n"
		"vip v4\n"				/* a v4 VIP over a v6 sync link is fine */
		"\taddress=192.0.2.1\n"
		"vip mapped\n"
		"\taddress=::ffff:192.0.2.1\n");	/* another address than 192.0.2.1 */

	assert_int_equal(c->n_local, 2);
	addr_is(&c->local[0], AF_INET6, "2001:db8:9::1");
	addr_is(&c->local[1], AF_INET6, "2001:db8:9:1::1");
	addr_is(&c->remote[0], AF_INET6, "2001:db8:9::2");
	addr_is(&c->remote[1], AF_INET6, "2001:db8:9:1::2");
	addr_is(&c->vips[0].address, AF_INET6, "2001:db8:ffff::1");
	addr_is(&c->vips[1].address, AF_INET, "192.0.2.1");
	addr_is(&c->vips[2].address, AF_INET6, "::ffff:192.0.2.1");
	conf_free(c);
}

static char *dump_to_string(const struct conf *c)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	assert_non_null(f);
	conf_dump(c, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* What --check-config prints is itself a valid config meaning the same. */
static void test_dump_round_trip(void **state)
{
	const char *inputs[] = {
		example, minimal,
		"config setup\n\tcontrol-socket=\"/run/a b\"\n\tlog-level=err\n"
		"sync\n\ttransport=tcp\n\tremote=2001:db8::2\n\tkey-file=\"/etc/my keys/k\"\n"
		"\tcounter-timer=1500ms\n\tdead-time=90s\n"
		"vip a\n\taddress=2001:db8::1\n\troute-table=100\n\troute-protocol=77\n"
		"vip b\n\taddress=192.0.2.9\n\troute-protocol=static\n\troute-table=default\n",
		"config setup\n\tnotify-fifo=\"/run/hasyncd/keepalived fifo\"\n" "sync\n\tremote=10.9.0.2\n"
		"\tkey-file=/k\n" "vip a\n\taddress=192.0.2.1\n\tinstance=G_GW1\n",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct conf *a = parse_ok(inputs[i]), *b;
		char *text = dump_to_string(a);

		b = parse_ok(text);
		assert_conf_equal(a, b);
		if (i == 0) {
			assert_non_null(strstr(text, "\tkey-file=/etc/hasyncd.key\n"));
			assert_non_null(strstr(text, "\tcounter-timer=1s\n"));
			assert_non_null(strstr(text, "\troute-protocol=hasync\n"));
		}
		if (i == 1)
			assert_non_null(strstr(text, "# local is not set"));
		if (i == 2) {
			assert_non_null(strstr(text, "\tcounter-timer=1500ms\n"));
			assert_non_null(strstr(text, "\tdead-time=90s\n"));
			assert_non_null(strstr(text, "\tkey-file=\"/etc/my keys/k\"\n"));
		}
		if (i == 1)
			assert_non_null(strstr(text, "# notify-fifo is not set"));
		if (i == 3) {
			assert_string_equal(a->notify_fifo, "/run/hasyncd/keepalived fifo");
			assert_non_null(strstr(text, "\tnotify-fifo=\"/run/hasyncd/keepalived fifo\"\n"));
		}
		free(text);
		conf_free(a);
		conf_free(b);
	}
}

/* The annotated example shipped in docs/ must stay valid (make runs from the top directory). */
static void test_shipped_example(void **state)
{
	struct conf_error err;
	struct conf *c;

	if (access("docs/hasyncd.conf.example", R_OK) != 0)
		skip();
	if (conf_load("docs/hasyncd.conf.example", &c, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c->node_id, "gw1");
	assert_int_equal(c->n_vips, 1);
	conf_free(c);
}

static char tmpdir[64];

static int tmp_setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_conf.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmp_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_file(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void test_conf_load(void **state)
{
	struct conf_error err;
	char want[256];
	struct conf *c;
	const char *path = tmp_file("hasyncd.conf", example, strlen(example), 0644);

	assert_int_equal(conf_load(path, &c, &err), 0);
	assert_string_equal(c->node_id, "gw1");
	conf_free(c);

	path = tmp_file("bad.conf", SYNC_OK "\tport=70000\n", strlen(SYNC_OK) + 12, 0644);
	assert_int_equal(conf_load(path, &c, &err), -1);
	assert_null(c);
	snprintf(want, sizeof(want), "%s:4: sync/port: \"70000\" is out of range 1..65535", path);
	assert_string_equal(err.msg, want);

	snprintf(want, sizeof(want), "%s/missing.conf", tmpdir);
	assert_int_equal(conf_load(want, &c, &err), -1);
	assert_null(c);
	assert_non_null(strstr(err.msg, "missing.conf: cannot open: No such file or directory"));

	assert_int_equal(conf_load(tmpdir, &c, &err), -1);
	assert_non_null(strstr(err.msg, ": not a regular file"));
}

static const char key64[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void key_err(const char *path, const char *what)
{
	struct conf_error err;
	char want[512];

	assert_int_equal(conf_check_key_file(path, &err), -1);
	snprintf(want, sizeof(want), "%s: %s", path, what);
	assert_string_equal(err.msg, want);
}

static void test_key_file(void **state)
{
	char big[CONF_KEY_MAX + 1];
	uint8_t buf[CONF_KEY_MAX];
	struct conf_error err;
	const char *path;
	size_t len = 99;

	if (geteuid() != 0)
		skip();		/* the ownership checks need root to chown */

	path = tmp_file("key", key64, 64, 0600);
	assert_int_equal(conf_check_key_file(path, &err), 0);
	assert_int_equal(conf_read_key_file(path, buf, sizeof(buf), &len, &err), 0);
	assert_int_equal(len, 64);
	assert_memory_equal(buf, key64, 64);
	explicit_bzero(buf, sizeof(buf));

	/* stricter than 0600 is fine */
	path = tmp_file("key", key64, 64, 0400);
	assert_int_equal(conf_check_key_file(path, &err), 0);
	path = tmp_file("key", key64, 64, 0);
	assert_int_equal(conf_check_key_file(path, &err), 0);

	path = tmp_file("key", key64, 64, 0644);
	key_err(path, "the key file has mode 0644, which lets group or others in; "
		"it must be 0600 or stricter (chmod 600)");
	path = tmp_file("key", key64, 64, 0640);
	key_err(path, "the key file has mode 0640, which lets group or others in; "
		"it must be 0600 or stricter (chmod 600)");
	path = tmp_file("key", key64, 64, 0601);
	key_err(path, "the key file has mode 0601, which lets group or others in; "
		"it must be 0600 or stricter (chmod 600)");
	assert_int_equal(conf_read_key_file(path, buf, sizeof(buf), &len, &err), -1);
	assert_int_equal(len, 0);

	path = tmp_file("key", key64, 64, 0600);
	assert_int_equal(chown(path, 1, 0), 0);
	key_err(path, "the key file is owned by uid 1; it must be owned by root");
	assert_int_equal(chown(path, 0, 1), 0);	/* a group owner other than root is fine at 0600 */
	assert_int_equal(conf_check_key_file(path, &err), 0);

	path = tmp_file("key", key64, 31, 0600);
	key_err(path, "the key file has 31 bytes; it must have 32..1024");
	path = tmp_file("key", key64, 32, 0600);
	assert_int_equal(conf_check_key_file(path, &err), 0);
	memset(big, 'k', sizeof(big));
	path = tmp_file("key", big, CONF_KEY_MAX, 0600);
	assert_int_equal(conf_read_key_file(path, buf, sizeof(buf), &len, &err), 0);
	assert_int_equal(len, CONF_KEY_MAX);
	explicit_bzero(buf, sizeof(buf));
	path = tmp_file("key", big, CONF_KEY_MAX + 1, 0600);
	key_err(path, "the key file has 1025 bytes; it must have 32..1024");

	/* a caller's buffer too small: error, and nothing of the key is left in it */
	path = tmp_file("key", key64, 64, 0600);
	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(conf_read_key_file(path, buf, 40, &len, &err), -1);
	assert_non_null(strstr(err.msg, "the key file is bigger than the 40 bytes expected"));
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(buf[i], 0);

	key_err(tmpdir, "the key file is not a regular file");
	{
		char fifo[128], missing[128], link[128];

		snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
		assert_int_equal(mkfifo(fifo, 0600), 0);
		key_err(fifo, "the key file is not a regular file");
		snprintf(missing, sizeof(missing), "%s/none", tmpdir);
		key_err(missing, "cannot open the key file: No such file or directory");
		/* a symbolic link is judged by the file it points to */
		snprintf(link, sizeof(link), "%s/link", tmpdir);
		assert_int_equal(symlink(path, link), 0);
		assert_int_equal(conf_check_key_file(link, &err), 0);
		assert_int_equal(chmod(path, 0644), 0);
		key_err(link, "the key file has mode 0644, which lets group or others in; "
			"it must be 0600 or stricter (chmod 600)");
	}
}

static void test_names(void **state)
{
	struct conf_addr a = { .family = AF_INET6 };

	assert_string_equal(conf_transport_name(CONF_TRANSPORT_SCTP), "sctp");
	assert_string_equal(conf_transport_name(CONF_TRANSPORT_TCP), "tcp");
	assert_string_equal(conf_log_level_name(LOG_NOTICE), "notice");
	assert_string_equal(conf_log_level_name(-1), "?");
	addr_is(&a, AF_INET6, "::");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_too_many_vips),
		cmocka_unit_test(test_late_error),
		cmocka_unit_test(test_crlf_and_blanks),
		cmocka_unit_test(test_quoted_values),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_shipped_example),
		cmocka_unit_test(test_conf_load),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
