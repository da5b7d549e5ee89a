/* relay_thread.c -- the relay thread: queues jobs, runs them, times them out. */
/*
 * One thread drives every upstream request over the connections of
 * upconn.c, in one epoll set.  It sleeps in epoll_wait, until a
 * connection is ready or the next request times out; a request
 * submitted while it sleeps wakes it through an eventfd (a busy relay
 * thread needs no wake-up).  Jobs wait in a FIFO for a connection; an
 * idle connection is reused first (the most recent), else a new one is
 * opened while fewer than --upstream-connections are open.  A running
 * job sits in the in-flight list, sorted by deadline.  The counters are
 * written here only (one writer, like each slot of stats.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "atomicvar.h"
#include "clock.h"
#include "relay_thread.h"

/* The host is looked up again at most this often (milliseconds), when
 * connects fail: a container or pod that comes back gets a new address. */
#define RESOLVE_EVERY_MS 1000u
#define EVENTS_MAX 64

/* The job whose exchange side is REQ. */
static struct relay_job *
job_of(struct upconn_req *req)
{
	return (struct relay_job *)(void *)((char *)req -
	                                    offsetof(struct relay_job, req));
}

/* Mark JOB done, then wake its waiter or call its callback.  In epoll
 * mode the callback resumes the client connection after the
 * store: the handler then finds the job done, and the connection cannot
 * go away while suspended. */
void
relay_complete(struct relay_job *job, enum relay_kind kind)
{
	struct relay *rl = job->rl;
	relay_done_fn *done = job->done_fn;
	void *arg = job->done_arg;
	struct relay_outcome out = {kind, job->req.status, NULL, 0, NULL,
	                            NULL, 0};

	if (kind == RELAY_OK) {
		out.body = job->req.buf;
		out.len = job->req.len;
		out.declared = job->req.declared;
		if (job->req.etag[0] != '\0')
			out.etag = job->req.etag;
		if (job->req.coding[0] != '\0')
			out.encoding = job->req.coding;
	}
	job->out = out;
	if (rl->blocking) {
		pthread_mutex_lock(&rl->lock);
		atom_store_release(job->done, 1);
		pthread_cond_signal(&job->cond);
		pthread_mutex_unlock(&rl->lock);
	} else {
		atom_store_release(job->done, 1);
	}
	if (done != NULL)
		done(arg, job, &out);
}

/* Take JOB out of the in-flight list. */
static void
flight_remove(struct relay *rl, struct relay_job *job)
{
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		rl->flight = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	else
		rl->flight_tail = job->prev;
	job->next = job->prev = NULL;
	job->running = 0;
}

/* Put JOB in the in-flight list, which stays sorted by deadline (jobs
 * start in submission order; only a retried one goes further back). */
static void
flight_add(struct relay *rl, struct relay_job *job)
{
	struct relay_job *after = rl->flight_tail;

	while (after != NULL && after->deadline_ms > job->deadline_ms)
		after = after->prev;
	job->prev = after;
	job->next = after != NULL ? after->next : rl->flight;
	if (job->next != NULL)
		job->next->prev = job;
	else
		rl->flight_tail = job;
	if (after != NULL)
		after->next = job;
	else
		rl->flight = job;
	job->running = 1;
}

/* Relay thread: count JOB's result and duration, then complete it. */
static void
job_finish(struct relay_job *job, enum relay_kind kind)
{
	struct relay *rl = job->rl;
	struct relay_stats *s = &rl->stats;
	unsigned long us;
	size_t b = 0;

	if (job->running)
		flight_remove(rl, job);
	job->req.upc = NULL;
	us = (unsigned long)(clock_us() - job->start_us);
	while (b < RELAY_BUCKETS && us > relay_bucket_us[b])
		b++;
	atom_bump(s->buckets[b], 1);
	atom_bump(s->sum_us, us);
	atom_bump(s->requests, 1);
	if (kind != RELAY_OK)
		atom_bump(s->errors[kind], 1);
	relay_reach(rl, kind);
	if (kind == RELAY_OK)
		relay_report_ok(&rl->report);
	else if (kind != RELAY_STOPPED)
		relay_report_failure(&rl->report, kind, job->req.error,
		                     clock_ms());
	relay_complete(job, kind);
}

/* Take the oldest job out of the waiting queue (not empty). */
static struct relay_job *
waiting_pop(struct relay *rl)
{
	struct relay_job *job = rl->waiting;

	rl->waiting = job->next;
	if (rl->waiting == NULL)
		rl->waiting_tail = NULL;
	job->next = NULL;
	return job;
}

/* Put JOB back at the head of the waiting queue (it is the oldest). */
static void
job_requeue(struct relay *rl, struct relay_job *job)
{
	if (job->running)
		flight_remove(rl, job);
	job->req.upc = NULL;
	job->next = rl->waiting;
	rl->waiting = job;
	if (rl->waiting_tail == NULL)
		rl->waiting_tail = job;
}

/* Connects fail: have the resolver thread look the host up again, at
 * most once every RESOLVE_EVERY_MS. */
static void
relay_reresolve(struct relay *rl)
{
	uint64_t now = clock_ms();

	if (rl->resolver == NULL || now - rl->resolve_ms < RESOLVE_EVERY_MS)
		return;
	rl->resolve_ms = now;
	resolver_ask(rl->resolver);
}

/* A connect for JOB to the current address failed: try the next one, if
 * JOB has not tried them all, else the request is unreachable. */
static void
job_unreachable(struct relay *rl, struct relay_job *job)
{
	if (++job->tries < rl->addrs.n) {
		rl->addr = (rl->addr + 1) % rl->addrs.n;
		job_requeue(rl, job);
	} else {
		relay_reresolve(rl);
		job_finish(job, RELAY_CONNECT);
	}
}

/* The pool's END callback: REQ's exchange ended.  A request whose
 * reused connection broke is sent once more on a fresh one, once. */
void
relay_ended(void *owner, struct upconn_req *req, enum upconn_end how,
            enum relay_kind kind)
{
	struct relay *rl = owner;
	struct relay_job *job = job_of(req);

	if (how == UPCONN_UNREACHABLE) {
		job_unreachable(rl, job);
	} else if (how == UPCONN_BROKEN && !job->retried) {
		job->retried = 1;
		job->fresh = 1;
		job_requeue(rl, job);
	} else {
		job_finish(job, kind);
	}
}

/*
 * Start waiting jobs, oldest first: on an idle connection (the latest)
 * that is still clean (upconn_take_idle closes one that is not and
 * tries the next, so the job goes out on a fresh connection rather than
 * being retried), else on a new one while fewer than
 * --upstream-connections are open.  A job to be retried wants a fresh
 * connection: an idle one is closed to make room if need be.
 */
static void
relay_dispatch(struct relay *rl)
{
	struct relay_job *job;

	while ((job = rl->waiting) != NULL) {
		struct upconn *c = job->fresh ? NULL
		                   : upconn_take_idle(rl->pool);

		if (c == NULL && !upconn_make_room(rl->pool))
			return;
		waiting_pop(rl);
		flight_add(rl, job);
		if (c != NULL)
			upconn_start(rl->pool, c, &job->req);
		else
			upconn_open(rl->pool, &job->req, &rl->addrs.addr[rl->addr],
			            rl->addrs.len[rl->addr]);
	}
}

/* End the jobs whose time ran out, in flight or waiting.  Returns the
 * milliseconds until the next deadline, or -1.  The deadlines are
 * compared with the coarse clock, which may lag a precise one by a
 * tick: a deadline it has not reached yet is at least 1 ms away, so the
 * loop never spins on a wait of 0. */
static int64_t
relay_expire(struct relay *rl)
{
	uint64_t now = clock_ms();
	int64_t next = -1;
	struct relay_job *job;

	while ((job = rl->flight) != NULL && job->deadline_ms <= now) {
		/* Still connecting: the address may be gone. */
		if (job->req.upc != NULL && upconn_abort(rl->pool, &job->req))
			relay_reresolve(rl);
		job_finish(job, RELAY_TIMEOUT);
	}
	while (rl->waiting != NULL && rl->waiting->deadline_ms <= now)
		job_finish(waiting_pop(rl), RELAY_TIMEOUT);
	if (rl->flight != NULL)
		next = (int64_t)(rl->flight->deadline_ms - now);
	if (rl->waiting != NULL &&
	    (next < 0 || (int64_t)(rl->waiting->deadline_ms - now) < next))
		next = (int64_t)(rl->waiting->deadline_ms - now);
	return next;
}

/* Append the jobs LIST (linked by next) to the waiting queue. */
static void
relay_enqueue(struct relay *rl, struct relay_job *list)
{
	struct relay_job *job;

	if (list == NULL)
		return;
	if (rl->waiting_tail != NULL)
		rl->waiting_tail->next = list;
	else
		rl->waiting = list;
	for (job = list; job->next != NULL; job = job->next)
		;
	rl->waiting_tail = job;
}

/* Reset the wake-up eventfd (its counter; nonblocking). */
static void
relay_drain(struct relay *rl)
{
	uint64_t v;

	if (read(rl->wakefd, &v, sizeof(v)) < 0)
		return; /* already reset: a wake-up raced the last one */
}

void *
relay_loop(void *arg)
{
	struct relay *rl = arg;
	struct epoll_event ev[EVENTS_MAX];
	struct relay_job *job;

	for (;;) {
		struct relay_job *list;
		int64_t wait_ms, report_ms;
		int stopping, sleep, n, k;

		if (rl->resolver != NULL &&
		    resolver_take(rl->resolver, &rl->addrs))
			rl->addr = 0; /* the host moved: start from the first */
		pthread_mutex_lock(&rl->lock);
		rl->sleeping = 0;
		list = rl->submitted;
		rl->submitted = rl->submitted_tail = NULL;
		stopping = rl->stopping;
		pthread_mutex_unlock(&rl->lock);
		relay_enqueue(rl, list);
		if (stopping)
			break;
		if (rl->front.turn != NULL)
			rl->front.turn(rl->front.arg);
		relay_expire(rl);
		relay_dispatch(rl);
		wait_ms = relay_expire(rl);
		/* Counted failures are logged on time even with nothing in
		 * flight: sleep no longer than until they are due. */
		report_ms = relay_report_tick(&rl->report);
		if (report_ms >= 0 && (wait_ms < 0 || report_ms < wait_ms))
			wait_ms = report_ms;
		/* Sleep unless requests came in meanwhile; a submitter wakes
		 * us only while we sleep (a wake-up costs two system calls). */
		pthread_mutex_lock(&rl->lock);
		sleep = rl->submitted == NULL && !rl->stopping;
		rl->sleeping = sleep;
		pthread_mutex_unlock(&rl->lock);
		n = epoll_wait(rl->epfd, ev, EVENTS_MAX,
		               !sleep ? 0
		               : wait_ms < 0 ? -1
		               : (int)(wait_ms < 3600000 ? wait_ms : 3600000));
		for (k = 0; k < n; k++) {
			if (ev[k].data.u64 == 0)
				relay_drain(rl);
			else if (ev[k].data.u64 & RELAY_FRONT_TAG)
				rl->front.event(rl->front.arg,
				                ev[k].data.u64 & ~RELAY_FRONT_TAG,
				                ev[k].events);
			else
				upconn_event(rl->pool, ev[k].data.u64, ev[k].events);
		}
	}
	/* Stopping: end what is still in flight or waiting. */
	while (rl->waiting != NULL)
		relay_complete(waiting_pop(rl), RELAY_STOPPED);
	while ((job = rl->flight) != NULL)
		job_finish(job, RELAY_STOPPED);
	if (rl->front.stopped != NULL)
		rl->front.stopped(rl->front.arg);
	upconn_close_all(rl->pool);
	relay_report_flush(&rl->report, clock_ms());
	return NULL;
}

void
relay_wake(struct relay *rl)
{
	uint64_t one = 1;

	if (write(rl->wakefd, &one, sizeof(one)) < 0)
		return; /* the counter is full: it is awake anyway */
}
