/*
 * One test per reconciliation rule of docs/reconcile.md, named after it. Each builds a real
 * segment (testutil's fixture), drives its slots through the public API the way bots do, builds
 * a snapshot in memory, runs one hr_reconcile pass, and checks slot states, tickets, tokens,
 * ERROR reasons and the pass's counts.
 *
 * Time: the rules wait a grace period (GRACE) after a lock or activation. "Later" passes use a
 * snapshot time and a local time LATER past now, so both clocks are beyond the grace; "early"
 * passes use now. A snapshot's time is the earlier of its time_ms and the local time it was
 * read (pass_at reads it at the pass's time; pass_read says when).
 *
 * Also the log: text from snapshots cannot forge a line (log_escapes_...).
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "layout.h"
#include "log.h"
#include "reconcile.h"
#include "synctest.h"
#include "syncer.h"
#include "testutil.h"

#define G     "corr-1"
#define GRACE (1000 * NS_PER_MS)
#define LATER (3 * NS_PER_S)

static hshm_store *store_of(void **state)
{
        return ((struct tu_fixture *)*state)->store;
}

/* One pass over snap at local time now_ns, with the default grace and no memory. */
static struct hr_result pass_at(hshm_store *s, struct st_snap *snap, int64_t now_ns)
{
        struct hr_config cfg = {.grace_ns = GRACE};
        struct hr_result res;

        assert_int_equal(hr_reconcile(s, &snap->snap, &cfg, now_ns, &res), 0);
        return res;
}

/* One pass over snap, read at local time read_ns, at local time now_ns. */
static struct hr_result pass_read(hshm_store *s, struct st_snap *snap, int64_t read_ns,
                                  int64_t now_ns)
{
        struct hr_config cfg = {.grace_ns = GRACE};
        struct hr_result res;

        assert_int_equal(hr_reconcile_read(s, &snap->snap, read_ns, &cfg, now_ns, &res), 0);
        return res;
}

/* A snapshot and a pass both LATER than now: every grace has run out. */
static void snap_later(struct st_snap *snap, uint64_t seq, int64_t *now_ns)
{
        *now_ns = st_now_ns() + LATER;
        st_snap_init(snap, seq, *now_ns / NS_PER_MS);
}

static void snap_now(struct st_snap *snap, uint64_t seq, int64_t *now_ns)
{
        *now_ns = st_now_ns();
        st_snap_init(snap, seq, *now_ns / NS_PER_MS);
}

static void assert_no_action(const struct hr_result *r)
{
        assert_int_equal(r->resets_closed, 0);
        assert_int_equal(r->adoptions, 0);
        assert_int_equal(r->duplicates, 0);
        assert_int_equal(r->errors_marked, 0);
}

/* ---- rule 1: an ACTIVE slot whose hedge is gone is reset ---- */

static void rule1_active_hedge_closed_is_reset(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        uint64_t token = st_active(s, G, "EURUSD", 1001, NULL);
        st_active(s, G, "GBPUSD", 1002, NULL); /* still open: untouched */
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 1002, "XAUUSD.r", "");
        r = pass_at(s, &snap, now);
        assert_int_equal(r.resets_closed, 1);
        assert_int_equal(r.slots, 2);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_AVAILABLE);
        assert_int_equal(st_status(s, G, "GBPUSD").state, HSHM_ACTIVE);
        /* The bot's token is dead now: it cannot reset or activate what the syncer reset. */
        assert_int_equal(hshm_reset(s, token), HSHM_ESTALE);
}

static void rule1_within_grace_waits(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        st_active(s, G, "EURUSD", 1001, NULL);
        snap_now(&snap, 1, &now);
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_int_equal(r.waiting, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
}

/* A terminal clock running ahead must not make a snapshot look newer than the activation:
 * the local clock must be past the grace too. */
static void rule1_terminal_clock_ahead_waits(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;

        st_active(s, G, "EURUSD", 1001, NULL);
        st_snap_init(&snap, 1, st_now_ms() + 3000);
        r = pass_at(s, &snap, st_now_ns());
        assert_no_action(&r);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
}

/* A snapshot taken before the activation (plus grace) cannot prove the hedge closed. */
static void rule1_snapshot_older_than_activation_waits(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;

        st_active(s, G, "EURUSD", 1001, NULL);
        st_snap_init(&snap, 1, st_now_ms() - 500);
        r = pass_at(s, &snap, st_now_ns() + LATER);
        assert_no_action(&r);
        assert_int_equal(r.waiting, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
}

/* The terminal's clock 4 s ahead: a snapshot read 0.5 s after the activation says it was taken
 * 4.5 s after it. It was taken before we read it, so it is judged as taken at the read, and
 * cannot prove the hedge closed, however late the pass itself runs. */
static void rule1_terminal_clock_ahead_judged_by_read_time(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        int64_t t0 = st_now_ns();

        st_active(s, G, "EURUSD", 1001, NULL);
        st_snap_init(&snap, 1, (t0 + 4500 * NS_PER_MS) / NS_PER_MS);
        r = pass_read(s, &snap, t0 + 500 * NS_PER_MS, t0 + LATER);
        assert_no_action(&r);
        assert_int_equal(r.waiting, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
        /* Read past the grace, the same terminal time proves it. */
        snap.snap.seq = 2;
        r = pass_read(s, &snap, t0 + 1500 * NS_PER_MS, t0 + LATER);
        assert_int_equal(r.resets_closed, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_AVAILABLE);
}

/* Present as a pending order (its ticket), or named by an order (position_id): not closed. */
static void rule1_pending_order_keeps_active(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        st_active(s, G, "EURUSD", 1001, NULL);
        st_active(s, G, "GBPUSD", 1002, NULL);
        snap_later(&snap, 1, &now);
        st_add_order(&snap, 1001, 0, "XAUUSD.r", "");    /* limit order not filled yet */
        st_add_order(&snap, 9001, 1002, "XAUUSD.r", ""); /* close order of position 1002 */
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
        assert_int_equal(st_status(s, G, "GBPUSD").state, HSHM_ACTIVE);
}

/* Found by identifier even without a tag (a broker may strip comments). */
static void rule1_untagged_open_hedge_keeps_active(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        st_active(s, G, "EURUSD", 1001, NULL);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 1001, "XAUUSD.r", "rewritten by broker");
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_int_equal(st_status(s, G, "EURUSD").ticket, 1001);
}

/* ---- rule 2: a tagged hedge whose slot is AVAILABLE is adopted ---- */

static void rule2_tagged_hedge_on_available_slot_adopted(void **state)
{
        hshm_store *s = store_of(state);
        struct hshm_status st;
        struct st_snap snap;
        struct hr_result r;
        char tag[HSHM_TAG_LEN + 1], comment[64];
        int64_t now;

        uint64_t token = st_lock(s, G, "EURUSD", tag);
        assert_int_equal(hshm_reset(s, token), 0); /* the bot gave up on an unknown outcome */
        snap_later(&snap, 1, &now); /* the late fill, in a snapshot past the reset + grace */
        snprintf(comment, sizeof(comment), "bot7 %s", tag); /* text around the tag is fine */
        st_add_position(&snap, 2001, "XAUUSD.r", comment);
        r = pass_at(s, &snap, now);
        assert_int_equal(r.adoptions, 1);
        assert_int_equal(r.tagged, 1);
        st = st_status(s, G, "EURUSD");
        assert_int_equal(st.state, HSHM_ACTIVE);
        assert_int_equal(st.ticket, 2001);
        assert_string_equal(st.hedge_symbol, "XAUUSD.r");
        assert_int_equal(st.owner.pid, getpid());
        assert_true(st.token != token);
}

/* A tagged pending order opening a hedge is adopted too: its ticket is the identifier the
 * position will have, so the bot that lost its reply sees ACTIVE and does not send again. */
static void rule2_tagged_pending_order_adopted(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        char tag[HSHM_TAG_LEN + 1];
        int64_t now;

        uint64_t token = st_lock(s, G, "EURUSD", tag);
        assert_int_equal(hshm_reset(s, token), 0);
        snap_later(&snap, 1, &now);
        st_add_order(&snap, 3001, 0, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
        assert_int_equal(r.adoptions, 1);
        assert_int_equal(st_status(s, G, "EURUSD").ticket, 3001);
}

/* A tag made before the segment was recreated (a reboot) finds its key by fingerprint. */
static void rule2_tag_of_recreated_segment_adopted(void **state)
{
        hshm_store *s = store_of(state), *old;
        char name[TU_NAME_MAX], tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        tu_name(name, sizeof(name), "old");
        old = tu_create_open(name, 16);
        assert_non_null(old);
        st_lock(old, G, "XX1", NULL); /* another slot number than in s */
        st_lock(old, G, "EURUSD", tag);
        tu_close_destroy(old, name);
        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", NULL)), 0); /* key known here */
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 2001, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
        assert_int_equal(r.adoptions, 1);
        assert_int_equal(st_status(s, G, "EURUSD").ticket, 2001);
}

/* The reviewer's case: the slot is ACTIVE on 2001; a snapshot taken 200 ms ago still shows
 * 2001; the bot closes it and resets the slot. That snapshot (or any taken before the reset +
 * grace, whatever the terminal's clock says) must not adopt 2001 again: the hedge is closed.
 * One taken past the reset + grace that still shows it (the close failed) adopts it. */
static void rule2_snapshot_older_than_reset_not_adopted(void **state)
{
        hshm_store *s = store_of(state);
        char tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;
        int64_t t0 = st_now_ns();

        uint64_t token = st_active(s, G, "EURUSD", 2001, tag);
        st_snap_init(&snap, 1, t0 / NS_PER_MS - 200);
        st_add_position(&snap, 2001, "XAUUSD.r", tag);
        assert_int_equal(hshm_reset(s, token), 0); /* the bot closed 2001 */
        r = pass_at(s, &snap, st_now_ns());
        assert_no_action(&r);
        assert_int_equal(r.waiting, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_AVAILABLE);
        /* The same old snapshot reconciled late, and one from a terminal clock 4 s ahead read
         * right after the reset: neither was taken past the reset + grace. */
        r = pass_at(s, &snap, st_now_ns() + LATER);
        assert_int_equal(r.adoptions, 0);
        snap.snap.seq = 2;
        snap.snap.time_ms = st_now_ms() + 4000;
        r = pass_at(s, &snap, st_now_ns());
        assert_int_equal(r.adoptions, 0);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_AVAILABLE);
        snap_later(&snap, 3, &t0);
        st_add_position(&snap, 2001, "XAUUSD.r", tag);
        r = pass_at(s, &snap, t0);
        assert_int_equal(r.adoptions, 1);
        assert_int_equal(st_status(s, G, "EURUSD").ticket, 2001);
}

/* ---- rule 3: a tagged hedge of the slot's own lock, HEDGING past grace, is adopted ---- */

static void rule3_hedging_same_token_adopted_after_grace(void **state)
{
        hshm_store *s = store_of(state);
        struct hshm_status st;
        struct st_snap snap;
        struct hr_result r;
        char tag[HSHM_TAG_LEN + 1];
        int64_t now;

        uint64_t token = st_lock(s, G, "EURUSD", tag); /* the reply was lost */
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 4001, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
        assert_int_equal(r.adoptions, 1);
        st = st_status(s, G, "EURUSD");
        assert_int_equal(st.state, HSHM_ACTIVE);
        assert_int_equal(st.ticket, 4001);
        assert_int_equal(st.token, token); /* the bot's token stays current: it may reset */
        assert_int_equal(hshm_activate(s, token, 4001, "XAUUSD.r"), HSHM_ESTATE);
        assert_int_equal(hshm_reset(s, token), 0);
}

static void rule3_within_grace_left_to_bot(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        char tag[HSHM_TAG_LEN + 1];
        int64_t now;

        st_lock(s, G, "EURUSD", tag);
        snap_now(&snap, 1, &now);
        st_add_position(&snap, 4001, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_int_equal(r.waiting, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_HEDGING);
}

/* The terminal's clock 4 s ahead: a snapshot taken 0.1 s after the lock says 4.1 s. Judged
 * by its read time, it is within grace: the bot, which waits for the same time, may still
 * activate. Read past the grace, it is adopted. */
static void rule3_terminal_clock_ahead_waits_for_read_time(void **state)
{
        hshm_store *s = store_of(state);
        char tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;
        int64_t t0 = st_now_ns();

        uint64_t token = st_lock(s, G, "EURUSD", tag);
        st_snap_init(&snap, 1, (t0 + 4100 * NS_PER_MS) / NS_PER_MS);
        st_add_position(&snap, 4001, "XAUUSD.r", tag);
        r = pass_read(s, &snap, t0 + 100 * NS_PER_MS, t0 + 150 * NS_PER_MS);
        assert_no_action(&r);
        assert_int_equal(r.waiting, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_HEDGING);
        snap.snap.seq = 2;
        snap.snap.time_ms = (t0 + 5200 * NS_PER_MS) / NS_PER_MS;
        r = pass_read(s, &snap, t0 + 1200 * NS_PER_MS, t0 + 1250 * NS_PER_MS);
        assert_int_equal(r.adoptions, 1);
        assert_int_equal(st_status(s, G, "EURUSD").ticket, 4001);
        assert_int_equal(st_status(s, G, "EURUSD").token, token);
}

/*
 * The same, through the syncer: what bots wait on. The published snapshot_time_ms is never
 * later than when the syncer read the snapshot, so a bot with an unknown outcome (grace 1 s)
 * keeps waiting after a snapshot read 0.1 s after its lock, however far ahead the terminal's
 * clock is (within --max-skew-ms, here 5 s); and once it is published past lock + grace, the
 * syncer has adopted what that snapshot showed.
 */
static void terminal_clock_ahead_published_time_never_after_read(void **state)
{
        const struct hr_syncer_config cfg = {.interval_ms = 100,
                                             .stale_ns = 3000 * NS_PER_MS,
                                             .grace_ns = GRACE,
                                             .max_skew_ns = 5000 * NS_PER_MS};
        hshm_store *s = store_of(state);
        char tag[HSHM_TAG_LEN + 1];
        struct hshm_sync block;
        struct hr_syncer sy;
        struct st_snap snap;
        int64_t lock_ms, t;

        st_lock(s, G, "EURUSD", tag);
        lock_ms = st_status(s, G, "EURUSD").lock_ns / NS_PER_MS;
        t = lock_ms * NS_PER_MS;
        assert_int_equal(hr_syncer_init(&sy, s, &cfg, NULL, t), 0);
        st_snap_init(&snap, 1, lock_ms + 4100); /* nothing filled yet */
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t + 100 * NS_PER_MS,
                                        t + 120 * NS_PER_MS),
                         HR_ACCEPT);
        hr_syncer_block(&sy, t + 120 * NS_PER_MS, &block);
        assert_int_equal(block.snapshot_time_ms, lock_ms + 100);
        assert_false(block.snapshot_time_ms > lock_ms + 1000); /* the bot keeps waiting */
        /* The fill, in a snapshot read past the grace: adopted before it is published. */
        st_snap_init(&snap, 2, lock_ms + 5300);
        st_add_position(&snap, 4001, "XAUUSD.r", tag);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t + 1200 * NS_PER_MS,
                                        t + 1220 * NS_PER_MS),
                         HR_ACCEPT);
        hr_syncer_block(&sy, t + 1220 * NS_PER_MS, &block);
        assert_int_equal(block.snapshot_time_ms, lock_ms + 1200);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
        /* A terminal clock behind ours: its own time is the earlier one. */
        st_snap_init(&snap, 3, lock_ms + 900);
        st_add_position(&snap, 4001, "XAUUSD.r", tag);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t + 1400 * NS_PER_MS,
                                        t + 1420 * NS_PER_MS),
                         HR_ACCEPT);
        hr_syncer_block(&sy, t + 1420 * NS_PER_MS, &block);
        assert_int_equal(block.snapshot_time_ms, lock_ms + 900);
        hr_syncer_fini(&sy);
}

/* ---- rule 4: duplicates are marked ERROR naming both tickets ---- */

static void assert_duplicate(hshm_store *s, const char *symbol, const struct hr_result *r,
                             const char *t1, const char *t2)
{
        struct hshm_status st = st_status(s, G, symbol);

        assert_int_equal(r->duplicates, 1);
        assert_int_equal(r->errors_marked, 1);
        assert_int_equal(r->resets_closed, 0);
        assert_int_equal(r->adoptions, 0);
        assert_int_equal(st.state, HSHM_ERROR);
        assert_non_null(strstr(st.reason, "duplicate"));
        assert_non_null(strstr(st.reason, t1));
        if (t2 != NULL)
                assert_non_null(strstr(st.reason, t2));
}

/* Bots rely on "a reconciled snapshot newer than my lock + grace, and my slot still HEDGING,
 * means no hedge of mine was in it". Rule 3 and the older hedge's settling (4c) are judged by
 * the same snapshot time, so a snapshot that shows both is left alone within grace (here the
 * terminal clock is ahead of ours, which changes nothing), and past it the slot is ERROR naming
 * both: never HEDGING with the bot's hedge in a snapshot it may rely on. */
static void rule4c_older_and_current_hedge_judged_together(void **state)
{
        hshm_store *s = store_of(state);
        char old_tag[HSHM_TAG_LEN + 1], tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;

        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", old_tag)), 0);
        uint64_t token = st_lock(s, G, "EURUSD", tag);
        st_snap_init(&snap, 1, st_now_ms() + 2000);
        st_add_position(&snap, 4101, "XAUUSD.r", old_tag);
        st_add_position(&snap, 4102, "XAUUSD.r", tag);
        r = pass_at(s, &snap, st_now_ns());
        assert_no_action(&r);
        assert_int_equal(r.waiting, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_HEDGING);
        snap.snap.seq = 2;
        snap.snap.time_ms = (st_now_ns() + LATER) / NS_PER_MS;
        r = pass_at(s, &snap, st_now_ns() + LATER);
        assert_duplicate(s, "EURUSD", &r, "4101", "4102");
        assert_int_equal(hshm_activate(s, token, 4102, "XAUUSD.r"), HSHM_ESTALE);
}

/* 4a: ACTIVE with one hedge, another hedge carries the same lock's tag. */
static void rule4a_active_slot_other_hedge_same_lock_duplicate(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        char tag[HSHM_TAG_LEN + 1];
        int64_t now;

        st_active(s, G, "EURUSD", 5001, tag);
        snap_now(&snap, 1, &now); /* a duplicate under the current lock needs no grace */
        st_add_position(&snap, 5001, "XAUUSD.r", tag);
        st_add_position(&snap, 5002, "XAUUSD.r", tag); /* sent again after a timeout */
        r = pass_at(s, &snap, now);
        assert_duplicate(s, "EURUSD", &r, "5001", "5002");
        assert_int_equal(st_status(s, G, "EURUSD").ticket, 5001); /* evidence kept */
}

/* 4a: ACTIVE with one hedge, a hedge of an older lock still open. */
static void rule4a_active_slot_hedge_of_older_lock_duplicate(void **state)
{
        hshm_store *s = store_of(state);
        char old_tag[HSHM_TAG_LEN + 1], tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        uint64_t old = st_lock(s, G, "EURUSD", old_tag);
        assert_int_equal(hshm_reset(s, old), 0);
        st_active(s, G, "EURUSD", 5002, tag);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 5001, "XAUUSD.r", old_tag); /* the old order filled late */
        st_add_position(&snap, 5002, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
        assert_duplicate(s, "EURUSD", &r, "5002", "5001");
}

/* ...but not while the snapshot may predate the new lock (the old hedge closing). */
static void rule4a_older_lock_within_grace_waits(void **state)
{
        hshm_store *s = store_of(state);
        char old_tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        uint64_t old = st_lock(s, G, "EURUSD", old_tag);
        assert_int_equal(hshm_reset(s, old), 0);
        st_active(s, G, "EURUSD", 5002, NULL);
        snap_now(&snap, 1, &now);
        st_add_position(&snap, 5001, "XAUUSD.r", old_tag);
        st_add_position(&snap, 5002, "XAUUSD.r", "");
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_int_equal(r.waiting, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
}

/* 4b: two tagged hedges for one slot (one lock filled twice). */
static void rule4b_two_tagged_hedges_one_slot_duplicate(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        char tag[HSHM_TAG_LEN + 1];
        int64_t now;

        st_lock(s, G, "EURUSD", tag);
        snap_now(&snap, 1, &now);
        st_add_position(&snap, 6001, "XAUUSD.r", tag);
        st_add_position(&snap, 6002, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
        assert_duplicate(s, "EURUSD", &r, "6001", "6002");
}

static void rule4b_two_tagged_hedges_available_slot_duplicate(void **state)
{
        hshm_store *s = store_of(state);
        char tag1[HSHM_TAG_LEN + 1], tag2[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", tag1)), 0);
        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", tag2)), 0);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 6001, "XAUUSD.r", tag1);
        st_add_position(&snap, 6002, "XAUUSD.r", tag2);
        r = pass_at(s, &snap, now);
        assert_duplicate(s, "EURUSD", &r, "6001", "6002");
}

/* 4c: a hedge of an older lock is open while the slot is HEDGING under a newer one. */
static void rule4c_older_tag_while_hedging_newer_lock_duplicate(void **state)
{
        hshm_store *s = store_of(state);
        char old_tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        uint64_t old = st_lock(s, G, "EURUSD", old_tag);
        assert_int_equal(hshm_reset(s, old), 0);
        uint64_t token = st_lock(s, G, "EURUSD", NULL); /* a bot hedges again */
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 7001, "XAUUSD.r", old_tag);
        r = pass_at(s, &snap, now);
        assert_duplicate(s, "EURUSD", &r, "7001", NULL);
        /* The bot's lock is fenced off: its order result cannot activate the slot. */
        assert_int_equal(hshm_activate(s, token, 7002, "XAUUSD.r"), HSHM_ESTALE);
}

/* ---- rule 5: fine, or a counted warning, never a reset ---- */

/* A tag older than the slot's token, on the slot's own hedge (adopted under a new lock). */
static void rule5_older_tag_same_identifier_fine(void **state)
{
        hshm_store *s = store_of(state);
        struct hr_config cfg = {.grace_ns = GRACE};
        char tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", tag)), 0);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 8001, "XAUUSD.r", tag);
        assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
        assert_int_equal(r.adoptions, 1);
        snap.snap.seq = 2;
        assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
        assert_no_action(&r);
        assert_int_equal(r.tag_warnings, 0);
        assert_int_equal(r.waiting, 0);
        assert_int_equal(st_status(s, G, "EURUSD").ticket, 8001);
}

/* A tag a broker cut: warned about, the slot's hedge (found by identifier) is untouched. */
static void rule5_damaged_tag_warns_never_resets(void **state)
{
        hshm_store *s = store_of(state);
        char tag[HSHM_TAG_LEN + 1], cut[HSHM_TAG_LEN];
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        st_active(s, G, "EURUSD", 9001, tag);
        snprintf(cut, sizeof(cut), "%.20s", tag);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 9001, "XAUUSD.r", cut);
        st_add_position(&snap, 9002, "XAUUSD.r", "HSBC long"); /* not a tag: no warning */
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_int_equal(r.tag_warnings, 1);
        assert_int_equal(r.tagged, 0);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
}

/* A valid tag naming no slot here (a key this segment never saw). */
static void rule5_tag_naming_no_slot_warns(void **state)
{
        hshm_store *s = store_of(state), *other;
        char name[TU_NAME_MAX], tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        tu_name(name, sizeof(name), "other");
        other = tu_create_open(name, 16);
        assert_non_null(other);
        st_lock(other, G, "NZDUSD", tag);
        tu_close_destroy(other, name);
        st_active(s, G, "EURUSD", 9001, NULL);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 9001, "XAUUSD.r", "");
        st_add_position(&snap, 9003, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_int_equal(r.tag_warnings, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_ACTIVE);
}

/* A tag of this segment naming a lock newer than any the slot had cannot come from this
 * segment's history (a forged tag, or a slot scribbled on): a warning, nothing else. The
 * slot's recorded token is rewound by a raw write to get there. */
static void rule5_tag_newer_than_slot_warns(void **state)
{
        struct tu_fixture *fx = *state;
        hshm_store *s = fx->store;
        char tag[HSHM_TAG_LEN + 1];
        struct hshm_header *hdr;
        struct hshm_slot *slots;
        struct st_snap snap;
        struct hr_result r;
        size_t size;
        int64_t now;

        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", NULL)), 0);
        uint64_t token = st_lock(s, G, "EURUSD", tag);
        hdr = tu_map_raw(fx->name, &size);
        assert_non_null(hdr);
        slots = (struct hshm_slot *)(void *)((char *)hdr + hdr->slots_offset);
        slots[0].token = token - 1;
        tu_unmap_raw(hdr, size);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 9301, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_int_equal(r.tag_warnings, 1);
        assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_HEDGING);
}

/* With memory between passes, a bad tag that stays open is counted once. */
static void rule5_warning_counted_once(void **state)
{
        hshm_store *s = store_of(state);
        struct hr_config cfg = {.grace_ns = GRACE, .state = hr_state_new()};
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        assert_non_null(cfg.state);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 9004, "XAUUSD.r", "HS0123456789ABCDEFGH");
        assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
        assert_int_equal(r.tag_warnings, 1);
        assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
        assert_int_equal(r.tag_warnings, 0);
        snap.snap.n_positions = 0; /* gone, then back: warned again */
        assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
        st_add_position(&snap, 9004, "XAUUSD.r", "HS0123456789ABCDEFGH");
        assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
        assert_int_equal(r.tag_warnings, 1);
        hr_state_free(cfg.state);
}

/* Tag parses are remembered per hedge from pass to pass; a comment that changes (a broker
 * rewriting it) is parsed again, both ways. */
static void tag_memo_follows_comment_changes(void **state)
{
        hshm_store *s = store_of(state);
        struct hr_config cfg = {.grace_ns = GRACE, .state = hr_state_new()};
        char tag[HSHM_TAG_LEN + 1], cut[HSHM_TAG_LEN];
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        assert_non_null(cfg.state);
        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", tag)), 0);
        snprintf(cut, sizeof(cut), "%.20s", tag);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 9401, "XAUUSD.r", cut);
        for (int pass = 0; pass < 2; pass++) {
                assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
                assert_int_equal(r.tagged, 0);
                assert_int_equal(st_status(s, G, "EURUSD").state, HSHM_AVAILABLE);
        }
        snprintf(snap.positions[0].comment, sizeof(snap.positions[0].comment), "%s", tag);
        assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
        assert_int_equal(r.tagged, 1);
        assert_int_equal(r.adoptions, 1);
        assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
        assert_int_equal(r.tagged, 1);
        snprintf(snap.positions[0].comment, sizeof(snap.positions[0].comment), "%s", cut);
        assert_int_equal(hr_reconcile(s, &snap.snap, &cfg, now, &r), 0);
        assert_int_equal(r.tagged, 0);
        assert_int_equal(r.tag_warnings, 1);
        hr_state_free(cfg.state);
}

/* ---- ERROR slots are left for a person ---- */

static void error_slot_left_alone(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        char tag[HSHM_TAG_LEN + 1];
        int64_t now;

        st_lock(s, G, "EURUSD", tag);
        assert_int_equal(hshm_mark_error(s, G, "EURUSD", "operator"), 0);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 9101, "XAUUSD.r", tag);
        st_add_position(&snap, 9102, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_string_equal(st_status(s, G, "EURUSD").reason, "operator");
}

/* An empty snapshot of an empty segment, and hedges that are nobody's: nothing to do. */
static void untracked_untagged_hedges_ignored(void **state)
{
        hshm_store *s = store_of(state);
        struct st_snap snap;
        struct hr_result r;
        int64_t now;

        snap_later(&snap, 1, &now);
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        st_add_position(&snap, 9201, "EURUSD", "manual trade");
        r = pass_at(s, &snap, now);
        assert_no_action(&r);
        assert_int_equal(r.hedges, 1);
        assert_int_equal(r.tag_warnings, 0);
}

/* ---- the log: text from snapshots is escaped ---- */

/* Runs one pass with stderr (the log) sent to a file, and returns what was logged. */
static char *logged_by_pass(hshm_store *s, struct st_snap *snap, int64_t now)
{
        char path[] = "/tmp/hedgeshm-log-XXXXXX", *out;
        int fd = mkstemp(path), saved = dup(2);
        struct hr_result r;
        long len;
        FILE *f;

        assert_true(fd >= 0 && saved >= 0);
        unlink(path);
        assert_int_equal(dup2(fd, 2), 2);
        hr_log_setup(HR_LOG_DEBUG); /* a file, not the journal: lines start with the time */
        r = pass_at(s, snap, now);
        assert_int_equal(dup2(saved, 2), 2);
        close(saved);
        hr_log_setup(HR_LOG_DEBUG);
        assert_int_equal(r.adoptions, 1);
        assert_int_equal(r.tag_warnings, 2);
        f = fdopen(fd, "r");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        len = ftell(f);
        assert_true(len > 0);
        rewind(f);
        out = calloc(1, (size_t)len + 1);
        assert_non_null(out);
        assert_int_equal(fread(out, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        return out;
}

/* Comments and symbols are percent-decoded from the snapshot, so they may hold a newline, a
 * carriage return or an escape sequence: logged raw, they would forge journal lines ("<3>...")
 * or rewrite what a terminal shows. Every byte outside 0x20..0x7e is logged as \xNN. */
static void log_escapes_control_bytes_from_snapshots(void **state)
{
        hshm_store *s = store_of(state), *other;
        char name[TU_NAME_MAX], tag[HSHM_TAG_LEN + 1], foreign[HSHM_TAG_LEN + 1], comment[64];
        char buf[16], *out;
        struct st_snap snap;
        int64_t now;

        tu_name(name, sizeof(name), "other");
        other = tu_create_open(name, 16);
        assert_non_null(other);
        st_lock(other, G, "NZDUSD", foreign);
        tu_close_destroy(other, name);
        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", tag)), 0);
        snap_later(&snap, 1, &now);
        st_add_position(&snap, 9501, "EVIL\n<2>FORGED SYMBOL", tag); /* rule 2: adopted */
        st_add_position(&snap, 9502, "XAUUSD.r", "HS0123456789\n<3>FORGED\r\x1b[2K\x7f\\\"");
        snprintf(comment, sizeof(comment), "%s\n<3>FORGED TAG", foreign); /* names no slot */
        st_add_position(&snap, 9503, "XAUUSD.r", comment);
        out = logged_by_pass(s, &snap, now);
        for (char *line = out; *line != '\0'; line = strchr(line, '\n') + 1) {
                /* Every line is one of ours: it starts with the time, and ends at its end. */
                assert_true(line[0] >= '0' && line[0] <= '9');
                assert_non_null(strchr(line, '\n'));
        }
        for (const char *c = out; *c != '\0'; c++)
                assert_true(*c == '\n' || (*c >= 0x20 && *c <= 0x7e));
        assert_non_null(strstr(out, "EVIL\\x0a<2>FORGED SYMBOL"));
        assert_non_null(strstr(out, "HS0123456789\\x0a<3>FORGED\\x0d\\x1b[2K\\x7f\\x5c\\x22"));
        assert_non_null(strstr(out, "\\x0a<3>FORGED TAG"));
        free(out);
        /* Cut short, an escape is never cut in half. */
        assert_string_equal(hr_escape("ab\ncd", buf, 6), "ab");
        assert_string_equal(hr_escape("ab\ncd", buf, 7), "ab\\x0a");
        assert_string_equal(hr_escape("plain", buf, sizeof(buf)), "plain");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
            T(rule1_active_hedge_closed_is_reset),
            T(rule1_within_grace_waits),
            T(rule1_terminal_clock_ahead_waits),
            T(rule1_snapshot_older_than_activation_waits),
            T(rule1_terminal_clock_ahead_judged_by_read_time),
            T(rule1_pending_order_keeps_active),
            T(rule1_untagged_open_hedge_keeps_active),
            T(rule2_tagged_hedge_on_available_slot_adopted),
            T(rule2_tagged_pending_order_adopted),
            T(rule2_tag_of_recreated_segment_adopted),
            T(rule2_snapshot_older_than_reset_not_adopted),
            T(rule3_hedging_same_token_adopted_after_grace),
            T(rule3_within_grace_left_to_bot),
            T(rule3_terminal_clock_ahead_waits_for_read_time),
            T(terminal_clock_ahead_published_time_never_after_read),
            T(rule4a_active_slot_other_hedge_same_lock_duplicate),
            T(rule4a_active_slot_hedge_of_older_lock_duplicate),
            T(rule4a_older_lock_within_grace_waits),
            T(rule4b_two_tagged_hedges_one_slot_duplicate),
            T(rule4b_two_tagged_hedges_available_slot_duplicate),
            T(rule4c_older_tag_while_hedging_newer_lock_duplicate),
            T(rule4c_older_and_current_hedge_judged_together),
            T(rule5_older_tag_same_identifier_fine),
            T(rule5_damaged_tag_warns_never_resets),
            T(rule5_tag_naming_no_slot_warns),
            T(rule5_tag_newer_than_slot_warns),
            T(rule5_warning_counted_once),
            T(tag_memo_follows_comment_changes),
            T(error_slot_left_alone),
            T(untracked_untagged_hedges_ignored),
            T(log_escapes_control_bytes_from_snapshots),
#undef T
        };

        hr_log_setup(HR_LOG_DEBUG);
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
