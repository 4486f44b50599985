/*
 * Unit tests for what needs no segment: segment name and key validation, name resolution
 * through HEDGESHM_NAME, and the names of errors and states.
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "testutil.h"

static void expect_bad_name(const char *name)
{
        int rc = hshm_validate_name(name);

        if (rc != -EINVAL)
                fail_msg("name \"%.40s\" (%zu bytes): got %d, want -EINVAL", name, strlen(name),
                         rc);
        assert_true(hshm_last_detail()[0] != '\0');
}

static void test_name_refusals(void **state)
{
        char name[300];

        (void)state;
        expect_bad_name("hedgeshm");   /* no leading slash */
        expect_bad_name("/hedge/shm"); /* a second slash */
        expect_bad_name("//hedgeshm");
        expect_bad_name("/hedgeshm/");
        expect_bad_name("");
        expect_bad_name("/");
        expect_bad_name("/.");  /* names the /dev/shm directory itself */
        expect_bad_name("/.."); /* and its parent */
        expect_bad_name("/tab\there");
        expect_bad_name("/new\nline");
        expect_bad_name("/del\x7f");
        expect_bad_name("/caf\xc3\xa9"); /* not ASCII */

        /* The file in /dev/shm may have NAME_MAX (255) bytes: one more is too long. */
        memset(name, 'a', sizeof(name));
        name[0] = '/';
        name[257] = '\0';
        expect_bad_name(name);
        name[299] = '\0';
        expect_bad_name(name);
}

static void test_name_valid(void **state)
{
        char name[257];
        char tag[TU_NAME_MAX];
        size_t len;

        (void)state;
        assert_int_equal(hshm_validate_name("/hedgeshm"), 0);
        assert_int_equal(hshm_validate_name("/a"), 0);
        assert_int_equal(hshm_validate_name("/hedge-shm_2.test"), 0);
        assert_int_equal(hshm_validate_name("/..x"), 0);

        /* The longest valid name, '/' and NAME_MAX bytes, must make a real segment. */
        tu_name(tag, sizeof(tag), "long");
        len = strlen(tag);
        memcpy(name, tag, len);
        memset(name + len, 'z', 256 - len);
        name[256] = '\0';
        assert_int_equal(hshm_validate_name(name), 0);
        hshm_store *store = tu_create_open(name, 1);
        assert_non_null(store);
        tu_close_destroy(store, name);
}

static void expect_bad_key(const char *group, const char *symbol)
{
        int rc = hshm_validate_key(group, symbol);

        if (rc != -EINVAL)
                fail_msg("key \"%s\"/\"%s\": got %d, want -EINVAL", group ? group : "(null)",
                         symbol ? symbol : "(null)", rc);
        assert_true(hshm_last_detail()[0] != '\0');
}

static void test_key_refusals(void **state)
{
        char k32[33];

        (void)state;
        memset(k32, 'K', 32);
        k32[32] = '\0';
        expect_bad_key("", "EURUSD");
        expect_bad_key("g1", "");
        expect_bad_key(NULL, "EURUSD");
        expect_bad_key("g1", NULL);
        expect_bad_key(k32, "EURUSD"); /* 32 bytes: one too many */
        expect_bad_key("g1", k32);
        expect_bad_key("g 1", "EURUSD");
        expect_bad_key("g1", "EUR USD");
        expect_bad_key("g1", "EURUSD\t");
        expect_bad_key("g1\n", "EURUSD");
        expect_bad_key("g1", "EUR\x7f");
        expect_bad_key("g1", "\xc3\xa9");
}

static void test_key_valid(void **state)
{
        static const char *const mt5[] = {"EURUSD.pro", "#AAPL",   "US30Cash", "XAUUSD_o",
                                          "US500.cash", "GER40+",  "BTCUSD!",  "EURUSD-ECN",
                                          "USDJPY.m",   "XAGUSD#", "NAS100.i", "EURUSD"};
        char k31[32];

        (void)state;
        for (size_t i = 0; i < sizeof(mt5) / sizeof(mt5[0]); i++)
                assert_int_equal(hshm_validate_key("corr-group:1", mt5[i]), 0);
        memset(k31, 'K', 31);
        k31[31] = '\0';
        assert_int_equal(hshm_validate_key(k31, k31), 0); /* 31 bytes each: the limit */
        assert_int_equal(hshm_validate_key("g", "X"), 0);
}

static void test_resolve_name(void **state)
{
        (void)state;
        assert_int_equal(unsetenv(HSHM_NAME_ENV), 0);
        assert_string_equal(hshm_resolve_name(NULL), HSHM_DEFAULT_NAME);
        assert_string_equal(hshm_resolve_name("/given"), "/given");

        assert_int_equal(setenv(HSHM_NAME_ENV, "/from-env", 1), 0);
        assert_string_equal(hshm_resolve_name(NULL), "/from-env");
        assert_string_equal(hshm_resolve_name("/given"), "/given"); /* caller wins */
        assert_int_equal(unsetenv(HSHM_NAME_ENV), 0);
}

static void test_error_and_state_names(void **state)
{
        static const int codes[] = {HSHM_ENOTSEG, HSHM_EVERSION, HSHM_ELAYOUT,
                                    HSHM_ETRUNC,  HSHM_ECORRUPT, HSHM_ESTALE,
                                    HSHM_ESTATE,  HSHM_ENOKEY,   HSHM_EINIT};
        const size_t n = sizeof(codes) / sizeof(codes[0]);

        (void)state;
        for (size_t i = 0; i < n; i++) {
                const char *msg = hshm_strerror(codes[i]);

                assert_non_null(msg);
                assert_true(msg[0] != '\0');
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(msg, hshm_strerror(codes[j]));
        }
        assert_true(hshm_strerror(-ENOENT)[0] != '\0');
        assert_true(hshm_strerror(-EBUSY)[0] != '\0');
        assert_true(hshm_strerror(-999999)[0] != '\0');
        assert_string_equal(hshm_state_name(HSHM_AVAILABLE), "AVAILABLE");
        assert_string_equal(hshm_state_name(HSHM_HEDGING), "HEDGING");
        assert_string_equal(hshm_state_name(HSHM_ACTIVE), "ACTIVE");
        assert_string_equal(hshm_state_name(HSHM_ERROR), "ERROR");
        assert_string_equal(hshm_state_name((enum hshm_state)7), "?");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_name_refusals), cmocka_unit_test(test_name_valid),
            cmocka_unit_test(test_key_refusals),  cmocka_unit_test(test_key_valid),
            cmocka_unit_test(test_resolve_name),  cmocka_unit_test(test_error_and_state_names),
        };

        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
