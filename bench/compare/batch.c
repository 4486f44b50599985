/*
 * Batch means: the uncontended cycle and status timed as bench-core times them, many
 * operations between two clock reads, for the ratios of ops too short to time one by one.
 *
 * A raw CAS takes about 7 ns and a clock read about 18: a sampled op's latency is a
 * difference of two clock reads less the timer's median cost, good to a nanosecond or two,
 * which is noise on the raw row but not on a 10 us Redis round trip. So the single-process
 * workload adds this phase after its sampled run: chunks of as many operations as take about
 * CHUNK_NS, each chunk's ns per op kept, the median of the chunks reported. The chunk size
 * is found by growing it from 1, so a slow alternative does few operations and a fast one
 * many; the clock's cost is two reads per chunk, under 0.1 % of it.
 */
#include <errno.h>

#include "compare.h"

#define CHUNK_NS   50000
#define MAX_CHUNKS 512

/* Worker 0's positions of the disjoint workload: what the sampled run used. */
static const struct cmp_key *key(uint64_t i)
{
        return &cmp_keys[i % CMP_KEYS_PER];
}

static int cycles(const struct cmp_backend *b, void *ctx, uint64_t n, uint64_t *done)
{
        for (uint64_t i = 0; i < n; i++) {
                uint64_t token;
                int rc = b->claim(ctx, key(*done), &token);

                if (rc != CMP_WON)
                        return rc < 0 ? rc
                                      : cmp_fail(-EBUSY, "batch: %s taken", key(*done)->joined);
                if ((rc = b->activate(ctx, key(*done), token, *done + 1)) != 0 ||
                    (rc = b->release(ctx, key(*done), token)) != 0)
                        return rc;
                ++*done;
        }
        return 0;
}

static int statuses(const struct cmp_backend *b, void *ctx, uint64_t n, uint64_t *done)
{
        uint64_t ticket, acc = 0;

        for (uint64_t i = 0; i < n; i++) {
                int rc = b->status(ctx, key(*done), &ticket);

                if (rc != 0)
                        return rc;
                acc += ticket;
                ++*done;
        }
        __asm__ volatile("" : : "r"(acc));
        return 0;
}

/* Median ns per op of chunks of fn, within budget_ns (at least one chunk). */
static int chunked(const struct cmp_backend *b, void *ctx, uint64_t budget_ns,
                   int (*fn)(const struct cmp_backend *, void *, uint64_t, uint64_t *), double *ns)
{
        double v[MAX_CHUNKS];
        uint64_t per = 1, done = 0, end = cmp_now_ns() + budget_ns;
        int n = 0, rc;

        while (n < MAX_CHUNKS && (n == 0 || cmp_now_ns() < end)) {
                uint64_t t0 = cmp_now_ns(), dt;

                if ((rc = fn(b, ctx, per, &done)) != 0)
                        return rc;
                dt = cmp_now_ns() - t0;
                if (dt < CHUNK_NS && per < (UINT64_C(1) << 24)) {
                        per *= 2; /* still finding the size: this chunk is not kept */
                        continue;
                }
                v[n++] = (double)dt / (double)per;
        }
        *ns = cmp_median(v, n);
        return 0;
}

int cmp_batch_means(const struct cmp_backend *b, void *ctx, double budget_s, double *cycle_ns,
                    double *status_ns)
{
        uint64_t budget = (uint64_t)(budget_s * 1e9 / 2), tokens[CMP_KEYS_PER];
        int rc;

        if ((rc = chunked(b, ctx, budget, cycles, cycle_ns)) != 0)
                return rc;
        /* status of ACTIVE positions, as in the sampled run */
        for (int i = 0; i < CMP_KEYS_PER; i++)
                if ((rc = b->claim(ctx, key((uint64_t)i), &tokens[i])) != CMP_WON ||
                    (rc = b->activate(ctx, key((uint64_t)i), tokens[i], (uint64_t)i + 1)) != 0)
                        return rc < 0 ? rc : cmp_fail(-EBUSY, "batch: position taken");
        rc = chunked(b, ctx, budget, statuses, status_ns);
        for (int i = 0; i < CMP_KEYS_PER; i++) {
                int err = b->release(ctx, key((uint64_t)i), tokens[i]);

                if (rc == 0)
                        rc = err;
        }
        return rc;
}
