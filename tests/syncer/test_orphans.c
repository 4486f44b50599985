/*
 * Rule 7 of docs/reconcile.md, one test per case, named after it: a HEDGING lock whose owner
 * died, or whose lease ran out, is released only on a fresh snapshot, taken past the lock's
 * grace and past the moment it could last have placed an order, that shows no position, order
 * or deal with the lock's tag; adopted when the broker has its hedge; never touched while the
 * feed is degraded. Also the orphan gauges, and hshm_repair run by every syncer cycle.
 *
 * A dead owner is a real one: a child process opens the segment, locks and exits without
 * closing it (st_lock_dead), or is killed in the middle of the lock (hsi_fault_hook). A live
 * owner is this process. Times as in test_reconcile.c: LATER is past every grace.
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "log.h"
#include "reconcile.h"
#include "synctest.h"
#include "syncer.h"
#include "testutil.h"

#define G     "corr-1"
#define GRACE (1000 * NS_PER_MS)
#define LATER (3 * NS_PER_S)

static const struct hr_syncer_config scfg = {
    .interval_ms = 100,
    .stale_ns = 3000 * NS_PER_MS,
    .grace_ns = GRACE,
    .max_skew_ns = 5000 * NS_PER_MS,
};

/* Each test gets a segment and a reconcile state that lives across its passes, as the
 * syncer's does (rule 7 remembers when it first saw an owner dead). */
struct fixture {
        struct tu_fixture tu;
        struct hr_config cfg;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        void *tu = NULL;

        assert_int_equal(tu_setup(&tu), 0);
        f->tu = *(struct tu_fixture *)tu;
        free(tu);
        f->cfg.grace_ns = GRACE;
        f->cfg.state = hr_state_new();
        assert_non_null(f->cfg.state);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        hr_state_free(f->cfg.state);
        tu_close_destroy(f->tu.store, f->tu.name);
        free(f);
        return 0;
}

/* One pass over snap at local time now_ns (the snapshot's time is its own). */
static struct hr_result pass(struct fixture *f, struct st_snap *snap, int64_t now_ns)
{
        struct hr_result res;

        assert_int_equal(hr_reconcile(f->tu.store, &snap->snap, &f->cfg, now_ns, &res), 0);
        return res;
}

/* One pass over snap, read at local time read_ns, at local time now_ns. */
static struct hr_result pass_read(struct fixture *f, struct st_snap *snap, int64_t read_ns,
                                  int64_t now_ns)
{
        struct hr_result res;

        assert_int_equal(
            hr_reconcile_read(f->tu.store, &snap->snap, read_ns, &f->cfg, now_ns, &res), 0);
        return res;
}

/* An empty snapshot taken at t (local ns), of a connected hedging account. */
static void snap_at(struct st_snap *snap, uint64_t seq, int64_t t)
{
        st_snap_init(snap, seq, t / NS_PER_MS);
}

static enum hshm_state state_of(struct fixture *f, const char *symbol)
{
        return st_status(f->tu.store, G, symbol).state;
}

static void assert_no_orphan_action(const struct hr_result *r)
{
        assert_int_equal(r->orphans_released, 0);
        assert_int_equal(r->orphans_adopted, 0);
        assert_int_equal(r->adoptions, 0);
        assert_int_equal(r->resets_closed, 0);
        assert_int_equal(r->errors_marked, 0);
}

static void rule7_dead_owner_released_after_grace(void **state)
{
        struct fixture *f = *state;
        uint64_t token = st_lock_dead(f->tu.name, G, "EURUSD", NULL), again;
        int64_t t0 = st_now_ns();
        struct st_snap snap;
        struct hr_result r;

        /* Seen dead at t0: a snapshot more than grace after that, with nothing tagged. */
        snap_at(&snap, 1, t0);
        r = pass(f, &snap, t0);
        assert_int_equal(r.orphans_waiting, 1);
        snap_at(&snap, 2, t0 + LATER);
        r = pass(f, &snap, t0 + LATER);
        assert_int_equal(r.orphans_released, 1);
        assert_int_equal(r.orphans_waiting, 0);
        assert_int_equal(r.leases_expired, 0);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_AVAILABLE);
        /* The fencing token moved on: the dead lock's token can touch nothing. */
        assert_int_equal(hshm_reset(f->tu.store, token), HSHM_ESTALE);
        again = st_lock(f->tu.store, G, "EURUSD", NULL);
        assert_true((again & ((UINT64_C(1) << 44) - 1)) > (token & ((UINT64_C(1) << 44) - 1)));
}

static void rule7_dead_owner_not_released_before_grace(void **state)
{
        struct fixture *f = *state;
        int64_t t0;
        struct st_snap snap;
        struct hr_result r;

        st_lock_dead(f->tu.name, G, "EURUSD", NULL);
        t0 = st_now_ns();
        snap_at(&snap, 1, t0);
        r = pass(f, &snap, t0);
        assert_no_orphan_action(&r);
        assert_int_equal(r.orphans_waiting, 1);
        /* Only the snapshot is late (a terminal clock ahead): it was read too early. */
        snap_at(&snap, 2, t0 + LATER);
        r = pass(f, &snap, t0 + GRACE / 2);
        assert_no_orphan_action(&r);
        /* Only the local clock is late: the snapshot may predate the order. */
        snap_at(&snap, 3, t0 + GRACE / 2);
        r = pass(f, &snap, t0 + LATER);
        assert_no_orphan_action(&r);
        assert_int_equal(r.orphans_waiting, 1);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_HEDGING);
}

/* The owner may have sent its order just before it died, long after its lock: the snapshot
 * must postdate the first sighting of its death by grace, not only the lock. */
static void rule7_dead_owner_waits_grace_after_first_seen_dead(void **state)
{
        struct fixture *f = *state;
        int64_t t = st_now_ns() + LATER;
        struct st_snap snap;
        struct hr_result r;

        st_lock_dead(f->tu.name, G, "EURUSD", NULL);
        snap_at(&snap, 1, t); /* lock + grace long past, but its death is news */
        r = pass(f, &snap, t);
        assert_no_orphan_action(&r);
        assert_int_equal(r.orphans_waiting, 1);
        snap_at(&snap, 2, t + GRACE + NS_PER_MS);
        r = pass(f, &snap, t + GRACE + NS_PER_MS);
        assert_int_equal(r.orphans_released, 1);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_AVAILABLE);
}

/* The terminal's clock ahead of ours: a snapshot that says it was taken long after the owner
 * was seen dead, but was read within grace of it, may predate the dead owner's order. It is
 * judged as taken when it was read, however late the pass runs. */
static void rule7_terminal_clock_ahead_judged_by_read_time(void **state)
{
        struct fixture *f = *state;
        int64_t t0;
        struct st_snap snap;
        struct hr_result r;

        st_lock_dead(f->tu.name, G, "EURUSD", NULL);
        t0 = st_now_ns();
        snap_at(&snap, 1, t0);
        r = pass(f, &snap, t0); /* first seen dead at t0 */
        assert_int_equal(r.orphans_waiting, 1);
        snap_at(&snap, 2, t0 + LATER);
        r = pass_read(f, &snap, t0 + GRACE / 2, t0 + LATER);
        assert_no_orphan_action(&r);
        assert_int_equal(r.orphans_waiting, 1);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_HEDGING);
        snap.snap.seq = 3;
        r = pass_read(f, &snap, t0 + GRACE + 5 * NS_PER_MS, t0 + LATER);
        assert_int_equal(r.orphans_released, 1);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_AVAILABLE);
}

/* A syncer that has seen the orphan, then a degraded feed: nothing released while degraded,
 * the gauge still counts it, and the first fresh snapshot releases it. */
static void degraded_then_fresh(struct fixture *f, int disconnected)
{
        hshm_store *s = f->tu.store;
        struct hr_syncer sy;
        struct st_snap snap;
        int64_t t0, t;

        st_lock_dead(f->tu.name, G, "EURUSD", NULL);
        t0 = st_now_ns();
        assert_int_equal(hr_syncer_init(&sy, s, &scfg, NULL, t0), 0);
        snap_at(&snap, 1, t0);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t0, t0), HR_ACCEPT);
        assert_int_equal(sy.counters.orphans_waiting, 1);
        t = t0 + scfg.stale_ns + LATER;
        if (disconnected) {
                snap_at(&snap, 2, t);
                snap.snap.connected = 0;
                assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t, t),
                                 HR_UNUSABLE);
        } else {
                assert_int_equal(hr_syncer_step(&sy, HR_EV_NONE, NULL, NULL, t, t), HR_IDLE);
        }
        assert_true(sy.feed.degraded);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_HEDGING);
        assert_int_equal(sy.counters.orphans_released, 0);
        assert_int_equal(sy.counters.orphans_waiting, 1);
        assert_int_equal(sy.counters.leases_expired, 0);

        snap_at(&snap, 3, t);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t, t), HR_ACCEPT);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_AVAILABLE);
        assert_int_equal(sy.counters.orphans_released, 1);
        assert_int_equal(sy.counters.orphans_waiting, 0);
        hr_syncer_fini(&sy);
}

static void rule7_not_released_while_stale(void **state)
{
        degraded_then_fresh(*state, 0);
}

static void rule7_not_released_while_disconnected(void **state)
{
        degraded_then_fresh(*state, 1);
}

static void rule7_dead_owner_tagged_position_adopted(void **state)
{
        struct fixture *f = *state;
        char tag[HSHM_TAG_LEN + 1];
        uint64_t token = st_lock_dead(f->tu.name, G, "EURUSD", tag);
        int64_t t = st_now_ns() + LATER;
        struct hshm_status st;
        struct st_snap snap;
        struct hr_result r;

        snap_at(&snap, 1, t);
        st_add_position(&snap, 5001, "XAUUSD.r", tag);
        r = pass(f, &snap, t);
        assert_int_equal(r.orphans_adopted, 1);
        assert_int_equal(r.adoptions, 1);
        assert_int_equal(r.orphans_released, 0);
        assert_int_equal(r.orphans_waiting, 0);
        st = st_status(f->tu.store, G, "EURUSD");
        assert_int_equal(st.state, HSHM_ACTIVE);
        assert_int_equal(st.ticket, 5001);
        assert_int_equal(st.token, token);
}

/* The tagged position lost its comment at the broker, but the deal that opened it kept it. */
static void rule7_deal_of_open_untagged_position_adopted(void **state)
{
        struct fixture *f = *state;
        char tag[HSHM_TAG_LEN + 1];
        int64_t t;
        struct st_snap snap;
        struct hr_result r;

        st_lock_dead(f->tu.name, G, "EURUSD", tag);
        t = st_now_ns() + LATER;
        snap_at(&snap, 1, t);
        st_add_position(&snap, 5001, "XAUUSD.r", "");
        st_add_deal(&snap, 9001, 5001, 0, "XAUUSD.r", tag);
        r = pass(f, &snap, t);
        assert_int_equal(r.orphans_adopted, 1);
        assert_int_equal(st_status(f->tu.store, G, "EURUSD").ticket, 5001);
}

/* The hedge opened and closed before anyone saw the position: its deals are all that is
 * left. The slot's hedge is gone, so releasing the lock is right. */
static void rule7_only_closed_deal_with_its_tag_released(void **state)
{
        struct fixture *f = *state;
        char tag[HSHM_TAG_LEN + 1];
        int64_t t0;
        struct st_snap snap;
        struct hr_result r;

        st_lock_dead(f->tu.name, G, "EURUSD", tag);
        t0 = st_now_ns();
        snap_at(&snap, 1, t0);
        r = pass(f, &snap, t0);
        snap_at(&snap, 2, t0 + LATER);
        st_add_deal(&snap, 9001, 5001, 0, "XAUUSD.r", tag);
        st_add_deal(&snap, 9002, 5001, 1, "XAUUSD.r", "[tp 2345.10]");
        r = pass(f, &snap, t0 + LATER);
        assert_int_equal(r.orphans_released, 1);
        assert_int_equal(r.orphans_adopted, 0);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_AVAILABLE);
}

/* This process is alive; its lock's lease (1 ms) ran out. Reported while the feed is
 * degraded, then released by a fresh snapshot that shows nothing with its tag; the bot's
 * token is then stale, so it cannot activate a hedge it sends too late. */
static void rule7_live_owner_past_lease_reported_released_by_broker_check(void **state)
{
        struct fixture *f = *state;
        hshm_store *s = f->tu.store;
        struct hr_syncer sy;
        struct st_snap snap;
        uint64_t token;
        int64_t t;

        assert_int_equal(hshm_set_lease_ms(s, 1), 0);
        token = st_lock(s, G, "EURUSD", NULL);
        t = st_now_ns() + LATER;
        assert_int_equal(hr_syncer_init(&sy, s, &scfg, NULL, t), 0);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_NONE, NULL, NULL, t, t), HR_IDLE);
        assert_true(sy.feed.degraded);
        assert_int_equal(sy.counters.leases_expired, 1);
        assert_int_equal(sy.counters.orphans_waiting, 1);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_HEDGING);

        snap_at(&snap, 1, t);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t, t), HR_ACCEPT);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_AVAILABLE);
        assert_int_equal(sy.counters.orphans_released, 1);
        assert_int_equal(sy.counters.leases_expired, 0);
        assert_int_equal(sy.counters.orphans_waiting, 0);
        assert_int_equal(hshm_activate(s, token, 5001, ""), HSHM_ESTALE);
        hr_syncer_fini(&sy);
}

static void rule7_live_owner_within_lease_untouched(void **state)
{
        struct fixture *f = *state;
        int64_t t;
        struct st_snap snap;
        struct hr_result r;

        st_lock(f->tu.store, G, "EURUSD", NULL); /* default lease: a minute */
        t = st_now_ns() + LATER;
        snap_at(&snap, 1, t);
        r = pass(f, &snap, t);
        assert_no_orphan_action(&r);
        assert_int_equal(r.orphans_waiting, 0);
        assert_int_equal(r.leases_expired, 0);
        assert_int_equal(r.waiting, 0);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_HEDGING);
}

static void rule7_detached_lock_within_lease_untouched(void **state)
{
        struct fixture *f = *state;
        uint64_t token;
        int64_t t;
        struct st_snap snap;
        struct hr_result r;

        assert_int_equal(hshm_lock_detached(f->tu.store, G, "EURUSD", &token), 0);
        assert_int_equal(st_status(f->tu.store, G, "EURUSD").owner.entry, 0);
        t = st_now_ns() + LATER;
        snap_at(&snap, 1, t);
        r = pass(f, &snap, t);
        assert_no_orphan_action(&r);
        assert_int_equal(r.orphans_waiting, 0);
        assert_int_equal(r.leases_expired, 0);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_HEDGING);
}

static void rule7_detached_lock_released_after_lease(void **state)
{
        struct fixture *f = *state;
        hshm_store *s = f->tu.store;
        struct hr_syncer sy;
        struct st_snap snap;
        uint64_t token;
        int64_t t;

        assert_int_equal(hshm_set_lease_ms(s, 500), 0);
        assert_int_equal(hshm_lock_detached(s, G, "EURUSD", &token), 0);
        t = st_now_ns() + LATER;
        assert_int_equal(hr_syncer_init(&sy, s, &scfg, NULL, t), 0);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_NONE, NULL, NULL, t, t), HR_IDLE);
        assert_int_equal(sy.counters.leases_expired, 1);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_HEDGING);
        snap_at(&snap, 1, t);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t, t), HR_ACCEPT);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_AVAILABLE);
        assert_int_equal(sy.counters.orphans_released, 1);
        assert_int_equal(sy.counters.leases_expired, 0);
        hr_syncer_fini(&sy);
}

/* Only the CURRENT lock's tag speaks for it: a deal of the slot's previous lock neither holds
 * the release up nor gets adopted. */
static void rule7_old_token_hedge_does_not_count_for_current_lock(void **state)
{
        struct fixture *f = *state;
        char old_tag[HSHM_TAG_LEN + 1];
        int64_t t0;
        struct st_snap snap;
        struct hr_result r;

        assert_int_equal(hshm_reset(f->tu.store, st_lock(f->tu.store, G, "EURUSD", old_tag)), 0);
        st_lock_dead(f->tu.name, G, "EURUSD", NULL);
        t0 = st_now_ns();
        snap_at(&snap, 1, t0);
        r = pass(f, &snap, t0);
        snap_at(&snap, 2, t0 + LATER);
        st_add_position(&snap, 4001, "XAUUSD.r", ""); /* open, and opened by the old lock */
        st_add_deal(&snap, 8001, 4001, 0, "XAUUSD.r", old_tag);
        st_add_deal(&snap, 8002, 4002, 0, "XAUUSD.r", old_tag); /* and one since closed */
        r = pass(f, &snap, t0 + LATER);
        assert_int_equal(r.orphans_released, 1);
        assert_int_equal(r.orphans_adopted, 0);
        assert_int_equal(r.adoptions, 0);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_AVAILABLE);
}

/* orphans_waiting counts every orphan left HEDGING, leases_expired the live and detached
 * ones among them; both are gauges, so they fall as orphans are released or adopted. */
static void rule7_gauges_count_current_orphans(void **state)
{
        struct fixture *f = *state;
        hshm_store *s = f->tu.store;
        char tag_a[HSHM_TAG_LEN + 1];
        struct hr_syncer sy;
        struct st_snap snap;
        uint64_t token;
        int64_t t;

        st_lock_dead(f->tu.name, G, "EURUSD", tag_a); /* its hedge is at the broker */
        st_lock_dead(f->tu.name, G, "GBPUSD", NULL);
        assert_int_equal(hshm_set_lease_ms(s, 1), 0);
        st_lock(s, G, "USDJPY", NULL); /* alive, lease out */
        assert_int_equal(hshm_lock_detached(s, G, "AUDUSD", &token), 0);
        assert_int_equal(hshm_set_lease_ms(s, HSHM_LEASE_DEFAULT_MS), 0);
        st_lock(s, G, "NZDUSD", NULL); /* alive, within its lease: no orphan */
        t = st_now_ns() + LATER;
        assert_int_equal(hr_syncer_init(&sy, s, &scfg, NULL, t), 0);

        assert_int_equal(hr_syncer_step(&sy, HR_EV_NONE, NULL, NULL, t, t), HR_IDLE);
        assert_int_equal(sy.counters.orphans_waiting, 4);
        assert_int_equal(sy.counters.leases_expired, 2);

        /* EURUSD adopted, USDJPY and AUDUSD released; GBPUSD was first seen dead at t, so it
         * waits for a snapshot more than grace after that. */
        snap_at(&snap, 1, t);
        st_add_position(&snap, 5001, "XAUUSD.r", tag_a);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t, t), HR_ACCEPT);
        assert_int_equal(sy.counters.orphans_adopted, 1);
        assert_int_equal(sy.counters.orphans_released, 2);
        assert_int_equal(sy.counters.orphans_waiting, 1);
        assert_int_equal(sy.counters.leases_expired, 0);
        assert_int_equal(state_of(f, "GBPUSD"), HSHM_HEDGING);
        assert_int_equal(state_of(f, "NZDUSD"), HSHM_HEDGING);

        t += GRACE + NS_PER_MS;
        snap_at(&snap, 2, t);
        st_add_position(&snap, 5001, "XAUUSD.r", tag_a);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t, t), HR_ACCEPT);
        assert_int_equal(sy.counters.orphans_released, 3);
        assert_int_equal(sy.counters.orphans_waiting, 0);
        assert_int_equal(state_of(f, "GBPUSD"), HSHM_AVAILABLE);
        assert_int_equal(state_of(f, "NZDUSD"), HSHM_HEDGING);
        hr_syncer_fini(&sy);
}

static void die_at_lock(const char *point)
{
        if (strcmp(point, "lock") == 0)
                raise(SIGKILL);
}

/* A bot killed between its lock's CAS and the lock's payload leaves the slot WRITING. The
 * syncer's next cycle repairs it, degraded feed or not, and counts it; the repaired lock is
 * an orphan with an expired lease, released by the next fresh snapshot. */
static void syncer_cycle_repairs_slot_left_writing_by_killed_child(void **state)
{
        struct fixture *f = *state;
        hshm_store *s = f->tu.store;
        struct hshm_stats stats;
        struct hr_syncer sy;
        struct st_snap snap;
        uint64_t repairs;
        int status;
        int64_t t;
        pid_t pid;

        assert_int_equal(hshm_reset(s, st_lock(s, G, "EURUSD", NULL)), 0); /* key in place */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                hshm_store *c = NULL;
                uint64_t token;

                if (hshm_open(f->tu.name, 0, &c) != 0)
                        _exit(1);
                hsi_fault_hook = die_at_lock;
                hshm_lock(c, G, "EURUSD", &token);
                _exit(2); /* not reached: killed in the lock */
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* No reader has touched the slot (a reader would repair it too). The cycle runs
         * later than the repair, whose lock it judges: the repaired lease has run out. */
        t = st_now_ns() + LATER;
        assert_int_equal(hr_syncer_init(&sy, s, &scfg, NULL, t), 0);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_NONE, NULL, NULL, t, t), HR_IDLE);
        assert_true(sy.feed.degraded);
        assert_true(sy.counters.repairs >= 1);
        assert_int_equal(hshm_stats(s, &stats), 0);
        assert_int_equal(stats.writer_repairs, 1);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_HEDGING);
        assert_int_equal(sy.counters.orphans_waiting, 1);
        assert_int_equal(sy.counters.leases_expired, 1); /* a repaired lock has no owner */

        /* Nothing left to repair: the sum stays. */
        repairs = sy.counters.repairs;
        assert_int_equal(hr_syncer_step(&sy, HR_EV_NONE, NULL, NULL, t, t), HR_IDLE);
        assert_int_equal(sy.counters.repairs, repairs);

        t += LATER;
        snap_at(&snap, 1, t);
        assert_int_equal(hr_syncer_step(&sy, HR_EV_SNAPSHOT, &snap.snap, NULL, t, t), HR_ACCEPT);
        assert_int_equal(state_of(f, "EURUSD"), HSHM_AVAILABLE);
        assert_int_equal(sy.counters.orphans_released, 1);
        hr_syncer_fini(&sy);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
            T(rule7_dead_owner_released_after_grace),
            T(rule7_dead_owner_not_released_before_grace),
            T(rule7_dead_owner_waits_grace_after_first_seen_dead),
            T(rule7_terminal_clock_ahead_judged_by_read_time),
            T(rule7_not_released_while_stale),
            T(rule7_not_released_while_disconnected),
            T(rule7_dead_owner_tagged_position_adopted),
            T(rule7_deal_of_open_untagged_position_adopted),
            T(rule7_only_closed_deal_with_its_tag_released),
            T(rule7_live_owner_past_lease_reported_released_by_broker_check),
            T(rule7_live_owner_within_lease_untouched),
            T(rule7_detached_lock_within_lease_untouched),
            T(rule7_detached_lock_released_after_lease),
            T(rule7_old_token_hedge_does_not_count_for_current_lock),
            T(rule7_gauges_count_current_orphans),
            T(syncer_cycle_repairs_slot_left_writing_by_killed_child),
#undef T
        };

        hr_log_setup(HR_LOG_DEBUG);
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
