/* malloc_count.c -- LD_PRELOAD shim that counts heap allocations (tests).
 *
 * Built as tests/malloc-count.so and preloaded into the real server by
 * tests/check_alloc.  Every allocation function of the C library (malloc,
 * calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign,
 * valloc, pvalloc) and free is counted, then forwarded to the next
 * definition, glibc's, found with dlsym(RTLD_NEXT).  glibc routes its own
 * internal allocations (strdup, fopen, open_memstream, pthread_create, ...)
 * through these symbols too, so they are counted as well.
 *
 * The counters live in a shared page: the file named by
 * AVATAR_API_MALLOC_COUNT_FILE is created, sized and mapped MAP_SHARED when
 * the shim is loaded, so a test reads the counts from outside while the
 * server runs, with no signal and no help from the server.  Without the
 * variable the counts go to a private page nobody reads.  Counters are
 * bumped with relaxed atomic adds: only the totals matter.
 *
 * dlsym itself may allocate (glibc's dlerror state uses calloc), so while
 * the real functions are being looked up allocations come from a small
 * static arena; free ignores pointers into it.
 *
 * The page layout is shared with tests/check_alloc.c: keep the two in step
 * (MC_MAGIC and MC_COUNT catch a mismatch).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>
#include <sys/mman.h>

#include "malloc_count.h"


static struct mc_page local_page;
static struct mc_page *page = &local_page;

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static void (*real_free)(void *);

/* The bootstrap arena: a 16-byte header holds each block's size, so that
 * realloc can move a block out of it. */
#define ARENA_SIZE 8192
static _Alignas(16) unsigned char arena[ARENA_SIZE];
static size_t arena_used;
static int resolving;

static void
count(enum mc_counter c)
{
	__atomic_fetch_add(&__atomic_load_n(&page, __ATOMIC_ACQUIRE)->n[c], 1,
	                   __ATOMIC_RELAXED);
}

static int
in_arena(const void *p)
{
	return (const unsigned char *)p >= arena &&
	       (const unsigned char *)p < arena + ARENA_SIZE;
}

static void *
arena_alloc(size_t size)
{
	size_t need = 16 + ((size + 15) & ~(size_t)15);
	unsigned char *p;

	if (size > ARENA_SIZE || need > ARENA_SIZE - arena_used)
		return NULL;
	p = arena + arena_used;
	arena_used += need;
	memcpy(p, &size, sizeof(size));
	count(MC_BOOTSTRAP);
	return p + 16;
}

static size_t
arena_size(const void *p)
{
	size_t size;

	memcpy(&size, (const unsigned char *)p - 16, sizeof(size));
	return size;
}

/* Look up the real functions.  Runs before main (from the first
 * allocation of the process or from the constructor below), while the
 * process has one thread. */
static void
resolve(void)
{
	if (real_free != NULL || resolving)
		return;
	resolving = 1;
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_posix_memalign = (int (*)(void **, size_t, size_t))
		dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = (void *(*)(size_t, size_t))
		dlsym(RTLD_NEXT, "aligned_alloc");
	real_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
	real_valloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "valloc");
	real_pvalloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "pvalloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	resolving = 0;
	if (real_malloc == NULL || real_calloc == NULL || real_realloc == NULL ||
	    real_posix_memalign == NULL || real_aligned_alloc == NULL ||
	    real_memalign == NULL || real_valloc == NULL ||
	    real_pvalloc == NULL || real_free == NULL) {
		static const char msg[] = "malloc-count: dlsym failed\n";

		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(127);
	}
}

/* Move the counters to the file named by AVATAR_API_MALLOC_COUNT_FILE.
 * Only system calls here: no allocation. */
__attribute__((constructor)) static void
mc_init(void)
{
	const char *path;
	struct mc_page *shared;
	void *map;
	int fd;

	resolve();
	local_page.count = MC_COUNT;
	local_page.pid = (uint64_t)getpid();
	local_page.magic = MC_MAGIC;
	path = getenv("AVATAR_API_MALLOC_COUNT_FILE");
	if (path == NULL || *path == '\0')
		return;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (ftruncate(fd, (off_t)sizeof(struct mc_page)) != 0) {
		close(fd);
		return;
	}
	map = mmap(NULL, sizeof(struct mc_page), PROT_READ | PROT_WRITE,
	           MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	shared = map;
	/* Still one thread: nothing allocates between the copy and the
	 * switch. */
	memcpy(shared->n, local_page.n, sizeof(shared->n));
	shared->count = MC_COUNT;
	shared->pid = local_page.pid;
	__atomic_store_n(&shared->magic, MC_MAGIC, __ATOMIC_RELEASE);
	__atomic_store_n(&page, shared, __ATOMIC_RELEASE);
}

void *
malloc(size_t size)
{
	if (real_malloc == NULL) {
		resolve();
		if (real_malloc == NULL)
			return arena_alloc(size);
	}
	count(MC_MALLOC);
	return real_malloc(size);
}

void *
calloc(size_t nmemb, size_t size)
{
	if (real_calloc == NULL) {
		resolve();
		if (real_calloc == NULL) {
			size_t total;
			void *p;

			if (__builtin_mul_overflow(nmemb, size, &total))
				return NULL;
			p = arena_alloc(total);
			if (p != NULL)
				memset(p, 0, total); /* the arena is static */
			return p;
		}
	}
	count(MC_CALLOC);
	return real_calloc(nmemb, size);
}

void *
realloc(void *ptr, size_t size)
{
	if (real_realloc == NULL)
		resolve();
	if (ptr != NULL && in_arena(ptr)) {
		/* Out of the bootstrap arena into the real heap. */
		size_t old = arena_size(ptr);
		void *p = malloc(size);

		if (p != NULL)
			memcpy(p, ptr, old < size ? old : size);
		return p;
	}
	if (real_realloc == NULL)
		return ptr == NULL ? arena_alloc(size) : NULL;
	count(MC_REALLOC);
	return real_realloc(ptr, size);
}

/* glibc's reallocarray is an overflow check and realloc: done here, so
 * that one call counts once whatever glibc calls inside. */
void *
reallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (real_realloc == NULL || (ptr != NULL && in_arena(ptr)))
		return realloc(ptr, total);
	count(MC_REALLOCARRAY);
	return real_realloc(ptr, total);
}

/* An aligned block while dlsym runs: the arena is 16-byte aligned. */
static void *
arena_aligned(size_t alignment, size_t size)
{
	return alignment <= 16 ? arena_alloc(size) : NULL;
}

int
posix_memalign(void **memptr, size_t alignment, size_t size)
{
	resolve();
	if (real_posix_memalign == NULL) {
		*memptr = arena_aligned(alignment, size);
		return *memptr != NULL ? 0 : ENOMEM;
	}
	count(MC_POSIX_MEMALIGN);
	return real_posix_memalign(memptr, alignment, size);
}

void *
aligned_alloc(size_t alignment, size_t size)
{
	resolve();
	if (real_aligned_alloc == NULL)
		return arena_aligned(alignment, size);
	count(MC_ALIGNED_ALLOC);
	return real_aligned_alloc(alignment, size);
}

void *
memalign(size_t alignment, size_t size)
{
	resolve();
	if (real_memalign == NULL)
		return arena_aligned(alignment, size);
	count(MC_MEMALIGN);
	return real_memalign(alignment, size);
}

void *
valloc(size_t size)
{
	resolve();
	if (real_valloc == NULL)
		return NULL; /* page alignment: not from the arena */
	count(MC_VALLOC);
	return real_valloc(size);
}

void *
pvalloc(size_t size)
{
	resolve();
	if (real_pvalloc == NULL)
		return NULL;
	count(MC_PVALLOC);
	return real_pvalloc(size);
}

void
free(void *ptr)
{
	if (ptr == NULL) {
		count(MC_FREE_NULL);
		return;
	}
	if (in_arena(ptr))
		return; /* bootstrap block: never reused */
	if (real_free == NULL)
		resolve();
	count(MC_FREE);
	real_free(ptr);
}
