/*
 * Unit tests for the state machine: every transition, every refusal, the fencing tokens, the
 * fields a status snapshot carries, the generation that grows at every transition, and leases.
 *
 *     AVAILABLE --lock--> HEDGING --activate--> ACTIVE --reset--> AVAILABLE
 *                         HEDGING --reset--> AVAILABLE
 *     any state but ERROR --mark_error--> ERROR --clear--> AVAILABLE
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "layout.h"
#include "testutil.h"

#define G "corr-1"

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct hshm_status status_of(hshm_store *store, const char *symbol)
{
        struct hshm_status st;

        memset(&st, 0xa5, sizeof(st)); /* garbage the call must overwrite */
        assert_int_equal(hshm_status(store, G, symbol, &st), 0);
        assert_string_equal(st.group, G);
        assert_string_equal(st.symbol, symbol);
        return st;
}

static enum hshm_state state_of(hshm_store *store, const char *symbol)
{
        return status_of(store, symbol).state;
}

static uint64_t gen_of(uint64_t token)
{
        return token & W_GEN_MAX;
}

static uint32_t used_of(hshm_store *store)
{
        struct hshm_info info;

        assert_int_equal(hshm_info(store, &info), 0);
        return info.used;
}

/* Puts symbol's slot into state and returns the token of its last lock (0 if none). */
static uint64_t drive_to(hshm_store *store, const char *symbol, enum hshm_state state)
{
        uint64_t token = 0;

        switch (state) {
        case HSHM_AVAILABLE:
                assert_int_equal(hshm_lock(store, G, symbol, &token), 0);
                assert_int_equal(hshm_reset(store, token), 0);
                break;
        case HSHM_HEDGING:
                assert_int_equal(hshm_lock(store, G, symbol, &token), 0);
                break;
        case HSHM_ACTIVE:
                assert_int_equal(hshm_lock(store, G, symbol, &token), 0);
                assert_int_equal(hshm_activate(store, token, 42, "EURUSD.pro"), 0);
                break;
        case HSHM_ERROR:
                assert_int_equal(hshm_mark_error(store, G, symbol, "drive_to"), 0);
                break;
        }
        assert_int_equal(state_of(store, symbol), state);
        return token;
}

static void test_lock(void **state)
{
        struct tu_fixture *f = *state;
        uint64_t token = 0, other = 0;
        struct hshm_status st;

        assert_int_equal(hshm_is_available(f->store, G, "EURUSD"), 1);
        assert_int_equal(hshm_lock(f->store, G, "EURUSD", &token), 0);
        assert_true(token != 0);
        st = status_of(f->store, "EURUSD");
        assert_int_equal(st.state, HSHM_HEDGING);
        assert_int_equal(st.token, token);
        assert_int_equal(token >> TOKEN_SLOT_SHIFT, st.slot);
        assert_int_equal(gen_of(token), st.generation);
        assert_int_equal(hshm_is_available(f->store, G, "EURUSD"), 0);

        /* Refused from HEDGING, ACTIVE and ERROR, without touching the slot. */
        assert_int_equal(hshm_lock(f->store, G, "EURUSD", &other), -EBUSY);
        drive_to(f->store, "GBPUSD", HSHM_ACTIVE);
        st = status_of(f->store, "GBPUSD");
        assert_int_equal(hshm_lock(f->store, G, "GBPUSD", &other), -EBUSY);
        assert_int_equal(status_of(f->store, "GBPUSD").generation, st.generation);
        drive_to(f->store, "USDJPY", HSHM_ERROR);
        assert_int_equal(hshm_lock(f->store, G, "USDJPY", &other), -EBUSY);
        assert_int_equal(state_of(f->store, "USDJPY"), HSHM_ERROR);
        assert_int_equal(state_of(f->store, "EURUSD"), HSHM_HEDGING);
        assert_int_equal(status_of(f->store, "EURUSD").token, token);

        /* Bad keys never reach the table. */
        assert_int_equal(hshm_lock(f->store, G, "EUR USD", &other), -EINVAL);
        assert_int_equal(hshm_lock(f->store, "", "EURUSD", &other), -EINVAL);
        assert_int_equal(used_of(f->store), 3);
}

static void test_activate(void **state)
{
        struct tu_fixture *f = *state;
        uint64_t token;
        struct hshm_status st;

        token = drive_to(f->store, "EURUSD", HSHM_HEDGING);
        /* A hedge symbol too long for its field is refused and changes nothing. */
        assert_int_equal(hshm_activate(f->store, token, 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"),
                         -EINVAL);
        assert_int_equal(state_of(f->store, "EURUSD"), HSHM_HEDGING);

        assert_int_equal(hshm_activate(f->store, token, 123456789, "GBPUSD.pro"), 0);
        st = status_of(f->store, "EURUSD");
        assert_int_equal(st.state, HSHM_ACTIVE);
        assert_int_equal(st.ticket, 123456789);
        assert_string_equal(st.hedge_symbol, "GBPUSD.pro");
        assert_int_equal(st.generation, gen_of(token) + 1);
        assert_int_equal(st.token, token);

        /* The token is still current, but ACTIVE is not where activate starts. */
        assert_int_equal(hshm_activate(f->store, token, 1, "X"), HSHM_ESTATE);
        assert_int_equal(status_of(f->store, "EURUSD").ticket, 123456789);

        /* NULL and "" hedge symbols are allowed. */
        token = drive_to(f->store, "GBPUSD", HSHM_HEDGING);
        assert_int_equal(hshm_activate(f->store, token, 5, NULL), 0);
        assert_string_equal(status_of(f->store, "GBPUSD").hedge_symbol, "");
        token = drive_to(f->store, "USDJPY", HSHM_HEDGING);
        assert_int_equal(hshm_activate(f->store, token, 6, ""), 0);
        assert_string_equal(status_of(f->store, "USDJPY").hedge_symbol, "");
}

/* The hedge symbol is a symbol: the rules of a key's symbol apply to it. Spaces and
 * control bytes would otherwise reach hedgectl's and shmdump's output verbatim. */
static void test_activate_hedge_symbol_validated(void **state)
{
        struct tu_fixture *f = *state;
        static const char *const bad[] = {"EUR USD", "EURUSD\n", "\x1b[2J", "caf\xc3\xa9"};
        uint64_t token = drive_to(f->store, "EURUSD", HSHM_HEDGING);

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int rc = hshm_activate(f->store, token, 1, bad[i]);

                if (rc != -EINVAL)
                        fail_msg("hedge symbol \"%s\" accepted (%d)", bad[i], rc);
        }
        assert_int_equal(state_of(f->store, "EURUSD"), HSHM_HEDGING);
}

static void test_activate_refused_from_other_states(void **state)
{
        struct tu_fixture *f = *state;
        uint64_t token;
        int rc;

        /* AVAILABLE after reset: the token is stale. */
        token = drive_to(f->store, "EURUSD", HSHM_AVAILABLE);
        assert_int_equal(hshm_activate(f->store, token, 1, "X"), HSHM_ESTALE);
        assert_int_equal(state_of(f->store, "EURUSD"), HSHM_AVAILABLE);

        /* ERROR after the lock: the lock's token no longer means anything. */
        token = drive_to(f->store, "GBPUSD", HSHM_HEDGING);
        assert_int_equal(hshm_mark_error(f->store, G, "GBPUSD", "broker down"), 0);
        rc = hshm_activate(f->store, token, 1, "X");
        assert_true(rc == HSHM_ESTALE || rc == HSHM_ESTATE);
        rc = hshm_reset(f->store, token);
        assert_true(rc == HSHM_ESTALE || rc == HSHM_ESTATE);
        assert_int_equal(state_of(f->store, "GBPUSD"), HSHM_ERROR);
}

static void test_reset(void **state)
{
        struct tu_fixture *f = *state;
        uint64_t token;
        struct hshm_status st;
        int rc;

        /* From HEDGING (the order failed). */
        token = drive_to(f->store, "EURUSD", HSHM_HEDGING);
        assert_int_equal(hshm_reset(f->store, token), 0);
        st = status_of(f->store, "EURUSD");
        assert_int_equal(st.state, HSHM_AVAILABLE);
        assert_int_equal(st.generation, gen_of(token) + 1);
        assert_int_equal(hshm_is_available(f->store, G, "EURUSD"), 1);
        rc = hshm_reset(f->store, token);
        assert_true(rc == HSHM_ESTALE || rc == HSHM_ESTATE);
        assert_int_equal(status_of(f->store, "EURUSD").generation, st.generation);

        /* From ACTIVE (the hedge closed). */
        token = drive_to(f->store, "EURUSD", HSHM_ACTIVE);
        assert_int_equal(hshm_reset(f->store, token), 0);
        st = status_of(f->store, "EURUSD");
        assert_int_equal(st.state, HSHM_AVAILABLE);
        assert_int_equal(st.generation, gen_of(token) + 2);
        rc = hshm_reset(f->store, token);
        assert_true(rc == HSHM_ESTALE || rc == HSHM_ESTATE);
        assert_int_equal(hshm_is_available(f->store, G, "EURUSD"), 1);
}

static void test_mark_error(void **state)
{
        struct tu_fixture *f = *state;
        static const enum hshm_state from[] = {HSHM_AVAILABLE, HSHM_HEDGING, HSHM_ACTIVE};
        static const char *const sym[] = {"EURUSD", "GBPUSD", "USDJPY"};
        char reason[100];
        struct hshm_status st;
        uint32_t used;

        for (size_t i = 0; i < 3; i++) {
                drive_to(f->store, sym[i], from[i]);
                uint64_t gen = status_of(f->store, sym[i]).generation;

                assert_int_equal(hshm_mark_error(f->store, G, sym[i], "margin call"), 0);
                st = status_of(f->store, sym[i]);
                assert_int_equal(st.state, HSHM_ERROR);
                assert_int_equal(st.generation, gen + 1);
                assert_string_equal(st.reason, "margin call");
                assert_int_equal(hshm_is_available(f->store, G, sym[i]), 0);
                /* Already ERROR: refused, and the first reason stays. */
                assert_int_equal(hshm_mark_error(f->store, G, sym[i], "again"), HSHM_ESTATE);
                assert_string_equal(status_of(f->store, sym[i]).reason, "margin call");
                assert_int_equal(status_of(f->store, sym[i]).generation, gen + 1);
        }

        /* A key never seen before is inserted straight into ERROR. */
        used = used_of(f->store);
        assert_int_equal(hshm_mark_error(f->store, G, "#AAPL", "halted"), 0);
        assert_int_equal(used_of(f->store), used + 1);
        assert_int_equal(state_of(f->store, "#AAPL"), HSHM_ERROR);

        /* A long reason is cut to HSHM_REASON_MAX bytes and stays terminated. */
        memset(reason, 'r', sizeof(reason) - 1);
        reason[sizeof(reason) - 1] = '\0';
        assert_int_equal(hshm_mark_error(f->store, G, "US30Cash", reason), 0);
        st = status_of(f->store, "US30Cash");
        assert_int_equal(strlen(st.reason), HSHM_REASON_MAX);
        assert_memory_equal(st.reason, reason, HSHM_REASON_MAX);

        assert_int_equal(hshm_mark_error(f->store, G, "bad key", "x"), -EINVAL);
}

static void test_clear(void **state)
{
        struct tu_fixture *f = *state;
        uint64_t token, gen;
        uint32_t used;

        /* Only from ERROR. */
        drive_to(f->store, "EURUSD", HSHM_AVAILABLE);
        assert_int_equal(hshm_clear(f->store, G, "EURUSD"), HSHM_ESTATE);
        token = drive_to(f->store, "GBPUSD", HSHM_HEDGING);
        assert_int_equal(hshm_clear(f->store, G, "GBPUSD"), HSHM_ESTATE);
        assert_int_equal(hshm_reset(f->store, token), 0);
        drive_to(f->store, "USDJPY", HSHM_ACTIVE);
        assert_int_equal(hshm_clear(f->store, G, "USDJPY"), HSHM_ESTATE);
        assert_int_equal(state_of(f->store, "USDJPY"), HSHM_ACTIVE);

        /* An unknown key is not inserted by clear. */
        used = used_of(f->store);
        assert_int_equal(hshm_clear(f->store, G, "NEVER"), HSHM_ENOKEY);
        assert_int_equal(used_of(f->store), used);
        assert_int_equal(hshm_clear(f->store, G, "NE VER"), -EINVAL);

        drive_to(f->store, "XAUUSD_o", HSHM_ERROR);
        gen = status_of(f->store, "XAUUSD_o").generation;
        assert_int_equal(hshm_clear(f->store, G, "XAUUSD_o"), 0);
        assert_int_equal(state_of(f->store, "XAUUSD_o"), HSHM_AVAILABLE);
        assert_int_equal(status_of(f->store, "XAUUSD_o").generation, gen + 1);
        assert_int_equal(hshm_clear(f->store, G, "XAUUSD_o"), HSHM_ESTATE);
        assert_int_equal(hshm_is_available(f->store, G, "XAUUSD_o"), 1);
        assert_int_equal(hshm_lock(f->store, G, "XAUUSD_o", &token), 0);
}

static void test_lookups_never_insert(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;

        assert_int_equal(used_of(f->store), 0);
        assert_int_equal(hshm_is_available(f->store, G, "EURUSD"), 1);
        assert_int_equal(hshm_is_available(f->store, G, "EURUSD"), 1);
        assert_int_equal(hshm_status(f->store, G, "EURUSD", &st), HSHM_ENOKEY);
        assert_int_equal(hshm_is_available(f->store, G, "EUR USD"), -EINVAL);
        assert_int_equal(hshm_status(f->store, G, "", &st), -EINVAL);
        assert_int_equal(used_of(f->store), 0);
        drive_to(f->store, "EURUSD", HSHM_HEDGING);
        assert_int_equal(hshm_status(f->store, "other", "EURUSD", &st), HSHM_ENOKEY);
        assert_int_equal(hshm_is_available(f->store, "other", "EURUSD"), 1);
        assert_int_equal(used_of(f->store), 1);
}

static void test_status_fields(void **state)
{
        struct tu_fixture *f = *state;
        int64_t before = now_ns(), after;
        uint64_t token;
        struct hshm_status st, locked;
        struct hshm_info info;

        /* Slot times come from the coarse clock, which lags now_ns() by a tick or two
         * (docs/design.md allows 50 ms for comparisons with other clocks). */
        assert_int_equal(hshm_info(f->store, &info), 0);
        assert_true(info.clock_resolution_ns > 0 && info.clock_resolution_ns <= 50000000);
        before -= 50000000;

        assert_int_equal(hshm_lock(f->store, G, "US500.cash", &token), 0);
        after = now_ns();
        locked = status_of(f->store, "US500.cash");
        assert_int_equal(locked.owner.pid, getpid());
        assert_true(locked.owner.start_ticks != 0);
        assert_true(locked.lock_ns >= before && locked.lock_ns <= after);
        assert_true(locked.changed_ns >= locked.lock_ns && locked.changed_ns <= after);
        assert_true(locked.lease_deadline_ns > locked.lock_ns);
        assert_int_equal(locked.activate_ns, 0);
        assert_int_equal(locked.ticket, 0);
        assert_string_equal(locked.hedge_symbol, "");
        assert_string_equal(locked.reason, "");
        {
                static const uint8_t zero[16];

                assert_memory_not_equal(locked.owner.boot_id, zero, sizeof(zero));
        }

        assert_int_equal(hshm_activate(f->store, token, 987654321, "US30Cash"), 0);
        st = status_of(f->store, "US500.cash");
        assert_int_equal(st.owner.pid, getpid());
        assert_int_equal(st.ticket, 987654321);
        assert_string_equal(st.hedge_symbol, "US30Cash");
        assert_int_equal(st.lock_ns, locked.lock_ns);
        assert_true(st.activate_ns >= st.lock_ns);
        assert_true(st.changed_ns >= st.activate_ns);
        assert_true(st.activate_ns <= now_ns());

        /* status_by_token names the same slot, whatever its generation now. */
        {
                struct hshm_status by;

                assert_int_equal(hshm_status_by_token(f->store, token, &by), 0);
                assert_int_equal(by.slot, st.slot);
                assert_int_equal(by.generation, st.generation);
                assert_string_equal(by.symbol, "US500.cash");
                assert_int_equal(hshm_reset(f->store, token), 0);
                assert_int_equal(hshm_status_by_token(f->store, token, &by), 0);
                assert_int_equal(by.state, HSHM_AVAILABLE);
                assert_int_equal(by.token, token);
        }

        assert_int_equal(hshm_mark_error(f->store, G, "US500.cash", "rejected: no money"), 0);
        st = status_of(f->store, "US500.cash");
        assert_string_equal(st.reason, "rejected: no money");
        assert_true(st.changed_ns >= locked.changed_ns);
}

static void test_generation_grows(void **state)
{
        struct tu_fixture *f = *state;
        uint64_t token, prev;

        token = drive_to(f->store, "EURUSD", HSHM_HEDGING);
        prev = status_of(f->store, "EURUSD").generation;
#define STEP(call)                                                                                 \
        do {                                                                                       \
                assert_int_equal(call, 0);                                                         \
                uint64_t g = status_of(f->store, "EURUSD").generation;                             \
                assert_int_equal(g, prev + 1);                                                     \
                prev = g;                                                                          \
        } while (0)
        STEP(hshm_activate(f->store, token, 1, "X"));
        STEP(hshm_reset(f->store, token));
        STEP(hshm_lock(f->store, G, "EURUSD", &token));
        assert_int_equal(gen_of(token), prev);
        STEP(hshm_reset(f->store, token));
        STEP(hshm_mark_error(f->store, G, "EURUSD", "x"));
        STEP(hshm_clear(f->store, G, "EURUSD"));
        STEP(hshm_lock(f->store, G, "EURUSD", &token));
        STEP(hshm_mark_error(f->store, G, "EURUSD", "x"));
        STEP(hshm_clear(f->store, G, "EURUSD"));
#undef STEP
}

static void test_token_fencing(void **state)
{
        struct tu_fixture *f = *state;
        uint64_t old, cur, other;
        struct hshm_status st;
        uint32_t used;

        /* A lock lost (reset by someone) and taken again: the old token is dead. */
        old = drive_to(f->store, "EURUSD", HSHM_HEDGING);
        assert_int_equal(hshm_reset(f->store, old), 0);
        assert_int_equal(hshm_lock(f->store, G, "EURUSD", &cur), 0);
        assert_true(cur != old);
        assert_int_equal(hshm_activate(f->store, old, 1, "X"), HSHM_ESTALE);
        assert_int_equal(hshm_reset(f->store, old), HSHM_ESTALE);
        st = status_of(f->store, "EURUSD");
        assert_int_equal(st.state, HSHM_HEDGING);
        assert_int_equal(st.token, cur);
        assert_int_equal(hshm_activate(f->store, cur, 2, "Y"), 0);
        assert_int_equal(hshm_reset(f->store, old), HSHM_ESTALE); /* still dead when ACTIVE */
        assert_int_equal(state_of(f->store, "EURUSD"), HSHM_ACTIVE);

        /* Another slot's token, and a token forged from it, fence too. */
        other = drive_to(f->store, "GBPUSD", HSHM_HEDGING);
        used = used_of(f->store);
        assert_int_equal(hshm_reset(f->store, (cur & W_GEN_MAX) | (other & ~(uint64_t)W_GEN_MAX)),
                         HSHM_ESTALE);
        assert_int_equal(state_of(f->store, "GBPUSD"), HSHM_HEDGING);

        /* Tokens naming no keyed slot are refused, never followed. */
        const uint64_t bad[] = {
            0,
            ((uint64_t)used << TOKEN_SLOT_SHIFT) | gen_of(cur),
            ((uint64_t)(TU_FIXTURE_CAPACITY - 1) << TOKEN_SLOT_SHIFT) | 1,
            ((uint64_t)TU_FIXTURE_CAPACITY << TOKEN_SLOT_SHIFT) | 1,
            ((uint64_t)(HSHM_CAPACITY_MAX - 1) << TOKEN_SLOT_SHIFT) | 1,
            UINT64_MAX,
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_true(hshm_activate(f->store, bad[i], 1, "X") < 0);
                assert_true(hshm_reset(f->store, bad[i]) < 0);
                if (bad[i] != 0) /* token 0 names slot 0, which is keyed */
                        assert_int_equal(hshm_status_by_token(f->store, bad[i], &st), HSHM_ENOKEY);
        }
        assert_int_equal(state_of(f->store, "EURUSD"), HSHM_ACTIVE);
        assert_int_equal(state_of(f->store, "GBPUSD"), HSHM_HEDGING);
        assert_int_equal(used_of(f->store), used);
}

static void test_lease(void **state)
{
        struct tu_fixture *f = *state;
        uint64_t token;
        struct hshm_status st;

        assert_int_equal(hshm_set_lease_ms(f->store, 0), -EINVAL);
        assert_int_equal(hshm_set_lease_ms(f->store, 86400u * 1000 + 1), -EINVAL);

        /* The default lease, on a handle that never set one. */
        assert_int_equal(hshm_lock(f->store, G, "EURUSD", &token), 0);
        st = status_of(f->store, "EURUSD");
        assert_true(st.lease_deadline_ns - st.lock_ns >= (int64_t)HSHM_LEASE_DEFAULT_MS * 1000000);
        assert_true(st.lease_deadline_ns - st.lock_ns <
                    (int64_t)HSHM_LEASE_DEFAULT_MS * 1000000 + 1000000000);
        assert_int_equal(hshm_lease_expired(&st, st.lock_ns), 0);
        assert_int_equal(hshm_lease_expired(&st, st.lease_deadline_ns - 1), 0);
        assert_int_equal(hshm_lease_expired(&st, st.lease_deadline_ns + 1), 1);

        /* The longest lease is accepted; a 1 ms lease is over a moment later. */
        assert_int_equal(hshm_set_lease_ms(f->store, 86400u * 1000), 0);
        assert_int_equal(hshm_set_lease_ms(f->store, 1), 0);
        assert_int_equal(hshm_lock(f->store, G, "GBPUSD", &token), 0);
        st = status_of(f->store, "GBPUSD");
        assert_true(st.lease_deadline_ns - st.lock_ns >= 1000000);
        assert_true(st.lease_deadline_ns - st.lock_ns < 1000000000);
        usleep(5000);
        assert_int_equal(hshm_lease_expired(&st, now_ns()), 1);
        /* An expired lease is information; the lock stands until someone resets it. */
        assert_int_equal(hshm_lock(f->store, G, "GBPUSD", &token), -EBUSY);
        assert_int_equal(state_of(f->store, "GBPUSD"), HSHM_HEDGING);
}

/* release gives up a lock only while HEDGING: after an unknown order outcome, a hedge the
 * syncer adopted in the meantime (ACTIVE) must not be dropped. */
static void test_release_only_from_hedging(void **state)
{
        struct tu_fixture *f = *state;
        uint64_t token;

        assert_int_equal(hshm_lock(f->store, G, "EURUSD", &token), 0);
        assert_int_equal(hshm_release(f->store, token), 0);
        assert_int_equal(status_of(f->store, "EURUSD").state, HSHM_AVAILABLE);
        assert_int_equal(hshm_release(f->store, token), HSHM_ESTALE);

        assert_int_equal(hshm_lock(f->store, G, "EURUSD", &token), 0);
        assert_int_equal(hshm_activate(f->store, token, 0, "GBPUSD"), -EINVAL);
        assert_int_equal(hshm_activate(f->store, token, 2001, "GBPUSD"), 0);
        assert_int_equal(hshm_release(f->store, token), HSHM_ESTATE);
        assert_int_equal(status_of(f->store, "EURUSD").state, HSHM_ACTIVE);
        assert_int_equal(hshm_reset(f->store, token), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup, tu_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_lock),
            T(test_activate),
            T(test_activate_hedge_symbol_validated),
            T(test_activate_refused_from_other_states),
            T(test_reset),
            T(test_mark_error),
            T(test_clear),
            T(test_lookups_never_insert),
            T(test_status_fields),
            T(test_generation_grows),
            T(test_token_fencing),
            T(test_lease),
            T(test_release_only_from_hedging),
        };

        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
