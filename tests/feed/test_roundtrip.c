/*
 * hf_format -> hf_parse gives back every field bit for bit (random snapshots whose strings use
 * every byte but NUL and whose doubles range over all finite values), hf_format refuses what
 * hf_parse would, hf_write_atomic replaces a file and leaves no temporary behind, and hf_crc32
 * is zlib's CRC-32.
 */
#undef NDEBUG
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "snapshot.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next_rand(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

/* Edge values first, then anything. */
static uint64_t rand_u64(int nonzero)
{
        static const uint64_t edges[] = {
            1, 9, 10, 4294967295u, 4294967296u, UINT64_MAX, UINT64_MAX - 1, 9223372036854775807u};

        switch (next_rand() % 4) {
        case 0:
                return edges[next_rand() % (sizeof(edges) / sizeof(edges[0]))];
        case 1:
                return nonzero ? 1 + next_rand() % 1000000 : next_rand() % 1000000;
        default: {
                uint64_t v = next_rand() >> (next_rand() % 64);

                return v == 0 && nonzero ? 1 : v;
        }
        }
}

static int64_t rand_time(void)
{
        switch (next_rand() % 4) {
        case 0:
                return (int64_t)(next_rand() % 3 == 0 ? 0 : HF_TIME_MS_MAX);
        case 1:
                return 1718000000000 + (int64_t)(next_rand() % 100000000);
        default:
                return (int64_t)(next_rand() % ((uint64_t)HF_TIME_MS_MAX + 1));
        }
}

/* Any bytes but NUL, of any length up to max (and often exactly max, 0 or "-"). */
static void rand_string(char *dst, size_t max, size_t min)
{
        size_t n;

        switch (next_rand() % 6) {
        case 0:
                n = max;
                break;
        case 1:
                n = min;
                break;
        case 2:
                strcpy(dst, "-");
                return;
        default:
                n = min + next_rand() % (max - min + 1);
        }
        for (size_t i = 0; i < n; i++) {
                int c =
                    (int)(next_rand() % 4 == 0 ? 1 + next_rand() % 255 : 0x20 + next_rand() % 0x60);

                dst[i] = (char)c;
        }
        dst[n] = '\0';
}

static double rand_double(int non_negative)
{
        static const double scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
        double v;
        uint64_t bits;

        switch (next_rand() % 5) {
        case 0:
                /* A quoted price: 0..6 decimals. */
                v = (double)(next_rand() % 100000000) / scale[next_rand() % 7];
                break;
        case 1:
                v = (double)(next_rand() % 10000) * 0.01; /* a volume in lots */
                break;
        case 2: {
                static const double edges[] = {
                    0.0,  5e-324, 2.2250738585072014e-308, 1e-5,    0.1,
                    1e22, 1e23,   9007199254740993.0,      DBL_MAX, 123456789012345678.0};

                v = edges[next_rand() % (sizeof(edges) / sizeof(edges[0]))];
                break;
        }
        default:
                do {
                        bits = next_rand();
                        memcpy(&v, &bits, sizeof(v));
                } while (!isfinite(v));
        }
        if (non_negative)
                v = v < 0 ? -v : v;
        else if (next_rand() % 2)
                v = -v;
        return v;
}

static void rand_snapshot(struct hf_snapshot *s, size_t max_records)
{
        memset(s, 0, sizeof(*s));
        s->format = HF_FORMAT;
        s->seq = rand_u64(1);
        s->time_ms = rand_time();
        if (s->time_ms == 0)
                s->time_ms = 1;
        s->login = rand_u64(0);
        s->connected = (int)(next_rand() % 2);
        s->margin_mode = (int)(next_rand() % 3);
        s->n_positions = next_rand() % (max_records + 1);
        s->n_orders = next_rand() % (max_records / 4 + 1);
        s->n_deals = next_rand() % (max_records / 4 + 1);
        s->positions = calloc(s->n_positions + 1, sizeof(*s->positions));
        s->orders = calloc(s->n_orders + 1, sizeof(*s->orders));
        s->deals = calloc(s->n_deals + 1, sizeof(*s->deals));
        assert_true(s->positions && s->orders && s->deals);
        for (size_t i = 0; i < s->n_positions; i++) {
                struct hf_position *p = &s->positions[i];

                p->ticket = rand_u64(1);
                p->identifier = rand_u64(1);
                p->magic = rand_u64(0);
                rand_string(p->symbol, HF_SYMBOL_MAX, 1);
                p->type = (int)(next_rand() % 2);
                p->volume = rand_double(1);
                p->price_open = rand_double(0);
                p->time_msc = rand_time();
                rand_string(p->comment, HF_COMMENT_MAX, 0);
        }
        for (size_t i = 0; i < s->n_orders; i++) {
                struct hf_order *o = &s->orders[i];

                o->ticket = rand_u64(1);
                o->position_id = rand_u64(0);
                o->magic = rand_u64(0);
                rand_string(o->symbol, HF_SYMBOL_MAX, 1);
                o->type = (int)(next_rand() % (HF_ORDER_TYPE_MAX + 1));
                o->volume = rand_double(1);
                o->time_setup_msc = rand_time();
                rand_string(o->comment, HF_COMMENT_MAX, 0);
        }
        for (size_t i = 0; i < s->n_deals; i++) {
                struct hf_deal *d = &s->deals[i];

                d->ticket = rand_u64(1);
                d->order = rand_u64(0);
                d->position_id = rand_u64(1);
                d->magic = rand_u64(0);
                rand_string(d->symbol, HF_SYMBOL_MAX, 1);
                d->type = (int)(next_rand() % 2);
                d->entry = (int)(next_rand() % (HF_DEAL_ENTRY_MAX + 1));
                d->volume = rand_double(1);
                d->time_msc = rand_time();
                rand_string(d->comment, HF_COMMENT_MAX, 0);
        }
}

static void assert_same_double(double a, double b)
{
        if (memcmp(&a, &b, sizeof(a)) != 0)
                fail_msg("%.17g (%a) came back as %.17g (%a)", a, a, b, b);
}

/* Field by field: padding after the strings' NULs is not part of the snapshot. */
static void assert_same(const struct hf_snapshot *a, const struct hf_snapshot *b)
{
        assert_int_equal(a->format, b->format);
        assert_int_equal(a->seq, b->seq);
        assert_int_equal(a->time_ms, b->time_ms);
        assert_int_equal(a->login, b->login);
        assert_int_equal(a->connected, b->connected);
        assert_int_equal(a->margin_mode, b->margin_mode);
        assert_int_equal(a->n_positions, b->n_positions);
        assert_int_equal(a->n_orders, b->n_orders);
        assert_int_equal(a->n_deals, b->n_deals);
        for (size_t i = 0; i < a->n_positions; i++) {
                const struct hf_position *p = &a->positions[i], *q = &b->positions[i];

                assert_int_equal(p->ticket, q->ticket);
                assert_int_equal(p->identifier, q->identifier);
                assert_int_equal(p->magic, q->magic);
                assert_string_equal(p->symbol, q->symbol);
                assert_int_equal(p->type, q->type);
                assert_same_double(p->volume, q->volume);
                assert_same_double(p->price_open, q->price_open);
                assert_int_equal(p->time_msc, q->time_msc);
                assert_string_equal(p->comment, q->comment);
        }
        for (size_t i = 0; i < a->n_orders; i++) {
                const struct hf_order *o = &a->orders[i], *q = &b->orders[i];

                assert_int_equal(o->ticket, q->ticket);
                assert_int_equal(o->position_id, q->position_id);
                assert_int_equal(o->magic, q->magic);
                assert_string_equal(o->symbol, q->symbol);
                assert_int_equal(o->type, q->type);
                assert_same_double(o->volume, q->volume);
                assert_int_equal(o->time_setup_msc, q->time_setup_msc);
                assert_string_equal(o->comment, q->comment);
        }
        for (size_t i = 0; i < a->n_deals; i++) {
                const struct hf_deal *d = &a->deals[i], *q = &b->deals[i];

                assert_int_equal(d->ticket, q->ticket);
                assert_int_equal(d->order, q->order);
                assert_int_equal(d->position_id, q->position_id);
                assert_int_equal(d->magic, q->magic);
                assert_string_equal(d->symbol, q->symbol);
                assert_int_equal(d->type, q->type);
                assert_int_equal(d->entry, q->entry);
                assert_same_double(d->volume, q->volume);
                assert_int_equal(d->time_msc, q->time_msc);
                assert_string_equal(d->comment, q->comment);
        }
}

static void free_rand(struct hf_snapshot *s)
{
        free(s->positions);
        free(s->orders);
        free(s->deals);
}

static void test_random_round_trip(void **state)
{
        (void)state;
        for (int iter = 0; iter < 2000; iter++) {
                struct hf_snapshot s, back;
                char *text, *text2, *exact, why[256];
                size_t len, len2;

                rand_snapshot(&s, iter < 1900 ? 8 : 300);
                assert_int_equal(hf_format(&s, &text, &len), 0);
                assert_int_equal(strlen(text), len);
                /* Only ASCII 0x20..0x7E and LF: the text survives any code page. */
                for (size_t i = 0; i < len; i++)
                        assert_true(text[i] == '\n' || (text[i] >= 0x20 && text[i] < 0x7f));
                exact = malloc(len);
                memcpy(exact, text, len);
                if (hf_parse(exact, len, &back, why, sizeof(why)) != 0)
                        fail_msg("iteration %d: %s", iter, why);
                assert_same(&s, &back);
                /* Formatting what was parsed gives the same bytes. */
                assert_int_equal(hf_format(&back, &text2, &len2), 0);
                assert_int_equal(len, len2);
                assert_memory_equal(text, text2, len);
                hf_free(&back);
                free(exact);
                free(text);
                free(text2);
                free_rand(&s);
        }
}

/* Strings that need every kind of escape. */
static void test_string_encoding(void **state)
{
        static const char *const strings[] = {
            "-",        "--", "%", "%%", "a b", " ", "%2D", "\x01", "\x7f\xff", "END 1 00000000",
            "x\ny\r\n", "P"};
        struct hf_position p = {.ticket = 1, .identifier = 2, .volume = 1};
        struct hf_snapshot s = {
            .format = HF_FORMAT, .seq = 1, .time_ms = 1, .n_positions = 1, .positions = &p};

        (void)state;
        for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
                struct hf_snapshot back;
                char *text, why[256];
                size_t len;

                strcpy(p.symbol, strings[i]);
                strcpy(p.comment, strings[i]);
                assert_int_equal(hf_format(&s, &text, &len), 0);
                if (hf_parse(text, len, &back, why, sizeof(why)) != 0)
                        fail_msg("\"%s\": %s", strings[i], why);
                assert_string_equal(back.positions[0].symbol, strings[i]);
                assert_string_equal(back.positions[0].comment, strings[i]);
                hf_free(&back);
                free(text);
        }
        /* The empty comment is "-", and the string "-" is escaped. */
        {
                char *text;
                size_t len;

                strcpy(p.symbol, "-");
                p.comment[0] = '\0';
                assert_int_equal(hf_format(&s, &text, &len), 0);
                assert_non_null(strstr(text, "\nP 1 2 0 %2D 0 1 0 0 -\n"));
                free(text);
        }
}

/* The exact text of a small snapshot, as docs/snapshot-format.md shows it. */
static void test_exact_text(void **state)
{
        struct hf_position p = {.ticket = 5001,
                                .identifier = 5001,
                                .magic = 77,
                                .symbol = "EURUSD.r",
                                .type = 1,
                                .volume = 0.1,
                                .price_open = 1.08345,
                                .time_msc = 1718000000123,
                                .comment = "HS 50%"};
        struct hf_snapshot s = {.format = HF_FORMAT,
                                .seq = 3,
                                .time_ms = 1718000000500,
                                .login = 42,
                                .connected = 1,
                                .margin_mode = 2,
                                .n_positions = 1,
                                .positions = &p};
        const char *want = "HEDGESNAP 1\nseq 3\ntime_ms 1718000000500\nlogin 42\nconnected 1\n"
                           "margin_mode 2\npositions 1\norders 0\ndeals 0\n"
                           "P 5001 5001 77 EURUSD.r 1 0.1 1.08345 1718000000123 HS%2050%25\n";
        char *text, trailer[64];
        size_t len;

        (void)state;
        assert_int_equal(hf_format(&s, &text, &len), 0);
        snprintf(trailer, sizeof(trailer), "END 3 %08x\n",
                 (unsigned)hf_crc32(0, want, strlen(want)));
        assert_int_equal(len, strlen(want) + strlen(trailer));
        assert_memory_equal(text, want, strlen(want));
        assert_string_equal(text + strlen(want), trailer);
        free(text);
}

static void test_format_refusals(void **state)
{
        struct hf_position p0 = {.ticket = 1, .identifier = 1, .symbol = "X", .volume = 1};
        struct hf_order o0 = {.ticket = 1, .symbol = "X"};
        struct hf_deal d0 = {.ticket = 1, .position_id = 1, .symbol = "X"};
        struct hf_snapshot s0 = {.format = HF_FORMAT,
                                 .seq = 1,
                                 .time_ms = 1,
                                 .n_positions = 1,
                                 .n_orders = 1,
                                 .n_deals = 1};
        char *text = (char *)1;
        size_t len = 1;
        int cases = 0;

        (void)state;
        for (int c = 0;; c++) {
                struct hf_position p = p0;
                struct hf_order o = o0;
                struct hf_deal d = d0;
                struct hf_snapshot s = s0;

                s.positions = &p;
                s.orders = &o;
                s.deals = &d;
                switch (c) {
                case 0:
                        s.format = 2;
                        break;
                case 1:
                        s.seq = 0;
                        break;
                case 2:
                        s.time_ms = 0;
                        break;
                case 3:
                        s.time_ms = -5;
                        break;
                case 4:
                        s.connected = 2;
                        break;
                case 5:
                        s.margin_mode = 3;
                        break;
                case 6:
                        s.margin_mode = -1;
                        break;
                case 7:
                        s.n_positions = HF_RECORDS_MAX;
                        break;
                case 8:
                        s.positions = NULL;
                        break;
                case 9:
                        p.ticket = 0;
                        break;
                case 10:
                        p.identifier = 0;
                        break;
                case 11:
                        p.symbol[0] = '\0';
                        break;
                case 12:
                        memset(p.symbol, 'A', sizeof(p.symbol));
                        break;
                case 13:
                        memset(p.comment, 'A', sizeof(p.comment));
                        break;
                case 14:
                        p.type = 2;
                        break;
                case 15:
                        p.volume = -1;
                        break;
                case 16:
                        p.volume = NAN;
                        break;
                case 17:
                        p.volume = INFINITY;
                        break;
                case 18:
                        p.price_open = -INFINITY;
                        break;
                case 19:
                        p.time_msc = -1;
                        break;
                case 20:
                        o.ticket = 0;
                        break;
                case 21:
                        o.type = 9;
                        break;
                case 22:
                        o.type = -1;
                        break;
                case 23:
                        o.volume = -0.5;
                        break;
                case 24:
                        o.time_setup_msc = -1;
                        break;
                case 25:
                        d.ticket = 0;
                        break;
                case 26:
                        d.position_id = 0;
                        break;
                case 27:
                        d.type = 2;
                        break;
                case 28:
                        d.entry = 4;
                        break;
                case 29:
                        d.entry = -1;
                        break;
                case 30:
                        d.volume = NAN;
                        break;
                case 31:
                        d.time_msc = INT64_MIN;
                        break;
                case 32:
                        o.symbol[0] = '\0';
                        break;
                case 33:
                        memset(d.comment, 'A', sizeof(d.comment));
                        break;
                default:
                        goto done;
                }
                if (hf_format(&s, &text, &len) != -EINVAL)
                        fail_msg("case %d formatted", c);
                assert_null(text);
                assert_int_equal(len, 0);
                cases++;
        }
done:
        /* The base itself is fine, and a -0 volume is written as 0. */
        {
                struct hf_position p = p0;
                struct hf_snapshot s = s0;
                struct hf_order o = o0;
                struct hf_deal d = d0;
                struct hf_snapshot back;

                p.volume = -0.0;
                s.positions = &p;
                s.orders = &o;
                s.deals = &d;
                assert_int_equal(hf_format(&s, &text, &len), 0);
                assert_int_equal(hf_parse(text, len, &back, NULL, 0), 0);
                assert_false(signbit(back.positions[0].volume));
                hf_free(&back);
                free(text);
        }
        assert_int_equal(cases, 34);
}

static void test_crc32(void **state)
{
        unsigned char buf[300];

        (void)state;
        assert_int_equal(hf_crc32(0, "", 0), 0);
        assert_int_equal(hf_crc32(0, "123456789", 9), 0xcbf43926u);
        assert_int_equal(hf_crc32(0, "The quick brown fox jumps over the lazy dog", 43),
                         0x414fa339u);
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (unsigned char)next_rand();
        /* Against the bit-at-a-time definition, every length and alignment, and in pieces. */
        for (size_t off = 0; off < 9; off++) {
                for (size_t n = 0; off + n <= sizeof(buf); n += 1 + n / 16) {
                        uint32_t want = 0xffffffffu;

                        for (size_t i = 0; i < n; i++) {
                                want ^= buf[off + i];
                                for (int k = 0; k < 8; k++)
                                        want = (want >> 1) ^ (0xedb88320u & -(want & 1));
                        }
                        want = ~want;
                        assert_int_equal(hf_crc32(0, buf + off, n), want);
                        assert_int_equal(
                            hf_crc32(hf_crc32(0, buf + off, n / 3), buf + off + n / 3, n - n / 3),
                            want);
                }
        }
}

static char *read_file(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf;
        long n;

        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        rewind(f);
        buf = malloc((size_t)n + 1);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        *len = (size_t)n;
        return buf;
}

static int count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        assert_non_null(d);
        while ((e = readdir(d)) != NULL)
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void test_write_atomic(void **state)
{
        char dir[] = "/tmp/hedgefeed-test-XXXXXX", path[256], bad[300];
        struct hf_snapshot s, back;
        struct stat st;

        (void)state;
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/positions.snap", dir);
        for (int i = 0; i < 3; i++) {
                char *text, *file;
                size_t len, file_len;

                rand_snapshot(&s, 50);
                assert_int_equal(hf_write_atomic(path, &s), 0);
                file = read_file(path, &file_len);
                assert_int_equal(hf_format(&s, &text, &len), 0);
                assert_int_equal(file_len, len);
                assert_memory_equal(file, text, len);
                assert_int_equal(hf_parse(file, file_len, &back, NULL, 0), 0);
                assert_same(&s, &back);
                hf_free(&back);
                free(file);
                free(text);
                free_rand(&s);
                /* Only the snapshot itself: no temporary left behind. */
                assert_int_equal(count_entries(dir), 1);
        }
        /* A snapshot hf_parse would refuse is not written, and the old file stays. */
        assert_int_equal(stat(path, &st), 0);
        rand_snapshot(&s, 5);
        s.seq = 0;
        assert_int_equal(hf_write_atomic(path, &s), -EINVAL);
        s.seq = 1;
        /* A missing directory: -ENOENT and nothing left anywhere. */
        snprintf(bad, sizeof(bad), "%s/missing/positions.snap", dir);
        assert_int_equal(hf_write_atomic(bad, &s), -ENOENT);
        /* The target is a directory: rename fails, and the temporary is removed. */
        snprintf(bad, sizeof(bad), "%s/adir", dir);
        assert_int_equal(mkdir(bad, 0700), 0);
        assert_int_equal(hf_write_atomic(bad, &s), -EISDIR);
        assert_int_equal(count_entries(dir), 2);
        assert_int_equal(rmdir(bad), 0);
        free_rand(&s);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_random_round_trip),
            cmocka_unit_test(test_string_encoding),
            cmocka_unit_test(test_exact_text),
            cmocka_unit_test(test_format_refusals),
            cmocka_unit_test(test_crc32),
            cmocka_unit_test(test_write_atomic),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
