/*
 * Helpers of the syncer's tests (see synctest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "synctest.h"

void st_snap_init(struct st_snap *s, uint64_t seq, int64_t time_ms)
{
        memset(s, 0, sizeof(*s));
        s->snap.format = HF_FORMAT;
        s->snap.seq = seq;
        s->snap.time_ms = time_ms;
        s->snap.login = ST_LOGIN;
        s->snap.connected = 1;
        s->snap.margin_mode = 2;
        s->snap.positions = s->positions;
        s->snap.orders = s->orders;
        s->snap.deals = s->deals;
}

void st_add_position(struct st_snap *s, uint64_t identifier, const char *symbol,
                     const char *comment)
{
        struct hf_position *p;

        assert_true(s->snap.n_positions < ST_MAX_RECORDS);
        p = &s->positions[s->snap.n_positions++];
        p->ticket = p->identifier = identifier;
        p->magic = 4242;
        snprintf(p->symbol, sizeof(p->symbol), "%s", symbol);
        p->type = 1;
        p->volume = 0.1;
        p->price_open = 1.2345;
        p->time_msc = s->snap.time_ms - 10;
        snprintf(p->comment, sizeof(p->comment), "%s", comment ? comment : "");
}

void st_add_order(struct st_snap *s, uint64_t ticket, uint64_t position_id, const char *symbol,
                  const char *comment)
{
        struct hf_order *o;

        assert_true(s->snap.n_orders < ST_MAX_RECORDS);
        o = &s->orders[s->snap.n_orders++];
        o->ticket = ticket;
        o->position_id = position_id;
        o->magic = 4242;
        snprintf(o->symbol, sizeof(o->symbol), "%s", symbol);
        o->type = position_id ? 0 : 2; /* a close, or a buy limit */
        o->volume = 0.1;
        o->time_setup_msc = s->snap.time_ms - 10;
        snprintf(o->comment, sizeof(o->comment), "%s", comment ? comment : "");
}

void st_add_deal(struct st_snap *s, uint64_t ticket, uint64_t position_id, int entry,
                 const char *symbol, const char *comment)
{
        struct hf_deal *d;

        assert_true(s->snap.n_deals < ST_MAX_RECORDS);
        d = &s->deals[s->snap.n_deals++];
        d->ticket = ticket;
        d->order = entry == 0 ? position_id : ticket + 1;
        d->position_id = position_id;
        d->magic = 4242;
        snprintf(d->symbol, sizeof(d->symbol), "%s", symbol);
        d->type = entry == 0 ? 1 : 0;
        d->entry = entry;
        d->volume = 0.1;
        d->time_msc = s->snap.time_ms - 20;
        snprintf(d->comment, sizeof(d->comment), "%s", comment ? comment : "");
}

int64_t st_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t st_now_ms(void)
{
        return st_now_ns() / NS_PER_MS;
}

uint64_t st_lock(hshm_store *s, const char *group, const char *symbol, char *tag)
{
        uint64_t token = 0;

        assert_int_equal(hshm_lock(s, group, symbol, &token), 0);
        if (tag != NULL)
                assert_int_equal(hshm_tag_format(s, token, tag, HSHM_TAG_LEN + 1), 0);
        return token;
}

uint64_t st_active(hshm_store *s, const char *group, const char *symbol, uint64_t ticket, char *tag)
{
        uint64_t token = st_lock(s, group, symbol, tag);

        assert_int_equal(hshm_activate(s, token, ticket, "XAUUSD.r"), 0);
        return token;
}

struct hshm_status st_status(hshm_store *s, const char *group, const char *symbol)
{
        struct hshm_status st;

        assert_int_equal(hshm_status(s, group, symbol, &st), 0);
        return st;
}

/* The child reports its token and tag through a pipe, then dies holding the lock. */
struct dead_lock {
        uint64_t token;
        char tag[HSHM_TAG_LEN + 1];
};

uint64_t st_lock_dead(const char *name, const char *group, const char *symbol, char *tag)
{
        struct dead_lock got = {0};
        int fd[2], status;
        pid_t pid;

        assert_int_equal(pipe(fd), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct dead_lock out = {0};
                hshm_store *c = NULL;

                close(fd[0]);
                if (hshm_open(name, 0, &c) != 0 || hshm_lock(c, group, symbol, &out.token) != 0 ||
                    hshm_tag_format(c, out.token, out.tag, sizeof(out.tag)) != 0)
                        _exit(1);
                if (write(fd[1], &out, sizeof(out)) != (ssize_t)sizeof(out))
                        _exit(2);
                _exit(0); /* no hshm_close: the kernel drops its liveness lock */
        }
        close(fd[1]);
        assert_int_equal(read(fd[0], &got, sizeof(got)), (ssize_t)sizeof(got));
        close(fd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (tag != NULL)
                memcpy(tag, got.tag, sizeof(got.tag));
        return got.token;
}
