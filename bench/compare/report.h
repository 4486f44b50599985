/*
 * What one run of bench-compare found, as the driver collects it and report.c prints it: the
 * side-by-side rows (one per alternative and workload), hedgeshm's growth figures and the
 * syncer's reconcile figures, plus where the run happened.
 */
#ifndef BENCH_COMPARE_REPORT_H
#define BENCH_COMPARE_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "compare.h"

enum cmp_kind { W_DISJOINT, W_HOT, W_READERS };

struct cmp_workload {
        enum cmp_kind kind;
        int procs, writers, readers;
};

/* One alternative under one workload. Latencies in ns; rates per second, all processes. */
struct cmp_row {
        const char *alt;
        struct cmp_workload w;
        char skip[96];   /* set: the row was not measured, and this says why */
        int failed;      /* the alternative failed to run (the message went to stderr) */
        double wins;     /* completed cycles */
        double attempts; /* claims tried (wins + lost) */
        double reads;    /* status reads by readers */
        double cycles_per_s, reads_per_s, min_wins, samples;
        double batch_cycle_ns, batch_status_ns; /* 1 process only: batch means (batch.c) */
        struct cmp_pct cycle, claim, activate, status, release, rstatus;
};

/* What scaling.c times at each size, ns per op (docs/comparison.md says what each is). */
enum cmp_measure { G_STATUS, G_STATUS_1K, G_MISS, G_CLAIM, G_RELEASE, G_COUNT };

extern const char *const cmp_measure_name[G_COUNT];

/* hedgeshm as the table fills (load factor) and as it grows (capacity). */
struct cmp_growth {
        uint32_t capacity, used;
        double load; /* used / capacity */
        double ns[G_COUNT];
        double create_ms, attach_us, bytes_per_slot;
};

/* One line of bench-reconcile. */
struct cmp_reconcile {
        uint32_t n;
        double first, median, min, untagged, parse;
};

#define CMP_MAX_ROWS   160
#define CMP_MAX_GROWTH 16

struct cmp_run {
        int quick, ncpus;
        double duration_s, warmup_s;
        char cpu_model[128], os[128], kernel[64], tmpfs[32], buildtype[32];
        char load_before[32]; /* /proc/loadavg at the start: others' work skews figures */
        double span_cpu_s, others_cpu_s, steal_cpu_s; /* CPU-seconds over the run */
        struct cmp_row rows[CMP_MAX_ROWS];
        int nrows;
        struct cmp_growth load[CMP_MAX_GROWTH], cap[CMP_MAX_GROWTH];
        int nload, ncap, growth_failed;
        uint32_t load_capacity;
        char cap_note[128];
        struct cmp_reconcile rec[8];
        int nrec, rec_failed;
        char rec_note[128];
        const struct cmp_backend *legend[16];
        int nlegend;
};

const char *cmp_kind_name(enum cmp_kind k);

/* CPU-seconds of the whole machine (busy, stolen) and of this benchmark with the children it
 * waited for, at one moment (machine.c). */
struct cmp_cpu_mark {
        double busy_s, steal_s, own_s, wall_s;
};

/* machine.c */
void cmp_describe_machine(struct cmp_run *r, int ncpus);
void cmp_cpu_mark(struct cmp_cpu_mark *m);

/* seed.c */
int cmp_run_seed(struct cmp_run *r, const char *python, const char *script,
                 const struct cmp_workload *w, int nw);

/* One target of issue 5: the figure this run measured and the bound it must meet. */
struct cmp_target {
        const char *name, *how;
        double measured, bound, p50; /* p50: the same ratio from sampled p50s, or NAN */
        int at_least;                /* 1: measured >= bound; 0: measured <= bound */
        int ok;                      /* measured in this run */
};

#define CMP_MAX_TARGETS 16

/* report.c */
int cmp_targets(const struct cmp_run *r, struct cmp_target *t);
int cmp_target_met(const struct cmp_target *t);
struct cmp_row *cmp_new_row(struct cmp_run *r, const char *alt, const struct cmp_workload *w);
void cmp_print_tables(const struct cmp_run *r, FILE *f);
void cmp_print_targets(const struct cmp_run *r, FILE *f);

/* results.c */
int cmp_write_results(const struct cmp_run *r, const char *dir);
int cmp_plot(const char *script, const char *dir);

/* scaling.c */
int cmp_growth(struct cmp_run *r);
int cmp_reconcile_run(struct cmp_run *r, const char *exe);

#endif
