/* config.h -- run-time configuration: flags, environment and defaults. */
#ifndef AVATAR_CONFIG_H
#define AVATAR_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "log.h"

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

/* Bounds used outside the table (buffers, the CPU count); the other
 * bounds, and every default, are written once, in the row of their option
 * in config.c. */
#define CONFIG_THREADS_MAX 1024u
#define CONFIG_PATH_MAX 1024u
#define CONFIG_URL_MAX 2048u
/* --cors-origin: at most this many origins, each at most this long. */
#define CONFIG_CORS_MAX 16u
#define CONFIG_ORIGIN_MAX 255u
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
	unsigned shutdown_delay;      /* --shutdown-delay: seconds */
	int data_given;               /* --data or AVATAR_API_DATA was set */
	const char *upstream;         /* --upstream, AVATAR_API_UPSTREAM or
	                               * M2_*: NULL = no relay */
	unsigned upstream_timeout_ms; /* --upstream-timeout */
	unsigned upstream_max_bytes;  /* --upstream-max-bytes */
	unsigned upstream_connections;/* --upstream-connections */
	unsigned upstream_queue;      /* --upstream-queue */
	const char *admin_address;    /* --admin-address: NULL = --address */
	unsigned admin_port;          /* --admin-port: 0 = no admin listener */
	int log_format;               /* --log-format: an enum log_format */
	char upstream_buf[CONFIG_URL_MAX + 1]; /* the URL made from M2_* */
	const char *access_log;       /* --access-log: NULL = off, "-" = stdout */
	int compression;              /* --compression: 1 on (gzip), 0 off */
	const char *cache_control;    /* --cache-control: the data routes' */
	/* --cors-origin, in the order given ("*" among them: any origin);
	 * those from AVATAR_API_CORS_ORIGIN are copied into cors_buf. */
	const char *cors_origins[CONFIG_CORS_MAX];
	size_t cors_count;            /* 0: CORS off */
	char cors_buf[CONFIG_CORS_MAX * (CONFIG_ORIGIN_MAX + 1)];
};

/* The most environment variables one option reads (--upstream:
 * AVATAR_API_UPSTREAM, then M2_DOMAIN, M2_PORT, M2_PATH). */
#define CONFIG_ENV_MAX 4

/* One option: a row of config_options, the one place where a flag, its
 * environment variables, its default, its bounds and its help are written,
 * in the spirit of nginx's ngx_command_t.  config_parse, config_defaults
 * and config_usage are loops over the table. */
struct config_option {
	const char *name;   /* the long flag, without "--" */
	const char *arg;    /* ARG in --help's "--name=ARG"; NULL for an
	                     * action, which takes no argument */
	/* The variables read when the flag is not given; unused slots are
	 * NULL. */
	const char *env[CONFIG_ENV_MAX];
	const char *def;    /* the default: config_defaults gives it to PARSE
	                     * and --help shows it; NULL: none, or computed */
	/* Check VAL, named KEY in errors, and store it in CFG at OFFSET.
	 * Returns 0, or -1 with ERR (may be NULL) holding EXIT_USAGE and one
	 * line. */
	int (*parse)(const struct config_option *opt, struct config *cfg,
	             const char *key, const char *val, struct error *err);
	/* For a row with several variables that make one value: read them
	 * (OPT->env) and store the value.  Returns 0 or -1 as PARSE.  NULL:
	 * ENV[0], when set and not empty, goes to PARSE. */
	int (*parse_env)(const struct config_option *opt, struct config *cfg,
	                 struct error *err);
	size_t offset;      /* offsetof(struct config, the field) */
	const char *what;   /* the kind of value, for errors: "port" */
	const char *expect; /* what is expected, for errors (and, for a
	                     * number, after MIN-MAX in --help) */
	const char *help;   /* --help text; config_usage wraps it */
	unsigned min, max;  /* the bounds of a number or a duration (ms) */
	enum config_action action; /* what an action row sets */
	char letter;        /* the short flag, or 0 */
};

/* Every option, in --help order, then a row whose name is NULL.  Constant:
 * any thread may read it. */
extern const struct config_option config_options[];

/* Fill CFG with the defaults of the table: 0.0.0.0:8080, /v1/user, the
 * installed fixture, epoll with one thread per online CPU, 10,000
 * connections, a 60 s idle timeout, and no relay (but the relay's
 * defaults: 2 s, 1 MiB, 32 upstream connections, a queue of 256). */
void config_defaults(struct config *cfg);

/* Parse ARGV (getopt_long) over the environment over the defaults into
 * CFG: a flag beats the environment, which beats the default.  An empty
 * environment variable counts as unset, and one that a flag overrides is
 * not read.  Relay mode is on when --upstream is given, AVATAR_API_UPSTREAM
 * is set, or any of M2_DOMAIN, M2_PORT, M2_PATH is set (the URL is then
 * M2_DOMAIN ":" M2_PORT M2_PATH, each defaulting as in the reference
 * service); --upstream beats AVATAR_API_UPSTREAM, which beats M2_*.
 * --help and --version win at once.  On success 0 is
 * returned.  On a bad flag, value or variable -1 is returned and ERR holds
 * EXIT_USAGE and one line that names the flag or variable; CFG may then
 * be partly updated.  Allocates nothing.  May be called repeatedly (it
 * resets getopt), but not from two threads at once (getopt's state is
 * global). */
int config_parse(struct config *cfg, int argc, char **argv,
                 struct error *err);

/* The name --mode uses for MODE. */
const char *config_mode_name(enum config_mode mode);

/* Print the --help text, made from the table, to OUT. */
void config_usage(FILE *out);

#endif
