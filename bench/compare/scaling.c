/*
 * How hedgeshm's cost grows, in the same run as the side-by-side rows:
 *
 *   load factor   one segment of 64k slots (16k with --quick) filled step by step to 10, 25,
 *                 50, 75, 90 and 95 % of its capacity with random keys
 *   capacity      1k, 4k, 16k, 64k, 256k and 1M slots (--quick stops at 64k), each filled to
 *                 50 %, plus the time to create and to attach (hshm_open) and the segment's
 *                 bytes per slot
 *
 * At each step: status by key of present keys drawn from the whole table (status), the same
 * drawn from 1024 of them (status_1k: the memory touched stays the same as the table grows,
 * so only the index's probing changes), is_available of absent keys (miss: the probe runs to
 * an empty bucket), a lock of distinct present keys (claim) and their reset by token
 * (release).
 *
 * Keys are random (a bijective mix of a counter), and every batch visits a random sample of
 * the table in a random order, so at large sizes each operation misses the caches as a bot
 * looking up a cold position would. Each figure is the median of several batches, timed
 * batch by batch (ns per op without per-op clock reads). The reconcile pass is measured by
 * bench-reconcile itself, run here and parsed: there is one reconcile benchmark, not two.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hedgeshm.h"
#include "report.h"

#define MAX_BATCH 16384
#define MAX_REPS  7
#define SUBSET    1024 /* keys status_1k draws from */

struct gkey {
        char group[16];
        char symbol[24];
};

static struct {
        int reps;
        uint32_t batch;
        char name[64];
        struct gkey *keys; /* one batch, in visiting order */
        uint64_t *tokens;  /* the batch's locks */
        uint32_t *perm;    /* present key numbers, for distinct random picks */
        uint64_t rng;
} g;

static uint64_t mix(uint64_t x)
{
        x += UINT64_C(0x9E3779B97F4A7C15);
        x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
        return x ^ (x >> 31);
}

static uint32_t rnd(uint32_t n)
{
        g.rng = mix(g.rng);
        return (uint32_t)(g.rng % n);
}

/* Key number i: present keys are 0 .. used-1, absent ones from 2^40 up. */
static void make_key(uint64_t i, struct gkey *k)
{
        uint64_t h = mix(i);

        snprintf(k->group, sizeof(k->group), "g%03u", (unsigned)(h % 997));
        snprintf(k->symbol, sizeof(k->symbol), "S%016llx", (unsigned long long)h);
}

static int fail(const char *what, int err)
{
        fprintf(stderr, "bench-compare: growth: %s: %s %s\n", what, hshm_strerror(err),
                hshm_last_detail());
        return -1;
}

static int fill(hshm_store *s, uint32_t from, uint32_t to)
{
        for (uint32_t i = from; i < to; i++) {
                struct gkey k;
                uint64_t token;
                int err;

                make_key(i, &k);
                if ((err = hshm_lock(s, k.group, k.symbol, &token)) != 0 ||
                    (err = hshm_reset(s, token)) != 0)
                        return fail("filling", err);
                g.perm[i] = i;
        }
        return 0;
}

const char *const cmp_measure_name[G_COUNT] = {"status", "status_1k", "miss", "claim", "release"};

/* ns per hshm_status over the batch's keys; the keys are looked up once untimed first when
 * warm is set, so only what stays cached between passes is measured. */
static int time_status(hshm_store *s, int warm, double *ns)
{
        struct hshm_status st;
        uint64_t t0 = 0, acc = 0;
        int err;

        for (int pass = warm ? 0 : 1; pass < 2; pass++) {
                t0 = cmp_now_ns();
                for (uint32_t i = 0; i < g.batch; i++) {
                        if ((err = hshm_status(s, g.keys[i].group, g.keys[i].symbol, &st)) != 0)
                                return fail("hshm_status", err);
                        acc += st.generation;
                }
        }
        *ns = (double)(cmp_now_ns() - t0) / g.batch;
        __asm__ volatile("" : : "r"(acc));
        return 0;
}

/* One batch of each measure, ns per op into v[G_*]. */
static int batch(hshm_store *s, uint32_t used, double v[G_COUNT])
{
        uint32_t m = g.batch < used ? g.batch : used, sub[SUBSET];
        uint64_t t0;
        int err;

        /* status: present keys drawn from the whole table */
        for (uint32_t i = 0; i < g.batch; i++)
                make_key(rnd(used), &g.keys[i]);
        if (time_status(s, 0, &v[G_STATUS]) != 0)
                return -1;
        /* status_1k: present keys drawn from SUBSET random ones, so the memory touched is the
         * same at every size and only the index's probing changes */
        for (uint32_t i = 0; i < SUBSET; i++)
                sub[i] = rnd(used);
        for (uint32_t i = 0; i < g.batch; i++)
                make_key(sub[rnd(SUBSET)], &g.keys[i]);
        if (time_status(s, 1, &v[G_STATUS_1K]) != 0)
                return -1;
        /* miss: absent keys; the probe runs to an empty bucket */
        for (uint32_t i = 0; i < g.batch; i++)
                make_key((UINT64_C(1) << 40) + g.rng++, &g.keys[i]);
        t0 = cmp_now_ns();
        for (uint32_t i = 0; i < g.batch; i++)
                if ((err = hshm_is_available(s, g.keys[i].group, g.keys[i].symbol)) != 1)
                        return fail("hshm_is_available of an absent key", err);
        v[G_MISS] = (double)(cmp_now_ns() - t0) / g.batch;
        /* claim and release: m distinct present keys, the first m of a partial shuffle */
        for (uint32_t i = 0; i < m; i++) {
                uint32_t j = i + rnd(used - i), t = g.perm[i];

                g.perm[i] = g.perm[j];
                g.perm[j] = t;
                make_key(g.perm[i], &g.keys[i]);
        }
        t0 = cmp_now_ns();
        for (uint32_t i = 0; i < m; i++)
                if ((err = hshm_lock(s, g.keys[i].group, g.keys[i].symbol, &g.tokens[i])) != 0)
                        return fail("hshm_lock", err);
        v[G_CLAIM] = (double)(cmp_now_ns() - t0) / m;
        t0 = cmp_now_ns();
        for (uint32_t i = 0; i < m; i++)
                if ((err = hshm_reset(s, g.tokens[i])) != 0)
                        return fail("hshm_reset", err);
        v[G_RELEASE] = (double)(cmp_now_ns() - t0) / m;
        return 0;
}

static int measure(hshm_store *s, uint32_t used, struct cmp_growth *out)
{
        double v[G_COUNT][MAX_REPS], one[G_COUNT];

        if (batch(s, used, one) != 0) /* warm-up, not kept */
                return -1;
        for (int r = 0; r < g.reps; r++) {
                if (batch(s, used, one) != 0)
                        return -1;
                for (int k = 0; k < G_COUNT; k++)
                        v[k][r] = one[k];
        }
        for (int k = 0; k < G_COUNT; k++)
                out->ns[k] = cmp_median(v[k], g.reps);
        return 0;
}

static int open_new(uint32_t capacity, hshm_store **s, struct cmp_growth *out)
{
        struct hshm_create_opts opts = {.capacity = capacity, .gid = (gid_t)-1};
        struct hshm_info info;
        double attach[5];
        uint64_t t0;
        int err;

        hshm_destroy(g.name);
        t0 = cmp_now_ns();
        if ((err = hshm_create(g.name, &opts)) != 0)
                return fail("hshm_create", err);
        out->create_ms = (double)(cmp_now_ns() - t0) / 1e6;
        for (int i = 0; i < 5; i++) {
                t0 = cmp_now_ns();
                err = hshm_open(g.name, 0, s);
                attach[i] = (double)(cmp_now_ns() - t0) / 1e3;
                if (err != 0)
                        return fail("hshm_open", err);
                if (i < 4)
                        hshm_close(*s);
        }
        out->attach_us = cmp_median(attach, 5);
        if ((err = hshm_info(*s, &info)) != 0)
                return fail("hshm_info", err);
        out->bytes_per_slot = (double)info.size_bytes / capacity;
        out->capacity = capacity;
        return 0;
}

static int load_factor(struct cmp_run *r, uint32_t capacity)
{
        static const int levels[] = {10, 25, 50, 75, 90, 95};
        struct cmp_growth shape;
        hshm_store *s = NULL;
        uint32_t used = 0;
        int rc = 0;

        if (open_new(capacity, &s, &shape) != 0)
                return -1;
        r->load_capacity = capacity;
        for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]) && rc == 0; i++) {
                struct cmp_growth *o = &r->load[r->nload];
                uint32_t target = (uint32_t)((uint64_t)capacity * (uint64_t)levels[i] / 100);

                *o = shape;
                if ((rc = fill(s, used, target)) != 0 || (rc = measure(s, target, o)) != 0)
                        break;
                used = o->used = target;
                o->load = (double)target / capacity;
                r->nload++;
                printf("  load %3d%% of %u: status %.0f ns, status_1k %.0f ns, miss %.0f ns, "
                       "claim %.0f ns\n",
                       levels[i], capacity, o->ns[G_STATUS], o->ns[G_STATUS_1K], o->ns[G_MISS],
                       o->ns[G_CLAIM]);
        }
        hshm_close(s);
        hshm_destroy(g.name);
        return rc;
}

static int capacity_step(struct cmp_run *r, uint32_t capacity)
{
        struct cmp_growth *o = &r->cap[r->ncap];
        hshm_store *s = NULL;
        int rc;

        memset(o, 0, sizeof(*o));
        if (open_new(capacity, &s, o) != 0)
                return -1;
        o->used = capacity / 2;
        o->load = 0.5;
        if ((rc = fill(s, 0, o->used)) == 0 && (rc = measure(s, o->used, o)) == 0) {
                r->ncap++;
                printf("  capacity %7u: status %.0f ns, claim %.0f ns, attach %.1f us, "
                       "create %.1f ms, %.0f B/slot\n",
                       capacity, o->ns[G_STATUS], o->ns[G_CLAIM], o->attach_us, o->create_ms,
                       o->bytes_per_slot);
        }
        hshm_close(s);
        hshm_destroy(g.name);
        return rc;
}

int cmp_growth(struct cmp_run *r)
{
        static const uint32_t caps[] = {1024, 4096, 16384, 65536, 262144, 1048576};
        uint32_t top = r->quick ? 65536 : HSHM_CAPACITY_MAX;
        int rc = 0;

        g.reps = r->quick ? 3 : 7;
        g.batch = r->quick ? 2048 : MAX_BATCH;
        g.rng = 42;
        snprintf(g.name, sizeof(g.name), "/hshm-cmp-grow-%d", (int)getpid());
        g.keys = malloc(MAX_BATCH * sizeof(*g.keys));
        g.tokens = malloc(MAX_BATCH * sizeof(*g.tokens));
        g.perm = malloc(HSHM_CAPACITY_MAX * sizeof(*g.perm));
        if (g.keys == NULL || g.tokens == NULL || g.perm == NULL) {
                fprintf(stderr, "bench-compare: growth: out of memory\n");
                rc = -1;
        }
        if (rc == 0)
                rc = load_factor(r, r->quick ? 16384 : 65536);
        for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]) && rc == 0; i++)
                if (caps[i] <= top)
                        rc = capacity_step(r, caps[i]);
        if (r->quick)
                snprintf(r->cap_note, sizeof(r->cap_note),
                         "--quick: capacities 256k and 1M not run (the full run has them)");
        free(g.keys);
        free(g.tokens);
        free(g.perm);
        r->growth_failed = rc != 0;
        return rc;
}

int cmp_reconcile_run(struct cmp_run *r, const char *exe)
{
        char cmd[4200], line[512];
        int status;
        FILE *p;

        if (access(exe, X_OK) != 0) {
                fprintf(stderr, "bench-compare: %s: %s (build bench-reconcile first)\n", exe,
                        strerror(errno));
                r->rec_failed = 1;
                return -1;
        }
        snprintf(cmd, sizeof(cmd), "'%s'%s", exe, r->quick ? " --quick" : "");
        fflush(NULL);
        if ((p = popen(cmd, "r")) == NULL) {
                r->rec_failed = 1;
                return -1;
        }
        while (fgets(line, sizeof(line), p) != NULL) {
                struct cmp_reconcile *c = &r->rec[r->nrec];

                printf("  %s", line);
                if (r->nrec < 8 && sscanf(line, "%u %lf %lf %lf %lf %lf", &c->n, &c->first,
                                          &c->median, &c->min, &c->untagged, &c->parse) == 6)
                        r->nrec++;
        }
        status = pclose(p);
        if (r->quick)
                snprintf(r->rec_note, sizeof(r->rec_note),
                         "--quick: 1M positions not run (bench-reconcile --quick stops at 100k)");
        if (status != 0 || r->nrec == 0) {
                fprintf(stderr, "bench-compare: %s failed (status %d)\n", exe, status);
                r->rec_failed = 1;
                return -1;
        }
        return 0;
}
