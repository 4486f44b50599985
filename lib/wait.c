/*
 * Waiting for another process to finish a write it started: a RESERVED index bucket, a slot
 * word with its WRITING bit set. Such a write is a handful of stores, so spinning usually
 * ends it at once; but the writer may be preempted (more processes than cores) or dead. So
 * the wait spins, then yields, then sleeps, and gives up after WAIT_LIMIT_NS with -EAGAIN:
 * a dead writer costs its readers one bounded wait each, never a hang.
 */
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "internal.h"

#define WAIT_LIMIT_NS (1000 * 1000 * 1000)
#define SPINS         128
#define YIELDS        64

static int64_t monotonic_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int hsi_wait_change(uint64_t *addr, uint64_t seen, uint64_t *now, int64_t limit_ns)
{
        const struct timespec nap = {0, 50 * 1000};
        int64_t deadline = 0;
        uint64_t v;

        for (unsigned round = 0;; round++) {
                v = hsi_load(addr);
                if (v != seen) {
                        *now = v;
                        return 0;
                }
                if (round < SPINS) {
                        caa_cpu_relax();
                } else if (round < SPINS + YIELDS) {
                        sched_yield();
                } else {
                        if (deadline == 0)
                                deadline =
                                    monotonic_ns() + (limit_ns > 0 ? limit_ns : WAIT_LIMIT_NS);
                        else if (monotonic_ns() > deadline)
                                return -EAGAIN;
                        nanosleep(&nap, NULL);
                }
        }
}
