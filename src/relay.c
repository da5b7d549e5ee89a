/* relay.c -- the upstream client: GET the upstream's URL, report the outcome. */
/*
 * A client of one upstream URL, for any number of threads: a request
 * slot (a "job": a body buffer, reused) is taken per client request, at
 * most --upstream-connections + --upstream-queue of them (with none
 * free the caller answers at once that the relay is busy), submitted
 * with a completion callback, and returned once its outcome was used.
 * The relay thread (relay_thread.c) runs the jobs over upconn.c's
 * keep-alive connections; a done job's outcome goes to its submitter's
 * callback (epoll mode: proxy.c resumes the client connection) or wakes
 * its waiter (thread-per-connection mode).  Its body is the slot's
 * buffer, which the server sends as is; the slot is returned with
 * relay_release once the answer that sent it is freed.  The upstream
 * counters are written by the relay thread only and read here with
 * relaxed loads by a scrape.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "accesslog.h"
#include "atomicvar.h"
#include "clock.h"
#include "relay.h"
#include "relay_thread.h"
#include "resolver.h"
#include "target.h"
#include "upconn.h"
#include "upstream.h"

const unsigned long relay_bucket_us[RELAY_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000};

static const char *const kind_names[RELAY_KIND_COUNT] = {
	"ok", "connect", "timeout", "status", "content_type", "too_large",
	"body", "protocol", "stopped"};

/* A new slot.  Called with the lock held; returns NULL if out of
 * memory. */
static struct relay_job *
job_new(struct relay *rl)
{
	struct relay_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->rl = rl;
	if (pthread_cond_init(&job->cond, NULL) != 0) {
		free(job);
		return NULL;
	}
	rl->jobs[rl->njobs++] = job;
	return job;
}

/* Resolve the upstream host of U into RL's addresses, and build the
 * request from URL.  Returns 0, or -1 with ERR set. */
static int
relay_prepare(struct relay *rl, const char *url, const struct upstream_url *u,
              struct error *err)
{
	int rc;

	if (resolver_lookup(u->host, u->port, &rl->addrs, &rc) < 0) {
		error_set(err, EXIT_UNAVAILABLE, "relay: cannot resolve the "
		          "upstream host '%s': %s", u->host, gai_strerror(rc));
		return -1;
	}
	if (rl->addrs.n == 0) {
		error_set(err, EXIT_UNAVAILABLE, "relay: the upstream host '%s' "
		          "has no usable address", u->host);
		return -1;
	}
	rl->request = upstream_request(url, u, &rl->request_len);
	if (rl->request == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		return -1;
	}
	/* "GET " PATH, up to its query or the space before the version. */
	rl->path_end = 4 + strcspn(rl->request + 4, "? ");
	rl->path_slash = rl->request[rl->path_end - 1] == '/';
	/* A host name may move (a container restarted): keep a resolver. */
	if (!resolver_is_address(u->host)) {
		rl->resolver = resolver_start(u->host, u->port, &rl->addrs, err);
		if (rl->resolver == NULL)
			return -1;
	}
	return 0;
}

struct relay *
relay_start(const struct config *cfg, int blocking,
            const struct relay_front *front, struct error *err)
{
	struct relay *rl;
	struct upstream_url u;
	struct epoll_event ev;

	if (upstream_url_parse(cfg->upstream, &u, err) < 0)
		return NULL;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		return NULL;
	}
	pthread_mutex_init(&rl->lock, NULL);
	rl->epfd = rl->wakefd = -1;
	rl->timeout_ms = cfg->upstream_timeout_ms;
	relay_report_init(&rl->report, cfg->upstream_timeout_ms);
	rl->blocking = blocking;
	if (front != NULL)
		rl->front = *front;
	rl->limit = cfg->upstream_connections + cfg->upstream_queue;
	rl->jobs = calloc(rl->limit, sizeof(struct relay_job *));
	if (rl->jobs == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		goto fail;
	}
	if (relay_prepare(rl, cfg->upstream, &u, err) < 0)
		goto fail;
	rl->epfd = epoll_create1(EPOLL_CLOEXEC);
	rl->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = 0;
	if (rl->epfd < 0 || rl->wakefd < 0 ||
	    epoll_ctl(rl->epfd, EPOLL_CTL_ADD, rl->wakefd, &ev) < 0) {
		error_set(err, EXIT_OSERR, "relay: epoll: %s", strerror(errno));
		goto fail;
	}
	rl->pool = upconn_pool_new(cfg->upstream_connections, rl->epfd,
	                           rl->request, rl->request_len,
	                           rl->path_end, cfg->upstream_max_bytes,
	                           relay_ended, rl);
	if (rl->pool == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		goto fail;
	}
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


/* Every forwarded line fits, at its longest. */
_Static_assert(sizeof("X-Request-Id: \r\n") - 1 + ACCESSLOG_ID_MAX +
               sizeof("traceparent: \r\n") - 1 + ACCESSLOG_ID_MAX +
               sizeof("If-None-Match: \r\n") - 1 + RELAY_FIELD_MAX +
               sizeof("If-Match: \r\n") - 1 + RELAY_FIELD_MAX +
               sizeof("Accept-Encoding: \r\n") - 1 + RELAY_FIELD_MAX
               <= UPCONN_FWD_MAX, "UPCONN_FWD_MAX: room for every line");

/* Append "NAME: VALUE\r\n" (LEN bytes of VALUE) to REQ's lines. */
static void
forward_line(struct upconn_req *req, const char *name, const char *value,
             size_t len)
{
	size_t n = strlen(name);

	memcpy(req->fwd + req->fwd_len, name, n);
	memcpy(req->fwd + req->fwd_len + n, ": ", 2);
	memcpy(req->fwd + req->fwd_len + n + 2, value, len);
	memcpy(req->fwd + req->fwd_len + n + 2 + len, "\r\n", 2);
	req->fwd_len += n + 2 + len + 2;
}

/* Append "NAME: VALUE\r\n" to REQ's lines if VALUE is an id. */
static void
forward_id(struct upconn_req *req, const char *name, const char *value)
{
	size_t len;

	value = accesslog_id(value, &len);
	if (value != NULL)
		forward_line(req, name, value, len);
}

/* Append "NAME: VALUE\r\n" to REQ's lines if VALUE can be forwarded:
 * at most RELAY_FIELD_MAX bytes of printable ASCII.  Returns 1 if it
 * was, 0 if not (or VALUE is NULL). */
static int
forward_field(struct upconn_req *req, const char *name, const char *value)
{
	size_t len;

	if (value == NULL)
		return 0;
	for (len = 0; value[len] != '\0'; len++)
		if (len == RELAY_FIELD_MAX || (unsigned char)value[len] < 0x20 ||
		    (unsigned char)value[len] > 0x7e)
			return 0;
	forward_line(req, name, value, len);
	return 1;
}

int
relay_forward(struct relay_job *job, const struct relay_fields *f)
{
	struct upconn_req *req = &job->req;

	req->fwd_len = 0;
	req->accept &= UPCONN_ACCEPT_404; /* relay_target's */
	forward_id(req, "X-Request-Id", f->request_id);
	forward_id(req, "traceparent", f->traceparent);
	if (forward_field(req, "If-None-Match", f->if_none_match))
		req->accept |= UPCONN_ACCEPT_304;
	if (forward_field(req, "If-Match", f->if_match))
		req->accept |= UPCONN_ACCEPT_412;
	else if (f->if_match != NULL)
		return -1;
	forward_field(req, "Accept-Encoding", f->accept_encoding);
	return 0;
}

int
relay_target(struct relay_job *job, const char *id)
{
	struct upconn_req *req = &job->req;
	size_t slash = job->rl->path_slash ? 0 : 1;
	long n;

	/* "." and ".." are dot-segments, not names (RFC 3986 5.2.4): sent
	 * as the last segment they would ask the upstream for its path's
	 * own resource or its parent's.  No record has such an id. */
	if (id[0] == '\0' || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return -1;
	n = target_encode(req->target + slash, RELAY_ID_MAX + 1, id);
	if (n < 0)
		return -1;
	if (slash)
		req->target[0] = '/';
	req->target_len = slash + (size_t)n;
	req->accept |= UPCONN_ACCEPT_404;
	return 0;
}

const char *
relay_job_id(const struct relay_job *job)
{
	const struct upconn_req *req = &job->req;

	if (!(req->accept & UPCONN_ACCEPT_404))
		return NULL;
	return req->target + (job->rl->path_slash ? 0 : 1);
}

void
relay_note_set(struct relay_job *job, unsigned note)
{
	job->note = note;
}

unsigned
relay_note(const struct relay_job *job)
{
	return job->note;
}

/* Make JOB ready to run: done with ARG, and its clock started. */
static void
job_ready(struct relay_job *job, relay_done_fn *done, void *arg)
{
	job->done_fn = done;
	job->done_arg = arg;
	job->req.len = 0;
	job->req.upc = NULL;
	job->req.status = 0;
	job->next = job->prev = NULL;
	job->running = job->retried = job->fresh = 0;
	job->tries = 0;
	atom_store(job->done, 0);
	/* One clock read: the deadline's milliseconds from the precise
	 * clock are never behind the coarse one relay_expire reads. */
	job->start_us = clock_us();
	job->deadline_ms = job->start_us / 1000u + job->rl->timeout_ms;
}

void
relay_submit(struct relay_job *job, relay_done_fn *done, void *arg)
{
	struct relay *rl = job->rl;
	int stopping, wake;

	job_ready(job, done, arg);
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
		relay_complete(job, RELAY_STOPPED);
	else if (wake)
		relay_wake(rl);
}

void
relay_submit_here(struct relay_job *job, relay_done_fn *done, void *arg)
{
	struct relay *rl = job->rl;

	job_ready(job, done, arg);
	/* The loop checks for a stop before it dispatches: a job queued
	 * now is either sent or ended RELAY_STOPPED there. */
	if (rl->waiting_tail != NULL)
		rl->waiting_tail->next = job;
	else
		rl->waiting = job;
	rl->waiting_tail = job;
}

int
relay_epoll(const struct relay *rl)
{
	return rl->epfd;
}

int
relay_done(const struct relay_job *job)
{
	return atom_load_acquire(job->done);
}

void
relay_wait(struct relay_job *job)
{
	struct relay *rl = job->rl;

	pthread_mutex_lock(&rl->lock);
	while (!atom_load_acquire(job->done))
		pthread_cond_wait(&job->cond, &rl->lock);
	pthread_mutex_unlock(&rl->lock);
}

uint64_t
relay_job_started_us(const struct relay_job *job)
{
	return job->start_us;
}

const struct relay_outcome *
relay_outcome(const struct relay_job *job)
{
	return &job->out;
}

void
relay_release(struct relay_job *job)
{
	struct relay *rl = job->rl;

	upconn_req_reset(&job->req);
	job->req.fwd_len = 0;
	job->req.target_len = 0;
	job->req.accept = 0;
	pthread_mutex_lock(&rl->lock);
	job->next = rl->free_jobs;
	rl->free_jobs = job;
	pthread_mutex_unlock(&rl->lock);
}

void
relay_stop(struct relay *rl)
{
	if (rl == NULL)
		return;
	if (rl->thread_started) {
		pthread_mutex_lock(&rl->lock);
		rl->stopping = 1;
		pthread_mutex_unlock(&rl->lock);
		relay_wake(rl);
		pthread_join(rl->thread, NULL);
		rl->thread_started = 0;
	}
	resolver_stop(rl->resolver);
	rl->resolver = NULL;
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
		pthread_cond_destroy(&job->cond);
		free(job->req.buf);
		free(job);
	}
	free(rl->jobs);
	upconn_pool_free(rl->pool);
	free(rl->request);
	if (rl->epfd >= 0)
		close(rl->epfd);
	if (rl->wakefd >= 0)
		close(rl->wakefd);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

void
relay_counters_read(struct relay *rl, struct relay_counters *out)
{
	const struct relay_stats *s = &rl->stats;
	size_t i;

	out->requests = atom_load(s->requests);
	out->connects = upconn_connects(rl->pool);
	out->sum_us = atom_load(s->sum_us);
	for (i = 0; i < RELAY_KIND_COUNT; i++)
		out->errors[i] = atom_load(s->errors[i]);
	for (i = 0; i <= RELAY_BUCKETS; i++)
		out->buckets[i] = atom_load(s->buckets[i]);
}

void
relay_reach(struct relay *rl, enum relay_kind kind)
{
	uint64_t *t = &rl->stats.unreachable_ms;

	/* A store only when the state changes: none per request while the
	 * upstream answers. */
	if (kind == RELAY_CONNECT)
		atom_store(*t, clock_ms() | 1u);
	else if (kind != RELAY_TIMEOUT && kind != RELAY_STOPPED &&
	         atom_load(*t) != 0)
		atom_store(*t, 0);
}

int
relay_reachable(struct relay *rl, uint64_t now_ms)
{
	uint64_t t = atom_load(rl->stats.unreachable_ms);

	/* T is the failure's clock_ms with its low bit set, so up to 1 ms
	 * after NOW_MS when read in the same millisecond: compare without
	 * letting NOW_MS - T wrap (it did, and a failure read at once said
	 * "reachable"). */
	return t == 0 || now_ms + 1 >= t + RELAY_UNREACHABLE_MS;
}

const char *
relay_kind_name(enum relay_kind kind)
{
	return kind_names[kind];
}
