/*
 * The feed's state machine (validate.c) on its own: pure, so every transition is driven with
 * made-up times. What each test pins: the verdict, the degraded flag, since when, the reason,
 * and the counters.
 */
#undef NDEBUG
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "synctest.h"
#include "validate.h"

#define T0    (INT64_C(1764000000000) * NS_PER_MS) /* some wall-clock instant, in ns */
#define MS(x) ((int64_t)(x)*NS_PER_MS)

static const struct hr_feed_config cfg = {.stale_ns = MS(3000), .max_skew_ns = MS(5000)};

/* A valid, usable snapshot seq taken at local time t (ns). */
static struct hf_snapshot snap_at(uint64_t seq, int64_t t)
{
        struct st_snap s;

        st_snap_init(&s, seq, t / NS_PER_MS);
        return s.snap; /* no records: the arrays are not needed */
}

static enum hr_verdict judge(struct hr_feed *f, struct hf_snapshot sn, int64_t now)
{
        return hr_feed_judge(f, HR_EV_SNAPSHOT, &sn, NULL, now);
}

static void starts_degraded_until_first_snapshot(void **state)
{
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        assert_true(f.degraded);
        assert_int_equal(f.degraded_since_ns, T0);
        assert_non_null(strstr(f.reason, "no snapshot"));
        assert_int_equal(hr_feed_judge(&f, HR_EV_NONE, NULL, NULL, T0 + MS(5000)), HR_IDLE);
        assert_true(f.degraded);
        assert_int_equal(judge(&f, snap_at(1, T0 + MS(5100)), T0 + MS(5100)), HR_ACCEPT);
        assert_false(f.degraded);
        assert_int_equal(f.degraded_since_ns, 0);
        assert_string_equal(f.reason, "");
        assert_int_equal(f.snapshots_ok, 1);
}

static void same_sequence_is_ignored_not_an_error(void **state)
{
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        assert_int_equal(judge(&f, snap_at(5, T0), T0), HR_ACCEPT);
        assert_int_equal(judge(&f, snap_at(5, T0), T0 + MS(100)), HR_SAME);
        assert_int_equal(f.snapshots_ok, 1);
        assert_int_equal(f.snapshots_rejected, 0);
        assert_false(f.degraded);
}

static void sequence_backward_rejected_last_good_kept(void **state)
{
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        assert_int_equal(judge(&f, snap_at(10, T0), T0), HR_ACCEPT);
        assert_int_equal(judge(&f, snap_at(9, T0 + MS(50)), T0 + MS(50)), HR_REJECT);
        assert_int_equal(f.snapshots_rejected, 1);
        assert_int_equal(f.last_seq, 10);
        assert_true(f.degraded);
        assert_int_equal(f.degraded_since_ns, T0 + MS(50));
        assert_non_null(strstr(f.reason, "sequence went back"));
        /* Recovery: the next new sequence. */
        assert_int_equal(judge(&f, snap_at(11, T0 + MS(100)), T0 + MS(100)), HR_ACCEPT);
        assert_false(f.degraded);
}

static void wrong_format_rejected(void **state)
{
        struct hf_snapshot sn = snap_at(1, T0);
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        sn.format = 2;
        assert_int_equal(judge(&f, sn, T0), HR_REJECT);
        assert_non_null(strstr(f.reason, "format 2"));
        assert_int_equal(f.snapshots_rejected, 1);
        assert_false(f.have_valid);
}

static void clock_skew_rejected_both_ways(void **state)
{
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        assert_int_equal(judge(&f, snap_at(1, T0 + MS(5001)), T0), HR_REJECT);
        assert_non_null(strstr(f.reason, "ahead"));
        assert_int_equal(judge(&f, snap_at(2, T0 - MS(5001)), T0), HR_REJECT);
        assert_non_null(strstr(f.reason, "behind"));
        assert_int_equal(judge(&f, snap_at(3, T0 - MS(4999)), T0), HR_ACCEPT);
        assert_int_equal(f.snapshots_rejected, 2);
}

static void stale_after_stale_ms_without_new_sequence(void **state)
{
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        assert_int_equal(judge(&f, snap_at(1, T0), T0), HR_ACCEPT);
        assert_int_equal(hr_feed_judge(&f, HR_EV_NONE, NULL, NULL, T0 + MS(3000)), HR_IDLE);
        assert_false(f.degraded);
        /* The same file read again does not make the feed fresh. */
        assert_int_equal(judge(&f, snap_at(1, T0), T0 + MS(3001)), HR_SAME);
        assert_true(f.degraded);
        assert_int_equal(f.degraded_since_ns, T0 + MS(3001));
        assert_non_null(strstr(f.reason, "stale"));
        assert_int_equal(f.snapshots_rejected, 0); /* stale is not a rejection */
        assert_int_equal(judge(&f, snap_at(2, T0 + MS(3500)), T0 + MS(3500)), HR_ACCEPT);
        assert_false(f.degraded);
}

static void missing_file_degrades_and_stays_named(void **state)
{
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        assert_int_equal(judge(&f, snap_at(1, T0), T0), HR_ACCEPT);
        assert_int_equal(hr_feed_judge(&f, HR_EV_MISSING, NULL, NULL, T0 + MS(100)), HR_ABSENT);
        assert_true(f.degraded);
        assert_non_null(strstr(f.reason, "missing"));
        /* Later it is stale too, but "missing" says more and stays. */
        hr_feed_judge(&f, HR_EV_NONE, NULL, NULL, T0 + MS(10000));
        assert_non_null(strstr(f.reason, "missing"));
        assert_int_equal(f.degraded_since_ns, T0 + MS(100));
        assert_int_equal(hr_feed_judge(&f, HR_EV_UNREADABLE, NULL, "EACCES", T0 + MS(10100)),
                         HR_ABSENT);
        assert_non_null(strstr(f.reason, "EACCES"));
        assert_int_equal(f.degraded_since_ns, T0 + MS(100)); /* one degraded period */
}

static void unparsable_file_rejected(void **state)
{
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        assert_int_equal(judge(&f, snap_at(1, T0), T0), HR_ACCEPT);
        assert_int_equal(
            hr_feed_judge(&f, HR_EV_BAD, NULL, "line 3, P volume: not a number", T0 + MS(10)),
            HR_REJECT);
        assert_int_equal(f.snapshots_rejected, 1);
        assert_true(f.degraded);
        assert_non_null(strstr(f.detail, "line 3, P volume"));
}

static void disconnected_netting_logged_out_unusable(void **state)
{
        struct hf_snapshot sn;
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        assert_int_equal(judge(&f, snap_at(1, T0), T0), HR_ACCEPT);
        sn = snap_at(2, T0);
        sn.connected = 0;
        assert_int_equal(judge(&f, sn, T0 + MS(10)), HR_UNUSABLE);
        assert_true(f.degraded);
        assert_non_null(strstr(f.reason, "disconnected"));
        assert_int_equal(f.last_seq, 2); /* valid: the feed itself is alive */
        sn = snap_at(3, T0);
        sn.margin_mode = 0;
        assert_int_equal(judge(&f, sn, T0 + MS(20)), HR_UNUSABLE);
        assert_non_null(strstr(f.reason, "not a hedging account"));
        sn = snap_at(4, T0);
        sn.margin_mode = 1;
        assert_int_equal(judge(&f, sn, T0 + MS(30)), HR_UNUSABLE);
        sn = snap_at(5, T0);
        sn.login = 0;
        assert_int_equal(judge(&f, sn, T0 + MS(40)), HR_UNUSABLE);
        assert_non_null(strstr(f.reason, "logged in"));
        assert_int_equal(f.degraded_since_ns, T0 + MS(10));
        assert_int_equal(f.snapshots_ok, 5);
        assert_int_equal(f.snapshots_rejected, 0);
        assert_int_equal(judge(&f, snap_at(6, T0 + MS(50)), T0 + MS(50)), HR_ACCEPT);
        assert_false(f.degraded);
}

static void other_account_rejected(void **state)
{
        struct hf_snapshot sn;
        struct hr_feed f;

        (void)state;
        hr_feed_init(&f, &cfg, T0);
        assert_int_equal(judge(&f, snap_at(1, T0), T0), HR_ACCEPT);
        sn = snap_at(2, T0);
        sn.login = ST_LOGIN + 1;
        assert_int_equal(judge(&f, sn, T0), HR_REJECT);
        assert_non_null(strstr(f.reason, "account"));
        assert_int_equal(f.snapshots_rejected, 1);
}

static void once_mode_has_no_history(void **state)
{
        struct hr_feed_config once = cfg;
        struct hr_feed f;

        (void)state;
        once.once = 1;
        hr_feed_init(&f, &once, T0);
        assert_int_equal(judge(&f, snap_at(7, T0), T0), HR_ACCEPT);
        /* No staleness in a single pass, and skew still applies. */
        hr_feed_judge(&f, HR_EV_NONE, NULL, NULL, T0 + MS(60000));
        assert_false(f.degraded);
        assert_int_equal(judge(&f, snap_at(8, T0 - MS(6000)), T0), HR_REJECT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(starts_degraded_until_first_snapshot),
            cmocka_unit_test(same_sequence_is_ignored_not_an_error),
            cmocka_unit_test(sequence_backward_rejected_last_good_kept),
            cmocka_unit_test(wrong_format_rejected),
            cmocka_unit_test(clock_skew_rejected_both_ways),
            cmocka_unit_test(stale_after_stale_ms_without_new_sequence),
            cmocka_unit_test(missing_file_degrades_and_stays_named),
            cmocka_unit_test(unparsable_file_rejected),
            cmocka_unit_test(disconnected_netting_logged_out_unusable),
            cmocka_unit_test(other_account_rejected),
            cmocka_unit_test(once_mode_has_no_history),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
