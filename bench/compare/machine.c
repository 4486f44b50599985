/*
 * Where a run happened, for the header of the results: CPU model, OS, kernel, build type,
 * the file system temporary files land on, the load average at the start, and the CPU time
 * the whole machine and this benchmark used, whose difference is what other processes took
 * while it ran (a shared machine's other work skews every figure, so the results say how much
 * there was).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "report.h"

#ifndef CMP_BUILDTYPE
#define CMP_BUILDTYPE "unknown"
#endif

static void read_line(const char *path, const char *prefix, char *out, size_t len)
{
        char line[512];
        FILE *f = fopen(path, "r");

        if (f == NULL)
                return;
        while (fgets(line, sizeof(line), f) != NULL) {
                char *v;

                if (strncmp(line, prefix, strlen(prefix)) != 0)
                        continue;
                v = line + strlen(prefix);
                v += strspn(v, " \t:=\"");
                v[strcspn(v, "\"\n")] = '\0';
                snprintf(out, len, "%s", v);
                break;
        }
        fclose(f);
}

/* The first three fields of /proc/loadavg: other work on the machine shows here. */
static void load_average(char *out, size_t len)
{
        float a = 0, b = 0, c = 0;
        FILE *f = fopen("/proc/loadavg", "r");

        snprintf(out, len, "unknown");
        if (f != NULL && fscanf(f, "%f %f %f", &a, &b, &c) == 3)
                snprintf(out, len, "%.2f %.2f %.2f", a, b, c);
        if (f != NULL)
                fclose(f);
}

/* CPU time of the whole machine (/proc/stat) and of this benchmark with everything it waited
 * for (workers, servers, scripts): the difference over the run is what other processes took. */
void cmp_cpu_mark(struct cmp_cpu_mark *m)
{
        unsigned long long v[8] = {0};
        double hz = (double)sysconf(_SC_CLK_TCK);
        struct rusage self, kids;
        FILE *f = fopen("/proc/stat", "r");

        if (f != NULL) {
                if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                           &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
                        memset(v, 0, sizeof(v));
                fclose(f);
        }
        m->busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
        m->steal_s = (double)v[7] / hz;
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &kids);
        m->own_s = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                            kids.ru_stime.tv_sec) +
                   (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                            kids.ru_stime.tv_usec) /
                       1e6;
        m->wall_s = (double)cmp_now_ns() / 1e9;
}

void cmp_describe_machine(struct cmp_run *r, int ncpus)
{
        struct utsname u;
        char *tmp;

        snprintf(r->cpu_model, sizeof(r->cpu_model), "unknown CPU");
        snprintf(r->os, sizeof(r->os), "unknown OS");
        read_line("/proc/cpuinfo", "model name", r->cpu_model, sizeof(r->cpu_model));
        read_line("/etc/os-release", "PRETTY_NAME", r->os, sizeof(r->os));
        if (uname(&u) == 0)
                snprintf(r->kernel, sizeof(r->kernel), "%.63s", u.release);
        snprintf(r->buildtype, sizeof(r->buildtype), "%s", CMP_BUILDTYPE);
        tmp = cmp_make_tmpdir("probe");
        snprintf(r->tmpfs, sizeof(r->tmpfs), "%s", tmp ? cmp_fs_name(tmp) : "unknown");
        if (tmp)
                rmdir(tmp);
        free(tmp);
        r->ncpus = ncpus;
        load_average(r->load_before, sizeof(r->load_before));
}
