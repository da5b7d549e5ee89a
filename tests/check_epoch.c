/* check_epoch.c -- unit tests for epoch.c and stats.c: what threads count
 * is summed, kept when they exit, and epoch_synchronize waits for exactly
 * the requests that were inside when it started. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "atomicvar.h"
#include "clock.h"
#include "epoch.h"
#include "stats.h"
#include "testutil.h"

/* How long a reader stays inside in the waiting tests. */
#define HOLD_MS 100
/* Longer than any wait that should end; shorter than Check's timeout. */
#define PATIENCE_MS 2000

/* Requests each counting thread makes. */
#define PER_THREAD 1000

/* Non-zero: posix_memalign fails, as when out of memory. */
static int fail_alloc;

/* epoch_enter allocates a thread's record with posix_memalign, the only
 * allocation it makes; this one, in the test program, is found before
 * libc's, so that the out-of-memory fallback can be reached. */
int
posix_memalign(void **p, size_t align, size_t size)
{
	if (atom_load(fail_alloc))
		return ENOMEM;
	*p = aligned_alloc(align, (size + align - 1) / align * align);
	return *p != NULL ? 0 : ENOMEM;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Wait until *FLAG is set, at most MS milliseconds.  Returns its value. */
static int
wait_flag(const int *flag, unsigned ms)
{
	uint64_t end = clock_ms() + ms;

	while (!atom_load_acquire(*flag) && clock_ms() < end)
		sleep_ms(1);
	return atom_load_acquire(*flag);
}

/* A thread's requests: each counts one answer, spread over every route
 * and status by SEED.  EXPECT, when not NULL, gets the same counts. */
static void
count_requests(struct epoch *ep, int seed, struct stats *expect)
{
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		enum route r = (enum route)((i + seed) % ROUTE_COUNT);
		enum route_status s = (enum route_status)(i % STATUS_COUNT);
		struct stats *counts = epoch_enter(ep);

		stats_count(counts, r, s);
		epoch_leave(ep, counts);
		if (expect != NULL)
			expect->n[r][s]++;
	}
}

static void
assert_counts(const struct stats *got, const struct stats *want,
              const char *when)
{
	int r, s;

	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < STATUS_COUNT; s++)
			ck_assert_msg(got->n[r][s] == want->n[r][s],
			              "%s: route %d status %d: %lu, want %lu",
			              when, r, s, got->n[r][s], want->n[r][s]);
}

/* A thread that counts, then, if STAY, stays alive until GO. */
struct counter {
	pthread_t t;
	struct epoch *ep;
	int seed;
	int stay;
	int counted;
	int go;
};

static void *
counter_run(void *arg)
{
	struct counter *c = arg;

	count_requests(c->ep, c->seed, NULL);
	atom_store_release(c->counted, 1);
	if (c->stay)
		wait_flag(&c->go, PATIENCE_MS);
	return NULL;
}

static void
counter_start(struct counter *c, struct epoch *ep, int seed, int stay,
              struct stats *expect)
{
	int i;

	memset(c, 0, sizeof(*c));
	c->ep = ep;
	c->seed = seed;
	c->stay = stay;
	ck_assert_int_eq(pthread_create(&c->t, NULL, counter_run, c), 0);
	/* What the thread counts, computed alike. */
	for (i = 0; i < PER_THREAD; i++)
		expect->n[(i + seed) % ROUTE_COUNT][i % STATUS_COUNT]++;
}

/* The sum holds every thread's counts: those that exited, one alive
 * (its counts still in its record), and the calling thread's; a thread
 * that exits takes nothing away. */
START_TEST(test_sum_threads)
{
	struct epoch *ep = epoch_new();
	struct stats want, got;
	struct counter gone[4], alive, late;
	int i;

	ck_assert_ptr_nonnull(ep);
	memset(&want, 0, sizeof(want));
	epoch_sum(ep, &got);
	assert_counts(&got, &want, "new");
	for (i = 0; i < 4; i++)
		counter_start(&gone[i], ep, i, 0, &want);
	for (i = 0; i < 4; i++)
		pthread_join(gone[i].t, NULL);
	counter_start(&alive, ep, 7, 1, &want);
	ck_assert(wait_flag(&alive.counted, PATIENCE_MS));
	count_requests(ep, 11, &want);
	epoch_sum(ep, &got);
	assert_counts(&got, &want, "four gone, one alive, and this one");

	atom_store_release(alive.go, 1);
	pthread_join(alive.t, NULL);
	epoch_sum(ep, &got);
	assert_counts(&got, &want, "after the last one exited");

	counter_start(&late, ep, 3, 0, &want);
	pthread_join(late.t, NULL);
	epoch_sum(ep, &got);
	assert_counts(&got, &want, "one more gone");
	epoch_free(ep);
}
END_TEST

/* A request: enters, says so, stays inside HOLD_MS (or, when HOLD_MS is
 * 0, until RELEASE), notes when it leaves, and leaves.  If REGISTER, it
 * first makes one request and waits for GO. */
struct reader {
	pthread_t t;
	struct epoch *ep;
	unsigned hold_ms;
	int registered;
	int go;
	int inside;
	int release;
	int leaving;
	uint64_t left_at;
	int no_counts;    /* epoch_enter returned NULL */
};

static void *
reader_run(void *arg)
{
	struct reader *rd = arg;
	struct stats *counts;

	counts = epoch_enter(rd->ep); /* the thread's record is made here */
	epoch_leave(rd->ep, counts);
	atom_store_release(rd->registered, 1);
	wait_flag(&rd->go, PATIENCE_MS);
	counts = epoch_enter(rd->ep);
	stats_count(counts, ROUTE_USER, STATUS_404);
	atom_store_release(rd->inside, 1);
	if (rd->hold_ms > 0)
		sleep_ms(rd->hold_ms);
	else
		wait_flag(&rd->release, PATIENCE_MS * 2);
	rd->left_at = clock_ms();
	atom_store_release(rd->leaving, 1);
	epoch_leave(rd->ep, counts);
	return NULL;
}

static void *
reader_run_oom(void *arg)
{
	struct reader *rd = arg;
	struct stats *counts;

	/* No request before: this enter is the thread's first. */
	atom_store(fail_alloc, 1);
	counts = epoch_enter(rd->ep);
	atom_store(fail_alloc, 0);
	if (counts == NULL) {
		rd->no_counts = 1;
		atom_store_release(rd->leaving, 1);
		return NULL;
	}
	stats_count(counts, ROUTE_USER, STATUS_404);
	stats_count(counts, ROUTE_USER, STATUS_404);
	atom_store_release(rd->inside, 1);
	sleep_ms(rd->hold_ms);
	rd->left_at = clock_ms();
	atom_store_release(rd->leaving, 1);
	epoch_leave(rd->ep, counts);
	/* Memory is back: the next request gets a record. */
	counts = epoch_enter(rd->ep);
	stats_count(counts, ROUTE_LIST, STATUS_200);
	epoch_leave(rd->ep, counts);
	return NULL;
}

static void
reader_start(struct reader *rd, struct epoch *ep, unsigned hold_ms, int go)
{
	memset(rd, 0, sizeof(*rd));
	rd->ep = ep;
	rd->hold_ms = hold_ms;
	rd->go = go;
	ck_assert_int_eq(pthread_create(&rd->t, NULL, reader_run, rd), 0);
	ck_assert(wait_flag(&rd->registered, PATIENCE_MS));
}

/* A request inside when epoch_synchronize is called holds it up until
 * the request leaves. */
START_TEST(test_sync_waits)
{
	struct epoch *ep = epoch_new();
	struct reader rd;
	uint64_t t0, t1;
	int left;

	ck_assert_ptr_nonnull(ep);
	reader_start(&rd, ep, HOLD_MS, 1);
	ck_assert(wait_flag(&rd.inside, PATIENCE_MS));
	t0 = clock_ms();
	epoch_synchronize(ep);
	t1 = clock_ms();
	left = atom_load_acquire(rd.leaving);
	pthread_join(rd.t, NULL);
	ck_assert_msg(left, "epoch_synchronize returned after %llu ms, "
	              "with a request still inside",
	              (unsigned long long)(t1 - t0));
	ck_assert_uint_ge(t1, rd.left_at);
	epoch_free(ep);
}
END_TEST

/* The same for a request of the out-of-memory fallback (no record: it
 * holds the lock), whose counts go to the total. */
START_TEST(test_sync_waits_oom)
{
	struct epoch *ep = epoch_new();
	struct reader rd;
	struct stats got;
	int left;

	ck_assert_ptr_nonnull(ep);
	memset(&rd, 0, sizeof(rd));
	rd.ep = ep;
	rd.hold_ms = HOLD_MS;
	ck_assert_int_eq(pthread_create(&rd.t, NULL, reader_run_oom, &rd), 0);
	ck_assert(wait_flag(&rd.inside, PATIENCE_MS));
	epoch_synchronize(ep);
	left = atom_load_acquire(rd.leaving);
	pthread_join(rd.t, NULL);
	ck_assert(!rd.no_counts);
	ck_assert_msg(left, "epoch_synchronize returned with a request of "
	              "the fallback still inside");
	epoch_sum(ep, &got);
	ck_assert_uint_eq(got.n[ROUTE_USER][STATUS_404], 2);
	ck_assert_uint_eq(got.n[ROUTE_LIST][STATUS_200], 1);
	epoch_free(ep);
}
END_TEST

/* The writer of the next test. */
struct writer {
	pthread_t t;
	struct epoch *ep;
	int started;
	int done;
};

static void *
writer_run(void *arg)
{
	struct writer *w = arg;

	atom_store_release(w->started, 1);
	epoch_synchronize(w->ep);
	atom_store_release(w->done, 1);
	return NULL;
}

/* A request that enters after epoch_synchronize started is not waited
 * for.  B makes its first request (its record is made) before A, so that
 * a synchronize that waited for each record in turn, reading its number
 * only when it gets to it, would find B inside once A has left. */
START_TEST(test_sync_ignores_later)
{
	struct epoch *ep = epoch_new();
	struct reader a, b;
	struct writer w;
	int done, b_left;

	ck_assert_ptr_nonnull(ep);
	reader_start(&b, ep, 0, 0);
	reader_start(&a, ep, 0, 1);
	ck_assert(wait_flag(&a.inside, PATIENCE_MS));
	memset(&w, 0, sizeof(w));
	w.ep = ep;
	ck_assert_int_eq(pthread_create(&w.t, NULL, writer_run, &w), 0);
	ck_assert(wait_flag(&w.started, PATIENCE_MS));
	sleep_ms(50); /* the writer now waits for A */
	ck_assert_msg(!atom_load_acquire(w.done),
	              "epoch_synchronize did not wait for A");
	atom_store_release(b.go, 1);
	ck_assert(wait_flag(&b.inside, PATIENCE_MS));
	atom_store_release(a.release, 1);
	done = wait_flag(&w.done, PATIENCE_MS);
	b_left = atom_load_acquire(b.leaving);
	atom_store_release(b.release, 1);
	pthread_join(a.t, NULL);
	pthread_join(b.t, NULL);
	pthread_join(w.t, NULL);
	ck_assert_msg(done, "epoch_synchronize still waited %d ms after A "
	              "left, for B, which entered after it started",
	              PATIENCE_MS);
	ck_assert(!b_left);
	epoch_free(ep);
}
END_TEST

/* A busy thread: requests back to back until STOP. */
struct busy {
	pthread_t t;
	struct epoch *ep;
	int stop;
	unsigned long requests;
};

static void *
busy_run(void *arg)
{
	struct busy *b = arg;

	while (!atom_load_acquire(b->stop)) {
		struct stats *counts = epoch_enter(b->ep);

		stats_count(counts, ROUTE_LIST, STATUS_200);
		epoch_leave(b->ep, counts);
		b->requests++;
	}
	return NULL;
}

/* Threads outside a request (idle ones, and the caller's) do not hold
 * epoch_synchronize up; threads busy with short requests hold it up for
 * no more than a request each time. */
START_TEST(test_sync_outside)
{
	struct epoch *ep = epoch_new();
	struct reader idle[4];
	struct busy busy[2];
	struct stats *counts, got;
	uint64_t t0, took;
	unsigned long requests = 0;
	int i;

	ck_assert_ptr_nonnull(ep);
	counts = epoch_enter(ep);
	epoch_leave(ep, counts);
	for (i = 0; i < 4; i++)
		reader_start(&idle[i], ep, 1, 0); /* registered, then parked */
	t0 = clock_ms();
	epoch_synchronize(ep);
	took = clock_ms() - t0;
	ck_assert_msg(took < 500, "epoch_synchronize took %llu ms with no "
	              "request inside", (unsigned long long)took);

	memset(busy, 0, sizeof(busy));
	for (i = 0; i < 2; i++) {
		busy[i].ep = ep;
		ck_assert_int_eq(pthread_create(&busy[i].t, NULL, busy_run,
		                                &busy[i]), 0);
	}
	t0 = clock_ms();
	for (i = 0; i < 200; i++)
		epoch_synchronize(ep);
	took = clock_ms() - t0;
	for (i = 0; i < 2; i++) {
		atom_store_release(busy[i].stop, 1);
		pthread_join(busy[i].t, NULL);
		requests += busy[i].requests;
	}
	ck_assert_msg(took < PATIENCE_MS, "200 synchronizes beside busy "
	              "threads took %llu ms", (unsigned long long)took);
	for (i = 0; i < 4; i++) {
		atom_store_release(idle[i].go, 1);
		pthread_join(idle[i].t, NULL);
	}
	epoch_sum(ep, &got);
	ck_assert_uint_eq(got.n[ROUTE_LIST][STATUS_200], requests);
	ck_assert_uint_eq(got.n[ROUTE_USER][STATUS_404], 4);
	epoch_free(ep);
}
END_TEST

/* stats_add adds every counter, and stats_count one. */
START_TEST(test_stats_add)
{
	struct stats a, b;
	int r, s;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < STATUS_COUNT; s++)
			b.n[r][s] = (unsigned long)(r * 100 + s);
	b.hist[ROUTE_USER][CLASS_4XX][3] = 7;
	b.sum_us[ROUTE_LIST][CLASS_5XX] = 9;
	stats_add(&a, &b);
	stats_add(&a, &b);
	stats_count(&a, ROUTE_OTHER, STATUS_504);
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < STATUS_COUNT; s++)
			ck_assert_uint_eq(a.n[r][s],
			                  2u * (unsigned long)(r * 100 + s) +
			                  (r == ROUTE_OTHER && s == STATUS_504));
}
END_TEST

/* stats_observe: a duration goes to the first bucket whose bound it does
 * not exceed (Prometheus's "le"), past the last to the overflow one, by
 * route and the status's class; the sum is in microseconds. */
START_TEST(test_stats_observe)
{
	struct stats st;

	memset(&st, 0, sizeof(st));
	ck_assert_uint_eq(stats_bucket_us[0], 25);
	ck_assert_uint_eq(stats_bucket_us[STATS_BUCKETS - 1], 10000000);
	stats_observe(&st, ROUTE_LIST, 200, 0);
	stats_observe(&st, ROUTE_LIST, 204, 25);
	stats_observe(&st, ROUTE_LIST, 200, 26);
	stats_observe(&st, ROUTE_LIST, 200, 10000000);
	stats_observe(&st, ROUTE_LIST, 200, 10000001);
	stats_observe(&st, ROUTE_USER, 404, 100);
	stats_observe(&st, ROUTE_LIST, 504, 2000000);
	stats_observe(&st, ROUTE_LIST, 302, 1);
	stats_observe(&st, ROUTE_LIST, 101, 1); /* no class: not counted */
	ck_assert_uint_eq(st.hist[ROUTE_LIST][CLASS_2XX][0], 2);
	ck_assert_uint_eq(st.hist[ROUTE_LIST][CLASS_2XX][1], 1);
	ck_assert_uint_eq(st.hist[ROUTE_LIST][CLASS_2XX][STATS_BUCKETS - 1], 1);
	ck_assert_uint_eq(st.hist[ROUTE_LIST][CLASS_2XX][STATS_BUCKETS], 1);
	ck_assert_uint_eq(st.sum_us[ROUTE_LIST][CLASS_2XX],
	                  25 + 26 + 10000000 + 10000001);
	ck_assert_uint_eq(st.hist[ROUTE_USER][CLASS_4XX][2], 1);
	ck_assert_uint_eq(st.hist[ROUTE_LIST][CLASS_5XX][15], 1); /* 2.5 s */
	ck_assert_uint_eq(st.hist[ROUTE_LIST][CLASS_3XX][0], 1);
	ck_assert_uint_eq(st.sum_us[ROUTE_LIST][CLASS_3XX], 1);
}
END_TEST

/* Durations counted after a request (epoch_counts) land in the thread's
 * own record, the one epoch_enter gives, and epoch_sum adds them up. */
START_TEST(test_epoch_counts)
{
	struct epoch *ep = epoch_new();
	struct stats *in, *after, got;

	ck_assert_ptr_nonnull(ep);
	in = epoch_enter(ep);
	stats_count(in, ROUTE_LIST, STATUS_200);
	epoch_leave(ep, in);
	after = epoch_counts(ep);
	ck_assert_ptr_eq(after, in);
	stats_observe(after, ROUTE_LIST, 200, 30);
	epoch_counted(ep, after);
	epoch_sum(ep, &got);
	ck_assert_uint_eq(got.n[ROUTE_LIST][STATUS_200], 1);
	ck_assert_uint_eq(got.hist[ROUTE_LIST][CLASS_2XX][1], 1);
	ck_assert_uint_eq(got.sum_us[ROUTE_LIST][CLASS_2XX], 30);
	epoch_free(ep);
}
END_TEST

static Suite *
epoch_suite(void)
{
	Suite *s = suite_create("epoch");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_stats_add);
	tcase_add_test(tc, test_stats_observe);
	tcase_add_test(tc, test_epoch_counts);
	tcase_add_test(tc, test_sum_threads);
	tcase_add_test(tc, test_sync_waits);
	tcase_add_test(tc, test_sync_waits_oom);
	tcase_add_test(tc, test_sync_ignores_later);
	tcase_add_test(tc, test_sync_outside);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(epoch_suite());
}
