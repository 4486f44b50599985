/*
 * chaos: the crash-safety test of issue 4. Bot processes hedge through the real library
 * against mt5sim (the broker) while hedge-syncer reconciles, and everything that can die
 * does: a killer sends SIGKILL to random bots at random moments, bots kill themselves at the
 * named points of the protocol (after the lock, after the order, inside activate, inside
 * reset), the syncer is killed and restarted, the feed stalls and disconnects, and fills
 * lose their replies. Killed bots are replaced, so the chaos never thins out.
 *
 * Then the bots and the faults stop, the syncer gets lease + grace + two intervals and a
 * margin on a healthy feed, and audit.c checks the broker's ledger and positions against
 * the segment. docs/chaos.md says what each check means. Exit 0: no violation; 1: a
 * violation (each printed with its check's number); 2: usage; 3: the run could not start.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chaos.h"
#include "launch.h"

/* What the settle adds to lease + grace + two intervals: a loaded CI host's scheduling. */
#define SETTLE_MARGIN_MS 1500

struct run {
        struct chaos_opts o;
        struct chaos_tally *t;
        hshm_store *s;
        ms_conn *c;
        pid_t sim, syncer;
        int stopping;       /* bots told to stop: a SIGKILL now is the stop's */
        unsigned rng;       /* the conductor's choices */
        int64_t start, end; /* CLOCK_MONOTONIC ms */
        int64_t next_kill, next_fault, next_syncer_kill, syncer_back_at, next_audit, next_report;
        long bots_started, bot_failures, killed[KILL_KINDS];
        long syncer_restarts, stalls, disconnects, lose_reply, hangups;
        struct chaos_audit audit;
};

static const char *const kill_names[KILL_KINDS] = {
    "random", "after lock", "after send", "during activate", "during reset", "at the stop"};

static int between(struct run *r, int lo, int hi)
{
        return lo + (int)((unsigned)rand_r(&r->rng) % (unsigned)(hi - lo + 1));
}

static void start_bot(struct run *r, int cell)
{
        unsigned seed = r->o.seed * 2654435761u + (unsigned)r->bots_started;
        pid_t pid;

        r->t->cell[cell] = (struct chaos_bot_cell){0};
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid == 0)
                _exit(chaos_bot(&r->o, r->t, cell, seed));
        if (pid < 0) {
                perror("chaos: fork");
                return;
        }
        r->t->cell[cell].pid = pid;
        r->bots_started++;
}

static int cell_of(const struct run *r, pid_t pid)
{
        for (int i = 0; i < r->o.bots; i++)
                if (r->t->cell[i].pid == pid)
                        return i;
        return -1;
}

static void start_syncer(struct run *r)
{
        r->syncer = chaos_start_syncer(&r->o);
        r->syncer_back_at = 0;
}

/* Reaps every child that ended; replaces bots while the chaos runs. Returns -1 if mt5sim
 * died: nothing can be checked without the broker. */
static int reap(struct run *r)
{
        int status, cell;
        pid_t pid;

        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == r->sim) {
                        chaos_violation(&r->audit, "mt5sim died (status 0x%x)", status);
                        r->sim = 0;
                        return -1;
                }
                if (pid == r->syncer) {
                        /* Only the conductor kills the syncer, and it reaps those itself. */
                        chaos_violation(&r->audit, "hedge-syncer ended by itself (status 0x%x)",
                                        status);
                        start_syncer(r);
                        continue;
                }
                if ((cell = cell_of(r, pid)) < 0)
                        continue;
                if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
                        int dying = __atomic_load_n(&r->t->cell[cell].dying, __ATOMIC_SEQ_CST);
                        r->killed[dying > 0     ? dying - 1
                                  : r->stopping ? KILL_AT_STOP
                                                : KILL_RANDOM]++;
                } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        r->bot_failures++;
                }
                r->t->cell[cell].pid = 0;
                if (!r->stopping)
                        start_bot(r, cell);
        }
        return 0;
}

static void random_kill(struct run *r)
{
        int cell = between(r, 0, r->o.bots - 1);

        if (r->t->cell[cell].pid > 0)
                kill(r->t->cell[cell].pid, SIGKILL);
        r->next_kill = chaos_now_ms() + between(r, 100, 500);
}

static void inject_fault(struct run *r)
{
        switch (between(r, 0, 3)) {
        case 0:
                if (ms_fault(r->c, MS_FAULT_STALL, 1500) == 0)
                        r->stalls++;
                break;
        case 1:
                if (ms_fault(r->c, MS_FAULT_DISCONNECT, 1000) == 0)
                        r->disconnects++;
                break;
        case 2:
                if (ms_fault(r->c, MS_FAULT_LOSE_REPLY, (uint64_t)between(r, 1, 4)) == 0)
                        r->lose_reply++;
                break;
        default:
                if (ms_fault(r->c, MS_FAULT_HANGUP, (uint64_t)between(r, 1, 2)) == 0)
                        r->hangups++;
        }
        r->next_fault = chaos_now_ms() + between(r, 1000, 3000);
}

/* SIGKILL the syncer; a new one starts after a gap in which no syncer runs at all. */
static void kill_syncer(struct run *r)
{
        chaos_stop_child(r->syncer, SIGKILL);
        r->syncer = 0;
        r->syncer_restarts++;
        r->syncer_back_at = chaos_now_ms() + between(r, 0, 1000);
        r->next_syncer_kill = r->syncer_back_at + between(r, 3000, 7000);
}

static long killed_total(const struct run *r)
{
        long n = 0;

        for (int k = 0; k < KILL_KINDS; k++)
                n += r->killed[k];
        return n;
}

static void report(struct run *r, int64_t now)
{
        struct hshm_sync y = {0};

        hshm_sync_read(r->s, &y);
        printf("[%3d/%ds] bots started %4ld killed %4ld | orders %5ld fills %5ld unknown %4ld | "
               "syncer %s restarts %ld | adopted %" PRIu64 " orphans released %" PRIu64
               " | hedges checked %ld, duplicates %" PRIu64 "\n",
               (int)((now - r->start) / 1000), r->o.seconds, r->bots_started, killed_total(r),
               chaos_read(&r->t->orders), chaos_read(&r->t->fills), chaos_read(&r->t->unknown),
               y.health == HSHM_SYNC_OK         ? "ok"
               : y.health == HSHM_SYNC_DEGRADED ? "degraded"
                                                : "absent",
               r->syncer_restarts, y.counters.adoptions, y.counters.orphans_released,
               r->audit.hedges_checked, r->audit.duplicates);
        fflush(stdout);
        r->next_report = now + 5000;
}

/* The chaos itself, until r->end. Returns -1 if mt5sim died. */
static int chaos(struct run *r)
{
        int64_t now = chaos_now_ms();

        r->next_kill = now + 300;
        r->next_fault = now + 1000;
        r->next_syncer_kill = now + between(r, 2000, 5000);
        r->next_audit = now + 250;
        r->next_report = now + 5000;
        for (int i = 0; i < r->o.bots; i++)
                start_bot(r, i);
        while ((now = chaos_now_ms()) < r->end) {
                if (reap(r) != 0)
                        return -1;
                if (now >= r->next_kill)
                        random_kill(r);
                if (now >= r->next_fault)
                        inject_fault(r);
                if (r->syncer > 0 && now >= r->next_syncer_kill)
                        kill_syncer(r);
                if (r->syncer == 0 && now >= r->syncer_back_at)
                        start_syncer(r);
                if (now >= r->next_audit) {
                        chaos_audit_open_hedges(r->s, r->c, &r->audit);
                        chaos_audit_ledger(r->c, &r->audit, 0);
                        chaos_clear_interrupted(r->s, r->c, &r->audit);
                        r->next_audit = chaos_now_ms() + 250;
                }
                if (now >= r->next_report)
                        report(r, now);
                chaos_sleep_ms(5);
        }
        return 0;
}

static int bots_left(const struct run *r)
{
        int left = 0;

        for (int i = 0; i < r->o.bots; i++)
                left += r->t->cell[i].pid > 0;
        return left;
}

/* Stop the bots (they finish the order in hand), then every fault; make sure a syncer runs. */
static int stop_chaos(struct run *r)
{
        int64_t deadline = chaos_now_ms() + 3000;

        r->stopping = 1;
        __atomic_store_n(&r->t->stop, 1, __ATOMIC_SEQ_CST);
        while (bots_left(r) > 0) {
                if (reap(r) != 0)
                        return -1;
                if (chaos_now_ms() >= deadline)
                        for (int i = 0; i < r->o.bots; i++)
                                if (r->t->cell[i].pid > 0)
                                        kill(r->t->cell[i].pid, SIGKILL);
                chaos_sleep_ms(10);
        }
        if (ms_fault(r->c, MS_FAULT_CLEAR, 0) != 0)
                chaos_violation(&r->audit, "mt5sim refused to clear its faults: %s",
                                ms_last_reply(r->c));
        if (r->syncer == 0)
                start_syncer(r);
        return 0;
}

/* Waits for the syncer to reconcile a snapshot taken after the faults stopped, then gives it
 * lease + grace + two intervals + a margin of healthy feed. */
static void settle(struct run *r)
{
        int64_t after = chaos_wall_ms(), deadline = chaos_now_ms() + 10000;
        struct hshm_sync y = {0};

        while (chaos_now_ms() < deadline) {
                if (hshm_sync_read(r->s, &y) == 0 && y.health == HSHM_SYNC_OK &&
                    y.snapshot_time_ms > after)
                        break;
                reap(r);
                chaos_sleep_ms(20);
        }
        if (y.health != HSHM_SYNC_OK || y.snapshot_time_ms <= after) {
                chaos_violation(&r->audit,
                                "the feed never became healthy after the faults stopped "
                                "(syncer: %s)",
                                y.degraded_reason);
                return;
        }
        printf("chaos: bots and faults stopped; the syncer reconciles a healthy feed for %d ms\n",
               CHAOS_LEASE_MS + CHAOS_GRACE_MS + 2 * CHAOS_INTERVAL_MS + SETTLE_MARGIN_MS);
        chaos_sleep_ms(CHAOS_LEASE_MS + CHAOS_GRACE_MS + 2 * CHAOS_INTERVAL_MS + SETTLE_MARGIN_MS);
        reap(r);
}

static void figures(struct run *r)
{
        const struct chaos_tally *t = r->t;
        struct hshm_stats st = {0};
        struct ms_stats ms = {0};
        struct hshm_sync y = {0};

        hshm_stats(r->s, &st);
        hshm_sync_read(r->s, &y);
        if (ms_stats(r->c, &ms) != 0)
                chaos_violation(&r->audit, "mt5sim did not give its counters");
        if (y.health != HSHM_SYNC_OK)
                chaos_violation(&r->audit, "the syncer is not healthy at the end: %s",
                                y.degraded_reason);
        printf("\nfigures (seed %u, %d s, %d bots, %d positions)\n", r->o.seed, r->o.seconds,
               r->o.bots, r->o.positions);
        printf("  bots started          %ld\n", r->bots_started);
        printf("  bots killed           %ld:", killed_total(r));
        for (int k = 0; k < KILL_KINDS; k++)
                printf("%s %s %ld", k == 0 ? "" : ",", kill_names[k], r->killed[k]);
        printf("\n  bots failed           %ld (%ld library errors)\n", r->bot_failures,
               t->bot_errors);
        printf("  orders                %ld sent by bots: %ld filled, %ld rejected, %ld unknown, "
               "%ld never left\n",
               t->orders, t->fills, t->rejections, t->unknown, t->never_sent);
        printf("  broker                %" PRIu64 " orders, %" PRIu64 " fills, %" PRIu64
               " rejections, %" PRIu64 " lost replies, %" PRIu64 " closed by lifetime\n",
               ms.orders, ms.fills, ms.rejections, ms.lost_replies, ms.auto_closes);
        printf("  unknown outcomes      %ld adopted, %ld found unfilled and reset, %ld moved on, "
               "%ld left to the lease\n",
               t->unknown_adopted, t->unknown_released, t->unknown_moved_on, t->unknown_undecided);
        printf("  bots' locks           %" PRIu64 " won, %" PRIu64 " conflicts, %ld busy, %ld "
               "lost to the syncer, %ld fills it adopted or marked first, %ld EAGAIN, %ld leases "
               "ran out before the order\n",
               st.locks_won, st.lock_conflicts, t->busy, t->lock_lost, t->acted_first, t->again,
               t->lease_ran_out);
        printf("  syncer restarts       %ld (SIGKILL, then 0..1 s without a syncer)\n",
               r->syncer_restarts);
        printf("  feed outages          %ld (%ld stalls of 1500 ms, %ld disconnects of 1000 ms); "
               "%ld lose_reply and %ld hangup faults\n",
               r->stalls + r->disconnects, r->stalls, r->disconnects, r->lose_reply, r->hangups);
        printf("  hedges adopted        %" PRIu64 " (rules 2, 3 and 7), of which %" PRIu64
               " orphans\n",
               y.counters.adoptions, y.counters.orphans_adopted);
        printf("  orphans released      %" PRIu64 " (waiting now %" PRIu64
               ", live owners past lease now %" PRIu64 ")\n",
               y.counters.orphans_released, y.counters.orphans_waiting, y.counters.leases_expired);
        printf("  resets of closed      %" PRIu64 "; slots marked ERROR %" PRIu64
               " (duplicates %" PRIu64 ")\n",
               y.counters.resets_closed, y.counters.errors_marked, y.counters.duplicates);
        printf("  writer repairs        %" PRIu64 " (insert repairs %" PRIu64 ", processes swept "
               "%" PRIu64 ", syncer's repairs %" PRIu64 ")\n",
               st.writer_repairs, st.insert_repairs, st.procs_swept, y.counters.repairs);
        printf("  ERROR slots cleared   %ld (interrupted activations, once their hedge closed)\n",
               r->audit.cleared);
        printf("  open hedges checked   %ld in %ld audits, %ld untracked\n",
               r->audit.hedges_checked, r->audit.audits, r->audit.untracked);
        printf("  duplicates            %" PRIu64 "\n", r->audit.duplicates);
}

static void usage(FILE *to)
{
        fprintf(to, "usage: chaos [--seconds S] [--bots N] [--positions N] [--seed N] "
                    "[--mt5sim PATH] [--syncer PATH] [--keep]\n\n"
                    "Bots hedge against mt5sim with hedge-syncer running while bots, the syncer\n"
                    "and the feed are killed and faulted for S seconds (default 25, 8 bots, 64\n"
                    "positions); then checks the broker's ledger against the segment\n"
                    "(docs/chaos.md). The run's directory (logs of mt5sim and hedge-syncer) is\n"
                    "kept when a check fails, or with --keep.\n\n"
                    "exit codes: 0 no violation; 1 a violation; 2 usage error; 3 cannot start\n");
}

static int parse_args(int argc, char **argv, struct chaos_opts *o)
{
        static const struct option longs[] = {{"seconds", required_argument, NULL, 's'},
                                              {"bots", required_argument, NULL, 'b'},
                                              {"positions", required_argument, NULL, 'p'},
                                              {"seed", required_argument, NULL, 'r'},
                                              {"mt5sim", required_argument, NULL, 'm'},
                                              {"syncer", required_argument, NULL, 'y'},
                                              {"keep", no_argument, NULL, 'k'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
        long v = 0;
        int c, bad = 0;

        while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
                switch (c) {
                case 's':
                        bad |= launch_parse_long(optarg, 2, 86400, &v);
                        o->seconds = (int)v;
                        break;
                case 'b':
                        bad |= launch_parse_long(optarg, 1, CHAOS_MAX_BOTS, &v);
                        o->bots = (int)v;
                        break;
                case 'p':
                        bad |= launch_parse_long(optarg, 1, 4096, &v);
                        o->positions = (int)v;
                        break;
                case 'r':
                        bad |= launch_parse_long(optarg, 0, UINT_MAX, &v);
                        o->seed = (unsigned)v;
                        break;
                case 'm':
                        o->mt5sim = optarg;
                        break;
                case 'y':
                        o->syncer = optarg;
                        break;
                case 'k':
                        o->keep = 1;
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
                        "chaos: bad arguments (seconds 2..86400, bots 1..%d, positions "
                        "1..4096)\n",
                        CHAOS_MAX_BOTS);
                usage(stderr);
                return -1;
        }
        return 0;
}

/* Segment, broker and syncer; the conductor's own handle (read-write, to clear what a person
 * would) and connection. */
static int setup(struct run *r)
{
        struct chaos_opts *o = &r->o;
        int err;

        err = hshm_create(o->name, &(struct hshm_create_opts){.capacity = 4096});
        if (err == 0)
                err = hshm_open(o->name, 0, &r->s);
        if (err != 0) {
                fprintf(stderr, "chaos: segment %s: %s (%s)\n", o->name, hshm_strerror(err),
                        hshm_last_detail());
                return -1;
        }
        r->t = mmap(NULL, sizeof(*r->t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (r->t == MAP_FAILED) {
                r->t = NULL;
                perror("chaos: mmap");
                return -1;
        }
        r->sim = chaos_start_mt5sim(o);
        if (launch_wait_mt5sim(o->sock, r->sim, 10000) != 0 || ms_connect(o->sock, &r->c) != 0) {
                fprintf(stderr, "chaos: mt5sim did not start (%s)\n", o->mt5sim);
                return -1;
        }
        start_syncer(r);
        return 0;
}

static void teardown(struct run *r, int failed)
{
        char path[PATH_MAX];

        chaos_stop_child(r->syncer, SIGTERM);
        if (r->c != NULL && r->sim > 0)
                ms_quit(r->c);
        ms_disconnect(r->c);
        chaos_stop_child(r->sim, SIGTERM);
        hshm_close(r->s);
        hshm_destroy(r->o.name);
        if (failed || r->o.keep) {
                printf("chaos: logs kept in %s (mt5sim.log, hedge-syncer.log)\n", r->o.dir);
                return;
        }
        const char *files[] = {"mt5sim.log", "hedge-syncer.log", "positions.snap", "mt5sim.sock"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", r->o.dir, files[i]);
                unlink(path);
        }
        rmdir(r->o.dir);
}

int main(int argc, char **argv)
{
        static struct run run;
        char name[64], dir[] = "/tmp/hshm-chaos-XXXXXX", sock[128], snap[128];
        char sim_path[PATH_MAX], syncer_path[PATH_MAX];
        struct run *r = &run;
        int failed;

        r->o = (struct chaos_opts){
            .seconds = 25,
            .bots = 8,
            .positions = 64,
            .seed = (unsigned)(chaos_wall_ms() ^ (getpid() << 16)),
            /* per thousand passes through each point */
            .die_permille = {[KILL_AFTER_LOCK] = 15,
                             [KILL_AFTER_SEND] = 15,
                             [KILL_IN_ACTIVATE] = 8,
                             [KILL_IN_RESET] = 150},
        };
        if (parse_args(argc, argv, &r->o) != 0)
                return 2;
        if (r->o.mt5sim == NULL) {
                launch_find_program(sim_path, sizeof(sim_path),
                                    (const char *[]){"../../tools/mt5sim/mt5sim", NULL});
                r->o.mt5sim = sim_path;
        }
        if (r->o.syncer == NULL) {
                launch_find_program(syncer_path, sizeof(syncer_path),
                                    (const char *[]){"../../tools/syncer/hedge-syncer", NULL});
                r->o.syncer = syncer_path;
        }
        signal(SIGPIPE, SIG_IGN);
        if (mkdtemp(dir) == NULL) {
                perror("chaos: mkdtemp");
                return 3;
        }
        snprintf(name, sizeof(name), "/hshm-chaos-%d", (int)getpid());
        snprintf(sock, sizeof(sock), "%s/mt5sim.sock", dir);
        snprintf(snap, sizeof(snap), "%s/positions.snap", dir);
        r->o.name = name;
        r->o.dir = dir;
        r->o.sock = sock;
        r->o.snap = snap;
        r->rng = r->o.seed;
        printf("chaos: seed %u, %d s, %d bots, %d positions, segment %s, lease %d ms, syncer "
               "--interval-ms %d --grace-ms %d --stale-ms %d, run directory %s\n",
               r->o.seed, r->o.seconds, r->o.bots, r->o.positions, name, CHAOS_LEASE_MS,
               CHAOS_INTERVAL_MS, CHAOS_GRACE_MS, CHAOS_STALE_MS, dir);
        if (setup(r) != 0) {
                teardown(r, 1);
                return 3;
        }
        r->start = chaos_now_ms();
        r->end = r->start + r->o.seconds * 1000L;
        if (chaos(r) == 0 && stop_chaos(r) == 0) {
                settle(r);
                chaos_final_checks(r->s, r->c, &r->audit);
                if (r->t->bot_errors != 0)
                        chaos_violation(&r->audit,
                                        "%ld library calls in bots returned what the protocol "
                                        "does not expect (see above)",
                                        r->t->bot_errors);
                figures(r);
        }
        failed = r->audit.violations != 0;
        printf("\nchaos: %s (%ld violations)\n", failed ? "FAILED" : "passed", r->audit.violations);
        teardown(r, failed);
        free(r->audit.reported);
        return failed ? 1 : 0;
}
