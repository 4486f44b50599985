/*
 * hedge-demo: several bot processes hedging correlated positions through one segment, the
 * way the seed's tracker is used (check, lock, place the order, activate or reset), against
 * a small in-memory broker that keeps its own ledger. The ledger, not the library, says
 * whether any position ever had two open hedges: that is the number the demo ends with.
 *
 * The broker lives in an anonymous shared mapping beside the segment: per position the
 * number of open hedges (incremented when an order fills, decremented when it closes), and
 * the highest number ever seen. Orders fail now and then, as real ones do.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hedgeshm.h"

#define MAX_BOTS       64
#define MAX_POSITIONS  256
#define REJECT_PERCENT 10

struct ledger {
        long open[MAX_POSITIONS];
        long peak[MAX_POSITIONS];
        long orders;
        long rejected;
        long closed;
        long duplicates;
        long bot_errors;
        long busy_seen;
};

struct options {
        const char *name;
        int bots;
        int positions;
        int seconds;
};

static const char *const symbols[] = {"EURUSD.pro", "GBPUSD.pro", "XAUUSD_o",   "#AAPL",
                                      "US30Cash",   "USDJPY.r",   "US500.cash", "XAGUSDm"};

static void position_key(int pos, char *group, size_t glen, const char **symbol)
{
        snprintf(group, glen, "group%d", pos / 8);
        *symbol = symbols[pos % 8];
}

static void pause_us(long us)
{
        struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

        nanosleep(&ts, NULL);
}

/* The broker's side of an order: a fill opens a hedge on the position's ledger line. */
static int place_order(struct ledger *l, int pos, unsigned *seed)
{
        long open;

        __atomic_add_fetch(&l->orders, 1, __ATOMIC_RELAXED);
        pause_us(1000 + rand_r(seed) % 2000); /* the round trip to the trade server */
        if ((int)(rand_r(seed) % 100) < REJECT_PERCENT) {
                __atomic_add_fetch(&l->rejected, 1, __ATOMIC_RELAXED);
                return 0;
        }
        open = __atomic_add_fetch(&l->open[pos], 1, __ATOMIC_SEQ_CST);
        if (open > 1)
                __atomic_add_fetch(&l->duplicates, 1, __ATOMIC_SEQ_CST);
        long peak = __atomic_load_n(&l->peak[pos], __ATOMIC_RELAXED);
        while (open > peak && !__atomic_compare_exchange_n(&l->peak[pos], &peak, open, 0,
                                                           __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                ;
        return 1;
}

static void close_hedge(struct ledger *l, int pos)
{
        __atomic_sub_fetch(&l->open[pos], 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&l->closed, 1, __ATOMIC_RELAXED);
}

struct holding {
        int pos;
        uint64_t token;
        struct timespec until;
};

static int past(const struct timespec *t)
{
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void later(struct timespec *t, long ms)
{
        clock_gettime(CLOCK_MONOTONIC, t);
        t->tv_sec += ms / 1000;
        t->tv_nsec += (ms % 1000) * 1000000;
        if (t->tv_nsec >= 1000000000) {
                t->tv_sec++;
                t->tv_nsec -= 1000000000;
        }
}

static int fail(struct ledger *l, const char *what, int err)
{
        fprintf(stderr, "bot %d: %s: %s (%s)\n", (int)getpid(), what, hshm_strerror(err),
                hshm_last_detail());
        __atomic_add_fetch(&l->bot_errors, 1, __ATOMIC_RELAXED);
        return 1;
}

/* Correlated signals: half the time every bot reacts to the same position at the same
 * moment (the one the current 20 ms tick points at), which is when duplicates happen. */
static int signal_position(const struct options *o, unsigned *seed)
{
        struct timespec now;

        if (rand_r(seed) % 2 == 0)
                return (int)(rand_r(seed) % (unsigned)o->positions);
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int)((now.tv_sec * 50 + now.tv_nsec / 20000000) % o->positions);
}

/* One bot: the seed's usage example in a loop, plus closing its hedges when they are done. */
static int run_bot(const struct options *o, struct ledger *l, int id, const struct timespec *end)
{
        struct holding held[MAX_POSITIONS];
        int nheld = 0, err;
        unsigned seed = (unsigned)(getpid() * 2654435761u) ^ (unsigned)id;
        hshm_store *store;

        err = hshm_open(o->name, 0, &store);
        if (err != 0)
                return fail(l, "attach", err);
        while (!past(end)) {
                int pos = signal_position(o, &seed);
                const char *symbol;
                char group[16];
                uint64_t token;

                position_key(pos, group, sizeof(group), &symbol);
                err = hshm_is_available(store, group, symbol);
                if (err == 0)
                        __atomic_add_fetch(&l->busy_seen, 1, __ATOMIC_RELAXED);
                if (err == 1 && hshm_lock(store, group, symbol, &token) == 0) {
                        if (place_order(l, pos, &seed)) {
                                err = hshm_activate(store, token, 1000000u + (uint64_t)pos,
                                                    symbols[(pos + 1) % 8]);
                                if (err != 0)
                                        return fail(l, "activate", err);
                                held[nheld].pos = pos;
                                held[nheld].token = token;
                                later(&held[nheld].until, 5 + rand_r(&seed) % 40);
                                nheld++;
                        } else if ((err = hshm_reset(store, token)) != 0) {
                                return fail(l, "reset after a rejected order", err);
                        }
                }
                /* Hedges close at the broker first; only then is the position free again. */
                for (int i = 0; i < nheld;) {
                        if (!past(&held[i].until)) {
                                i++;
                                continue;
                        }
                        close_hedge(l, held[i].pos);
                        err = hshm_reset(store, held[i].token);
                        if (err != 0)
                                return fail(l, "reset after close", err);
                        held[i] = held[--nheld];
                }
                pause_us(200 + rand_r(&seed) % 800);
        }
        while (nheld > 0) {
                nheld--;
                close_hedge(l, held[nheld].pos);
                err = hshm_reset(store, held[nheld].token);
                if (err != 0)
                        return fail(l, "reset at the end", err);
        }
        hshm_close(store);
        return 0;
}

static void usage(FILE *to)
{
        fprintf(to, "usage: hedge-demo [--name /NAME] [--bots N] [--positions N] [--seconds S]\n"
                    "\n"
                    "Runs N bot processes that hedge positions through a fresh segment, prints\n"
                    "progress, and ends with the broker's own count of duplicate hedges.\n"
                    "The segment (default /hedgeshm-demo-PID) is created and removed by the demo.\n"
                    "\n"
                    "exit codes: 0 done, no duplicates; 1 duplicates or bot errors found;\n"
                    "            2 usage error; 3 store error\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
                return -1;
        *out = (int)v;
        return 0;
}

static int parse_args(int argc, char **argv, struct options *o, char *name_buf, size_t len)
{
        static const struct option longs[] = {{"name", required_argument, NULL, 'n'},
                                              {"bots", required_argument, NULL, 'b'},
                                              {"positions", required_argument, NULL, 'p'},
                                              {"seconds", required_argument, NULL, 's'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
        int c, bad = 0;

        snprintf(name_buf, len, "/hedgeshm-demo-%d", (int)getpid());
        *o = (struct options){.name = name_buf, .bots = 6, .positions = 12, .seconds = 10};
        while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
                switch (c) {
                case 'n':
                        o->name = optarg;
                        break;
                case 'b':
                        bad |= parse_int(optarg, 1, MAX_BOTS, &o->bots);
                        break;
                case 'p':
                        bad |= parse_int(optarg, 1, MAX_POSITIONS, &o->positions);
                        break;
                case 's':
                        bad |= parse_int(optarg, 1, 3600, &o->seconds);
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        bad = 1;
                }
        }
        if (bad || optind != argc) {
                fprintf(stderr,
                        "hedge-demo: bad arguments (bots 1..%d, positions 1..%d, "
                        "seconds 1..3600)\n",
                        MAX_BOTS, MAX_POSITIONS);
                usage(stderr);
                return -1;
        }
        return 0;
}

static void progress(hshm_store *store, const struct ledger *l, int elapsed, int total)
{
        struct hshm_stats st;
        long open = 0;

        hshm_stats(store, &st);
        for (int i = 0; i < MAX_POSITIONS; i++)
                open += __atomic_load_n(&l->open[i], __ATOMIC_RELAXED);
        printf("%s[%3d/%ds] locks won %6llu  conflicts %6llu  open hedges %3ld  orders %6ld  "
               "duplicates %ld ",
               isatty(STDOUT_FILENO) ? "\r" : "\n", elapsed, total,
               (unsigned long long)st.locks_won, (unsigned long long)st.lock_conflicts, open,
               __atomic_load_n(&l->orders, __ATOMIC_RELAXED),
               __atomic_load_n(&l->duplicates, __ATOMIC_RELAXED));
        fflush(stdout);
}

static int summary(hshm_store *store, const struct options *o, const struct ledger *l,
                   int failed_bots)
{
        struct hshm_stats st;
        long peak = 0;
        int consistent;

        hshm_stats(store, &st);
        for (int i = 0; i < o->positions; i++)
                peak = l->peak[i] > peak ? l->peak[i] : peak;
        consistent =
            st.locks_won == st.resets && st.activations == (uint64_t)(l->orders - l->rejected);
        printf("\n\nsummary (%d bots, %d positions, %d s, segment %s)\n", o->bots, o->positions,
               o->seconds, o->name);
        printf("  orders placed            %ld (%ld rejected by the broker, slot reset)\n",
               l->orders, l->rejected);
        printf("  hedges opened / closed   %llu / %ld\n", (unsigned long long)st.activations,
               l->closed);
        printf("  locks won / conflicts    %llu / %llu\n", (unsigned long long)st.locks_won,
               (unsigned long long)st.lock_conflicts);
        printf("  busy when checked        %ld (position already hedging or active)\n",
               l->busy_seen);
        printf("  stale-token refusals     %llu\n", (unsigned long long)st.stale_refusals);
        printf("  counters agree w/ broker %s\n", consistent ? "yes" : "NO");
        printf("  most hedges open at once on one position: %ld\n", peak);
        printf("  duplicate hedges         %ld\n", l->duplicates);
        return l->duplicates == 0 && consistent && failed_bots == 0 && l->bot_errors == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
        char name_buf[64];
        struct options o;
        struct ledger *l;
        struct timespec end;
        hshm_store *store;
        pid_t pids[MAX_BOTS];
        int err, failed = 0, rc;

        if (parse_args(argc, argv, &o, name_buf, sizeof(name_buf)) != 0)
                return 2;
        err = hshm_create(o.name, &(struct hshm_create_opts){.capacity = 1024, .gid = (gid_t)-1});
        if (err == 0)
                err = hshm_open(o.name, 0, &store);
        if (err != 0) {
                fprintf(stderr, "hedge-demo: %s: %s\n", hshm_strerror(err), hshm_last_detail());
                return err == -EINVAL ? 2 : 3;
        }
        l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (l == MAP_FAILED) {
                perror("hedge-demo: mmap");
                hshm_destroy(o.name);
                return 3;
        }
        later(&end, o.seconds * 1000L);
        for (int i = 0; i < o.bots; i++) {
                pids[i] = fork();
                if (pids[i] == 0)
                        _exit(run_bot(&o, l, i, &end));
                if (pids[i] < 0) {
                        perror("hedge-demo: fork");
                        o.bots = i;
                        break;
                }
        }
        printf("hedge-demo: %d bots hedging %d positions for %d s on %s\n", o.bots, o.positions,
               o.seconds, o.name);
        for (int t = 0; !past(&end); t++) {
                pause_us(1000000);
                progress(store, l, t + 1, o.seconds);
        }
        for (int i = 0; i < o.bots; i++) {
                int status;
                waitpid(pids[i], &status, 0);
                failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        }
        progress(store, l, o.seconds, o.seconds);
        rc = summary(store, &o, l, failed);
        hshm_close(store);
        hshm_destroy(o.name);
        return rc;
}
