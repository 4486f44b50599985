/*
 * The stale-feed tests: whatever is wrong with the feed, nothing is reset, adopted or marked
 * ERROR, even when every slot would be acted on by a good snapshot; the sync block says
 * degraded, since when and why; and it all resumes by itself on a fresh good snapshot.
 *
 * Each test builds the same segment (a closed hedge's ACTIVE slot that rule 1 would reset, an
 * AVAILABLE slot with a tagged hedge rule 2 would adopt, a slot with two tagged hedges rule 4
 * would mark ERROR), accepts one good snapshot on which everything is still fine, then feeds
 * the bad input through hr_syncer_step at a time when all graces have run out.
 */
#undef NDEBUG
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "synctest.h"
#include "syncer.h"
#include "testutil.h"

#define G "corr-1"

struct world {
        struct hr_syncer sy;
        hshm_store *s;
        char adopt_tag[HSHM_TAG_LEN + 1], dup_tag[HSHM_TAG_LEN + 1];
        int64_t t0; /* local time of the first, good snapshot */
        uint64_t seq;
};

static const struct hr_syncer_config scfg = {
    .interval_ms = 100,
    .stale_ns = 3000 * NS_PER_MS,
    .grace_ns = 1000 * NS_PER_MS,
    .max_skew_ns = 5000 * NS_PER_MS,
};

/* The snapshot on which nothing needs doing: every hedge open, nothing tagged twice. */
static void fine_snapshot(struct world *w, struct st_snap *snap, uint64_t seq, int64_t t)
{
        st_snap_init(snap, seq, t / NS_PER_MS);
        st_add_position(snap, 1001, "XAUUSD.r", "");
        st_add_position(snap, 3001, "XAUUSD.r", w->dup_tag);
}

/* The snapshot on which everything needs doing: 1001 closed, an untracked tagged hedge, a
 * second hedge under the dup slot's lock. */
static void bad_news_snapshot(struct world *w, struct st_snap *snap, uint64_t seq, int64_t t)
{
        st_snap_init(snap, seq, t / NS_PER_MS);
        st_add_position(snap, 2001, "XAUUSD.r", w->adopt_tag);
        st_add_position(snap, 3001, "XAUUSD.r", w->dup_tag);
        st_add_position(snap, 3002, "XAUUSD.r", w->dup_tag);
}

static void build(struct world *w, hshm_store *s)
{
        struct st_snap snap;

        memset(w, 0, sizeof(*w));
        w->s = s;
        st_active(s, G, "EURUSD", 1001, NULL);
        assert_int_equal(hshm_reset(s, st_lock(s, G, "GBPUSD", w->adopt_tag)), 0);
        st_active(s, G, "USDJPY", 3001, w->dup_tag);
        w->t0 = st_now_ns();
        assert_int_equal(hr_syncer_init(&w->sy, s, &scfg, NULL, w->t0), 0);
        fine_snapshot(w, &snap, ++w->seq, w->t0);
        assert_int_equal(hr_syncer_step(&w->sy, HR_EV_SNAPSHOT, &snap.snap, NULL, w->t0, w->t0),
                         HR_ACCEPT);
        assert_false(w->sy.feed.degraded);
}

/* Nothing changed: every slot as build() left it, no action counted. */
static void assert_untouched(struct world *w)
{
        const struct hshm_sync_counters *c = &w->sy.counters;

        assert_int_equal(st_status(w->s, G, "EURUSD").state, HSHM_ACTIVE);
        assert_int_equal(st_status(w->s, G, "GBPUSD").state, HSHM_AVAILABLE);
        assert_int_equal(st_status(w->s, G, "USDJPY").state, HSHM_ACTIVE);
        assert_int_equal(c->resets_closed + c->adoptions + c->duplicates + c->errors_marked, 0);
}

/* Degraded, since when, why, and still naming the last reconciled snapshot. */
static void assert_degraded_block(struct world *w, int64_t now, const char *why,
                                  uint64_t reconciled)
{
        struct hshm_sync b;

        hr_syncer_block(&w->sy, now, &b);
        assert_true(b.degraded);
        assert_true(b.degraded_since_ns > 0 && b.degraded_since_ns <= now);
        assert_non_null(strstr(b.degraded_reason, why));
        assert_int_equal(b.snapshot_seq, reconciled);
}

/* A fresh good snapshot carrying the bad news: now everything happens. */
static void assert_recovers(struct world *w, int64_t now)
{
        struct st_snap snap;
        struct hshm_sync b;

        bad_news_snapshot(w, &snap, 100, now);
        assert_int_equal(hr_syncer_step(&w->sy, HR_EV_SNAPSHOT, &snap.snap, NULL, now, now),
                         HR_ACCEPT);
        assert_int_equal(st_status(w->s, G, "EURUSD").state, HSHM_AVAILABLE);
        assert_int_equal(st_status(w->s, G, "GBPUSD").ticket, 2001);
        assert_int_equal(st_status(w->s, G, "USDJPY").state, HSHM_ERROR);
        assert_int_equal(w->sy.counters.resets_closed, 1);
        assert_int_equal(w->sy.counters.adoptions, 1);
        assert_int_equal(w->sy.counters.duplicates, 1);
        hr_syncer_block(&w->sy, now, &b);
        assert_false(b.degraded);
        assert_int_equal(b.degraded_since_ns, 0);
        assert_string_equal(b.degraded_reason, "");
        assert_int_equal(b.snapshot_seq, 100);
        assert_int_equal(b.snapshot_time_ms, now / NS_PER_MS);
}

static void stale_feed_no_reset_no_adoption(void **state)
{
        struct world w;
        struct st_snap snap;
        int64_t later;

        build(&w, ((struct tu_fixture *)*state)->store);
        later = w.t0 + 3500 * NS_PER_MS;
        assert_int_equal(hr_syncer_step(&w.sy, HR_EV_NONE, NULL, NULL, later, later), HR_IDLE);
        /* The old file read again, whatever it says now, is not reconciled. */
        bad_news_snapshot(&w, &snap, 1, w.t0);
        assert_int_equal(hr_syncer_step(&w.sy, HR_EV_SNAPSHOT, &snap.snap, NULL, later, later),
                         HR_SAME);
        assert_untouched(&w);
        assert_degraded_block(&w, later, "stale", 1);
        assert_recovers(&w, later + 100 * NS_PER_MS);
        hr_syncer_fini(&w.sy);
}

static void missing_snapshot_no_reset_no_adoption(void **state)
{
        struct world w;
        int64_t later;

        build(&w, ((struct tu_fixture *)*state)->store);
        later = w.t0 + 2000 * NS_PER_MS;
        assert_int_equal(hr_syncer_step(&w.sy, HR_EV_MISSING, NULL, NULL, later, later), HR_ABSENT);
        assert_int_equal(hr_syncer_step(&w.sy, HR_EV_NONE, NULL, NULL, later + 5 * NS_PER_S,
                                        later + 5 * NS_PER_S),
                         HR_IDLE);
        assert_untouched(&w);
        assert_degraded_block(&w, later, "missing", 1);
        assert_recovers(&w, later + 6 * NS_PER_S);
        hr_syncer_fini(&w.sy);
}

/* A well-formed snapshot with everything to do, but its sequence went back. */
static void rejected_snapshot_no_reset_no_adoption(void **state)
{
        struct world w;
        struct st_snap snap;
        int64_t later;

        build(&w, ((struct tu_fixture *)*state)->store);
        later = w.t0 + 2000 * NS_PER_MS;
        fine_snapshot(&w, &snap, 50, later - 1);
        assert_int_equal(
            hr_syncer_step(&w.sy, HR_EV_SNAPSHOT, &snap.snap, NULL, later - 1, later - 1),
            HR_ACCEPT);
        bad_news_snapshot(&w, &snap, 49, later);
        assert_int_equal(hr_syncer_step(&w.sy, HR_EV_SNAPSHOT, &snap.snap, NULL, later, later),
                         HR_REJECT);
        assert_int_equal(hr_syncer_step(&w.sy, HR_EV_BAD, NULL, "line 2, P ticket: not a number",
                                        later + 1, later + 1),
                         HR_REJECT);
        assert_untouched(&w);
        assert_int_equal(w.sy.counters.snapshots_rejected, 2);
        assert_degraded_block(&w, later, "rejected", 50);
        assert_recovers(&w, later + 100 * NS_PER_MS);
        hr_syncer_fini(&w.sy);
}

/* Times too far from the local clock are rejected too, and change nothing. */
static void skewed_snapshot_no_reset_no_adoption(void **state)
{
        struct world w;
        struct st_snap snap;
        int64_t later;

        build(&w, ((struct tu_fixture *)*state)->store);
        later = w.t0 + 2000 * NS_PER_MS;
        bad_news_snapshot(&w, &snap, 2, later + 6 * NS_PER_S);
        assert_int_equal(hr_syncer_step(&w.sy, HR_EV_SNAPSHOT, &snap.snap, NULL, later, later),
                         HR_REJECT);
        assert_untouched(&w);
        assert_degraded_block(&w, later, "skew", 1);
        assert_recovers(&w, later + 100 * NS_PER_MS);
        hr_syncer_fini(&w.sy);
}

/* New sequences keep coming, but the terminal has no connection to the trade server. */
static void disconnected_terminal_no_reset_no_adoption(void **state)
{
        struct world w;
        struct st_snap snap;
        int64_t t;

        build(&w, ((struct tu_fixture *)*state)->store);
        t = w.t0 + 2000 * NS_PER_MS;
        for (uint64_t seq = 2; seq < 10; seq++, t += 500 * NS_PER_MS) {
                bad_news_snapshot(&w, &snap, seq, t);
                snap.snap.connected = 0;
                assert_int_equal(hr_syncer_step(&w.sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t, t),
                                 HR_UNUSABLE);
        }
        assert_untouched(&w);
        assert_degraded_block(&w, t, "disconnected", 1);
        assert_recovers(&w, t);
        hr_syncer_fini(&w.sy);
}

/* A netting account merges orders into one position per symbol: tags mean nothing there. */
static void netting_account_no_reset_no_adoption(void **state)
{
        struct world w;
        struct st_snap snap;
        int64_t later;

        build(&w, ((struct tu_fixture *)*state)->store);
        later = w.t0 + 2000 * NS_PER_MS;
        bad_news_snapshot(&w, &snap, 2, later);
        snap.snap.margin_mode = 0;
        assert_int_equal(hr_syncer_step(&w.sy, HR_EV_SNAPSHOT, &snap.snap, NULL, later, later),
                         HR_UNUSABLE);
        assert_untouched(&w);
        assert_degraded_block(&w, later, "hedging", 1);
        assert_recovers(&w, later + 100 * NS_PER_MS);
        hr_syncer_fini(&w.sy);
}

/* Before any snapshot at all the syncer is degraded and does nothing. */
static void no_snapshot_yet_degraded(void **state)
{
        struct hr_syncer sy;
        struct hshm_sync b;
        int64_t t0 = st_now_ns();

        assert_int_equal(hr_syncer_init(&sy, ((struct tu_fixture *)*state)->store, &scfg, NULL, t0),
                         0);
        assert_int_equal(
            hr_syncer_step(&sy, HR_EV_NONE, NULL, NULL, t0 + 10 * NS_PER_S, t0 + 10 * NS_PER_S),
            HR_IDLE);
        hr_syncer_block(&sy, t0 + 10 * NS_PER_S, &b);
        assert_true(b.degraded);
        assert_int_equal(b.degraded_since_ns, t0);
        assert_int_equal(b.snapshot_seq, 0);
        assert_int_equal(b.counters.cycles, 1);
        hr_syncer_fini(&sy);
}

/* Counters carried over from the previous syncer of the segment. */
static void counters_continue(void **state)
{
        struct hshm_sync_counters prev = {.cycles = 10, .snapshots_ok = 7, .adoptions = 3};
        struct hr_syncer sy;
        struct st_snap snap;
        int64_t t0 = st_now_ns();

        assert_int_equal(
            hr_syncer_init(&sy, ((struct tu_fixture *)*state)->store, &scfg, &prev, t0), 0);
        st_snap_init(&snap, 1, t0 / NS_PER_MS);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t0, t0), HR_ACCEPT);
        assert_int_equal(sy.counters.cycles, 11);
        assert_int_equal(sy.counters.snapshots_ok, 8);
        assert_int_equal(sy.counters.adoptions, 3);
        hr_syncer_fini(&sy);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
            T(stale_feed_no_reset_no_adoption),
            T(missing_snapshot_no_reset_no_adoption),
            T(rejected_snapshot_no_reset_no_adoption),
            T(skewed_snapshot_no_reset_no_adoption),
            T(disconnected_terminal_no_reset_no_adoption),
            T(netting_account_no_reset_no_adoption),
            T(no_snapshot_yet_degraded),
            T(counters_continue),
#undef T
        };

        hr_log_setup(HR_LOG_INFO);
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
