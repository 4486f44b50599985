/*
 * Harness shared by the multiprocess tests: a private segment per test run, anonymous shared
 * mappings where forked children report what they saw, process-shared barriers, and a
 * fork/wait loop that kills the remaining children as soon as one fails, so a dead child
 * never leaves its siblings stuck at a barrier until the meson timeout.
 *
 * Children open the segment themselves after fork(): the public header forbids reusing the
 * parent's handle, and a handle of their own is what makes each child a distinct owner.
 */
#ifndef MP_H
#define MP_H

#include <pthread.h>
#include <stdint.h>

#include "hedgeshm.h"

/* Forked processes in every contention test: more than the machine's cores, on purpose. */
#define MP_CHILDREN 8

/* Print "[pid] file:line: message" on stderr and exit 1 (_exit in a child). */
#define MP_FAIL(...) mp_fail(__FILE__, __LINE__, __VA_ARGS__)

#define MP_CHECK(cond, ...)                                                                        \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        MP_FAIL(__VA_ARGS__);                                                      \
        } while (0)

/* A library call that must succeed; on failure names the call, the error and its detail. */
#define MP_OK(call)                                                                                \
        do {                                                                                       \
                int mp_rc_ = (call);                                                               \
                if (mp_rc_ != 0)                                                                   \
                        MP_FAIL("%s: %s (%d) %s", #call, hshm_strerror(mp_rc_), mp_rc_,            \
                                hshm_last_detail());                                               \
        } while (0)

__attribute__((noreturn, format(printf, 3, 4))) void mp_fail(const char *file, int line,
                                                             const char *fmt, ...);

/* Create a segment named after tag and this process, destroyed when the parent exits. */
const char *mp_create(const char *tag, uint32_t capacity);

/* Open the segment or fail the calling process. */
hshm_store *mp_open(const char *name, unsigned flags);

/* Zeroed MAP_SHARED|MAP_ANONYMOUS memory that children inherit across fork(). */
void *mp_shared(size_t size);

void mp_barrier_init(pthread_barrier_t *barrier, unsigned count);
void mp_barrier_wait(pthread_barrier_t *barrier);

/* Arrive at *line and spin until n processes have. A barrier wakes its waiters one by one,
 * and the process that wakes them is running already, so right after a barrier it wins
 * nearly every race on its own; leaving a spin loop together puts processes on different
 * cores at the same instruction within a few cache misses of each other. */
void mp_start_line(unsigned long *line, unsigned long n);

/* Fork n children running fn(index, arg); a child's exit status is fn's return value (any
 * MP_FAIL exits 1). Returns once all are reaped; fails the test if any child failed, was
 * killed, or the run took longer than the watchdog allows. */
void mp_run(int n, int (*fn)(int index, void *arg), void *arg);

/* Counters of all processes, or fail. */
struct hshm_stats mp_stats(hshm_store *store);

/* xorshift64*: cheap per-child randomness for picking keys. */
uint64_t mp_rand(uint64_t *state);

#endif
