/*
 * Crash safety in the library: owners' liveness through the process table's OFD locks,
 * detached locks, repair of writers that died mid-write (killed for real, at the library's
 * fault points), sweeping dead process entries, fork safety, and noticing a removed segment.
 * Each dead process here is a forked child killed with SIGKILL: nothing is simulated.
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hedgeshm.h"
#include "internal.h"
#include "testutil.h"

static const char *kill_at;

static void die_here(const char *point)
{
        if (kill_at != NULL && strcmp(point, kill_at) == 0)
                raise(SIGKILL);
}

/* In a child: open the segment, run step up to the fault point named at, die there. With
 * at == NULL the child finishes step and then dies without closing anything. */
static void child_dies(const char *name, const char *at,
                       void (*step)(hshm_store *s, uint64_t *token), uint64_t *token_out)
{
        int pipefd[2], status;
        pid_t pid;

        assert_int_equal(pipe(pipefd), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                hshm_store *s;
                uint64_t token = 0;
                close(pipefd[0]);
                if (hshm_open(name, 0, &s) != 0)
                        _exit(1);
                kill_at = at;
                hsi_fault_hook = die_here;
                step(s, &token);
                if (write(pipefd[1], &token, sizeof(token)) != (ssize_t)sizeof(token))
                        _exit(1);
                raise(SIGKILL);
        }
        close(pipefd[1]);
        {
                uint64_t token = 0;
                /* Read even when unwanted: a closed pipe would kill the child with SIGPIPE. */
                if (read(pipefd[0], &token, sizeof(token)) != (ssize_t)sizeof(token))
                        token = 0;
                if (token_out != NULL)
                        *token_out = token;
        }
        close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void lock_eurusd(hshm_store *s, uint64_t *token)
{
        hshm_lock(s, "g", "EURUSD", token);
}

static void lock_and_activate(hshm_store *s, uint64_t *token)
{
        if (hshm_lock(s, "g", "EURUSD", token) == 0)
                hshm_activate(s, *token, 4242, "GBPUSD");
}

static void lock_activate_reset(hshm_store *s, uint64_t *token)
{
        lock_and_activate(s, token);
        hshm_reset(s, *token);
}

static void insert_new_key(hshm_store *s, uint64_t *token)
{
        hshm_lock(s, "g", "USDJPY", token);
}

static struct hshm_status status_of(hshm_store *s, const char *symbol)
{
        struct hshm_status st;

        assert_int_equal(hshm_status(s, "g", symbol, &st), 0);
        return st;
}

static void test_liveness_of_owners(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;
        uint64_t token, dead_token = 0;

        assert_int_equal(hshm_lock(f->store, "g", "GBPUSD", &token), 0);
        st = status_of(f->store, "GBPUSD");
        assert_true(st.owner.entry != 0);
        assert_int_equal(hshm_owner_liveness(f->store, &st), HSHM_OWNER_ALIVE);

        assert_int_equal(hshm_lock_detached(f->store, "g", "XAUUSD", &token), 0);
        st = status_of(f->store, "XAUUSD");
        assert_int_equal(st.owner.entry, 0);
        assert_int_equal(st.owner.pid, getpid());
        assert_int_equal(hshm_owner_liveness(f->store, &st), HSHM_OWNER_DETACHED);

        /* A process that locked and died without closing: its lock is an orphan. */
        child_dies(f->name, NULL, lock_eurusd, &dead_token);
        st = status_of(f->store, "EURUSD");
        assert_int_equal(st.state, HSHM_HEDGING);
        assert_int_equal(st.token, dead_token);
        assert_int_equal(hshm_owner_liveness(f->store, &st), HSHM_OWNER_DEAD);

        /* A new process taking over the dead one's entry is not taken for it. */
        {
                hshm_store *other;
                assert_int_equal(hshm_open(f->name, 0, &other), 0);
                assert_int_equal(hshm_owner_liveness(f->store, &st), HSHM_OWNER_DEAD);
                hshm_close(other);
        }
        assert_int_equal(hshm_reset(f->store, token), 0);
        st = status_of(f->store, "XAUUSD");
        assert_int_equal(hshm_owner_liveness(f->store, &st), HSHM_OWNER_NONE);
}

/* A lock interrupted after its CAS stays HEDGING, ownerless and with its lease run out: an
 * orphan for the syncer to settle through the broker, never an AVAILABLE slot. */
static void test_interrupted_lock_is_repaired_to_an_orphan(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_stats stats;
        struct hshm_status st;
        uint64_t token;

        assert_int_equal(hshm_lock(f->store, "g", "EURUSD", &token), 0);
        assert_int_equal(hshm_reset(f->store, token), 0);
        child_dies(f->name, "lock", lock_eurusd, NULL);
        /* A reader meets the dead writer, proves it dead and repairs the slot. */
        st = status_of(f->store, "EURUSD");
        assert_int_equal(st.state, HSHM_HEDGING);
        assert_int_equal(st.owner.entry, 0);
        assert_true(hshm_lease_expired(&st, st.lease_deadline_ns + 1));
        assert_int_equal(st.token >> 44, st.slot);
        assert_int_equal(st.token & ((UINT64_C(1) << 44) - 1), st.generation);
        assert_int_equal(hshm_owner_liveness(f->store, &st), HSHM_OWNER_DETACHED);
        assert_int_equal(hshm_lock(f->store, "g", "EURUSD", &token), -EBUSY);
        /* The repaired lock's token works, as the syncer's release will use it. */
        assert_int_equal(hshm_reset(f->store, st.token), 0);
        assert_int_equal(hshm_stats(f->store, &stats), 0);
        assert_int_equal(stats.writer_repairs, 1);
}

static void test_interrupted_activation_becomes_error(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;

        child_dies(f->name, "activate", lock_and_activate, NULL);
        assert_int_equal(hshm_repair(f->store), 2); /* the slot, and the dead entry */
        st = status_of(f->store, "EURUSD");
        assert_int_equal(st.state, HSHM_ERROR);
        assert_non_null(strstr(st.reason, "activation interrupted"));
        assert_int_equal(hshm_clear(f->store, "g", "EURUSD"), 0);
}

static void test_interrupted_reset_ends_available(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;
        uint64_t token;

        child_dies(f->name, "reset", lock_activate_reset, NULL);
        st = status_of(f->store, "EURUSD");
        assert_int_equal(st.state, HSHM_AVAILABLE);
        assert_int_equal(hshm_lock(f->store, "g", "EURUSD", &token), 0);
}

/* An inserter that died after reserving its bucket leaves the key insertable again, once. */
static void test_interrupted_insert(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_stats stats;
        struct hshm_info info;
        uint64_t token;

        child_dies(f->name, "insert", insert_new_key, NULL);
        assert_int_equal(hshm_lock(f->store, "g", "USDJPY", &token), 0);
        assert_int_equal(hshm_stats(f->store, &stats), 0);
        assert_int_equal(stats.insert_repairs, 1);
        assert_int_equal(hshm_info(f->store, &info), 0);
        for (uint32_t i = 0; i < info.used; i++) {
                struct hshm_status st;
                int err = hshm_slot_status(f->store, i, &st);
                assert_true(err == 0 || err == HSHM_ENOKEY);
                if (err == 0)
                        assert_string_equal(st.symbol, "USDJPY");
        }
}

static void do_nothing(hshm_store *s, uint64_t *token)
{
        (void)s;
        (void)token;
}

static void test_dead_entries_are_swept(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_stats stats;
        struct hshm_info info;

        for (int i = 0; i < 3; i++)
                child_dies(f->name, NULL, do_nothing, NULL);
        /* Each child took over the entry its dead predecessor left (swept at claim), so one
         * dead entry is left for the sweep. */
        assert_int_equal(hshm_info(f->store, &info), 0);
        assert_int_equal(info.procs_registered, 2);
        assert_int_equal(hshm_repair(f->store), 1);
        assert_int_equal(hshm_info(f->store, &info), 0);
        assert_int_equal(info.procs_registered, 1);
        assert_int_equal(hshm_stats(f->store, &stats), 0);
        assert_int_equal(stats.procs_swept, 3);
        assert_int_equal(hshm_repair(f->store), 0);
}

/* With every entry held by a live handle the next read-write handle is refused, so that no
 * writer is ever without an entry that proves its death; read-only handles need none, and a
 * closed handle's entry serves the next. */
static void test_full_table_refuses_writers(void **state)
{
        struct tu_fixture *f = *state;
        static hshm_store *held[HSHM_PROCS_MAX];
        hshm_store *extra = NULL;
        uint32_t n = 0;
        int err = 0;

        /* The fixture's handle holds one entry. */
        while (n < HSHM_PROCS_MAX && (err = hshm_open(f->name, 0, &held[n])) == 0)
                n++;
        assert_int_equal(err, -EUSERS);
        assert_int_equal(n, HSHM_PROCS_MAX - 1);
        assert_non_null(strstr(hshm_last_detail(), "open read-only"));
        assert_int_equal(hshm_open(f->name, HSHM_OPEN_RDONLY, &extra), 0);
        hshm_close(extra);
        hshm_close(held[--n]);
        assert_int_equal(hshm_open(f->name, 0, &extra), 0);
        hshm_close(extra);
        while (n > 0)
                hshm_close(held[--n]);
}

/* A child must not act as its parent, and the parent's death must still be visible. */
static void test_handle_after_fork(void **state)
{
        struct tu_fixture *f = *state;
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                uint64_t token;
                struct hshm_status st;
                int ok = hshm_lock(f->store, "g", "EURUSD", &token) == -ECHILD &&
                         hshm_status(f->store, "g", "EURUSD", &st) == HSHM_ENOKEY;
                _exit(ok ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_removed_segment_is_noticed(void **state)
{
        struct tu_fixture *f = *state;
        hshm_store *again;

        assert_int_equal(hshm_check_linked(f->store), 0);
        assert_int_equal(hshm_destroy(f->name), 0);
        assert_int_equal(hshm_check_linked(f->store), -EIDRM);
        /* A new segment under the same name is another segment. */
        again = tu_create_open(f->name, 8);
        assert_non_null(again);
        assert_int_equal(hshm_check_linked(f->store), -EIDRM);
        assert_int_equal(hshm_check_linked(again), 0);
        hshm_close(again);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_liveness_of_owners, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_interrupted_lock_is_repaired_to_an_orphan,
                                            tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_interrupted_activation_becomes_error, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_interrupted_reset_ends_available, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_interrupted_insert, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_dead_entries_are_swept, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_full_table_refuses_writers, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_handle_after_fork, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_removed_segment_is_noticed, tu_setup, tu_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
