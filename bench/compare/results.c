/*
 * The results folder: results.txt (the tables as printed), results.json (everything,
 * machine included), results.csv (one line per alternative and workload), the *.dat files
 * plot.gp reads (one block per alternative where a plot has a line per alternative), and the
 * plots themselves, drawn by gnuplot when it is installed.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static void json_pct(FILE *f, const char *name, struct cmp_pct p)
{
        fprintf(f, ", \"%s_p50\": %.1f, \"%s_p99\": %.1f", name, p.p50, name, p.p99);
}

static void json_str(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', f);
                if ((unsigned char)*s >= 0x20)
                        fputc(*s, f);
        }
        fputc('"', f);
}

static void json_growth(FILE *f, const struct cmp_growth *g, int i)
{
        fprintf(f, "%s\n    {\"capacity\": %u, \"used\": %u, \"load\": %.3f", i ? "," : "",
                g->capacity, g->used, g->load);
        for (int k = 0; k < G_COUNT; k++)
                fprintf(f, ", \"%s_ns\": %.1f", cmp_measure_name[k], g->ns[k]);
        fprintf(f, ", \"create_ms\": %.3f, \"attach_us\": %.2f, \"bytes_per_slot\": %.1f}",
                g->create_ms, g->attach_us, g->bytes_per_slot);
}

static void write_json(const struct cmp_run *r, FILE *f)
{
        struct cmp_target t[CMP_MAX_TARGETS];
        int n = cmp_targets(r, t);

        fprintf(f, "{\n  \"machine\": {\"cpu\": ");
        json_str(f, r->cpu_model);
        fprintf(f, ", \"online_cpus\": %d, \"os\": ", r->ncpus);
        json_str(f, r->os);
        fprintf(f, ", \"kernel\": ");
        json_str(f, r->kernel);
        fprintf(f, ", \"build\": ");
        json_str(f, r->buildtype);
        fprintf(f, ", \"tmp_fs\": ");
        json_str(f, r->tmpfs);
        fprintf(f, ", \"loadavg_start\": ");
        json_str(f, r->load_before);
        fprintf(f, ", \"run_cpu_s\": %.1f, \"others_cpu_s\": %.1f, \"steal_cpu_s\": %.1f",
                r->span_cpu_s, r->others_cpu_s, r->steal_cpu_s);
        fprintf(f,
                "},\n  \"config\": {\"quick\": %s, \"duration_s\": %.3f, \"sample_every\": %d, "
                "\"timer_ns\": %llu},\n",
                r->quick ? "true" : "false", r->duration_s, CMP_SAMPLE_EVERY,
                (unsigned long long)cmp_timer_ns);
        fprintf(f, "  \"comparison\": [");
        for (int i = 0; i < r->nrows; i++) {
                const struct cmp_row *x = &r->rows[i];

                fprintf(f,
                        "%s\n    {\"alternative\": \"%s\", \"workload\": \"%s\", \"procs\": %d, "
                        "\"writers\": %d, \"readers\": %d",
                        i ? "," : "", x->alt, cmp_kind_name(x->w.kind), x->w.procs, x->w.writers,
                        x->w.readers);
                if (x->skip[0] || x->failed) {
                        fprintf(f, ", \"skipped\": ");
                        json_str(f, x->skip[0] ? x->skip : "failed to run");
                        fprintf(f, "}");
                        continue;
                }
                fprintf(f,
                        ", \"cycles\": %.0f, \"attempts\": %.0f, \"reads\": %.0f, "
                        "\"cycles_per_s\": %.0f, \"reads_per_s\": %.0f, \"min_wins\": %.0f, "
                        "\"samples\": %.0f",
                        x->wins, x->attempts, x->reads, x->cycles_per_s, x->reads_per_s,
                        x->min_wins, x->samples);
                if (x->batch_cycle_ns > 0)
                        fprintf(f, ", \"batch_cycle_ns\": %.2f, \"batch_status_ns\": %.2f",
                                x->batch_cycle_ns, x->batch_status_ns);
                json_pct(f, "cycle", x->cycle);
                json_pct(f, "claim", x->claim);
                json_pct(f, "activate", x->activate);
                json_pct(f, "status", x->status);
                json_pct(f, "release", x->release);
                json_pct(f, "reader_status", x->rstatus);
                fprintf(f, "}");
        }
        fprintf(f, "\n  ],\n  \"load_factor\": {\"capacity\": %u, \"rows\": [", r->load_capacity);
        for (int i = 0; i < r->nload; i++)
                json_growth(f, &r->load[i], i);
        fprintf(f, "\n  ]},\n  \"capacity\": [");
        for (int i = 0; i < r->ncap; i++)
                json_growth(f, &r->cap[i], i);
        fprintf(f, "\n  ],\n  \"reconcile_ms\": [");
        for (int i = 0; i < r->nrec; i++)
                fprintf(f,
                        "%s\n    {\"n\": %u, \"first\": %.2f, \"median\": %.2f, \"min\": %.2f, "
                        "\"untagged\": %.2f, \"parse\": %.2f}",
                        i ? "," : "", r->rec[i].n, r->rec[i].first, r->rec[i].median, r->rec[i].min,
                        r->rec[i].untagged, r->rec[i].parse);
        fprintf(f, "\n  ],\n  \"targets\": [");
        for (int i = 0; i < n; i++) {
                fprintf(f, "%s\n    {\"target\": ", i ? "," : "");
                json_str(f, t[i].name);
                if (!t[i].ok) {
                        fprintf(f, ", \"met\": null}");
                        continue;
                }
                fprintf(f,
                        ", \"how\": \"%s\", \"measured\": %.4g, \"bound\": %g, "
                        "\"at_least\": %s, \"met\": %s",
                        t[i].how, t[i].measured, t[i].bound, t[i].at_least ? "true" : "false",
                        cmp_target_met(&t[i]) ? "true" : "false");
                if (!isnan(t[i].p50))
                        fprintf(f, ", \"p50_ratio\": %.4g", t[i].p50);
                fprintf(f, "}");
        }
        fprintf(f, "\n  ]\n}\n");
}

static void write_csv(const struct cmp_run *r, FILE *f)
{
        fprintf(f, "alternative,workload,procs,writers,readers,skipped,cycles,attempts,reads,"
                   "cycles_per_s,reads_per_s,min_wins,cycle_p50,cycle_p99,claim_p50,claim_p99,"
                   "activate_p50,activate_p99,status_p50,status_p99,release_p50,release_p99,"
                   "reader_status_p50,reader_status_p99,batch_cycle_ns,batch_status_ns\n");
        for (int i = 0; i < r->nrows; i++) {
                const struct cmp_row *x = &r->rows[i];

                fprintf(f, "%s,%s,%d,%d,%d,", x->alt, cmp_kind_name(x->w.kind), x->w.procs,
                        x->w.writers, x->w.readers);
                if (x->skip[0] || x->failed) {
                        fprintf(f, "\"%s\"%s\n", x->skip[0] ? x->skip : "failed to run",
                                ",,,,,,,,,,,,,,,,,,,,");
                        continue;
                }
                fprintf(f,
                        ",%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,"
                        "%.0f,%.0f,%.0f,%.0f,%.0f,",
                        x->wins, x->attempts, x->reads, x->cycles_per_s, x->reads_per_s,
                        x->min_wins, x->cycle.p50, x->cycle.p99, x->claim.p50, x->claim.p99,
                        x->activate.p50, x->activate.p99, x->status.p50, x->status.p99,
                        x->release.p50, x->release.p99, x->rstatus.p50, x->rstatus.p99);
                if (x->batch_cycle_ns > 0) /* the 1-process rows only */
                        fprintf(f, "%.2f,%.2f", x->batch_cycle_ns, x->batch_status_ns);
                else
                        fprintf(f, ",");
                fprintf(f, "\n");
        }
}

/* Data for plot.gp: one block per alternative (its name first), blocks two lines apart. */
static void write_dat(const struct cmp_run *r, FILE *f, const char *what)
{
        if (strcmp(what, "latency") == 0) {
                fprintf(f, "# alternative cycle_p50 status_p50 (ns)\n");
                for (int i = 0; i < r->nrows; i++) {
                        const struct cmp_row *x = &r->rows[i];

                        if (x->w.kind == W_DISJOINT && x->w.procs == 1 && !x->skip[0] && !x->failed)
                                fprintf(f, "%s %.1f %.1f\n", x->alt,
                                        x->cycle.p50 > 0 ? x->cycle.p50 : 1,
                                        x->status.p50 > 0 ? x->status.p50 : 1);
                }
                return;
        }
        if (strcmp(what, "loadfactor") == 0 || strcmp(what, "capacity") == 0) {
                int cap = what[0] == 'c';

                fprintf(f, "# %s, then ns per op:", cap ? "capacity" : "load %");
                for (int k = 0; k < G_COUNT; k++)
                        fprintf(f, " %s", cmp_measure_name[k]);
                fprintf(f, "%s\n", cap ? "; attach_us bytes_per_slot" : "");
                for (int i = 0; i < (cap ? r->ncap : r->nload); i++) {
                        const struct cmp_growth *g = cap ? &r->cap[i] : &r->load[i];

                        fprintf(f, "%.0f", cap ? (double)g->capacity : 100 * g->load);
                        for (int k = 0; k < G_COUNT; k++)
                                fprintf(f, " %.1f", g->ns[k]);
                        if (cap)
                                fprintf(f, " %.2f %.1f", g->attach_us, g->bytes_per_slot);
                        fprintf(f, "\n");
                }
                return;
        }
        if (strcmp(what, "reconcile") == 0) {
                fprintf(f, "# n first median untagged parse (ms)\n");
                for (int i = 0; i < r->nrec; i++)
                        fprintf(f, "%u %.3f %.3f %.3f %.3f\n", r->rec[i].n, r->rec[i].first,
                                r->rec[i].median, r->rec[i].untagged, r->rec[i].parse);
                return;
        }
        /* disjoint / hot / readers: throughput against processes, one block per alternative */
        enum cmp_kind kind = strcmp(what, "hot") == 0       ? W_HOT
                             : strcmp(what, "readers") == 0 ? W_READERS
                                                            : W_DISJOINT;
        const char *done[32];
        int ndone = 0;

        for (int i = 0; i < r->nrows && ndone < 32; i++) {
                const char *alt = r->rows[i].alt;
                int seen = 0, any = 0;

                for (int j = 0; j < ndone; j++)
                        seen |= strcmp(done[j], alt) == 0;
                if (seen)
                        continue;
                done[ndone++] = alt;
                for (int j = 0; j < r->nrows; j++) {
                        const struct cmp_row *x = &r->rows[j];

                        if (x->w.kind != kind || strcmp(x->alt, alt) != 0 || x->skip[0] ||
                            x->failed)
                                continue;
                        if (!any++)
                                fprintf(f, "%s%s\n", ndone > 1 ? "\n\n" : "", alt);
                        fprintf(f, "%d %.1f\n", x->w.procs,
                                kind == W_READERS ? x->reads_per_s : x->cycles_per_s);
                }
                if (!any)
                        ndone--; /* nothing measured: no block, and no index for it */
        }
}

static int write_file(const struct cmp_run *r, const char *dir, const char *name, const char *what)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if ((f = fopen(path, "w")) == NULL) {
                fprintf(stderr, "bench-compare: %s: %s\n", path, strerror(errno));
                return -1;
        }
        if (strcmp(what, "json") == 0)
                write_json(r, f);
        else if (strcmp(what, "csv") == 0)
                write_csv(r, f);
        else if (strcmp(what, "txt") == 0) {
                cmp_print_tables(r, f);
                cmp_print_targets(r, f);
        } else
                write_dat(r, f, what);
        return fclose(f) == 0 ? 0 : -1;
}

int cmp_write_results(const struct cmp_run *r, const char *dir)
{
        static const char *const dats[] = {"latency",    "disjoint", "hot",      "readers",
                                           "loadfactor", "capacity", "reconcile"};
        char name[64];
        int rc = 0;

        rc |= write_file(r, dir, "results.json", "json");
        rc |= write_file(r, dir, "results.csv", "csv");
        rc |= write_file(r, dir, "results.txt", "txt");
        for (size_t i = 0; i < sizeof(dats) / sizeof(dats[0]); i++) {
                snprintf(name, sizeof(name), "%s.dat", dats[i]);
                rc |= write_file(r, dir, name, dats[i]);
        }
        return rc;
}

int cmp_plot(const char *script, const char *dir)
{
        char cmd[8400];
        int status;

        if (cmp_find_program("gnuplot") == NULL) {
                printf("plots: skipped: gnuplot not installed (gnuplot-nox)\n");
                return 0;
        }
        snprintf(cmd, sizeof(cmd), "gnuplot -e \"dir='%s'\" '%s'", dir, script);
        status = system(cmd);
        if (status != 0) {
                fprintf(stderr, "bench-compare: gnuplot failed (%d): %s\n", status, cmd);
                return -1;
        }
        printf("plots: %s/*.svg\n", dir);
        return 0;
}
