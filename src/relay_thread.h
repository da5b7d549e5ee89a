/* relay_thread.h -- the relay's insides, shared by its API and its thread. */
#ifndef AVATAR_RELAY_THREAD_H
#define AVATAR_RELAY_THREAD_H

/*
 * Private to relay.c (the API: slots, submit, wait, start and stop) and
 * relay_thread.c (the relay thread: the waiting queue, the in-flight
 * list, dispatch onto upconn.c's connections, timeouts).  Each field
 * says who may touch it: "relay thread only", "under lock", "atomic";
 * a job belongs to its submitter from relay_acquire to relay_submit and
 * again from its completion to relay_release, and to the relay thread
 * in between.
 */

#include <pthread.h>
#include <stdint.h>

#include "relay.h"
#include "relay_report.h"
#include "resolver.h"
#include "upconn.h"

struct relay_job {
	struct relay *rl;
	struct upconn_req req;       /* the body (owned by the submitter
	                              * from done to relay_release) and the
	                              * connection it runs on */
	relay_done_fn *done_fn;      /* called once done; NULL: a waiter */
	void *done_arg;
	uint64_t start_us;           /* clock_us: for the histogram */
	uint64_t deadline_ms;        /* clock_ms */
	struct relay_outcome out;    /* the result, once done */
	unsigned note;               /* the submitter's (relay_note_set) */
	int done;                    /* atomic */
	/* Relay thread only. */
	int running;                 /* in the in-flight list */
	int retried;                 /* sent again on a fresh connection */
	int fresh;                   /* wants a new connection */
	unsigned tries;              /* failed connects */
	pthread_cond_t cond;         /* BLOCKING: relay_wait's, done */
	struct relay_job *next;      /* free, submitted, waiting, in flight */
	struct relay_job *prev;      /* in flight */
};

/* Written only by the relay thread. */
struct relay_stats {
	unsigned long requests;
	unsigned long sum_us;
	unsigned long errors[RELAY_KIND_COUNT];
	unsigned long buckets[RELAY_BUCKETS + 1]; /* the last: over the top */
	uint64_t unreachable_ms;     /* relay_reachable: the clock_ms of the
	                              * last failed connect, 0 once an
	                              * answer came after it */
} __attribute__((aligned(64)));

struct relay {
	struct relay_stats stats;
	uint64_t timeout_ms;
	int blocking;
	struct relay_front front;    /* its hooks, if any (set before the
	                              * thread starts) */
	int epfd, wakefd;
	char *request;               /* "GET PATH HTTP/1.1\r\nHost: ..." */
	size_t request_len;
	size_t path_end;             /* where PATH ends in it (a record's
	                              * "/ID" goes there) */
	int path_slash;              /* PATH ends with "/": ID alone */
	struct resolver *resolver;   /* a host name's, else NULL; set
	                              * before the thread starts */
	/* Relay thread only. */
	struct resolver_addrs addrs;
	struct relay_report report;  /* failures for the log */
	unsigned addr;               /* the one that worked last */
	uint64_t resolve_ms;         /* the last ask */
	struct upconn_pool *pool;    /* (its connects: any thread) */
	struct relay_job *waiting, *waiting_tail;
	struct relay_job *flight, *flight_tail; /* by deadline */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t lock;        /* everything below */
	struct relay_job *free_jobs;
	struct relay_job *submitted, *submitted_tail;
	struct relay_job **jobs;     /* every slot made, for relay_free */
	unsigned njobs, limit;
	int stopping;
	int sleeping;                /* the relay thread waits in epoll */
};

/* The relay thread (pthread_create's start routine; ARG is the relay):
 * runs until rl->stopping, then ends every job left (RELAY_STOPPED) and
 * closes the connections. */
void *relay_loop(void *arg);

/* Relay thread: note for relay_reachable how a request ended (KIND). */
void relay_reach(struct relay *rl, enum relay_kind kind);

/* Mark JOB done with KIND, then wake its waiter or call its callback.
 * The relay thread, or relay_submit when the relay is stopping. */
void relay_complete(struct relay_job *job, enum relay_kind kind);


/* The connection pool's END callback (OWNER is the relay). */
void relay_ended(void *owner, struct upconn_req *req, enum upconn_end how,
                 enum relay_kind kind);

#endif
