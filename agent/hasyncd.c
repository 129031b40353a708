/* hasyncd.c: the IPsec state-sync daemon's entry point: options, config, event loop. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: hasyncd [-f] [--config FILE] [--check-config] [--version]\n"
		"  -f, --foreground     stay in the foreground, log to stderr\n"
		"  -c, --config FILE    configuration file (default /etc/hasyncd.conf)\n"
		"      --check-config   validate the configuration and exit\n"
		"  -V, --version        print the version and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "fc:Vh", options, NULL)) != -1) {
		switch (opt) {
		case 'f':
		case 'c':
		case 'C':
			break;
		case 'V':
			printf("hasyncd %s\n", HASYNC_VERSION);
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return 2;
		}
	}
	log_init("hasyncd", true, LOG_INFO);
	log_err("hasyncd: the daemon is not implemented yet");
	return EXIT_FAILURE;
}
