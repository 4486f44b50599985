/*
 * The parser against malformed and hostile snapshots: one case per rule of
 * docs/snapshot-format.md (each with a correct CRC, so the rule itself is what refuses it), a
 * small valid file cut at every byte and with every single bit flipped, and random mutations.
 *
 * Every parse runs on a heap copy of exactly len bytes with no NUL after it, so under ASan a
 * read past len is a crash, not luck. A refusal must return -EINVAL, name the offending line and
 * field in `why`, and leave the snapshot zeroed.
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

#include "snapshot.h"

/* The valid base file, line by line (line numbers in messages are index + 1). */
static const char *const base[] = {
    "HEDGESNAP 1",
    "seq 7",
    "time_ms 1718000000000",
    "login 5012345",
    "connected 1",
    "margin_mode 2",
    "positions 2",
    "orders 1",
    "deals 1",
    "P 1001 1001 42 EURUSD.r 0 0.1 1.08345 1717999990123 HS0000000000000000000000001",
    "P 1002 1001 42 %23XAU%20USD 1 1.5 -2350.5 0 -",
    "O 1003 0 42 EURUSD.r 2 0.2 1717999991000 pending%25",
    "D 1004 0 1001 42 EURUSD.r 0 0 0.1 1717999990123 -",
};
#define NBASE (sizeof(base) / sizeof(base[0]))
#define L_POS 9 /* index of the first P line */

struct text {
        char *p;
        size_t len;
};

static void append(struct text *t, const char *s, size_t n)
{
        t->p = realloc(t->p, t->len + n + 1);
        assert_non_null(t->p);
        memcpy(t->p + t->len, s, n);
        t->len += n;
        t->p[t->len] = '\0';
}

static void append_s(struct text *t, const char *s)
{
        append(t, s, strlen(s));
}

static void append_trailer(struct text *t, uint64_t seq, const char *eol)
{
        char line[64];

        snprintf(line, sizeof(line), "END %llu %08x%s", (unsigned long long)seq,
                 (unsigned)hf_crc32(0, t->p, t->len), eol);
        append_s(t, line);
}

/* The base file with line idx replaced by repl (NULL deletes it), and a correct trailer. */
static struct text edited(size_t idx, const char *repl)
{
        struct text t = {0};

        for (size_t i = 0; i < NBASE; i++) {
                const char *l = i == idx ? repl : base[i];

                if (l != NULL) {
                        append_s(&t, l);
                        append_s(&t, "\n");
                }
        }
        append_trailer(&t, 7, "\n");
        return t;
}

static struct text valid(void)
{
        return edited(NBASE, NULL);
}

/* Parses an exact-size heap copy; returns rc, copies why out. */
static int parse_exact(const char *p, size_t len, char *why, size_t why_len)
{
        struct hf_snapshot s, zero;
        char *copy = malloc(len ? len : 1);
        int rc;

        assert_non_null(copy);
        memcpy(copy, p, len);
        memset(&s, 0xa5, sizeof(s));
        rc = hf_parse(copy, len, &s, why, why_len);
        free(copy);
        if (rc != 0) {
                memset(&zero, 0, sizeof(zero));
                assert_memory_equal(&s, &zero, sizeof(s));
        } else {
                hf_free(&s);
        }
        return rc;
}

static void expect_bad_text(const char *p, size_t len, const char *want)
{
        char why[256];
        int rc = parse_exact(p, len, why, sizeof(why));

        if (rc != -EINVAL)
                fail_msg("accepted (rc %d) a snapshot that should fail with \"%s\"", rc, want);
        if (strstr(why, want) == NULL)
                fail_msg("why = \"%s\", want it to contain \"%s\"", why, want);
}

static void expect_bad(struct text t, const char *want)
{
        expect_bad_text(t.p, t.len, want);
        free(t.p);
}

static void expect_good(struct text t)
{
        char why[256];
        int rc = parse_exact(t.p, t.len, why, sizeof(why));

        if (rc != 0)
                fail_msg("refused a valid snapshot: %s\n%s", why, t.p);
        free(t.p);
}

static void test_base_is_valid(void **state)
{
        struct hf_snapshot s;
        struct text t = valid();
        char why[256];

        (void)state;
        assert_int_equal(hf_parse(t.p, t.len, &s, why, sizeof(why)), 0);
        assert_int_equal(s.seq, 7);
        assert_int_equal(s.n_positions, 2);
        assert_string_equal(s.positions[1].symbol, "#XAU USD");
        assert_string_equal(s.positions[1].comment, "");
        assert_true(s.positions[1].price_open == -2350.5);
        assert_string_equal(s.orders[0].comment, "pending%");
        assert_int_equal(s.deals[0].order, 0);
        hf_free(&s);
        free(t.p);
}

static void test_magic(void **state)
{
        (void)state;
        expect_bad(edited(0, "HEDGESNAP 2"), "line 1, magic format: 2 is not supported");
        expect_bad(edited(0, "HEDGESNAP 0"), "line 1, magic format: 0 is not supported");
        expect_bad(edited(0, "HEDGESNAP 01"), "line 1, magic format: leading zero");
        expect_bad(edited(0, "HEDGESNAP1"), "line 1, magic line: expected \"HEDGESNAP\"");
        expect_bad(edited(0, "hedgesnap 1"), "line 1, magic line: expected \"HEDGESNAP\"");
        expect_bad(edited(0, "HEDGESNAP"), "line 1, magic format: missing");
        expect_bad(edited(0, "HEDGESNAP 1 x"), "line 1, magic line: extra fields");
        expect_bad(edited(0, "HEDGESNAP 1 "), "line 1, magic line: trailing space");
        expect_bad(edited(0, " HEDGESNAP 1"), "line 1, magic line:");
        expect_bad(edited(0, ""), "line 1, magic line:");
        expect_bad(edited(0, "{\"positions\": []}"), "line 1, magic line");
}

static void test_header(void **state)
{
        (void)state;
        expect_bad(edited(1, "seq 0"), "line 2, header seq: 0 out of range");
        expect_bad(edited(1, "seq -1"), "line 2, header seq: not an unsigned decimal number");
        expect_bad(edited(1, "seq +7"), "line 2, header seq: not an unsigned");
        expect_bad(edited(1, "seq 18446744073709551616"), "line 2, header seq: out of range");
        expect_bad(edited(1, "seq 99999999999999999999999"), "line 2, header seq: out of range");
        expect_bad(edited(1, "seq 7.0"), "line 2, header seq: not an unsigned");
        expect_bad(edited(1, "seq 0x7"), "line 2, header seq: not an unsigned");
        expect_bad(edited(1, "seq  7"), "line 2, header seq: empty");
        expect_bad(edited(1, "seq\t7"), "line 2, header key: expected \"seq\"");
        expect_bad(edited(1, "seq"), "line 2, header seq: missing");
        expect_bad(edited(1, "sequence 7"), "line 2, header key: expected \"seq\"");
        expect_bad(edited(1, NULL), "line 2, header key: expected \"seq\", found \"time_ms\"");
        expect_bad(edited(2, "time_ms 0"), "line 3, header time_ms: 0 out of range");
        expect_bad(edited(2, "time_ms 9223372036854775808"), "line 3, header time_ms:");
        expect_bad(edited(3, "login -5"), "line 4, header login:");
        expect_bad(edited(4, "connected 2"), "line 5, header connected: 2 out of range 0..1");
        expect_bad(edited(4, "connected yes"), "line 5, header connected: not an unsigned");
        expect_bad(edited(5, "margin_mode 3"), "line 6, header margin_mode: 3 out of range");
        expect_bad(edited(5, "login 5012345"), "line 6, header key: expected \"margin_mode\"");
        expect_bad(edited(8, "deals 1 1"), "line 9, header line: extra fields");
}

static void test_counts(void **state)
{
        (void)state;
        /* More counted than present: the next kind's line is found where a P was expected. */
        expect_bad(edited(6, "positions 3"), "line 12, P record: expected P record 3 of 3");
        expect_bad(edited(6, "positions 1"), "line 11, O record: expected O record 1 of 1");
        expect_bad(edited(7, "orders 0"), "line 12, D record: expected D record 1 of 1");
        expect_bad(edited(8, "deals 0"), "line 13, END record: more records than the header");
        expect_bad(edited(8, "deals 2"), "line 14, D record: expected D record 2 of 2");
        expect_bad(edited(6, "positions 2000001"), "line 7, header positions: 2000001 out of");
        expect_bad(edited(6, "positions 2000000"), "line 9, header deals: 2000002 records in all");
        /* Counts the bytes left cannot hold are refused before anything is allocated. */
        expect_bad(edited(6, "positions 1999998"), "records cannot fit in the");
        expect_bad(edited(8, "deals 18446744073709551615"), "line 9, header deals:");
        /* Records out of order are a count mismatch too. */
        expect_bad(edited(10, "O 1003 0 42 EURUSD.r 2 0.2 1717999991000 -"),
                   "line 11, P record: expected P record 2 of 2");
}

static void test_position_fields(void **state)
{
        (void)state;
        expect_bad(edited(L_POS, "P 0 1001 42 EURUSD 0 0.1 1.1 1 -"),
                   "line 10, P ticket: 0 out of range");
        expect_bad(edited(L_POS, "P 1001 0 42 EURUSD 0 0.1 1.1 1 -"),
                   "line 10, P identifier: 0 out of range");
        expect_bad(edited(L_POS, "P 1001 1001 18446744073709551616 EURUSD 0 0.1 1.1 1 -"),
                   "line 10, P magic: out of range");
        expect_bad(edited(L_POS, "P 1001 1001 -1 EURUSD 0 0.1 1.1 1 -"), "line 10, P magic:");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 2 0.1 1.1 1 -"),
                   "line 10, P type: 2 out of range 0..1");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD -1 0.1 1.1 1 -"), "line 10, P type:");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1.1 -1 -"), "line 10, P time_msc:");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1.1 9223372036854775808 -"),
                   "line 10, P time_msc:");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 nan 1 -"),
                   "line 10, P price_open: not a decimal number");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1e999 1 -"),
                   "line 10, P price_open: out of range (not finite)");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1.1 1"),
                   "line 10, P comment: missing");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1.1 1 - x"),
                   "line 10, P line: extra fields");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1.1 1 - "),
                   "line 10, P line: trailing space");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1.1 1 a\tb"),
                   "line 10, P comment: byte 0x09 must be percent-encoded");
        expect_bad(edited(L_POS, "P  1001 1001 42 EURUSD 0 0.1 1.1 1 -"),
                   "line 10, P ticket: empty");
        expect_bad(edited(L_POS, "p 1001 1001 42 EURUSD 0 0.1 1.1 1 -"),
                   "line 10, P record: expected P record 1 of 2");
        expect_bad(edited(L_POS, "PP 1001 1001 42 EURUSD 0 0.1 1.1 1 -"),
                   "line 10, P record: expected P record 1 of 2");
        expect_bad(edited(L_POS, "P"), "line 10, P ticket: missing");
        expect_bad(edited(L_POS, ""), "line 10, P record: expected P record 1 of 2");
}

static void test_volume(void **state)
{
        static const char *const bad[] = {
            "-0.1",     "-0",   "nan",
            "NaN",      "inf",  "-inf",
            "1e400",    "1.",   ".5",
            "1e",       "1e+",  "0x10",
            "1,5",      "+1",   "1.5.5",
            "1..5",     "--1",  "1e5e5",
            "infinity", "0.1f", "1234567890123456789012345678901234567890123456789012345678901234"};
        char line[256];

        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(line, sizeof(line), "P 1001 1001 42 EURUSD 0 %s 1.1 1 -", bad[i]);
                expect_bad(edited(L_POS, line), "line 10, P volume:");
                snprintf(line, sizeof(line), "O 1003 0 42 EURUSD.r 2 %s 1 -", bad[i]);
                expect_bad(edited(11, line), "line 12, O volume:");
                snprintf(line, sizeof(line), "D 1004 0 1001 42 EURUSD.r 0 0 %s 1 -", bad[i]);
                expect_bad(edited(12, line), "line 13, D volume:");
        }
}

static void test_strings(void **state)
{
        char line[512], s[256];

        (void)state;
        expect_bad(edited(L_POS, "P 1001 1001 42 - 0 0.1 1.1 1 -"), "line 10, P symbol: empty");
        memset(s, 'A', 32);
        s[32] = '\0';
        snprintf(line, sizeof(line), "P 1001 1001 42 %s 0 0.1 1.1 1 -", s);
        expect_bad(edited(L_POS, line), "line 10, P symbol: longer than 31 bytes");
        s[31] = '\0';
        snprintf(line, sizeof(line), "P 1001 1001 42 %s 0 0.1 1.1 1 -", s);
        expect_good(edited(L_POS, line));
        memset(s, 'c', 64);
        s[64] = '\0';
        snprintf(line, sizeof(line), "P 1001 1001 42 X 0 0.1 1.1 1 %s", s);
        expect_bad(edited(L_POS, line), "line 10, P comment: longer than 63 bytes");
        s[63] = '\0';
        snprintf(line, sizeof(line), "P 1001 1001 42 X 0 0.1 1.1 1 %s", s);
        expect_good(edited(L_POS, line));
        /* The limit applies after decoding: 32 escapes are 96 bytes of text but 32 of symbol. */
        s[0] = '\0';
        for (int i = 0; i < 32; i++)
                strcat(s, "%41");
        snprintf(line, sizeof(line), "P 1001 1001 42 %s 0 0.1 1.1 1 -", s);
        expect_bad(edited(L_POS, line), "line 10, P symbol: longer than 31 bytes");
        expect_bad(edited(L_POS, "P 1001 1001 42 EUR%2 0 0.1 1.1 1 -"),
                   "line 10, P symbol: bad escape");
        expect_bad(edited(L_POS, "P 1001 1001 42 EUR% 0 0.1 1.1 1 -"),
                   "line 10, P symbol: bad escape");
        expect_bad(edited(L_POS, "P 1001 1001 42 EUR%G1 0 0.1 1.1 1 -"),
                   "line 10, P symbol: bad escape");
        expect_bad(edited(L_POS, "P 1001 1001 42 EUR%1g 0 0.1 1.1 1 -"),
                   "line 10, P symbol: bad escape");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1.1 1 abc%"),
                   "line 10, P comment: bad escape");
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1.1 1 abc%4"),
                   "line 10, P comment: bad escape");
        expect_bad(edited(L_POS, "P 1001 1001 42 EUR%00 0 0.1 1.1 1 -"),
                   "line 10, P symbol: %00: NUL bytes are not allowed");
        expect_bad(edited(L_POS, "P 1001 1001 42 EUR\x80 0 0.1 1.1 1 -"),
                   "line 10, P symbol: byte 0x80 must be percent-encoded");
        expect_bad(edited(L_POS, "P 1001 1001 42 EUR\x7f 0 0.1 1.1 1 -"),
                   "line 10, P symbol: byte 0x7f");
        expect_bad(edited(11, "O 1003 0 42 - 2 0.2 1 -"), "line 12, O symbol: empty");
        expect_bad(edited(12, "D 1004 0 1001 42 - 0 0 0.1 1 -"), "line 13, D symbol: empty");
        /* Escapes of either case decode; "-" alone is empty but "%2D" and "--" are not. */
        expect_good(edited(L_POS, "P 1001 1001 42 %2D 0 0.1 1.1 1 %2d%2D%7e%7E"));
        expect_good(edited(L_POS, "P 1001 1001 42 -- 0 0.1 1.1 1 -x"));
}

static void test_order_deal_fields(void **state)
{
        (void)state;
        expect_bad(edited(11, "O 0 0 42 EURUSD.r 2 0.2 1 -"), "line 12, O ticket: 0 out of");
        expect_bad(edited(11, "O 1003 0 42 EURUSD.r 9 0.2 1 -"),
                   "line 12, O type: 9 out of range 0..8");
        expect_good(edited(11, "O 1003 1001 0 EURUSD.r 8 0 0 -"));
        expect_bad(edited(11, "O 1003 0 42 EURUSD.r 2 0.2 -5 -"), "line 12, O time_setup_msc:");
        expect_bad(edited(11, "O 1003 0 42 EURUSD.r 2 0.2 1 - 1"), "line 12, O line: extra");
        expect_bad(edited(12, "D 0 0 1001 42 EURUSD.r 0 0 0.1 1 -"), "line 13, D ticket: 0 out");
        expect_bad(edited(12, "D 1004 0 0 42 EURUSD.r 0 0 0.1 1 -"),
                   "line 13, D position_id: 0 out of range");
        expect_bad(edited(12, "D 1004 0 1001 42 EURUSD.r 2 0 0.1 1 -"),
                   "line 13, D type: 2 out of range 0..1");
        expect_bad(edited(12, "D 1004 0 1001 42 EURUSD.r 0 4 0.1 1 -"),
                   "line 13, D entry: 4 out of range 0..3");
        expect_good(edited(12, "D 1004 1003 1001 42 EURUSD.r 1 3 0.1 1 -"));
        expect_bad(edited(12, "D 1004 0 1001 42 EURUSD.r 0 0 0.1 1"), "line 13, D comment: miss");
}

/* The base text without its trailer. */
static struct text body(const char *eol)
{
        struct text t = {0};

        for (size_t i = 0; i < NBASE; i++) {
                append_s(&t, base[i]);
                append_s(&t, eol);
        }
        return t;
}

static void test_trailer(void **state)
{
        struct text t;
        char line[64];
        uint32_t crc;

        (void)state;
        t = body("\n");
        expect_bad_text(t.p, t.len, "line 14, END line: missing: the file ends early");
        crc = hf_crc32(0, t.p, t.len);
        append_trailer(&t, 8, "\n");
        expect_bad(t, "line 14, END seq: 8 differs from the header's 7");

        /* Upper-case hex is refused (a flipped case bit must not pass); this base's CRC has
         * letters in it, which the first assertion keeps true if the base changes. */
        t = body("\n");
        snprintf(line, sizeof(line), "END 7 %08X\n", (unsigned)crc);
        assert_true(strpbrk(line + 6, "ABCDEF") != NULL);
        append_s(&t, line);
        expect_bad(t, "line 14, END crc: not 8 lowercase hex digits");

        t = body("\n");
        snprintf(line, sizeof(line), "END 7 %08x\n", (unsigned)(crc ^ 1));
        append_s(&t, line);
        expect_bad(t, "line 14, END crc: mismatch");

        /* Trailer shapes around the right CRC (written where the template has C). */
        static const char *const shapes[] = {"END 7 C\r\r\n", "END 7 C0\n",  "END 7\n",
                                             "END 7 C \n",    "END 7 C x\n", "END  7 C\n",
                                             "END 07 C\n",    "end 7 C\n",   "END 7 0xC\n",
                                             "END 7  C\n",    "END 7 C\t\n", "END +7 C\n"};
        char hex[16];

        snprintf(hex, sizeof(hex), "%08x", (unsigned)crc);
        for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
                t = body("\n");
                for (const char *c = shapes[i]; *c; c++)
                        append(&t, *c == 'C' ? hex : c, *c == 'C' ? 8 : 1);
                expect_bad(t, "line 14, END");
        }
        t = body("\n");
        append_s(&t, "END 7 ");
        append(&t, hex, 7);
        append_s(&t, "\n");
        expect_bad(t, "line 14, END crc: not 8 lowercase hex digits");

        /* No LF after the trailer: a file cut one byte short. */
        t = body("\n");
        append_trailer(&t, 7, "");
        expect_bad(t, "line 14, END line: no line end");

        /* Anything after the trailer, even an empty line. */
        static const char *const after[] = {"\n", "x", "END 7 00000000\n", "\r\n", " "};
        for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
                t = body("\n");
                append_trailer(&t, 7, "\n");
                append_s(&t, after[i]);
                expect_bad(t, "line 15, after END line: data after the trailer");
        }
}

static void test_line_endings(void **state)
{
        struct text t;

        (void)state;
        /* CR LF throughout (Windows), with the CRC over the CRs too: accepted. */
        t = body("\r\n");
        append_trailer(&t, 7, "\r\n");
        expect_good(t);
        /* Mixed endings: each line is judged alone. */
        t = body("\n");
        append_s(&t, "");
        append_trailer(&t, 7, "\r\n");
        expect_good(t);
        /* A CR elsewhere is a byte the fields refuse. */
        expect_bad(edited(L_POS, "P 1001 1001 42 EURUSD 0 0.1 1.1 1 -\r\r"),
                   "line 10, P comment: byte 0x0d");
        expect_bad(edited(L_POS, "P 1001 1001 42 EUR\rUSD 0 0.1 1.1 1 -"),
                   "line 10, P symbol: byte 0x0d");
        expect_bad(edited(1, "seq 7\r\r"), "line 2, header seq: not an unsigned");
        /* "X\r" + LF is a CR LF line end, so this one is fine. */
        expect_good(edited(1, "seq 7\r"));
        /* A lone CR is not a line end. */
        t = body("\r");
        append_trailer(&t, 7, "\r");
        expect_bad(t, "line 1, magic line: no line end");
        /* The CRC covers CRs: converting endings after writing breaks it. */
        t = body("\n");
        append_trailer(&t, 7, "\n");
        {
                struct text u = {0};

                for (size_t i = 0; i < t.len; i++)
                        append(&u, t.p[i] == '\n' ? "\r\n" : t.p + i, t.p[i] == '\n' ? 2 : 1);
                expect_bad(u, "line 14, END crc: mismatch");
        }
        free(t.p);
}

static void test_nul_bytes(void **state)
{
        struct text t;
        static const char nul_line[] = "P 1001 1001 42 EURUSD 0 0.1 1.1 1 ab\0cd";

        (void)state;
        /* Replace the first P line: built by hand since the line holds a NUL. */
        t = (struct text){0};
        for (size_t i = 0; i < NBASE; i++) {
                if (i == L_POS)
                        append(&t, nul_line, sizeof(nul_line) - 1);
                else
                        append_s(&t, base[i]);
                append_s(&t, "\n");
        }
        append_trailer(&t, 7, "\n");
        expect_bad(t, "line 10, P comment: byte 0x00 must be percent-encoded");

        t = (struct text){0};
        append(&t, "HEDGESNAP\0 1\n", 13);
        expect_bad(t, "line 1, magic line: expected \"HEDGESNAP\"");
        t = (struct text){0};
        append(&t, "\0\0\0\0\0\0\0\0", 8);
        expect_bad(t, "line 1");
}

static void test_empty_and_tiny(void **state)
{
        struct hf_snapshot s;
        char why[64];

        (void)state;
        expect_bad_text("", 0, "line 1, magic line: missing");
        expect_bad_text("\n", 1, "line 1, magic line:");
        expect_bad_text("HEDGESNAP 1\n", 12, "line 2, header line: missing");
        assert_int_equal(hf_parse(NULL, 0, &s, why, sizeof(why)), -EINVAL);
        assert_int_equal(hf_parse(NULL, 5, &s, why, sizeof(why)), -EINVAL);
        /* why may be NULL or tiny. */
        assert_int_equal(hf_parse("x", 1, &s, NULL, 0), -EINVAL);
        assert_int_equal(hf_parse("x", 1, &s, why, 1), -EINVAL);
        assert_string_equal(why, "");
        assert_int_equal(hf_parse("x", 1, &s, why, 8), -EINVAL);
        assert_int_equal(strlen(why), 7);
}

/* A file with no records at all is valid (an empty account). */
static void test_no_records(void **state)
{
        struct text t = {0};

        (void)state;
        append_s(&t, "HEDGESNAP 1\nseq 18446744073709551615\ntime_ms 9223372036854\n"
                     "login 0\nconnected 0\nmargin_mode 0\npositions 0\norders 0\ndeals 0\n");
        append_trailer(&t, UINT64_MAX, "\n");
        expect_good(t);
}

static void test_truncated_everywhere(void **state)
{
        struct text t = valid();

        (void)state;
        for (size_t n = 0; n < t.len; n++) {
                char why[256];

                if (parse_exact(t.p, n, why, sizeof(why)) != -EINVAL)
                        fail_msg("accepted the file cut to %zu of %zu bytes", n, t.len);
                assert_true(strncmp(why, "line ", 5) == 0);
        }
        expect_good(t);
}

static void test_bit_flips(void **state)
{
        struct text t = valid();

        (void)state;
        for (size_t i = 0; i < t.len; i++) {
                for (int b = 0; b < 8; b++) {
                        char why[256];

                        t.p[i] ^= (char)(1 << b);
                        if (parse_exact(t.p, t.len, why, sizeof(why)) != -EINVAL)
                                fail_msg("accepted the file with bit %d of byte %zu flipped", b, i);
                        t.p[i] ^= (char)(1 << b);
                }
        }
        expect_good(t);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/*
 * Random edits (a byte replaced, inserted or deleted, a range duplicated), with and without the
 * CRC fixed up afterwards so the field checks are reached. Whatever the parser accepts must
 * format and parse back to the same snapshot.
 */
static void test_random_mutations(void **state)
{
        static const char alphabet[] = "0123456789 -.%eE\n\rPODEND\x00\xff+xA";
        struct text t0 = body("\n");
        int accepted = 0;

        (void)state;
        for (int iter = 0; iter < 20000; iter++) {
                struct text t = {0};
                struct hf_snapshot s, s2;
                char why[256], *out;
                size_t out_len;
                int edits = 1 + (int)(next_rand() % 3);

                append(&t, t0.p, t0.len);
                for (int e = 0; e < edits; e++) {
                        size_t at = (size_t)(next_rand() % t.len);
                        char c = alphabet[next_rand() % (sizeof(alphabet) - 1)];

                        switch (next_rand() % 4) {
                        case 0:
                                t.p[at] = c;
                                break;
                        case 1:
                                append(&t, " ", 1);
                                memmove(t.p + at + 1, t.p + at, t.len - at - 1);
                                t.p[at] = c;
                                break;
                        case 2:
                                memmove(t.p + at, t.p + at + 1, t.len - at - 1);
                                t.len--;
                                break;
                        default: {
                                size_t n = next_rand() % 40;
                                char *dup;

                                if (at + n > t.len)
                                        n = t.len - at;
                                dup = malloc(n + 1);
                                memcpy(dup, t.p + at, n);
                                append(&t, dup, n);
                                free(dup);
                        }
                        }
                }
                if (next_rand() % 4 != 0)
                        append_trailer(&t, 7, "\n");
                {
                        char *copy = malloc(t.len ? t.len : 1);

                        memcpy(copy, t.p, t.len);
                        if (hf_parse(copy, t.len, &s, why, sizeof(why)) == 0) {
                                accepted++;
                                assert_int_equal(hf_format(&s, &out, &out_len), 0);
                                assert_int_equal(hf_parse(out, out_len, &s2, why, sizeof(why)), 0);
                                assert_int_equal(s2.n_positions, s.n_positions);
                                assert_int_equal(s2.seq, s.seq);
                                hf_free(&s2);
                                hf_free(&s);
                                free(out);
                        } else {
                                assert_true(strncmp(why, "line ", 5) == 0);
                        }
                        free(copy);
                }
                free(t.p);
        }
        free(t0.p);
        print_message("%d of 20000 mutants accepted\n", accepted);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_base_is_valid),   cmocka_unit_test(test_magic),
            cmocka_unit_test(test_header),          cmocka_unit_test(test_counts),
            cmocka_unit_test(test_position_fields), cmocka_unit_test(test_volume),
            cmocka_unit_test(test_strings),         cmocka_unit_test(test_order_deal_fields),
            cmocka_unit_test(test_trailer),         cmocka_unit_test(test_line_endings),
            cmocka_unit_test(test_nul_bytes),       cmocka_unit_test(test_empty_and_tiny),
            cmocka_unit_test(test_no_records),      cmocka_unit_test(test_truncated_everywhere),
            cmocka_unit_test(test_bit_flips),       cmocka_unit_test(test_random_mutations),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
