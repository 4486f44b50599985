/*
 * hf_parse: snapshot text -> struct hf_snapshot (docs/snapshot-format.md is the grammar).
 *
 * The input comes from another program, possibly half-written, possibly hostile, so the parser
 * is strict and pure: one forward pass over buf[0..len) that never looks past len, every number
 * parsed to its last digit and range-checked, every string percent-decoded into its fixed-size
 * field with its length bounded. The header's record counts are trusted for allocation only once
 * the bytes left could hold that many lines. The first defect ends the parse with its line
 * number and field in `why`; the CRC is checked last, so a buggy exporter's bad field is named
 * precisely while a torn file shows up as a missing line or trailer.
 *
 * Speed matters (a million positions in well under a second): lines are found with memchr, each
 * field is scanned once with no copy, numbers are parsed by hand, and decimal fractions take an
 * exact fast path (below) instead of strtod in the common case.
 */
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

/* The shortest possible record line ("O 1 0 0 X 0 0 0 -\n") and trailer ("END 1 00000000\n"). */
#define MIN_RECORD_LINE 18
#define MIN_TRAILER     15
/* A number token longer than this is refused; no exporter writes one (it bounds strtod's copy). */
#define NUMBER_MAX 63

struct reader {
        const char *buf; /* the start of the text, for the CRC */
        const char *p;   /* the first byte of the next line */
        const char *end; /* buf + len */
        const char *ls;  /* the current line: [ls, le), without its LF or CR LF */
        const char *le;
        const char *f;    /* the start of the next field, NULL after the line's last one */
        const char *kind; /* the current line's kind, for messages */
        size_t line;      /* the current line's number, from 1 */
        char *why;
        size_t why_len;
};

__attribute__((format(printf, 3, 4))) static int fail(struct reader *r, const char *field,
                                                      const char *fmt, ...)
{
        va_list ap;
        int n;

        if (r->why == NULL || r->why_len == 0)
                return -EINVAL;
        n = snprintf(r->why, r->why_len, "line %zu, %s %s: ", r->line, r->kind, field);
        if (n >= 0 && (size_t)n < r->why_len) {
                va_start(ap, fmt);
                vsnprintf(r->why + n, r->why_len - (size_t)n, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static int next_line(struct reader *r, const char *kind)
{
        const char *nl;

        r->line++;
        r->kind = kind;
        if (r->p == r->end)
                return fail(r, "line", "missing: the file ends early (torn write?)");
        nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
        if (nl == NULL)
                return fail(r, "line", "no line end: the file ends early (torn write?)");
        r->ls = r->p;
        r->le = nl;
        /* Windows programs end lines with CR LF; a CR anywhere else is refused by the fields. */
        if (r->le > r->ls && r->le[-1] == '\r')
                r->le--;
        r->f = r->ls;
        r->p = nl + 1;
        return 0;
}

/* Ends the field that started at r->f at t: a single space must follow, or the line's end. */
static int end_field(struct reader *r, const char *t, const char *field, const char *what)
{
        if (t == r->le) {
                if (t == r->f)
                        return fail(r, field, "missing (after a trailing space)");
                r->f = NULL;
                return 0;
        }
        if (*t != ' ')
                return fail(r, field, "%s (byte 0x%02x)", what, (unsigned char)*t);
        if (t == r->f)
                return fail(r, field, "empty (two spaces in a row?)");
        r->f = t + 1;
        return 0;
}

static int end_line(struct reader *r)
{
        if (r->f != NULL)
                return fail(r, "line", r->f == r->le ? "trailing space" : "extra fields");
        return 0;
}

/* Compares the next field with a fixed word (the magic, a header key, a record kind). */
static int expect_word(struct reader *r, const char *field, const char *word)
{
        size_t n = strlen(word), i;
        const char *t;
        char found[24];

        if (r->f == NULL)
                return fail(r, field, "missing, expected \"%s\"", word);
        t = r->f;
        while (t < r->le && *t != ' ')
                t++;
        if ((size_t)(t - r->f) == n && memcmp(r->f, word, n) == 0)
                return end_field(r, t, field, "");
        /* What was found goes to logs: show printable ASCII only. */
        for (i = 0; i < sizeof(found) - 1 && r->f + i < t; i++)
                found[i] = r->f[i] >= 0x20 && r->f[i] < 0x7f ? r->f[i] : '?';
        found[i] = '\0';
        return fail(r, field, "expected \"%s\", found \"%s\"", word, found);
}

static int parse_u64(struct reader *r, const char *field, uint64_t *v)
{
        const char *t = r->f;
        uint64_t x = 0;

        if (t == NULL)
                return fail(r, field, "missing");
        for (; t < r->le && (unsigned)(*t - '0') <= 9; t++) {
                unsigned d = (unsigned)(*t - '0');

                if (x > UINT64_MAX / 10 || (x == UINT64_MAX / 10 && d > UINT64_MAX % 10))
                        return fail(r, field, "out of range (more than 2^64-1)");
                x = x * 10 + d;
        }
        if (t - r->f > 1 && r->f[0] == '0')
                return fail(r, field, "leading zero");
        *v = x;
        return end_field(r, t, field, "not an unsigned decimal number");
}

static int parse_range(struct reader *r, const char *field, uint64_t lo, uint64_t hi, uint64_t *v)
{
        int rc = parse_u64(r, field, v);

        if (rc == 0 && (*v < lo || *v > hi))
                return fail(r, field, "%llu out of range %llu..%llu", (unsigned long long)*v,
                            (unsigned long long)lo, (unsigned long long)hi);
        return rc;
}

static int parse_int(struct reader *r, const char *field, int hi, int *v)
{
        uint64_t x;
        int rc = parse_range(r, field, 0, (uint64_t)hi, &x);

        *v = (int)x;
        return rc;
}

static int parse_nonzero(struct reader *r, const char *field, uint64_t *v)
{
        return parse_range(r, field, 1, UINT64_MAX, v);
}

static int parse_time(struct reader *r, const char *field, uint64_t lo, int64_t *v)
{
        uint64_t x;
        int rc = parse_range(r, field, lo, HF_TIME_MS_MAX, &x);

        *v = (int64_t)x;
        return rc;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
        c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* Powers of ten a double holds exactly. */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/*
 * A decimal number: -?DIGITS(.DIGITS)?([eE][+-]?DIGITS)?, with the sign only where signed.
 * Exporters write either fixed decimals (MQL5 DoubleToString: "1.08345000") or the shortest
 * round-trip form (Python repr, "%.17g": "1e-05"). When the significant digits fit 2^53 and
 * the power of ten is at most 22, both are exact doubles and one IEEE multiplication or division
 * rounds correctly (Clinger's fast path); anything else goes to strtod_l in the C locale, so the
 * result never depends on the process's locale.
 */
static int parse_double(struct reader *r, const char *field, int is_signed, double *v)
{
        const char *q = r->f, *t, *e;
        uint64_t m = 0;
        int digits = 0, scale = 0, exp = 0, exp_neg = 0, neg = 0, ok;
        char tmp[NUMBER_MAX + 1];

        if (q == NULL)
                return fail(r, field, "missing");
        /* Bound the token first: the scan below then cannot run long, nor scale overflow. */
        for (e = q; e < r->le && *e != ' '; e++)
                if (e - q == NUMBER_MAX)
                        return fail(r, field, "longer than %d bytes", NUMBER_MAX);
        if (e == q)
                return end_field(r, e, field, ""); /* says empty or missing */
        t = q;
        if (t < e && *t == '-' && is_signed) {
                neg = 1;
                t++;
        }
        ok = t < e && (unsigned)(*t - '0') <= 9;
        for (; t < e && (unsigned)(*t - '0') <= 9; t++) {
                if (m == 0 && *t == '0')
                        continue; /* leading zeros are not significant */
                if (++digits <= 19)
                        m = m * 10 + (unsigned)(*t - '0');
                else
                        scale++;
        }
        if (ok && t < e && *t == '.') {
                t++;
                ok = t < e && (unsigned)(*t - '0') <= 9;
                for (; t < e && (unsigned)(*t - '0') <= 9; t++) {
                        if (m == 0 && *t == '0') {
                                scale--;
                                continue;
                        }
                        if (++digits <= 19) {
                                m = m * 10 + (unsigned)(*t - '0');
                                scale--;
                        }
                }
        }
        if (ok && t < e && (*t == 'e' || *t == 'E')) {
                t++;
                if (t < e && (*t == '+' || *t == '-'))
                        exp_neg = *t++ == '-';
                ok = t < e && (unsigned)(*t - '0') <= 9;
                for (; t < e && (unsigned)(*t - '0') <= 9; t++)
                        if (exp < 100000)
                                exp = exp * 10 + (*t - '0');
        }
        if (!ok || t != e)
                return fail(r, field, "not a decimal number%s", is_signed ? "" : " (or negative)");
        scale += exp_neg ? -exp : exp;
        if (FLT_EVAL_METHOD == 0 && digits <= 19 && m <= (1ull << 53) && scale >= -22 &&
            scale <= 22) {
                *v = scale < 0 ? (double)m / exact_pow10[-scale] : (double)m * exact_pow10[scale];
                if (neg)
                        *v = -*v;
        } else {
                pthread_once(&c_locale_once, make_c_locale);
                if (c_locale == (locale_t)0)
                        return fail(r, field, "no C locale to parse it with");
                memcpy(tmp, q, (size_t)(e - q));
                tmp[e - q] = '\0';
                *v = strtod_l(tmp, NULL, c_locale);
                if (!isfinite(*v))
                        return fail(r, field, "out of range (not finite)");
        }
        return end_field(r, e, field, "");
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/*
 * A percent-encoded string into dst[cap] (NUL-terminated, at most cap - 1 bytes). "-" alone is
 * the empty string; otherwise bytes 0x21..0x7E stand for themselves except '%', which starts
 * %XX. A NUL byte cannot be carried: C strings could not hold it.
 */
static int parse_string(struct reader *r, const char *field, char *dst, size_t cap, size_t min)
{
        const char *t = r->f;
        size_t n = 0;

        if (t == NULL)
                return fail(r, field, "missing");
        if (t < r->le && *t == '-' && (t + 1 == r->le || t[1] == ' ')) {
                t++;
        } else {
                for (; t < r->le && *t != ' '; n++) {
                        int c = (unsigned char)*t;

                        if (c == '%') {
                                int hi, lo;

                                if (r->le - t < 3 || (hi = hexval(t[1])) < 0 ||
                                    (lo = hexval(t[2])) < 0)
                                        return fail(r, field,
                                                    "bad escape: %% must be followed "
                                                    "by two hex digits");
                                c = hi << 4 | lo;
                                if (c == 0)
                                        return fail(r, field, "%%00: NUL bytes are not allowed");
                                t += 3;
                        } else if (c < 0x21 || c > 0x7e) {
                                return fail(r, field,
                                            "byte 0x%02x must be percent-encoded (byte %zu)", c, n);
                        } else {
                                t++;
                        }
                        if (n + 1 >= cap)
                                return fail(r, field, "longer than %zu bytes", cap - 1);
                        dst[n] = (char)c;
                }
        }
        if (n < min)
                return fail(r, field, "empty");
        dst[n] = '\0';
        return end_field(r, t, field, "");
}

/* Starts record i of n: a line whose first field is the kind, or the counts were wrong. */
static int record(struct reader *r, const char *kind, size_t i, size_t n)
{
        int rc = next_line(r, kind);

        if (rc == 0 &&
            (r->le == r->ls || r->ls[0] != kind[0] || (r->le - r->ls > 1 && r->ls[1] != ' ')))
                return fail(r, "record", "expected %s record %zu of %zu the header counts", kind,
                            i + 1, n);
        return rc != 0 ? rc : expect_word(r, "record", kind);
}

static int parse_position(struct reader *r, struct hf_position *p, size_t i, size_t n)
{
        int rc;

        if ((rc = record(r, "P", i, n)) || (rc = parse_nonzero(r, "ticket", &p->ticket)) ||
            (rc = parse_nonzero(r, "identifier", &p->identifier)) ||
            (rc = parse_u64(r, "magic", &p->magic)) ||
            (rc = parse_string(r, "symbol", p->symbol, sizeof(p->symbol), 1)) ||
            (rc = parse_int(r, "type", 1, &p->type)) ||
            (rc = parse_double(r, "volume", 0, &p->volume)) ||
            (rc = parse_double(r, "price_open", 1, &p->price_open)) ||
            (rc = parse_time(r, "time_msc", 0, &p->time_msc)) ||
            (rc = parse_string(r, "comment", p->comment, sizeof(p->comment), 0)))
                return rc;
        return end_line(r);
}

static int parse_order(struct reader *r, struct hf_order *o, size_t i, size_t n)
{
        int rc;

        if ((rc = record(r, "O", i, n)) || (rc = parse_nonzero(r, "ticket", &o->ticket)) ||
            (rc = parse_u64(r, "position_id", &o->position_id)) ||
            (rc = parse_u64(r, "magic", &o->magic)) ||
            (rc = parse_string(r, "symbol", o->symbol, sizeof(o->symbol), 1)) ||
            (rc = parse_int(r, "type", HF_ORDER_TYPE_MAX, &o->type)) ||
            (rc = parse_double(r, "volume", 0, &o->volume)) ||
            (rc = parse_time(r, "time_setup_msc", 0, &o->time_setup_msc)) ||
            (rc = parse_string(r, "comment", o->comment, sizeof(o->comment), 0)))
                return rc;
        return end_line(r);
}

static int parse_deal(struct reader *r, struct hf_deal *d, size_t i, size_t n)
{
        int rc;

        if ((rc = record(r, "D", i, n)) || (rc = parse_nonzero(r, "ticket", &d->ticket)) ||
            (rc = parse_u64(r, "order", &d->order)) ||
            (rc = parse_nonzero(r, "position_id", &d->position_id)) ||
            (rc = parse_u64(r, "magic", &d->magic)) ||
            (rc = parse_string(r, "symbol", d->symbol, sizeof(d->symbol), 1)) ||
            (rc = parse_int(r, "type", 1, &d->type)) ||
            (rc = parse_int(r, "entry", HF_DEAL_ENTRY_MAX, &d->entry)) ||
            (rc = parse_double(r, "volume", 0, &d->volume)) ||
            (rc = parse_time(r, "time_msc", 0, &d->time_msc)) ||
            (rc = parse_string(r, "comment", d->comment, sizeof(d->comment), 0)))
                return rc;
        return end_line(r);
}

/* A header line: "<key> <value>". */
static int header(struct reader *r, const char *key, uint64_t lo, uint64_t hi, uint64_t *v)
{
        int rc;

        if ((rc = next_line(r, "header")) || (rc = expect_word(r, "key", key)) ||
            (rc = parse_range(r, key, lo, hi, v)))
                return rc;
        return end_line(r);
}

static int parse_header(struct reader *r, struct hf_snapshot *s)
{
        uint64_t format, time_ms, connected, margin_mode, np, no, nd;
        size_t left;
        int rc;

        if ((rc = next_line(r, "magic")) || (rc = expect_word(r, "line", "HEDGESNAP")) ||
            (rc = parse_u64(r, "format", &format)) || (rc = end_line(r)))
                return rc;
        if (format != HF_FORMAT)
                return fail(r, "format", "%llu is not supported (this reader knows %d)",
                            (unsigned long long)format, HF_FORMAT);
        if ((rc = header(r, "seq", 1, UINT64_MAX, &s->seq)) ||
            (rc = header(r, "time_ms", 1, HF_TIME_MS_MAX, &time_ms)) ||
            (rc = header(r, "login", 0, UINT64_MAX, &s->login)) ||
            (rc = header(r, "connected", 0, 1, &connected)) ||
            (rc = header(r, "margin_mode", 0, HF_MARGIN_MODE_MAX, &margin_mode)) ||
            (rc = header(r, "positions", 0, HF_RECORDS_MAX, &np)) ||
            (rc = header(r, "orders", 0, HF_RECORDS_MAX, &no)) ||
            (rc = header(r, "deals", 0, HF_RECORDS_MAX, &nd)))
                return rc;
        if (np + no + nd > HF_RECORDS_MAX)
                return fail(r, "deals", "%llu records in all, more than %d",
                            (unsigned long long)(np + no + nd), HF_RECORDS_MAX);
        /* Counts are claims until the records are read: allocate only what the bytes could hold. */
        left = (size_t)(r->end - r->p);
        if (left < MIN_TRAILER || (np + no + nd) > (left - MIN_TRAILER) / MIN_RECORD_LINE)
                return fail(r, "deals", "%llu records cannot fit in the %zu bytes left",
                            (unsigned long long)(np + no + nd), left);
        s->format = HF_FORMAT;
        s->time_ms = (int64_t)time_ms;
        s->connected = (int)connected;
        s->margin_mode = (int)margin_mode;
        s->n_positions = (size_t)np;
        s->n_orders = (size_t)no;
        s->n_deals = (size_t)nd;
        return 0;
}

static int parse_trailer(struct reader *r, uint64_t seq)
{
        uint64_t tseq;
        uint32_t want = 0, got;
        const char *t;
        int rc;

        if ((rc = next_line(r, "END")) != 0)
                return rc;
        if (r->le - r->ls >= 2 && (r->ls[0] == 'P' || r->ls[0] == 'O' || r->ls[0] == 'D') &&
            r->ls[1] == ' ')
                return fail(r, "record", "more records than the header counts");
        if ((rc = expect_word(r, "line", "END")) || (rc = parse_u64(r, "seq", &tseq)))
                return rc;
        if (tseq != seq)
                return fail(r, "seq", "%llu differs from the header's %llu (torn write?)",
                            (unsigned long long)tseq, (unsigned long long)seq);
        if (r->f == NULL)
                return fail(r, "crc", "missing");
        for (t = r->f; t < r->le && t - r->f < 8; t++) {
                int d = hexval(*t);

                if (d < 0 || (*t >= 'A' && *t <= 'F'))
                        break;
                want = want << 4 | (uint32_t)d;
        }
        if (t - r->f != 8 || (t < r->le && *t != ' '))
                return fail(r, "crc", "not 8 lowercase hex digits");
        if ((rc = end_field(r, t, "crc", "")) || (rc = end_line(r)))
                return rc;
        if (r->p != r->end) {
                r->line++;
                r->kind = "after END";
                return fail(r, "line", "data after the trailer");
        }
        got = hf_crc32(0, r->buf, (size_t)(r->ls - r->buf));
        if (got != want)
                return fail(r, "crc", "mismatch: trailer says %08x, the content gives %08x", want,
                            got);
        return 0;
}

static int parse_all(struct reader *r, struct hf_snapshot *s)
{
        int rc;

        if ((rc = parse_header(r, s)) != 0)
                return rc;
        if ((s->n_positions && !(s->positions = calloc(s->n_positions, sizeof(*s->positions)))) ||
            (s->n_orders && !(s->orders = calloc(s->n_orders, sizeof(*s->orders)))) ||
            (s->n_deals && !(s->deals = calloc(s->n_deals, sizeof(*s->deals))))) {
                snprintf(r->why, r->why_len, "no memory for %zu records",
                         s->n_positions + s->n_orders + s->n_deals);
                return -ENOMEM;
        }
        for (size_t i = 0; i < s->n_positions; i++)
                if ((rc = parse_position(r, &s->positions[i], i, s->n_positions)) != 0)
                        return rc;
        for (size_t i = 0; i < s->n_orders; i++)
                if ((rc = parse_order(r, &s->orders[i], i, s->n_orders)) != 0)
                        return rc;
        for (size_t i = 0; i < s->n_deals; i++)
                if ((rc = parse_deal(r, &s->deals[i], i, s->n_deals)) != 0)
                        return rc;
        return parse_trailer(r, s->seq);
}

int hf_parse(const char *buf, size_t len, struct hf_snapshot *out, char *why, size_t why_len)
{
        struct reader r = {.why = why, .why_len = why_len};
        char none[1];
        int rc;

        if (why == NULL || why_len == 0) {
                r.why = none;
                r.why_len = sizeof(none);
        }
        r.why[0] = '\0';
        memset(out, 0, sizeof(*out));
        if (buf == NULL) {
                if (len > 0) {
                        r.line = 1;
                        r.kind = "magic";
                        return fail(&r, "line", "no buffer");
                }
                buf = ""; /* NULL + 0 is undefined; an empty text is just refused below */
        }
        r.buf = r.p = buf;
        r.end = buf + len;
        rc = parse_all(&r, out);
        if (rc != 0)
                hf_free(out);
        return rc;
}

void hf_free(struct hf_snapshot *snap)
{
        if (snap == NULL)
                return;
        free(snap->positions);
        free(snap->orders);
        free(snap->deals);
        memset(snap, 0, sizeof(*snap));
}
