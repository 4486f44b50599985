/*
 * bench-core: what hedgeshm costs next to the hardware it is built on, measured in one run.
 *
 * Every library figure is divided by a raw baseline taken in the same process moments
 * before, so the ratios hold on any machine even where the absolute numbers do not:
 *
 *   raw CAS cycle   three dependent compare-and-swaps on one 64-bit word of a shared line
 *                   (MAP_SHARED): the least a lock + activate + reset made of three CAS costs
 *   raw load+hash   pack a (group, symbol) key into 64 bytes, hash it, load the word of the
 *                   shared line the hash selects: the least a lookup by key costs
 *
 * and the library's lock + activate + reset, status and is_available by key, single process,
 * then two processes pinned to different CPUs contending for one key, against two processes
 * running raw CAS cycles on one line. Each figure is the median of several repetitions after
 * a warm-up. Targets are printed with PASS/MISS, but nothing here fails on a timing: the
 * exit status is 0 unless the library returns an error.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/arch.h>
#include <urcu/uatomic.h>

#include "hedgeshm.h"

#define LINE      64
#define TABLE     64 /* shared lines the raw lookup hashes into */
#define MAX_REPS  9
#define MAX_CPUS  2
#define KEY_WORDS 8

#define GROUP  "bench"
#define SYMBOL "EURUSD.pro"
#define HEDGE  "EURUSD.h"

/* Hide a value from the optimiser, so work on constant keys is not hoisted out of loops. */
#define LAUNDER(x) __asm__ volatile("" : "+r"(x))

struct line {
        uint64_t word;
        uint64_t pad[LINE / 8 - 1];
} __attribute__((aligned(LINE)));

/* Shared with the contending children; each writer's fields on a line of its own. */
struct shared {
        struct line cas;          /* the raw contended word */
        struct line table[TABLE]; /* raw lookup targets */
        struct line stop;         /* set by the parent to end a timed run */
        pthread_barrier_t start;
        struct result {
                uint64_t attempts, wins, conflicts, elapsed_ns;
                int error;
        } __attribute__((aligned(LINE))) child[MAX_CPUS];
};

static struct {
        int reps;
        long cas_iters, lookup_iters, cycle_iters, status_iters;
        int contend_ms;
} cfg;

static struct shared *sh;
static const char *segment;
static int cpus[MAX_CPUS], ncpus;
static volatile uint64_t sink;

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static double median(double *v, int n)
{
        qsort(v, (size_t)n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, int err)
{
        fprintf(stderr, "bench-core: %s: %s (%d) %s\n", what, hshm_strerror(err), err,
                hshm_last_detail());
        if (segment)
                hshm_destroy(segment);
        exit(1);
}

/* 64 x 64 -> 128-bit multiply, folded: one multiply mixes 128 bits of input. */
static uint64_t fold_mul(uint64_t a, uint64_t b)
{
        unsigned __int128 r = (unsigned __int128)a * b;

        return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/*
 * The raw stand-in for the library's key hash, and deliberately a fast one, so the ratios
 * err against the library: each 16-byte quarter of the key is masked with its own constant
 * and folded by one wide multiply, the four independently (they overlap in the pipeline),
 * and one more multiply mixes their sum.
 */
static uint64_t raw_hash(const uint64_t key[KEY_WORDS])
{
        static const uint64_t k[KEY_WORDS + 1] = {
            UINT64_C(0x243F6A8885A308D3), UINT64_C(0x13198A2E03707345),
            UINT64_C(0xA4093822299F31D1), UINT64_C(0x082EFA98EC4E6C89),
            UINT64_C(0x452821E638D01377), UINT64_C(0xBE5466CF34E90C6D),
            UINT64_C(0xC0AC29B7C97C50DD), UINT64_C(0x3F84D5B5B5470917),
            UINT64_C(0x9216D5D98979FB1B),
        };
        uint64_t h = 0;

        for (int i = 0; i < KEY_WORDS; i += 2)
                h += fold_mul(key[i] ^ k[i], key[i + 1] ^ k[i + 1]);
        return fold_mul(h ^ k[KEY_WORDS], h);
}

static void raw_pack(const char *group, const char *symbol, uint64_t key[KEY_WORDS])
{
        memset(key, 0, KEY_WORDS * 8);
        memcpy(key, group, strnlen(group, 31));
        memcpy((char *)key + 32, symbol, strnlen(symbol, 31));
}

/* One raw cycle: AVAILABLE -> HEDGING -> ACTIVE -> AVAILABLE, generation + 1 each time, as
 * the library's state word moves. Returns 0 if another process changed the word first. */
static int raw_cycle(uint64_t *word, uint64_t w)
{
        uint64_t gen = w >> 20, h = (gen + 1) << 20 | 1, a = (gen + 2) << 20 | 2;

        if ((w & 3) != 0 || uatomic_cmpxchg(word, w, h) != w)
                return 0;
        uatomic_cmpxchg(word, h, a);
        uatomic_cmpxchg(word, a, (gen + 3) << 20);
        return 1;
}

static double time_raw_cas(long n)
{
        uint64_t *word = &sh->cas.word, t0 = now_ns();

        for (long i = 0; i < n; i++)
                raw_cycle(word, uatomic_read(word));
        return (double)(now_ns() - t0) / (double)n;
}

static double time_raw_lookup(long n)
{
        const char *group = GROUP, *symbol = SYMBOL;
        uint64_t key[KEY_WORDS], acc = 0, t0 = now_ns();

        for (long i = 0; i < n; i++) {
                LAUNDER(group);
                LAUNDER(symbol);
                raw_pack(group, symbol, key);
                acc += uatomic_read(&sh->table[raw_hash(key) % TABLE].word);
        }
        sink = acc;
        return (double)(now_ns() - t0) / (double)n;
}

/* Bring the CPU out of any low-power state before the first figure is taken. */
static void warm_up(int ms)
{
        uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

        while (now_ns() < end)
                time_raw_cas(10000);
}

static double time_cycle(hshm_store *store, long n)
{
        uint64_t t0 = now_ns();

        for (long i = 0; i < n; i++) {
                uint64_t token;
                int rc = hshm_lock(store, GROUP, SYMBOL, &token);

                if (rc != 0)
                        die("hshm_lock", rc);
                if ((rc = hshm_activate(store, token, (uint64_t)i + 1, HEDGE)) != 0)
                        die("hshm_activate", rc);
                if ((rc = hshm_reset(store, token)) != 0)
                        die("hshm_reset", rc);
        }
        return (double)(now_ns() - t0) / (double)n;
}

static double time_status(hshm_store *store, long n)
{
        struct hshm_status st;
        uint64_t acc = 0, t0 = now_ns();

        for (long i = 0; i < n; i++) {
                int rc = hshm_status(store, GROUP, SYMBOL, &st);

                if (rc != 0)
                        die("hshm_status", rc);
                acc += st.generation;
        }
        sink = acc;
        return (double)(now_ns() - t0) / (double)n;
}

static double time_available(hshm_store *store, long n)
{
        uint64_t acc = 0, t0 = now_ns();

        for (long i = 0; i < n; i++) {
                int rc = hshm_is_available(store, GROUP, SYMBOL);

                if (rc < 0)
                        die("hshm_is_available", rc);
                acc += (uint64_t)rc;
        }
        sink = acc;
        return (double)(now_ns() - t0) / (double)n;
}

/* Warm up once, then the median of cfg.reps timed runs. */
static double measure(double (*fn)(hshm_store *, long), hshm_store *store, long n)
{
        double v[MAX_REPS];

        fn(store, n / 10 + 1);
        for (int r = 0; r < cfg.reps; r++)
                v[r] = fn(store, n);
        return median(v, cfg.reps);
}

static double raw_cas_fn(hshm_store *store, long n)
{
        (void)store;
        return time_raw_cas(n);
}

static double raw_lookup_fn(hshm_store *store, long n)
{
        (void)store;
        return time_raw_lookup(n);
}

static void pin(int cpu)
{
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
}

/* A contending child: attempts until the parent says stop, counting what happened. */
static int contender(int index, int raw)
{
        struct result *res = &sh->child[index];
        hshm_store *store = NULL;
        uint64_t t0, attempts = 0, wins = 0, conflicts = 0;
        int rc = 0;

        if (ncpus > 1)
                pin(cpus[index % ncpus]);
        if (!raw && (rc = hshm_open(segment, 0, &store)) != 0) {
                res->error = rc;
                pthread_barrier_wait(&sh->start);
                return 1;
        }
        pthread_barrier_wait(&sh->start);
        t0 = now_ns();
        while (!uatomic_read(&sh->stop.word)) {
                int won;

                attempts++;
                if (raw) {
                        won = raw_cycle(&sh->cas.word, uatomic_read(&sh->cas.word));
                } else {
                        uint64_t token;

                        rc = hshm_lock(store, GROUP, SYMBOL, &token);
                        won = rc == 0;
                        if (won && ((rc = hshm_activate(store, token, attempts + 1, HEDGE)) != 0 ||
                                    (rc = hshm_reset(store, token)) != 0))
                                break;
                        if (!won && rc != -EBUSY && rc != -EAGAIN)
                                break;
                        rc = 0;
                }
                wins += (uint64_t)won;
                conflicts += (uint64_t)!won;
        }
        res->elapsed_ns = now_ns() - t0;
        res->attempts = attempts;
        res->wins = wins;
        res->conflicts = conflicts;
        res->error = rc;
        hshm_close(store);
        return rc != 0;
}

struct contended {
        double ns_per_attempt, ns_per_win, wins_per_s;
        uint64_t wins, conflicts;
};

/* One timed run of two contending processes. */
static struct contended contend_once(int raw)
{
        struct contended c = {0};
        uint64_t elapsed = 0;
        pid_t pids[2];

        memset(sh->child, 0, sizeof(sh->child));
        uatomic_set(&sh->stop.word, 0);
        fflush(stdout);
        for (int i = 0; i < 2; i++) {
                pids[i] = fork();
                if (pids[i] == 0)
                        _exit(contender(i, raw));
                if (pids[i] < 0) {
                        perror("bench-core: fork");
                        exit(1);
                }
        }
        pthread_barrier_wait(&sh->start);
        usleep((useconds_t)cfg.contend_ms * 1000);
        uatomic_set(&sh->stop.word, 1);
        for (int i = 0; i < 2; i++) {
                int status;

                waitpid(pids[i], &status, 0);
                if (sh->child[i].error)
                        die(raw ? "raw contender" : "hedgeshm contender", sh->child[i].error);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        fprintf(stderr, "bench-core: contender %d failed\n", i);
                        exit(1);
                }
                c.wins += sh->child[i].wins;
                c.conflicts += sh->child[i].conflicts;
                if (sh->child[i].elapsed_ns > elapsed)
                        elapsed = sh->child[i].elapsed_ns;
                c.ns_per_attempt += (double)sh->child[i].elapsed_ns /
                                    (double)(sh->child[i].attempts ? sh->child[i].attempts : 1) / 2;
        }
        c.ns_per_win = (double)elapsed / (double)(c.wins ? c.wins : 1);
        c.wins_per_s = (double)c.wins * 1e9 / (double)elapsed;
        return c;
}

/* Median run (by ns per successful cycle) of cfg.reps, after one warm-up run. */
static struct contended contend(int raw)
{
        struct contended runs[MAX_REPS];
        double key[MAX_REPS], med;

        contend_once(raw);
        for (int r = 0; r < cfg.reps; r++) {
                runs[r] = contend_once(raw);
                key[r] = runs[r].ns_per_win;
        }
        med = median(key, cfg.reps);
        for (int r = 0; r < cfg.reps; r++)
                if (runs[r].ns_per_win == med)
                        return runs[r];
        return runs[0]; /* even count: no run is the median itself; any is close */
}

/* One line of the table; a raw figure has no baseline. */
static void row(const char *op, double ns, const char *base, double base_ns, double target)
{
        if (!base) {
                printf("%-38s %9.1f   %-20s %7s %7s  %s\n", op, ns, "-", "-", "-", "-");
                return;
        }
        printf("%-38s %9.1f   %-20s %6.2fx %5.0fx   %s\n", op, ns, base, ns / base_ns, target,
               ns / base_ns <= target ? "PASS" : "MISS");
}

static void find_cpus(void)
{
        cpu_set_t set;

        ncpus = 0;
        if (sched_getaffinity(0, sizeof(set), &set) != 0)
                return;
        for (int c = 0; c < CPU_SETSIZE && ncpus < MAX_CPUS; c++)
                if (CPU_ISSET(c, &set))
                        cpus[ncpus++] = c;
}

int main(int argc, char **argv)
{
        static char name[64];
        pthread_barrierattr_t attr;
        struct hshm_create_opts opts = {.capacity = 64, .gid = (gid_t)-1};
        struct contended raw2, lib2;
        double cas, lookup, cycle, status, avail;
        hshm_store *store;
        int quick = argc > 1 && strcmp(argv[1], "--quick") == 0, rc;

        if (argc > 2 || (argc == 2 && !quick)) {
                fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
                return 2;
        }
        cfg.reps = quick ? 3 : 7;
        cfg.cas_iters = quick ? 1000000 : 5000000;
        cfg.lookup_iters = quick ? 500000 : 3000000;
        cfg.cycle_iters = quick ? 100000 : 1000000;
        cfg.status_iters = quick ? 200000 : 2000000;
        cfg.contend_ms = quick ? 50 : 250;

        sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED) {
                perror("bench-core: mmap");
                return 1;
        }
        pthread_barrierattr_init(&attr);
        pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        pthread_barrier_init(&sh->start, &attr, 3);
        snprintf(name, sizeof(name), "/hshm-bench-%d", (int)getpid());
        if ((rc = hshm_create(name, &opts)) != 0)
                die("hshm_create", rc);
        segment = name;
        if ((rc = hshm_open(segment, 0, &store)) != 0)
                die("hshm_open", rc);
        find_cpus();
        /* Single-process figures on one CPU: no migration in the middle of a run. */
        if (ncpus > 0)
                pin(cpus[0]);

        warm_up(quick ? 50 : 200);
        cas = measure(raw_cas_fn, NULL, cfg.cas_iters);
        lookup = measure(raw_lookup_fn, NULL, cfg.lookup_iters);
        cycle = measure(time_cycle, store, cfg.cycle_iters);
        status = measure(time_status, store, cfg.status_iters);
        avail = measure(time_available, store, cfg.status_iters);
        hshm_close(store);
        /* Children choose their own CPUs; undo the parent's pin first so they may. */
        if (ncpus > 1) {
                cpu_set_t set;

                CPU_ZERO(&set);
                for (int i = 0; i < ncpus; i++)
                        CPU_SET(cpus[i], &set);
                sched_setaffinity(0, sizeof(set), &set);
        }
        raw2 = contend(1);
        lib2 = contend(0);

        printf("hedgeshm core benchmark (%s): median of %d runs, ns per operation\n",
               quick ? "quick" : "full", cfg.reps);
        printf("%-38s %9s   %-20s %7s %7s  %s\n", "operation", "ns/op", "baseline", "ratio",
               "target", "result");
        row("raw: 3 x CAS cycle (shared line)", cas, NULL, 0, 0);
        row("raw: load + hash (group, symbol)", lookup, NULL, 0, 0);
        row("hshm: lock+activate+reset by key", cycle, "raw 3 x CAS", cas, 4);
        row("hshm: status by key", status, "raw load + hash", lookup, 3);
        row("hshm: is_available by key", avail, "raw load + hash", lookup, 3);
        row("2 procs raw: ns per successful cycle", raw2.ns_per_win, NULL, 0, 0);
        row("2 procs hshm: ns per successful cycle", lib2.ns_per_win, "2 procs raw",
            raw2.ns_per_win, 4);
        printf("\ntwo processes contending for one key (%s, %d ms per run):\n",
               ncpus > 1 ? "pinned to two CPUs" : "one CPU only: time-sliced, not concurrent",
               cfg.contend_ms);
        printf("%-8s %14s %12s %12s %14s\n", "", "ns/attempt", "wins", "conflicts", "cycles/s");
        printf("%-8s %14.1f %12llu %12llu %14.0f\n", "raw", raw2.ns_per_attempt,
               (unsigned long long)raw2.wins, (unsigned long long)raw2.conflicts, raw2.wins_per_s);
        printf("%-8s %14.1f %12llu %12llu %14.0f\n", "hedgeshm", lib2.ns_per_attempt,
               (unsigned long long)lib2.wins, (unsigned long long)lib2.conflicts, lib2.wins_per_s);
        printf("hedgeshm reaches %.0f%% of the raw cycle throughput under contention\n",
               100.0 * lib2.wins_per_s / raw2.wins_per_s);
        hshm_destroy(segment);
        return 0;
}
