/* check_config.c -- unit tests for config.c: flags, environment, defaults. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "testutil.h"

#include "config.h"
#include "error.h"

#define NARGS 24

static const char *const env_names[] = {
	"M1_DOMAIN", "M1_PORT", "M1_PATH",
	"AVATAR_API_DATA", "AVATAR_API_MODE", "AVATAR_API_THREADS",
	"M2_DOMAIN", "M2_PORT", "M2_PATH",
	"AVATAR_API_TIMEOUT", "AVATAR_API_MAX_CONNECTIONS",
	"AVATAR_API_UPSTREAM", "AVATAR_API_UPSTREAM_TIMEOUT",
	"AVATAR_API_UPSTREAM_MAX_BYTES", "AVATAR_API_UPSTREAM_CONNECTIONS",
	"AVATAR_API_UPSTREAM_QUEUE",
};

/* Start every test from a clean environment.  POSIXLY_CORRECT is removed
 * too: it would stop getopt_long at the first non-option argument. */
static void
setup(void)
{
	size_t i;

	for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		ck_assert_int_eq(unsetenv(env_names[i]), 0);
	ck_assert_int_eq(unsetenv("POSIXLY_CORRECT"), 0);
}

static void
teardown(void)
{
	setup();
}

/* Copy the NULL-terminated ARGS (after argv[0]) into the writable array
 * ARGV, which getopt_long may permute.  Returns argc. */
static int
make_argv(char *argv[NARGS], const char *const *args)
{
	int n = 0;

	argv[n++] = (char *)"avatar-api";
	while (*args != NULL) {
		ck_assert_int_lt(n, NARGS - 1);
		argv[n++] = (char *)*args++;
	}
	argv[n] = NULL;
	return n;
}

/* Reset CFG to the defaults and ERR to "no error", then parse ARGS. */
static int
parse(struct config *cfg, struct error *err, const char *const *args)
{
	char *argv[NARGS];
	int argc = make_argv(argv, args);

	config_defaults(cfg);
	err->code = 0;
	memset(err->text, 0, sizeof(err->text));
	return config_parse(cfg, argc, argv, err);
}

static unsigned
expected_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	if (n > (long)CONFIG_THREADS_MAX)
		n = CONFIG_THREADS_MAX;
	return (unsigned)n;
}

/* The field NAME of CFG as text, independently of config_mode_name. */
static void
field(const struct config *cfg, const char *name, char *buf, size_t size)
{
	if (strcmp(name, "address") == 0)
		snprintf(buf, size, "%s", cfg->address);
	else if (strcmp(name, "port") == 0)
		snprintf(buf, size, "%u", cfg->port);
	else if (strcmp(name, "path") == 0)
		snprintf(buf, size, "%s", cfg->path);
	else if (strcmp(name, "data") == 0)
		snprintf(buf, size, "%s", cfg->data);
	else if (strcmp(name, "mode") == 0)
		snprintf(buf, size, "%s",
		         cfg->mode == CONFIG_MODE_EPOLL ? "epoll" :
		         cfg->mode == CONFIG_MODE_THREAD_PER_CONNECTION ?
		         "thread-per-connection" : "?");
	else if (strcmp(name, "threads") == 0)
		snprintf(buf, size, "%u", cfg->threads);
	else if (strcmp(name, "max_connections") == 0)
		snprintf(buf, size, "%u", cfg->max_connections);
	else if (strcmp(name, "timeout") == 0)
		snprintf(buf, size, "%u", cfg->timeout);
	else if (strcmp(name, "upstream") == 0)
		snprintf(buf, size, "%s", cfg->upstream != NULL ? cfg->upstream
		         : "(none)");
	else if (strcmp(name, "upstream_timeout") == 0)
		snprintf(buf, size, "%u", cfg->upstream_timeout_ms);
	else if (strcmp(name, "upstream_max_bytes") == 0)
		snprintf(buf, size, "%u", cfg->upstream_max_bytes);
	else if (strcmp(name, "upstream_connections") == 0)
		snprintf(buf, size, "%u", cfg->upstream_connections);
	else if (strcmp(name, "upstream_queue") == 0)
		snprintf(buf, size, "%u", cfg->upstream_queue);
	else
		ck_abort_msg("unknown field %s", name);
}

static void
assert_defaults(const struct config *cfg)
{
	ck_assert_int_eq(cfg->action, CONFIG_RUN);
	ck_assert_str_eq(cfg->address, "0.0.0.0");
	ck_assert_uint_eq(cfg->port, 8080);
	ck_assert_str_eq(cfg->path, "/v1/user");
	ck_assert_ptr_nonnull(cfg->data);
	ck_assert_uint_ge(strlen(cfg->data), strlen("/users.json"));
	ck_assert_str_eq(cfg->data + strlen(cfg->data) - strlen("/users.json"),
	                 "/users.json");
#ifdef PKGDATADIR
	ck_assert_str_eq(cfg->data, PKGDATADIR "/users.json");
#endif
	ck_assert_int_eq(cfg->mode, CONFIG_MODE_EPOLL);
	ck_assert_uint_eq(cfg->threads, expected_threads());
	ck_assert_uint_ge(cfg->threads, 1);
	ck_assert_uint_eq(cfg->max_connections, 10000);
	ck_assert_uint_eq(cfg->timeout, 60);
}

static void
assert_usage_error(int rc, const struct error *err, const char *want)
{
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(err->code, EXIT_USAGE);
	ck_assert_int_eq(err->code, 64);
	ck_assert_msg(strstr(err->text, want) != NULL,
	              "error '%s' does not contain '%s'", err->text, want);
	ck_assert_msg(strchr(err->text, '\n') == NULL,
	              "error '%s' is not one line", err->text);
	ck_assert_uint_lt(strlen(err->text), ERROR_TEXT_LEN);
}

/* --- core --- */

START_TEST(test_config_defaults)
{
	struct config cfg;

	memset(&cfg, 0xa5, sizeof(cfg));
	config_defaults(&cfg);
	assert_defaults(&cfg);
}
END_TEST

START_TEST(test_config_no_args_keeps_defaults)
{
	static const char *const args[] = {NULL};
	struct config cfg;
	struct error err;

	ck_assert_int_eq(parse(&cfg, &err, args), 0);
	ck_assert_int_eq(err.code, 0);
	ck_assert_str_eq(err.text, "");
	assert_defaults(&cfg);
}
END_TEST

/* Every flag, in both "--flag value" and "--flag=value" forms, and the
 * bounds of each numeric range. */
static const struct {
	const char *args[4];
	const char *field;
	const char *want;
} good_flags[] = {
	{{"--address", "127.0.0.1"}, "address", "127.0.0.1"},
	{{"--address=::1"}, "address", "::1"},
	{{"--port", "9000"}, "port", "9000"},
	{{"--port=9000"}, "port", "9000"},
	{{"--port", "1"}, "port", "1"},
	{{"--port", "65535"}, "port", "65535"},
	{{"--path", "/api/avatars"}, "path", "/api/avatars"},
	{{"--path=/"}, "path", "/"},
	{{"--data", "/tmp/u.json"}, "data", "/tmp/u.json"},
	{{"--data=rel.json"}, "data", "rel.json"},
	{{"--mode", "epoll"}, "mode", "epoll"},
	{{"--mode", "thread-per-connection"}, "mode", "thread-per-connection"},
	{{"--mode=thread-per-connection"}, "mode", "thread-per-connection"},
	{{"--threads", "3"}, "threads", "3"},
	{{"--threads=1"}, "threads", "1"},
	{{"--threads", "1024"}, "threads", "1024"},
	{{"--max-connections", "500"}, "max_connections", "500"},
	{{"--max-connections=1"}, "max_connections", "1"},
	{{"--max-connections", "1000000"}, "max_connections", "1000000"},
	{{"--timeout", "5"}, "timeout", "5"},
	{{"--timeout", "0"}, "timeout", "0"},
	{{"--timeout=0"}, "timeout", "0"},
	{{"--timeout", "86400"}, "timeout", "86400"},
	{{"--upstream", "http://127.0.0.1:3000/v1/avatar"}, "upstream",
	 "http://127.0.0.1:3000/v1/avatar"},
	{{"--upstream=http://m2.example/x?y=1"}, "upstream",
	 "http://m2.example/x?y=1"},
	{{"--upstream", "HTTP://m2"}, "upstream", "HTTP://m2"},
	{{"--upstream-timeout", "2"}, "upstream_timeout", "2000"},
	{{"--upstream-timeout", "0.3"}, "upstream_timeout", "300"},
	{{"--upstream-timeout", "1.25s"}, "upstream_timeout", "1250"},
	{{"--upstream-timeout", ".5"}, "upstream_timeout", "500"},
	{{"--upstream-timeout", "0.001"}, "upstream_timeout", "1"},
	{{"--upstream-timeout=300ms"}, "upstream_timeout", "300"},
	{{"--upstream-timeout", "1ms"}, "upstream_timeout", "1"},
	{{"--upstream-timeout", "3600"}, "upstream_timeout", "3600000"},
	{{"--upstream-max-bytes", "1"}, "upstream_max_bytes", "1"},
	{{"--upstream-max-bytes", "268435456"}, "upstream_max_bytes",
	 "268435456"},
	{{"--upstream-connections", "1"}, "upstream_connections", "1"},
	{{"--upstream-connections=1024"}, "upstream_connections", "1024"},
	{{"--upstream-queue", "0"}, "upstream_queue", "0"},
	{{"--upstream-queue", "100000"}, "upstream_queue", "100000"},
};

START_TEST(test_config_flag_sets_field)
{
	struct config cfg;
	struct error err;
	char got[256];

	ck_assert_msg(parse(&cfg, &err, good_flags[_i].args) == 0,
	              "%s %s: %s", good_flags[_i].args[0],
	              good_flags[_i].args[1] ? good_flags[_i].args[1] : "",
	              err.text);
	ck_assert_int_eq(err.code, 0);
	ck_assert_int_eq(cfg.action, CONFIG_RUN);
	field(&cfg, good_flags[_i].field, got, sizeof(got));
	ck_assert_str_eq(got, good_flags[_i].want);
}
END_TEST

START_TEST(test_config_all_flags_together)
{
	char *argv[] = {
		(char *)"avatar-api", (char *)"--address=localhost",
		(char *)"--port", (char *)"1234", (char *)"--path=/p",
		(char *)"--data", (char *)"d.json",
		(char *)"--mode=thread-per-connection", (char *)"--threads",
		(char *)"7", (char *)"--max-connections=42",
		(char *)"--timeout", (char *)"0", (char *)"--check", NULL,
	};
	struct config cfg;
	struct error err = {0, ""};

	config_defaults(&cfg);
	ck_assert_int_eq(config_parse(&cfg, 14, argv, &err), 0);
	ck_assert_int_eq(err.code, 0);
	ck_assert_int_eq(cfg.action, CONFIG_CHECK);
	ck_assert_str_eq(cfg.address, "localhost");
	ck_assert_uint_eq(cfg.port, 1234);
	ck_assert_str_eq(cfg.path, "/p");
	ck_assert_str_eq(cfg.data, "d.json");
	ck_assert_int_eq(cfg.mode, CONFIG_MODE_THREAD_PER_CONNECTION);
	ck_assert_uint_eq(cfg.threads, 7);
	ck_assert_uint_eq(cfg.max_connections, 42);
	ck_assert_uint_eq(cfg.timeout, 0);
}
END_TEST

START_TEST(test_config_last_flag_wins)
{
	static const char *const args[] = {
		"--port", "1000", "--port=2000", NULL,
	};
	struct config cfg;
	struct error err;

	ck_assert_int_eq(parse(&cfg, &err, args), 0);
	ck_assert_uint_eq(cfg.port, 2000);
}
END_TEST

/* Each variable, its flag and a value that differs from the default. */
static const struct {
	const char *var;
	const char *env;
	const char *flag;
	const char *arg;
	const char *field;
} env_cases[] = {
	{"M1_DOMAIN", "127.0.0.1", "--address", "::1", "address"},
	{"M1_PORT", "9001", "--port", "9002", "port"},
	{"M1_PATH", "/env/path", "--path", "/flag/path", "path"},
	{"AVATAR_API_DATA", "/env.json", "--data", "/flag.json", "data"},
	{"AVATAR_API_MODE", "thread-per-connection", "--mode", "epoll", "mode"},
	{"AVATAR_API_THREADS", "3", "--threads", "5", "threads"},
	{"AVATAR_API_MAX_CONNECTIONS", "500", "--max-connections", "600",
	 "max_connections"},
	{"AVATAR_API_TIMEOUT", "0", "--timeout", "7", "timeout"},
	{"AVATAR_API_UPSTREAM", "http://env:81/e", "--upstream",
	 "http://flag:82/f", "upstream"},
	/* stored in ms: "1.5" seconds from the environment, "250ms" */
	{"AVATAR_API_UPSTREAM_TIMEOUT", "1.5", "--upstream-timeout", "0.25",
	 "upstream_timeout"},
	{"AVATAR_API_UPSTREAM_MAX_BYTES", "4096", "--upstream-max-bytes", "8192",
	 "upstream_max_bytes"},
	{"AVATAR_API_UPSTREAM_CONNECTIONS", "4", "--upstream-connections", "8",
	 "upstream_connections"},
	{"AVATAR_API_UPSTREAM_QUEUE", "0", "--upstream-queue", "9",
	 "upstream_queue"},
};

/* What field() shows for VALUE of env_cases[I]: a duration in ms. */
static const char *
env_case_want(size_t i, const char *value, char *buf, size_t size)
{
	if (strcmp(env_cases[i].field, "upstream_timeout") != 0)
		return value;
	snprintf(buf, size, "%u", strcmp(value, "1.5") == 0 ? 1500u :
	         strcmp(value, "0.25") == 0 ? 250u : 0u);
	return buf;
}

/* An environment variable is used when no flag is given, and so beats the
 * default; the other fields keep their defaults. */
START_TEST(test_config_env_beats_default)
{
	static const char *const args[] = {NULL};
	struct config cfg;
	struct error err;
	char got[256], def[256], buf[32];
	const char *want = env_case_want(_i, env_cases[_i].env, buf,
	                                 sizeof(buf));

	config_defaults(&cfg);
	field(&cfg, env_cases[_i].field, def, sizeof(def));
	ck_assert_str_ne(def, want); /* the case means something */
	ck_assert_int_eq(setenv(env_cases[_i].var, env_cases[_i].env, 1), 0);
	ck_assert_msg(parse(&cfg, &err, args) == 0, "%s", err.text);
	field(&cfg, env_cases[_i].field, got, sizeof(got));
	ck_assert_str_eq(got, want);
	/* Only that field moved. */
	ck_assert_int_eq(cfg.action, CONFIG_RUN);
	if (strcmp(env_cases[_i].field, "max_connections") != 0)
		ck_assert_uint_eq(cfg.max_connections, 10000);
	if (strcmp(env_cases[_i].field, "timeout") != 0)
		ck_assert_uint_eq(cfg.timeout, 60);
	if (strcmp(env_cases[_i].field, "upstream") != 0)
		ck_assert_ptr_null(cfg.upstream);
	if (strcmp(env_cases[_i].field, "port") != 0)
		ck_assert_uint_eq(cfg.port, 8080);
	if (strcmp(env_cases[_i].field, "address") != 0)
		ck_assert_str_eq(cfg.address, "0.0.0.0");
	if (strcmp(env_cases[_i].field, "path") != 0)
		ck_assert_str_eq(cfg.path, "/v1/user");
	if (strcmp(env_cases[_i].field, "mode") != 0)
		ck_assert_int_eq(cfg.mode, CONFIG_MODE_EPOLL);
	if (strcmp(env_cases[_i].field, "threads") != 0)
		ck_assert_uint_eq(cfg.threads, expected_threads());
}
END_TEST

START_TEST(test_config_flag_beats_env)
{
	const char *args[3];
	struct config cfg;
	struct error err;
	char got[256], buf[32];

	ck_assert_int_eq(setenv(env_cases[_i].var, env_cases[_i].env, 1), 0);
	args[0] = env_cases[_i].flag;
	args[1] = env_cases[_i].arg;
	args[2] = NULL;
	ck_assert_msg(parse(&cfg, &err, args) == 0, "%s", err.text);
	field(&cfg, env_cases[_i].field, got, sizeof(got));
	ck_assert_str_eq(got, env_case_want(_i, env_cases[_i].arg, buf,
	                                    sizeof(buf)));
}
END_TEST

START_TEST(test_config_env_all_at_once)
{
	static const char *const args[] = {NULL};
	struct config cfg;
	struct error err;
	size_t i;
	char got[256], buf[32];

	for (i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++)
		ck_assert_int_eq(setenv(env_cases[i].var, env_cases[i].env, 1),
		                 0);
	ck_assert_msg(parse(&cfg, &err, args) == 0, "%s", err.text);
	for (i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		field(&cfg, env_cases[i].field, got, sizeof(got));
		ck_assert_str_eq(got, env_case_want(i, env_cases[i].env, buf,
		                                    sizeof(buf)));
	}
}
END_TEST

START_TEST(test_config_env_empty_is_unset)
{
	static const char *const args[] = {NULL};
	struct config cfg;
	struct error err;
	size_t i;

	/* An empty value would be invalid for every one of these. */
	for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		ck_assert_int_eq(setenv(env_names[i], "", 1), 0);
	ck_assert_msg(parse(&cfg, &err, args) == 0, "%s", err.text);
	ck_assert_int_eq(err.code, 0);
	assert_defaults(&cfg);
}
END_TEST

static const struct {
	const char *args[4];
	enum config_action action;
} actions[] = {
	{{"--help"}, CONFIG_HELP},
	{{"-h"}, CONFIG_HELP},
	{{"--version"}, CONFIG_VERSION},
	{{"-V"}, CONFIG_VERSION},
	{{"--check"}, CONFIG_CHECK},
	{{"--healthcheck"}, CONFIG_HEALTHCHECK},
	{{"--healthcheck", "--port", "9000"}, CONFIG_HEALTHCHECK},
	{{"--port", "9000", "--check"}, CONFIG_CHECK},
	/* --help returns at once, so later flags are not even looked at. */
	{{"--help", "--port", "abc"}, CONFIG_HELP},
	{{"-V", "--nope"}, CONFIG_VERSION},
	{{"--check", "--help"}, CONFIG_HELP},
	{{"--check", "-V"}, CONFIG_VERSION},
};

START_TEST(test_config_actions)
{
	struct config cfg;
	struct error err;

	ck_assert_msg(parse(&cfg, &err, actions[_i].args) == 0, "%s: %s",
	              actions[_i].args[0], err.text);
	ck_assert_int_eq(err.code, 0);
	ck_assert_int_eq(cfg.action, actions[_i].action);
}
END_TEST

START_TEST(test_config_valid_addresses)
{
	static const char *const addrs[] = {
		"127.0.0.1", "::1", "::", "localhost", "my-host.example",
		"0.0.0.0", "fe80::1", "host1",
	};
	size_t i;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		const char *args[] = {"--address", addrs[i], NULL};
		struct config cfg;
		struct error err;

		ck_assert_msg(parse(&cfg, &err, args) == 0, "%s: %s",
		              addrs[i], err.text);
		ck_assert_str_eq(cfg.address, addrs[i]);
	}
}
END_TEST

/* config_parse resets getopt, so it can be called again in one process
 * (this matters with CK_FORK=no), even after a parse that stopped in the
 * middle of a group of short options. */
START_TEST(test_config_parse_twice)
{
	static const char *const first[] = {
		"--port", "9000", "--mode", "thread-per-connection", NULL,
	};
	static const char *const second[] = {"--port", "9001", NULL};
	static const char *const broken[] = {"-xh", NULL};
	static const char *const third[] = {"--timeout=7", NULL};
	struct config cfg;
	struct error err;

	ck_assert_int_eq(parse(&cfg, &err, first), 0);
	ck_assert_uint_eq(cfg.port, 9000);
	ck_assert_int_eq(cfg.mode, CONFIG_MODE_THREAD_PER_CONNECTION);
	ck_assert_int_eq(parse(&cfg, &err, second), 0);
	ck_assert_uint_eq(cfg.port, 9001);
	ck_assert_int_eq(cfg.mode, CONFIG_MODE_EPOLL);
	ck_assert_int_eq(parse(&cfg, &err, broken), -1);
	ck_assert_int_eq(parse(&cfg, &err, third), 0);
	ck_assert_int_eq(cfg.action, CONFIG_RUN);
	ck_assert_uint_eq(cfg.timeout, 7);
	ck_assert_uint_eq(cfg.port, 8080);
}
END_TEST

START_TEST(test_config_positional_after_flags_permuted)
{
	/* getopt_long permutes: the stray argument is found wherever it
	 * is, after the flags around it have been applied. */
	static const char *const args[] = {"extra", "--port", "9000", NULL};
	struct config cfg;
	struct error err;

	assert_usage_error(parse(&cfg, &err, args), &err, "extra");
	ck_assert_str_eq(err.text, "unexpected argument 'extra'");
}
END_TEST

START_TEST(test_config_mode_name)
{
	ck_assert_str_eq(config_mode_name(CONFIG_MODE_EPOLL), "epoll");
	ck_assert_str_eq(config_mode_name(CONFIG_MODE_THREAD_PER_CONNECTION),
	                 "thread-per-connection");
}
END_TEST

START_TEST(test_config_mode_name_round_trip)
{
	static const enum config_mode modes[] = {
		CONFIG_MODE_EPOLL, CONFIG_MODE_THREAD_PER_CONNECTION,
	};
	size_t i;

	for (i = 0; i < 2; i++) {
		const char *args[] = {"--mode", config_mode_name(modes[i]),
		                      NULL};
		struct config cfg;
		struct error err;

		ck_assert_int_eq(parse(&cfg, &err, args), 0);
		ck_assert_int_eq(cfg.mode, modes[i]);
	}
}
END_TEST

START_TEST(test_config_usage_mentions_every_flag)
{
	static const char *const words[] = {
		"--address", "--port", "--path", "--data", "--mode",
		"--threads", "--max-connections", "--timeout", "--check",
		"--healthcheck", "--upstream", "--upstream-timeout",
		"--upstream-max-bytes", "--upstream-connections",
		"--upstream-queue", "M2_DOMAIN", "M2_PORT", "M2_PATH",
		"http://127.0.0.1:3000/v1/avatar",
		"--help", "--version", "-h", "-V",
		"M1_DOMAIN", "M1_PORT", "M1_PATH", "AVATAR_API_DATA",
		"AVATAR_API_MODE", "AVATAR_API_THREADS",
		"epoll", "thread-per-connection",
	};
	char buf[8192];
	size_t n, i;
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	config_usage(f);
	ck_assert_int_eq(fflush(f), 0);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	ck_assert_int_eq(ferror(f), 0);
	fclose(f);
	ck_assert_uint_lt(n, sizeof(buf) - 1);
	buf[n] = '\0';
	ck_assert_uint_gt(n, 0);
	ck_assert(strncmp(buf, "Usage: avatar-api", 17) == 0);
	ck_assert_int_eq(buf[n - 1], '\n');
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		ck_assert_msg(strstr(buf, words[i]) != NULL,
		              "usage does not mention %s", words[i]);
}
END_TEST

/* --- errors --- */

/* Bad flags and values: -1, EXIT_USAGE and one line containing WANT; if
 * EXACT is set, the whole text. */
static const struct {
	const char *args[4];
	const char *want;
	const char *exact;
} bad_args[] = {
	{{"--port", "abc"}, "--port",
	 "--port: invalid port 'abc' (expected 1-65535)"},
	/* A newline in a value must not split the message. */
	{{"--port", "8\n0"}, "--port",
	 "--port: invalid port '8?0' (expected 1-65535)"},
	{{"--check", "-xy"}, "-x", "unrecognized option '-x'"},
	{{"--t", "5"}, "--t",
	 "ambiguous option '--t' (could be --threads, --timeout)"},
	{{"--che=1"}, "--check", "option '--check' doesn't allow an argument"},
	{{"--help=1"}, "--help", "option '--help' doesn't allow an argument"},
	{{"--port", "0"}, "--port", NULL},
	{{"--port", "70000"}, "--port", NULL},
	{{"--port", "65536"}, "--port",
	 "--port: invalid port '65536' (expected 1-65535)"},
	{{"--port", "-1"}, "--port", NULL},
	{{"--port=-1"}, "--port", NULL},
	{{"--port", ""}, "--port",
	 "--port: invalid port '' (expected 1-65535)"},
	{{"--port="}, "--port", NULL},
	{{"--port", " 80"}, "--port", NULL},
	{{"--port", "80 "}, "--port", NULL},
	{{"--port", "+80"}, "--port", NULL},
	{{"--port", "80x"}, "--port", NULL},
	{{"--port", "0x50"}, "--port", NULL},
	{{"--port", "99999999999999999999"}, "--port", NULL},
	{{"--port", "4294967376"}, "--port", NULL}, /* 2^32 + 80 */
	{{"--threads", "0"}, "--threads",
	 "--threads: invalid thread count '0' (expected 1-1024)"},
	{{"--upstream", "ftp://m2/x"}, "--upstream",
	 "--upstream: invalid URL 'ftp://m2/x' (expected http://HOST[:PORT]/PATH "
	 "in printable ASCII, at most 2048 bytes)"},
	{{"--upstream", "https://m2/x"}, "--upstream",
	 "--upstream: invalid URL 'https://m2/x' (expected http://HOST[:PORT]/PATH "
	 "in printable ASCII; https:// is not supported, the relay speaks plain "
	 "http:// only)"},
	{{"--upstream", "m2:3000/x"}, "--upstream", NULL},
	{{"--upstream", "http://"}, "--upstream", NULL},
	{{"--upstream", "http:///x"}, "--upstream", NULL},
	{{"--upstream", "http://:80/x"}, "--upstream", NULL},
	{{"--upstream", "http://m2/a b"}, "--upstream", NULL},
	{{"--upstream", ""}, "--upstream", NULL},
	{{"--upstream-timeout", "0"}, "--upstream-timeout",
	 "--upstream-timeout: invalid timeout '0' (expected seconds such as 2 "
	 "or 0.3, or milliseconds such as 300ms; 1 ms to 3600 s)"},
	{{"--upstream-timeout", "0.0001"}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "0ms"}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "3601"}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "1."}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "."}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "-1"}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "5m"}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "ms"}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "1.5ms"}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "2 s"}, "--upstream-timeout", NULL},
	{{"--upstream-timeout", "9999999999"}, "--upstream-timeout", NULL},
	{{"--upstream-max-bytes", "0"}, "--upstream-max-bytes",
	 "--upstream-max-bytes: invalid size '0' (expected 1-268435456 bytes)"},
	{{"--upstream-max-bytes", "1M"}, "--upstream-max-bytes", NULL},
	{{"--upstream-max-bytes", "268435457"}, "--upstream-max-bytes", NULL},
	{{"--upstream-connections", "0"}, "--upstream-connections",
	 "--upstream-connections: invalid connection count '0' (expected "
	 "1-1024)"},
	{{"--upstream-connections", "1025"}, "--upstream-connections", NULL},
	{{"--upstream-queue", "100001"}, "--upstream-queue",
	 "--upstream-queue: invalid queue length '100001' (expected 0-100000)"},
	{{"--upstream-queue", "-1"}, "--upstream-queue", NULL},
	{{"--upstream-q"}, "--upstream-q",
	 "option '--upstream-q' requires an argument"},
	{{"--up", "x"}, "--up",
	 "ambiguous option '--up' (could be --upstream, --upstream-timeout, "
	 "--upstream-max-bytes, --upstream-connections, --upstream-queue)"},
	{{"--threads", "1025"}, "--threads", NULL},
	{{"--threads", "two"}, "--threads", NULL},
	{{"--mode", "fast"}, "--mode",
	 "--mode: invalid mode 'fast' "
	 "(expected epoll or thread-per-connection)"},
	{{"--mode", "EPOLL"}, "--mode", NULL},
	{{"--mode", ""}, "--mode", NULL},
	{{"--nope"}, "--nope", "unrecognized option '--nope'"},
	{{"--nope=1"}, "--nope", "unrecognized option '--nope'"},
	{{"-x"}, "-x", "unrecognized option '-x'"},
	{{"--port"}, "--port", "option '--port' requires an argument"},
	{{"--check=1"}, "--check",
	 "option '--check' doesn't allow an argument"},
	{{"--help=1"}, "--help", "option '--help' doesn't allow an argument"},
	{{"extra"}, "extra", "unexpected argument 'extra'"},
	{{"--port", "9000", "extra"}, "extra", NULL},
	{{"--", "--port"}, "--port", "unexpected argument '--port'"},
	{{"--path", "v1/user"}, "--path",
	 "--path: invalid path 'v1/user' (expected '/' then printable ASCII "
	 "without space, '?', '#', '%' or a trailing '/')"},
	{{"--path", "/v1/user/"}, "--path", NULL},
	{{"--path", "/a b"}, "--path", NULL},
	{{"--path", "/a?b"}, "--path", NULL},
	{{"--path", "/a#b"}, "--path", NULL},
	{{"--path", "/a%20b"}, "--path", NULL},
	{{"--path", ""}, "--path", NULL},
	{{"--path", "//"}, "--path", NULL},
	{{"--path", "/caf\xc3\xa9"}, "--path", NULL},
	{{"--address", "999.1.1.1"}, "--address",
	 "--address: invalid address '999.1.1.1' (expected an IPv4 or IPv6 "
	 "address or a host name)"},
	{{"--address", ""}, "--address", NULL},
	{{"--address", "a b"}, "--address", NULL},
	{{"--address", "1.2.3.4.5"}, "--address", NULL},
	{{"--address", "1.2.3"}, "--address", NULL},
	{{"--address", "1::2::3"}, "--address", NULL},
	{{"--address", "-host"}, "--address", NULL},
	{{"--max-connections", "0"}, "--max-connections",
	 "--max-connections: invalid connection limit '0' "
	 "(expected 1-1000000)"},
	{{"--max-connections", "1000001"}, "--max-connections", NULL},
	{{"--timeout", "-1"}, "--timeout", NULL},
	{{"--timeout", "86401"}, "--timeout", NULL},
	{{"--timeout", "1s"}, "--timeout",
	 "--timeout: invalid timeout '1s' (expected 0-86400 seconds, "
	 "0 = never)"},
	{{"--data", ""}, "--data", "--data: empty file name"},
	{{"--data="}, "--data", NULL},
	{{"--compression", "yes"}, "--compression",
	 "--compression: invalid compression 'yes' (expected on or off)"},
	{{"--compression", "ON"}, "--compression", NULL},
	{{"--cache-control", ""}, "--cache-control",
	 "--cache-control: invalid Cache-Control value '' (expected 1-256 "
	 "bytes of printable ASCII)"},
	{{"--cache-control", "no-cache\r\nX: y"}, "--cache-control", NULL},
	{{"--cache-control", " no-cache"}, "--cache-control", NULL},
	{{"--cache-control", "no-cache "}, "--cache-control", NULL},
	{{"--cache-control", "max-age=\x7f"}, "--cache-control", NULL},
	{{"--cors-origin", "https://a.example/"}, "--cors-origin",
	 "--cors-origin: invalid origin 'https://a.example/' (expected '*' or "
	 "http[s]://host[:port], lowercase)"},
	{{"--cors-origin", "ftp://a.example"}, "--cors-origin", NULL},
	{{"--cors-origin", "HTTPS://A.EXAMPLE"}, "--cors-origin", NULL},
	{{"--cors-origin", ""}, "--cors-origin", NULL},
};

START_TEST(test_config_bad_flag)
{
	struct config cfg;
	struct error err;
	int rc = parse(&cfg, &err, bad_args[_i].args);

	assert_usage_error(rc, &err, bad_args[_i].want);
	if (bad_args[_i].exact != NULL)
		ck_assert_str_eq(err.text, bad_args[_i].exact);
}
END_TEST

/* A bad value names the flag by its full name, even when abbreviated. */
START_TEST(test_config_bad_abbreviated_flag_full_name)
{
	static const char *const args[] = {"--po", "abc", NULL};
	struct config cfg;
	struct error err;

	assert_usage_error(parse(&cfg, &err, args), &err, "--port");
	ck_assert_str_eq(err.text,
	                 "--port: invalid port 'abc' (expected 1-65535)");
}
END_TEST

/* A long bad value is quoted only in part, so the text stays short. */
START_TEST(test_config_bad_value_truncated)
{
	char value[300], want[100];
	const char *args[] = {"--port", value, NULL};
	struct config cfg;
	struct error err;

	memset(value, '9', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	assert_usage_error(parse(&cfg, &err, args), &err, "--port");
	memset(want, '9', 64);
	want[64] = '\0';
	ck_assert_ptr_nonnull(strstr(err.text, want));
	want[64] = '9';
	want[65] = '\0';
	ck_assert_ptr_null(strstr(err.text, want));
	ck_assert_uint_lt(strlen(err.text), 150);
}
END_TEST

/* Bad environment values: the message names the variable. */
static const struct {
	const char *var;
	const char *value;
	const char *exact;
} bad_env[] = {
	{"M1_PORT", "abc", "M1_PORT: invalid port 'abc' (expected 1-65535)"},
	{"M1_PORT", "0", NULL},
	{"M1_PORT", "70000", NULL},
	{"M1_PORT", " 80", NULL},
	{"AVATAR_API_THREADS", "0",
	 "AVATAR_API_THREADS: invalid thread count '0' (expected 1-1024)"},
	{"AVATAR_API_THREADS", "many", NULL},
	{"AVATAR_API_MODE", "turbo",
	 "AVATAR_API_MODE: invalid mode 'turbo' (expected epoll or "
	 "thread-per-connection)"},
	{"M1_PATH", "nope", NULL},
	{"M1_PATH", "/x/", NULL},
	{"M1_DOMAIN", "1.2.3.999", NULL},
	{"M1_DOMAIN", "a b", NULL},
	{"M2_PORT", "abc", "M2_PORT: invalid port 'abc' (expected 1-65535)"},
	{"M2_PORT", "0", NULL},
	{"M2_PORT", "65536", NULL},
	{"M2_DOMAIN", "127.0.0.1",
	 "M2_DOMAIN: invalid domain '127.0.0.1' (expected http://HOST, no port "
	 "or path)"},
	/* Every M2_DOMAIN message states the same one form: no https://
	 * offered, then refused later. */
	{"M2_DOMAIN", "https://m2",
	 "M2_DOMAIN: invalid domain 'https://m2' (expected http://HOST, no port "
	 "or path; https:// is not supported, the relay speaks plain http:// "
	 "only)"},
	{"M2_DOMAIN", "HTTPS://[::1]", NULL},
	{"M2_DOMAIN", "http://m2:3000",
	 "M2_DOMAIN: invalid domain 'http://m2:3000' (expected http://HOST, no "
	 "port or path)"},
	{"M2_DOMAIN", "http://[::1]:3000", NULL},
	{"M2_DOMAIN", "http://[::1", NULL},
	{"M2_DOMAIN", "http://[]", NULL},
	{"M2_DOMAIN", "http://u@m2", NULL},
	{"M2_DOMAIN", "ftp://m2", NULL},
	{"M2_DOMAIN", "http://m2/", NULL},
	{"M2_DOMAIN", "http://m2/v1", NULL},
	{"M2_DOMAIN", "http://m2?x", NULL},
	{"M2_DOMAIN", "http://", NULL},
	{"M2_DOMAIN", "http://m 2", NULL},
	{"M2_PATH", "v1/avatar",
	 "M2_PATH: invalid path 'v1/avatar' (expected '/' then printable ASCII "
	 "without space)"},
	{"M2_PATH", "/a b", NULL},
	{"AVATAR_API_UPSTREAM", "m2:3000",
	 "AVATAR_API_UPSTREAM: invalid URL 'm2:3000' (expected "
	 "http://HOST[:PORT]/PATH in printable ASCII, at most 2048 bytes)"},
	{"AVATAR_API_UPSTREAM", "https://m2/x",
	 "AVATAR_API_UPSTREAM: invalid URL 'https://m2/x' (expected "
	 "http://HOST[:PORT]/PATH in printable ASCII; https:// is not "
	 "supported, the relay speaks plain http:// only)"},
	{"AVATAR_API_TIMEOUT", "1s",
	 "AVATAR_API_TIMEOUT: invalid timeout '1s' (expected 0-86400 seconds, "
	 "0 = never)"},
	{"AVATAR_API_TIMEOUT", "86401", NULL},
	{"AVATAR_API_MAX_CONNECTIONS", "0",
	 "AVATAR_API_MAX_CONNECTIONS: invalid connection limit '0' (expected "
	 "1-1000000)"},
	{"AVATAR_API_MAX_CONNECTIONS", "many", NULL},
	{"AVATAR_API_UPSTREAM_TIMEOUT", "5m",
	 "AVATAR_API_UPSTREAM_TIMEOUT: invalid timeout '5m' (expected seconds "
	 "such as 2 or 0.3, or milliseconds such as 300ms; 1 ms to 3600 s)"},
	{"AVATAR_API_UPSTREAM_TIMEOUT", "0", NULL},
	{"AVATAR_API_UPSTREAM_MAX_BYTES", "1M",
	 "AVATAR_API_UPSTREAM_MAX_BYTES: invalid size '1M' (expected "
	 "1-268435456 bytes)"},
	{"AVATAR_API_UPSTREAM_CONNECTIONS", "1025",
	 "AVATAR_API_UPSTREAM_CONNECTIONS: invalid connection count '1025' "
	 "(expected 1-1024)"},
	{"AVATAR_API_UPSTREAM_QUEUE", "-1",
	 "AVATAR_API_UPSTREAM_QUEUE: invalid queue length '-1' (expected "
	 "0-100000)"},
	{"AVATAR_API_COMPRESSION", "1", NULL},
	{"AVATAR_API_CACHE_CONTROL", "a\tb", NULL},
	{"AVATAR_API_CORS_ORIGIN", "https://a.example,,https://b.example",
	 "AVATAR_API_CORS_ORIGIN: empty origin in "
	 "'https://a.example,,https://b.example'"},
	{"AVATAR_API_CORS_ORIGIN", "https://a.example, https://B.example",
	 NULL},
};

START_TEST(test_config_bad_env)
{
	static const char *const args[] = {NULL};
	struct config cfg;
	struct error err;

	ck_assert_int_eq(setenv(bad_env[_i].var, bad_env[_i].value, 1), 0);
	assert_usage_error(parse(&cfg, &err, args), &err, bad_env[_i].var);
	ck_assert_msg(strncmp(err.text, bad_env[_i].var,
	                      strlen(bad_env[_i].var)) == 0,
	              "'%s' does not start with %s", err.text,
	              bad_env[_i].var);
	if (bad_env[_i].exact != NULL)
		ck_assert_str_eq(err.text, bad_env[_i].exact);
}
END_TEST

/* The issue 13 options: defaults, flags, the repeatable --cors-origin
 * and its comma-separated variable. */
START_TEST(test_config_http_options)
{
	static const char *const none[] = {NULL};
	static const char *const flags[] = {
		"--compression", "off", "--cache-control", "max-age=60, public",
		"--cors-origin", "https://a.example", "--cors-origin",
		"http://127.0.0.1:3000", NULL};
	static const char *const many[] = {
		"--cors-origin=http://a1.example", "--cors-origin=http://a2.example",
		"--cors-origin=http://a3.example", "--cors-origin=http://a4.example",
		"--cors-origin=http://a5.example", "--cors-origin=http://a6.example",
		"--cors-origin=http://a7.example", "--cors-origin=http://a8.example",
		"--cors-origin=http://a9.example", "--cors-origin=http://b1.example",
		"--cors-origin=http://b2.example", "--cors-origin=http://b3.example",
		"--cors-origin=http://b4.example", "--cors-origin=http://b5.example",
		"--cors-origin=http://b6.example", "--cors-origin=http://b7.example",
		"--cors-origin=http://b8.example", NULL};
	struct config cfg;
	struct error err;

	ck_assert_int_eq(parse(&cfg, &err, none), 0);
	ck_assert_int_eq(cfg.compression, 1);
	ck_assert_str_eq(cfg.cache_control, "no-cache");
	ck_assert_uint_eq(cfg.cors_count, 0);
	ck_assert_int_eq(parse(&cfg, &err, flags), 0);
	ck_assert_int_eq(cfg.compression, 0);
	ck_assert_str_eq(cfg.cache_control, "max-age=60, public");
	ck_assert_uint_eq(cfg.cors_count, 2);
	ck_assert_str_eq(cfg.cors_origins[0], "https://a.example");
	ck_assert_str_eq(cfg.cors_origins[1], "http://127.0.0.1:3000");
	ck_assert_int_eq(setenv("AVATAR_API_CORS_ORIGIN",
	                        " https://a.example , *", 1), 0);
	ck_assert_int_eq(parse(&cfg, &err, none), 0);
	ck_assert_uint_eq(cfg.cors_count, 2);
	ck_assert_str_eq(cfg.cors_origins[0], "https://a.example");
	ck_assert_str_eq(cfg.cors_origins[1], "*");
	/* a flag hides the variable */
	ck_assert_int_eq(parse(&cfg, &err, flags), 0);
	ck_assert_uint_eq(cfg.cors_count, 2);
	ck_assert_str_eq(cfg.cors_origins[1], "http://127.0.0.1:3000");
	unsetenv("AVATAR_API_CORS_ORIGIN");
	ck_assert_int_eq(parse(&cfg, &err, many), -1);
	ck_assert_str_eq(err.text, "--cors-origin: too many origins (at most "
	                 "16)");
}
END_TEST

/* Relay mode is off by default, with the documented relay defaults. */
START_TEST(test_config_relay_defaults)
{
	static const char *const none[] = {NULL};
	static const char *const data[] = {"--data", "x.json", NULL};
	struct config cfg;
	struct error err;

	ck_assert_int_eq(parse(&cfg, &err, none), 0);
	ck_assert_ptr_null(cfg.upstream);
	ck_assert_uint_eq(cfg.upstream_timeout_ms, 2000);
	ck_assert_uint_eq(cfg.upstream_max_bytes, 1048576);
	ck_assert_uint_eq(cfg.upstream_connections, 32);
	ck_assert_uint_eq(cfg.upstream_queue, 256);
	ck_assert_int_eq(cfg.data_given, 0);
	ck_assert_int_eq(parse(&cfg, &err, data), 0);
	ck_assert_int_eq(cfg.data_given, 1);
	ck_assert_int_eq(setenv("AVATAR_API_DATA", "y.json", 1), 0);
	ck_assert_int_eq(parse(&cfg, &err, none), 0);
	ck_assert_int_eq(cfg.data_given, 1);
}
END_TEST

/* Any of M2_DOMAIN, M2_PORT, M2_PATH turns relay mode on; the others
 * take the reference's defaults. */
static const struct {
	const char *domain, *port, *path, *want;
} m2_cases[] = {
	{NULL, "3000", NULL, "http://127.0.0.1:3000/v1/avatar"},
	{NULL, "3001", NULL, "http://127.0.0.1:3001/v1/avatar"},
	{"http://m2", NULL, NULL, "http://m2:3000/v1/avatar"},
	{NULL, NULL, "/v2/x", "http://127.0.0.1:3000/v2/x"},
	{"http://[::1]", "8443", "/a?b=c", "http://[::1]:8443/a?b=c"},
	{"HTTP://m2", NULL, NULL, "HTTP://m2:3000/v1/avatar"},
	{"", "", "/p", "http://127.0.0.1:3000/p"}, /* empty = unset */
};

START_TEST(test_config_m2_env)
{
	static const char *const none[] = {NULL};
	struct config cfg;
	struct error err;

	if (m2_cases[_i].domain != NULL)
		ck_assert_int_eq(setenv("M2_DOMAIN", m2_cases[_i].domain, 1), 0);
	if (m2_cases[_i].port != NULL)
		ck_assert_int_eq(setenv("M2_PORT", m2_cases[_i].port, 1), 0);
	if (m2_cases[_i].path != NULL)
		ck_assert_int_eq(setenv("M2_PATH", m2_cases[_i].path, 1), 0);
	ck_assert_msg(parse(&cfg, &err, none) == 0, "%s", err.text);
	ck_assert_ptr_nonnull(cfg.upstream);
	ck_assert_str_eq(cfg.upstream, m2_cases[_i].want);
	/* Relay mode changes nothing else. */
	ck_assert_uint_eq(cfg.port, 8080);
	ck_assert_str_eq(cfg.path, "/v1/user");
}
END_TEST

/* --upstream beats AVATAR_API_UPSTREAM, which beats M2_*; what is beaten
 * is not read (even a bad one). */
START_TEST(test_config_upstream_beats_m2)
{
	static const char *const flag[] = {"--upstream", "http://flag/x", NULL};
	static const char *const none[] = {NULL};
	struct config cfg;
	struct error err;

	ck_assert_int_eq(setenv("M2_PORT", "bad", 1), 0);
	ck_assert_int_eq(setenv("M2_DOMAIN", "http://env", 1), 0);
	ck_assert_msg(parse(&cfg, &err, flag) == 0, "%s", err.text);
	ck_assert_str_eq(cfg.upstream, "http://flag/x");
	assert_usage_error(parse(&cfg, &err, none), &err, "M2_PORT");
	ck_assert_int_eq(setenv("AVATAR_API_UPSTREAM", "http://whole:1/u", 1),
	                 0);
	ck_assert_msg(parse(&cfg, &err, none) == 0, "%s", err.text);
	ck_assert_str_eq(cfg.upstream, "http://whole:1/u");
	ck_assert_msg(parse(&cfg, &err, flag) == 0, "%s", err.text);
	ck_assert_str_eq(cfg.upstream, "http://flag/x");
	/* A bad AVATAR_API_UPSTREAM is the error, not the M2_* it beats. */
	ck_assert_int_eq(setenv("AVATAR_API_UPSTREAM", "nope", 1), 0);
	assert_usage_error(parse(&cfg, &err, none), &err,
	                   "AVATAR_API_UPSTREAM: invalid URL 'nope'");
	ck_assert_msg(parse(&cfg, &err, flag) == 0, "%s", err.text);
}
END_TEST

/* A variable that a flag overrides is not read, so a bad one does not
 * matter then; --help and --version win over a bad environment too. */
START_TEST(test_config_flag_hides_bad_env)
{
	static const char *const port[] = {"--port", "9000", NULL};
	static const char *const help[] = {"--help", NULL};
	static const char *const version[] = {"-V", NULL};
	static const char *const none[] = {NULL};
	struct config cfg;
	struct error err;

	ck_assert_int_eq(setenv("M1_PORT", "abc", 1), 0);
	ck_assert_int_eq(parse(&cfg, &err, port), 0);
	ck_assert_uint_eq(cfg.port, 9000);
	ck_assert_int_eq(parse(&cfg, &err, help), 0);
	ck_assert_int_eq(cfg.action, CONFIG_HELP);
	ck_assert_int_eq(parse(&cfg, &err, version), 0);
	ck_assert_int_eq(cfg.action, CONFIG_VERSION);
	assert_usage_error(parse(&cfg, &err, none), &err, "M1_PORT");
}
END_TEST

/* The first error is the one reported: the first of two bad flags, and a
 * bad flag before a bad variable. */
START_TEST(test_config_first_error_reported)
{
	static const char *const two[] = {
		"--threads", "0", "--port", "abc", NULL,
	};
	struct config cfg;
	struct error err;

	assert_usage_error(parse(&cfg, &err, two), &err, "--threads");
	ck_assert_ptr_null(strstr(err.text, "--port"));
	/* Flags are read before the environment. */
	ck_assert_int_eq(setenv("AVATAR_API_MODE", "turbo", 1), 0);
	assert_usage_error(parse(&cfg, &err, two), &err, "--threads");
}
END_TEST

/* --- the table and the documents --- */

/* Every default in the table is valid: config_defaults gives each to its
 * parser and does not look at the result. */
START_TEST(test_config_table_defaults_valid)
{
	const struct config_option *o;
	struct config cfg;
	struct error err;

	config_defaults(&cfg);
	for (o = config_options; o->name != NULL; o++) {
		ck_assert_msg(o->help != NULL && *o->help != '\0',
		              "--%s has no help", o->name);
		ck_assert_msg((o->arg == NULL) == (o->parse == NULL),
		              "--%s: an argument needs a parser, an action none",
		              o->name);
		if (o->def == NULL)
			continue;
		err.code = 0;
		err.text[0] = '\0';
		ck_assert_msg(o->parse(o, &cfg, o->name, o->def, &err) == 0,
		              "--%s: bad default: %s", o->name, err.text);
	}
}
END_TEST

/* --help is wrapped: no line is wider than 79 columns, unless it is one
 * word (the fixture's path, which depends on the prefix). */
START_TEST(test_config_usage_width)
{
	char buf[8192], *line, *save = NULL;
	size_t n;
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	config_usage(f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		ck_assert_msg(strlen(line) <= 79 ||
		              strchr(line + strspn(line, " "), ' ') == NULL,
		              "--help line too long: %s", line);
}
END_TEST

/* A file of the source tree (the parent of tests/data), read whole. */
static char *
read_source(const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/../../%s",
	         tu_env("AVATAR_API_TEST_DATA"), name);
	return tu_read_file(path, NULL);
}

/* The tags of the entries of section NAME (".SH NAME" up to the next
 * ".SH") of the man page MAN: each line after a ".TP", in a new buffer,
 * with roff's "\-" as "-" ("\-\-port" is "--port" there). */
static char *
man_tags(const char *man, const char *name)
{
	char head[64], *tags, *q;
	const char *p, *end;
	size_t i, n = 0;
	int tag = 0;

	snprintf(head, sizeof(head), "\n.SH %s\n", name);
	p = strstr(man, head);
	ck_assert_msg(p != NULL, "the man page has no %s section", name);
	p += strlen(head);
	end = strstr(p, "\n.SH ");
	if (end == NULL)
		end = p + strlen(p);
	tags = malloc((size_t)(end - p) + 2); /* a last "\n", the NUL */
	ck_assert_ptr_nonnull(tags);
	for (q = tags; p < end; p += n + (p[n] == '\n')) {
		n = strcspn(p, "\n");
		for (i = 0; tag && i < n; i++)
			if (p[i] != '\\' || p[i + 1] != '-')
				*q++ = p[i];
		if (tag)
			*q++ = '\n';
		tag = n == 3 && strncmp(p, ".TP", 3) == 0;
	}
	*q = '\0';
	return tags;
}

/* Whether TEXT has WORD not followed by a letter, digit, '_' or '-': so
 * --upstream-timeout does not count as --upstream. */
static int
mentions(const char *text, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = strstr(text, word); p != NULL; p = strstr(p + 1, word))
		if (!isalnum((unsigned char)p[n]) && p[n] != '_' && p[n] != '-')
			return 1;
	return 0;
}

/* Add WORD to MISSING (SIZE bytes) unless TEXT mentions it. */
static void
expect_word(const char *text, const char *word, char *missing, size_t size)
{
	if (!mentions(text, word))
		snprintf(missing + strlen(missing), size - strlen(missing),
		         " %s", word);
}

/* Each option of the table has an entry in the OPTIONS section of
 * doc/avatar-api.8.in, each environment variable one in its ENVIRONMENT
 * section, and both are somewhere in README.md: a new option cannot be
 * left undocumented. */
START_TEST(test_config_options_documented)
{
	char *readme = read_source("README.md"), *man, *man_opts, *man_env;
	char flag[64], in_readme[1024] = "", in_options[1024] = "";
	char in_environ[1024] = "";
	const struct config_option *o;
	size_t i;

	/* The source of doc/avatar-api.8 (make fills in the paths). */
	man = read_source("doc/avatar-api.8.in");
	man_opts = man_tags(man, "OPTIONS");
	man_env = man_tags(man, "ENVIRONMENT");
	for (o = config_options; o->name != NULL; o++) {
		snprintf(flag, sizeof(flag), "--%s", o->name);
		expect_word(readme, flag, in_readme, sizeof(in_readme));
		expect_word(man_opts, flag, in_options, sizeof(in_options));
		for (i = 0; i < CONFIG_ENV_MAX && o->env[i] != NULL; i++) {
			expect_word(readme, o->env[i], in_readme,
			            sizeof(in_readme));
			expect_word(man_env, o->env[i], in_environ,
			            sizeof(in_environ));
		}
	}
	ck_assert_msg(in_readme[0] == '\0' && in_options[0] == '\0' &&
	              in_environ[0] == '\0', "undocumented: README.md:%s; "
	              "OPTIONS entries of the man page:%s; its ENVIRONMENT:%s",
	              in_readme, in_options, in_environ);
	free(man_env);
	free(man_opts);
	free(man);
	free(readme);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_config_defaults);
	tcase_add_test(tc, test_config_no_args_keeps_defaults);
	tcase_add_loop_test(tc, test_config_flag_sets_field, 0,
	                    sizeof(good_flags) / sizeof(good_flags[0]));
	tcase_add_test(tc, test_config_all_flags_together);
	tcase_add_test(tc, test_config_last_flag_wins);
	tcase_add_loop_test(tc, test_config_env_beats_default, 0,
	                    sizeof(env_cases) / sizeof(env_cases[0]));
	tcase_add_loop_test(tc, test_config_flag_beats_env, 0,
	                    sizeof(env_cases) / sizeof(env_cases[0]));
	tcase_add_test(tc, test_config_env_all_at_once);
	tcase_add_test(tc, test_config_env_empty_is_unset);
	tcase_add_loop_test(tc, test_config_actions, 0,
	                    sizeof(actions) / sizeof(actions[0]));
	tcase_add_test(tc, test_config_valid_addresses);
	tcase_add_test(tc, test_config_parse_twice);
	tcase_add_test(tc, test_config_mode_name);
	tcase_add_test(tc, test_config_mode_name_round_trip);
	tcase_add_test(tc, test_config_usage_mentions_every_flag);
	tcase_add_test(tc, test_config_relay_defaults);
	tcase_add_test(tc, test_config_http_options);
	tcase_add_loop_test(tc, test_config_m2_env, 0,
	                    sizeof(m2_cases) / sizeof(m2_cases[0]));
	tcase_add_test(tc, test_config_upstream_beats_m2);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_config_bad_flag, 0,
	                    sizeof(bad_args) / sizeof(bad_args[0]));
	tcase_add_test(tc, test_config_bad_abbreviated_flag_full_name);
	tcase_add_test(tc, test_config_bad_value_truncated);
	tcase_add_test(tc, test_config_positional_after_flags_permuted);
	tcase_add_loop_test(tc, test_config_bad_env, 0,
	                    sizeof(bad_env) / sizeof(bad_env[0]));
	tcase_add_test(tc, test_config_flag_hides_bad_env);
	tcase_add_test(tc, test_config_first_error_reported);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_config_table_defaults_valid);
	tcase_add_test(tc, test_config_usage_width);
	tcase_add_test(tc, test_config_options_documented);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(config_suite());
}
