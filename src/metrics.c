/* metrics.c -- /metrics: the counters it is handed, in Prometheus text
 * format 0.0.4. */
#include <string.h>

#include "metrics.h"

/* The relay's counters C. */
static void
metrics_write_relay(const struct relay_counters *c, FILE *f)
{
	unsigned long cum = 0;
	size_t b;
	int k;

	fprintf(f, "# HELP avatar_api_upstream_requests_total Upstream "
	        "requests that ended, whatever the result.\n"
	        "# TYPE avatar_api_upstream_requests_total counter\n"
	        "avatar_api_upstream_requests_total %lu\n"
	        "# HELP avatar_api_upstream_errors_total Upstream requests "
	        "that failed, by kind.\n"
	        "# TYPE avatar_api_upstream_errors_total counter\n",
	        c->requests);
	for (k = 1; k < RELAY_KIND_COUNT; k++)
		fprintf(f, "avatar_api_upstream_errors_total{kind=\"%s\"} %lu\n",
		        relay_kind_name((enum relay_kind)k), c->errors[k]);
	fprintf(f, "# HELP avatar_api_upstream_connections_opened_total TCP "
	        "connections opened to the upstream (kept alive and reused).\n"
	        "# TYPE avatar_api_upstream_connections_opened_total counter\n"
	        "avatar_api_upstream_connections_opened_total %lu\n"
	        "# HELP avatar_api_upstream_duration_seconds Time from a "
	        "request's submission to its upstream answer.\n"
	        "# TYPE avatar_api_upstream_duration_seconds histogram\n",
	        c->connects);
	for (b = 0; b <= RELAY_BUCKETS; b++) {
		cum += c->buckets[b];
		if (b < RELAY_BUCKETS)
			fprintf(f, "avatar_api_upstream_duration_seconds_bucket"
			        "{le=\"%g\"} %lu\n", (double)relay_bucket_us[b] / 1e6,
			        cum);
		else
			fprintf(f, "avatar_api_upstream_duration_seconds_bucket"
			        "{le=\"+Inf\"} %lu\n", cum);
	}
	fprintf(f, "avatar_api_upstream_duration_seconds_sum %.6f\n"
	        "avatar_api_upstream_duration_seconds_count %lu\n",
	        (double)c->sum_us / 1e6, cum);
}

/* The standard process metrics of Prometheus's client libraries. */
static void
metrics_write_process(const struct process_stats *ps, FILE *f)
{
	fprintf(f, "# HELP process_cpu_seconds_total Total user and system "
	        "CPU time spent in seconds.\n"
	        "# TYPE process_cpu_seconds_total counter\n"
	        "process_cpu_seconds_total %.2f\n"
	        "# HELP process_resident_memory_bytes Resident memory size in "
	        "bytes.\n"
	        "# TYPE process_resident_memory_bytes gauge\n"
	        "process_resident_memory_bytes %llu\n"
	        "# HELP process_virtual_memory_bytes Virtual memory size in "
	        "bytes.\n"
	        "# TYPE process_virtual_memory_bytes gauge\n"
	        "process_virtual_memory_bytes %llu\n"
	        "# HELP process_open_fds Number of open file descriptors.\n"
	        "# TYPE process_open_fds gauge\n"
	        "process_open_fds %lu\n"
	        "# HELP process_max_fds Maximum number of open file "
	        "descriptors.\n"
	        "# TYPE process_max_fds gauge\n"
	        "process_max_fds %llu\n"
	        "# HELP process_start_time_seconds Start time of the process "
	        "since unix epoch in seconds.\n"
	        "# TYPE process_start_time_seconds gauge\n"
	        "process_start_time_seconds %.2f\n",
	        ps->cpu_seconds, ps->rss_bytes, ps->vsize_bytes, ps->open_fds,
	        ps->max_fds, ps->start_time);
}

/* The duration histogram of ROUTE (named NAME) and status class C. */
static void
metrics_write_duration(const struct stats *st, int route, const char *name,
                       int c, FILE *f)
{
	static const char *const classes[CLASS_COUNT] = {
		"2xx", "3xx", "4xx", "5xx"};
	const unsigned long *h = st->hist[route][c];
	unsigned long cum = 0;
	int b;

	for (b = 0; b <= STATS_BUCKETS; b++) {
		cum += h[b];
		fprintf(f, "avatar_api_request_duration_seconds_bucket{route=\"%s\","
		        "status_class=\"%s\",le=\"", name, classes[c]);
		if (b < STATS_BUCKETS)
			fprintf(f, "%g\"} %lu\n", (double)stats_bucket_us[b] / 1e6,
			        cum);
		else
			fprintf(f, "+Inf\"} %lu\n", cum);
	}
	fprintf(f, "avatar_api_request_duration_seconds_sum{route=\"%s\","
	        "status_class=\"%s\"} %.6f\n"
	        "avatar_api_request_duration_seconds_count{route=\"%s\","
	        "status_class=\"%s\"} %lu\n", name, classes[c],
	        (double)st->sum_us[route][c] / 1e6, name, classes[c], cum);
}

void
metrics_write(const struct metrics_input *in, FILE *f)
{
	static const char *const route_names[ROUTE_COUNT] = {
		"list", "user", "healthz", "metrics", "readyz", "other"};
	static const char *const status_names[STATUS_COUNT] = {
		"200", "204", "304", "400", "404", "405", "412", "500", "502",
		"503", "504"};
	/* The route and status pairs the handler can produce; 2: only in
	 * relay mode. */
	static const unsigned char produced[ROUTE_COUNT][STATUS_COUNT] = {
		/* 200 204 304 400 404 405 412 500 502 503 504 */
		{1, 1, 1, 0, 0, 1, 1, 0, 2, 2, 2},  /* list */
		{1, 1, 1, 0, 1, 1, 1, 0, 2, 2, 2},  /* user */
		{1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0},  /* healthz */
		{1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0},  /* metrics */
		{1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0},  /* readyz */
		{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}}; /* other */
	static const char *const verdicts[GUARD_VERDICT_COUNT] = {
		NULL, "400", "413", "414", "431", "501", "505"};
	/* The class of each status index. */
	static const unsigned char class_of[STATUS_COUNT] = {
		CLASS_2XX, CLASS_2XX, CLASS_3XX, CLASS_4XX, CLASS_4XX, CLASS_4XX,
		CLASS_4XX, CLASS_5XX, CLASS_5XX, CLASS_5XX, CLASS_5XX};
	unsigned char shown[ROUTE_COUNT][CLASS_COUNT];
	int r, s;

	_Static_assert(STATUS_COUNT == 11, "class_of: one class per status");
	fputs("# HELP avatar_api_requests_total Requests answered, by route "
	      "and status.\n# TYPE avatar_api_requests_total counter\n", f);
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < STATUS_COUNT; s++)
			if (produced[r][s] == 1 ||
			    (produced[r][s] == 2 && in->relay != NULL))
				fprintf(f, "avatar_api_requests_total{route=\"%s\","
				        "status=\"%s\"} %lu\n", route_names[r],
				        status_names[s], in->requests.n[r][s]);
	/* Durations: the classes of the statuses shown above, and any other
	 * that has counts. */
	memset(shown, 0, sizeof(shown));
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < STATUS_COUNT; s++)
			if (produced[r][s] == 1 ||
			    (produced[r][s] == 2 && in->relay != NULL))
				shown[r][class_of[s]] = 1;
	fputs("# HELP avatar_api_request_duration_seconds Time from a "
	      "request's first handler call to its completion (its answer "
	      "sent), by route and status class.\n"
	      "# TYPE avatar_api_request_duration_seconds histogram\n", f);
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < CLASS_COUNT; s++)
			if (shown[r][s] ||
			    in->requests.hist[r][s][STATS_BUCKETS] != 0 ||
			    in->requests.sum_us[r][s] != 0)
				metrics_write_duration(&in->requests, r,
				                       route_names[r], s, f);
	fprintf(f, "# HELP avatar_api_connections Open client connections.\n"
	        "# TYPE avatar_api_connections gauge\n"
	        "avatar_api_connections %u\n"
	        "# HELP avatar_api_users Records in the fixture being served.\n"
	        "# TYPE avatar_api_users gauge\n"
	        "avatar_api_users %zu\n"
	        "# HELP avatar_api_reloads_total Fixture reloads (SIGHUP), by "
	        "result.\n"
	        "# TYPE avatar_api_reloads_total counter\n"
	        "avatar_api_reloads_total{result=\"ok\"} %lu\n"
	        "avatar_api_reloads_total{result=\"failed\"} %lu\n"
	        "# HELP avatar_api_last_reload_success_timestamp_seconds When "
	        "the fixture being served was loaded.\n"
	        "# TYPE avatar_api_last_reload_success_timestamp_seconds gauge\n"
	        "avatar_api_last_reload_success_timestamp_seconds %lld\n"
	        "# HELP avatar_api_build_info Version of avatar-api and its "
	        "libraries.\n"
	        "# TYPE avatar_api_build_info gauge\n"
	        "avatar_api_build_info{version=\"%s\",libmicrohttpd=\"%s\","
	        "jansson=\"%s\"} 1\n",
	        in->connections, in->users, in->reloads_ok, in->reloads_failed,
	        (long long)in->last_reload, PACKAGE_VERSION, in->mhd_version,
	        in->jansson_version);
	fprintf(f, "# HELP avatar_api_connections_refused_total Connections "
	        "refused at accept, with a 503, by reason.\n"
	        "# TYPE avatar_api_connections_refused_total counter\n"
	        "avatar_api_connections_refused_total{reason=\"limit\"} %lu\n"
	        "avatar_api_connections_refused_total{reason=\"fds\"} %lu\n"
	        "# HELP avatar_api_connections_closed_total Connections the "
	        "server closed, by reason: timeout (no whole request within "
	        "--timeout).\n"
	        "# TYPE avatar_api_connections_closed_total counter\n"
	        "avatar_api_connections_closed_total{reason=\"timeout\"} %lu\n"
	        "# HELP avatar_api_accept_errors_total Accept calls that failed "
	        "(out of memory, or of descriptors with the spare gone).\n"
	        "# TYPE avatar_api_accept_errors_total counter\n"
	        "avatar_api_accept_errors_total %lu\n"
	        "# HELP avatar_api_requests_rejected_total Requests whose "
	        "framing or size was refused before routing, by status.\n"
	        "# TYPE avatar_api_requests_rejected_total counter\n",
	        in->refused_limit, in->refused_fds, in->closed_timeout,
	        in->accept_errors);
	for (s = 1; s < GUARD_VERDICT_COUNT; s++)
		fprintf(f, "avatar_api_requests_rejected_total{status=\"%s\"} "
		        "%lu\n", verdicts[s], in->rejected[s]);
	if (in->access_log)
		fprintf(f, "# HELP avatar_api_access_log_dropped_total Access "
		        "log lines dropped: the writer was behind, or a write "
		        "failed.\n"
		        "# TYPE avatar_api_access_log_dropped_total counter\n"
		        "avatar_api_access_log_dropped_total %lu\n",
		        in->access_log_dropped);
	if (in->relay != NULL)
		metrics_write_relay(in->relay, f);
	if (in->process != NULL)
		metrics_write_process(in->process, f);
}
