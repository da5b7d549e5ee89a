/* main.c -- avatar-api: command line, signals, start and stop; nothing else. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <jansson.h>
#include <microhttpd.h>

#include "accesslog.h"
#include "config.h"
#include "fixture.h"
#include "healthcheck.h"
#include "log.h"
#include "notify.h"
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
                size_t users)
{
	int v6 = strchr(cfg->address, ':') != NULL;
	char threads[32] = "", relay[CONFIG_URL_MAX + 64] = "";

	if (cfg->mode == CONFIG_MODE_EPOLL)
		snprintf(threads, sizeof(threads), ", %u thread%s", cfg->threads,
		         cfg->threads == 1 ? "" : "s");
	if (cfg->upstream != NULL)
		snprintf(relay, sizeof(relay), ", relaying %s to %s", cfg->path,
		         cfg->upstream);
	if (cfg->upstream != NULL && !cfg->data_given)
		log_info("Listening on http://%s%s%s:%u (%s%s%s)",
		         v6 ? "[" : "", cfg->address, v6 ? "]" : "",
		         server_port(srv), config_mode_name(cfg->mode), threads,
		         relay);
	else
		log_info("Listening on http://%s%s%s:%u (%s%s%s, %zu user%s "
		         "from %s)", v6 ? "[" : "", cfg->address, v6 ? "]" : "",
		         server_port(srv), config_mode_name(cfg->mode), threads,
		         relay, users, users == 1 ? "" : "s", cfg->data);
}

/* Tell systemd (Type=notify) what we are doing; a failure is logged, not
 * fatal: the service works without a supervisor.  In relay mode without
 * a fixture the status names the upstream. */
static void
notify(const char *state, size_t users, const struct config *cfg)
{
	struct error err = {0, ""};
	int rc;

	if (cfg->upstream != NULL && !cfg->data_given)
		rc = notify_send(&err, "%s\nSTATUS=Relaying %s to %s", state,
		                 cfg->path, cfg->upstream);
	else
		rc = notify_send(&err, "%s\nSTATUS=Serving %zu user%s from %s",
		                 state, users, users == 1 ? "" : "s", cfg->data);
	if (rc < 0)
		log_warn("%s", err.text);
}

/* SIGHUP: re-read the fixture; on error keep serving the old data. */
static void
reload(struct server *srv, const struct config *cfg)
{
	struct error err = {0, ""};

	if (cfg->upstream != NULL && !cfg->data_given) {
		log_info("SIGHUP: relay mode without --data: nothing to reload");
		return;
	}
	notify("RELOADING=1", server_users(srv), cfg);
	if (server_reload(srv, cfg->data, &err) == 0)
		log_info("SIGHUP: reloaded %zu user%s from %s", server_users(srv),
		         server_users(srv) == 1 ? "" : "s", cfg->data);
	else
		log_error("SIGHUP: reload failed, still serving the old data: "
		          "%s", err.text);
	notify("READY=1", server_users(srv), cfg);
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
	size_t count;
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
	if (cfg.action == CONFIG_HEALTHCHECK) {
		if (healthcheck_run(&cfg, &err) < 0) {
			log_error("%s", err.text);
			return 1;
		}
		return 0;
	}

	/* Relay mode needs no fixture: one is served at PATH/{id} only if
	 * --data or AVATAR_API_DATA names it. */
	if (cfg.upstream != NULL && !cfg.data_given &&
	    cfg.action != CONFIG_CHECK) {
		fx = fixture_empty();
		if (fx == NULL)
			error_set(&err, EXIT_OSERR, "out of memory");
	} else {
		fx = fixture_load(cfg.data, &err);
	}
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

	/* Thread-per-connection mode makes a ring per connection thread:
	 * smaller ones there. */
	if (cfg.access_log != NULL &&
	    accesslog_open(cfg.access_log, cfg.log_format,
	                   cfg.mode == CONFIG_MODE_EPOLL ? 0 : 16 * 1024,
	                   &err) < 0) {
		fixture_free(fx);
		log_error("%s", err.text);
		return err.code;
	}
	count = fx->count;
	srv = server_start(&cfg, fx, &err); /* takes fx */
	if (srv == NULL) {
		accesslog_close();
		log_error("%s", err.text);
		return err.code;
	}
	print_listening(&cfg, srv, count);
	notify("READY=1", count, &cfg);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		reload(srv, &cfg);
	}
	notify("STOPPING=1", server_users(srv), &cfg);
	log_info("%s received, stopping (draining for up to %u ms)",
	         sig == SIGTERM ? "SIGTERM" : "SIGINT", SERVER_DRAIN_MS);
	left = server_stop(srv, SERVER_DRAIN_MS);
	accesslog_close(); /* every line of the requests served */
	if (left > 0)
		log_info("stopped; %u idle connection%s closed at the deadline",
		         left, left == 1 ? "" : "s");
	else
		log_info("stopped");
	return 0;
}
