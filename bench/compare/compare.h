/*
 * bench-compare: hedgeshm next to what users would pick instead, one workload for all.
 *
 * Every alternative is a backend behind the same four calls (claim a position, activate it
 * with a ticket, read its status, release it), so the driver runs the very same loop,
 * sampling and process layout over each of them. A backend keeps whatever per-process state
 * it needs (a connection, a handle, open files) behind the void pointer attach returns; the
 * parent's setup makes what the processes share (a segment, a server, a database) before
 * any worker is forked.
 *
 * timing.c holds what every part shares: the clock, pinning, sample buffers and
 * percentiles, the key set, temporary directories.
 */
#ifndef BENCH_COMPARE_H
#define BENCH_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#define CMP_LINE         64
#define CMP_MAX_PROCS    8
#define CMP_KEYS_PER     16                             /* positions per disjoint worker */
#define CMP_HOT_KEYS     4                              /* the hot positions everyone fights over */
#define CMP_HOT_FIRST    (CMP_MAX_PROCS * CMP_KEYS_PER) /* key index of the first hot position */
#define CMP_NKEYS        (CMP_HOT_FIRST + CMP_HOT_KEYS)
#define CMP_SAMPLE_EVERY 16    /* one cycle in this many is timed op by op */
#define CMP_MAX_SAMPLES  65536 /* per worker; a full buffer is halved evenly, the stride doubled */
#define CMP_LEASE_MS     60000

/* claim() results besides a negative error. */
#define CMP_WON  0
#define CMP_BUSY 1

/* One position, its key in the forms the backends need (formatted once, never in a timed loop). */
struct cmp_key {
        uint32_t index;
        char group[32];
        char symbol[32];
        char joined[72]; /* "group/symbol": file names, Redis and SQLite keys */
};

struct cmp_backend {
        const char *name;
        const char *what; /* one line for the table's legend */
        /* Parent, once, before any worker: make what the processes share. NULL skip message
         * on success; else the row is printed as skipped with *skip (never a number). */
        int (*setup)(const char **skip);
        void (*teardown)(void);
        /* In each worker process after fork: its own handle / connection / files. */
        void *(*attach)(int worker);
        void (*detach)(void *ctx);
        /* CMP_WON with *token, CMP_BUSY when another holds it, or a negative error. */
        int (*claim)(void *ctx, const struct cmp_key *k, uint64_t *token);
        int (*activate)(void *ctx, const struct cmp_key *k, uint64_t token, uint64_t ticket);
        /* 0 with the position's ticket (0 when not ACTIVE or never used), or an error. */
        int (*status)(void *ctx, const struct cmp_key *k, uint64_t *ticket);
        int (*release)(void *ctx, const struct cmp_key *k, uint64_t token);
};

extern const struct cmp_backend cmp_raw, cmp_hshm, cmp_mutex, cmp_flock, cmp_fcntl;
#if CMP_HAVE_REDIS
extern const struct cmp_backend cmp_redis, cmp_redis_pinned;
#endif
#if CMP_HAVE_SQLITE
extern const struct cmp_backend cmp_sqlite;
#endif

/* One op's latencies in a timed cycle, ns, the timer's own cost already taken off. */
struct cmp_sample {
        uint32_t claim, activate, status, release;
};

/* A worker's sample buffer (in shared memory, read by the parent after the run). */
struct cmp_samples {
        uint32_t n, stride, countdown;
        struct cmp_sample s[CMP_MAX_SAMPLES];
};

/* Median and 99th percentile of one measure. */
struct cmp_pct {
        double p50, p99;
};

extern const struct cmp_key *cmp_keys; /* CMP_NKEYS positions */
extern uint64_t cmp_timer_ns;          /* median cost of one clock read, subtracted */

uint64_t cmp_now_ns(void);
void cmp_calibrate_timer(void);
void cmp_make_keys(void);
int cmp_online_cpus(int *cpus, int max);
void cmp_pin(int cpu);
void cmp_unpin(const int *cpus, int n);

/* Whether this cycle is timed; keep_sample() stores one and thins a full buffer. */
int cmp_sample_due(struct cmp_samples *b);
void cmp_keep_sample(struct cmp_samples *b, const uint64_t t[5]);
/* Mean ns of an uncontended cycle (claim, activate, release) and of a status, timed in chunks
 * of many operations (batch.c); about budget_s in all. 0 or an error. */
int cmp_batch_means(const struct cmp_backend *b, void *ctx, double budget_s, double *cycle_ns,
                    double *status_ns);

/* Percentiles of field (offsetof in struct cmp_sample, or -1 for claim+activate+release) over
 * the buffers of workers [from, to). */
struct cmp_pct cmp_percentiles(struct cmp_samples *const *bufs, int from, int to, int field);
double cmp_median(double *v, int n);

uint64_t cmp_hash64(const void *key64);
void cmp_pack_key(const struct cmp_key *k, uint64_t out[8]);

char *cmp_make_tmpdir(const char *what);
void cmp_remove_tree(const char *dir);
const char *cmp_fs_name(const char *path);
const char *cmp_find_program(const char *name);

/* What the last failure in this process was, for the parent's message; cmp_fail() sets it and
 * returns err, so a backend writes `return cmp_fail(-EIO, "GET: %s", why);`. */
extern char cmp_detail[160];
int cmp_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Per-process unique tokens for the backends that have no generation of their own. */
uint64_t cmp_next_token(void);

#endif
