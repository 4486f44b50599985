/*
 * The seed's design in the comparison: a dict under threading.Lock in ONE Python process
 * (bench_python.py's SeedStyleTracker), so where the C alternatives run N processes it runs N
 * threads of that process. seed_bench.py runs the driver's workloads in the driver's order and
 * prints one "row kind=... procs=... writers=... readers=... name=value ..." line per
 * workload; this file runs it in the same run as the others and reads those lines into rows.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* Names the seed script's "row" lines use for struct cmp_row's fields. */
static double *field(struct cmp_row *row, const char *name)
{
        static const struct {
                const char *name;
                size_t off;
        } f[] = {
#define F(n, m) {n, offsetof(struct cmp_row, m)}
            F("wins", wins),
            F("attempts", attempts),
            F("reads", reads),
            F("cycles_per_s", cycles_per_s),
            F("reads_per_s", reads_per_s),
            F("min_wins", min_wins),
            F("samples", samples),
            F("batch_cycle_ns", batch_cycle_ns),
            F("batch_status_ns", batch_status_ns),
            F("cycle_p50", cycle.p50),
            F("cycle_p99", cycle.p99),
            F("claim_p50", claim.p50),
            F("claim_p99", claim.p99),
            F("activate_p50", activate.p50),
            F("activate_p99", activate.p99),
            F("status_p50", status.p50),
            F("status_p99", status.p99),
            F("release_p50", release.p50),
            F("release_p99", release.p99),
            F("rstatus_p50", rstatus.p50),
            F("rstatus_p99", rstatus.p99),
#undef F
        };

        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
                if (strcmp(f[i].name, name) == 0)
                        return (double *)(void *)((char *)row + f[i].off);
        return NULL;
}

/* Every workload of w, in order; a row for each (missing ones marked failed). 0 or -1. */
int cmp_run_seed(struct cmp_run *r, const char *python, const char *script,
                 const struct cmp_workload *w, int nw)
{
        char cmd[8192], line[2048];
        int got = 0, status;
        FILE *p;

        printf("  %-13s", "seed-python");
        fflush(stdout);
        snprintf(cmd, sizeof(cmd), "'%s' '%s' --duration %.3f --warmup %.3f", python, script,
                 r->duration_s, r->warmup_s);
        if ((p = popen(cmd, "r")) == NULL) {
                perror("bench-compare: popen");
                return -1;
        }
        while (fgets(line, sizeof(line), p) != NULL) {
                struct cmp_workload got_w = {W_DISJOINT, 0, 0, 0};
                struct cmp_row *row;
                char kind[16], *save = NULL, *tok;

                if (sscanf(line, "row kind=%15s procs=%d writers=%d readers=%d", kind, &got_w.procs,
                           &got_w.writers, &got_w.readers) != 4) {
                        fputs(line, stderr);
                        continue;
                }
                got_w.kind = strcmp(kind, "hot") == 0       ? W_HOT
                             : strcmp(kind, "readers") == 0 ? W_READERS
                                                            : W_DISJOINT;
                row = cmp_new_row(r, "seed-python", &got_w);
                for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
                        char *eq = strchr(tok, '=');
                        double *d;

                        if (eq == NULL)
                                continue;
                        *eq = '\0';
                        if ((d = field(row, tok)) != NULL)
                                *d = strtod(eq + 1, NULL);
                }
                got++;
                printf(".");
                fflush(stdout);
        }
        status = pclose(p);
        printf("\n");
        if (got == nw && status == 0)
                return 0;
        fprintf(stderr, "bench-compare: %s %s: %d of %d rows, exit status %d\n", python, script,
                got, nw, status);
        for (int i = got; i < nw; i++) /* rows come in order: the missing ones are last */
                snprintf(cmp_new_row(r, "seed-python", &w[i])->skip, sizeof(r->rows[0].skip),
                         "failed: seed_bench.py (see stderr)");
        return -1;
}
