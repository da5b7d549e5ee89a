/* main.c -- avatar-api: command line, signals, start and stop; nothing else. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <jansson.h>
#include <microhttpd.h>

#include "config.h"
#include "fixture.h"
#include "log.h"
#include "server.h"

/* Flush stdout; a failed write (avatar-api --help >/dev/full) is an
 * error, as in GNU hello. */
static int
close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("write error on standard output");
		return EXIT_IOERR;
	}
	return 0;
}

static void
print_version(void)
{
	printf("%s %s\nlibmicrohttpd %s\njansson %s\n", PACKAGE_NAME,
	       PACKAGE_VERSION, MHD_get_version(), jansson_version_str());
}

static void
print_listening(const struct config *cfg, const struct server *srv,
                const struct fixture *fx)
{
	int v6 = strchr(cfg->address, ':') != NULL;
	char threads[32] = "";

	if (cfg->mode == CONFIG_MODE_EPOLL)
		snprintf(threads, sizeof(threads), ", %u thread%s", cfg->threads,
		         cfg->threads == 1 ? "" : "s");
	log_info("Listening on http://%s%s%s:%u (%s%s, %zu user%s from %s)",
	         v6 ? "[" : "", cfg->address, v6 ? "]" : "", server_port(srv),
	         config_mode_name(cfg->mode), threads, fx->count,
	         fx->count == 1 ? "" : "s", cfg->data);
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct error err = {0, ""};
	struct fixture *fx;
	struct server *srv;
	sigset_t sigs;
	unsigned left;
	int sig = 0;

	config_defaults(&cfg);
	if (config_parse(&cfg, argc, argv, &err) < 0) {
		log_error("%s", err.text);
		return err.code;
	}
	if (cfg.action == CONFIG_HELP) {
		config_usage(stdout);
		return close_stdout();
	}
	if (cfg.action == CONFIG_VERSION) {
		print_version();
		return close_stdout();
	}

	fx = fixture_load(cfg.data, &err);
	if (fx == NULL) {
		log_error("%s", err.text);
		return err.code;
	}
	if (cfg.action == CONFIG_CHECK) {
		printf("%zu user%s OK\n", fx->count, fx->count == 1 ? "" : "s");
		fixture_free(fx);
		return close_stdout();
	}

	/* A client that goes away must not kill us.  Block the stop signals
	 * before MHD starts its threads (they inherit the mask) and take them
	 * with sigwait: this also works as PID 1 in a container. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	srv = server_start(&cfg, fx, &err);
	if (srv == NULL) {
		log_error("%s", err.text);
		fixture_free(fx);
		return err.code;
	}
	print_listening(&cfg, srv, fx);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		log_info("SIGHUP received: reloading is not supported yet, "
		         "ignored");
	}
	log_info("%s received, stopping (draining for up to %u ms)",
	         sig == SIGTERM ? "SIGTERM" : "SIGINT", SERVER_DRAIN_MS);
	left = server_stop(srv, SERVER_DRAIN_MS);
	if (left > 0)
		log_info("stopped; %u idle connection%s closed at the deadline",
		         left, left == 1 ? "" : "s");
	else
		log_info("stopped");
	fixture_free(fx);
	return 0;
}
