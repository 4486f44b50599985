/*
 * Unit tests against a hostile process: values no correct build writes are put straight into
 * the header, the process table, the index and the slots, and every reader must answer with
 * an error (HSHM_ECORRUPT, or -EAGAIN for a slot stuck mid-write) or a sane, NUL-terminated
 * value. Never a crash, a hang or another key's data. Run under ASan to catch stray reads.
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
#include "testutil.h"

#define CAP 16u

/* The raw segment, with the geometry read before any scribbling. */
struct raw {
        char name[TU_NAME_MAX];
        hshm_store *store;
        void *map;
        size_t size;
        struct hshm_header *h;
        struct hshm_proc *procs;
        uint64_t *buckets;
        struct hshm_slot *slots;
        uint32_t nbuckets;
};

static int raw_setup(void **state)
{
        static struct raw r;

        memset(&r, 0, sizeof(r));
        tu_name(r.name, sizeof(r.name), "hostile");
        r.store = tu_create_open(r.name, CAP);
        if (!r.store)
                return -1;
        r.map = tu_map_raw(r.name, &r.size);
        if (!r.map)
                return -1;
        r.h = r.map;
        r.procs = (struct hshm_proc *)(void *)((char *)r.map + HSHM_PROCS_OFFSET);
        r.buckets = (uint64_t *)(void *)((char *)r.map + r.h->index_offset);
        r.slots = (struct hshm_slot *)(void *)((char *)r.map + r.h->slots_offset);
        r.nbuckets = r.h->index_buckets;
        *state = &r;
        return 0;
}

static int raw_teardown(void **state)
{
        struct raw *r = *state;

        tu_unmap_raw(r->map, r->size);
        tu_close_destroy(r->store, r->name);
        return 0;
}

/* The slot that holds (group, symbol), found by reading the keys like a dump tool would. */
static struct hshm_slot *slot_of(struct raw *r, const char *group, const char *symbol)
{
        for (uint32_t i = 0; i < r->h->used && i < CAP; i++) {
                const char *key = (const char *)r->slots[i].key;

                if (strcmp(key, group) == 0 && strcmp(key + HSHM_KEY_FIELD, symbol) == 0)
                        return &r->slots[i];
        }
        fail_msg("no slot for %s/%s", group, symbol);
        return NULL;
}

/* The READY bucket that points at slot. */
static uint64_t *bucket_of(struct raw *r, const struct hshm_slot *slot)
{
        uint64_t n = (uint64_t)(slot - r->slots);

        for (uint32_t i = 0; i < r->nbuckets; i++) {
                uint64_t b = r->buckets[i];

                if ((b & B_STATE_MASK) == B_READY && ((b >> B_VALUE_SHIFT) & B_VALUE_MASK) == n)
                        return &r->buckets[i];
        }
        fail_msg("no bucket for slot %llu", (unsigned long long)n);
        return NULL;
}

static uint64_t with_value(uint64_t bucket, uint64_t value)
{
        return (bucket & ~(B_VALUE_MASK << B_VALUE_SHIFT)) | (value << B_VALUE_SHIFT);
}

static uint64_t make_word(enum hshm_state state, uint64_t owner, uint64_t gen)
{
        return (uint64_t)state | owner << W_OWNER_SHIFT | gen << W_GEN_SHIFT;
}

static uint64_t lock_ok(struct raw *r, const char *symbol)
{
        uint64_t token;

        assert_int_equal(hshm_lock(r->store, "g", symbol, &token), 0);
        return token;
}

static int terminated(const char *s, size_t size)
{
        return strnlen(s, size) < size;
}

/* A status call either fails with one of the allowed errors, or returns the key asked for
 * with every string terminated. */
static void check_status(struct raw *r, const char *symbol, int allowed1, int allowed2)
{
        struct hshm_status st;
        int rc;

        memset(&st, 'x', sizeof(st));
        rc = hshm_status(r->store, "g", symbol, &st);
        if (rc == 0) {
                assert_string_equal(st.group, "g");
                assert_string_equal(st.symbol, symbol);
                assert_true(terminated(st.hedge_symbol, sizeof(st.hedge_symbol)));
                assert_true(terminated(st.reason, sizeof(st.reason)));
                assert_true(st.state <= HSHM_ERROR);
        } else {
                if (rc != allowed1 && rc != allowed2)
                        fail_msg("status of %s: %d (%s)", symbol, rc, hshm_strerror(rc));
                if (rc != HSHM_ENOKEY) /* an expected answer needs no detail */
                        assert_true(hshm_last_detail()[0] != '\0');
        }
}

/* Listing every slot number survives whatever is in the slots. */
static void check_listing(struct raw *r)
{
        struct hshm_status st;

        for (uint32_t i = 0; i <= CAP + 1; i++) {
                memset(&st, 'x', sizeof(st));
                int rc = hshm_slot_status(r->store, i, &st);

                if (rc == 0) {
                        assert_true(i < CAP);
                        assert_true(terminated(st.group, sizeof(st.group)));
                        assert_true(terminated(st.symbol, sizeof(st.symbol)));
                        assert_true(terminated(st.hedge_symbol, sizeof(st.hedge_symbol)));
                        assert_true(terminated(st.reason, sizeof(st.reason)));
                        assert_true(st.state <= HSHM_ERROR);
                } else {
                        assert_true(rc == HSHM_ENOKEY || rc == -ERANGE || rc == HSHM_ECORRUPT ||
                                    rc == -EAGAIN);
                }
        }
}

static void check_stats(struct raw *r)
{
        struct hshm_stats stats;
        struct hshm_info info;
        int rc = hshm_stats(r->store, &stats);

        assert_true(rc == 0 || rc == HSHM_ECORRUPT);
        rc = hshm_info(r->store, &info);
        assert_true(rc == 0 || rc == HSHM_ECORRUPT);
        if (rc == 0)
                assert_true(info.used <= info.capacity);
}

static void test_bucket_past_capacity(void **state)
{
        struct raw *r = *state;
        uint64_t token, *b;
        struct hshm_status st;
        static const uint64_t bad[] = {CAP, CAP + 5, HSHM_CAPACITY_MAX, B_VALUE_MASK};

        lock_ok(r, "EURUSD");
        lock_ok(r, "GBPUSD");
        b = bucket_of(r, slot_of(r, "g", "EURUSD"));
        const uint64_t good = *b;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                *b = with_value(good, bad[i]);
                assert_int_equal(hshm_status(r->store, "g", "EURUSD", &st), HSHM_ECORRUPT);
                assert_true(hshm_last_detail()[0] != '\0');
                assert_int_equal(hshm_is_available(r->store, "g", "EURUSD"), HSHM_ECORRUPT);
                assert_int_equal(hshm_lock(r->store, "g", "EURUSD", &token), HSHM_ECORRUPT);
                assert_int_equal(hshm_mark_error(r->store, "g", "EURUSD", "x"), HSHM_ECORRUPT);
                assert_int_equal(hshm_clear(r->store, "g", "EURUSD"), HSHM_ECORRUPT);
                check_status(r, "GBPUSD", 0, 0); /* other keys are untouched */
                check_listing(r);
                check_stats(r);
        }
        *b = good;
        check_status(r, "EURUSD", 0, 0);
}

static void test_bucket_to_other_slot(void **state)
{
        struct raw *r = *state;
        uint64_t token, *b;
        struct hshm_status st;
        int rc;

        lock_ok(r, "EURUSD");
        lock_ok(r, "GBPUSD");
        b = bucket_of(r, slot_of(r, "g", "EURUSD"));
        const uint64_t good = *b;

        /* Pointing at another key's slot, or at a slot never given a key: never answer with
         * another key's data. */
        static const uint64_t targets[] = {1, 2, CAP - 1};
        for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
                *b = with_value(good, targets[i]);
                check_status(r, "EURUSD", HSHM_ENOKEY, HSHM_ECORRUPT);
                rc = hshm_is_available(r->store, "g", "EURUSD");
                assert_true(rc == 0 || rc == 1 || rc == HSHM_ECORRUPT);
                rc = hshm_lock(r->store, "g", "EURUSD", &token);
                if (rc == 0) {
                        assert_int_equal(hshm_status_by_token(r->store, token, &st), 0);
                        assert_string_equal(st.symbol, "EURUSD");
                } else {
                        assert_true(rc == HSHM_ECORRUPT || rc == -EBUSY || rc == -EAGAIN);
                }
                check_status(r, "GBPUSD", 0, 0);
                check_listing(r);
        }
}

static void test_used_beyond_capacity(void **state)
{
        struct raw *r = *state;
        static const uint32_t bad[] = {CAP + 1, CAP + 100, HSHM_CAPACITY_MAX + 1, UINT32_MAX};
        struct hshm_info info;
        uint64_t token;
        int rc;

        lock_ok(r, "EURUSD");
        const uint32_t good = r->h->used;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                r->h->used = bad[i];
                assert_int_equal(hshm_info(r->store, &info), HSHM_ECORRUPT);
                assert_true(hshm_last_detail()[0] != '\0');
                rc = hshm_lock(r->store, "g", "NEWKEY", &token);
                assert_true(rc == HSHM_ECORRUPT || rc == -ENOSPC);
                rc = hshm_mark_error(r->store, "g", "NEWKEY2", "x");
                assert_true(rc == HSHM_ECORRUPT || rc == -ENOSPC);
                check_status(r, "EURUSD", HSHM_ECORRUPT, HSHM_ECORRUPT);
                check_listing(r);
                check_stats(r);
                assert_int_equal(r->h->used, bad[i]); /* nothing was allocated */
        }
        r->h->used = good;
        assert_int_equal(hshm_info(r->store, &info), 0);
        assert_int_equal(info.used, 1);
}

static void test_word_reserved_bits(void **state)
{
        struct raw *r = *state;
        uint64_t token = lock_ok(r, "EURUSD"), other;
        struct hshm_slot *s = slot_of(r, "g", "EURUSD");
        const uint64_t good = s->word;
        struct hshm_status st;
        int rc;

        for (int bit = 13; bit < W_GEN_SHIFT; bit++) {
                const uint64_t bad = good | UINT64_C(1) << bit;

                s->word = bad;
                assert_int_equal(hshm_status(r->store, "g", "EURUSD", &st), HSHM_ECORRUPT);
                assert_true(hshm_last_detail()[0] != '\0');
                assert_int_equal(hshm_slot_status(r->store, 0, &st), HSHM_ECORRUPT);
                assert_int_equal(hshm_status_by_token(r->store, token, &st), HSHM_ECORRUPT);
                assert_int_equal(hshm_is_available(r->store, "g", "EURUSD"), HSHM_ECORRUPT);
                assert_int_equal(hshm_lock(r->store, "g", "EURUSD", &other), HSHM_ECORRUPT);
                assert_int_equal(hshm_mark_error(r->store, "g", "EURUSD", "x"), HSHM_ECORRUPT);
                assert_int_equal(hshm_clear(r->store, "g", "EURUSD"), HSHM_ECORRUPT);
                /* The token's own transitions must refuse too, and move nothing. */
                rc = hshm_activate(r->store, token, 1, "X");
                assert_true(rc == HSHM_ECORRUPT || rc == HSHM_ESTALE);
                rc = hshm_reset(r->store, token);
                assert_true(rc == HSHM_ECORRUPT || rc == HSHM_ESTALE);
                assert_int_equal(s->word, bad);
                check_stats(r);
        }
        s->word = good;
        assert_int_equal(hshm_activate(r->store, token, 1, "X"), 0);
}

static void test_word_owner_out_of_range(void **state)
{
        struct raw *r = *state;
        uint64_t token = lock_ok(r, "EURUSD"), other;
        struct hshm_slot *s = slot_of(r, "g", "EURUSD");
        const uint64_t good = s->word;
        const uint64_t gen = good >> W_GEN_SHIFT;
        static const uint64_t owners[] = {HSHM_PROCS_MAX + 1, HSHM_PROCS_MAX + 100, 0x3ff};
        static const enum hshm_state states[] = {HSHM_AVAILABLE, HSHM_HEDGING, HSHM_ACTIVE,
                                                 HSHM_ERROR};
        struct hshm_status st;

        for (size_t i = 0; i < sizeof(owners) / sizeof(owners[0]); i++) {
                for (size_t j = 0; j < sizeof(states) / sizeof(states[0]); j++) {
                        s->word = make_word(states[j], owners[i], gen);
                        assert_int_equal(hshm_status(r->store, "g", "EURUSD", &st), HSHM_ECORRUPT);
                        assert_int_equal(hshm_slot_status(r->store, 0, &st), HSHM_ECORRUPT);
                        assert_int_equal(hshm_is_available(r->store, "g", "EURUSD"), HSHM_ECORRUPT);
                        assert_int_equal(hshm_lock(r->store, "g", "EURUSD", &other), HSHM_ECORRUPT);
                        check_stats(r);
                }
        }
        s->word = good;
        (void)token;
        check_status(r, "EURUSD", 0, 0);
}

static void test_unterminated_strings(void **state)
{
        struct raw *r = *state;
        uint64_t token = lock_ok(r, "EURUSD");
        struct hshm_slot *s;

        assert_int_equal(hshm_activate(r->store, token, 7, "GBPUSD"), 0);
        assert_int_equal(hshm_mark_error(r->store, "g", "USDJPY", "why"), 0);
        lock_ok(r, "AUDUSD");

        /* Payload strings that fill their fields with no NUL, and bytes no symbol has. */
        s = slot_of(r, "g", "EURUSD");
        memset(s->hedge_symbol, 'H', sizeof(s->hedge_symbol));
        check_status(r, "EURUSD", HSHM_ECORRUPT, HSHM_ECORRUPT);
        memset(s->hedge_symbol, 0x01, sizeof(s->hedge_symbol));
        check_status(r, "EURUSD", HSHM_ECORRUPT, HSHM_ECORRUPT);
        s = slot_of(r, "g", "USDJPY");
        memset(s->reason, 'R', sizeof(s->reason));
        check_status(r, "USDJPY", HSHM_ECORRUPT, HSHM_ECORRUPT);
        memset(s->reason, 0xff, sizeof(s->reason));
        check_status(r, "USDJPY", HSHM_ECORRUPT, HSHM_ECORRUPT);

        /* Keys that fill their fields: the key asked for is no longer there. */
        s = slot_of(r, "g", "AUDUSD");
        memset(s->key, 'K', sizeof(s->key));
        check_status(r, "AUDUSD", HSHM_ENOKEY, HSHM_ECORRUPT);
        check_listing(r);
        memset(s->key, 0x80, sizeof(s->key));
        check_status(r, "AUDUSD", HSHM_ENOKEY, HSHM_ECORRUPT);
        check_listing(r);
        check_stats(r);
}

static void test_key_mark_unset(void **state)
{
        struct raw *r = *state;
        struct hshm_status st;
        struct hshm_slot *s;
        uint64_t token;
        int rc;

        lock_ok(r, "EURUSD");
        s = slot_of(r, "g", "EURUSD");
        s->key_mark = 0;
        rc = hshm_status(r->store, "g", "EURUSD", &st);
        assert_true(rc == HSHM_ENOKEY || rc == HSHM_ECORRUPT || rc == -EAGAIN);
        rc = hshm_lock(r->store, "g", "EURUSD", &token);
        assert_true(rc == 0 || rc == -EBUSY || rc == HSHM_ECORRUPT || rc == -EAGAIN);
        check_listing(r);
        s->key_mark = HSHM_KEY_READY;
        check_status(r, "EURUSD", 0, 0);
}

/* A writer stuck mid-write whose death cannot be proven (it has no process entry, as when
 * the table was full): waits end in -EAGAIN, and nothing is repaired. test_repair.c covers
 * writers that provably died. */
#define UNKNOWN_WRITER(w) (((w) & ~W_OWNER_MASK) | W_WRITING)

static void test_writing_stuck(void **state)
{
        struct raw *r = *state;
        uint64_t t1 = lock_ok(r, "EURUSD"), t2, token;
        struct hshm_slot *s;
        struct hshm_status st;
        int rc;

        /* An AVAILABLE slot whose writer died mid-transition. */
        assert_int_equal(hshm_reset(r->store, t1), 0);
        s = slot_of(r, "g", "EURUSD");
        const uint64_t good = s->word;

        s->word = UNKNOWN_WRITER(good);
        assert_int_equal(hshm_lock(r->store, "g", "EURUSD", &token), -EAGAIN);
        assert_true(hshm_last_detail()[0] != '\0');
        assert_int_equal(hshm_status(r->store, "g", "EURUSD", &st), -EAGAIN);
        assert_int_equal(hshm_slot_status(r->store, 0, &st), -EAGAIN);
        /* The state bits are already the new state's (the CAS that set WRITING set them). */
        rc = hshm_is_available(r->store, "g", "EURUSD");
        assert_true(rc == 1 || rc == -EAGAIN);
        assert_int_equal(hshm_mark_error(r->store, "g", "EURUSD", "x"), -EAGAIN);
        assert_int_equal(s->word, UNKNOWN_WRITER(good));
        check_stats(r);
        s->word = good;
        t1 = lock_ok(r, "EURUSD");

        /* An ACTIVE slot stuck the same way. */
        t2 = lock_ok(r, "GBPUSD");
        assert_int_equal(hshm_activate(r->store, t2, 1, "X"), 0);
        s = slot_of(r, "g", "GBPUSD");
        const uint64_t active = s->word;

        s->word = UNKNOWN_WRITER(active);
        assert_int_equal(hshm_reset(r->store, t2), -EAGAIN);
        rc = hshm_activate(r->store, t2, 1, "X");
        assert_true(rc == -EAGAIN || rc == HSHM_ESTATE);
        assert_int_equal(hshm_status_by_token(r->store, t2, &st), -EAGAIN);
        assert_int_equal(s->word, UNKNOWN_WRITER(active));
        s->word = active;
        assert_int_equal(hshm_reset(r->store, t2), 0);

        /* An ERROR slot stuck the same way cannot be cleared. */
        assert_int_equal(hshm_mark_error(r->store, "g", "EURUSD", "x"), 0);
        s = slot_of(r, "g", "EURUSD");
        const uint64_t error = s->word;

        s->word = UNKNOWN_WRITER(error);
        assert_int_equal(hshm_clear(r->store, "g", "EURUSD"), -EAGAIN);
        s->word = error;
        assert_int_equal(hshm_clear(r->store, "g", "EURUSD"), 0);
        (void)t1;
}

static void test_generations_exhausted(void **state)
{
        struct raw *r = *state;
        uint64_t token = lock_ok(r, "EURUSD");
        struct hshm_slot *s;
        struct hshm_status st;

        assert_int_equal(hshm_reset(r->store, token), 0);
        s = slot_of(r, "g", "EURUSD");

        /* A slot at its last generation refuses to start another cycle, and stays readable. */
        s->word = make_word(HSHM_AVAILABLE, 0, W_GEN_MAX);
        assert_int_equal(hshm_lock(r->store, "g", "EURUSD", &token), -EOVERFLOW);
        assert_int_equal(hshm_status(r->store, "g", "EURUSD", &st), 0);
        assert_int_equal(st.state, HSHM_AVAILABLE);
        assert_int_equal(st.generation, W_GEN_MAX);
        assert_int_equal(hshm_mark_error(r->store, "g", "EURUSD", "x"), -EOVERFLOW);

        /* A few generations short of the end: a full cycle still fits, never wrapping. */
        s->word = make_word(HSHM_AVAILABLE, 0, W_GEN_MAX - 10);
        assert_int_equal(hshm_lock(r->store, "g", "EURUSD", &token), 0);
        assert_int_equal(token & W_GEN_MAX, W_GEN_MAX - 9);
        assert_int_equal(hshm_activate(r->store, token, 1, "X"), 0);
        assert_int_equal(hshm_reset(r->store, token), 0);
        assert_int_equal(hshm_status(r->store, "g", "EURUSD", &st), 0);
        assert_int_equal(st.generation, W_GEN_MAX - 7);
}

/* Near the end of its generations a slot may refuse a lock, but a lock it grants must be
 * able to finish: activate and reset (or mark_error) have no -EOVERFLOW to give, so a slot
 * locked at its last generations would stay HEDGING or ACTIVE for ever. */
static void test_generation_end_never_strands(void **state)
{
        struct raw *r = *state;
        uint64_t token = lock_ok(r, "EURUSD");
        struct hshm_slot *s;
        int rc;

        assert_int_equal(hshm_reset(r->store, token), 0);
        s = slot_of(r, "g", "EURUSD");
        for (uint64_t left = 1; left <= 4; left++) {
                s->word = make_word(HSHM_AVAILABLE, 0, W_GEN_MAX - left);
                rc = hshm_lock(r->store, "g", "EURUSD", &token);
                if (rc == -EOVERFLOW)
                        continue;
                assert_int_equal(rc, 0);
                rc = hshm_activate(r->store, token, 1, "X");
                if (rc != 0)
                        fail_msg("locked %llu generations from the end, activate gives %d (%s)",
                                 (unsigned long long)left, rc, hshm_strerror(rc));
                rc = hshm_reset(r->store, token);
                if (rc != 0)
                        fail_msg("locked %llu generations from the end, reset gives %d (%s)",
                                 (unsigned long long)left, rc, hshm_strerror(rc));
        }
}

static void test_index_without_empty_bucket(void **state)
{
        struct raw *r = *state;
        struct hshm_status st;
        uint64_t token;
        int rc;

        lock_ok(r, "EURUSD");
        lock_ok(r, "GBPUSD");
        /* No EMPTY bucket left to end a probe: lookups must still end. */
        for (uint32_t i = 0; i < r->nbuckets; i++)
                if ((r->buckets[i] & B_STATE_MASK) == B_EMPTY)
                        r->buckets[i] = B_DEAD | (uint64_t)i << B_TAG_SHIFT;
        rc = hshm_status(r->store, "g", "NEVER", &st);
        assert_true(rc == HSHM_ENOKEY || rc == HSHM_ECORRUPT);
        rc = hshm_is_available(r->store, "g", "NEVER");
        assert_true(rc == 1 || rc == HSHM_ECORRUPT);
        rc = hshm_lock(r->store, "g", "NEVER", &token);
        assert_true(rc == -ENOSPC || rc == HSHM_ECORRUPT);
        check_status(r, "EURUSD", HSHM_ECORRUPT, HSHM_ECORRUPT);

        /* Every bucket READY with arbitrary tags and slots. */
        for (uint32_t i = 0; i < r->nbuckets; i++)
                r->buckets[i] = B_READY | (uint64_t)(i % (2 * CAP)) << B_VALUE_SHIFT |
                                (uint64_t)(i * 2654435761u) << B_TAG_SHIFT;
        rc = hshm_status(r->store, "g", "NEVER", &st);
        assert_true(rc == HSHM_ENOKEY || rc == HSHM_ECORRUPT);
        rc = hshm_lock(r->store, "g", "NEVER", &token);
        assert_true(rc == -ENOSPC || rc == HSHM_ECORRUPT);
        check_status(r, "GBPUSD", HSHM_ENOKEY, HSHM_ECORRUPT);
        check_listing(r);
        check_stats(r);
}

static void test_reserved_buckets(void **state)
{
        struct raw *r = *state;
        struct hshm_status st;
        uint64_t token;
        int rc;

        lock_ok(r, "EURUSD");
        /* Every other bucket RESERVED by a process that never finishes (pid 1 lives on). */
        for (uint32_t i = 0; i < r->nbuckets; i++)
                if ((r->buckets[i] & B_STATE_MASK) == B_EMPTY)
                        r->buckets[i] = B_RESERVED | UINT64_C(1) << B_VALUE_SHIFT |
                                        (uint64_t)(i * 2654435761u) << B_TAG_SHIFT;
        rc = hshm_status(r->store, "g", "NEVER", &st);
        assert_true(rc == HSHM_ENOKEY || rc == HSHM_ECORRUPT || rc == -EAGAIN);
        rc = hshm_lock(r->store, "g", "NEVER", &token);
        assert_true(rc == -ENOSPC || rc == HSHM_ECORRUPT || rc == -EAGAIN);
        check_status(r, "EURUSD", HSHM_ECORRUPT, -EAGAIN);
        check_listing(r);
}

static void test_header_rewritten_after_attach(void **state)
{
        struct raw *r = *state;
        hshm_store *late = NULL;
        uint64_t token;
        int rc;

        lock_ok(r, "EURUSD");
        /* The geometry an attached handle relies on is rewritten under it. */
        r->h->capacity = HSHM_CAPACITY_MAX;
        r->h->index_buckets = 1u << 31;
        r->h->index_offset = UINT64_MAX - 4096;
        r->h->slots_offset = (uint64_t)1 << 40;
        r->h->total_size = UINT64_MAX;
        r->h->used = CAP;

        check_status(r, "EURUSD", HSHM_ECORRUPT, HSHM_ECORRUPT);
        rc = hshm_lock(r->store, "g", "GBPUSD", &token);
        assert_true(rc == 0 || rc == -ENOSPC || rc == HSHM_ECORRUPT);
        check_listing(r);
        check_stats(r);
        {
                struct hshm_status st;

                rc = hshm_slot_status(r->store, HSHM_CAPACITY_MAX - 1, &st);
                assert_true(rc == -ERANGE || rc == HSHM_ECORRUPT);
        }

        /* A new attach refuses the segment. */
        rc = hshm_open(r->name, 0, &late);
        assert_true(rc == HSHM_ECORRUPT || rc == HSHM_ETRUNC || rc == HSHM_ELAYOUT);
        assert_null(late);
        assert_true(hshm_last_detail()[0] != '\0');
}

static void test_proc_table_garbage(void **state)
{
        struct raw *r = *state;
        struct hshm_stats before, after;
        hshm_store *extra = NULL;
        struct hshm_status st;
        uint64_t token;

        assert_int_equal(hshm_stats(r->store, &before), 0);
        /* Every free process entry marked in use by this process without holding its lock,
         * as a process killed right after its claim leaves it: the next handle takes one
         * over (a sweep), and counts there. */
        for (uint32_t i = 0; i < HSHM_PROCS_MAX; i++) {
                if (r->procs[i].in_use)
                        continue;
                r->procs[i].in_use = 1;
                r->procs[i].pid = getpid();
        }
        assert_int_equal(hshm_open(r->name, 0, &extra), 0);
        assert_int_equal(hshm_lock(extra, "g", "EURUSD", &token), 0);
        assert_int_equal(hshm_status(extra, "g", "EURUSD", &st), 0);
        assert_int_equal(st.owner.pid, getpid());
        hshm_close(extra);
        assert_int_equal(hshm_stats(r->store, &after), 0);
        assert_int_equal(after.locks_won, before.locks_won + 1);
        assert_int_equal(after.keys_inserted, before.keys_inserted + 1);
        assert_int_equal(after.procs_swept, before.procs_swept + 1);

        /* Entries with values no attach writes. */
        for (uint32_t i = 0; i < HSHM_PROCS_MAX; i += 3) {
                r->procs[i].in_use = 0xdeadbeef;
                r->procs[i].pid = -7;
        }
        check_stats(r);
        check_status(r, "EURUSD", HSHM_ECORRUPT, HSHM_ECORRUPT);
        assert_int_equal(hshm_open(r->name, HSHM_OPEN_RDONLY, &extra), 0);
        check_stats(r);
        hshm_close(extra);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, raw_setup, raw_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_bucket_past_capacity),
            T(test_bucket_to_other_slot),
            T(test_used_beyond_capacity),
            T(test_word_reserved_bits),
            T(test_word_owner_out_of_range),
            T(test_unterminated_strings),
            T(test_key_mark_unset),
            T(test_writing_stuck),
            T(test_generations_exhausted),
            T(test_generation_end_never_strands),
            T(test_index_without_empty_bucket),
            T(test_reserved_buckets),
            T(test_header_rewritten_after_attach),
            T(test_proc_table_garbage),
        };

        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
