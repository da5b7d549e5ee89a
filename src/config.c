/* config.c -- run-time configuration: flags, environment and defaults. */
#include <ctype.h>
#include <getopt.h>
#include <strings.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "negotiate.h"

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/avatar-api"
#endif

const char *
config_mode_name(enum config_mode mode)
{
	return mode == CONFIG_MODE_EPOLL ? "epoll" : "thread-per-connection";
}

/* --- the parsers of the table: each checks a value and stores it at its
 * row's offset, or says in one error line what it expected --- */

static void *
field(struct config *cfg, const struct config_option *o)
{
	return (char *)cfg + o->offset;
}

/* The common message: "KEY: invalid WHAT 'VAL' (expected EXPECT)". */
static int
bad_value(const struct config_option *o, const char *key, const char *val,
          struct error *err)
{
	error_set(err, EXIT_USAGE, "%s: invalid %s '%.64s' (expected %s)", key,
	          o->what, val, o->expect);
	return -1;
}

/* A decimal number in [MIN, MAX]: digits only, no sign, no spaces. */
static int
parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	const char *p;

	if (*s == '\0' || strlen(s) > 10)
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
parse_unsigned(const struct config_option *o, struct config *cfg,
               const char *key, const char *val, struct error *err)
{
	if (parse_uint(val, o->min, o->max, field(cfg, o)) == 0)
		return 0;
	error_set(err, EXIT_USAGE, "%s: invalid %s '%.64s' (expected %u-%u%s)",
	          key, o->what, val, o->min, o->max,
	          o->expect != NULL ? o->expect : "");
	return -1;
}

/* A duration: seconds with up to three decimals ("2", "0.3", "1.5s") or
 * whole milliseconds ("300ms"), in [1 ms, MAX ms].  Stored in ms. */
static int
parse_duration(const struct config_option *o, struct config *cfg,
               const char *key, const char *val, struct error *err)
{
	unsigned long ms = 0, scale = 1000;
	const char *p = val;
	int digits = 0, decimals = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits == 9)
			goto bad;
		ms = ms * 10 + (unsigned long)(*p - '0');
	}
	if (strcmp(p, "ms") == 0) {
		scale = 1;
	} else {
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, decimals++) {
				if (decimals == 3)
					goto bad;
				ms = ms * 10 + (unsigned long)(*p - '0');
				scale /= 10;
			}
			if (decimals == 0)
				goto bad;
		}
		if (*p == 's')
			p++;
		if (*p != '\0')
			goto bad;
	}
	ms *= scale;
	if ((digits == 0 && decimals == 0) || ms < 1 || ms > o->max)
		goto bad;
	*(unsigned *)field(cfg, o) = (unsigned)ms;
	return 0;

bad:
	error_set(err, EXIT_USAGE, "%s: invalid %s '%.64s' (expected %s; 1 ms "
	          "to %u s)", key, o->what, val, o->expect, o->max / 1000);
	return -1;
}

/* An address is a numeric IPv4 or IPv6 address or a host name.  A string
 * of digits and dots that is not a valid IPv4 address, or one with a colon
 * that is not a valid IPv6 address, is rejected here rather than sent to
 * the resolver. */
static int
parse_address(const struct config_option *o, struct config *cfg,
              const char *key, const char *val, struct error *err)
{
	unsigned char buf[sizeof(struct in6_addr)];
	size_t n = strlen(val);

	if (n == 0 || n > 253)
		return bad_value(o, key, val, err);
	if (inet_pton(AF_INET, val, buf) != 1 &&
	    inet_pton(AF_INET6, val, buf) != 1) { /* then a host name */
		size_t i;
		int name = 0;

		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)val[i];

			if (isalpha(c) || c == '-')
				name = 1;
			else if (!isdigit(c) && c != '.')
				return bad_value(o, key, val, err);
		}
		if (!name || val[0] == '-' || val[0] == '.')
			return bad_value(o, key, val, err);
	}
	*(const char **)field(cfg, o) = val;
	return 0;
}

/* A route path starts with '/', has no trailing '/' (unless it is "/"),
 * and holds only printable ASCII other than space, '?', '#' and '%':
 * libmicrohttpd hands the handler the decoded path without the query. */
static int
parse_path(const struct config_option *o, struct config *cfg,
           const char *key, const char *val, struct error *err)
{
	size_t i, n = strlen(val);

	if (n == 0 || n > CONFIG_PATH_MAX || val[0] != '/' ||
	    (n > 1 && val[n - 1] == '/'))
		return bad_value(o, key, val, err);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)val[i];

		if (c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%')
			return bad_value(o, key, val, err);
	}
	*(const char **)field(cfg, o) = val;
	return 0;
}

/* Printable ASCII without space, at most MAX bytes, non-empty. */
static int
printable(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* Printable ASCII, spaces included: no control character. */
static int
printable_blank(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static const char *env_get(const char *name);

/* Length of the "http://" or "https://" at the start of S, or 0. */
static size_t
url_scheme(const char *s)
{
	if (strncasecmp(s, "http://", 7) == 0)
		return 7;
	if (strncasecmp(s, "https://", 8) == 0)
		return 8;
	return 0;
}

/* An upstream URL: http:// or https://, a host, printable ASCII.  (The
 * caller refuses https://, with its own message.) */
static int
valid_url(const char *s)
{
	size_t n = url_scheme(s);

	return n > 0 && printable(s, CONFIG_URL_MAX) && s[n] != '\0' &&
	       s[n] != '/' && s[n] != ':' && s[n] != '?' && s[n] != '#';
}

/* The relay speaks plain HTTP: every message about an upstream says so in
 * the same words. */
#define HTTPS_REFUSED "https:// is not supported, the relay speaks plain " \
	"http:// only"

static int
parse_url(const struct config_option *o, struct config *cfg,
          const char *key, const char *val, struct error *err)
{
	if (valid_url(val) && url_scheme(val) == 7) {
		*(const char **)field(cfg, o) = val;
		return 0;
	}
	if (valid_url(val))
		error_set(err, EXIT_USAGE, "%s: invalid URL '%.64s' (expected "
		          "%s; " HTTPS_REFUSED ")", key, val, o->expect);
	else
		error_set(err, EXIT_USAGE, "%s: invalid URL '%.64s' (expected "
		          "%s, at most %u bytes)", key, val, o->expect,
		          CONFIG_URL_MAX);
	return -1;
}

static int
parse_mode(const struct config_option *o, struct config *cfg,
           const char *key, const char *val, struct error *err)
{
	enum config_mode m;

	for (m = CONFIG_MODE_EPOLL; m <= CONFIG_MODE_THREAD_PER_CONNECTION; m++)
		if (strcmp(val, config_mode_name(m)) == 0) {
			*(enum config_mode *)field(cfg, o) = m;
			return 0;
		}
	return bad_value(o, key, val, err);
}

static int
parse_log_format(const struct config_option *o, struct config *cfg,
                 const char *key, const char *val, struct error *err)
{
	if (strcmp(val, "text") == 0)
		*(int *)field(cfg, o) = LOG_FORMAT_TEXT;
	else if (strcmp(val, "json") == 0)
		*(int *)field(cfg, o) = LOG_FORMAT_JSON;
	else
		return bad_value(o, key, val, err);
	return 0;
}

/* A file name, or "-" for standard output: opened by accesslog_open. */
static int
parse_file(const struct config_option *o, struct config *cfg,
           const char *key, const char *val, struct error *err)
{
	if (*val == '\0') {
		error_set(err, EXIT_USAGE, "%s: empty file name", key);
		return -1;
	}
	*(const char **)field(cfg, o) = val;
	return 0;
}

static int
parse_switch(const struct config_option *o, struct config *cfg,
             const char *key, const char *val, struct error *err)
{
	if (strcmp(val, "on") == 0)
		*(int *)field(cfg, o) = 1;
	else if (strcmp(val, "off") == 0)
		*(int *)field(cfg, o) = 0;
	else
		return bad_value(o, key, val, err);
	return 0;
}

/* A header field value sent as is on every answer of the data routes:
 * O->max bytes at most of printable ASCII, no blank at either end (a
 * control character would split the header). */
static int
parse_field_value(const struct config_option *o, struct config *cfg,
                  const char *key, const char *val, struct error *err)
{
	size_t n = strlen(val);

	if (n == 0 || n > o->max || !printable_blank(val) || val[0] == ' ' ||
	    val[n - 1] == ' ')
		return bad_value(o, key, val, err);
	*(const char **)field(cfg, o) = val;
	return 0;
}

/* Add origin VAL (N bytes; not NUL-terminated when COPY) to
 * cfg->cors_origins: a copy in cors_buf when COPY, else VAL itself. */
static int
cors_add(const struct config_option *o, struct config *cfg, const char *key,
         const char *val, size_t n, int copy, struct error *err)
{
	char one[CONFIG_ORIGIN_MAX + 1];
	char *slot;

	if (n > CONFIG_ORIGIN_MAX) {
		error_set(err, EXIT_USAGE, "%s: origin too long (at most %u "
		          "bytes)", key, CONFIG_ORIGIN_MAX);
		return -1;
	}
	memcpy(one, val, n);
	one[n] = '\0';
	if (!negotiate_origin_valid(one))
		return bad_value(o, key, one, err);
	if (cfg->cors_count == CONFIG_CORS_MAX) {
		error_set(err, EXIT_USAGE, "%s: too many origins (at most %u)",
		          key, CONFIG_CORS_MAX);
		return -1;
	}
	if (copy) {
		slot = cfg->cors_buf + cfg->cors_count * (CONFIG_ORIGIN_MAX + 1);
		memcpy(slot, one, n + 1);
		val = slot;
	}
	cfg->cors_origins[cfg->cors_count++] = val;
	return 0;
}

/* --cors-origin: one origin per flag, the flag repeated for more. */
static int
parse_cors(const struct config_option *o, struct config *cfg,
           const char *key, const char *val, struct error *err)
{
	return cors_add(o, cfg, key, val, strlen(val), 0, err);
}

/* AVATAR_API_CORS_ORIGIN: origins separated by commas (blanks around
 * them ignored). */
static int
env_cors(const struct config_option *o, struct config *cfg,
         struct error *err)
{
	const char *v = env_get(o->env[0]), *p;

	if (v == NULL)
		return 0;
	for (p = v; *p != '\0';) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0) {
			error_set(err, EXIT_USAGE, "%s: empty origin in "
			          "'%.64s'", o->env[0], v);
			return -1;
		}
		if (cors_add(o, cfg, o->env[0], p, n, 1, err) < 0)
			return -1;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Any file name will do until it is opened; whether one was given decides
 * whether relay mode loads a fixture. */
static int
parse_data(const struct config_option *o, struct config *cfg,
           const char *key, const char *val, struct error *err)
{
	if (*val == '\0') {
		error_set(err, EXIT_USAGE, "%s: empty file name", key);
		return -1;
	}
	*(const char **)field(cfg, o) = val;
	cfg->data_given = 1;
	return 0;
}

/* The value of environment variable NAME, or NULL if unset or empty. */
static const char *
env_get(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* M2_DOMAIN: "http://" and a host (a name, an IPv4 address or an IPv6
 * one in brackets), nothing more: M2_PORT and M2_PATH give the rest. */
static int
valid_domain(const char *s)
{
	const char *host = s + 7;
	size_t n;

	if (strncasecmp(s, "http://", 7) != 0 || !printable(s, 260))
		return 0;
	if (*host == '[') {
		n = strcspn(host, "]");
		return n > 1 && host[n] == ']' && host[n + 1] == '\0';
	}
	n = strcspn(host, ":/?#@[]");
	return n > 0 && host[n] == '\0';
}

/* Relay mode from the environment (O->env): AVATAR_API_UPSTREAM, a whole
 * URL as --upstream takes it; else the reference's M2_DOMAIN, M2_PORT,
 * M2_PATH, when any is set, make the URL DOMAIN ":" PORT PATH, each
 * defaulting as in microservice1.  AVATAR_API_UPSTREAM beats the M2_*
 * variables, which are then not read.  Every message about the M2_* names
 * the variable at fault and the one form accepted (plain http://). */
static int
env_upstream(const struct config_option *o, struct config *cfg,
             struct error *err)
{
	const char *url = env_get(o->env[0]), *domain = env_get(o->env[1]);
	const char *port = env_get(o->env[2]), *path = env_get(o->env[3]);
	unsigned p;

	if (url != NULL)
		return parse_url(o, cfg, o->env[0], url, err);
	if (domain == NULL && port == NULL && path == NULL)
		return 0;
	if (domain == NULL)
		domain = CONFIG_M2_DOMAIN_DEFAULT;
	if (port == NULL)
		port = CONFIG_M2_PORT_DEFAULT;
	if (path == NULL)
		path = CONFIG_M2_PATH_DEFAULT;
	if (!valid_domain(domain)) {
		error_set(err, EXIT_USAGE, "%s: invalid domain '%.64s' "
		          "(expected http://HOST, no port or path%s)", o->env[1],
		          domain, strncasecmp(domain, "https://", 8) == 0 ?
		          "; " HTTPS_REFUSED : "");
		return -1;
	}
	if (parse_uint(port, 1, 65535, &p) < 0) {
		error_set(err, EXIT_USAGE, "%s: invalid port '%.64s' "
		          "(expected 1-65535)", o->env[2], port);
		return -1;
	}
	if (path[0] != '/' || !printable(path, CONFIG_PATH_MAX)) {
		error_set(err, EXIT_USAGE, "%s: invalid path '%.64s' "
		          "(expected '/' then printable ASCII without space)",
		          o->env[3], path);
		return -1;
	}
	/* Cannot overflow: a domain of at most 260 bytes, a port of 5 and a
	 * path of at most CONFIG_PATH_MAX fit in upstream_buf. */
	snprintf(cfg->upstream_buf, sizeof(cfg->upstream_buf), "%s:%u%s",
	         domain, p, path);
	cfg->upstream = cfg->upstream_buf;
	return 0;
}

/* --- the table --- */

#define OFFSET(name) offsetof(struct config, name)

/* The order is --help's.  It also names the candidates of an ambiguous
 * abbreviation in that order, and it is the order in which the
 * environment is read (so the first bad variable is the one reported). */
const struct config_option config_options[] = {
	{.name = "address", .arg = "ADDR", .env = {"M1_DOMAIN"},
	 .def = "0.0.0.0", .parse = parse_address, .offset = OFFSET(address),
	 .what = "address",
	 .expect = "an IPv4 or IPv6 address or a host name",
	 .help = "listen address"},
	{.name = "port", .arg = "PORT", .env = {"M1_PORT"}, .def = "8080",
	 .parse = parse_unsigned, .offset = OFFSET(port), .min = 1,
	 .max = 65535, .what = "port", .help = "listen port"},
	{.name = "path", .arg = "PATH", .env = {"M1_PATH"}, .def = "/v1/user",
	 .parse = parse_path, .offset = OFFSET(path), .what = "path",
	 .expect = "'/' then printable ASCII without space, '?', '#', '%' or "
	           "a trailing '/'",
	 .help = "route of the list"},
	{.name = "data", .arg = "FILE", .env = {"AVATAR_API_DATA"},
	 .def = PKGDATADIR "/users.json", .parse = parse_data,
	 .offset = OFFSET(data), .help = "JSON fixture"},
	{.name = "mode", .arg = "MODE", .env = {"AVATAR_API_MODE"},
	 .def = "epoll", .parse = parse_mode, .offset = OFFSET(mode),
	 .what = "mode", .expect = "epoll or thread-per-connection",
	 .help = "epoll or thread-per-connection"},
	/* No default here: config_defaults counts the online CPUs. */
	{.name = "threads", .arg = "N", .env = {"AVATAR_API_THREADS"},
	 .parse = parse_unsigned, .offset = OFFSET(threads), .min = 1,
	 .max = CONFIG_THREADS_MAX, .what = "thread count",
	 .help = "epoll worker threads, one per online CPU by default"},
	{.name = "max-connections", .arg = "N",
	 .env = {"AVATAR_API_MAX_CONNECTIONS"}, .def = "10000",
	 .parse = parse_unsigned, .offset = OFFSET(max_connections), .min = 1,
	 .max = 1000000, .what = "connection limit",
	 .help = "connection limit, lowered to fit the open-file limit with a "
	         "warning"},
	{.name = "timeout", .arg = "SECONDS", .env = {"AVATAR_API_TIMEOUT"},
	 .def = "60",
	 .parse = parse_unsigned, .offset = OFFSET(timeout), .max = 86400,
	 .what = "timeout", .expect = " seconds, 0 = never",
	 .help = "close connections idle this long, or not done sending a "
	         "request this long after connecting or after their last "
	         "answer"},
	{.name = "shutdown-delay", .arg = "SECONDS",
	 .env = {"AVATAR_API_SHUTDOWN_DELAY"}, .def = "0",
	 .parse = parse_unsigned, .offset = OFFSET(shutdown_delay), .max = 3600,
	 .what = "delay", .expect = " seconds",
	 .help = "on SIGTERM, answer /readyz with 503 and keep serving this "
	         "long before draining and stopping"},
	{.name = "upstream", .arg = "URL",
	 .env = {"AVATAR_API_UPSTREAM", "M2_DOMAIN", "M2_PORT", "M2_PATH"},
	 .parse = parse_url,
	 .parse_env = env_upstream, .offset = OFFSET(upstream), .what = "URL",
	 .expect = "http://HOST[:PORT]/PATH in printable ASCII",
	 .help = "relay mode: answer GET PATH with the answer of GET URL "
	         "(and GET PATH/ID with that of GET URL/ID, unless --data is "
	         "given), http:// only"},
	{.name = "upstream-timeout", .arg = "T",
	 .env = {"AVATAR_API_UPSTREAM_TIMEOUT"}, .def = "2",
	 .parse = parse_duration, .offset = OFFSET(upstream_timeout_ms),
	 .max = 3600000, .what = "timeout",
	 .expect = "seconds such as 2 or 0.3, or milliseconds such as 300ms",
	 .help = "answer 504 when the upstream has not answered in T, in "
	         "seconds such as 2 or 0.3 or in milliseconds such as 300ms"},
	{.name = "upstream-max-bytes", .arg = "N",
	 .env = {"AVATAR_API_UPSTREAM_MAX_BYTES"}, .def = "1048576",
	 .parse = parse_unsigned, .offset = OFFSET(upstream_max_bytes),
	 .min = 1, .max = 256u * 1024 * 1024, .what = "size",
	 .expect = " bytes", .help = "answer 502 for a longer upstream body"},
	{.name = "upstream-connections", .arg = "N",
	 .env = {"AVATAR_API_UPSTREAM_CONNECTIONS"}, .def = "32",
	 .parse = parse_unsigned, .offset = OFFSET(upstream_connections),
	 .min = 1, .max = 1024, .what = "connection count",
	 .help = "keep-alive connections to the upstream"},
	{.name = "upstream-queue", .arg = "N",
	 .env = {"AVATAR_API_UPSTREAM_QUEUE"}, .def = "256",
	 .parse = parse_unsigned, .offset = OFFSET(upstream_queue),
	 .max = 100000, .what = "queue length",
	 .help = "requests that may wait for an upstream connection; more "
	         "get 503 at once"},
	{.name = "admin-address", .arg = "ADDR",
	 .env = {"AVATAR_API_ADMIN_ADDRESS"}, .parse = parse_address,
	 .offset = OFFSET(admin_address), .what = "address",
	 .expect = "an IPv4 or IPv6 address or a host name",
	 .help = "address of the --admin-port listener, --address by "
	         "default"},
	{.name = "admin-port", .arg = "PORT", .env = {"AVATAR_API_ADMIN_PORT"},
	 .parse = parse_unsigned, .offset = OFFSET(admin_port), .min = 1,
	 .max = 65535, .what = "port",
	 .help = "serve /metrics, /healthz and /readyz on this port too, and "
	         "/metrics only there"},
	{.name = "log-format", .arg = "FORMAT",
	 .env = {"AVATAR_API_LOG_FORMAT"}, .def = "text",
	 .parse = parse_log_format, .offset = OFFSET(log_format),
	 .what = "log format", .expect = "text or json",
	 .help = "log lines on stderr as text (time, level, message) or as "
	         "JSON objects (time, level, msg and the event's fields)"},
	{.name = "access-log", .arg = "FILE", .env = {"AVATAR_API_ACCESS_LOG"},
	 .parse = parse_file, .offset = OFFSET(access_log),
	 .help = "append one line per request to FILE ('-': standard "
	         "output), text or JSON as --log-format says; off by default"},
	{.name = "compression", .arg = "on|off",
	 .env = {"AVATAR_API_COMPRESSION"}, .def = "on",
	 .parse = parse_switch, .offset = OFFSET(compression),
	 .what = "compression", .expect = "on or off",
	 .help = "on: a gzip form of every answer of the data routes is "
	         "built at load and reload, and sent to clients whose "
	         "Accept-Encoding allows it"},
	{.name = "cache-control", .arg = "VALUE",
	 .env = {"AVATAR_API_CACHE_CONTROL"}, .def = "no-cache",
	 .parse = parse_field_value, .offset = OFFSET(cache_control),
	 .max = 256, .what = "Cache-Control value",
	 .expect = "1-256 bytes of printable ASCII",
	 .help = "the Cache-Control of the data routes' 200 and 304 "
	         "answers (no-cache: caches revalidate with the ETag); "
	         "/healthz, /readyz, /metrics and errors send no-store"},
	{.name = "cors-origin", .arg = "ORIGIN",
	 .env = {"AVATAR_API_CORS_ORIGIN"}, .parse = parse_cors,
	 .parse_env = env_cors, .what = "origin",
	 .expect = "'*' or http[s]://host[:port], lowercase",
	 .help = "allow cross-origin requests to the data routes from "
	         "ORIGIN (repeat the flag for more, at most 16; the variable "
	         "takes a comma-separated list), or from any origin with "
	         "'*'; off by default"},
	{.name = "check", .action = CONFIG_CHECK,
	 .help = "load and validate the fixture, then exit; in relay mode "
	         "check the upstream URL and that its host resolves, and the "
	         "fixture only if one is given"},
	{.name = "healthcheck", .action = CONFIG_HEALTHCHECK,
	 .help = "GET /healthz from the server at --address and --port; exit "
	         "0 if it answers 200, else 1"},
	{.name = "help", .letter = 'h', .action = CONFIG_HELP,
	 .help = "display this help and exit"},
	{.name = "version", .letter = 'V', .action = CONFIG_VERSION,
	 .help = "output version information and exit"},
	{.name = NULL},
};

#define NOPTIONS (sizeof(config_options) / sizeof(config_options[0]) - 1)

void
config_defaults(struct config *cfg)
{
	const struct config_option *o;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	cfg->action = CONFIG_RUN;
	cfg->upstream = NULL;
	cfg->upstream_buf[0] = '\0';
	cfg->admin_address = NULL;
	cfg->admin_port = 0;
	cfg->access_log = NULL;
	cfg->cors_count = 0;
	/* Each default goes through its parser, so that --help shows what is
	 * used; they are all valid (check_config tests them). */
	for (o = config_options; o->name != NULL; o++)
		if (o->def != NULL)
			(void)o->parse(o, cfg, o->name, o->def, NULL);
	cfg->data_given = 0; /* the default fixture is not "given" */
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > (long)CONFIG_THREADS_MAX)
		ncpu = CONFIG_THREADS_MAX;
	cfg->threads = (unsigned)ncpu;
}

/* --- the command line --- */

/* The row of what getopt_long returned: a letter of the table, or for a
 * long flag its index past CHAR_MAX. */
static const struct config_option *
option_of(int opt)
{
	const struct config_option *o = config_options;

	while (opt <= CHAR_MAX && o->letter != opt)
		o++;
	return opt <= CHAR_MAX ? o : &config_options[opt - CHAR_MAX - 1];
}

/* Explain why getopt_long rejected ARG: an unknown or ambiguous name, or
 * an argument given to a flag that takes none.  getopt_long sets optopt
 * to the bad letter of a short option, to the flag's value (past
 * CHAR_MAX) for an argument given to a long flag that takes none, and to
 * 0 otherwise. */
static void
bad_option(const char *arg, struct error *err)
{
	const struct config_option *o, *match = NULL;
	size_t n = strcspn(arg, "="), matches = 0;
	char names[128] = "";

	if (optopt > 0 && optopt < 0x7f && isgraph(optopt)) {
		error_set(err, EXIT_USAGE, "unrecognized option '-%c'", optopt);
		return;
	}
	if (strncmp(arg, "--", 2) != 0 || n <= 2) {
		error_set(err, EXIT_USAGE, "unrecognized option '%.64s'", arg);
		return;
	}
	/* A long name, maybe abbreviated: which flags does it start? */
	for (o = config_options; o->name != NULL; o++) {
		if (strncmp(o->name, arg + 2, n - 2) != 0)
			continue;
		if (strlen(o->name) == n - 2) { /* exact */
			matches = 1;
			match = o;
			break;
		}
		if (matches++ == 0)
			match = o;
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
		         "%s--%s", matches > 1 ? ", " : "", o->name);
	}
	if (matches == 1 && arg[n] == '=' && match->arg == NULL)
		error_set(err, EXIT_USAGE, "option '--%s' doesn't allow an "
		          "argument", match->name);
	else if (matches > 1)
		error_set(err, EXIT_USAGE, "ambiguous option '%.*s' (could be "
		          "%s)", (int)(n > 64 ? 64 : n), arg, names);
	else
		error_set(err, EXIT_USAGE, "unrecognized option '%.*s'",
		          (int)(n > 64 ? 64 : n), arg);
}

int
config_parse(struct config *cfg, int argc, char **argv, struct error *err)
{
	struct option longopts[NOPTIONS + 1];
	char shortopts[2 + NOPTIONS] = ":", given[NOPTIONS] = {0};
	const struct config_option *o;
	size_t i, n = 1; /* ':': report a missing argument as ':' */
	int opt;

	/* getopt_long's view of the table, on the stack: nothing to free. */
	memset(longopts, 0, sizeof(longopts));
	for (i = 0; i < NOPTIONS; i++) {
		o = &config_options[i];
		longopts[i].name = o->name;
		longopts[i].has_arg = o->arg ? required_argument : no_argument;
		longopts[i].val = CHAR_MAX + 1 + (int)i;
		if (o->letter != 0) /* only actions have letters */
			shortopts[n++] = o->letter;
	}

	optind = 0; /* glibc: start afresh, so tests may call us again */
	opterr = 0; /* we print our own one-line errors */
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		char flag[64];

		if (opt == ':') {
			error_set(err, EXIT_USAGE, "option '%.64s' requires an "
			          "argument", argv[optind - 1]);
			return -1;
		}
		if (opt == '?') {
			bad_option(argv[optind - 1], err);
			return -1;
		}
		o = option_of(opt);
		if (o->arg == NULL) {
			cfg->action = o->action;
			/* per GNU standards, --help and --version win at once */
			if (o->action == CONFIG_HELP || o->action == CONFIG_VERSION)
				return 0;
			continue;
		}
		snprintf(flag, sizeof(flag), "--%s", o->name);
		if (o->parse(o, cfg, flag, optarg, err) < 0)
			return -1;
		given[o - config_options] = 1;
	}
	if (optind < argc) {
		error_set(err, EXIT_USAGE, "unexpected argument '%.64s'",
		          argv[optind]);
		return -1;
	}
	/* The environment fills in what no flag set; a variable a flag
	 * overrides is not even looked at. */
	for (i = 0; i < NOPTIONS; i++) {
		const char *val;

		o = &config_options[i];
		if (given[i] || o->env[0] == NULL)
			continue;
		if (o->parse_env != NULL) {
			if (o->parse_env(o, cfg, err) < 0)
				return -1;
		} else if ((val = env_get(o->env[0])) != NULL &&
		           o->parse(o, cfg, o->env[0], val, err) < 0) {
			return -1;
		}
	}
	return 0;
}

/* --- --help --- */

#define USAGE_INDENT 26 /* the column where the help texts start */
#define USAGE_WIDTH 79  /* no line longer, unless one word is */

/* Print the words of TEXT to OUT from column *COL, wrapping at
 * USAGE_WIDTH to USAGE_INDENT; a word is not split. */
static void
usage_words(FILE *out, const char *text, size_t *col)
{
	while (*text != '\0') {
		size_t n = strcspn(text, " ");

		if (*col > USAGE_INDENT && *col + 1 + n > USAGE_WIDTH) {
			fprintf(out, "\n%*s", USAGE_INDENT, "");
			*col = USAGE_INDENT;
		} else if (*col > USAGE_INDENT) {
			fputc(' ', out);
			(*col)++;
		}
		fprintf(out, "%.*s", (int)n, text);
		*col += n;
		text += n;
		text += strspn(text, " ");
	}
}

/* One option's entry: the flag, its help, then what the rest of its row
 * says: "(MIN-MAX; env VARS; default DEF)". */
static void
usage_option(FILE *out, const struct config_option *o)
{
	char note[2048] = "("; /* holds what the %.Ns below can print */
	size_t col, n = 1, i;
	int len;

	if (o->letter != 0)
		len = fprintf(out, "  -%c, --%s", o->letter, o->name);
	else
		len = fprintf(out, "  --%s%s%s", o->name, o->arg ? "=" : "",
		              o->arg ? o->arg : "");
	col = len > 0 ? (size_t)len : 0;
	/* Pad to the help column, or one space past a long flag: then
	 * usage_words adds the second one. */
	fprintf(out, "%*s", col < USAGE_INDENT ? (int)(USAGE_INDENT - col) : 1,
	        "");
	col = col < USAGE_INDENT ? USAGE_INDENT : col + 1;
	usage_words(out, o->help, &col);

	if (o->parse == parse_unsigned)
		n += (size_t)snprintf(note + n, sizeof(note) - n, "%u-%u%.64s; ",
		                      o->min, o->max,
		                      o->expect != NULL ? o->expect : "");
	for (i = 0; i < CONFIG_ENV_MAX && o->env[i] != NULL; i++)
		n += (size_t)snprintf(note + n, sizeof(note) - n, "%s%.64s",
		                      i > 0 ? ", " : "env ", o->env[i]);
	if (i > 0)
		n += (size_t)snprintf(note + n, sizeof(note) - n, "; ");
	if (o->def != NULL)
		n += (size_t)snprintf(note + n, sizeof(note) - n,
		                      "default %.1024s; ", o->def);
	if (n > 1) {
		note[n - 2] = ')'; /* over the last "; " */
		note[n - 1] = '\0';
		usage_words(out, note, &col);
	}
	fputc('\n', out);
}

void
config_usage(FILE *out)
{
	const struct config_option *o;

	fputs("Usage: avatar-api [OPTION]...\n"
	      "Serve a JSON list of avatars (GET PATH) and each record "
	      "(GET PATH/ID).\n\n", out);
	for (o = config_options; o->name != NULL; o++)
		usage_option(out, o);
	fputs("\n"
"A flag beats the environment, which beats the default; an empty variable\n"
"counts as unset.  Relay mode is on with --upstream, AVATAR_API_UPSTREAM (a\n"
"URL) or any of M2_DOMAIN, M2_PORT, M2_PATH (the URL is then M2_DOMAIN, ':',\n"
"M2_PORT and M2_PATH run together, by default " CONFIG_M2_DOMAIN_DEFAULT ":"
	      CONFIG_M2_PORT_DEFAULT CONFIG_M2_PATH_DEFAULT ").\n"
"--upstream beats AVATAR_API_UPSTREAM, which beats the M2_* variables.  In\n"
"relay mode the fixture is loaded only if --data or AVATAR_API_DATA is set,\n"
"for GET PATH/ID.\n"
"SIGTERM or SIGINT stops gracefully; SIGHUP reloads the fixture (a bad one\n"
"is logged and the old data kept).\n"
"\n"
"Exit status: 0 success, 64 bad usage, 65 invalid fixture, 66 fixture\n"
"unreadable, 69 address in use or unavailable, 71 system error, 74 write\n"
"error, 77 permission denied (privileged port).\n", out);
}
