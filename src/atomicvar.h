/* atomicvar.h -- the atomic idioms this code uses, named by what they mean.
 *
 * GCC's __atomic builtins (gcc and clang), spelled once here so that the
 * memory order of every shared access reads as a word at the call site,
 * as redis does in src/atomicvar.h.  VAR is an lvalue (taken by address);
 * every helper is a single instruction on x86-64 except the _sync ones,
 * which add a full fence (or a locked instruction).
 *
 *   relaxed  no ordering: counters, and values read only for a report;
 *   acquire  a load that sees everything written before the release store
 *            of the value it reads (a published pointer or flag);
 *   release  a store that publishes what the thread wrote before it;
 *   sync     sequentially consistent: for the store-then-load handshakes
 *            (a reader announces itself, then reads the pointer a writer
 *            replaced; wire.c's recv/peer-closed race), where acquire and
 *            release are not enough.
 *
 * atom_bump is for a counter only its owner thread writes: a plain add
 * made visible to relaxed readers, without a locked instruction.
 */
#ifndef AVATAR_ATOMICVAR_H
#define AVATAR_ATOMICVAR_H

#define atom_load(var) __atomic_load_n(&(var), __ATOMIC_RELAXED)
#define atom_load_acquire(var) __atomic_load_n(&(var), __ATOMIC_ACQUIRE)
#define atom_load_sync(var) __atomic_load_n(&(var), __ATOMIC_SEQ_CST)

#define atom_store(var, v) __atomic_store_n(&(var), (v), __ATOMIC_RELAXED)
#define atom_store_release(var, v) \
	__atomic_store_n(&(var), (v), __ATOMIC_RELEASE)
#define atom_store_sync(var, v) __atomic_store_n(&(var), (v), __ATOMIC_SEQ_CST)

/* Read-modify-write; each returns the new value. */
#define atom_add(var, n) __atomic_add_fetch(&(var), (n), __ATOMIC_RELAXED)
#define atom_sub(var, n) __atomic_sub_fetch(&(var), (n), __ATOMIC_RELAXED)
#define atom_add_sync(var, n) __atomic_add_fetch(&(var), (n), __ATOMIC_SEQ_CST)

/* Store V and return the old value. */
#define atom_swap_sync(var, v) __atomic_exchange_n(&(var), (v), __ATOMIC_SEQ_CST)

/* A single-writer counter: VAR += N, seen whole by atom_load readers. */
#define atom_bump(var, n) atom_store(var, (var) + (n))

/* A full fence. */
#define atom_fence_sync() __atomic_thread_fence(__ATOMIC_SEQ_CST)

#endif
