/* metrics.c -- /metrics: the counters it is handed, in Prometheus text
 * format 0.0.4. */
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

void
metrics_write(const struct metrics_input *in, FILE *f)
{
	static const char *const route_names[ROUTE_COUNT] = {
		"list", "user", "healthz", "metrics", "other"};
	static const char *const status_names[STATUS_COUNT] = {
		"200", "400", "404", "405", "500", "502", "503", "504"};
	/* The route and status pairs the handler can produce; 2: only in
	 * relay mode. */
	static const unsigned char produced[ROUTE_COUNT][STATUS_COUNT] = {
		{1, 0, 0, 1, 0, 2, 2, 2}, {1, 0, 1, 1, 0, 0, 0, 0},
		{1, 0, 0, 1, 0, 0, 0, 0}, {1, 0, 0, 1, 1, 0, 0, 0},
		{0, 0, 1, 0, 0, 0, 0, 0}};
	static const char *const verdicts[GUARD_VERDICT_COUNT] = {
		NULL, "400", "413", "414", "431", "501", "505"};
	int r, s;

	fputs("# HELP avatar_api_requests_total Requests answered, by route "
	      "and status.\n# TYPE avatar_api_requests_total counter\n", f);
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < STATUS_COUNT; s++)
			if (produced[r][s] == 1 ||
			    (produced[r][s] == 2 && in->relay != NULL))
				fprintf(f, "avatar_api_requests_total{route=\"%s\","
				        "status=\"%s\"} %lu\n", route_names[r],
				        status_names[s], in->requests.n[r][s]);
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
	        "# HELP avatar_api_requests_rejected_total Requests whose "
	        "framing or size was refused before routing, by status.\n"
	        "# TYPE avatar_api_requests_rejected_total counter\n",
	        in->refused_limit, in->refused_fds);
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
}
