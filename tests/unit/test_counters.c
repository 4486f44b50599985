/*
 * Unit tests for the shared counters: after a scripted sequence of wins and refusals, through
 * two handles (one of them closed before reading), hshm_stats() must give exactly the
 * expected numbers. Refusals for bad input or read-only handles are not counted.
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"

static void expect_stats(hshm_store *store, const struct hshm_stats *want)
{
        struct hshm_stats got;

        memset(&got, 0xa5, sizeof(got));
        assert_int_equal(hshm_stats(store, &got), 0);
        assert_int_equal(got.locks_won, want->locks_won);
        assert_int_equal(got.lock_conflicts, want->lock_conflicts);
        assert_int_equal(got.activations, want->activations);
        assert_int_equal(got.resets, want->resets);
        assert_int_equal(got.errors, want->errors);
        assert_int_equal(got.clears, want->clears);
        assert_int_equal(got.stale_refusals, want->stale_refusals);
        assert_int_equal(got.keys_inserted, want->keys_inserted);
}

static void test_fresh_segment_counts_nothing(void **state)
{
        struct tu_fixture *f = *state;
        const struct hshm_stats zero = {0};

        expect_stats(f->store, &zero);
}

static void test_scripted_sequence(void **state)
{
        struct tu_fixture *f = *state;
        hshm_store *a = f->store, *b = NULL, *ro = NULL;
        uint64_t t1, t2, t3, tb;
        struct hshm_status st;

        assert_int_equal(hshm_open(f->name, 0, &b), 0);

        assert_int_equal(hshm_lock(a, "g", "EURUSD", &t1), 0);       /* won 1, key 1 */
        assert_int_equal(hshm_lock(b, "g", "EURUSD", &tb), -EBUSY);  /* conflict 1 */
        assert_int_equal(hshm_activate(a, t1, 100, "GBPUSD"), 0);    /* activation 1 */
        assert_int_equal(hshm_lock(a, "g", "EURUSD", &tb), -EBUSY);  /* conflict 2 */
        assert_int_equal(hshm_reset(b, t1), 0);                      /* reset 1 */
        assert_int_equal(hshm_reset(a, t1), HSHM_ESTALE);            /* stale 1 */
        assert_int_equal(hshm_activate(b, t1, 1, "X"), HSHM_ESTALE); /* stale 2 */

        assert_int_equal(hshm_lock(b, "g", "US30Cash", &t2), 0);              /* won 2, key 2 */
        assert_int_equal(hshm_mark_error(a, "g", "US30Cash", "rejected"), 0); /* error 1 */
        assert_int_equal(hshm_lock(a, "g", "US30Cash", &tb), -EBUSY);         /* conflict 3 */
        assert_int_equal(hshm_reset(b, t1), HSHM_ESTALE);                     /* stale 3 */
        assert_int_equal(hshm_clear(b, "g", "US30Cash"), 0);                  /* clear 1 */
        assert_int_equal(hshm_mark_error(a, "g", "#AAPL", "halted"), 0);      /* error 2, key 3 */

        assert_int_equal(hshm_lock(b, "g", "EURUSD", &t3), 0); /* won 3 */
        assert_int_equal(hshm_reset(b, t3), 0);                /* reset 2 */

        /* None of these count: bad input, unknown keys, wrong state, read-only handles,
         * lookups. */
        assert_int_equal(hshm_lock(a, "g", "bad key", &tb), -EINVAL);
        assert_int_equal(hshm_clear(a, "g", "EURUSD"), HSHM_ESTATE);
        assert_int_equal(hshm_clear(a, "g", "UNKNOWN"), HSHM_ENOKEY);
        assert_int_equal(hshm_mark_error(a, "g", "#AAPL", "again"), HSHM_ESTATE);
        assert_int_equal(hshm_is_available(a, "g", "UNKNOWN"), 1);
        assert_int_equal(hshm_status(a, "g", "UNKNOWN", &st), HSHM_ENOKEY);
        assert_int_equal(hshm_status(a, "g", "EURUSD", &st), 0);
        assert_int_equal(hshm_open(f->name, HSHM_OPEN_RDONLY, &ro), 0);
        assert_int_equal(hshm_lock(ro, "g", "EURUSD", &tb), -EROFS);
        assert_int_equal(hshm_reset(ro, t3), -EROFS);

        const struct hshm_stats want = {
            .locks_won = 3,
            .lock_conflicts = 3,
            .activations = 1,
            .resets = 2,
            .errors = 2,
            .clears = 1,
            .stale_refusals = 3,
            .keys_inserted = 3,
        };
        expect_stats(a, &want);
        expect_stats(b, &want);
        expect_stats(ro, &want);
        /* Counters outlive the handle that made them. */
        hshm_close(b);
        expect_stats(a, &want);
        expect_stats(ro, &want);
        hshm_close(ro);
}

static void test_many_handles(void **state)
{
        struct tu_fixture *f = *state;
        enum { HANDLES = 20 };
        hshm_store *h[HANDLES];
        uint64_t token;
        struct hshm_stats want = {0};

        /* Each handle wins once and then is refused once, then goes away. */
        for (int i = 0; i < HANDLES; i++) {
                assert_int_equal(hshm_open(f->name, 0, &h[i]), 0);
                assert_int_equal(hshm_lock(h[i], "g", "EURUSD", &token), 0);
                assert_int_equal(hshm_lock(h[i], "g", "EURUSD", &token), -EBUSY);
                assert_int_equal(hshm_reset(h[i], token), 0);
                if (i % 2)
                        hshm_close(h[i]);
        }
        for (int i = 0; i < HANDLES; i += 2)
                hshm_close(h[i]);
        want.locks_won = HANDLES;
        want.lock_conflicts = HANDLES;
        want.resets = HANDLES;
        want.keys_inserted = 1;
        expect_stats(f->store, &want);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup, tu_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_fresh_segment_counts_nothing),
            T(test_scripted_sequence),
            T(test_many_handles),
        };

        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
