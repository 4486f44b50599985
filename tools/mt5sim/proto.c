/*
 * The mt5sim line protocol: percent-encoding and request parsing (see proto.h).
 *
 * The wire is ASCII words separated by spaces. Text fields (symbol, comment) are
 * percent-encoded so a comment may hold spaces or any byte a broker keeps, yet a line stays one
 * line; the decoder refuses control bytes because neither MT5 comments nor the snapshot feed
 * carry them. Numbers are strict: no sign, no spaces, no hex, no exponent, so two spellings of
 * one value never mean different things on the two sides.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto.h"

#define WORDS_MAX 8

static const char hex_digits[] = "0123456789ABCDEF";

static const char *const fault_names[] = {
    [MP_FAULT_STALL] = "stall",
    [MP_FAULT_DISCONNECT] = "disconnect",
    [MP_FAULT_SEQ_BACK] = "seq_back",
    [MP_FAULT_MALFORMED] = "malformed",
    [MP_FAULT_LOSE_REPLY] = "lose_reply",
    [MP_FAULT_HANGUP] = "hangup",
    [MP_FAULT_REJECT_RATE] = "reject_rate",
    [MP_FAULT_CLEAR] = "clear",
};

static const struct {
        const char *word;
        enum mp_command cmd;
} commands[] = {
    {"ORDER", MP_ORDER}, {"CLOSE", MP_CLOSE}, {"POSITIONS", MP_POSITIONS}, {"LEDGER", MP_LEDGER},
    {"FAULT", MP_FAULT}, {"STATS", MP_STATS}, {"PING", MP_PING},           {"QUIT", MP_QUIT},
};

int mp_pct_encode(const char *in, char *out, size_t size)
{
        size_t o = 0;

        for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
                int plain = *p > 0x20 && *p < 0x7f && *p != '%';
                size_t need = plain ? 1 : 3;

                if (o + need >= size)
                        return -ENOSPC;
                if (plain) {
                        out[o++] = (char)*p;
                } else {
                        out[o++] = '%';
                        out[o++] = hex_digits[*p >> 4];
                        out[o++] = hex_digits[*p & 15];
                }
        }
        if (size == 0)
                return -ENOSPC;
        out[o] = '\0';
        return 0;
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int mp_pct_decode(const char *in, size_t len, char *out, size_t size)
{
        size_t o = 0;

        for (size_t i = 0; i < len; i++) {
                int c = (unsigned char)in[i];

                if (c == '%') {
                        int hi = i + 2 < len ? hex_value(in[i + 1]) : -1;
                        int lo = i + 2 < len ? hex_value(in[i + 2]) : -1;

                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        c = hi << 4 | lo;
                        i += 2;
                } else if (c == ' ') {
                        return -EINVAL;
                }
                if (c < 0x20 || c == 0x7f)
                        return -EINVAL;
                if (o + 1 >= size)
                        return -ENOSPC;
                out[o++] = (char)c;
        }
        if (size == 0)
                return -ENOSPC;
        out[o] = '\0';
        return (int)o;
}

int mp_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
        uint64_t v = 0;

        if (len == 0)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                unsigned d = (unsigned)(s[i] - '0');

                if (d > 9 || v > (max - d) / 10)
                        return -EINVAL;
                v = v * 10 + d;
        }
        *out = v;
        return 0;
}

/* Lots as digits with at most 8 decimals: "0.01", "1", "2.5". */
static int parse_volume(const char *s, double *out)
{
        size_t int_digits = strspn(s, "0123456789"), frac_digits = 0;
        const char *p = s + int_digits;
        double v;

        if (*p == '.') {
                frac_digits = strspn(p + 1, "0123456789");
                p += 1 + frac_digits;
        }
        if (*p != '\0' || int_digits == 0 || int_digits > 6 || frac_digits > 8 ||
            (s[int_digits] == '.' && frac_digits == 0))
                return -EINVAL;
        v = strtod(s, NULL);
        if (!(v > 0.0) || v > MP_VOLUME_MAX)
                return -EINVAL;
        *out = v;
        return 0;
}

int mp_split(char *line, char **words, int max)
{
        int n = 0;
        char *p = line;

        for (;;) {
                p += strspn(p, " \t");
                if (*p == '\0')
                        return n;
                if (n == max)
                        return -E2BIG;
                words[n++] = p;
                p += strcspn(p, " \t");
                if (*p != '\0')
                        *p++ = '\0';
        }
}

static int fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
        va_list ap;

        if (why != NULL && why_len > 0) {
                va_start(ap, fmt);
                vsnprintf(why, why_len, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static int parse_text(const char *word, char *out, size_t size, size_t min, const char *what,
                      char *why, size_t why_len)
{
        int n = mp_pct_decode(word, strlen(word), out, size);

        if (n == -ENOSPC)
                return fail(why, why_len, "%s longer than %zu bytes", what, size - 1);
        if (n < 0)
                return fail(why, why_len, "%s: bad percent-encoding or control byte", what);
        if ((size_t)n < min)
                return fail(why, why_len, "%s is empty", what);
        return 0;
}

static int parse_order(char **w, int n, struct mp_request *req, char *why, size_t why_len)
{
        int err;

        if (n < 5 || n > 6)
                return fail(why, why_len, "usage: ORDER symbol buy|sell volume magic [comment]");
        err = parse_text(w[1], req->symbol, sizeof(req->symbol), 1, "symbol", why, why_len);
        if (err != 0)
                return err;
        if (strcasecmp(w[2], "buy") == 0)
                req->type = 0;
        else if (strcasecmp(w[2], "sell") == 0)
                req->type = 1;
        else
                return fail(why, why_len, "side must be buy or sell");
        if (parse_volume(w[3], &req->volume) != 0)
                return fail(why, why_len, "volume must be lots in (0, %.0f], at most 8 decimals",
                            MP_VOLUME_MAX);
        if (mp_parse_u64(w[4], strlen(w[4]), UINT64_MAX, &req->magic) != 0)
                return fail(why, why_len, "magic must be an unsigned 64-bit decimal");
        req->comment[0] = '\0';
        if (n == 6)
                return parse_text(w[5], req->comment, sizeof(req->comment), 0, "comment", why,
                                  why_len);
        return 0;
}

static int parse_fault(char **w, int n, struct mp_request *req, char *why, size_t why_len)
{
        int i, needs_value, optional_value;
        uint64_t max;

        if (n < 2)
                return fail(why, why_len, "usage: FAULT name [value]");
        for (i = 0; i <= MP_FAULT_CLEAR; i++)
                if (strcasecmp(w[1], fault_names[i]) == 0)
                        break;
        if (i > MP_FAULT_CLEAR)
                return fail(why, why_len, "unknown fault '%.32s'", w[1]);
        req->fault = (enum mp_fault)i;
        needs_value = i == MP_FAULT_STALL || i == MP_FAULT_DISCONNECT || i == MP_FAULT_REJECT_RATE;
        optional_value = i == MP_FAULT_LOSE_REPLY || i == MP_FAULT_HANGUP;
        max = i == MP_FAULT_REJECT_RATE ? 100
              : optional_value          ? MP_FAULT_COUNT_MAX
                                        : MP_FAULT_MS_MAX;
        req->value = optional_value ? 1 : 0;
        if ((needs_value && n != 3) || (optional_value && n > 3) ||
            (!needs_value && !optional_value && n != 2))
                return fail(why, why_len, "fault %s takes %s", fault_names[i],
                            needs_value      ? "one value"
                            : optional_value ? "an optional count"
                                             : "no value");
        if (n == 3 && mp_parse_u64(w[2], strlen(w[2]), max, &req->value) != 0)
                return fail(why, why_len, "fault %s: value must be a decimal in 0..%llu",
                            fault_names[i], (unsigned long long)max);
        return 0;
}

int mp_parse_request(const char *line, struct mp_request *req, char *why, size_t why_len)
{
        char copy[MP_LINE_MAX + 1], *w[WORDS_MAX];
        size_t i;
        int n;

        if (strlen(line) > MP_LINE_MAX)
                return fail(why, why_len, "line longer than %d bytes", MP_LINE_MAX);
        strcpy(copy, line);
        n = mp_split(copy, w, WORDS_MAX);
        if (n == -E2BIG)
                return fail(why, why_len, "too many words");
        if (n == 0)
                return fail(why, why_len, "empty line");
        memset(req, 0, sizeof(*req));
        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcasecmp(w[0], commands[i].word) == 0)
                        break;
        if (i == sizeof(commands) / sizeof(commands[0]))
                return fail(why, why_len, "unknown command '%.32s'", w[0]);
        req->cmd = commands[i].cmd;
        switch (req->cmd) {
        case MP_ORDER:
                return parse_order(w, n, req, why, why_len);
        case MP_CLOSE:
                if (n != 2 || mp_parse_u64(w[1], strlen(w[1]), UINT64_MAX, &req->identifier) != 0 ||
                    req->identifier == 0)
                        return fail(why, why_len, "usage: CLOSE identifier (a decimal > 0)");
                return 0;
        case MP_FAULT:
                return parse_fault(w, n, req, why, why_len);
        default:
                if (n != 1)
                        return fail(why, why_len, "%s takes no arguments", commands[i].word);
                return 0;
        }
}

const char *mp_fault_name(enum mp_fault fault)
{
        return (unsigned)fault <= MP_FAULT_CLEAR ? fault_names[fault] : NULL;
}
