/* config.h -- run-time configuration: flags, environment and defaults. */
#ifndef AVATAR_CONFIG_H
#define AVATAR_CONFIG_H

#include <stdio.h>

#include "error.h"

enum config_mode {
	CONFIG_MODE_EPOLL,                 /* MHD epoll with a thread pool */
	CONFIG_MODE_THREAD_PER_CONNECTION, /* one thread per connection, poll() */
};

enum config_action {
	CONFIG_RUN,     /* serve */
	CONFIG_CHECK,   /* --check: validate the fixture and exit */
	CONFIG_HELP,    /* --help */
	CONFIG_VERSION, /* --version */
	CONFIG_HEALTHCHECK, /* --healthcheck: probe a running server */
};

/* Default for --max-connections: enough for 10,000 clients. */
#define CONFIG_MAX_CONNECTIONS_DEFAULT 10000u
/* Default for --timeout, in seconds. */
#define CONFIG_TIMEOUT_DEFAULT 60u
/* Upper bounds accepted on the command line. */
#define CONFIG_THREADS_MAX 1024u
#define CONFIG_MAX_CONNECTIONS_MAX 1000000u
#define CONFIG_TIMEOUT_MAX 86400u
#define CONFIG_PATH_MAX 1024u

/* Relay mode (--upstream, M2_DOMAIN/M2_PORT/M2_PATH). */
#define CONFIG_URL_MAX 2048u
#define CONFIG_UPSTREAM_TIMEOUT_MS_DEFAULT 2000u
#define CONFIG_UPSTREAM_TIMEOUT_MS_MAX 3600000u
#define CONFIG_UPSTREAM_MAX_BYTES_DEFAULT (1024u * 1024)
#define CONFIG_UPSTREAM_MAX_BYTES_MAX (256u * 1024 * 1024)
#define CONFIG_UPSTREAM_CONNECTIONS_DEFAULT 32u
#define CONFIG_UPSTREAM_CONNECTIONS_MAX 1024u
#define CONFIG_UPSTREAM_QUEUE_DEFAULT 256u
#define CONFIG_UPSTREAM_QUEUE_MAX 100000u
/* The reference's microservice1 defaults for M2_DOMAIN, M2_PORT, M2_PATH. */
#define CONFIG_M2_DOMAIN_DEFAULT "http://127.0.0.1"
#define CONFIG_M2_PORT_DEFAULT "3000"
#define CONFIG_M2_PATH_DEFAULT "/v1/avatar"

/* The whole configuration.  Strings point into argv, the environment or
 * static storage; they are never freed. */
struct config {
	enum config_action action;
	const char *address;          /* --address, M1_DOMAIN */
	unsigned port;                /* --port, M1_PORT: 1-65535 */
	const char *path;             /* --path, M1_PATH: the list route */
	const char *data;             /* --data, AVATAR_API_DATA */
	enum config_mode mode;        /* --mode, AVATAR_API_MODE */
	unsigned threads;             /* --threads, AVATAR_API_THREADS */
	unsigned max_connections;     /* --max-connections */
	unsigned timeout;             /* --timeout: idle seconds, 0 = never */
	int data_given;               /* --data or AVATAR_API_DATA was set */
	const char *upstream;         /* --upstream or M2_*: NULL = no relay */
	unsigned upstream_timeout_ms; /* --upstream-timeout */
	unsigned upstream_max_bytes;  /* --upstream-max-bytes */
	unsigned upstream_connections;/* --upstream-connections */
	unsigned upstream_queue;      /* --upstream-queue */
	char upstream_buf[CONFIG_URL_MAX + 1]; /* the URL made from M2_* */
};

/* Fill CFG with the defaults: 0.0.0.0:8080, /v1/user, the installed
 * fixture, epoll with one thread per online CPU, 10,000 connections, a
 * 60 s idle timeout, and no relay (but the relay's defaults: 2 s, 1 MiB,
 * 32 upstream connections, a queue of 256). */
void config_defaults(struct config *cfg);

/* Parse ARGV (getopt_long) over the environment over the defaults into
 * CFG: a flag beats the environment, which beats the default.  An empty
 * environment variable counts as unset, and one that a flag overrides is
 * not read.  Relay mode is on when --upstream is given or any of M2_DOMAIN,
 * M2_PORT, M2_PATH is set (the URL is then M2_DOMAIN ":" M2_PORT M2_PATH,
 * each defaulting as in the reference service); --upstream beats them.
 * --help and --version win at once.  On success 0 is
 * returned.  On a bad flag, value or variable -1 is returned and ERR holds
 * EXIT_USAGE and one line that names the flag or variable; CFG may then
 * be partly updated.  May be called repeatedly (it resets getopt). */
int config_parse(struct config *cfg, int argc, char **argv,
                 struct error *err);

/* The name --mode uses for MODE. */
const char *config_mode_name(enum config_mode mode);

/* Print the --help text to OUT. */
void config_usage(FILE *out);

#endif
