/*
 * bench-reconcile: what one reconcile pass costs, at 1k, 10k, 100k and 1M positions on both
 * sides (slots and snapshot positions), printed as milliseconds per cycle.
 *
 * The state measured is the steady one, which is what the syncer pays every cycle: every slot
 * ACTIVE with its hedge open in the snapshot and tagged with its lock, so a pass reads every
 * slot, looks at and resolves every tag (parsed once, remembered from pass to pass), looks
 * every identifier up, and changes nothing. Next to it: the first pass (every tag parsed,
 * buffers not yet grown), a pass with untagged positions (identifier lookups only), and the
 * parse of the same snapshot as text (hf_format + hf_parse: the other half of a cycle, owned
 * by the feed).
 *
 * Target (docs/reconcile.md): 100k slots against 100k positions in under 50 ms. Printed with
 * PASS/MISS, never asserted: the exit status is 0 unless the library or the parser fails.
 * `bench-reconcile --quick` stops at 100k (what `meson test --benchmark` runs).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hedgeshm.h"
#include "log.h"
#include "reconcile.h"
#include "snapshot.h"

#define REPS      7
#define TARGET_N  100000
#define TARGET_MS 50.0
#define NS_PER_MS 1000000.0
#define FIRST_ID  UINT64_C(500000000)

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static int fail(const char *what, int err)
{
        fprintf(stderr, "bench-reconcile: %s: %s (%s)\n", what, hshm_strerror(err),
                hshm_last_detail());
        return 1;
}

/* n slots, each ACTIVE with hedge FIRST_ID + i; its tag into positions[i].comment. */
static int fill(hshm_store *s, uint32_t n, struct hf_position *positions)
{
        for (uint32_t i = 0; i < n; i++) {
                struct hf_position *p = &positions[i];
                char symbol[HSHM_SYMBOL_MAX + 1];
                uint64_t token;
                int err;

                snprintf(symbol, sizeof(symbol), "P%07u.r", i);
                if ((err = hshm_lock(s, "bench", symbol, &token)) != 0 ||
                    (err = hshm_tag_format(s, token, p->comment, sizeof(p->comment))) != 0 ||
                    (err = hshm_activate(s, token, FIRST_ID + i, "XAUUSD.r")) != 0)
                        return fail("filling the segment", err);
                p->ticket = p->identifier = FIRST_ID + i;
                p->magic = 4242;
                snprintf(p->symbol, sizeof(p->symbol), "XAUUSD.r");
                p->type = 1;
                p->volume = 0.01;
                p->price_open = 2300.5;
                p->time_msc = 1;
        }
        return 0;
}

/* Median ms of REPS passes, after the first (returned in *first_ms). */
static int time_passes(hshm_store *s, struct hf_snapshot *snap, struct hr_config *cfg,
                       double *first_ms, double *median_ms, double *min_ms)
{
        double ms[REPS];

        for (int r = -1; r < REPS; r++) {
                struct hr_result res;
                int64_t t0 = now_ns(), t1;
                int err = hr_reconcile(s, snap, cfg, t0 + 10 * (int64_t)1000000000, &res);

                t1 = now_ns();
                if (err != 0)
                        return fail("hr_reconcile", err);
                if (res.resets_closed + res.adoptions + res.duplicates + res.failed != 0) {
                        fprintf(stderr, "bench-reconcile: a steady pass acted (%u %u %u %u)\n",
                                res.resets_closed, res.adoptions, res.duplicates, res.failed);
                        return 1;
                }
                if (r < 0)
                        *first_ms = (double)(t1 - t0) / NS_PER_MS;
                else
                        ms[r] = (double)(t1 - t0) / NS_PER_MS;
        }
        qsort(ms, REPS, sizeof(ms[0]), cmp_double);
        *median_ms = ms[REPS / 2];
        *min_ms = ms[0];
        return 0;
}

static int parse_ms(const struct hf_snapshot *snap, double *ms)
{
        struct hf_snapshot back;
        char *buf = NULL, why[160];
        size_t len = 0;
        int64_t t0;
        int err = hf_format(snap, &buf, &len);

        if (err != 0) {
                fprintf(stderr, "bench-reconcile: hf_format: %s\n", strerror(-err));
                return 1;
        }
        t0 = now_ns();
        err = hf_parse(buf, len, &back, why, sizeof(why));
        *ms = (double)(now_ns() - t0) / NS_PER_MS;
        free(buf);
        if (err != 0) {
                fprintf(stderr, "bench-reconcile: hf_parse: %s\n", why);
                return 1;
        }
        hf_free(&back);
        return 0;
}

static int run(uint32_t n)
{
        struct hshm_create_opts opts = {.capacity = n, .mode = 0600, .gid = (gid_t)-1};
        struct hr_config cfg = {.grace_ns = 1000 * 1000000LL, .state = hr_state_new()};
        struct hf_snapshot snap = {
            .format = HF_FORMAT, .seq = 1, .login = 1, .connected = 1, .margin_mode = 2};
        double first, median, min, plain_median, plain_min, plain_first, parse;
        struct hf_position *positions = calloc(n, sizeof(*positions));
        char name[64];
        hshm_store *s = NULL;
        int err, rc = 1;

        snprintf(name, sizeof(name), "/hshm-bench-reconcile-%ld", (long)getpid());
        if (positions == NULL || cfg.state == NULL) {
                fprintf(stderr, "bench-reconcile: out of memory\n");
                goto out;
        }
        if ((err = hshm_create(name, &opts)) != 0)
                return fail("create", err);
        if ((err = hshm_open(name, 0, &s)) != 0) {
                fail("open", err);
                goto out;
        }
        if (fill(s, n, positions) != 0)
                goto out;
        snap.time_ms = now_ns() / 1000000 + 10000;
        snap.n_positions = n;
        snap.positions = positions;
        if (time_passes(s, &snap, &cfg, &first, &median, &min) != 0 || parse_ms(&snap, &parse))
                goto out;
        for (uint32_t i = 0; i < n; i++)
                positions[i].comment[0] = '\0';
        if (time_passes(s, &snap, &cfg, &plain_first, &plain_median, &plain_min) != 0)
                goto out;
        printf("%9u %10.2f %10.2f %10.2f %12.2f %10.2f%s\n", n, first, median, min, plain_median,
               parse,
               n == TARGET_N ? (median < TARGET_MS ? "   PASS (< 50 ms)" : "   MISS (>= 50 ms)")
                             : "");
        fflush(stdout);
        rc = 0;
out:
        hshm_close(s);
        hshm_destroy(name);
        hr_state_free(cfg.state);
        free(positions);
        return rc;
}

int main(int argc, char **argv)
{
        static const uint32_t sizes[] = {1000, 10000, 100000, 1000000};
        int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
        int rc = 0;

        hr_log_setup(0); /* silent: a steady pass logs nothing anyway */
        printf("reconcile pass, ms per cycle (median of %d after one warm-up; slots = positions)\n",
               REPS);
        printf("%9s %10s %10s %10s %12s %10s\n", "n", "first", "median", "min", "untagged",
               "parse");
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                if (quick && sizes[i] > TARGET_N)
                        break;
                rc |= run(sizes[i]);
        }
        return rc;
}
