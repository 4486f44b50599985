/*
 * Order tags: format, parse and resolve. The tag is what ties an MT5 position back to a slot
 * and a lock, so every way a broker can damage a comment must make it unparseable rather
 * than name another lock.
 */
#undef NDEBUG
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "hedgeshm.h"
#include "testutil.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void lock_and_tag(hshm_store *s, const char *symbol, uint64_t *token, char *tag)
{
        assert_int_equal(hshm_lock(s, "corr-1", symbol, token), 0);
        assert_int_equal(hshm_tag_format(s, *token, tag, HSHM_TAG_LEN + 1), 0);
}

static void test_round_trip(void **state)
{
        struct tu_fixture *f = *state;
        struct hshm_tag_match m;
        struct hshm_tag t;
        char tag[HSHM_TAG_LEN + 1];
        uint64_t token;

        assert_int_equal(hshm_lock(f->store, "corr-1", "EURUSD.pro", &token), 0);
        assert_int_equal(hshm_reset(f->store, token), 0);
        lock_and_tag(f->store, "#AAPL", &token, tag);
        assert_int_equal(strlen(tag), HSHM_TAG_LEN);
        assert_memory_equal(tag, "HS", 2);
        for (size_t i = 0; i < strlen(tag); i++)
                assert_true(isalnum((unsigned char)tag[i]) && !islower((unsigned char)tag[i]));
        assert_int_equal(hshm_tag_parse(tag, &t), 0);
        assert_int_equal(t.slot, token >> 44);
        assert_int_equal(t.generation, token & ((UINT64_C(1) << 44) - 1));
        assert_int_equal(hshm_tag_resolve(f->store, &t, &m), 0);
        assert_int_equal(m.same_instance, 1);
        assert_int_equal(m.slot, 1);
        assert_int_equal(m.token, token);
        /* Still the same tag once ACTIVE: the token stays current. */
        assert_int_equal(hshm_activate(f->store, token, 77, "US500.cash"), 0);
        {
                char again[HSHM_TAG_LEN + 1];
                assert_int_equal(hshm_tag_format(f->store, token, again, sizeof(again)), 0);
                assert_string_equal(again, tag);
        }
}

static void test_found_inside_other_text_and_any_case(void **state)
{
        struct tu_fixture *f = *state;
        char tag[HSHM_TAG_LEN + 1], text[128], lower[HSHM_TAG_LEN + 1];
        struct hshm_tag a, b;
        uint64_t token;

        memset(&a, 0, sizeof(a)); /* padding too: the structs are compared as bytes */
        memset(&b, 0, sizeof(b));
        lock_and_tag(f->store, "XAUUSD_o", &token, tag);
        assert_int_equal(hshm_tag_parse(tag, &a), 0);
        snprintf(text, sizeof(text), "bot7 %s [sl]", tag);
        assert_int_equal(hshm_tag_parse(text, &b), 0);
        assert_memory_equal(&a, &b, sizeof(a));
        for (int i = 0; i <= HSHM_TAG_LEN; i++)
                lower[i] = (char)tolower((unsigned char)tag[i]);
        assert_int_equal(hshm_tag_parse(lower, &b), 0);
        assert_memory_equal(&a, &b, sizeof(a));
}

/* The check character must catch every single-character change of the payload. */
static void test_every_substitution_rejected(void **state)
{
        struct tu_fixture *f = *state;
        char tag[HSHM_TAG_LEN + 1], bad[HSHM_TAG_LEN + 1];
        struct hshm_tag t;
        uint64_t token;
        int tried = 0;

        lock_and_tag(f->store, "US30Cash", &token, tag);
        for (int pos = 2; pos < HSHM_TAG_LEN; pos++) {
                for (const char *c = alphabet; *c != '\0'; c++) {
                        if (*c == tag[pos])
                                continue;
                        memcpy(bad, tag, sizeof(bad));
                        bad[pos] = *c;
                        assert_int_equal(hshm_tag_parse(bad, &t), HSHM_ENOTAG);
                        tried++;
                }
        }
        assert_int_equal(tried, (HSHM_TAG_LEN - 2) * 31);
}

static void test_truncated_and_garbage(void **state)
{
        struct tu_fixture *f = *state;
        char tag[HSHM_TAG_LEN + 1];
        struct hshm_tag t;
        uint64_t token;

        lock_and_tag(f->store, "EURUSD.r", &token, tag);
        for (int len = 0; len < HSHM_TAG_LEN; len++) {
                char cut[HSHM_TAG_LEN + 1];
                memcpy(cut, tag, (size_t)len);
                cut[len] = '\0';
                assert_int_equal(hshm_tag_parse(cut, &t), HSHM_ENOTAG);
        }
        assert_int_equal(hshm_tag_parse("", &t), HSHM_ENOTAG);
        assert_int_equal(hshm_tag_parse(NULL, &t), HSHM_ENOTAG);
        assert_int_equal(hshm_tag_parse("HSHSHSHSHSHSHSHSHSHSHSHSHSHSHS", &t), HSHM_ENOTAG);
        assert_int_equal(hshm_tag_parse("hedge for EURUSD #12345", &t), HSHM_ENOTAG);
}

static void test_format_refuses_stale_token(void **state)
{
        struct tu_fixture *f = *state;
        char tag[HSHM_TAG_LEN + 1];
        uint64_t token;

        lock_and_tag(f->store, "GBPUSD", &token, tag);
        assert_int_equal(hshm_reset(f->store, token), 0);
        assert_int_equal(hshm_tag_format(f->store, token, tag, sizeof(tag)), HSHM_ESTALE);
        assert_int_equal(hshm_tag_format(f->store, token, tag, 10), -EINVAL);
        assert_int_equal(hshm_tag_format(f->store, UINT64_C(63) << 44 | 1, tag, sizeof(tag)),
                         HSHM_ENOKEY);
}

/* A tag made before the segment was recreated finds its key by fingerprint, without a token. */
static void test_resolve_across_recreation(void **state)
{
        struct tu_fixture *f = *state;
        char name[TU_NAME_MAX], tag[HSHM_TAG_LEN + 1];
        struct hshm_tag_match m;
        struct hshm_tag t;
        hshm_store *next;
        uint64_t token, other;

        lock_and_tag(f->store, "USDJPY.r", &token, tag);
        assert_int_equal(hshm_tag_parse(tag, &t), 0);
        tu_name(name, sizeof(name), "recreated");
        next = tu_create_open(name, 16);
        assert_non_null(next);
        assert_int_equal(hshm_tag_resolve(next, &t, &m), HSHM_ENOKEY);
        assert_int_equal(hshm_lock(next, "corr-1", "EURUSD", &other), 0);
        assert_int_equal(hshm_lock(next, "corr-1", "USDJPY.r", &other), 0);
        assert_int_equal(hshm_tag_resolve(next, &t, &m), 0);
        assert_int_equal(m.same_instance, 0);
        assert_int_equal(m.slot, 1);
        assert_int_equal(m.token, 0);
        tu_close_destroy(next, name);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_round_trip, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_found_inside_other_text_and_any_case, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_every_substitution_rejected, tu_setup,
                                            tu_teardown),
            cmocka_unit_test_setup_teardown(test_truncated_and_garbage, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_format_refuses_stale_token, tu_setup, tu_teardown),
            cmocka_unit_test_setup_teardown(test_resolve_across_recreation, tu_setup, tu_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
