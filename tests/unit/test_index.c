/*
 * Unit tests for the key index and the slot table: a full table refuses new keys with -ENOSPC
 * and never overwrites one, every key keeps its own slot, and listing by slot number
 * (hshm_slot_status) shows exactly the keys inserted, in insertion order.
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
#include <cmocka.h>

#include "layout.h"
#include "testutil.h"

static void test_full_table(void **state)
{
        char name[TU_NAME_MAX], sym[16];
        uint64_t tokens[8], token;
        struct hshm_status st;
        struct hshm_info info;
        hshm_store *store;

        (void)state;
        tu_name(name, sizeof(name), "full");
        store = tu_create_open(name, 8);
        assert_non_null(store);
        for (int i = 0; i < 8; i++) {
                snprintf(sym, sizeof(sym), "SYM%d", i);
                assert_int_equal(hshm_lock(store, "g", sym, &tokens[i]), 0);
        }
        assert_int_equal(hshm_lock(store, "g", "NINTH", &token), -ENOSPC);
        assert_true(hshm_last_detail()[0] != '\0');
        assert_int_equal(hshm_mark_error(store, "g", "NINTH", "x"), -ENOSPC);
        assert_int_equal(hshm_lock(store, "other", "SYM0", &token), -ENOSPC);
        assert_int_equal(hshm_status(store, "g", "NINTH", &st), HSHM_ENOKEY);
        assert_int_equal(hshm_info(store, &info), 0);
        assert_int_equal(info.used, 8);

        /* Every key kept its own slot and still moves through its states. */
        for (int i = 0; i < 8; i++) {
                snprintf(sym, sizeof(sym), "SYM%d", i);
                assert_int_equal(hshm_status(store, "g", sym, &st), 0);
                assert_string_equal(st.symbol, sym);
                assert_int_equal(st.slot, i);
                assert_int_equal(st.token, tokens[i]);
                assert_int_equal(hshm_activate(store, tokens[i], (uint64_t)i + 1, sym), 0);
                assert_int_equal(hshm_reset(store, tokens[i]), 0);
                assert_int_equal(hshm_lock(store, "g", sym, &token), 0);
                assert_int_equal(hshm_reset(store, token), 0);
        }
        assert_int_equal(hshm_mark_error(store, "g", "SYM3", "x"), 0);
        assert_int_equal(hshm_clear(store, "g", "SYM3"), 0);
        assert_int_equal(hshm_lock(store, "g", "NINTH", &token), -ENOSPC);
        tu_close_destroy(store, name);
}

static void test_capacity_one(void **state)
{
        char name[TU_NAME_MAX];
        uint64_t token;
        hshm_store *store;

        (void)state;
        tu_name(name, sizeof(name), "one");
        store = tu_create_open(name, 1);
        assert_non_null(store);
        assert_int_equal(hshm_lock(store, "g", "EURUSD", &token), 0);
        assert_int_equal(hshm_lock(store, "g", "GBPUSD", &token), -ENOSPC);
        assert_int_equal(hshm_lock(store, "g", "EURUSD", &token), -EBUSY);
        tu_close_destroy(store, name);
}

/* Keys that share bytes across the group/symbol boundary are different keys. */
static void test_key_boundaries(void **state)
{
        struct tu_fixture *f = *state;
        char k31a[32], k31b[32];
        uint64_t t1, t2, t3, t4;
        struct hshm_status st;

        assert_int_equal(hshm_lock(f->store, "AB", "C", &t1), 0);
        assert_int_equal(hshm_lock(f->store, "A", "BC", &t2), 0);
        assert_int_equal(hshm_lock(f->store, "C", "AB", &t3), 0);
        assert_true(t1 >> TOKEN_SLOT_SHIFT != t2 >> TOKEN_SLOT_SHIFT);
        assert_true(t1 >> TOKEN_SLOT_SHIFT != t3 >> TOKEN_SLOT_SHIFT);
        assert_int_equal(hshm_status(f->store, "A", "BC", &st), 0);
        assert_string_equal(st.group, "A");
        assert_string_equal(st.symbol, "BC");

        /* Keys of the longest length, differing only in their last byte. */
        memset(k31a, 'Q', 31);
        k31a[31] = '\0';
        memcpy(k31b, k31a, sizeof(k31b));
        k31b[30] = 'R';
        assert_int_equal(hshm_lock(f->store, k31a, k31a, &t4), 0);
        assert_int_equal(hshm_is_available(f->store, k31a, k31b), 1);
        assert_int_equal(hshm_is_available(f->store, k31b, k31a), 1);
        assert_int_equal(hshm_lock(f->store, k31a, k31b, &t4), 0);
        assert_int_equal(hshm_status(f->store, k31a, k31b, &st), 0);
        assert_string_equal(st.group, k31a);
        assert_string_equal(st.symbol, k31b);
        /* A prefix of a stored key is not that key. */
        assert_int_equal(hshm_status(f->store, "A", "B", &st), HSHM_ENOKEY);
        assert_int_equal(hshm_status(f->store, "AB", "", &st), -EINVAL);
}

static void test_many_keys(void **state)
{
        enum { N = 3000 };
        char name[TU_NAME_MAX], group[16], sym[16];
        uint64_t *tokens = calloc(N, sizeof(*tokens));
        struct hshm_status st;
        struct hshm_info info;
        hshm_store *store;

        (void)state;
        assert_non_null(tokens);
        tu_name(name, sizeof(name), "many");
        store = tu_create_open(name, N);
        assert_non_null(store);
        for (int i = 0; i < N; i++) {
                snprintf(group, sizeof(group), "grp%d", i % 7);
                snprintf(sym, sizeof(sym), "S%d.pro", i);
                assert_int_equal(hshm_lock(store, group, sym, &tokens[i]), 0);
                assert_int_equal(tokens[i] >> TOKEN_SLOT_SHIFT, (uint64_t)i);
        }
        assert_int_equal(hshm_lock(store, "grp0", "ONE.MORE", &tokens[0]), -ENOSPC);
        assert_int_equal(hshm_info(store, &info), 0);
        assert_int_equal(info.used, N);
        assert_true(info.index_buckets >= 2 * N);

        /* Lookup by key and listing by slot agree with what was inserted. */
        for (int i = 0; i < N; i++) {
                snprintf(group, sizeof(group), "grp%d", i % 7);
                snprintf(sym, sizeof(sym), "S%d.pro", i);
                assert_int_equal(hshm_status(store, group, sym, &st), 0);
                assert_int_equal(st.slot, i);
                assert_int_equal(hshm_slot_status(store, (uint32_t)i, &st), 0);
                assert_string_equal(st.group, group);
                assert_string_equal(st.symbol, sym);
                assert_int_equal(st.state, HSHM_HEDGING);
                /* Same symbol in another group is another position, never inserted here. */
                snprintf(group, sizeof(group), "grp%d", i % 7 + 7);
                assert_int_equal(hshm_is_available(store, group, sym), 1);
        }
        free(tokens);
        tu_close_destroy(store, name);
}

static void test_slot_status_range(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_status st;
        uint64_t token;
        int rc;

        assert_int_equal(hshm_lock(f->store, "g", "EURUSD", &token), 0);
        assert_int_equal(hshm_mark_error(f->store, "g", "#AAPL", "halted"), 0);
        assert_int_equal(hshm_slot_status(f->store, 0, &st), 0);
        assert_string_equal(st.symbol, "EURUSD");
        assert_int_equal(st.state, HSHM_HEDGING);
        assert_int_equal(hshm_slot_status(f->store, 1, &st), 0);
        assert_string_equal(st.symbol, "#AAPL");
        assert_int_equal(st.state, HSHM_ERROR);
        assert_string_equal(st.reason, "halted");
        rc = hshm_slot_status(f->store, 2, &st); /* allocated capacity, holds no key */
        assert_true(rc == HSHM_ENOKEY || rc == -ERANGE);
        assert_int_equal(hshm_slot_status(f->store, TU_FIXTURE_CAPACITY, &st), -ERANGE);
        assert_int_equal(hshm_slot_status(f->store, UINT32_MAX, &st), -ERANGE);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup, tu_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_full_table),
            cmocka_unit_test(test_capacity_one),
            T(test_key_boundaries),
            cmocka_unit_test(test_many_keys),
            T(test_slot_status_range),
        };

        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
