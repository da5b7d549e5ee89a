/* relay.c -- relay mode: answer GET PATH with an upstream's body (libcurl).
 *
 * One relay thread drives every upstream request with libcurl's multi
 * interface (curl_multi_poll, woken by curl_multi_wakeup when a request
 * is submitted while it sleeps: a busy relay thread needs no wake-up).  The multi handle's connection cache keeps at most
 * --upstream-connections keep-alive connections; libcurl queues the
 * transfers beyond that until a connection is free.  A request slot (a
 * "job": an easy handle and a body buffer, both reused) is taken per
 * client request, at most connections + --upstream-queue of them; with
 * none free the request gets 503 at once.  In epoll mode the handler
 * suspends the client connection and the relay thread resumes it when
 * the job is done; in thread-per-connection mode the connection's own
 * thread waits on the job.  The body is copied once, from libcurl into
 * the slot's buffer, which the MHD response then sends as is; the slot
 * is returned when MHD frees the response.  The upstream counters are
 * written by the relay thread only (one writer, like each slot of
 * stats.c) and read with relaxed loads by a scrape.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "relay.h"

/* A body buffer grows from this size, and one larger is freed when its
 * slot is returned, so idle slots keep little memory. */
#define BUF_MIN ((size_t)16 * 1024)
#define BUF_KEEP ((size_t)64 * 1024)

/* Upper bounds of the latency histogram, in microseconds. */
static const unsigned long bucket_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

static const char *const kind_names[RELAY_KIND_COUNT] = {
	"ok", "connect", "timeout", "status", "content_type", "too_large",
	"body", "protocol", "stopped"};

static const char *const kind_bodies[RELAY_KIND_COUNT] = {
	"",
	"{\"error\":\"upstream unreachable\"}",
	"{\"error\":\"upstream timed out\"}",
	"{\"error\":\"upstream answered a non-2xx status\"}",
	"{\"error\":\"upstream answered a non-JSON content type\"}",
	"{\"error\":\"upstream body too large\"}",
	"{\"error\":\"upstream body is not JSON\"}",
	"{\"error\":\"upstream connection failed\"}",
	"{\"error\":\"shutting down\"}"};

static const char body_busy[] = "{\"error\":\"upstream queue full\"}";

struct relay_job {
	struct relay *rl;
	CURL *easy;
	char *buf;                   /* the body; owned by the response
	                              * between relay_response and its free */
	size_t len, cap;
	struct MHD_Connection *conn; /* epoll mode: resumed when done */
	struct timespec start;
	enum relay_kind early;       /* set by the write callback to abort */
	enum relay_kind kind;        /* the result, once done */
	int checked;                 /* status and type checked */
	int running;                 /* in the multi handle (relay thread) */
	int done;                    /* atomic */
	pthread_cond_t cond;         /* thread-per-connection: done */
	struct relay_job *next;      /* free or submitted list */
};

/* Written only by the relay thread. */
struct relay_stats {
	unsigned long requests;
	unsigned long connects;
	unsigned long sum_us;
	unsigned long errors[RELAY_KIND_COUNT];
	unsigned long buckets[NBUCKETS + 1]; /* the last: over the top */
} __attribute__((aligned(64)));

struct relay {
	struct relay_stats stats;
	CURLM *multi;
	const char *url;
	long timeout_ms;
	size_t max_bytes;
	int blocking;
	unsigned conns;              /* at most this many transfers at once */
	/* Relay thread only: transfers in the multi handle, and the jobs
	 * waiting for one to end, oldest first. */
	unsigned active;
	struct relay_job *waiting, *waiting_tail;
	pthread_t thread;
	int thread_started;
	int curl_inited;
	pthread_mutex_t lock;        /* everything below */
	struct relay_job *free_jobs;
	struct relay_job *submitted, *submitted_tail;
	struct relay_job **jobs;     /* every slot made, for relay_free */
	unsigned njobs, limit;
	int stopping;
	int sleeping;                /* the relay thread waits in poll */
};

#define STAT_ADD(field, v) \
	__atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)

/* A Content-Type that is application/json or application/...+json. */
static int
json_type(const char *t)
{
	size_t n;

	if (t == NULL)
		return 0;
	n = strcspn(t, "; \t");
	if (n == 16 && strncasecmp(t, "application/json", 16) == 0)
		return 1;
	return n > 17 && strncasecmp(t, "application/", 12) == 0 &&
	       strncasecmp(t + n - 5, "+json", 5) == 0;
}

/* A cheap check, not a parse: the body's first and last non-blank bytes
 * are { and } or [ and ]. */
static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
json_body(const char *b, size_t n)
{
	size_t first = 0, last = n;

	while (first < n && blank(b[first]))
		first++;
	while (last > first && blank(b[last - 1]))
		last--;
	if (last < first + 2)
		return 0;
	return (b[first] == '{' && b[last - 1] == '}') ||
	       (b[first] == '[' && b[last - 1] == ']');
}

/* libcurl's write callback: append to the slot's buffer (the one copy of
 * the body), or abort the transfer (return 0) on a bad status or type,
 * which show before the first byte, or once the body is over the cap. */
static size_t
job_write(char *data, size_t size, size_t n, void *arg)
{
	struct relay_job *job = arg;
	size_t len = size * n;

	if (!job->checked) {
		long code = 0;
		char *type = NULL;

		job->checked = 1;
		curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(job->easy, CURLINFO_CONTENT_TYPE, &type);
		if (code < 200 || code > 299)
			job->early = RELAY_STATUS;
		else if (!json_type(type))
			job->early = RELAY_CONTENT_TYPE;
		if (job->early != RELAY_OK)
			return 0;
	}
	if (len > job->rl->max_bytes - job->len) {
		job->early = RELAY_TOO_LARGE;
		return 0;
	}
	if (job->len + len > job->cap) {
		size_t cap = job->cap > BUF_MIN ? job->cap : BUF_MIN;
		char *buf;

		while (cap < job->len + len)
			cap *= 2;
		if (cap > job->rl->max_bytes)
			cap = job->rl->max_bytes;
		buf = realloc(job->buf, cap);
		if (buf == NULL) {
			job->early = RELAY_PROTOCOL;
			return 0;
		}
		job->buf = buf;
		job->cap = cap;
	}
	memcpy(job->buf + job->len, data, len);
	job->len += len;
	return len;
}

/* A new slot with its easy handle set up for the upstream URL.  Called
 * with the lock held; returns NULL if out of memory. */
static struct relay_job *
job_new(struct relay *rl)
{
	struct relay_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->rl = rl;
	job->easy = curl_easy_init();
	if (job->easy == NULL || pthread_cond_init(&job->cond, NULL) != 0) {
		if (job->easy != NULL)
			curl_easy_cleanup(job->easy);
		free(job);
		return NULL;
	}
	curl_easy_setopt(job->easy, CURLOPT_URL, rl->url);
	curl_easy_setopt(job->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(job->easy, CURLOPT_HTTP_VERSION,
	                 (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(job->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(job->easy, CURLOPT_TIMEOUT_MS, rl->timeout_ms);
	curl_easy_setopt(job->easy, CURLOPT_CONNECTTIMEOUT_MS, rl->timeout_ms);
	curl_easy_setopt(job->easy, CURLOPT_MAXFILESIZE_LARGE,
	                 (curl_off_t)rl->max_bytes);
	curl_easy_setopt(job->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	/* No proxy: none is wanted, and libcurl would otherwise read the
	 * proxy variables of the environment on every transfer. */
	curl_easy_setopt(job->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(job->easy, CURLOPT_WRITEFUNCTION, job_write);
	curl_easy_setopt(job->easy, CURLOPT_WRITEDATA, job);
	curl_easy_setopt(job->easy, CURLOPT_PRIVATE, job);
	rl->jobs[rl->njobs++] = job;
	return job;
}

/* Mark JOB done with KIND and wake whoever waits for it.  In epoll mode
 * the connection is resumed after the store: the handler then finds the
 * job done, and the connection cannot go away while suspended. */
static void
job_complete(struct relay_job *job, enum relay_kind kind)
{
	struct relay *rl = job->rl;

	job->kind = kind;
	if (rl->blocking) {
		pthread_mutex_lock(&rl->lock);
		__atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
		pthread_cond_signal(&job->cond);
		pthread_mutex_unlock(&rl->lock);
	} else {
		struct MHD_Connection *conn = job->conn;

		__atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
		MHD_resume_connection(conn);
	}
}

/* Relay thread: count JOB's result and latency, then complete it. */
static void
job_finish(struct relay_job *job, enum relay_kind kind)
{
	struct relay_stats *s = &job->rl->stats;
	struct timespec now;
	unsigned long us;
	size_t b = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (unsigned long)((now.tv_sec - job->start.tv_sec) * 1000000L +
	                     (now.tv_nsec - job->start.tv_nsec) / 1000);
	while (b < NBUCKETS && us > bucket_us[b])
		b++;
	STAT_ADD(s->buckets[b], 1);
	STAT_ADD(s->sum_us, us);
	STAT_ADD(s->requests, 1);
	if (kind != RELAY_OK)
		STAT_ADD(s->errors[kind], 1);
	job_complete(job, kind);
}

/* What a finished transfer amounts to. */
static enum relay_kind
job_classify(struct relay_job *job, CURLcode rc)
{
	long code = 0;
	char *type = NULL;

	if (job->early != RELAY_OK)
		return job->early;
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_OPERATION_TIMEDOUT:
		return RELAY_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return RELAY_CONNECT;
	case CURLE_FILESIZE_EXCEEDED:
		return RELAY_TOO_LARGE;
	default:
		return RELAY_PROTOCOL;
	}
	curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(job->easy, CURLINFO_CONTENT_TYPE, &type);
	if (code < 200 || code > 299)
		return RELAY_STATUS;
	if (!json_type(type))
		return RELAY_CONTENT_TYPE;
	if (!json_body(job->buf, job->len))
		return RELAY_BODY;
	return RELAY_OK;
}

/* Hand the transfers that ended to their jobs. */
static void
relay_collect(struct relay *rl)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(rl->multi, &left)) != NULL) {
		struct relay_job *job = NULL;
		enum relay_kind kind;
		long connects = 0;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&job);
		kind = job_classify(job, m->data.result);
		curl_easy_getinfo(job->easy, CURLINFO_NUM_CONNECTS, &connects);
		STAT_ADD(rl->stats.connects, (unsigned long)connects);
		curl_multi_remove_handle(rl->multi, job->easy); /* m is gone */
		job->running = 0;
		rl->active--;
		job_finish(job, kind);
	}
}

/* Milliseconds from NOW until JOB's deadline, at least 0. */
static long
job_left_ms(const struct relay *rl, const struct relay_job *job,
            const struct timespec *now)
{
	long ms = rl->timeout_ms -
	          (long)((now->tv_sec - job->start.tv_sec) * 1000L +
	                 (now->tv_nsec - job->start.tv_nsec) / 1000000L);

	return ms > 0 ? ms : 0;
}

/*
 * Start waiting jobs while fewer than --upstream-connections transfers
 * run, oldest first, each with what is left of its timeout; end those
 * whose time ran out while they waited.  The queue is ours, not
 * libcurl's: libcurl re-examines every pending transfer whenever a
 * connection frees, which costs more the longer its queue.  Returns the
 * milliseconds until the oldest waiting job times out, or -1.
 */
static long
relay_start_waiting(struct relay *rl)
{
	struct timespec now;
	struct relay_job *job;

	clock_gettime(CLOCK_MONOTONIC, &now);
	while ((job = rl->waiting) != NULL) {
		long left = job_left_ms(rl, job, &now);

		if (left > 0 && rl->active >= rl->conns)
			return left;
		rl->waiting = job->next;
		if (rl->waiting == NULL)
			rl->waiting_tail = NULL;
		if (left == 0) {
			job_finish(job, RELAY_TIMEOUT);
			continue;
		}
		curl_easy_setopt(job->easy, CURLOPT_TIMEOUT_MS, left);
		curl_easy_setopt(job->easy, CURLOPT_CONNECTTIMEOUT_MS, left);
		if (curl_multi_add_handle(rl->multi, job->easy) != CURLM_OK) {
			job_finish(job, RELAY_PROTOCOL);
			continue;
		}
		job->running = 1;
		rl->active++;
	}
	return -1;
}

static void *
relay_loop(void *arg)
{
	struct relay *rl = arg;
	struct relay_job *list, *job;
	unsigned i, n;

	for (;;) {
		int stopping, sleep, running = 0;
		long wait_ms;

		pthread_mutex_lock(&rl->lock);
		rl->sleeping = 0;
		list = rl->submitted;
		rl->submitted = rl->submitted_tail = NULL;
		stopping = rl->stopping;
		pthread_mutex_unlock(&rl->lock);
		if (stopping) {
			/* Hand them to the loop below with the waiting ones. */
			if (list != NULL && rl->waiting_tail != NULL)
				rl->waiting_tail->next = list;
			else if (list != NULL)
				rl->waiting = list;
			break;
		}
		if (list != NULL) {
			if (rl->waiting_tail != NULL)
				rl->waiting_tail->next = list;
			else
				rl->waiting = list;
			for (job = list; job->next != NULL; job = job->next)
				;
			rl->waiting_tail = job;
		}
		relay_start_waiting(rl);
		curl_multi_perform(rl->multi, &running);
		relay_collect(rl);
		wait_ms = relay_start_waiting(rl);
		if (rl->waiting != NULL && rl->active < rl->conns)
			continue;
		/* Sleep unless requests came in meanwhile; a submitter wakes
		 * us only while we sleep (a wake-up costs two system calls). */
		pthread_mutex_lock(&rl->lock);
		sleep = rl->submitted == NULL && !rl->stopping;
		rl->sleeping = sleep;
		pthread_mutex_unlock(&rl->lock);
		if (sleep)
			curl_multi_poll(rl->multi, NULL, 0,
			                wait_ms >= 0 && wait_ms < 1000
			                ? (int)wait_ms + 1 : 1000, NULL);
	}
	/* Stopping: end what is still in flight or waiting. */
	while ((job = rl->waiting) != NULL) {
		rl->waiting = job->next;
		job_complete(job, RELAY_STOPPED);
	}
	pthread_mutex_lock(&rl->lock);
	n = rl->njobs;
	pthread_mutex_unlock(&rl->lock);
	for (i = 0; i < n; i++) {
		if (!rl->jobs[i]->running)
			continue;
		curl_multi_remove_handle(rl->multi, rl->jobs[i]->easy);
		rl->jobs[i]->running = 0;
		job_finish(rl->jobs[i], RELAY_STOPPED);
	}
	return NULL;
}

struct relay *
relay_start(const struct config *cfg, int blocking, struct error *err)
{
	struct relay *rl;
	long conns = (long)cfg->upstream_connections;

	rl = calloc(1, sizeof(*rl));
	if (rl == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		return NULL;
	}
	pthread_mutex_init(&rl->lock, NULL);
	rl->url = cfg->upstream;
	rl->timeout_ms = (long)cfg->upstream_timeout_ms;
	rl->max_bytes = cfg->upstream_max_bytes;
	rl->blocking = blocking;
	rl->conns = cfg->upstream_connections;
	rl->limit = cfg->upstream_connections + cfg->upstream_queue;
	rl->jobs = calloc(rl->limit, sizeof(struct relay_job *));
	if (rl->jobs == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		goto fail;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		error_set(err, EXIT_OSERR, "relay: cannot initialize libcurl");
		goto fail;
	}
	rl->curl_inited = 1;
	rl->multi = curl_multi_init();
	if (rl->multi == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		goto fail;
	}
	/* At most CONNS connections, all kept alive; no HTTP/2 multiplexing
	 * (the upstream speaks HTTP/1.1). */
	curl_multi_setopt(rl->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	curl_multi_setopt(rl->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	curl_multi_setopt(rl->multi, CURLMOPT_MAXCONNECTS, conns);
	curl_multi_setopt(rl->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	if (pthread_create(&rl->thread, NULL, relay_loop, rl) != 0) {
		error_set(err, EXIT_OSERR, "relay: cannot start its thread");
		goto fail;
	}
	rl->thread_started = 1;
	return rl;

fail:
	relay_free(rl);
	return NULL;
}

struct relay_job *
relay_acquire(struct relay *rl)
{
	struct relay_job *job = NULL;

	pthread_mutex_lock(&rl->lock);
	if (!rl->stopping) {
		if (rl->free_jobs != NULL) {
			job = rl->free_jobs;
			rl->free_jobs = job->next;
		} else if (rl->njobs < rl->limit) {
			job = job_new(rl);
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return job;
}

void
relay_submit(struct relay_job *job, struct MHD_Connection *conn)
{
	struct relay *rl = job->rl;
	int stopping, wake;

	job->conn = conn;
	job->len = 0;
	job->early = RELAY_OK;
	job->checked = 0;
	job->next = NULL;
	__atomic_store_n(&job->done, 0, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_MONOTONIC, &job->start);
	pthread_mutex_lock(&rl->lock);
	stopping = rl->stopping;
	wake = rl->sleeping;
	if (!stopping) {
		if (rl->submitted_tail != NULL)
			rl->submitted_tail->next = job;
		else
			rl->submitted = job;
		rl->submitted_tail = job;
		rl->sleeping = 0; /* one wake-up is enough */
	}
	pthread_mutex_unlock(&rl->lock);
	if (stopping)
		job_complete(job, RELAY_STOPPED);
	else if (wake)
		curl_multi_wakeup(rl->multi);
}

int
relay_done(const struct relay_job *job)
{
	return __atomic_load_n(&job->done, __ATOMIC_ACQUIRE);
}

void
relay_wait(struct relay_job *job)
{
	struct relay *rl = job->rl;

	pthread_mutex_lock(&rl->lock);
	while (!__atomic_load_n(&job->done, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&job->cond, &rl->lock);
	pthread_mutex_unlock(&rl->lock);
}

void
relay_release(struct relay_job *job)
{
	struct relay *rl = job->rl;
	char *drop = NULL;

	if (job->cap > BUF_KEEP) {
		drop = job->buf;
		job->buf = NULL;
		job->cap = 0;
	}
	job->len = 0;
	pthread_mutex_lock(&rl->lock);
	job->next = rl->free_jobs;
	rl->free_jobs = job;
	pthread_mutex_unlock(&rl->lock);
	free(drop);
}

/* MHD frees a response that owns a slot's buffer: return the slot. */
static void
job_response_freed(void *cls)
{
	relay_release(cls);
}

struct MHD_Response *
relay_response(struct relay_job *job, const char *location, int closing,
               unsigned *status, enum route_status *index)
{
	const char *body;

	if (job->kind == RELAY_OK) {
		struct MHD_Response *resp;

		*status = MHD_HTTP_OK;
		*index = STATUS_200;
		resp = MHD_create_response_from_buffer_with_free_callback_cls(
			job->len, job->buf, job_response_freed, job);
		if (resp == NULL) {
			relay_release(job);
			return NULL;
		}
		/* From here the response owns the slot: destroying it returns
		 * the slot. */
		if (routes_headers(resp, NULL, closing) < 0 ||
		    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
		                            location) != MHD_YES) {
			MHD_destroy_response(resp);
			return NULL;
		}
		return resp;
	}
	switch (job->kind) {
	case RELAY_TIMEOUT:
		*status = MHD_HTTP_GATEWAY_TIMEOUT;
		*index = STATUS_504;
		break;
	case RELAY_STOPPED:
		*status = MHD_HTTP_SERVICE_UNAVAILABLE;
		*index = STATUS_503;
		break;
	default:
		*status = MHD_HTTP_BAD_GATEWAY;
		*index = STATUS_502;
		break;
	}
	body = kind_bodies[job->kind];
	relay_release(job);
	return routes_response(body, strlen(body), NULL, closing);
}

struct MHD_Response *
relay_busy_response(int closing, unsigned *status, enum route_status *index)
{
	*status = MHD_HTTP_SERVICE_UNAVAILABLE;
	*index = STATUS_503;
	return routes_response(body_busy, strlen(body_busy), NULL, closing);
}

void
relay_stop(struct relay *rl)
{
	if (rl == NULL || !rl->thread_started)
		return;
	pthread_mutex_lock(&rl->lock);
	rl->stopping = 1;
	pthread_mutex_unlock(&rl->lock);
	curl_multi_wakeup(rl->multi);
	pthread_join(rl->thread, NULL);
	rl->thread_started = 0;
}

void
relay_free(struct relay *rl)
{
	unsigned i;

	if (rl == NULL)
		return;
	relay_stop(rl);
	for (i = 0; rl->jobs != NULL && i < rl->njobs; i++) {
		struct relay_job *job = rl->jobs[i];

		if (job == NULL)
			continue;
		curl_easy_cleanup(job->easy);
		pthread_cond_destroy(&job->cond);
		free(job->buf);
		free(job);
	}
	free(rl->jobs);
	if (rl->multi != NULL)
		curl_multi_cleanup(rl->multi);
	if (rl->curl_inited)
		curl_global_cleanup();
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void
relay_metrics(struct relay *rl, FILE *f)
{
	const struct relay_stats *s = &rl->stats;
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
	        LOAD(s->requests));
	for (k = 1; k < RELAY_KIND_COUNT; k++)
		fprintf(f, "avatar_api_upstream_errors_total{kind=\"%s\"} %lu\n",
		        kind_names[k], LOAD(s->errors[k]));
	fprintf(f, "# HELP avatar_api_upstream_connections_opened_total TCP "
	        "connections opened to the upstream (kept alive and reused).\n"
	        "# TYPE avatar_api_upstream_connections_opened_total counter\n"
	        "avatar_api_upstream_connections_opened_total %lu\n"
	        "# HELP avatar_api_upstream_duration_seconds Time from a "
	        "request's submission to its upstream answer.\n"
	        "# TYPE avatar_api_upstream_duration_seconds histogram\n",
	        LOAD(s->connects));
	for (b = 0; b <= NBUCKETS; b++) {
		cum += LOAD(s->buckets[b]);
		if (b < NBUCKETS)
			fprintf(f, "avatar_api_upstream_duration_seconds_bucket"
			        "{le=\"%g\"} %lu\n", (double)bucket_us[b] / 1e6, cum);
		else
			fprintf(f, "avatar_api_upstream_duration_seconds_bucket"
			        "{le=\"+Inf\"} %lu\n", cum);
	}
	fprintf(f, "avatar_api_upstream_duration_seconds_sum %.6f\n"
	        "avatar_api_upstream_duration_seconds_count %lu\n",
	        (double)LOAD(s->sum_us) / 1e6, cum);
}
