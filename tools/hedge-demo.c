/*
 * hedge-demo: the whole system on one host. It creates a segment, starts mt5sim (the
 * simulated terminal: the broker's ledger) and hedge-syncer, and runs bot processes that
 * hedge correlated positions the way the seed describes: check, lock, tag the order, send it
 * through the terminal, then activate on a fill, reset on a rejection, and on an unknown
 * outcome (a lost reply) leave the slot HEDGING and let the syncer's next snapshot decide.
 * Positions close by themselves (stop-loss / take-profit) and the syncer resets their slots.
 *
 * Half-way through, the demo injects faults: lost replies, a stalled feed (the syncer
 * degrades and resets nothing), a disconnected terminal. The summary comes from the broker's
 * own ledger: how many hedges each position had open at once. Duplicates must be 0.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "hedgeshm.h"
#include "launch.h"

#define MAX_BOTS      64
#define MAX_POSITIONS 256
#define GRACE_MS      1000 /* at least the syncer's grace (the library takes the larger) */
#define SYNC_WAIT_MS  15000

struct options {
        const char *name;
        int bots, positions, seconds, faults, verbose;
};

/* What the bots tell the parent, in a shared anonymous mapping. */
struct tally {
        long orders, fills, rejections, unknown, unknown_adopted, unknown_released;
        long unknown_moved_on, unknown_undecided, busy, conflicts, lease_short, bot_errors;
};

static const char *const symbols[] = {"EURUSD.pro", "GBPUSD.pro", "XAUUSD_o",   "#AAPL",
                                      "US30Cash",   "USDJPY.r",   "US500.cash", "XAGUSDm"};

static int64_t now_ms(clockid_t clock)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

        nanosleep(&ts, NULL);
}

static void bump(long *counter)
{
        __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

/* Correlated signals: half the time every bot reacts to the position the current 50 ms tick
 * points at, which is when two bots want the same hedge at once. */
static int signal_position(const struct options *o, unsigned *seed)
{
        if (rand_r(seed) % 2 == 0)
                return (int)(rand_r(seed) % (unsigned)o->positions);
        return (int)((now_ms(CLOCK_MONOTONIC) / 50) % o->positions);
}

/* An order whose reply was lost may have filled. The library decides it from the syncer's
 * passes: once the syncer reconciled a snapshot taken more than the grace after the send, a
 * hedge that opened was adopted (ACTIVE), and a lock still HEDGING had no order at the broker
 * and is released. Undecided until then: the slot stays HEDGING. */
static int settle_unknown(hshm_store *s, struct tally *t, uint64_t token, int64_t sent_ns)
{
        int64_t deadline = now_ms(CLOCK_MONOTONIC) + SYNC_WAIT_MS;

        while (now_ms(CLOCK_MONOTONIC) < deadline) {
                switch (hshm_settle_unknown(s, token, sent_ns, GRACE_MS)) {
                case HSHM_SETTLED_ADOPTED:
                        bump(&t->unknown_adopted);
                        return 0;
                case HSHM_SETTLED_RELEASED:
                        bump(&t->unknown_released);
                        return 0;
                case HSHM_SETTLED_MOVED_ON:
                        /* adopted and closed since, or marked ERROR: not ours to decide */
                        bump(&t->unknown_moved_on);
                        return 0;
                case -EAGAIN:
                        sleep_ms(50);
                        break;
                default:
                        return -1;
                }
        }
        /* Left HEDGING: when its lease runs out, the syncer judges it through the broker. */
        bump(&t->unknown_undecided);
        return 0;
}

/* The protocol sends no order under an expired lease: from its deadline on, the syncer may
 * release the lock. The grace is the margin for the time between this check and the send. */
static int lease_allows_send(hshm_store *s, uint64_t token)
{
        struct hshm_status st;

        return hshm_status_by_token(s, token, &st) == 0 && st.state == HSHM_HEDGING &&
               st.token == token &&
               !hshm_lease_expired(&st, realtime_ns() + GRACE_MS * INT64_C(1000000));
}

static int run_bot(const struct options *o, const char *sock, struct tally *t, int id,
                   int64_t end_ms)
{
        unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)id;
        hshm_store *s;
        ms_conn *c;
        int err;

        if ((err = hshm_open(o->name, 0, &s)) != 0 || (err = ms_connect(sock, &c)) != 0) {
                fprintf(stderr, "bot %d: cannot start: %s\n", id, strerror(-err));
                bump(&t->bot_errors);
                return 1;
        }
        while (now_ms(CLOCK_MONOTONIC) < end_ms) {
                int pos = signal_position(o, &seed);
                const char *hedge = symbols[(pos + 1) % 8];
                char group[16], tag[HSHM_TAG_LEN + 1];
                struct ms_order_result r;
                int64_t sent_ns;
                uint64_t token;
                int out;

                snprintf(group, sizeof(group), "group%d", pos / 8);
                sleep_ms(5 + rand_r(&seed) % 20);
                if (hshm_is_available(s, group, symbols[pos % 8]) != 1) {
                        bump(&t->busy);
                        continue;
                }
                err = hshm_lock(s, group, symbols[pos % 8], &token);
                if (err == -EBUSY) {
                        bump(&t->conflicts);
                        continue;
                }
                if (err != 0 || (err = hshm_tag_format(s, token, tag, sizeof(tag))) != 0)
                        goto fail;
                if (!lease_allows_send(s, token)) {
                        bump(&t->lease_short);
                        /* refused harmlessly if the syncer already released it */
                        hshm_release(s, token);
                        continue;
                }
                bump(&t->orders);
                out = ms_order(c, hedge, pos % 2, 0.1, 7100u + (unsigned)id, tag, &r);
                /* after the call returned: never earlier than the send */
                sent_ns = realtime_ns();
                switch (out) {
                case MS_FILLED:
                        bump(&t->fills);
                        err = hshm_activate(s, token, r.identifier, hedge);
                        /* The syncer may have adopted it first, from a snapshot. */
                        if (err != 0 && err != HSHM_ESTATE)
                                goto fail;
                        break;
                case MS_REJECTED:
                        bump(&t->rejections);
                        if ((err = hshm_reset(s, token)) != 0)
                                goto fail;
                        break;
                case MS_UNKNOWN:
                        bump(&t->unknown);
                        if ((err = settle_unknown(s, t, token, sent_ns)) != 0)
                                goto fail;
                        break;
                default:
                        /* Never sent: nothing happened at the broker. */
                        if ((err = hshm_reset(s, token)) != 0)
                                goto fail;
                }
        }
        ms_disconnect(c);
        hshm_close(s);
        return 0;
fail:
        fprintf(stderr, "bot %d: %s (%s)\n", id, hshm_strerror(err), hshm_last_detail());
        bump(&t->bot_errors);
        return 1;
}

static const char *health_word(enum hshm_sync_health h)
{
        return h == HSHM_SYNC_OK ? "ok" : h == HSHM_SYNC_DEGRADED ? "DEGRADED" : "absent";
}

static void progress(hshm_store *s, ms_conn *c, const struct tally *t, int second, int total)
{
        struct ms_ledger l = {0};
        struct hshm_sync y = {0};
        long open = -1, dup = -1;

        hshm_sync_read(s, &y);
        if (ms_ledger(c, &l) == 0) {
                open = 0;
                for (size_t i = 0; i < l.n_keys; i++)
                        open += l.keys[i].open;
                dup = (long)l.duplicates;
                ms_ledger_free(&l);
        }
        printf("[%3d/%ds] orders %5ld  fills %5ld  open hedges %3ld  syncer %-8s resets %5llu  "
               "adopted %3llu  duplicates %ld\n",
               second, total, __atomic_load_n(&t->orders, __ATOMIC_RELAXED),
               __atomic_load_n(&t->fills, __ATOMIC_RELAXED), open, health_word(y.health),
               (unsigned long long)y.counters.resets_closed,
               (unsigned long long)y.counters.adoptions, dup);
        fflush(stdout);
}

/* The fault schedule, as fractions of the run: lost replies, a stalled feed, a disconnect. */
static void inject(ms_conn *c, int second, int total)
{
        if (second == total / 4) {
                printf("          fault: the next 3 fills lose their replies\n");
                ms_fault(c, MS_FAULT_LOSE_REPLY, 3);
        } else if (second == total / 2) {
                printf("          fault: the terminal stops writing snapshots for 4 s\n");
                ms_fault(c, MS_FAULT_STALL, 4000);
        } else if (second == 3 * total / 4) {
                printf("          fault: the terminal disconnects for 2 s\n");
                ms_fault(c, MS_FAULT_DISCONNECT, 2000);
        }
}

static int summary(hshm_store *s, ms_conn *c, const struct options *o, const struct tally *t)
{
        struct hshm_stats st = {0};
        struct hshm_sync y = {0};
        struct ms_ledger l = {0};
        struct ms_stats ms = {0};
        long unmatched = 0;
        int ok;

        hshm_stats(s, &st);
        hshm_sync_read(s, &y);
        if (ms_ledger(c, &l) != 0 || ms_stats(c, &ms) != 0) {
                fprintf(stderr, "hedge-demo: the terminal did not answer: %s\n", ms_last_reply(c));
                return 1;
        }
        /* Every hedge still open at the broker must be tracked by its slot. */
        for (size_t i = 0; i < l.n_keys; i++) {
                struct hshm_status ss;
                if (l.keys[i].open == 0)
                        continue;
                if (hshm_slot_status(s, l.keys[i].slot, &ss) != 0 ||
                    (ss.state != HSHM_ACTIVE && ss.state != HSHM_ERROR))
                        unmatched++;
        }
        printf("\nsummary (%d bots, %d positions, %d s, segment %s)\n", o->bots, o->positions,
               o->seconds, o->name);
        printf("  orders sent               %ld (filled %ld, rejected %ld, reply lost %ld)\n",
               t->orders, t->fills, t->rejections, t->unknown);
        printf("  lost replies settled      %ld adopted by the syncer, %ld found unfilled, %ld "
               "adopted and closed since, %ld undecided\n",
               t->unknown_adopted, t->unknown_released, t->unknown_moved_on, t->unknown_undecided);
        printf("  hedges closed at broker   %llu (by stop-loss / take-profit)\n",
               (unsigned long long)ms.auto_closes);
        printf("  slots reset by syncer     %llu\n", (unsigned long long)y.counters.resets_closed);
        printf("  adoptions by syncer       %llu\n", (unsigned long long)y.counters.adoptions);
        printf("  slots marked ERROR        %llu\n", (unsigned long long)st.errors);
        printf("  locks won / conflicts     %llu / %llu (busy when checked: %ld, lease too short "
               "to send: %ld)\n",
               (unsigned long long)st.locks_won, (unsigned long long)st.lock_conflicts, t->busy,
               t->lease_short);
        printf("  snapshots ok / rejected   %llu / %llu\n",
               (unsigned long long)y.counters.snapshots_ok,
               (unsigned long long)y.counters.snapshots_rejected);
        printf("  open hedges not tracked   %ld\n", unmatched);
        printf("  duplicate hedges          %llu\n", (unsigned long long)l.duplicates);
        ok = l.duplicates == 0 && unmatched == 0 && t->bot_errors == 0;
        ms_ledger_free(&l);
        return ok ? 0 : 1;
}

static void usage(FILE *to)
{
        fprintf(to, "usage: hedge-demo [--name /NAME] [--bots N] [--positions N] [--seconds S] "
                    "[--no-faults] [--verbose]\n\n"
                    "Creates a segment, starts mt5sim and hedge-syncer, runs N bots hedging\n"
                    "correlated positions through the simulated terminal for S seconds (default 6\n"
                    "bots, 16 positions, 20 s), injects faults half-way (lost replies, a stalled\n"
                    "feed, a disconnect), and ends with a summary from the broker's ledger.\n"
                    "hedge-syncer logs to a file, kept (and its path printed) only when the run\n"
                    "fails; --verbose sends its log to the terminal instead.\n\n"
                    "exit codes: 0 done, no duplicate and no untracked hedge; 1 a duplicate, an\n"
                    "untracked hedge or a bot error; 2 usage error; 3 store or startup error\n");
}

static int parse_int(const char *text, int lo, int hi, int *out)
{
        long v;

        if (launch_parse_long(text, lo, hi, &v) != 0)
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
                                              {"no-faults", no_argument, NULL, 'f'},
                                              {"verbose", no_argument, NULL, 'v'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
        int c, bad = 0;

        snprintf(name_buf, len, "/hedgeshm-demo-%d", (int)getpid());
        *o = (struct options){
            .name = name_buf, .bots = 6, .positions = 16, .seconds = 20, .faults = 1};
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
                        bad |= parse_int(optarg, 4, 3600, &o->seconds);
                        break;
                case 'f':
                        o->faults = 0;
                        break;
                case 'v':
                        o->verbose = 1;
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
                        "seconds 4..3600)\n",
                        MAX_BOTS, MAX_POSITIONS);
                usage(stderr);
                return -1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        char name_buf[64], dir[] = "/tmp/hedge-demo-XXXXXX", sock[128], snap[128], log[128];
        char sim_path[PATH_MAX], syncer_path[PATH_MAX];
        pid_t sim, syncer, bots[MAX_BOTS];
        struct options o;
        struct tally *t;
        hshm_store *s = NULL;
        ms_conn *c = NULL;
        int err, rc = 3, nbots = 0;
        int64_t end;

        if (parse_args(argc, argv, &o, name_buf, sizeof(name_buf)) != 0)
                return 2;
        signal(SIGPIPE, SIG_IGN);
        if (mkdtemp(dir) == NULL) {
                perror("hedge-demo: mkdtemp");
                return 3;
        }
        snprintf(sock, sizeof(sock), "%s/mt5sim.sock", dir);
        snprintf(snap, sizeof(snap), "%s/positions.snap", dir);
        snprintf(log, sizeof(log), "%s/hedge-syncer.log", dir);
        launch_find_program(sim_path, sizeof(sim_path), (const char *[]){"mt5sim", "mt5sim/mt5sim", NULL});
        launch_find_program(syncer_path, sizeof(syncer_path),
                            (const char *[]){"hedge-syncer", "syncer/hedge-syncer", NULL});
        err = hshm_create(o.name, &(struct hshm_create_opts){.capacity = 1024});
        if (err == 0)
                err = hshm_open(o.name, 0, &s);
        if (err != 0) {
                fprintf(stderr, "hedge-demo: %s: %s\n", hshm_strerror(err), hshm_last_detail());
                rmdir(dir);
                return err == -EINVAL ? 2 : 3;
        }
        t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        sim = launch_spawn((const char *[]){sim_path, "--socket", sock, "--snapshot", snap,
                                     "--interval-ms", "50", "--min-life-ms", "500", "--max-life-ms",
                                     "2500", "--reject-percent", "5", NULL},
                    NULL);
        if (t == MAP_FAILED || launch_wait_mt5sim(sock, sim, 5000) != 0 || ms_connect(sock, &c) != 0) {
                fprintf(stderr, "hedge-demo: mt5sim did not start (%s)\n", sim_path);
                goto out;
        }
        syncer = launch_spawn((const char *[]){syncer_path, "--name", o.name, "--snapshot", snap,
                                        "--interval-ms", "100", NULL},
                       o.verbose ? NULL : log);
        printf("hedge-demo: segment %s, mt5sim pid %d, hedge-syncer pid %d, %d bots on %d "
               "positions for %d s\n",
               o.name, (int)sim, (int)syncer, o.bots, o.positions, o.seconds);
        end = now_ms(CLOCK_MONOTONIC) + o.seconds * 1000L;
        for (; nbots < o.bots; nbots++) {
                bots[nbots] = fork();
                if (bots[nbots] == 0)
                        _exit(run_bot(&o, sock, t, nbots, end));
        }
        for (int second = 1; now_ms(CLOCK_MONOTONIC) < end; second++) {
                sleep_ms(1000);
                if (o.faults)
                        inject(c, second, o.seconds);
                progress(s, c, t, second, o.seconds);
        }
        for (int i = 0; i < nbots; i++) {
                int status;
                waitpid(bots[i], &status, 0);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        bump(&t->bot_errors);
        }
        /* One more second for the syncer to see the last fills in a snapshot. */
        sleep_ms(1000);
        rc = summary(s, c, &o, t);
        kill(syncer, SIGTERM);
        waitpid(syncer, NULL, 0);
out:
        if (c != NULL)
                ms_quit(c);
        ms_disconnect(c);
        kill(sim, SIGTERM);
        waitpid(sim, NULL, 0);
        hshm_close(s);
        hshm_destroy(o.name);
        unlink(snap);
        /* The syncer's log is kept when something went wrong, to read why. */
        if (rc != 0 && !o.verbose)
                printf("  hedge-syncer's log        %s\n", log);
        else
                unlink(log);
        rmdir(dir);
        return rc;
}
