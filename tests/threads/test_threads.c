/*
 * One handle shared by many threads, as a bot with several strategy threads uses it. Run in
 * the normal build and under ThreadSanitizer (tools/run-tests.sh), which checks that every
 * access the library makes to shared memory is an atomic one.
 *
 * Each thread cycles lock / activate / reset on a few hot keys and on keys of its own, while
 * reader threads take status snapshots. Afterwards: at most one holder per key at any time
 * (a holder flag every winner sets by CAS), every lock won was activated and reset, the
 * counters equal what the threads saw, and no snapshot was torn.
 */
#undef NDEBUG
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hedgeshm.h"
#include "testutil.h"

#define WRITERS 6
#define READERS 2
#define HOT     3
#define CYCLES  20000

struct shared {
        hshm_store *store;
        int holder[HOT + WRITERS];
        long wins, conflicts, snapshots, failures;
        int stop;
};

static void symbol_of(int key, char *out, size_t len)
{
        snprintf(out, len, "SYM%d", key);
}

struct writer_arg {
        struct shared *sh;
        int id;
};

static void *writer(void *p)
{
        struct writer_arg *a = p;
        struct shared *sh = a->sh;
        unsigned seed = (unsigned)a->id * 7919u + 1;

        for (int i = 0; i < CYCLES; i++) {
                /* Two out of three cycles on a hot key, the rest on this thread's own. */
                int key = i % 3 != 2 ? (int)(rand_r(&seed) % HOT) : HOT + a->id;
                char symbol[16], hedge[16];
                uint64_t token;
                int err, zero = 0;

                symbol_of(key, symbol, sizeof(symbol));
                err = hshm_lock(sh->store, "threads", symbol, &token);
                if (err == -EBUSY) {
                        __atomic_add_fetch(&sh->conflicts, 1, __ATOMIC_RELAXED);
                        continue;
                }
                if (err != 0 || !__atomic_compare_exchange_n(&sh->holder[key], &zero, a->id + 1, 0,
                                                             __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                        __atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
                        continue;
                }
                __atomic_add_fetch(&sh->wins, 1, __ATOMIC_RELAXED);
                /* The hedge symbol and ticket derive from the token, for the readers. */
                snprintf(hedge, sizeof(hedge), "H%llu", (unsigned long long)(token % 100000));
                if (hshm_activate(sh->store, token, token * 7 + 1, hedge) != 0)
                        __atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
                __atomic_store_n(&sh->holder[key], 0, __ATOMIC_SEQ_CST);
                if (hshm_reset(sh->store, token) != 0)
                        __atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
        }
        return NULL;
}

static void *reader(void *p)
{
        struct shared *sh = p;

        while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST)) {
                for (int key = 0; key < HOT; key++) {
                        struct hshm_status st;
                        char symbol[16], hedge[16];
                        int err;

                        symbol_of(key, symbol, sizeof(symbol));
                        err = hshm_status(sh->store, "threads", symbol, &st);
                        if (err == HSHM_ENOKEY)
                                continue;
                        __atomic_add_fetch(&sh->snapshots, 1, __ATOMIC_RELAXED);
                        if (err != 0) {
                                __atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
                                continue;
                        }
                        if (st.state != HSHM_ACTIVE)
                                continue;
                        /* ACTIVE at generation t + 1 carries what the writer of token t wrote. */
                        snprintf(hedge, sizeof(hedge), "H%llu",
                                 (unsigned long long)(st.token % 100000));
                        if (st.generation != (st.token & ((UINT64_C(1) << 44) - 1)) + 1 ||
                            st.ticket != st.token * 7 + 1 || strcmp(st.hedge_symbol, hedge) != 0)
                                __atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
                }
        }
        return NULL;
}

static void test_one_handle_many_threads(void **state)
{
        struct tu_fixture *f = *state;
        struct shared sh = {.store = f->store};
        struct writer_arg args[WRITERS];
        pthread_t w[WRITERS], r[READERS];
        struct hshm_stats stats;

        for (int i = 0; i < READERS; i++)
                assert_int_equal(pthread_create(&r[i], NULL, reader, &sh), 0);
        for (int i = 0; i < WRITERS; i++) {
                args[i] = (struct writer_arg){.sh = &sh, .id = i};
                assert_int_equal(pthread_create(&w[i], NULL, writer, &args[i]), 0);
        }
        for (int i = 0; i < WRITERS; i++)
                pthread_join(w[i], NULL);
        __atomic_store_n(&sh.stop, 1, __ATOMIC_SEQ_CST);
        for (int i = 0; i < READERS; i++)
                pthread_join(r[i], NULL);

        assert_int_equal(hshm_stats(f->store, &stats), 0);
        printf("threads: %d writers x %d cycles: %ld wins, %ld conflicts; %d readers: %ld "
               "snapshots; failures %ld\n",
               WRITERS, CYCLES, sh.wins, sh.conflicts, READERS, sh.snapshots, sh.failures);
        assert_int_equal(sh.failures, 0);
        assert_int_equal(stats.locks_won, (uint64_t)sh.wins);
        assert_int_equal(stats.activations, (uint64_t)sh.wins);
        assert_int_equal(stats.resets, (uint64_t)sh.wins);
        assert_int_equal(stats.lock_conflicts, (uint64_t)sh.conflicts);
        assert_int_equal(stats.stale_refusals, 0);
        assert_int_equal(sh.wins + sh.conflicts, (long)WRITERS * CYCLES);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_one_handle_many_threads, tu_setup, tu_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
