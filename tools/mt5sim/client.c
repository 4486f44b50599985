/*
 * The mt5sim client library (see client.h): requests out, reply lines in, each wait bounded.
 *
 * The one rule that shapes this file: once a request has left in full, any failure to read its
 * answer is an unknown outcome, never an error the caller could retry blindly; before that
 * point, a failure means the request never reached the terminal (an unterminated line is
 * discarded by the server). Every failure drops the connection, so a reply that arrives late
 * cannot be taken for the answer to a later request.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "proto.h"

#define WORDS_MAX      12
#define REPLY_ROWS_MAX 10000000u /* a POSITIONS or LEDGER count above this is garbage */

_Static_assert(MS_FAULT_STALL == (int)MP_FAULT_STALL &&
                   MS_FAULT_SEQ_BACK == (int)MP_FAULT_SEQ_BACK &&
                   MS_FAULT_HANGUP == (int)MP_FAULT_HANGUP && MS_FAULT_CLEAR == (int)MP_FAULT_CLEAR,
               "client.h's fault list mirrors proto.h's");

struct ms_conn {
        int fd;
        int timeout_ms;
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        char buf[2 * MP_LINE_MAX + 2]; /* received, not yet consumed */
        size_t len;
        char last[MP_LINE_MAX + 1];
};

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drop(ms_conn *c, const char *why)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->len = 0;
        if (why != NULL)
                snprintf(c->last, sizeof(c->last), "%s", why);
}

static int dial(ms_conn *c)
{
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        int fd;

        strcpy(addr.sun_path, c->path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
                int err = -errno;

                close(fd);
                snprintf(c->last, sizeof(c->last), "cannot connect to %s: %s", c->path,
                         strerror(-err));
                return err;
        }
        c->fd = fd;
        c->len = 0;
        return 0;
}

int ms_connect(const char *path, ms_conn **out)
{
        ms_conn *c;
        int err;

        if (path == NULL || strlen(path) >= sizeof(c->path))
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (c == NULL)
                return -ENOMEM;
        strcpy(c->path, path);
        c->timeout_ms = MS_TIMEOUT_MS;
        err = dial(c);
        if (err != 0) {
                free(c);
                return err;
        }
        *out = c;
        return 0;
}

void ms_disconnect(ms_conn *c)
{
        if (c == NULL)
                return;
        drop(c, NULL);
        free(c);
}

void ms_set_timeout(ms_conn *c, int timeout_ms)
{
        c->timeout_ms = timeout_ms > 0 ? timeout_ms : MS_TIMEOUT_MS;
}

const char *ms_last_reply(const ms_conn *c)
{
        return c->last;
}

/* Waits for events on the socket until deadline. Returns 0 or -ETIMEDOUT. */
static int wait_fd(ms_conn *c, short events, int64_t deadline)
{
        for (;;) {
                struct pollfd p = {.fd = c->fd, .events = events};
                int64_t left = deadline - mono_ms();
                int n;

                if (left <= 0)
                        return -ETIMEDOUT;
                n = poll(&p, 1, (int)left);
                if (n > 0)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

/* Sends line and a newline in full, or fails (the connection is then dropped, and the server
 * never saw a complete line). */
static int send_line(ms_conn *c, const char *line, int64_t deadline)
{
        char msg[MP_LINE_MAX + 2];
        size_t len = strlen(line), off = 0;
        int err;

        if (c->fd < 0 && (err = dial(c)) != 0)
                return err;
        memcpy(msg, line, len);
        msg[len++] = '\n';
        while (off < len) {
                ssize_t n = send(c->fd, msg + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n > 0) {
                        off += (size_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                err = n < 0 ? -errno : -EPIPE;
                if (err == -EAGAIN || err == -EWOULDBLOCK)
                        err = wait_fd(c, POLLOUT, deadline);
                if (err != 0) {
                        drop(c, "could not send the request");
                        return err;
                }
        }
        return 0;
}

/* Reads one reply line (without its newline) into c->last. Returns 0, -ETIMEDOUT, -ECONNRESET
 * (closed by the terminal), -EPROTO (line too long) or a negative errno; on failure the
 * connection is dropped. */
static int read_line(ms_conn *c, int64_t deadline)
{
        for (;;) {
                char *nl = memchr(c->buf, '\n', c->len);
                ssize_t n;
                int err;

                if (nl != NULL) {
                        size_t line = (size_t)(nl - c->buf);

                        if (line > MP_LINE_MAX)
                                break;
                        memcpy(c->last, c->buf, line);
                        c->last[line] = '\0';
                        memmove(c->buf, nl + 1, c->len - line - 1);
                        c->len -= line + 1;
                        return 0;
                }
                if (c->len == sizeof(c->buf))
                        break;
                err = wait_fd(c, POLLIN, deadline);
                if (err != 0) {
                        drop(c, NULL);
                        snprintf(c->last, sizeof(c->last), "no reply within %d ms", c->timeout_ms);
                        return err;
                }
                n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
                if (n > 0) {
                        c->len += (size_t)n;
                } else if (n == 0) {
                        drop(c, "the terminal closed the connection before replying");
                        return -ECONNRESET;
                } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                        err = -errno;
                        drop(c, "connection failed before the reply");
                        return err;
                }
        }
        drop(c, "reply line too long");
        return -EPROTO;
}

/* Sends a request and reads the first reply line into c->last. *sent says whether the request
 * left in full (and so whether a failure leaves its effect unknown). */
static int request(ms_conn *c, const char *line, int *sent)
{
        int64_t deadline = mono_ms() + c->timeout_ms;
        int err;

        *sent = 0;
        err = send_line(c, line, deadline);
        if (err != 0)
                return err;
        *sent = 1;
        return read_line(c, mono_ms() + c->timeout_ms);
}

/* Splits c->last into words in a copy. Returns the number of words. */
static int words_of(const ms_conn *c, char *copy, char **w)
{
        strcpy(copy, c->last);
        return mp_split(copy, w, WORDS_MAX);
}

static int parse_u64(const char *s, uint64_t *out)
{
        return mp_parse_u64(s, strlen(s), UINT64_MAX, out);
}

/* "ERR <code> <text>": the code, or 0 when the line is not an ERR. */
static int err_code(const ms_conn *c)
{
        char copy[MP_LINE_MAX + 1], *w[WORDS_MAX];
        uint64_t code;
        int n = words_of(c, copy, w);

        if (n < 2 || strcmp(w[0], "ERR") != 0 || mp_parse_u64(w[1], strlen(w[1]), 99999, &code))
                return 0;
        return (int)code;
}

static int valid_text(const char *s, size_t min, size_t max)
{
        size_t n = strlen(s);

        if (n < min || n > max)
                return 0;
        for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return 0;
        return 1;
}

static void format_volume(char *buf, size_t size, double v)
{
        size_t n;

        snprintf(buf, size, "%.8f", v);
        n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0')
                buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '.')
                buf[--n] = '\0';
}

static void set_text(struct ms_order_result *res, const char *text)
{
        size_t n = strnlen(text, sizeof(res->text) - 1);

        memcpy(res->text, text, n);
        res->text[n] = '\0';
}

int ms_order(ms_conn *c, const char *symbol, int type, double volume, uint64_t magic,
             const char *comment, struct ms_order_result *res)
{
        char sym[3 * MP_SYMBOL_MAX + 1], com[3 * MP_COMMENT_MAX + 1], vol[32];
        char line[MP_LINE_MAX + 1], copy[MP_LINE_MAX + 1], *w[WORDS_MAX];
        uint64_t code;
        int sent, err, n;

        memset(res, 0, sizeof(*res));
        if (comment == NULL)
                comment = "";
        if (symbol == NULL || !valid_text(symbol, 1, MP_SYMBOL_MAX) ||
            !valid_text(comment, 0, MP_COMMENT_MAX) || (type != 0 && type != 1) ||
            !(volume > 0.0 && volume <= MP_VOLUME_MAX) || volume < 0.5e-8)
                return -EINVAL;
        mp_pct_encode(symbol, sym, sizeof(sym));
        mp_pct_encode(comment, com, sizeof(com));
        format_volume(vol, sizeof(vol), volume);
        snprintf(line, sizeof(line), "ORDER %s %s %s %llu%s%s", sym, type ? "sell" : "buy", vol,
                 (unsigned long long)magic, com[0] != '\0' ? " " : "", com);
        err = request(c, line, &sent);
        if (err != 0) {
                if (!sent)
                        return err;
                set_text(res, c->last);
                return MS_UNKNOWN;
        }
        n = words_of(c, copy, w);
        if (n == 3 && strcmp(w[0], "FILLED") == 0 && parse_u64(w[1], &res->order) == 0 &&
            parse_u64(w[2], &res->identifier) == 0) {
                res->retcode = MP_RET_DONE;
                set_text(res, "done");
                return MS_FILLED;
        }
        if (n >= 2 && strcmp(w[0], "REJECTED") == 0 &&
            mp_parse_u64(w[1], strlen(w[1]), 99999, &code) == 0) {
                const char *text = c->last + (w[1] - copy) + strlen(w[1]);

                res->retcode = (int)code;
                set_text(res, text + strspn(text, " "));
                return MS_REJECTED;
        }
        if (err_code(c) != 0)
                return -EPROTO; /* not understood, so not executed */
        /* Something answered, but not an answer we know: the order may have filled. */
        set_text(res, c->last);
        drop(c, NULL);
        return MS_UNKNOWN;
}

int ms_retcode_unknown(int retcode)
{
        return retcode == 10012 || retcode == MP_RET_CONNECTION || retcode == -10005;
}

/* Sends a request whose effect is harmless to repeat, and reads the first reply line. A
 * failure after sending is reported as is (-ETIMEDOUT, -ECONNRESET). */
static int query(ms_conn *c, const char *line)
{
        int sent;

        return request(c, line, &sent);
}

int ms_close(ms_conn *c, uint64_t identifier, uint64_t *deal)
{
        char line[64], copy[MP_LINE_MAX + 1], *w[WORDS_MAX];
        uint64_t d;
        int err, code;

        snprintf(line, sizeof(line), "CLOSE %llu", (unsigned long long)identifier);
        err = query(c, line);
        if (err != 0)
                return err;
        if (words_of(c, copy, w) == 2 && strcmp(w[0], "CLOSED") == 0 && parse_u64(w[1], &d) == 0) {
                if (deal != NULL)
                        *deal = d;
                return 0;
        }
        code = err_code(c);
        if (code == MP_RET_POSITION_CLOSED)
                return -ENOENT;
        if (code == MP_RET_CONNECTION)
                return -ENETDOWN;
        if (code == 0)
                drop(c, NULL);
        return -EPROTO;
}

/* Reads the header "<word> <count> ..." of a multi-line reply into words. Returns the number of
 * words, or a negative error. */
static int header(ms_conn *c, const char *word, char *copy, char **w, uint64_t *count)
{
        int n = words_of(c, copy, w);

        if (n < 2 || strcmp(w[0], word) != 0 || parse_u64(w[1], count) != 0 ||
            *count > REPLY_ROWS_MAX) {
                drop(c, NULL);
                return -EPROTO;
        }
        return n;
}

static int parse_position(ms_conn *c, struct ms_position *p)
{
        char copy[MP_LINE_MAX + 1], *w[WORDS_MAX], *end;
        uint64_t t;
        int n = words_of(c, copy, w);

        if (n < 9 || n > 10 || strcmp(w[0], "P") != 0 || parse_u64(w[1], &p->ticket) != 0 ||
            parse_u64(w[2], &p->identifier) != 0 ||
            mp_pct_decode(w[3], strlen(w[3]), p->symbol, sizeof(p->symbol)) < 1 ||
            (strcmp(w[4], "buy") != 0 && strcmp(w[4], "sell") != 0) ||
            parse_u64(w[6], &p->magic) != 0 || parse_u64(w[8], &t) != 0 || t > INT64_MAX)
                return -EPROTO;
        p->type = strcmp(w[4], "sell") == 0;
        p->time_msc = (int64_t)t;
        p->volume = strtod(w[5], &end);
        if (*end != '\0' || !isfinite(p->volume))
                return -EPROTO;
        p->price_open = strtod(w[7], &end);
        if (*end != '\0' || !isfinite(p->price_open))
                return -EPROTO;
        p->comment[0] = '\0';
        if (n == 10 && mp_pct_decode(w[9], strlen(w[9]), p->comment, sizeof(p->comment)) < 0)
                return -EPROTO;
        return 0;
}

int ms_positions(ms_conn *c, struct ms_position **out, size_t *n_out)
{
        char copy[MP_LINE_MAX + 1], *w[WORDS_MAX];
        struct ms_position *pos;
        uint64_t count;
        int err;

        *out = NULL;
        *n_out = 0;
        err = query(c, "POSITIONS");
        if (err != 0)
                return err;
        err = header(c, "POSITIONS", copy, w, &count);
        if (err < 0)
                return err;
        pos = calloc(count != 0 ? count : 1, sizeof(*pos));
        if (pos == NULL) {
                drop(c, "out of memory");
                return -ENOMEM;
        }
        for (uint64_t i = 0; i < count; i++) {
                err = read_line(c, mono_ms() + c->timeout_ms);
                if (err == 0 && (err = parse_position(c, &pos[i])) != 0)
                        drop(c, NULL);
                if (err != 0) {
                        free(pos);
                        return err;
                }
        }
        *out = pos;
        *n_out = count;
        return 0;
}

int ms_ledger(ms_conn *c, struct ms_ledger *out)
{
        char copy[MP_LINE_MAX + 1], *w[WORDS_MAX];
        uint64_t count, v[4];
        int err;

        memset(out, 0, sizeof(*out));
        err = query(c, "LEDGER");
        if (err != 0)
                return err;
        err = header(c, "LEDGER", copy, w, &count);
        if (err < 0)
                return err;
        if (err != 5 || parse_u64(w[2], &out->duplicates) || parse_u64(w[3], &out->untagged_open) ||
            parse_u64(w[4], &out->untagged_total)) {
                drop(c, NULL);
                return -EPROTO;
        }
        out->keys = calloc(count != 0 ? count : 1, sizeof(out->keys[0]));
        if (out->keys == NULL) {
                drop(c, "out of memory");
                return -ENOMEM;
        }
        for (uint64_t i = 0; i < count; i++) {
                int n;

                err = read_line(c, mono_ms() + c->timeout_ms);
                if (err != 0) {
                        ms_ledger_free(out);
                        return err;
                }
                n = words_of(c, copy, w);
                for (int k = 0; n == 5 && k < 4; k++)
                        if (mp_parse_u64(w[k + 1], strlen(w[k + 1]), UINT32_MAX, &v[k]) != 0)
                                n = 0;
                if (n != 5 || strcmp(w[0], "K") != 0) {
                        drop(c, NULL);
                        ms_ledger_free(out);
                        return -EPROTO;
                }
                out->keys[i] = (struct ms_ledger_key){(uint32_t)v[0], (uint32_t)v[1],
                                                      (uint32_t)v[2], (uint32_t)v[3]};
        }
        out->n_keys = count;
        return 0;
}

void ms_ledger_free(struct ms_ledger *l)
{
        free(l->keys);
        memset(l, 0, sizeof(*l));
}

uint32_t ms_ledger_open(const struct ms_ledger *l, uint32_t instance, uint32_t slot)
{
        for (size_t i = 0; i < l->n_keys; i++)
                if (l->keys[i].instance == instance && l->keys[i].slot == slot)
                        return l->keys[i].open;
        return 0;
}

int ms_fault(ms_conn *c, enum ms_fault fault, uint64_t value)
{
        /* The client's enum mirrors the protocol's, so the wire name comes from proto.c. */
        const char *name = mp_fault_name((enum mp_fault)fault);
        char line[96];
        int err;

        if (name == NULL)
                return -EINVAL;
        switch (fault) {
        case MS_FAULT_SEQ_BACK:
        case MS_FAULT_MALFORMED:
        case MS_FAULT_CLEAR:
                snprintf(line, sizeof(line), "FAULT %s", name);
                break;
        case MS_FAULT_LOSE_REPLY:
        case MS_FAULT_HANGUP:
                snprintf(line, sizeof(line), "FAULT %s %llu", name,
                         (unsigned long long)(value != 0 ? value : 1));
                break;
        default:
                snprintf(line, sizeof(line), "FAULT %s %llu", name, (unsigned long long)value);
                break;
        }
        err = query(c, line);
        if (err != 0)
                return err;
        if (strcmp(c->last, "OK") == 0)
                return 0;
        return err_code(c) == MP_RET_INVALID ? -EINVAL : -EPROTO;
}

int ms_stats(ms_conn *c, struct ms_stats *out)
{
        static const struct {
                const char *key;
                size_t offset;
        } fields[] = {
            {"orders", offsetof(struct ms_stats, orders)},
            {"fills", offsetof(struct ms_stats, fills)},
            {"rejections", offsetof(struct ms_stats, rejections)},
            {"closes", offsetof(struct ms_stats, closes)},
            {"auto_closes", offsetof(struct ms_stats, auto_closes)},
            {"lost_replies", offsetof(struct ms_stats, lost_replies)},
            {"snapshots", offsetof(struct ms_stats, snapshots)},
            {"snapshot_errors", offsetof(struct ms_stats, snapshot_errors)},
            {"bad_requests", offsetof(struct ms_stats, bad_requests)},
            {"open", offsetof(struct ms_stats, open)},
            {"seq", offsetof(struct ms_stats, seq)},
        };
        char copy[MP_LINE_MAX + 1], *w[WORDS_MAX + 8];
        int err, n;

        memset(out, 0, sizeof(*out));
        err = query(c, "STATS");
        if (err != 0)
                return err;
        strcpy(copy, c->last);
        n = mp_split(copy, w, WORDS_MAX + 8);
        if (n < 1 || strcmp(w[0], "STATS") != 0) {
                drop(c, NULL);
                return -EPROTO;
        }
        /* Unknown keys are skipped, so a newer server still talks to an older client. */
        for (int i = 1; i < n; i++) {
                char *eq = strchr(w[i], '=');

                if (eq == NULL)
                        continue;
                *eq = '\0';
                for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
                        if (strcmp(w[i], fields[f].key) == 0 &&
                            parse_u64(eq + 1,
                                      (uint64_t *)(void *)((char *)out + fields[f].offset)) != 0)
                                return -EPROTO;
        }
        return 0;
}

int ms_ping(ms_conn *c)
{
        int err = query(c, "PING");

        return err != 0 ? err : strcmp(c->last, "PONG") == 0 ? 0 : -EPROTO;
}

int ms_quit(ms_conn *c)
{
        int err = query(c, "QUIT");

        if (err != 0)
                return err;
        drop(c, NULL);
        return strcmp(c->last, "BYE") == 0 ? 0 : -EPROTO;
}
