/*
 * The syncer's block: one syncer per segment (an OFD lock the kernel drops with the holder),
 * a seqlocked block bots read, and the health they judge from it.
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hedgeshm.h"
#include "layout.h"
#include "testutil.h"

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct hshm_sync sample(void)
{
        struct hshm_sync in = {.pid = 4242,
                               .interval_ms = 100,
                               .snapshot_seq = 17,
                               .snapshot_time_ms = now_ns() / 1000000};

        in.started_ns = in.heartbeat_ns = now_ns();
        in.counters.cycles = 5;
        in.counters.resets_closed = 2;
        in.counters.duplicates = 1;
        return in;
}

static void test_absent_until_published(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_sync out;

        assert_int_equal(hshm_sync_read(f->store, &out), 0);
        assert_int_equal(out.pid, 0);
        assert_int_equal(out.health, HSHM_SYNC_ABSENT);
}

static void test_publish_needs_claim_and_reads_back(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_sync in = sample(), out;

        assert_int_equal(hshm_sync_publish(f->store, &in), -EPERM);
        assert_int_equal(hshm_sync_claim(f->store), 0);
        assert_int_equal(hshm_sync_claim(f->store), 0); /* idempotent */
        assert_int_equal(hshm_sync_publish(f->store, &in), 0);
        assert_int_equal(hshm_sync_read(f->store, &out), 0);
        assert_int_equal(out.pid, 4242);
        assert_int_equal(out.snapshot_seq, 17);
        assert_int_equal(out.counters.cycles, 5);
        assert_int_equal(out.counters.duplicates, 1);
        assert_int_equal(out.health, HSHM_SYNC_OK);

        in.degraded = 1;
        in.degraded_since_ns = now_ns();
        snprintf(in.degraded_reason, sizeof(in.degraded_reason), "no snapshot for 3200 ms");
        assert_int_equal(hshm_sync_publish(f->store, &in), 0);
        assert_int_equal(hshm_sync_read(f->store, &out), 0);
        assert_int_equal(out.health, HSHM_SYNC_DEGRADED);
        assert_string_equal(out.degraded_reason, "no snapshot for 3200 ms");

        in.degraded = 0;
        in.heartbeat_ns = now_ns() - 10 * 1000000000LL; /* 10 s > 3 x 100 ms + 1 s */
        assert_int_equal(hshm_sync_publish(f->store, &in), 0);
        assert_int_equal(hshm_sync_read(f->store, &out), 0);
        assert_int_equal(out.health, HSHM_SYNC_ABSENT);
}

static void test_one_syncer_at_a_time(void **state)
{
        struct tu_fixture *f = *state;
        hshm_store *second, *ro;

        assert_int_equal(hshm_sync_claim(f->store), 0);
        assert_int_equal(hshm_open(f->name, 0, &second), 0);
        assert_int_equal(hshm_sync_claim(second), -EBUSY);
        assert_non_null(strstr(hshm_last_detail(), "another syncer"));
        assert_int_equal(hshm_open(f->name, HSHM_OPEN_RDONLY, &ro), 0);
        assert_int_equal(hshm_sync_claim(ro), -EROFS);
        hshm_close(ro);
        /* Closing the holder releases the role. */
        hshm_close(f->store);
        f->store = NULL;
        assert_int_equal(hshm_sync_claim(second), 0);
        f->store = second;
}

/* A syncer killed holding the role does not block the next one: the kernel drops the lock. */
static void test_dead_syncer_releases_the_role(void **state)
{
        struct tu_fixture *f = *state;
        int pipefd[2], status;
        char ready;
        pid_t child;

        assert_int_equal(pipe(pipefd), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                hshm_store *s;
                if (hshm_open(f->name, 0, &s) != 0 || hshm_sync_claim(s) != 0)
                        _exit(1);
                if (write(pipefd[1], "r", 1) != 1)
                        _exit(1);
                pause();
                _exit(0);
        }
        assert_int_equal(read(pipefd[0], &ready, 1), 1);
        assert_int_equal(hshm_sync_claim(f->store), -EBUSY);
        kill(child, SIGKILL);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_int_equal(hshm_sync_claim(f->store), 0);
        close(pipefd[0]);
        close(pipefd[1]);
}

/* A block left mid-publish (odd seq) makes readers give up, not hang; the next claim repairs it. */
static void test_interrupted_publish(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_sync in = sample(), out;
        struct hshm_header *h;
        size_t size;

        h = tu_map_raw(f->name, &size);
        assert_non_null(h);
        h->sync.seq = 7;
        assert_int_equal(hshm_sync_read(f->store, &out), -EAGAIN);
        assert_int_equal(hshm_sync_claim(f->store), 0);
        assert_int_equal(h->sync.seq % 2, 0);
        assert_int_equal(hshm_sync_publish(f->store, &in), 0);
        assert_int_equal(hshm_sync_read(f->store, &out), 0);
        assert_int_equal(out.pid, 4242);
        tu_unmap_raw(h, size);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_absent_until_published, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_publish_needs_claim_and_reads_back, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_one_syncer_at_a_time, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_dead_syncer_releases_the_role, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_interrupted_publish, tu_setup, tu_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
