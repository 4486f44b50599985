/*
 * One test per reconciliation rule of docs/reconcile.md, named after it. Each builds a real
 * segment (testutil's fixture), drives its slots through the public API the way bots do, builds
 * a snapshot in memory, runs one hr_reconcile pass, and checks slot states, tickets, tokens,
 * ERROR reasons and the pass's counts.
 *
 * Time: the rules wait a grace period (GRACE) after a lock or activation. "Later" passes use a
 * snapshot time and a local time LATER past now, so both clocks are beyond the grace; "early"
 * passes use now.
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "layout.h"
#include "log.h"
#include "reconcile.h"
#include "synctest.h"
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
        snap_now(&snap, 1, &now);
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
        snap_now(&snap, 1, &now);
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
        snap_now(&snap, 1, &now);
        st_add_position(&snap, 2001, "XAUUSD.r", tag);
        r = pass_at(s, &snap, now);
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
 * means no hedge of mine was in it": so rule 3 adopts even while a hedge of an older lock is
 * still within its settling time (here: the terminal clock ahead of ours). That older hedge is
 * a duplicate once it settles (rule 4a). */
static void rule3_adopts_while_older_hedge_settles(void **state)
{
        hshm_store *s = store_of(state);
        char old_tag[HSHM_TAG_LEN + 1], tag[HSHM_TAG_LEN + 1];
        struct st_snap snap;
        struct hr_result r;

        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", old_tag)), 0);
        st_lock(s, G, "EURUSD", tag);
        st_snap_init(&snap, 1, st_now_ms() + 2000);
        st_add_position(&snap, 4101, "XAUUSD.r", old_tag);
        st_add_position(&snap, 4102, "XAUUSD.r", tag);
        r = pass_at(s, &snap, st_now_ns());
        assert_int_equal(r.adoptions, 1);
        assert_int_equal(r.duplicates, 0);
        assert_int_equal(st_status(s, G, "EURUSD").ticket, 4102);
        snap.snap.seq = 2;
        r = pass_at(s, &snap, st_now_ns() + LATER);
        assert_duplicate(s, "EURUSD", &r, "4102", "4101");
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
        snap_now(&snap, 1, &now);
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

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
            T(rule1_active_hedge_closed_is_reset),
            T(rule1_within_grace_waits),
            T(rule1_terminal_clock_ahead_waits),
            T(rule1_snapshot_older_than_activation_waits),
            T(rule1_pending_order_keeps_active),
            T(rule1_untagged_open_hedge_keeps_active),
            T(rule2_tagged_hedge_on_available_slot_adopted),
            T(rule2_tagged_pending_order_adopted),
            T(rule2_tag_of_recreated_segment_adopted),
            T(rule3_hedging_same_token_adopted_after_grace),
            T(rule3_within_grace_left_to_bot),
            T(rule3_adopts_while_older_hedge_settles),
            T(rule4a_active_slot_other_hedge_same_lock_duplicate),
            T(rule4a_active_slot_hedge_of_older_lock_duplicate),
            T(rule4a_older_lock_within_grace_waits),
            T(rule4b_two_tagged_hedges_one_slot_duplicate),
            T(rule4b_two_tagged_hedges_available_slot_duplicate),
            T(rule4c_older_tag_while_hedging_newer_lock_duplicate),
            T(rule5_older_tag_same_identifier_fine),
            T(rule5_damaged_tag_warns_never_resets),
            T(rule5_tag_naming_no_slot_warns),
            T(rule5_tag_newer_than_slot_warns),
            T(rule5_warning_counted_once),
            T(tag_memo_follows_comment_changes),
            T(error_slot_left_alone),
            T(untracked_untagged_hedges_ignored),
#undef T
        };

        hr_log_setup(HR_LOG_DEBUG);
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
