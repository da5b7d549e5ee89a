/* main.c -- avatar-api: command line, signals, start and stop; nothing else. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netdb.h>
#include <pthread.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "accesslog.h"
#include "config.h"
#include "fixture.h"
#include "healthcheck.h"
#include "log.h"
#include "notify.h"
#include "resolver.h"
#include "server.h"
#include "upstream.h"

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

/* Log ERR and return its exit code.  A usage error (64: a flag, a value,
 * a variable) ends, as in GNU tools, with where to look, on a line of its
 * own. */
static int
fail(const struct error *err)
{
	log_error("%s", err->text);
	if (err->code == EXIT_USAGE)
		fputs("Try 'avatar-api --help'.\n", stderr);
	return err->code;
}

/* Load CFG's fixture into *FX.  When the default one (no --data, no
 * AVATAR_API_DATA) does not exist -- the built binary run from a source
 * tree before "make install" -- the error says how to fix it.  Returns 0,
 * or the exit code, the error logged. */
static int
load(const struct config *cfg, struct fixture **fx)
{
	struct error err = {0, ""};

	*fx = fixture_load(cfg->data, &err);
	if (*fx != NULL)
		return 0;
	if (!cfg->data_given && err.code == EXIT_NOINPUT &&
	    access(cfg->data, F_OK) != 0 && errno == ENOENT) {
		log_error("%s (run 'make install', or pass --data FILE: "
		          "data/users.json in a source tree)", err.text);
		return err.code;
	}
	return fail(&err);
}

/* --check: validate what a start would use, and exit.  In relay mode
 * that is the upstream URL, taken apart as the relay does, and its host,
 * resolved as at start (69 if it does not resolve); the fixture only when
 * --data or AVATAR_API_DATA names one, as at start. */
static int
check(const struct config *cfg)
{
	struct error err = {0, ""};
	struct upstream_url u;
	struct resolver_addrs addrs;
	struct fixture *fx;
	int rc;

	if (cfg->upstream != NULL) {
		if (upstream_url_parse(cfg->upstream, &u, &err) < 0)
			return fail(&err);
		if (resolver_lookup(u.host, u.port, &addrs, &rc) < 0) {
			log_error("relay: cannot resolve the upstream host '%s': "
			          "%s", u.host, gai_strerror(rc));
			return EXIT_UNAVAILABLE;
		}
		if (addrs.n == 0) {
			log_error("relay: the upstream host '%s' has no usable "
			          "address", u.host);
			return EXIT_UNAVAILABLE;
		}
		printf("upstream %s OK\n", cfg->upstream);
		if (!cfg->data_given)
			return close_stdout();
	}
	rc = load(cfg, &fx);
	if (rc != 0)
		return rc;
	printf("%zu user%s OK\n", fx->count, fx->count == 1 ? "" : "s");
	fixture_free(fx);
	return close_stdout();
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
	if (server_admin_port(srv) != 0) {
		const char *admin = cfg->admin_address != NULL
		                    ? cfg->admin_address : cfg->address;
		int v6a = strchr(admin, ':') != NULL;

		log_info("Admin listener on http://%s%s%s:%u (/metrics, "
		         "/healthz, /readyz)", v6a ? "[" : "", admin,
		         v6a ? "]" : "", server_admin_port(srv));
	}
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

/* --shutdown-delay: SIGTERM was received; answer /readyz with 503 and
 * keep serving for the delay, so that load balancers and Kubernetes take
 * the instance out of rotation before it stops accepting.  SIGHUP still
 * reloads; another SIGTERM or SIGINT cuts the delay short. */
static void
shutdown_delay(struct server *srv, const struct config *cfg,
               const sigset_t *sigs)
{
	struct timespec end, now, left;

	server_unready(srv);
	log_info("SIGTERM received, not ready; stopping in %u s",
	         cfg->shutdown_delay);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)cfg->shutdown_delay;
	for (;;) {
		int sig;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			return;
		sig = sigtimedwait(sigs, NULL, &left);
		if (sig == SIGHUP)
			reload(srv, cfg);
		else if (sig == SIGTERM || sig == SIGINT ||
		         (sig < 0 && errno == EAGAIN))
			return; /* cut short, or the delay is over */
	}
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
	int sig = 0, rc;

	config_defaults(&cfg);
	if (config_parse(&cfg, argc, argv, &err) < 0)
		return fail(&err);
	if (cfg.action == CONFIG_HELP) {
		config_usage(stdout);
		return close_stdout();
	}
	if (cfg.action == CONFIG_VERSION) {
		print_version();
		return close_stdout();
	}
	/* From here on the lines are a service's: time (or the journal's
	 * priority) and level, text or JSON. */
	if (cfg.action == CONFIG_RUN)
		log_setup((enum log_format)cfg.log_format);
	if (cfg.action == CONFIG_HEALTHCHECK) {
		if (healthcheck_run(&cfg, &err) < 0) {
			log_error("%s", err.text);
			return 1;
		}
		return 0;
	}

	if (cfg.action == CONFIG_CHECK)
		return check(&cfg);

	/* Relay mode needs no fixture: one is served at PATH/{id} only if
	 * --data or AVATAR_API_DATA names it. */
	if (cfg.upstream != NULL && !cfg.data_given) {
		fx = fixture_empty();
		if (fx == NULL) {
			log_error("out of memory");
			return EXIT_OSERR;
		}
	} else if ((rc = load(&cfg, &fx)) != 0) {
		return rc;
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
		return fail(&err);
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
	if (sig == SIGTERM && cfg.shutdown_delay > 0)
		shutdown_delay(srv, &cfg, &sigs);
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
