/*
 * Unit tests of mt5sim's books (tools/mt5sim/book.c), driven step by step with explicit times:
 * tickets and identifiers, deals, closes, expiry, pruning, netting merges and reversals, and
 * the ledger's per-key counts and duplicates. Real order tags come from a test segment.
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "book.h"
#include "hedgeshm.h"
#include "proto.h"
#include "testutil.h"

#define T0 1700000000000 /* a realtime ms */

static const struct book_key *key_of(const struct book *b, uint32_t instance, uint32_t slot)
{
        for (size_t i = 0; i < b->ledger.n_keys; i++)
                if (b->ledger.keys[i].instance == instance && b->ledger.keys[i].slot == slot)
                        return &b->ledger.keys[i];
        return NULL;
}

static uint64_t fill(struct book *b, const char *symbol, int type, double volume,
                     const char *comment, int64_t close_at)
{
        struct book_order o = {symbol, type, volume, 7, comment};
        uint64_t order = 0, id = 0;

        assert_int_equal(book_fill(b, &o, T0, close_at, &order, &id), 0);
        return id;
}

static void test_hedging_fill_and_close(void **state)
{
        struct book b;
        struct book_order o = {"EURUSD.r", 1, 0.5, 99, "hello"};
        uint64_t order, id, order2, id2, deal;

        (void)state;
        book_init(&b, 0, 10, 500);
        assert_int_equal(book_fill(&b, &o, T0, BOOK_NEVER, &order, &id), 0);
        assert_true(order == 500 && id == 500);
        assert_int_equal(book_fill(&b, &o, T0 + 1, BOOK_NEVER, &order2, &id2), 0);
        assert_true(order2 > order && id2 == order2);
        assert_int_equal(b.n_pos, 2);
        assert_true(b.pos[0].ticket == 500 && b.pos[0].identifier == 500);
        assert_string_equal(b.pos[0].symbol, "EURUSD.r");
        assert_string_equal(b.pos[0].comment, "hello");
        assert_true(b.pos[0].magic == 99 && b.pos[0].type == 1 && b.pos[0].volume == 0.5);
        assert_true(b.pos[0].price_open > 0 && b.pos[0].time_msc == T0);
        /* One entry-in deal per fill, naming the order and the position. */
        assert_int_equal(b.n_deals, 2);
        assert_true(b.deals[0].order == 500 && b.deals[0].position_id == 500);
        assert_true(b.deals[0].entry == 0 && b.deals[0].type == 1 && b.deals[0].ticket > 500);
        assert_string_equal(b.deals[0].comment, "hello");

        assert_int_equal(book_close(&b, id, "", T0 + 2, &deal), 0);
        assert_int_equal(b.n_pos, 1);
        assert_true(b.pos[0].identifier == id2);
        assert_int_equal(b.n_deals, 3);
        assert_true(b.deals[2].ticket == deal && b.deals[2].position_id == id);
        assert_true(b.deals[2].entry == 1 && b.deals[2].type == 0 && b.deals[2].volume == 0.5);
        assert_true(b.deals[2].order > order2 && deal > b.deals[2].order);
        assert_int_equal(book_close(&b, id, "", T0 + 3, &deal), MP_RET_POSITION_CLOSED);
        assert_int_equal(book_find(&b, id), -1);
        assert_int_equal(book_find(&b, id2), 0);
        book_free(&b);
}

static void test_position_limit(void **state)
{
        struct book b;
        struct book_order o = {"X", 0, 1, 0, ""};
        uint64_t order, id;

        (void)state;
        book_init(&b, 0, 2, 1);
        assert_int_equal(book_fill(&b, &o, T0, BOOK_NEVER, &order, &id), 0);
        assert_int_equal(book_fill(&b, &o, T0, BOOK_NEVER, &order, &id), 0);
        assert_int_equal(book_fill(&b, &o, T0, BOOK_NEVER, &order, &id), MP_RET_LIMIT_POSITIONS);
        assert_int_equal(b.n_pos, 2);
        book_free(&b);
}

static void test_expire_and_prune(void **state)
{
        struct book b;
        uint64_t a, c;

        (void)state;
        book_init(&b, 0, 10, 1);
        a = fill(&b, "A", 0, 1, "", 100);
        fill(&b, "B", 0, 1, "", 300);
        c = fill(&b, "C", 1, 1, "", BOOK_NEVER);
        assert_true(book_next_expiry(&b) == 100);
        assert_int_equal(book_expire(&b, 99, T0 + 10), 0);
        assert_int_equal(book_expire(&b, 300, T0 + 10), 2);
        assert_int_equal(b.n_pos, 1);
        assert_true(b.pos[0].identifier == c);
        assert_true(book_next_expiry(&b) == BOOK_NEVER);
        /* The out deal of the expired position carries an sl or tp comment. */
        assert_true(b.deals[3].position_id == a && b.deals[3].entry == 1);
        assert_true(strcmp(b.deals[3].comment, "[sl]") == 0 ||
                    strcmp(b.deals[3].comment, "[tp]") == 0);
        assert_int_equal(b.n_deals, 5);
        book_prune_deals(&b, T0 + 1);
        assert_int_equal(b.n_deals, 2);
        assert_true(b.deals[0].time_msc == T0 + 10);
        book_prune_deals(&b, T0 + 11);
        assert_int_equal(b.n_deals, 0);
        book_free(&b);
}

static void test_netting(void **state)
{
        struct book b;
        uint64_t first, id;

        (void)state;
        book_init(&b, 1, 10, 1000);
        first = fill(&b, "EURUSD", 0, 1, "one", BOOK_NEVER);
        /* Same side: adds to the position, identifier unchanged. */
        id = fill(&b, "EURUSD", 0, 0.5, "two", BOOK_NEVER);
        assert_true(id == first);
        assert_int_equal(b.n_pos, 1);
        assert_true(b.pos[0].volume == 1.5);
        /* Other symbol: its own position. */
        fill(&b, "GBPUSD", 1, 1, "", BOOK_NEVER);
        assert_int_equal(b.n_pos, 2);
        /* Opposite side, smaller: reduces (an out deal). */
        id = fill(&b, "EURUSD", 1, 0.25, "", BOOK_NEVER);
        assert_true(id == first && b.pos[0].volume == 1.25);
        assert_int_equal(b.deals[b.n_deals - 1].entry, 1);
        /* Opposite side, larger: reverses; the order's ticket is the new identifier. */
        id = fill(&b, "EURUSD", 1, 2, "rev", BOOK_NEVER);
        assert_true(id != first && id == b.deals[b.n_deals - 1].order);
        assert_int_equal(b.deals[b.n_deals - 1].entry, 2);
        long i = book_find(&b, id);
        assert_true(i >= 0);
        assert_true(b.pos[i].type == 1 && b.pos[i].volume == 0.75);
        assert_string_equal(b.pos[i].comment, "rev");
        /* Opposite side, equal: closes. */
        fill(&b, "EURUSD", 0, 0.75, "", BOOK_NEVER);
        assert_int_equal(book_find(&b, id), -1);
        assert_int_equal(b.n_pos, 1);
        book_free(&b);
}

static void test_ledger(void **state)
{
        struct tu_fixture *f = *state;
        char tag_a[HSHM_TAG_LEN + 1], tag_b[HSHM_TAG_LEN + 1], comment[64];
        struct hshm_tag ta, tb;
        uint64_t tok_a, tok_b, a1, a2, b1;
        struct book b;

        assert_int_equal(hshm_lock(f->store, "grp", "EURUSD", &tok_a), 0);
        assert_int_equal(hshm_lock(f->store, "grp", "GBPUSD", &tok_b), 0);
        assert_int_equal(hshm_tag_format(f->store, tok_a, tag_a, sizeof(tag_a)), 0);
        assert_int_equal(hshm_tag_format(f->store, tok_b, tag_b, sizeof(tag_b)), 0);
        assert_int_equal(hshm_tag_parse(tag_a, &ta), 0);
        assert_int_equal(hshm_tag_parse(tag_b, &tb), 0);

        book_init(&b, 0, 100, 1);
        a1 = fill(&b, "XAUUSD", 0, 1, tag_a, BOOK_NEVER);
        assert_true(key_of(&b, ta.instance, ta.slot)->open == 1);
        assert_true(b.ledger.duplicates == 0);
        /* The same key again, with text around the tag as a broker might add: a duplicate. */
        snprintf(comment, sizeof(comment), "x %s [tp]", tag_a);
        a2 = fill(&b, "XAUUSD", 0, 1, comment, BOOK_NEVER);
        assert_true(key_of(&b, ta.instance, ta.slot)->open == 2);
        assert_true(key_of(&b, ta.instance, ta.slot)->max_open == 2);
        assert_true(b.ledger.duplicates == 1);
        /* A third at once is still one duplicated key. */
        fill(&b, "XAUUSD", 0, 1, tag_a, BOOK_NEVER);
        assert_true(b.ledger.duplicates == 1);
        b1 = fill(&b, "XAUUSD", 1, 1, tag_b, BOOK_NEVER);
        fill(&b, "XAUUSD", 1, 1, "no tag here", BOOK_NEVER);
        fill(&b, "XAUUSD", 1, 1, "", BOOK_NEVER);
        assert_int_equal(b.ledger.n_keys, 2);
        assert_true(b.ledger.untagged_open == 2 && b.ledger.untagged_total == 2);

        assert_int_equal(book_close(&b, a1, "", T0, NULL), 0);
        assert_int_equal(book_close(&b, a2, "", T0, NULL), 0);
        assert_true(key_of(&b, ta.instance, ta.slot)->open == 1);
        assert_true(key_of(&b, ta.instance, ta.slot)->max_open == 3);
        assert_int_equal(book_close(&b, b1, "", T0, NULL), 0);
        /* Keys stay once seen, with their history. */
        assert_true(key_of(&b, tb.instance, tb.slot)->open == 0);
        assert_true(key_of(&b, tb.instance, tb.slot)->max_open == 1);
        assert_int_equal(book_expire(&b, 0, T0), 0);
        assert_true(b.ledger.duplicates == 1);
        book_free(&b);
}

static void test_ledger_netting_reversal(void **state)
{
        struct tu_fixture *f = *state;
        char tag_a[HSHM_TAG_LEN + 1], tag_b[HSHM_TAG_LEN + 1];
        struct hshm_tag ta, tb;
        uint64_t tok_a, tok_b;
        struct book b;

        assert_int_equal(hshm_lock(f->store, "grp", "EURUSD", &tok_a), 0);
        assert_int_equal(hshm_lock(f->store, "grp", "GBPUSD", &tok_b), 0);
        assert_int_equal(hshm_tag_format(f->store, tok_a, tag_a, sizeof(tag_a)), 0);
        assert_int_equal(hshm_tag_format(f->store, tok_b, tag_b, sizeof(tag_b)), 0);
        assert_int_equal(hshm_tag_parse(tag_a, &ta), 0);
        assert_int_equal(hshm_tag_parse(tag_b, &tb), 0);

        book_init(&b, 1, 100, 1);
        fill(&b, "XAUUSD", 0, 1, tag_a, BOOK_NEVER);
        /* Merging into a tagged position opens nothing new. */
        fill(&b, "XAUUSD", 0, 1, tag_b, BOOK_NEVER);
        assert_true(key_of(&b, ta.instance, ta.slot)->open == 1);
        assert_null(key_of(&b, tb.instance, tb.slot));
        /* A reversal is the old position closing and the order's opening. */
        fill(&b, "XAUUSD", 1, 3, tag_b, BOOK_NEVER);
        assert_true(key_of(&b, ta.instance, ta.slot)->open == 0);
        assert_true(key_of(&b, tb.instance, tb.slot)->open == 1);
        assert_true(b.ledger.duplicates == 0);
        book_free(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hedging_fill_and_close),
            cmocka_unit_test(test_position_limit),
            cmocka_unit_test(test_expire_and_prune),
            cmocka_unit_test(test_netting),
            cmocka_unit_test_setup_teardown(test_ledger, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_ledger_netting_reversal, tu_setup, tu_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
