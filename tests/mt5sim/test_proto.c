/*
 * Unit tests of mt5sim's line protocol (tools/mt5sim/proto.c): percent-encoding both ways,
 * strict numbers, and every request form, good and bad. Pure functions, so no server here.
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

#include "proto.h"

static void test_encode(void **state)
{
        char out[64];

        (void)state;
        assert_int_equal(mp_pct_encode("EURUSD.r", out, sizeof(out)), 0);
        assert_string_equal(out, "EURUSD.r");
        assert_int_equal(mp_pct_encode("a b%c\t\x7f\xc3\xa9", out, sizeof(out)), 0);
        assert_string_equal(out, "a%20b%25c%09%7F%C3%A9");
        assert_int_equal(mp_pct_encode("", out, sizeof(out)), 0);
        assert_string_equal(out, "");
        /* Exactly fitting, then one byte short. */
        assert_int_equal(mp_pct_encode("a b", out, 6), 0);
        assert_string_equal(out, "a%20b");
        assert_int_equal(mp_pct_encode("a b", out, 5), -ENOSPC);
        assert_int_equal(mp_pct_encode("x", out, 1), -ENOSPC);
        assert_int_equal(mp_pct_encode("", out, 0), -ENOSPC);
}

static void test_decode(void **state)
{
        char out[8];
        const char *in;

        (void)state;
        in = "a%20b%2fC";
        assert_int_equal(mp_pct_decode(in, strlen(in), out, sizeof(out)), 5);
        assert_string_equal(out, "a b/C");
        in = "%C3%A9";
        assert_int_equal(mp_pct_decode(in, strlen(in), out, sizeof(out)), 2);
        assert_string_equal(out, "\xc3\xa9");
        assert_int_equal(mp_pct_decode("", 0, out, sizeof(out)), 0);
        assert_string_equal(out, "");
        /* Only len bytes are read. */
        assert_int_equal(mp_pct_decode("abc%", 3, out, sizeof(out)), 3);
        /* Broken escapes, control bytes, raw spaces. */
        const char *bad[] = {"%",   "%4",  "%G0", "%0g",  "a%", "%00",
                             "%0A", "%7f", "a b", "\x01", "\t", "\x7f"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(mp_pct_decode(bad[i], strlen(bad[i]), out, sizeof(out)), -EINVAL);
        /* size counts the NUL. */
        assert_int_equal(mp_pct_decode("1234567", 7, out, 8), 7);
        assert_int_equal(mp_pct_decode("12345678", 8, out, 8), -ENOSPC);
        assert_int_equal(mp_pct_decode("%41%41", 6, out, 2), -ENOSPC);
}

static void test_round_trip(void **state)
{
        char text[256], enc[3 * 256 + 1], dec[256];

        (void)state;
        /* Every byte the decoder accepts survives encode + decode. */
        size_t n = 0;
        for (int c = 0x20; c < 0x100; c++)
                if (c != 0x7f)
                        text[n++] = (char)c;
        text[n] = '\0';
        assert_int_equal(mp_pct_encode(text, enc, sizeof(enc)), 0);
        assert_null(strchr(enc, ' '));
        assert_int_equal(mp_pct_decode(enc, strlen(enc), dec, sizeof(dec)), (int)n);
        assert_memory_equal(dec, text, n + 1);
}

static void test_u64(void **state)
{
        uint64_t v;

        (void)state;
        assert_int_equal(mp_parse_u64("0", 1, 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(mp_parse_u64("18446744073709551615", 20, UINT64_MAX, &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(mp_parse_u64("18446744073709551616", 20, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(mp_parse_u64("100", 3, 100, &v), 0);
        assert_int_equal(mp_parse_u64("101", 3, 100, &v), -EINVAL);
        assert_int_equal(mp_parse_u64("", 0, 100, &v), -EINVAL);
        assert_int_equal(mp_parse_u64("-1", 2, 100, &v), -EINVAL);
        assert_int_equal(mp_parse_u64("+1", 2, 100, &v), -EINVAL);
        assert_int_equal(mp_parse_u64(" 1", 2, 100, &v), -EINVAL);
        assert_int_equal(mp_parse_u64("0x1", 3, 100, &v), -EINVAL);
        assert_int_equal(mp_parse_u64("12", 1, 100, &v), 0);
        assert_int_equal(v, 1);
}

static void test_split(void **state)
{
        char line[] = "  A\tbb  c ", *w[3];

        (void)state;
        assert_int_equal(mp_split(line, w, 3), 3);
        assert_string_equal(w[0], "A");
        assert_string_equal(w[1], "bb");
        assert_string_equal(w[2], "c");
        char two[] = "a b c";
        assert_int_equal(mp_split(two, w, 2), -E2BIG);
        char none[] = " \t ";
        assert_int_equal(mp_split(none, w, 2), 0);
}

static void test_order(void **state)
{
        struct mp_request rq;
        char why[128];

        (void)state;
        assert_int_equal(
            mp_parse_request("ORDER EURUSD.r buy 0.01 42 HS0123%20x", &rq, why, sizeof(why)), 0);
        assert_int_equal(rq.cmd, MP_ORDER);
        assert_string_equal(rq.symbol, "EURUSD.r");
        assert_int_equal(rq.type, 0);
        assert_true(rq.volume == 0.01);
        assert_true(rq.magic == 42);
        assert_string_equal(rq.comment, "HS0123 x");

        /* Case-insensitive words, tabs, no comment, encoded symbol, biggest magic. */
        assert_int_equal(mp_parse_request("order\t%23XAUUSD  SELL 2 18446744073709551615", &rq, why,
                                          sizeof(why)),
                         0);
        assert_string_equal(rq.symbol, "#XAUUSD");
        assert_int_equal(rq.type, 1);
        assert_true(rq.volume == 2.0);
        assert_true(rq.magic == UINT64_MAX);
        assert_string_equal(rq.comment, "");

        /* A 31-byte symbol and a 63-byte comment fit; one more byte does not. */
        char line[512];
        snprintf(line, sizeof(line), "ORDER %031d buy 1 1 %063d", 0, 0);
        assert_int_equal(mp_parse_request(line, &rq, why, sizeof(why)), 0);
        snprintf(line, sizeof(line), "ORDER %032d buy 1 1", 0);
        assert_int_equal(mp_parse_request(line, &rq, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "symbol"));
        snprintf(line, sizeof(line), "ORDER X buy 1 1 %064d", 0);
        assert_int_equal(mp_parse_request(line, &rq, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "comment"));

        const char *bad[] = {
            "ORDER",
            "ORDER EURUSD buy 0.01",
            "ORDER EURUSD hold 0.01 1",
            "ORDER EURUSD buy 0 1",
            "ORDER EURUSD buy -1 1",
            "ORDER EURUSD buy 1e2 1",
            "ORDER EURUSD buy .5 1",
            "ORDER EURUSD buy 5. 1",
            "ORDER EURUSD buy 0.000000001 1",
            "ORDER EURUSD buy 100000.01 1",
            "ORDER EURUSD buy nan 1",
            "ORDER EURUSD buy 1 -1",
            "ORDER EURUSD buy 1 18446744073709551616",
            "ORDER EURUSD buy 1 1 a b",
            "ORDER EUR%0AUSD buy 1 1",
            "ORDER EURUSD buy 1 1 bad%zz",
            "ORDER %20%20 buy 1 1 %00",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                why[0] = '\0';
                assert_int_equal(mp_parse_request(bad[i], &rq, why, sizeof(why)), -EINVAL);
                assert_true(why[0] != '\0');
        }
        assert_int_equal(mp_parse_request("ORDER EURUSD buy 100000 1", &rq, why, sizeof(why)), 0);
        assert_int_equal(mp_parse_request("ORDER EURUSD buy 0.00000001 1", &rq, why, sizeof(why)),
                         0);
}

static void test_other_commands(void **state)
{
        struct mp_request rq;
        char why[128];

        (void)state;
        assert_int_equal(mp_parse_request("CLOSE 123", &rq, why, sizeof(why)), 0);
        assert_int_equal(rq.cmd, MP_CLOSE);
        assert_true(rq.identifier == 123);
        assert_int_equal(mp_parse_request("CLOSE 0", &rq, why, sizeof(why)), -EINVAL);
        assert_int_equal(mp_parse_request("CLOSE", &rq, why, sizeof(why)), -EINVAL);
        assert_int_equal(mp_parse_request("CLOSE 1 2", &rq, why, sizeof(why)), -EINVAL);

        const struct {
                const char *line;
                enum mp_command cmd;
        } plain[] = {{"POSITIONS", MP_POSITIONS},
                     {"ledger", MP_LEDGER},
                     {"STATS", MP_STATS},
                     {"PING", MP_PING},
                     {"QUIT", MP_QUIT}};
        for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
                char line[64];

                assert_int_equal(mp_parse_request(plain[i].line, &rq, why, sizeof(why)), 0);
                assert_int_equal(rq.cmd, plain[i].cmd);
                snprintf(line, sizeof(line), "%s x", plain[i].line);
                assert_int_equal(mp_parse_request(line, &rq, why, sizeof(why)), -EINVAL);
        }
        assert_int_equal(mp_parse_request("", &rq, why, sizeof(why)), -EINVAL);
        assert_int_equal(mp_parse_request("   ", &rq, why, sizeof(why)), -EINVAL);
        assert_int_equal(mp_parse_request("HELLO", &rq, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "HELLO"));
        assert_int_equal(mp_parse_request("a b c d e f g h i", &rq, why, sizeof(why)), -EINVAL);

        /* A line over the limit is refused before anything else. */
        char long_line[MP_LINE_MAX + 2];
        memset(long_line, 'P', sizeof(long_line) - 1);
        long_line[sizeof(long_line) - 1] = '\0';
        assert_int_equal(mp_parse_request(long_line, &rq, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "longer"));
}

static void test_faults(void **state)
{
        struct mp_request rq;
        char why[128];

        (void)state;
        const struct {
                const char *line;
                enum mp_fault fault;
                uint64_t value;
        } good[] = {
            {"FAULT stall 500", MP_FAULT_STALL, 500},
            {"FAULT DISCONNECT 0", MP_FAULT_DISCONNECT, 0},
            {"FAULT seq_back", MP_FAULT_SEQ_BACK, 0},
            {"FAULT malformed", MP_FAULT_MALFORMED, 0},
            {"FAULT lose_reply", MP_FAULT_LOSE_REPLY, 1},
            {"FAULT lose_reply 3", MP_FAULT_LOSE_REPLY, 3},
            {"FAULT hangup", MP_FAULT_HANGUP, 1},
            {"FAULT reject_rate 100", MP_FAULT_REJECT_RATE, 100},
            {"FAULT clear", MP_FAULT_CLEAR, 0},
            {"FAULT stall 3600000", MP_FAULT_STALL, 3600000},
        };
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                assert_int_equal(mp_parse_request(good[i].line, &rq, why, sizeof(why)), 0);
                assert_int_equal(rq.cmd, MP_FAULT);
                assert_int_equal(rq.fault, good[i].fault);
                assert_true(rq.value == good[i].value);
        }
        const char *bad[] = {"FAULT",
                             "FAULT nope",
                             "FAULT stall",
                             "FAULT stall 3600001",
                             "FAULT stall x",
                             "FAULT seq_back 1",
                             "FAULT malformed now",
                             "FAULT lose_reply 1 2",
                             "FAULT reject_rate 101",
                             "FAULT clear 0"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(mp_parse_request(bad[i], &rq, why, sizeof(why)), -EINVAL);
        assert_string_equal(mp_fault_name(MP_FAULT_LOSE_REPLY), "lose_reply");
        assert_null(mp_fault_name((enum mp_fault)99));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_encode),         cmocka_unit_test(test_decode),
            cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_u64),
            cmocka_unit_test(test_split),          cmocka_unit_test(test_order),
            cmocka_unit_test(test_other_commands), cmocka_unit_test(test_faults),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
