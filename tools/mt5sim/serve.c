/*
 * What mt5sim does with each request line: trade against the books, answer the queries, and
 * arm the faults. The reply is built here and sent (or, under a lose_reply or hangup fault,
 * deliberately not sent) by the event loop in mt5sim.c.
 *
 * A lost reply is the case the whole project is about: the order filled at the broker, the
 * bot never heard, and only the snapshot and the ledger know. So a fault that loses a reply
 * always lets the order fill (it skips the random rejection), and it is counted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

int64_t sim_mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sim_real_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sim_log(const char *fmt, ...)
{
        va_list ap;

        fputs("mt5sim: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

uint64_t sim_random(struct sim *s)
{
        uint64_t z = (s->rng += 0x9e3779b97f4a7c15u);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        return z ^ (z >> 31);
}

/* Lots without trailing zeros and without an exponent ("0.01", "2", "0.00000001"). */
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

static int64_t draw_close_at(struct sim *s, int64_t mono)
{
        uint64_t span;

        if (s->opt.max_life_ms == 0)
                return BOOK_NEVER;
        span = (uint64_t)(s->opt.max_life_ms - s->opt.min_life_ms) + 1;
        return mono + s->opt.min_life_ms + (int64_t)(sim_random(s) % span);
}

static enum sim_reply do_order(struct sim *s, const struct mp_request *rq, FILE *out)
{
        struct book_order o = {rq->symbol, rq->type, rq->volume, rq->magic, rq->comment};
        int64_t mono = sim_mono_ms();
        int losing = s->lose_replies > 0 || s->hangups > 0;
        uint64_t order = 0, identifier = 0;
        int err;

        s->stats.orders++;
        if (mono < s->disconnect_until) {
                s->stats.rejections++;
                fprintf(out, "REJECTED %d no connection to the trade server\n", MP_RET_CONNECTION);
                return SIM_REPLY;
        }
        if (!losing && s->reject_percent > 0 && sim_random(s) % 100 < s->reject_percent) {
                s->stats.rejections++;
                fprintf(out, "REJECTED %d request rejected\n", MP_RET_REJECT);
                return SIM_REPLY;
        }
        err = book_fill(&s->book, &o, sim_real_ms(), draw_close_at(s, mono), &order, &identifier);
        if (err != 0) {
                s->stats.rejections++;
                if (err == MP_RET_LIMIT_POSITIONS)
                        fprintf(out, "REJECTED %d too many open positions\n", err);
                else
                        fprintf(out, "REJECTED %d %s\n", MP_RET_REJECT, strerror(-err));
                return SIM_REPLY;
        }
        s->stats.fills++;
        if (s->opt.verbose)
                sim_log("filled order %llu: %s %s, position %llu, comment '%s'",
                        (unsigned long long)order, rq->type ? "sell" : "buy", rq->symbol,
                        (unsigned long long)identifier, rq->comment);
        if (s->lose_replies > 0 || s->hangups > 0) {
                int hangup = s->lose_replies == 0;

                if (hangup)
                        s->hangups--;
                else
                        s->lose_replies--;
                s->stats.lost_replies++;
                sim_log("fault: order %llu filled (position %llu), reply %s",
                        (unsigned long long)order, (unsigned long long)identifier,
                        hangup ? "replaced by a hangup" : "lost");
                return hangup ? SIM_HANGUP : SIM_SILENT;
        }
        fprintf(out, "FILLED %llu %llu\n", (unsigned long long)order,
                (unsigned long long)identifier);
        return SIM_REPLY;
}

static void do_close(struct sim *s, const struct mp_request *rq, FILE *out)
{
        uint64_t deal = 0;
        int err;

        if (sim_mono_ms() < s->disconnect_until) {
                fprintf(out, "ERR %d no connection to the trade server\n", MP_RET_CONNECTION);
                return;
        }
        err = book_close(&s->book, rq->identifier, "", sim_real_ms(), &deal);
        if (err == MP_RET_POSITION_CLOSED) {
                fprintf(out, "ERR %d no open position %llu\n", err,
                        (unsigned long long)rq->identifier);
        } else if (err != 0) {
                fprintf(out, "ERR %d %s\n", MP_RET_REJECT, strerror(-err));
        } else {
                s->stats.closes++;
                fprintf(out, "CLOSED %llu\n", (unsigned long long)deal);
        }
}

static void do_positions(struct sim *s, FILE *out)
{
        fprintf(out, "POSITIONS %zu\n", s->book.n_pos);
        for (size_t i = 0; i < s->book.n_pos; i++) {
                const struct hf_position *p = &s->book.pos[i];
                char symbol[3 * MP_SYMBOL_MAX + 1], comment[3 * MP_COMMENT_MAX + 1], vol[32];

                mp_pct_encode(p->symbol, symbol, sizeof(symbol));
                mp_pct_encode(p->comment, comment, sizeof(comment));
                format_volume(vol, sizeof(vol), p->volume);
                fprintf(out, "P %llu %llu %s %s %s %llu %.5f %lld%s%s\n",
                        (unsigned long long)p->ticket, (unsigned long long)p->identifier, symbol,
                        p->type ? "sell" : "buy", vol, (unsigned long long)p->magic, p->price_open,
                        (long long)p->time_msc, comment[0] ? " " : "", comment);
        }
}

static void do_ledger(struct sim *s, FILE *out)
{
        const struct book_ledger *l = &s->book.ledger;

        fprintf(out, "LEDGER %zu %llu %llu %llu\n", l->n_keys, (unsigned long long)l->duplicates,
                (unsigned long long)l->untagged_open, (unsigned long long)l->untagged_total);
        for (size_t i = 0; i < l->n_keys; i++)
                fprintf(out, "K %u %u %u %u\n", l->keys[i].instance, l->keys[i].slot,
                        l->keys[i].open, l->keys[i].max_open);
}

static void do_stats(struct sim *s, FILE *out)
{
        const struct sim_stats *st = &s->stats;

        fprintf(out,
                "STATS orders=%llu fills=%llu rejections=%llu closes=%llu auto_closes=%llu "
                "lost_replies=%llu snapshots=%llu snapshot_errors=%llu bad_requests=%llu "
                "open=%zu seq=%llu\n",
                (unsigned long long)st->orders, (unsigned long long)st->fills,
                (unsigned long long)st->rejections, (unsigned long long)st->closes,
                (unsigned long long)st->auto_closes, (unsigned long long)st->lost_replies,
                (unsigned long long)st->snapshots, (unsigned long long)st->snapshot_errors,
                (unsigned long long)st->bad_requests, s->book.n_pos, (unsigned long long)s->seq);
}

static void do_fault(struct sim *s, const struct mp_request *rq, FILE *out)
{
        int64_t mono = sim_mono_ms();

        switch (rq->fault) {
        case MP_FAULT_STALL:
                s->stall_until = mono + (int64_t)rq->value;
                break;
        case MP_FAULT_DISCONNECT:
                s->disconnect_until = mono + (int64_t)rq->value;
                break;
        case MP_FAULT_SEQ_BACK:
                s->seq_back = 1;
                break;
        case MP_FAULT_MALFORMED:
                s->malformed = 1;
                break;
        case MP_FAULT_LOSE_REPLY:
                s->lose_replies = rq->value;
                break;
        case MP_FAULT_HANGUP:
                s->hangups = rq->value;
                break;
        case MP_FAULT_REJECT_RATE:
                s->reject_percent = (unsigned)rq->value;
                break;
        case MP_FAULT_CLEAR:
                s->stall_until = 0;
                s->disconnect_until = 0;
                s->seq_back = 0;
                s->malformed = 0;
                s->lose_replies = 0;
                s->hangups = 0;
                s->reject_percent = s->opt.reject_percent;
                break;
        }
        if (rq->fault == MP_FAULT_SEQ_BACK || rq->fault == MP_FAULT_MALFORMED ||
            rq->fault == MP_FAULT_CLEAR)
                sim_log("fault %s", mp_fault_name(rq->fault));
        else
                sim_log("fault %s %llu", mp_fault_name(rq->fault), (unsigned long long)rq->value);
        fputs("OK\n", out);
}

static enum sim_reply dispatch(struct sim *s, const char *line, FILE *out)
{
        struct mp_request rq;
        char why[160];

        if (mp_parse_request(line, &rq, why, sizeof(why)) != 0) {
                s->stats.bad_requests++;
                fprintf(out, "ERR %d %s\n", MP_RET_INVALID, why);
                return SIM_REPLY;
        }
        switch (rq.cmd) {
        case MP_ORDER:
                return do_order(s, &rq, out);
        case MP_CLOSE:
                do_close(s, &rq, out);
                break;
        case MP_POSITIONS:
                do_positions(s, out);
                break;
        case MP_LEDGER:
                do_ledger(s, out);
                break;
        case MP_FAULT:
                do_fault(s, &rq, out);
                break;
        case MP_STATS:
                do_stats(s, out);
                break;
        case MP_PING:
                fputs("PONG\n", out);
                break;
        case MP_QUIT:
                s->quit = 1;
                fputs("BYE\n", out);
                break;
        }
        return SIM_REPLY;
}

enum sim_reply sim_serve(struct sim *s, const char *line, char **reply, size_t *reply_len)
{
        FILE *out;
        enum sim_reply r;

        *reply = NULL;
        *reply_len = 0;
        out = open_memstream(reply, reply_len);
        if (out == NULL)
                return SIM_HANGUP;
        r = dispatch(s, line, out);
        if (fclose(out) != 0) {
                free(*reply);
                *reply = NULL;
                return SIM_HANGUP;
        }
        return r;
}

void sim_expire(struct sim *s, int64_t mono)
{
        int n = book_expire(&s->book, mono, sim_real_ms());

        if (n < 0)
                sim_log("cannot close expired positions: %s", strerror(-n));
        else
                s->stats.auto_closes += (uint64_t)n;
}
