/*
 * bench-compare: hedgeshm side by side with what users would pick instead (docs/comparison.md).
 *
 * For every alternative (compare.h's backends, then the seed's Python design run by
 * seed_bench.py) the same workloads run in this order, each for a fixed time in freshly
 * forked worker processes that start together:
 *
 *   disjoint   N = 1, 2, 4, 8 processes, each cycling over positions of its own (N = 1 is
 *              the uncontended case)
 *   hot        N = 2, 4, 8 processes all cycling over the same CMP_HOT_KEYS positions; a
 *              claim that finds the position taken is a lost attempt (N = 1 would be the
 *              uncontended case again)
 *   readers    N/2 writers cycling over the hot positions while N/2 readers read their status
 *
 * A cycle is: claim, activate with a ticket, status (must show that ticket), release. Worker i
 * runs pinned to online CPU i mod ncpus, so with more workers than CPUs they time-share.
 * Then hedgeshm's growth (scaling.c) and the syncer's reconcile pass (bench-reconcile, run
 * and parsed), the tables, the results files, the plots. Exit status: 0 unless something
 * failed to run; no timing is ever a failure.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#include "compare.h"
#include "report.h"

#ifndef CMP_SRCDIR
#define CMP_SRCDIR "bench/compare"
#endif
#ifndef CMP_RESULTS
#define CMP_RESULTS "bench/results"
#endif
#ifndef CMP_RECONCILE
#define CMP_RECONCILE "bench-reconcile"
#endif
#ifndef CMP_PYTHON
#define CMP_PYTHON "python3"
#endif

static const struct cmp_workload workloads[] = {
    {W_DISJOINT, 1, 1, 0}, {W_DISJOINT, 2, 2, 0}, {W_DISJOINT, 4, 4, 0}, {W_DISJOINT, 8, 8, 0},
    {W_HOT, 2, 2, 0},      {W_HOT, 4, 4, 0},      {W_HOT, 8, 8, 0},      {W_READERS, 2, 1, 1},
    {W_READERS, 4, 2, 2},  {W_READERS, 8, 4, 4},
};
#define NWORKLOADS (int)(sizeof(workloads) / sizeof(workloads[0]))

/* The alternatives, in table order; one not built says why in place of its numbers. */
static const struct {
        const struct cmp_backend *b;
        const char *name, *missing;
} alternatives[] = {
    {&cmp_raw, NULL, NULL},    {&cmp_hshm, NULL, NULL},         {&cmp_mutex, NULL, NULL},
    {&cmp_flock, NULL, NULL},  {&cmp_fcntl, NULL, NULL},
#if CMP_HAVE_REDIS
    {&cmp_redis, NULL, NULL},  {&cmp_redis_pinned, NULL, NULL},
#else
    {NULL, "redis", "skipped: built without hiredis (libhiredis-dev)"},
    {NULL, "redis-pinned", "skipped: built without hiredis (libhiredis-dev)"},
#endif
#if CMP_HAVE_SQLITE
    {&cmp_sqlite, NULL, NULL},
#else
    {NULL, "sqlite-wal", "skipped: built without SQLite (libsqlite3-dev)"},
#endif
};

/* A worker's counters, each on its own line; filled by the worker, read after it exits. */
struct wout {
        uint64_t attempts, wins, reads, elapsed_ns;
        double batch_cycle_ns, batch_status_ns;
        int error;
        char detail[200];
} __attribute__((aligned(CMP_LINE)));

struct shared {
        uint64_t go __attribute__((aligned(CMP_LINE)));
        uint64_t stop __attribute__((aligned(CMP_LINE)));
        uint64_t ready __attribute__((aligned(CMP_LINE)));
        double batch_s; /* > 0: after the sampled run, batch means for this long (batch.c) */
        struct wout out[CMP_MAX_PROCS];
        struct cmp_samples samples[CMP_MAX_PROCS];
};

static struct shared *sh;
static struct cmp_samples *bufs[CMP_MAX_PROCS];
static int cpus[64], ncpus;

static struct {
        int quick;
        double duration_s, warmup_s;
        const char *out, *reconcile, *python, *seed, *plot;
} opt;

const char *cmp_kind_name(enum cmp_kind k)
{
        return k == W_DISJOINT ? "disjoint" : k == W_HOT ? "hot" : "readers";
}

static uint64_t xorshift(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static const struct cmp_key *pick(const struct cmp_workload *w, int idx, uint64_t i, uint64_t *rng)
{
        if (w->kind == W_DISJOINT)
                return &cmp_keys[(uint32_t)idx * CMP_KEYS_PER + (uint32_t)(i % CMP_KEYS_PER)];
        return &cmp_keys[CMP_HOT_FIRST + xorshift(rng) % CMP_HOT_KEYS];
}

static int writer(const struct cmp_backend *b, void *ctx, const struct cmp_workload *w, int idx,
                  struct wout *o)
{
        struct cmp_samples *buf = bufs[idx];
        uint64_t rng = 0x9E3779B97F4A7C15u * (uint64_t)(idx + 1), t[5];

        for (uint64_t i = 0; !uatomic_read(&sh->stop); i++) {
                const struct cmp_key *k = pick(w, idx, i, &rng);
                uint64_t token, ticket = (uint64_t)(idx + 1) << 48 | (o->wins + 1), seen;
                int due = cmp_sample_due(buf), rc;

                if (due)
                        t[0] = cmp_now_ns();
                rc = b->claim(ctx, k, &token);
                o->attempts++;
                if (rc == CMP_BUSY)
                        continue; /* a due sample waits for the next won claim */
                if (rc < 0)
                        return rc;
                if (due)
                        t[1] = cmp_now_ns();
                if ((rc = b->activate(ctx, k, token, ticket)) != 0)
                        return rc;
                if (due)
                        t[2] = cmp_now_ns();
                if ((rc = b->status(ctx, k, &seen)) != 0)
                        return rc;
                if (due)
                        t[3] = cmp_now_ns();
                if (seen != ticket)
                        return cmp_fail(-EPROTO, "status of %s showed ticket %llu, not %llu",
                                        k->joined, (unsigned long long)seen,
                                        (unsigned long long)ticket);
                if ((rc = b->release(ctx, k, token)) != 0)
                        return rc;
                o->wins++;
                if (due) {
                        t[4] = cmp_now_ns();
                        cmp_keep_sample(buf, t);
                }
        }
        return 0;
}

/* A reader's sample holds only the status time; the other fields come out 0. */
static int reader(const struct cmp_backend *b, void *ctx, int idx, struct wout *o)
{
        struct cmp_samples *buf = bufs[idx];
        uint64_t rng = 0xD1B54A32D192ED03u * (uint64_t)(idx + 1), t[5], seen;

        while (!uatomic_read(&sh->stop)) {
                const struct cmp_key *k = &cmp_keys[CMP_HOT_FIRST + xorshift(&rng) % CMP_HOT_KEYS];
                int due = cmp_sample_due(buf), rc;

                if (due)
                        t[0] = t[1] = t[2] = cmp_now_ns();
                if ((rc = b->status(ctx, k, &seen)) != 0)
                        return rc;
                o->reads++;
                if (due) {
                        t[3] = t[4] = cmp_now_ns();
                        t[4] += cmp_timer_ns; /* release field: 0 once the timer is taken off */
                        cmp_keep_sample(buf, t);
                }
        }
        return 0;
}

static void worker(const struct cmp_backend *b, const struct cmp_workload *w, int idx)
{
        struct wout *o = &sh->out[idx];
        void *ctx;
        uint64_t t0;
        int rc;

        if (ncpus > 0)
                cmp_pin(cpus[idx % ncpus]);
        cmp_detail[0] = '\0';
        ctx = b->attach(idx);
        uatomic_inc(&sh->ready);
        if (ctx == NULL) {
                o->error = -ENODEV;
                snprintf(o->detail, sizeof(o->detail), "attach: %s", cmp_detail);
                _exit(1);
        }
        while (!uatomic_read(&sh->go))
                usleep(50);
        t0 = cmp_now_ns();
        rc = idx < w->writers ? writer(b, ctx, w, idx, o) : reader(b, ctx, idx, o);
        o->elapsed_ns = cmp_now_ns() - t0;
        if (rc == 0 && sh->batch_s > 0)
                rc = cmp_batch_means(b, ctx, sh->batch_s, &o->batch_cycle_ns, &o->batch_status_ns);
        if (rc != 0) {
                o->error = rc;
                snprintf(o->detail, sizeof(o->detail), "%s", cmp_detail);
        }
        b->detach(ctx);
        _exit(rc != 0);
}

/* Fork the workers, let them run together for duration_s, collect the row. 0 or -1. */
static int run_workload(const struct cmp_backend *b, const struct cmp_workload *w,
                        double duration_s, struct cmp_row *row)
{
        pid_t pids[CMP_MAX_PROCS];
        int bad = 0;

        memset(sh->out, 0, sizeof(sh->out));
        for (int i = 0; i < w->procs; i++) {
                bufs[i]->n = 0;
                bufs[i]->countdown = 0;
                bufs[i]->stride = CMP_SAMPLE_EVERY;
        }
        sh->batch_s = w->kind == W_DISJOINT && w->procs == 1 ? duration_s / 2 : 0;
        uatomic_set(&sh->go, 0);
        uatomic_set(&sh->stop, 0);
        uatomic_set(&sh->ready, 0);
        fflush(NULL);
        for (int i = 0; i < w->procs; i++) {
                if ((pids[i] = fork()) == 0)
                        worker(b, w, i);
                if (pids[i] < 0) {
                        perror("bench-compare: fork");
                        exit(1);
                }
        }
        /* A worker that died before it said ready would leave us waiting: 10 s at most. */
        for (int waited = 0; uatomic_read(&sh->ready) < (uint64_t)w->procs; waited++) {
                if (waited == 100000) {
                        fprintf(stderr, "bench-compare: %s: workers not ready after 10 s\n",
                                b->name);
                        bad = 1;
                        break;
                }
                usleep(100);
        }
        uatomic_set(&sh->go, 1);
        usleep((useconds_t)(duration_s * 1e6));
        uatomic_set(&sh->stop, 1);
        memset(row, 0, sizeof(*row));
        row->alt = b->name;
        row->w = *w;
        row->min_wins = -1;
        for (int i = 0; i < w->procs; i++) {
                struct wout *o = &sh->out[i];
                double secs;
                int status;

                waitpid(pids[i], &status, 0);
                if (o->error != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        fprintf(stderr, "bench-compare: %s, %s %d procs, worker %d: %s (%d)\n",
                                b->name, cmp_kind_name(w->kind), w->procs, i,
                                o->detail[0] ? o->detail : "died", o->error);
                        bad = 1;
                        continue;
                }
                secs = (double)o->elapsed_ns / 1e9;
                row->wins += (double)o->wins;
                row->attempts += (double)o->attempts;
                row->reads += (double)o->reads;
                if (secs > 0) {
                        row->cycles_per_s += (double)o->wins / secs;
                        row->reads_per_s += (double)o->reads / secs;
                }
                if (i < w->writers && (row->min_wins < 0 || (double)o->wins < row->min_wins))
                        row->min_wins = (double)o->wins;
                row->samples += bufs[i]->n;
                row->batch_cycle_ns = o->batch_cycle_ns;
                row->batch_status_ns = o->batch_status_ns;
        }
        row->failed |= bad;
        row->cycle = cmp_percentiles(bufs, 0, w->writers, -1);
        row->claim = cmp_percentiles(bufs, 0, w->writers, offsetof(struct cmp_sample, claim));
        row->activate = cmp_percentiles(bufs, 0, w->writers, offsetof(struct cmp_sample, activate));
        row->status = cmp_percentiles(bufs, 0, w->writers, offsetof(struct cmp_sample, status));
        row->release = cmp_percentiles(bufs, 0, w->writers, offsetof(struct cmp_sample, release));
        row->rstatus =
            cmp_percentiles(bufs, w->writers, w->procs, offsetof(struct cmp_sample, status));
        return bad ? -1 : 0;
}

/* Every workload on one alternative. Returns 0, or -1 if any failed to run. */
static int run_backend(struct cmp_run *r, const struct cmp_backend *b)
{
        const char *skip = NULL;
        struct cmp_row scratch;
        int rc = 0, err;

        printf("  %-13s", b->name);
        fflush(stdout);
        cmp_detail[0] = '\0';
        err = b->setup(&skip);
        if (err != 0 || skip != NULL) {
                for (int i = 0; i < NWORKLOADS; i++) {
                        struct cmp_row *row = cmp_new_row(r, b->name, &workloads[i]);

                        row->failed = err != 0;
                        snprintf(row->skip, sizeof(row->skip), "%s",
                                 err ? "failed: setup (see stderr)" : skip);
                }
                if (err != 0)
                        fprintf(stderr, "\nbench-compare: %s setup: %s (%d)\n", b->name, cmp_detail,
                                err);
                printf(" %s\n", err ? "failed to start" : skip);
                b->teardown(); /* undoes whatever part of the setup was done */
                return err ? -1 : 0;
        }
        r->legend[r->nlegend++] = b;
        /* Warm-up, not recorded: first use of keys, files, rows and the CPU's clock. */
        rc |= run_workload(b, &workloads[0], opt.warmup_s, &scratch);
        for (int i = 0; i < NWORKLOADS; i++) {
                struct cmp_row *row = &r->rows[r->nrows++];

                rc |= run_workload(b, &workloads[i], opt.duration_s, row);
                printf(".");
                fflush(stdout);
        }
        b->teardown();
        printf("\n");
        return rc;
}

static void usage(FILE *f, const char *argv0)
{
        fprintf(f,
                "usage: %s [--quick] [--out DIR] [--reconcile EXE] [--python EXE]\n"
                "          [--seed SCRIPT] [--plot SCRIPT]\n"
                "  --quick       %.2f s per workload instead of 1 s, growth up to 64k slots,\n"
                "                reconcile up to 100k positions (everything else the same)\n"
                "  --out DIR     results.json, results.csv, *.dat and *.svg (default %s)\n",
                argv0, 0.04, CMP_RESULTS);
}

static int parse_args(int argc, char **argv)
{
        static const struct option lo[] = {
            {"quick", no_argument, NULL, 'q'},
            {"out", required_argument, NULL, 'o'},
            {"reconcile", required_argument, NULL, 'r'},
            {"python", required_argument, NULL, 'p'},
            {"seed", required_argument, NULL, 's'},
            {"plot", required_argument, NULL, 'g'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c;

        opt.out = CMP_RESULTS;
        opt.reconcile = CMP_RECONCILE;
        opt.python = CMP_PYTHON;
        opt.seed = CMP_SRCDIR "/seed_bench.py";
        opt.plot = CMP_SRCDIR "/plot.gp";
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                switch (c) {
                case 'q':
                        opt.quick = 1;
                        break;
                case 'o':
                        opt.out = optarg;
                        break;
                case 'r':
                        opt.reconcile = optarg;
                        break;
                case 'p':
                        opt.python = optarg;
                        break;
                case 's':
                        opt.seed = optarg;
                        break;
                case 'g':
                        opt.plot = optarg;
                        break;
                case 'h':
                        usage(stdout, argv[0]);
                        exit(0);
                default:
                        usage(stderr, argv[0]);
                        return -1;
                }
        }
        if (optind != argc) {
                usage(stderr, argv[0]);
                return -1;
        }
        opt.duration_s = opt.quick ? 0.04 : 1.0;
        opt.warmup_s = opt.quick ? 0.01 : 0.2;
        return 0;
}

static int make_dirs(const char *dir)
{
        char path[4096];

        snprintf(path, sizeof(path), "%s", dir);
        for (char *p = path + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                mkdir(path, 0755);
                *p = '/';
        }
        return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

int main(int argc, char **argv)
{
        static struct cmp_run run;
        struct cmp_cpu_mark start, end;
        int rc = 0;

        if (parse_args(argc, argv) != 0)
                return 2;
        if (make_dirs(opt.out) != 0) {
                fprintf(stderr, "bench-compare: cannot create %s: %s\n", opt.out, strerror(errno));
                return 1;
        }
        sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED) {
                perror("bench-compare: mmap");
                return 1;
        }
        for (int i = 0; i < CMP_MAX_PROCS; i++)
                bufs[i] = &sh->samples[i];
        ncpus = cmp_online_cpus(cpus, 64);
        cmp_make_keys();
        cmp_calibrate_timer();
        cmp_describe_machine(&run, ncpus);
        cmp_cpu_mark(&start);
        run.quick = opt.quick;
        run.duration_s = opt.duration_s;
        run.warmup_s = opt.warmup_s;

        printf("bench-compare (%s): %.2f s per workload, %d online CPU%s\n",
               opt.quick ? "quick" : "full", opt.duration_s, ncpus, ncpus == 1 ? "" : "s");
        printf("alternatives (a dot per workload):\n");
        for (size_t i = 0; i < sizeof(alternatives) / sizeof(alternatives[0]); i++) {
                if (alternatives[i].b != NULL) {
                        rc |= run_backend(&run, alternatives[i].b);
                        continue;
                }
                printf("  %-13s %s\n", alternatives[i].name, alternatives[i].missing);
                for (int w = 0; w < NWORKLOADS; w++)
                        snprintf(cmp_new_row(&run, alternatives[i].name, &workloads[w])->skip,
                                 sizeof(run.rows[0].skip), "%s", alternatives[i].missing);
        }
        rc |= cmp_run_seed(&run, opt.python, opt.seed, workloads, NWORKLOADS);
        printf("hedgeshm growth (load factor, capacity)\n");
        if (ncpus > 0)
                cmp_pin(cpus[0]);
        rc |= cmp_growth(&run);
        cmp_unpin(cpus, ncpus);
        printf("syncer reconcile (%s%s)\n", opt.reconcile, opt.quick ? " --quick" : "");
        rc |= cmp_reconcile_run(&run, opt.reconcile);
        cmp_cpu_mark(&end);
        run.span_cpu_s = (end.wall_s - start.wall_s) * (double)sysconf(_SC_NPROCESSORS_ONLN);
        run.others_cpu_s = (end.busy_s - start.busy_s) - (end.own_s - start.own_s);
        run.steal_cpu_s = end.steal_s - start.steal_s;

        printf("\n");
        cmp_print_tables(&run, stdout);
        cmp_print_targets(&run, stdout);
        rc |= cmp_write_results(&run, opt.out);
        rc |= cmp_plot(opt.plot, opt.out);
        printf("\nresults in %s\n", opt.out);
        return rc ? 1 : 0;
}
