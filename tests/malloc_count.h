/* malloc_count.h -- the counter page shared by the malloc-count shim and
 * tests/check_alloc: the shim writes it, the test maps and reads it. */
#ifndef AVATAR_MALLOC_COUNT_H
#define AVATAR_MALLOC_COUNT_H

#include <stdint.h>

#define MC_MAGIC UINT64_C(0x31544e434f4c4c41) /* "ALLOCNT1" */

enum mc_counter {
	MC_MALLOC,
	MC_CALLOC,
	MC_REALLOC,
	MC_REALLOCARRAY,
	MC_POSIX_MEMALIGN,
	MC_ALIGNED_ALLOC,
	MC_MEMALIGN,
	MC_VALLOC,
	MC_PVALLOC,
	MC_FREE,       /* free of a non-null pointer */
	MC_FREE_NULL,  /* free(NULL): no heap operation, kept apart */
	MC_BOOTSTRAP,  /* served from the static arena during dlsym */
	MC_COUNT
};

struct mc_page {
	uint64_t magic;   /* MC_MAGIC, written last */
	uint64_t count;   /* MC_COUNT */
	uint64_t pid;     /* the process counting */
	uint64_t n[MC_COUNT];
};

#endif
