/*
 * hf_format and hf_write_atomic: struct hf_snapshot -> snapshot text -> a file replaced
 * atomically (docs/snapshot-format.md).
 *
 * The formatter refuses what the parser would refuse, so whatever it writes parses back to the
 * same values: strings are percent-encoded, and each double is written in the shortest form
 * that reads back to the same bits, always in the C locale (a caller's setlocale must not turn
 * "1.5" into "1,5").
 *
 * The writer is the exporter's half of the torn-file defence (the CRC trailer is the other): a
 * reader opening the path sees the previous complete file or the new complete file, because the
 * new one is written under another name, flushed to disk, and only then renamed over the old.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot.h"

/* Room reserved per record line; the longest possible one (a position with 20-digit numbers,
 * a symbol and comment made only of %XX escapes and two 24-byte doubles) takes 421 bytes. */
#define LINE_MAX_BYTES 512

struct text {
        char *buf;
        size_t len, cap;
};

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
        c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static int reserve(struct text *t, size_t n)
{
        size_t cap = t->cap ? t->cap : 4096;
        char *p;

        if (t->cap - t->len >= n)
                return 0;
        while (cap - t->len < n)
                cap *= 2;
        p = realloc(t->buf, cap);
        if (p == NULL)
                return -ENOMEM;
        t->buf = p;
        t->cap = cap;
        return 0;
}

/* The put_* functions write into space reserve() made. */
static void put_mem(struct text *t, const char *s, size_t n)
{
        memcpy(t->buf + t->len, s, n);
        t->len += n;
}

static void put_u64(struct text *t, uint64_t v)
{
        char d[20];
        int n = 0;

        do {
                d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v != 0);
        put_mem(t, d + sizeof(d) - n, (size_t)n);
}

static void put_sp_u64(struct text *t, uint64_t v)
{
        t->buf[t->len++] = ' ';
        put_u64(t, v);
}

static void put_sp_string(struct text *t, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);

        t->buf[t->len++] = ' ';
        if (n == 0 || (n == 1 && s[0] == '-')) {
                /* "-" is the empty string, so a real "-" must be escaped. */
                put_mem(t, n == 0 ? "-" : "%2D", n == 0 ? 1 : 3);
                return;
        }
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (c > 0x20 && c < 0x7f && c != '%') {
                        t->buf[t->len++] = (char)c;
                } else {
                        t->buf[t->len++] = '%';
                        t->buf[t->len++] = hex[c >> 4];
                        t->buf[t->len++] = hex[c & 15];
                }
        }
}

/* The shortest of %.15g, %.16g, %.17g that reads back to v (17 digits always do). */
static void put_sp_double(struct text *t, double v)
{
        char d[32];
        int n = 0;

        for (int prec = 15; prec <= 17; prec++) {
                n = snprintf(d, sizeof(d), "%.*g", prec, v);
                if (strtod_l(d, NULL, c_locale) == v)
                        break;
        }
        t->buf[t->len++] = ' ';
        put_mem(t, d, (size_t)n);
}

static void put_eol(struct text *t)
{
        t->buf[t->len++] = '\n';
}

static int symbol_ok(const char *s)
{
        size_t n = strnlen(s, HF_SYMBOL_MAX + 1);

        return n >= 1 && n <= HF_SYMBOL_MAX;
}

static int comment_ok(const char *s)
{
        return strnlen(s, HF_COMMENT_MAX + 1) <= HF_COMMENT_MAX;
}

static int volume_ok(double v)
{
        return isfinite(v) && v >= 0;
}

/* The rules hf_parse enforces, checked before anything is written. */
static int check(const struct hf_snapshot *s)
{
        size_t i;

        if (s->format != HF_FORMAT || s->seq == 0 || s->time_ms <= 0 ||
            (s->connected != 0 && s->connected != 1) || s->margin_mode < 0 ||
            s->margin_mode > HF_MARGIN_MODE_MAX || s->n_positions > HF_RECORDS_MAX ||
            s->n_orders > HF_RECORDS_MAX || s->n_deals > HF_RECORDS_MAX ||
            s->n_positions + s->n_orders + s->n_deals > HF_RECORDS_MAX ||
            (s->n_positions && !s->positions) || (s->n_orders && !s->orders) ||
            (s->n_deals && !s->deals))
                return -EINVAL;
        for (i = 0; i < s->n_positions; i++) {
                const struct hf_position *p = &s->positions[i];

                if (p->ticket == 0 || p->identifier == 0 || !symbol_ok(p->symbol) ||
                    (p->type != 0 && p->type != 1) || !volume_ok(p->volume) ||
                    !isfinite(p->price_open) || p->time_msc < 0 || !comment_ok(p->comment))
                        return -EINVAL;
        }
        for (i = 0; i < s->n_orders; i++) {
                const struct hf_order *o = &s->orders[i];

                if (o->ticket == 0 || !symbol_ok(o->symbol) || o->type < 0 ||
                    o->type > HF_ORDER_TYPE_MAX || !volume_ok(o->volume) || o->time_setup_msc < 0 ||
                    !comment_ok(o->comment))
                        return -EINVAL;
        }
        for (i = 0; i < s->n_deals; i++) {
                const struct hf_deal *d = &s->deals[i];

                if (d->ticket == 0 || d->position_id == 0 || !symbol_ok(d->symbol) ||
                    (d->type != 0 && d->type != 1) || d->entry < 0 ||
                    d->entry > HF_DEAL_ENTRY_MAX || !volume_ok(d->volume) || d->time_msc < 0 ||
                    !comment_ok(d->comment))
                        return -EINVAL;
        }
        return 0;
}

static void put_header(struct text *t, const char *key, uint64_t v)
{
        put_mem(t, key, strlen(key));
        put_sp_u64(t, v);
        put_eol(t);
}

static int put_all(struct text *t, const struct hf_snapshot *s)
{
        char crc[16];
        size_t i;

        if (reserve(t, 512) != 0)
                return -ENOMEM;
        put_mem(t, "HEDGESNAP 1\n", 12);
        put_header(t, "seq", s->seq);
        put_header(t, "time_ms", (uint64_t)s->time_ms);
        put_header(t, "login", s->login);
        put_header(t, "connected", (uint64_t)s->connected);
        put_header(t, "margin_mode", (uint64_t)s->margin_mode);
        put_header(t, "positions", s->n_positions);
        put_header(t, "orders", s->n_orders);
        put_header(t, "deals", s->n_deals);
        for (i = 0; i < s->n_positions; i++) {
                const struct hf_position *p = &s->positions[i];

                if (reserve(t, LINE_MAX_BYTES) != 0)
                        return -ENOMEM;
                t->buf[t->len++] = 'P';
                put_sp_u64(t, p->ticket);
                put_sp_u64(t, p->identifier);
                put_sp_u64(t, p->magic);
                put_sp_string(t, p->symbol);
                put_sp_u64(t, (uint64_t)p->type);
                put_sp_double(t, p->volume == 0 ? 0.0 : p->volume); /* -0 would read as "-" */
                put_sp_double(t, p->price_open);
                put_sp_u64(t, (uint64_t)p->time_msc);
                put_sp_string(t, p->comment);
                put_eol(t);
        }
        for (i = 0; i < s->n_orders; i++) {
                const struct hf_order *o = &s->orders[i];

                if (reserve(t, LINE_MAX_BYTES) != 0)
                        return -ENOMEM;
                t->buf[t->len++] = 'O';
                put_sp_u64(t, o->ticket);
                put_sp_u64(t, o->position_id);
                put_sp_u64(t, o->magic);
                put_sp_string(t, o->symbol);
                put_sp_u64(t, (uint64_t)o->type);
                put_sp_double(t, o->volume == 0 ? 0.0 : o->volume);
                put_sp_u64(t, (uint64_t)o->time_setup_msc);
                put_sp_string(t, o->comment);
                put_eol(t);
        }
        for (i = 0; i < s->n_deals; i++) {
                const struct hf_deal *d = &s->deals[i];

                if (reserve(t, LINE_MAX_BYTES) != 0)
                        return -ENOMEM;
                t->buf[t->len++] = 'D';
                put_sp_u64(t, d->ticket);
                put_sp_u64(t, d->order);
                put_sp_u64(t, d->position_id);
                put_sp_u64(t, d->magic);
                put_sp_string(t, d->symbol);
                put_sp_u64(t, (uint64_t)d->type);
                put_sp_u64(t, (uint64_t)d->entry);
                put_sp_double(t, d->volume == 0 ? 0.0 : d->volume);
                put_sp_u64(t, (uint64_t)d->time_msc);
                put_sp_string(t, d->comment);
                put_eol(t);
        }
        if (reserve(t, 64) != 0)
                return -ENOMEM;
        snprintf(crc, sizeof(crc), " %08x\n", (unsigned)hf_crc32(0, t->buf, t->len));
        put_mem(t, "END", 3);
        put_sp_u64(t, s->seq);
        put_mem(t, crc, 10);
        t->buf[t->len] = '\0';
        return 0;
}

int hf_format(const struct hf_snapshot *snap, char **buf, size_t *len)
{
        struct text t = {0};
        locale_t old;
        int rc;

        *buf = NULL;
        *len = 0;
        if ((rc = check(snap)) != 0)
                return rc;
        pthread_once(&c_locale_once, make_c_locale);
        if (c_locale == (locale_t)0)
                return -ENOMEM;
        old = uselocale(c_locale);
        rc = put_all(&t, snap);
        uselocale(old);
        if (rc != 0) {
                free(t.buf);
                return rc;
        }
        *buf = t.buf;
        *len = t.len;
        return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);

                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

int hf_write_atomic(const char *path, const struct hf_snapshot *snap)
{
        char *text, *tmp;
        size_t len, tmp_len;
        int fd, rc;

        if ((rc = hf_format(snap, &text, &len)) != 0)
                return rc;
        tmp_len = strlen(path) + 32;
        tmp = malloc(tmp_len);
        if (tmp == NULL) {
                free(text);
                return -ENOMEM;
        }
        snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                rc = -errno;
                goto out;
        }
        rc = write_all(fd, text, len);
        /* fsync before rename: after a crash the new name must not point at an empty file. */
        if (rc == 0 && fsync(fd) != 0)
                rc = -errno;
        if (close(fd) != 0 && rc == 0)
                rc = -errno;
        if (rc == 0 && rename(tmp, path) != 0)
                rc = -errno;
        if (rc != 0)
                unlink(tmp);
out:
        free(tmp);
        free(text);
        return rc;
}
