/*
 * hshm_settle_unknown: a lock whose order's outcome is unknown is decided only by a snapshot
 * the syncer reconciled more than grace after the send (not the lock: the spin model's
 * finding), with the larger of the bot's and the syncer's grace, and only while the syncer
 * is healthy. The test plays the syncer: it claims the role and publishes snapshot times.
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hedgeshm.h"
#include "testutil.h"

#define MS        INT64_C(1000000)
#define GRACE_MS  100u
#define TICKET    424242u

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Publishes a live syncer whose last reconciled snapshot has time snapshot_ms. */
static void publish(hshm_store *s, int64_t snapshot_ms, uint32_t syncer_grace_ms, int degraded)
{
        struct hshm_sync in = {.pid = 4242, .interval_ms = 100, .grace_ms = syncer_grace_ms};

        in.started_ns = in.heartbeat_ns = now_ns();
        in.snapshot_seq = 1;
        in.snapshot_time_ms = snapshot_ms;
        in.degraded = degraded;
        assert_int_equal(hshm_sync_claim(s), 0);
        assert_int_equal(hshm_sync_publish(s, &in), 0);
}

static uint64_t lock(hshm_store *s, struct hshm_status *st)
{
        uint64_t token;

        assert_int_equal(hshm_lock(s, "g", "EURUSD", &token), 0);
        assert_int_equal(hshm_status_by_token(s, token, st), 0);
        return token;
}

static void assert_still_hedging(hshm_store *s, uint64_t token)
{
        struct hshm_status st;

        assert_int_equal(hshm_status_by_token(s, token, &st), 0);
        assert_int_equal(st.state, HSHM_HEDGING);
        assert_int_equal(st.token, token);
}

static void sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

        nanosleep(&ts, NULL);
}

/* A send a little after the lock, on a whole millisecond, so boundaries are exact. */
static int64_t send_time(const struct hshm_status *st)
{
        int64_t sent;

        sleep_ms(5);
        sent = now_ns() / MS * MS;
        assert_true(sent >= st->lock_ns);
        return sent;
}

static void test_no_syncer_decides_nothing(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;
        uint64_t token = lock(f->store, &st);
        int64_t sent = send_time(&st);

        sleep_ms(GRACE_MS + 5);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS), -EAGAIN);
        assert_non_null(strstr(hshm_last_detail(), "absent"));
        /* Degraded: its snapshot time says nothing about the broker now. */
        publish(f->store, now_ns() / MS, GRACE_MS, 1);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS), -EAGAIN);
        assert_non_null(strstr(hshm_last_detail(), "degraded"));
        assert_still_hedging(f->store, token);
}

/* The spin model's trace: the bot was slow between its lock and its send, and a snapshot past
 * lock + grace but not past send + grace cannot show the order yet. */
static void test_waits_past_the_send_not_the_lock(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st, after;
        uint64_t token = lock(f->store, &st), next;
        int64_t sent;

        sleep_ms(3 * GRACE_MS);
        sent = send_time(&st);
        sleep_ms(GRACE_MS + 5);
        publish(f->store, st.lock_ns / MS + GRACE_MS + 50, GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS), -EAGAIN);
        assert_non_null(strstr(hshm_last_detail(), "newer than the send"));
        /* Exactly send + grace is not newer than it. */
        publish(f->store, sent / MS + GRACE_MS, GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS), -EAGAIN);
        assert_still_hedging(f->store, token);

        publish(f->store, sent / MS + GRACE_MS + 1, GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS),
                         HSHM_SETTLED_RELEASED);
        assert_int_equal(hshm_status_by_token(f->store, token, &after), 0);
        assert_int_equal(after.state, HSHM_AVAILABLE);
        /* The old token is dead; the next lock fences it with a newer generation. */
        assert_int_equal(hshm_reset(f->store, token), HSHM_ESTALE);
        assert_int_equal(hshm_lock(f->store, "g", "EURUSD", &next), 0);
        assert_true(next > token);
        /* Asked again, the first lock has moved on. */
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS),
                         HSHM_SETTLED_MOVED_ON);
        assert_still_hedging(f->store, next);
}

/* A send time not on a millisecond is rounded up: the snapshot must be newer than all of it. */
static void test_send_time_rounds_up(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;
        uint64_t token = lock(f->store, &st);
        int64_t sent = send_time(&st) + 1;

        sleep_ms(GRACE_MS + 5);
        publish(f->store, sent / MS + GRACE_MS + 1, GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS), -EAGAIN);
        publish(f->store, sent / MS + GRACE_MS + 2, GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS),
                         HSHM_SETTLED_RELEASED);
}

/* The larger grace wins. A bot configured with less than the syncer's waits for the syncer's:
 * before it the syncer may still leave a fresh lock to its bot instead of adopting. */
static void test_larger_grace_wins(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;
        uint64_t token = lock(f->store, &st);
        int64_t sent = send_time(&st);

        sleep_ms(2 * GRACE_MS + 5);
        publish(f->store, sent / MS + 2 * GRACE_MS + 1, 2 * GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, 3 * GRACE_MS), -EAGAIN);
        publish(f->store, sent / MS + GRACE_MS + 50, 2 * GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, 10), -EAGAIN);
        assert_still_hedging(f->store, token);
        publish(f->store, sent / MS + 2 * GRACE_MS + 1, 2 * GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, 10), HSHM_SETTLED_RELEASED);
}

/* A syncer that published no grace (0) leaves the bot's own. */
static void test_unpublished_grace_uses_the_bots(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;
        uint64_t token = lock(f->store, &st);
        int64_t sent = send_time(&st);

        sleep_ms(GRACE_MS + 5);
        publish(f->store, sent / MS + GRACE_MS, 0, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS), -EAGAIN);
        publish(f->store, sent / MS + GRACE_MS + 1, 0, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS),
                         HSHM_SETTLED_RELEASED);
}

/* A lock the syncer already judged is reported at once, with or without a syncer now. */
static void test_adopted_hedge_is_left_active(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st, after;
        uint64_t token = lock(f->store, &st);
        int64_t sent = send_time(&st);

        /* What rule 3 does when the snapshot shows the tagged order. */
        assert_int_equal(hshm_activate(f->store, token, TICKET, "GBPUSD"), 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS),
                         HSHM_SETTLED_ADOPTED);
        assert_int_equal(hshm_status_by_token(f->store, token, &after), 0);
        assert_int_equal(after.state, HSHM_ACTIVE);
        assert_int_equal(after.ticket, TICKET);
}

static void test_judged_lock_has_moved_on(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st, after;
        uint64_t token = lock(f->store, &st);
        int64_t sent = send_time(&st);

        /* Adopted, and its hedge closed since: the syncer reset it. */
        assert_int_equal(hshm_activate(f->store, token, TICKET, NULL), 0);
        assert_int_equal(hshm_reset(f->store, token), 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS),
                         HSHM_SETTLED_MOVED_ON);

        /* Marked ERROR while HEDGING: the bot must not touch it. */
        token = lock(f->store, &st);
        sent = send_time(&st);
        assert_int_equal(hshm_mark_error(f->store, "g", "EURUSD", "two hedges"), 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS),
                         HSHM_SETTLED_MOVED_ON);
        assert_int_equal(hshm_status_by_token(f->store, token, &after), 0);
        assert_int_equal(after.state, HSHM_ERROR);
}

/* CLOCK_MONOTONIC passed by mistake is far before the lock; a time from the future is no
 * send either: refused, the lock kept. */
static void test_send_time_from_another_clock(void **state)
{
        struct tu_fixture *f = *state;
        struct timespec mono;
        struct hshm_status st;
        uint64_t token = lock(f->store, &st);

        clock_gettime(CLOCK_MONOTONIC, &mono);
        publish(f->store, now_ns() / MS, GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, (int64_t)mono.tv_sec * 1000000000,
                                             GRACE_MS),
                         -EINVAL);
        assert_non_null(strstr(hshm_last_detail(), "CLOCK_REALTIME"));
        assert_int_equal(hshm_settle_unknown(f->store, token, now_ns() + 60000 * MS, GRACE_MS),
                         -EINVAL);
        assert_int_equal(hshm_settle_unknown(f->store, token, 0, GRACE_MS), -EINVAL);
        assert_int_equal(hshm_settle_unknown(f->store, token, -5, GRACE_MS), -EINVAL);
        assert_still_hedging(f->store, token);
        /* A token naming no position. */
        assert_int_equal(hshm_settle_unknown(f->store, (uint64_t)40 << 44 | 1, now_ns(), GRACE_MS),
                         HSHM_ENOKEY);
}

/* A scribbled block cannot make it decide early or overflow: it only waits. */
static void test_scribbled_block_only_waits(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;
        uint64_t token = lock(f->store, &st);
        int64_t sent = send_time(&st);

        sleep_ms(GRACE_MS + 5);
        publish(f->store, INT64_MAX, GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS), -EAGAIN);
        assert_non_null(strstr(hshm_last_detail(), "future"));
        publish(f->store, INT64_MIN, GRACE_MS, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS), -EAGAIN);
        publish(f->store, now_ns() / MS, UINT32_MAX, 0);
        assert_int_equal(hshm_settle_unknown(f->store, token, sent, GRACE_MS), -EAGAIN);
        assert_still_hedging(f->store, token);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_no_syncer_decides_nothing, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_waits_past_the_send_not_the_lock, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_send_time_rounds_up, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_larger_grace_wins, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_unpublished_grace_uses_the_bots, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_adopted_hedge_is_left_active, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_judged_lock_has_moved_on, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_send_time_from_another_clock, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_scribbled_block_only_waits, tu_setup,
                                            tu_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
