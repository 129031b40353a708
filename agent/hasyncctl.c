/* hasyncctl.c: the control tool for hasyncd (also installed as `ipsec ha`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: hasyncctl [--json] COMMAND\n"
		"commands:\n"
		"  status    role per VIP, peer and sync-link state, counters\n"
		"  sas       the SAs held (never keys)\n"
		"  peers     the sync peer and each path\n"
		"  resync    ask the peer for a bulk snapshot\n"
		"  check     exit 0 when in sync (keepalived vrrp_script)\n"
		"  --version print the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_SUCCESS;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("hasyncctl %s\n", HASYNC_VERSION);
		return EXIT_SUCCESS;
	}
	fprintf(stderr, "hasyncctl: unknown command '%s' (try --help)\n", argv[1]);
	return 2;
}
