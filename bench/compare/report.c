/*
 * What bench-compare prints: the tables, and the targets judged against the ratios
 * of this run (results.c writes the same into the results folder).
 *
 * Every ratio is "times slower": an alternative's latency over the base's, or the base's
 * throughput over the alternative's, so 1 is the base and above 1 is slower. A row that was
 * not measured prints why instead of numbers.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

#define BASE_RAW  "raw-cas"
#define BASE_HSHM "hedgeshm"

struct cmp_row *cmp_new_row(struct cmp_run *r, const char *alt, const struct cmp_workload *w)
{
        struct cmp_row *row = &r->rows[r->nrows++];

        memset(row, 0, sizeof(*row));
        row->alt = alt;
        row->w = *w;
        return row;
}

static const struct cmp_row *find(const struct cmp_run *r, const char *alt, enum cmp_kind kind,
                                  int procs)
{
        for (int i = 0; i < r->nrows; i++) {
                const struct cmp_row *row = &r->rows[i];

                if (row->w.kind == kind && row->w.procs == procs && strcmp(row->alt, alt) == 0)
                        return row->skip[0] || row->failed ? NULL : row;
        }
        return NULL;
}

static const char *ratio(double num, double den)
{
        static char buf[4][16];
        static int next;
        char *b = buf[next++ % 4];
        double v = den > 0 ? num / den : NAN;

        if (!(v >= 0) || isinf(v))
                return "-";
        snprintf(b, 16, v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f", v);
        return b;
}

/* CPU-seconds other processes took during the run (clock-tick rounding can make it < 0). */
static double others(const struct cmp_run *r)
{
        return r->others_cpu_s > 0 ? r->others_cpu_s : 0;
}

static void header(const struct cmp_run *r, FILE *f)
{
        fprintf(f, "machine: %s, %d online CPU%s, %s, kernel %s; build %s; temporary files on %s\n",
                r->cpu_model, r->ncpus, r->ncpus == 1 ? "" : "s", r->os, r->kernel, r->buildtype,
                r->tmpfs);
        fprintf(f,
                "other load: load average %s at the start; during the run other processes "
                "used %.1f of the %.0f CPU-seconds\n  it spanned (%.1f%%), the hypervisor "
                "stole %.1f\n",
                r->load_before, others(r), r->span_cpu_s,
                r->span_cpu_s > 0 ? 100 * others(r) / r->span_cpu_s : 0, r->steal_cpu_s);
        fprintf(f,
                "method: each workload runs %.2f s in freshly forked processes; worker i is "
                "pinned to CPU i mod %d,\n"
                "  so with more processes than CPUs they time-share (N = 4 and 8 on this machine "
                "measure time-slicing, not parallelism).\n"
                "  Latency: one cycle in %d timed op by op with clock_gettime (the timer's own "
                "%llu ns subtracted), p50/p99 in ns.\n"
                "  Throughput counts every cycle of every process. Ratio columns (x/raw, x/hs): "
                "times slower than\n"
                "  raw-cas / hedgeshm (1 process: batch means; N processes: throughput; "
                "readers: status p50),\n"
                "  so below 1 means faster.\n",
                r->duration_s, r->ncpus > 0 ? r->ncpus : 1, CMP_SAMPLE_EVERY,
                (unsigned long long)cmp_timer_ns);
        fprintf(f, "alternatives:\n");
        for (int i = 0; i < r->nlegend; i++)
                fprintf(f, "  %-13s %s\n", r->legend[i]->name, r->legend[i]->what);
        fprintf(f, "  %-13s %s\n", "seed-python",
                "the seed's design: dict + threading.Lock in ONE Python process; its \"procs\" "
                "are threads (it cannot be shared between processes)");
}

static int skipped(const struct cmp_row *row, FILE *f, int indent)
{
        if (!row->skip[0] && !row->failed)
                return 0;
        fprintf(f, "%*s%-13s %s\n", indent, "", row->alt,
                row->skip[0] ? row->skip : "failed to run (see stderr)");
        return 1;
}

static void uncontended(const struct cmp_run *r, FILE *f)
{
        const struct cmp_row *raw = find(r, BASE_RAW, W_DISJOINT, 1);
        const struct cmp_row *hs = find(r, BASE_HSHM, W_DISJOINT, 1);

        fprintf(f, "\n1 process, uncontended: ns per op; sampled p50 (p99), and batch means\n");
        fprintf(f, "%-13s %8s %8s %8s %8s %9s %9s %9s | %8s %8s | %7s %7s %7s %7s\n", "alternative",
                "claim", "activate", "status", "release", "cycle", "cycle p99", "stat p99",
                "cyc mean", "st mean", "cyc/raw", "cyc/hs", "st/raw", "st/hs");
        for (int i = 0; i < r->nrows; i++) {
                const struct cmp_row *x = &r->rows[i];

                if (x->w.kind != W_DISJOINT || x->w.procs != 1 || skipped(x, f, 0))
                        continue;
                fprintf(f,
                        "%-13s %8.0f %8.0f %8.0f %8.0f %9.0f %9.0f %9.0f | %8.1f %8.1f | %7s "
                        "%7s %7s %7s\n",
                        x->alt, x->claim.p50, x->activate.p50, x->status.p50, x->release.p50,
                        x->cycle.p50, x->cycle.p99, x->status.p99, x->batch_cycle_ns,
                        x->batch_status_ns,
                        raw ? ratio(x->batch_cycle_ns, raw->batch_cycle_ns) : "-",
                        hs ? ratio(x->batch_cycle_ns, hs->batch_cycle_ns) : "-",
                        raw ? ratio(x->batch_status_ns, raw->batch_status_ns) : "-",
                        hs ? ratio(x->batch_status_ns, hs->batch_status_ns) : "-");
        }
        fprintf(f,
                "cycle = claim + activate + release (status excluded). Left: one cycle in %d "
                "timed op by op. Right: batch\n"
                "means (chunks of ~50 us of back-to-back ops, median chunk), which the ratios "
                "use: a 7 ns op timed\n"
                "alone is only good to a nanosecond or two once the 18 ns clock read is taken "
                "off.\n",
                CMP_SAMPLE_EVERY);
}

static void many(const struct cmp_run *r, FILE *f, enum cmp_kind kind)
{
        if (kind == W_DISJOINT)
                fprintf(f, "\nN processes on disjoint positions (%d each)\n", CMP_KEYS_PER);
        else if (kind == W_HOT)
                fprintf(f,
                        "\nN processes on the same %d hot positions (a lost claim is retried "
                        "on another pick)\n",
                        CMP_HOT_KEYS);
        else
                fprintf(f,
                        "\nstatus reads while others write: N/2 writers cycling over the %d "
                        "hot positions, N/2 readers\n",
                        CMP_HOT_KEYS);
        if (kind == W_READERS)
                fprintf(f, "%5s %-13s %9s %9s %12s %12s %8s %8s\n", "procs", "alternative",
                        "status", "stat p99", "reads/s", "w cycles/s", "st/raw", "st/hs");
        else
                fprintf(f, "%5s %-13s %9s %9s %12s %7s %10s %8s %8s\n", "procs", "alternative",
                        "cycle", "cycle p99", "cycles/s", "lost%", "min wins", "tput/raw",
                        "tput/hs");
        for (int i = 0; i < r->nrows; i++) {
                const struct cmp_row *x = &r->rows[i], *raw, *hs;

                if (x->w.kind != kind)
                        continue;
                raw = find(r, BASE_RAW, kind, x->w.procs);
                hs = find(r, BASE_HSHM, kind, x->w.procs);
                fprintf(f, "%5d ", x->w.procs);
                if (skipped(x, f, 0))
                        continue;
                if (kind == W_READERS)
                        fprintf(f, "%-13s %9.0f %9.0f %12.0f %12.0f %8s %8s\n", x->alt,
                                x->rstatus.p50, x->rstatus.p99, x->reads_per_s, x->cycles_per_s,
                                raw ? ratio(x->rstatus.p50, raw->rstatus.p50) : "-",
                                hs ? ratio(x->rstatus.p50, hs->rstatus.p50) : "-");
                else
                        fprintf(f, "%-13s %9.0f %9.0f %12.0f %7.1f %10.0f %8s %8s\n", x->alt,
                                x->cycle.p50, x->cycle.p99, x->cycles_per_s,
                                x->attempts > 0 ? 100.0 * (1 - x->wins / x->attempts) : 0,
                                x->min_wins, raw ? ratio(raw->cycles_per_s, x->cycles_per_s) : "-",
                                hs ? ratio(hs->cycles_per_s, x->cycles_per_s) : "-");
        }
        if (kind == W_HOT)
                fprintf(f, "lost%%: claims that found the position taken; min wins: cycles of the "
                           "process that completed fewest (0 = starved)\n");
}

static void growth_head(FILE *f, int capacity)
{
        fprintf(f, "%9s %9s", capacity ? "capacity" : "load", "used");
        for (int k = 0; k < G_COUNT; k++)
                fprintf(f, " %10s", cmp_measure_name[k]);
        if (capacity)
                fprintf(f, " %10s %10s %8s", "create ms", "attach us", "B/slot");
        fprintf(f, "\n");
}

static void growth_row(FILE *f, const struct cmp_growth *g, int capacity)
{
        if (capacity)
                fprintf(f, "%9u %9u", g->capacity, g->used);
        else
                fprintf(f, "%8.0f%% %9u", 100 * g->load, g->used);
        for (int k = 0; k < G_COUNT; k++)
                fprintf(f, " %10.1f", g->ns[k]);
        if (capacity)
                fprintf(f, " %10.2f %10.1f %8.1f", g->create_ms, g->attach_us, g->bytes_per_slot);
        fprintf(f, "\n");
}

static void growth(const struct cmp_run *r, FILE *f)
{
        fprintf(f,
                "\nhedgeshm as the table fills: %u slots, random keys, ns per op (median of "
                "batches)\n",
                r->load_capacity);
        growth_head(f, 0);
        for (int i = 0; i < r->nload; i++)
                growth_row(f, &r->load[i], 0);
        fprintf(f, "status: hshm_status of present keys drawn from the whole table; status_1k: "
                   "from 1024 of them (the\n"
                   "same memory at every size: only probing changes); miss: hshm_is_available "
                   "of absent keys; claim:\n"
                   "hshm_lock of distinct AVAILABLE keys; release: hshm_reset of those locks by "
                   "token\n");
        fprintf(f, "\nhedgeshm as capacity grows: filled to 50%%, random keys, ns per op\n");
        growth_head(f, 1);
        for (int i = 0; i < r->ncap; i++)
                growth_row(f, &r->cap[i], 1);
        if (r->cap_note[0])
                fprintf(f, "%s\n", r->cap_note);
        if (r->growth_failed)
                fprintf(f, "growth: failed to run to the end (see stderr)\n");
}

static void reconcile(const struct cmp_run *r, FILE *f)
{
        fprintf(f, "\nsyncer reconcile pass (bench-reconcile), ms per cycle, slots = positions\n");
        fprintf(f, "%9s %10s %10s %10s %10s %10s\n", "n", "first", "median", "min", "untagged",
                "parse");
        for (int i = 0; i < r->nrec; i++) {
                const struct cmp_reconcile *c = &r->rec[i];

                fprintf(f, "%9u %10.2f %10.2f %10.2f %10.2f %10.2f\n", c->n, c->first, c->median,
                        c->min, c->untagged, c->parse);
        }
        if (r->rec_note[0])
                fprintf(f, "%s\n", r->rec_note);
        if (r->rec_failed)
                fprintf(f, "reconcile: failed to run (see stderr)\n");
}

void cmp_print_tables(const struct cmp_run *r, FILE *f)
{
        header(r, f);
        uncontended(r, f);
        many(r, f, W_DISJOINT);
        many(r, f, W_HOT);
        many(r, f, W_READERS);
        growth(r, f);
        reconcile(r, f);
}

static void add(struct cmp_target *t, int *n, const char *name, const char *how, int at_least,
                double bound, int ok, double value)
{
        t[*n] = (struct cmp_target){name, how, value, bound, NAN, at_least, ok && !isnan(value)};
        (*n)++;
}

/* a's figure over b's (cycle, or status): by batch means, and by sampled p50s beside it. */
static void ratio_target(struct cmp_target *t, int *n, const char *name, int at_least, double bound,
                         const struct cmp_row *a, const struct cmp_row *b, int status)
{
        double mean = NAN, p50 = NAN;

        if (a && b) {
                double am = status ? a->batch_status_ns : a->batch_cycle_ns;
                double bm = status ? b->batch_status_ns : b->batch_cycle_ns;
                double ap = status ? a->status.p50 : a->cycle.p50;
                double bp = status ? b->status.p50 : b->cycle.p50;

                mean = bm > 0 ? am / bm : NAN;
                p50 = bp > 0 ? ap / bp : NAN;
        }
        add(t, n, name, "mean ratio, 1 process", at_least, bound, a && b, mean);
        t[*n - 1].p50 = p50;
}

int cmp_targets(const struct cmp_run *r, struct cmp_target *t)
{
        const struct cmp_row *hs = find(r, BASE_HSHM, W_DISJOINT, 1);
        const struct cmp_row *raw = find(r, BASE_RAW, W_DISJOINT, 1);
        const struct cmp_row *hs2 = find(r, BASE_HSHM, W_HOT, 2);
        const struct cmp_row *raw2 = find(r, BASE_RAW, W_HOT, 2);
        const struct cmp_growth *l10 = NULL, *l90 = NULL;
        const struct cmp_reconcile *rec = NULL;
        static const struct {
                const char *alt, *name;
                double bound;
        } vs[] = {
            {"redis", "cycle >= 1000x faster than Redis", 1000},
            {"redis-pinned", "... than Redis pinned to the client's CPU", 1000},
            {"sqlite-wal", "cycle >= 20x faster than SQLite", 20},
            {"flock", "cycle >= 5x faster than flock", 5},
            {"fcntl-ofd", "cycle >= 5x faster than fcntl (OFD) locks", 5},
        };
        int n = 0;

        for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
                ratio_target(t, &n, vs[i].name, 1, vs[i].bound, find(r, vs[i].alt, W_DISJOINT, 1),
                             hs, 0);
        ratio_target(t, &n, "cycle within 4x of the physical limit", 0, 4, hs, raw, 0);
        ratio_target(t, &n, "status within 3x of raw load + hash", 0, 3, hs, raw, 1);
        add(t, &n, "2 processes, hot: no livelock (every process wins)", "min wins of a process", 1,
            1, hs2 != NULL, hs2 ? hs2->min_wins : NAN);
        add(t, &n, "2 processes, hot: >= half the raw CAS throughput", "cycles/s ratio", 1, 0.5,
            hs2 && raw2 && raw2->cycles_per_s > 0,
            hs2 && raw2 && raw2->cycles_per_s > 0 ? hs2->cycles_per_s / raw2->cycles_per_s : NAN);
        for (int i = 0; i < r->nload; i++) {
                if (fabs(r->load[i].load - 0.10) < 0.005)
                        l10 = &r->load[i];
                if (fabs(r->load[i].load - 0.90) < 0.005)
                        l90 = &r->load[i];
        }
        add(t, &n, "lookup at 90% load within 2x of 10% (same keys)", "status_1k ns ratio", 0, 2,
            l10 && l90, l10 && l90 ? l90->ns[G_STATUS_1K] / l10->ns[G_STATUS_1K] : NAN);
        add(t, &n, "lookup at 90% load within 2x of 10% (all keys)", "status ns ratio", 0, 2,
            l10 && l90, l10 && l90 ? l90->ns[G_STATUS] / l10->ns[G_STATUS] : NAN);
        for (int i = 0; i < r->nrec; i++)
                if (r->rec[i].n == 100000)
                        rec = &r->rec[i];
        add(t, &n, "reconcile 100k positions in under 50 ms per cycle", "median ms", 0, 50,
            rec != NULL, rec ? rec->median : NAN);
        return n;
}

int cmp_target_met(const struct cmp_target *t)
{
        return t->at_least ? t->measured >= t->bound : t->measured <= t->bound;
}

void cmp_print_targets(const struct cmp_run *r, FILE *f)
{
        struct cmp_target t[CMP_MAX_TARGETS];
        int n = cmp_targets(r, t);

        fprintf(f, "\ntargets of issue 5 (ratios of this run; never asserted)\n");
        fprintf(f, "%-52s %-22s %10s %8s  %s\n", "target", "measured as", "measured", "bound",
                "result");
        for (int i = 0; i < n; i++) {
                if (!t[i].ok) {
                        fprintf(f, "%-52s %-22s %10s %8s  %s\n", t[i].name, t[i].how, "-", "-",
                                "not measured (alternative skipped or failed)");
                        continue;
                }
                fprintf(f, "%-52s %-22s %10.3g %8.3g  %s", t[i].name, t[i].how, t[i].measured,
                        t[i].bound, cmp_target_met(&t[i]) ? "met" : "MISSED");
                if (!cmp_target_met(&t[i]) && t[i].measured > 0)
                        fprintf(f, " by %.2fx",
                                t[i].at_least ? t[i].bound / t[i].measured
                                              : t[i].measured / t[i].bound);
                if (!isnan(t[i].p50))
                        fprintf(f, " (p50 ratio %.3g)", t[i].p50);
                fprintf(f, "\n");
        }
}
