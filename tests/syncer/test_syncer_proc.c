/*
 * hedge-syncer as a process: --once end to end against a snapshot file written with
 * hf_write_atomic (also by a terminal whose clock runs ahead of ours), the exit codes of the
 * manual, a second syncer refused while a child process holds the claim (and accepted once it is
 * gone), the daemon reconciling new snapshots, turning degraded when they stop, and stopping
 * cleanly on SIGTERM, releasing a dead bot's lock after asking the broker, and exiting with status
 * 3 when its segment is removed or replaced under it.
 *
 * argv[1] is the hedge-syncer executable. Waits are bounded polls of the sync block or a slot
 * (a few seconds at most); nothing relies on a sleep being long enough.
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "synctest.h"
#include "testutil.h"

#define G "corr-1"

static const char *syncer_path;

struct fixture {
        struct tu_fixture tu;
        char dir[64];
        char snapshot[96];
        char errlog[96];
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        void *tu = NULL;

        assert_int_equal(tu_setup(&tu), 0);
        f->tu = *(struct tu_fixture *)tu;
        free(tu);
        snprintf(f->dir, sizeof(f->dir), "/tmp/hs-sync-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->snapshot, sizeof(f->snapshot), "%s/snapshot.txt", f->dir);
        snprintf(f->errlog, sizeof(f->errlog), "%s/stderr.txt", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        tu_close_destroy(f->tu.store, f->tu.name);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", f->dir);
        free(f);
        return 0;
}

static void sleep_ms(int ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

        nanosleep(&ts, NULL);
}

/* Start hedge-syncer with args (NULL-terminated, after the program name), stderr to errlog. */
static pid_t start(struct fixture *f, const char *const *args)
{
        const char *argv[32] = {syncer_path};
        pid_t pid;
        int n = 1;

        while (*args != NULL && n < 31)
                argv[n++] = *args++;
        argv[n] = NULL;
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(f->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);

                if (fd >= 0)
                        dup2(fd, 2);
                execv(syncer_path, (char *const *)argv);
                _exit(127);
        }
        return pid;
}

static int exit_code(pid_t pid)
{
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static int run(struct fixture *f, const char *const *args)
{
        return exit_code(start(f, args));
}

/* 1 if the syncer's stderr contains text (and prints it when not, for the test log). */
static int stderr_has(struct fixture *f, const char *text)
{
        char buf[8192];
        FILE *fp = fopen(f->errlog, "r");
        size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;

        if (fp)
                fclose(fp);
        buf[n] = '\0';
        if (strstr(buf, text) == NULL) {
                fprintf(stderr, "expected \"%s\" in hedge-syncer's stderr:\n%s", text, buf);
                return 0;
        }
        return 1;
}

static struct hshm_sync sync_block(hshm_store *s)
{
        struct hshm_sync b;

        assert_int_equal(hshm_sync_read(s, &b), 0);
        return b;
}

/* The segment every test starts from: EURUSD ACTIVE with hedge 1001, GBPUSD AVAILABLE whose
 * last lock's tag is in tag. Waits past a 50 ms grace. */
static void build(hshm_store *s, char *tag)
{
        st_active(s, G, "EURUSD", 1001, NULL);
        assert_int_equal(hshm_reset(s, st_lock(s, G, "GBPUSD", tag)), 0);
        sleep_ms(120);
}

/* seq, taken now: 1001 closed, untracked tagged hedge 2001 open. */
static void write_news(const char *path, uint64_t seq, const char *tag, int connected)
{
        struct st_snap snap;

        st_snap_init(&snap, seq, st_now_ms());
        snap.snap.connected = connected;
        st_add_position(&snap, 2001, "XAUUSD.r", tag);
        assert_int_equal(hf_write_atomic(path, &snap.snap), 0);
}

static void once_reconciles_snapshot_file(void **state)
{
        struct fixture *f = *state;
        hshm_store *s = f->tu.store;
        char tag[HSHM_TAG_LEN + 1];
        struct hshm_sync b;
        const char *args[] = {"--name", f->tu.name,   "--snapshot", f->snapshot,
                              "--once", "--grace-ms", "50",         NULL};

        build(s, tag);
        write_news(f->snapshot, 7, tag, 1);
        assert_int_equal(run(f, args), 0);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_AVAILABLE);
        assert_int_equal(st_status(s, G, "GBPUSD").state, HSHM_ACTIVE);
        assert_int_equal(st_status(s, G, "GBPUSD").ticket, 2001);
        b = sync_block(s);
        assert_true(b.pid > 0 && b.pid != getpid());
        assert_int_equal(b.snapshot_seq, 7);
        assert_false(b.degraded);
        assert_int_equal(b.counters.cycles, 1);
        assert_int_equal(b.counters.snapshots_ok, 1);
        assert_int_equal(b.counters.resets_closed, 1);
        assert_int_equal(b.counters.adoptions, 1);
        assert_int_equal(b.counters.duplicates, 0);
        assert_true(stderr_has(f, "[rule 1]") && stderr_has(f, "[rule 2]"));
        /* The next syncer continues the counters. */
        write_news(f->snapshot, 8, tag, 1);
        assert_int_equal(run(f, args), 0);
        assert_int_equal(sync_block(s).counters.cycles, 2);
}

/* A terminal clock 4.5 s ahead (within --max-skew-ms): a snapshot written right after a lock,
 * showing its fill, says it was taken 4.5 s after the lock. hedge-syncer judges it by the time
 * it read it: within the 3 s grace, so the bot may still activate, and the sync block's
 * snapshot time is no later than the read (bots waiting on it keep waiting). */
static void once_terminal_clock_ahead_judged_by_read_time(void **state)
{
        struct fixture *f = *state;
        hshm_store *s = f->tu.store;
        char tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hshm_sync b;
        int64_t before_ms, after_ms;
        const char *args[] = {"--name", f->tu.name,   "--snapshot", f->snapshot,
                              "--once", "--grace-ms", "3000",       NULL};

        st_lock(s, G, "EURUSD", tag);
        st_snap_init(&snap, 1, st_now_ms() + 4500);
        st_add_position(&snap, 2001, "XAUUSD.r", tag);
        assert_int_equal(hf_write_atomic(f->snapshot, &snap.snap), 0);
        before_ms = st_now_ms();
        assert_int_equal(run(f, args), 0);
        after_ms = st_now_ms();
        b = sync_block(s);
        assert_int_equal(b.snapshot_seq, 1);
        assert_true(b.snapshot_time_ms >= before_ms && b.snapshot_time_ms <= after_ms);
        assert_true(after_ms < st_status(s, G, "EURUSD").lock_ns / NS_PER_MS + 3000);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_HEDGING);
}

static void once_degraded_feed_exit_4_changes_nothing(void **state)
{
        struct fixture *f = *state;
        hshm_store *s = f->tu.store;
        char tag[HSHM_TAG_LEN + 1];
        const char *args[] = {"--name", f->tu.name,   "--snapshot", f->snapshot,
                              "--once", "--grace-ms", "50",         NULL};

        build(s, tag);
        assert_int_equal(run(f, args), 4); /* missing */
        assert_true(stderr_has(f, "missing"));
        write_news(f->snapshot, 1, tag, 0);
        assert_int_equal(run(f, args), 4); /* disconnected */
        assert_true(stderr_has(f, "disconnected"));
        assert_int_equal(sync_block(s).degraded, 1);
        assert_non_null(strstr(sync_block(s).degraded_reason, "disconnected"));
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
        assert_int_equal(st_status(s, G, "GBPUSD").state, HSHM_AVAILABLE);
        /* A torn file (cut in the middle) is rejected and counted. */
        write_news(f->snapshot, 2, tag, 1);
        assert_int_equal(truncate(f->snapshot, 40), 0);
        assert_int_equal(run(f, args), 4);
        assert_true(stderr_has(f, "rejected"));
        assert_int_equal(sync_block(s).counters.snapshots_rejected, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
}

static void usage_and_store_errors(void **state)
{
        struct fixture *f = *state;
        const char *no_snapshot[] = {"--name", f->tu.name, "--once", NULL};
        const char *bad_number[] = {"--name",        f->tu.name, "--snapshot", f->snapshot,
                                    "--interval-ms", "fast",     NULL};
        const char *bad_name[] = {"--name", "no-slash", "--snapshot", f->snapshot, NULL};
        const char *no_segment[] = {
            "--name", "/hshm-t-no-such-segment", "--snapshot", f->snapshot, "--once", NULL};
        const char *help[] = {"--help", NULL};

        assert_int_equal(run(f, no_snapshot), 2);
        assert_int_equal(run(f, bad_number), 2);
        assert_int_equal(run(f, bad_name), 2);
        assert_int_equal(run(f, no_segment), 3);
        assert_int_equal(run(f, help), 0);
}

/* A child process holds the syncer role (and published its pid) until told to go. */
static pid_t claim_in_child(const char *name, int *go_fd)
{
        int ready[2], go[2];
        pid_t pid;
        char c;

        assert_int_equal(pipe(ready), 0);
        assert_int_equal(pipe(go), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct hshm_sync b = {.pid = getpid(), .interval_ms = 100};
                hshm_store *s = NULL;

                close(ready[0]);
                close(go[1]);
                b.heartbeat_ns = st_now_ns();
                if (hshm_open(name, 0, &s) != 0 || hshm_sync_claim(s) != 0 ||
                    hshm_sync_publish(s, &b) != 0)
                        _exit(1);
                if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) < 0)
                        _exit(2);
                hshm_close(s);
                _exit(0);
        }
        close(ready[1]);
        close(go[0]);
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        *go_fd = go[1];
        return pid;
}

static void second_syncer_refused(void **state)
{
        struct fixture *f = *state;
        char tag[HSHM_TAG_LEN + 1], pidtext[32];
        const char *args[] = {"--name", f->tu.name,   "--snapshot", f->snapshot,
                              "--once", "--grace-ms", "50",         NULL};
        int go;
        pid_t holder = claim_in_child(f->tu.name, &go);

        build(f->tu.store, tag);
        write_news(f->snapshot, 1, tag, 1);
        assert_int_equal(hshm_sync_claim(f->tu.store), -EBUSY);
        assert_int_equal(run(f, args), 1);
        snprintf(pidtext, sizeof(pidtext), "pid %ld", (long)holder);
        assert_true(stderr_has(f, pidtext));
        assert_true(stderr_has(f, "already runs"));
        assert_int_equal(st_status(f->tu.store, G, "EURUSD").state, HSHM_ACTIVE);
        /* Once the holder is gone, the role is free again. */
        close(go);
        assert_int_equal(exit_code(holder), 0);
        assert_int_equal(run(f, args), 0);
        assert_int_equal(st_status(f->tu.store, G, "EURUSD").state, HSHM_AVAILABLE);
}

/* Poll the sync block until pred holds, for at most ms. */
static int block_until(hshm_store *s, int ms, int (*pred)(const struct hshm_sync *, void *),
                       void *arg)
{
        for (int waited = 0; waited <= ms; waited += 20) {
                struct hshm_sync b = sync_block(s);

                if (pred(&b, arg))
                        return 1;
                sleep_ms(20);
        }
        return 0;
}

static int has_seq(const struct hshm_sync *b, void *arg)
{
        return b->health == HSHM_SYNC_OK && b->snapshot_seq == *(uint64_t *)arg;
}

static int is_degraded_by(const struct hshm_sync *b, void *why)
{
        return b->health == HSHM_SYNC_DEGRADED && strstr(b->degraded_reason, why) != NULL;
}

static void daemon_reconciles_degrades_and_stops_on_sigterm(void **state)
{
        struct fixture *f = *state;
        hshm_store *s = f->tu.store;
        char tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        uint64_t seq = 1;
        const char *args[] = {"--name",     f->tu.name, "--snapshot",    f->snapshot,
                              "--grace-ms", "50",       "--interval-ms", "50",
                              "--stale-ms", "600",      "--verbose",     NULL};
        pid_t pid;

        build(s, tag);
        st_snap_init(&snap, seq, st_now_ms()); /* everything still open */
        st_add_position(&snap, 1001, "XAUUSD.r", "");
        assert_int_equal(hf_write_atomic(f->snapshot, &snap.snap), 0);
        pid = start(f, args);
        assert_true(block_until(s, 5000, has_seq, &seq));
        assert_int_equal(sync_block(s).pid, pid);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);

        seq = 2; /* the news: noticed through the watch, acted on */
        write_news(f->snapshot, seq, tag, 1);
        assert_true(block_until(s, 5000, has_seq, &seq));
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_AVAILABLE);
        assert_int_equal(st_status(s, G, "GBPUSD").ticket, 2001);

        /* No new snapshot for longer than --stale-ms: degraded, and the heartbeat goes on. */
        assert_true(block_until(s, 5000, is_degraded_by, (char[]){"stale"}));
        seq = 3;
        write_news(f->snapshot, seq, tag, 1);
        assert_true(block_until(s, 5000, has_seq, &seq));

        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(exit_code(pid), 0);
        /* Bots see why until the heartbeat ages into ABSENT. */
        assert_int_equal(sync_block(s).health, HSHM_SYNC_DEGRADED);
        assert_non_null(strstr(sync_block(s).degraded_reason, "stopped"));
        assert_true(stderr_has(f, "stopping on SIGTERM"));
        /* The claim died with it: another syncer may start. */
        assert_int_equal(hshm_sync_claim(s), 0);
}

static int has_orphans(const struct hshm_sync *b, void *arg)
{
        return b->health == HSHM_SYNC_OK && b->counters.orphans_waiting == *(uint64_t *)arg;
}

static int has_released(const struct hshm_sync *b, void *arg)
{
        return b->counters.orphans_released == *(uint64_t *)arg;
}

/* A bot dies holding a lock: the daemon reports it, then releases it on a snapshot taken more
 * than grace after it first saw the owner dead, and the sync block says so. */
static void daemon_releases_dead_owners_lock(void **state)
{
        struct fixture *f = *state;
        hshm_store *s = f->tu.store;
        const char *args[] = {"--name", f->tu.name,      "--snapshot", f->snapshot,  "--grace-ms",
                              "50",     "--interval-ms", "50",         "--stale-ms", "60000",
                              NULL};
        struct st_snap snap;
        uint64_t one = 1, none = 0;
        pid_t pid;

        st_lock_dead(f->tu.name, G, "EURUSD", NULL);
        st_snap_init(&snap, 1, st_now_ms());
        assert_int_equal(hf_write_atomic(f->snapshot, &snap.snap), 0);
        pid = start(f, args);
        assert_true(block_until(s, 5000, has_orphans, &one));
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_HEDGING);
        assert_int_equal(sync_block(s).counters.orphans_released, 0);

        sleep_ms(120);
        st_snap_init(&snap, 2, st_now_ms());
        assert_int_equal(hf_write_atomic(f->snapshot, &snap.snap), 0);
        assert_true(block_until(s, 5000, has_released, &one));
        assert_true(block_until(s, 5000, has_orphans, &none));
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_AVAILABLE);
        assert_true(stderr_has(f, "orphaned lock corr-1/EURUSD"));
        assert_true(stderr_has(f, "[rule 7]"));
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(exit_code(pid), 0);
}

/* The exit status of pid within ms, or -1 (after killing it) if it is still running. */
static int exit_code_within(pid_t pid, int ms)
{
        int status;

        for (int waited = 0; waited <= ms; waited += 20) {
                pid_t got = waitpid(pid, &status, WNOHANG);

                assert_true(got >= 0);
                if (got == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                sleep_ms(20);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
}

/* Start the daemon on an idle segment and wait until it has reconciled a snapshot. */
static pid_t start_idle_daemon(struct fixture *f)
{
        const char *args[] = {"--name",        f->tu.name, "--snapshot", f->snapshot,
                              "--interval-ms", "50",       NULL};
        struct st_snap snap;
        uint64_t seq = 1;
        pid_t pid;

        st_snap_init(&snap, seq, st_now_ms());
        assert_int_equal(hf_write_atomic(f->snapshot, &snap.snap), 0);
        pid = start(f, args);
        assert_true(block_until(f->tu.store, 5000, has_seq, &seq));
        return pid;
}

/* `hedgectl destroy`, or systemd's RemoveIPC at logout: the name is gone under the syncer. It
 * says so and exits 3; bots still attached see why in the old segment's sync block. */
static void daemon_exits_3_when_segment_unlinked(void **state)
{
        struct fixture *f = *state;
        pid_t pid = start_idle_daemon(f);

        assert_int_equal(hshm_destroy(f->tu.name), 0);
        assert_int_equal(exit_code_within(pid, 5000), 3);
        assert_true(stderr_has(f, "was removed or replaced under the syncer"));
        assert_int_equal(sync_block(f->tu.store).health, HSHM_SYNC_DEGRADED);
        assert_non_null(strstr(sync_block(f->tu.store).degraded_reason, "removed or replaced"));
}

/* The name now names a new segment, put there in one step (rename over it, so the name is
 * never missing): the syncer must not go on with the old one. */
static void daemon_exits_3_when_segment_replaced(void **state)
{
        struct fixture *f = *state;
        char other[TU_NAME_MAX], from[TU_NAME_MAX + 16], to[TU_NAME_MAX + 16];
        pid_t pid = start_idle_daemon(f);

        tu_name(other, sizeof(other), "new");
        assert_int_equal(hshm_create(other, NULL), 0);
        snprintf(from, sizeof(from), "/dev/shm%s", other);
        snprintf(to, sizeof(to), "/dev/shm%s", f->tu.name);
        assert_int_equal(rename(from, to), 0);
        assert_int_equal(exit_code_within(pid, 5000), 3);
        assert_true(stderr_has(f, "was removed or replaced under the syncer"));
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
            T(once_reconciles_snapshot_file),
            T(once_terminal_clock_ahead_judged_by_read_time),
            T(once_degraded_feed_exit_4_changes_nothing),
            T(usage_and_store_errors),
            T(second_syncer_refused),
            T(daemon_reconciles_degrades_and_stops_on_sigterm),
            T(daemon_releases_dead_owners_lock),
            T(daemon_exits_3_when_segment_unlinked),
            T(daemon_exits_3_when_segment_replaced),
#undef T
        };

        if (argc < 2) {
                fprintf(stderr, "usage: %s PATH-TO-hedge-syncer\n", argv[0]);
                return 2;
        }
        syncer_path = argv[1];
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
