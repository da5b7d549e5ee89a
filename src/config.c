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

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/avatar-api"
#endif

enum {
	OPT_ADDRESS = CHAR_MAX + 1,
	OPT_PORT,
	OPT_PATH,
	OPT_DATA,
	OPT_MODE,
	OPT_THREADS,
	OPT_MAX_CONNECTIONS,
	OPT_TIMEOUT,
	OPT_CHECK,
	OPT_HEALTHCHECK,
	OPT_UPSTREAM,
	OPT_UPSTREAM_TIMEOUT,
	OPT_UPSTREAM_MAX_BYTES,
	OPT_UPSTREAM_CONNECTIONS,
	OPT_UPSTREAM_QUEUE,
};

static const struct option longopts[] = {
	{"address", required_argument, NULL, OPT_ADDRESS},
	{"port", required_argument, NULL, OPT_PORT},
	{"path", required_argument, NULL, OPT_PATH},
	{"data", required_argument, NULL, OPT_DATA},
	{"mode", required_argument, NULL, OPT_MODE},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"check", no_argument, NULL, OPT_CHECK},
	{"healthcheck", no_argument, NULL, OPT_HEALTHCHECK},
	{"upstream", required_argument, NULL, OPT_UPSTREAM},
	{"upstream-timeout", required_argument, NULL, OPT_UPSTREAM_TIMEOUT},
	{"upstream-max-bytes", required_argument, NULL, OPT_UPSTREAM_MAX_BYTES},
	{"upstream-connections", required_argument, NULL,
	 OPT_UPSTREAM_CONNECTIONS},
	{"upstream-queue", required_argument, NULL, OPT_UPSTREAM_QUEUE},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

void
config_defaults(struct config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > (long)CONFIG_THREADS_MAX)
		ncpu = CONFIG_THREADS_MAX;
	cfg->action = CONFIG_RUN;
	cfg->address = "0.0.0.0";
	cfg->port = 8080;
	cfg->path = "/v1/user";
	cfg->data = PKGDATADIR "/users.json";
	cfg->mode = CONFIG_MODE_EPOLL;
	cfg->threads = (unsigned)ncpu;
	cfg->max_connections = CONFIG_MAX_CONNECTIONS_DEFAULT;
	cfg->timeout = CONFIG_TIMEOUT_DEFAULT;
	cfg->data_given = 0;
	cfg->upstream = NULL;
	cfg->upstream_timeout_ms = CONFIG_UPSTREAM_TIMEOUT_MS_DEFAULT;
	cfg->upstream_max_bytes = CONFIG_UPSTREAM_MAX_BYTES_DEFAULT;
	cfg->upstream_connections = CONFIG_UPSTREAM_CONNECTIONS_DEFAULT;
	cfg->upstream_queue = CONFIG_UPSTREAM_QUEUE_DEFAULT;
	cfg->upstream_buf[0] = '\0';
}

const char *
config_mode_name(enum config_mode mode)
{
	return mode == CONFIG_MODE_EPOLL ? "epoll" : "thread-per-connection";
}

/* Parse a decimal number in [MIN, MAX]: digits only, no sign, no spaces. */
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

/* An address is a numeric IPv4 or IPv6 address or a host name.  A string
 * of digits and dots that is not a valid IPv4 address, or one with a colon
 * that is not a valid IPv6 address, is rejected here rather than sent to
 * the resolver. */
static int
valid_address(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	size_t i, n = strlen(s);
	int name = 0;

	if (n == 0 || n > 253)
		return 0;
	if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
		return 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalpha(c) || c == '-')
			name = 1;
		else if (!isdigit(c) && c != '.')
			return 0;
	}
	return name && s[0] != '-' && s[0] != '.';
}

/* A route path starts with '/', has no trailing '/' (unless it is "/"),
 * and holds only printable ASCII other than space, '?', '#' and '%':
 * libmicrohttpd hands the handler the decoded path without the query. */
static int
valid_path(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > CONFIG_PATH_MAX || s[0] != '/')
		return 0;
	if (n > 1 && s[n - 1] == '/')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%')
			return 0;
	}
	return 1;
}

/* A duration: seconds with up to three decimals ("2", "0.3", "1.5s") or
 * whole milliseconds ("300ms"), in [1 ms, MAX_MS].  Stored in ms. */
static int
parse_duration_ms(const char *s, unsigned max_ms, unsigned *out)
{
	unsigned long ms = 0, scale = 1000;
	const char *p = s;
	int digits = 0, decimals = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits == 9)
			return -1;
		ms = ms * 10 + (unsigned long)(*p - '0');
	}
	if (strcmp(p, "ms") == 0) {
		scale = 1;
	} else {
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, decimals++) {
				if (decimals == 3)
					return -1;
				ms = ms * 10 + (unsigned long)(*p - '0');
				scale /= 10;
			}
			if (decimals == 0)
				return -1;
		}
		if (*p == 's')
			p++;
		if (*p != '\0')
			return -1;
	}
	if (digits == 0 && decimals == 0)
		return -1;
	ms *= scale;
	if (ms < 1 || ms > max_ms)
		return -1;
	*out = (unsigned)ms;
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

/* An upstream URL: http:// or https://, a host, printable ASCII. */
static int
valid_url(const char *s)
{
	size_t n = url_scheme(s);

	return n > 0 && printable(s, CONFIG_URL_MAX) && s[n] != '\0' &&
	       s[n] != '/' && s[n] != ':' && s[n] != '?' && s[n] != '#';
}

static int
parse_mode(const char *s, enum config_mode *mode)
{
	if (strcmp(s, "epoll") == 0)
		*mode = CONFIG_MODE_EPOLL;
	else if (strcmp(s, "thread-per-connection") == 0)
		*mode = CONFIG_MODE_THREAD_PER_CONNECTION;
	else
		return -1;
	return 0;
}

/* Apply one setting, KEY being the flag or variable name used in errors. */
static int
config_set(struct config *cfg, int opt, const char *key, const char *val,
           struct error *err)
{
	switch (opt) {
	case OPT_ADDRESS:
		if (!valid_address(val))
			goto bad;
		cfg->address = val;
		break;
	case OPT_PORT:
		if (parse_uint(val, 1, 65535, &cfg->port) < 0)
			goto bad;
		break;
	case OPT_PATH:
		if (!valid_path(val))
			goto bad;
		cfg->path = val;
		break;
	case OPT_DATA:
		if (*val == '\0')
			goto bad;
		cfg->data = val;
		cfg->data_given = 1;
		break;
	case OPT_MODE:
		if (parse_mode(val, &cfg->mode) < 0)
			goto bad;
		break;
	case OPT_THREADS:
		if (parse_uint(val, 1, CONFIG_THREADS_MAX, &cfg->threads) < 0)
			goto bad;
		break;
	case OPT_MAX_CONNECTIONS:
		if (parse_uint(val, 1, CONFIG_MAX_CONNECTIONS_MAX,
		               &cfg->max_connections) < 0)
			goto bad;
		break;
	case OPT_TIMEOUT:
		if (parse_uint(val, 0, CONFIG_TIMEOUT_MAX, &cfg->timeout) < 0)
			goto bad;
		break;
	case OPT_UPSTREAM:
		if (!valid_url(val))
			goto bad;
		cfg->upstream = val;
		break;
	case OPT_UPSTREAM_TIMEOUT:
		if (parse_duration_ms(val, CONFIG_UPSTREAM_TIMEOUT_MS_MAX,
		                      &cfg->upstream_timeout_ms) < 0)
			goto bad;
		break;
	case OPT_UPSTREAM_MAX_BYTES:
		if (parse_uint(val, 1, CONFIG_UPSTREAM_MAX_BYTES_MAX,
		               &cfg->upstream_max_bytes) < 0)
			goto bad;
		break;
	case OPT_UPSTREAM_CONNECTIONS:
		if (parse_uint(val, 1, CONFIG_UPSTREAM_CONNECTIONS_MAX,
		               &cfg->upstream_connections) < 0)
			goto bad;
		break;
	case OPT_UPSTREAM_QUEUE:
		if (parse_uint(val, 0, CONFIG_UPSTREAM_QUEUE_MAX,
		               &cfg->upstream_queue) < 0)
			goto bad;
		break;
	}
	return 0;

bad:
	switch (opt) {
	case OPT_ADDRESS:
		error_set(err, EXIT_USAGE, "%s: invalid address '%.64s' "
		          "(expected an IPv4 or IPv6 address or a host name)",
		          key, val);
		break;
	case OPT_PORT:
		error_set(err, EXIT_USAGE, "%s: invalid port '%.64s' "
		          "(expected 1-65535)", key, val);
		break;
	case OPT_PATH:
		error_set(err, EXIT_USAGE, "%s: invalid path '%.64s' (expected "
		          "'/' then printable ASCII without space, '?', '#', '%%' "
		          "or a trailing '/')", key, val);
		break;
	case OPT_DATA:
		error_set(err, EXIT_USAGE, "%s: empty file name", key);
		break;
	case OPT_MODE:
		error_set(err, EXIT_USAGE, "%s: invalid mode '%.64s' "
		          "(expected epoll or thread-per-connection)", key, val);
		break;
	case OPT_THREADS:
		error_set(err, EXIT_USAGE, "%s: invalid thread count '%.64s' "
		          "(expected 1-%u)", key, val, CONFIG_THREADS_MAX);
		break;
	case OPT_MAX_CONNECTIONS:
		error_set(err, EXIT_USAGE, "%s: invalid connection limit '%.64s' "
		          "(expected 1-%u)", key, val, CONFIG_MAX_CONNECTIONS_MAX);
		break;
	case OPT_TIMEOUT:
		error_set(err, EXIT_USAGE, "%s: invalid timeout '%.64s' "
		          "(expected 0-%u seconds, 0 = never)", key, val,
		          CONFIG_TIMEOUT_MAX);
		break;
	case OPT_UPSTREAM:
		error_set(err, EXIT_USAGE, "%s: invalid URL '%.64s' (expected "
		          "http://HOST[:PORT]/PATH in printable ASCII, at most %u "
		          "bytes)", key, val, CONFIG_URL_MAX);
		break;
	case OPT_UPSTREAM_TIMEOUT:
		error_set(err, EXIT_USAGE, "%s: invalid timeout '%.64s' "
		          "(expected seconds such as 2 or 0.3, or milliseconds "
		          "such as 300ms; 1 ms to %u s)", key, val,
		          CONFIG_UPSTREAM_TIMEOUT_MS_MAX / 1000);
		break;
	case OPT_UPSTREAM_MAX_BYTES:
		error_set(err, EXIT_USAGE, "%s: invalid size '%.64s' (expected "
		          "1-%u bytes)", key, val, CONFIG_UPSTREAM_MAX_BYTES_MAX);
		break;
	case OPT_UPSTREAM_CONNECTIONS:
		error_set(err, EXIT_USAGE, "%s: invalid connection count "
		          "'%.64s' (expected 1-%u)", key, val,
		          CONFIG_UPSTREAM_CONNECTIONS_MAX);
		break;
	case OPT_UPSTREAM_QUEUE:
		error_set(err, EXIT_USAGE, "%s: invalid queue length '%.64s' "
		          "(expected 0-%u)", key, val, CONFIG_UPSTREAM_QUEUE_MAX);
		break;
	}
	return -1;
}

/* Explain why getopt_long rejected ARG: an unknown or ambiguous name, or
 * an argument given to a flag that takes none.  getopt_long sets optopt
 * to the bad letter of a short option, to the flag's value for an
 * argument given to a long flag that takes none, and to 0 otherwise. */
static void
bad_option(const char *arg, struct error *err)
{
	size_t i, n = strcspn(arg, "="), matches = 0, match = 0;
	char names[128] = "";

	if (optopt > 0 && optopt < 0x7f && isgraph(optopt) &&
	    optopt != 'h' && optopt != 'V') {
		error_set(err, EXIT_USAGE, "unrecognized option '-%c'", optopt);
		return;
	}
	if (strncmp(arg, "--", 2) != 0 || n <= 2) {
		error_set(err, EXIT_USAGE, "unrecognized option '%.64s'", arg);
		return;
	}
	/* A long name, maybe abbreviated: which flags does it start? */
	for (i = 0; longopts[i].name != NULL; i++) {
		if (strncmp(longopts[i].name, arg + 2, n - 2) != 0)
			continue;
		if (strlen(longopts[i].name) == n - 2) { /* exact */
			matches = 1;
			match = i;
			break;
		}
		if (matches++ == 0)
			match = i;
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
		         "%s--%s", matches > 1 ? ", " : "", longopts[i].name);
	}
	if (matches == 1 && arg[n] == '=' &&
	    longopts[match].has_arg == no_argument)
		error_set(err, EXIT_USAGE, "option '--%s' doesn't allow an "
		          "argument", longopts[match].name);
	else if (matches > 1)
		error_set(err, EXIT_USAGE, "ambiguous option '%.*s' (could be "
		          "%s)", (int)(n > 64 ? 64 : n), arg, names);
	else
		error_set(err, EXIT_USAGE, "unrecognized option '%.*s'",
		          (int)(n > 64 ? 64 : n), arg);
}

/* Environment fallbacks, for what no flag set. */
static const struct {
	const char *name;
	int opt;
} envvars[] = {
	{"M1_DOMAIN", OPT_ADDRESS},
	{"M1_PORT", OPT_PORT},
	{"M1_PATH", OPT_PATH},
	{"AVATAR_API_DATA", OPT_DATA},
	{"AVATAR_API_MODE", OPT_MODE},
	{"AVATAR_API_THREADS", OPT_THREADS},
};

/* The value of environment variable NAME, or NULL if unset or empty. */
static const char *
env_get(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Relay mode from the reference's variables: URL = M2_DOMAIN ":" M2_PORT
 * M2_PATH, each defaulting as in microservice1, when any is set. */
static int
config_m2(struct config *cfg, struct error *err)
{
	const char *domain = env_get("M2_DOMAIN"), *port = env_get("M2_PORT");
	const char *path = env_get("M2_PATH");
	size_t n;
	unsigned p;

	if (domain == NULL && port == NULL && path == NULL)
		return 0;
	if (domain == NULL)
		domain = CONFIG_M2_DOMAIN_DEFAULT;
	if (port == NULL)
		port = CONFIG_M2_PORT_DEFAULT;
	if (path == NULL)
		path = CONFIG_M2_PATH_DEFAULT;
	n = url_scheme(domain);
	if (!valid_url(domain) || strchr(domain + n, '/') != NULL ||
	    strchr(domain + n, '?') != NULL || strchr(domain + n, '#') != NULL) {
		error_set(err, EXIT_USAGE, "M2_DOMAIN: invalid domain '%.64s' "
		          "(expected http://HOST or https://HOST, no port or "
		          "path)", domain);
		return -1;
	}
	if (parse_uint(port, 1, 65535, &p) < 0) {
		error_set(err, EXIT_USAGE, "M2_PORT: invalid port '%.64s' "
		          "(expected 1-65535)", port);
		return -1;
	}
	if (path[0] != '/' || !printable(path, CONFIG_PATH_MAX)) {
		error_set(err, EXIT_USAGE, "M2_PATH: invalid path '%.64s' "
		          "(expected '/' then printable ASCII without space)",
		          path);
		return -1;
	}
	if ((size_t)snprintf(cfg->upstream_buf, sizeof(cfg->upstream_buf),
	                     "%s:%u%s", domain, p, path)
	    >= sizeof(cfg->upstream_buf)) {
		error_set(err, EXIT_USAGE, "M2_DOMAIN, M2_PORT, M2_PATH: the "
		          "URL is longer than %u bytes", CONFIG_URL_MAX);
		return -1;
	}
	cfg->upstream = cfg->upstream_buf;
	return 0;
}

int
config_parse(struct config *cfg, int argc, char **argv, struct error *err)
{
	unsigned long given = 0; /* bit (opt - OPT_ADDRESS) per flag seen */
	size_t i;
	int opt;

	optind = 0; /* glibc: start afresh, so tests may call us again */
	opterr = 0; /* we print our own one-line errors */
	while ((opt = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		char flag[64];

		switch (opt) {
		case 'h':
			cfg->action = CONFIG_HELP;
			return 0; /* per GNU standards, --help wins at once */
		case 'V':
			cfg->action = CONFIG_VERSION;
			return 0;
		case OPT_CHECK:
			cfg->action = CONFIG_CHECK;
			break;
		case OPT_HEALTHCHECK:
			cfg->action = CONFIG_HEALTHCHECK;
			break;
		case ':':
			error_set(err, EXIT_USAGE, "option '%.64s' requires an "
			          "argument", argv[optind - 1]);
			return -1;
		case '?':
			bad_option(argv[optind - 1], err);
			return -1;
		default:
			snprintf(flag, sizeof(flag), "--%s",
			         longopts[opt - OPT_ADDRESS].name);
			if (config_set(cfg, opt, flag, optarg, err) < 0)
				return -1;
			given |= 1ul << (opt - OPT_ADDRESS);
			break;
		}
	}
	if (optind < argc) {
		error_set(err, EXIT_USAGE, "unexpected argument '%.64s'",
		          argv[optind]);
		return -1;
	}
	/* The environment fills in what no flag set; a variable a flag
	 * overrides is not even looked at. */
	for (i = 0; i < sizeof(envvars) / sizeof(envvars[0]); i++) {
		const char *val = getenv(envvars[i].name);

		if (given & (1ul << (envvars[i].opt - OPT_ADDRESS)))
			continue;
		if (val != NULL && *val != '\0' &&
		    config_set(cfg, envvars[i].opt, envvars[i].name, val, err) < 0)
			return -1;
	}
	if (!(given & (1ul << (OPT_UPSTREAM - OPT_ADDRESS))))
		return config_m2(cfg, err);
	return 0;
}

void
config_usage(FILE *out)
{
	fprintf(out,
"Usage: avatar-api [OPTION]...\n"
"Serve a JSON list of avatars (GET PATH) and each record (GET PATH/ID).\n"
"\n"
"  --address=ADDR          listen address (env M1_DOMAIN; default 0.0.0.0)\n"
"  --port=PORT             listen port, 1-65535 (env M1_PORT; default 8080)\n"
"  --path=PATH             route of the list (env M1_PATH; default /v1/user)\n"
"  --data=FILE             JSON fixture (env AVATAR_API_DATA;\n"
"                          default %s)\n"
"  --mode=MODE             epoll or thread-per-connection\n"
"                          (env AVATAR_API_MODE; default epoll)\n"
"  --threads=N             epoll worker threads, 1-%u\n"
"                          (env AVATAR_API_THREADS; default: online CPUs)\n"
"  --max-connections=N     connection limit (default %u, lowered to fit\n"
"                          the open-file limit with a warning)\n"
"  --timeout=SECONDS       close connections idle this long, or not done\n"
"                          sending a request this long after connecting\n"
"                          or after their last answer (default %u;\n"
"                          0 = never)\n"
"  --upstream=URL          relay mode: answer GET PATH with the body of\n"
"                          GET URL, http:// only (env M2_DOMAIN, M2_PORT,\n"
"                          M2_PATH: the URL is M2_DOMAIN:M2_PORT M2_PATH,\n"
"                          default %s:%s%s, when any is set)\n"
"  --upstream-timeout=T    answer 504 when the upstream has not answered\n"
"                          in T: seconds (2, 0.3) or ms (300ms); default 2\n"
"  --upstream-max-bytes=N  answer 502 for a longer upstream body\n"
"                          (default %u)\n"
"  --upstream-connections=N  keep-alive connections to the upstream, 1-%u\n"
"                          (default %u)\n"
"  --upstream-queue=N      requests that may wait for a connection\n"
"                          (default %u); more get 503 at once\n"
"  --check                 load and validate the fixture, then exit\n"
"  --healthcheck           GET /healthz from the server at --address and\n"
"                          --port; exit 0 if it answers 200, else 1\n"
"  -h, --help              display this help and exit\n"
"  -V, --version           output version information and exit\n"
"\n"
"A flag beats the environment, which beats the default; an empty variable\n"
"counts as unset.  SIGTERM or SIGINT stops gracefully; SIGHUP reloads\n"
"the fixture (a bad one is logged and the old data kept).  In relay mode\n"
"the fixture is loaded only if --data or AVATAR_API_DATA is set, for\n"
"GET PATH/ID.\n"
"\n"
"Exit status: 0 success, 64 bad usage, 65 invalid fixture, 66 fixture\n"
"unreadable, 69 address in use or unavailable, 71 system error, 74 write\n"
"error, 77 permission denied (privileged port).\n",
	        PKGDATADIR "/users.json", CONFIG_THREADS_MAX,
	        CONFIG_MAX_CONNECTIONS_DEFAULT, CONFIG_TIMEOUT_DEFAULT,
	        CONFIG_M2_DOMAIN_DEFAULT, CONFIG_M2_PORT_DEFAULT,
	        CONFIG_M2_PATH_DEFAULT, CONFIG_UPSTREAM_MAX_BYTES_DEFAULT,
	        CONFIG_UPSTREAM_CONNECTIONS_MAX,
	        CONFIG_UPSTREAM_CONNECTIONS_DEFAULT,
	        CONFIG_UPSTREAM_QUEUE_DEFAULT);
}
