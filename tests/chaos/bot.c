/*
 * One chaos bot: a forked process that hedges through the real library and the simulated
 * terminal with the shared protocol (docs/reconcile.md): check, lock, tag, order, then
 * activate on a fill, reset on a rejection, and on an unknown outcome leave the slot HEDGING
 * until the syncer has reconciled a snapshot past the send plus the grace.
 *
 * At each named point of that protocol the bot may kill itself with SIGKILL: after the lock,
 * after the order was sent, and inside hshm_activate and hshm_reset, between the CAS and the
 * payload, through the library's test hook. It writes which point into its cell first, so
 * the conductor can tell these deaths from the random killer's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chaos.h"

/* lib/internal.h: called after a transition's CAS succeeded, before its payload is written. */
extern void (*hsi_fault_hook)(const char *point);

/* How long a bot waits for the syncer to decide an unknown outcome before leaving the slot
 * to its lease: the syncer judges it as an orphan once the lease ran out. */
#define SETTLE_WAIT_MS 10000
/* What the bot asks of hshm_settle_unknown, which waits for the syncer's published grace
 * when that is larger; and the margin it leaves between its lease check and its send. */
#define BOT_GRACE_MS CHAOS_GRACE_MS

static const char *const symbols[] = {"EURUSD", "GBPUSD", "XAUUSD", "USDJPY",
                                      "US30",   "US500",  "XAGUSD", "BTCUSD"};

/* The bot's own state, for the hook: one thread, so plain statics. */
static struct chaos_tally *tally;
static int my_cell;
static const char *armed_point; /* the hook kills the bot when this point is reached */
static enum chaos_kill armed_kind;

static void die(enum chaos_kill kind)
{
        __atomic_store_n(&tally->cell[my_cell].dying, 1 + (int)kind, __ATOMIC_SEQ_CST);
        raise(SIGKILL);
}

static void fault_hook(const char *point)
{
        if (armed_point != NULL && strcmp(point, armed_point) == 0)
                die(armed_kind);
}

static int chance(const struct chaos_opts *o, enum chaos_kill kind, unsigned *seed)
{
        return (unsigned)rand_r(seed) % 1000u < o->die_permille[kind];
}

static void maybe_die(const struct chaos_opts *o, enum chaos_kill kind, unsigned *seed)
{
        if (chance(o, kind, seed))
                die(kind);
}

/* Arms the hook for the next transition at point, with the kind's chance. */
static void arm(const struct chaos_opts *o, const char *point, enum chaos_kill kind, unsigned *seed)
{
        armed_point = chance(o, kind, seed) ? point : NULL;
        armed_kind = kind;
}

static void disarm(void)
{
        armed_point = NULL;
}

/* Correlated signals: half the time every bot wants the position the current 50 ms tick
 * points at, which is when two bots race for one hedge. */
static int pick_position(const struct chaos_opts *o, unsigned *seed)
{
        if (rand_r(seed) % 2 == 0)
                return (int)((unsigned)rand_r(seed) % (unsigned)o->positions);
        return (int)((chaos_now_ms() / 50) % o->positions);
}

static int bot_error(struct chaos_tally *t, const char *what, int err)
{
        fprintf(stderr, "chaos: bot %d (pid %d): %s: %s (%s)\n", my_cell, (int)getpid(), what,
                hshm_strerror(err), hshm_last_detail());
        chaos_bump(&t->bot_errors);
        return -1;
}

/* A give-up the bot itself decides, by hshm_reset after a rejection (or an order that never
 * left), by hshm_release after an unknown outcome (refused once the syncer adopted the
 * hedge); the hook may kill the bot inside either. A token that is no longer current, or a
 * slot no longer HEDGING, means the lock was taken from the bot (its lease ran out and the
 * syncer judged it, or adopted a late fill): not an error, the slot is not the bot's any
 * more. */
static int give_up(const struct chaos_opts *o, hshm_store *s, struct chaos_tally *t, uint64_t token,
                   int release, unsigned *seed)
{
        int err;

        arm(o, "reset", KILL_IN_RESET, seed);
        err = release ? hshm_release(s, token) : hshm_reset(s, token);
        disarm();
        if (err == HSHM_ESTALE || err == HSHM_ESTATE) {
                chaos_bump(&t->lock_lost);
                return 0;
        }
        return err == 0 ? 0 : bot_error(t, release ? "release" : "reset", err);
}

/*
 * An order whose outcome is unknown may have filled. hshm_settle_unknown decides it once the
 * syncer has reconciled a snapshot taken more than the grace after the send: if the hedge was
 * open then, the syncer adopted it (ACTIVE); if the slot is still HEDGING, no hedge with its
 * tag was open and the library releases it. The hook may kill the bot inside that release.
 */
static int settle_unknown(const struct chaos_opts *o, hshm_store *s, struct chaos_tally *t,
                          uint64_t token, int64_t sent_ns, unsigned *seed)
{
        int64_t deadline = chaos_now_ms() + SETTLE_WAIT_MS;
        int out = -EAGAIN;

        arm(o, "reset", KILL_IN_RESET, seed);
        while (out == -EAGAIN && chaos_now_ms() < deadline &&
               !__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
                out = hshm_settle_unknown(s, token, sent_ns, BOT_GRACE_MS);
                if (out == -EAGAIN)
                        chaos_sleep_ms(20);
        }
        disarm();
        switch (out) {
        case HSHM_SETTLED_ADOPTED:
                chaos_bump(&t->unknown_adopted);
                return 0;
        case HSHM_SETTLED_RELEASED:
                chaos_bump(&t->unknown_released);
                return 0;
        case HSHM_SETTLED_MOVED_ON:
                /* adopted and closed since, or judged as an orphan */
                chaos_bump(&t->unknown_moved_on);
                return 0;
        case -EAGAIN:
                /* Left HEDGING: its lease runs out and the syncer judges it through the broker. */
                chaos_bump(&t->unknown_undecided);
                return 0;
        default:
                return bot_error(t, "settling an unknown outcome", out);
        }
}

/* One pass of the protocol on one position. Returns 0, or -1 after a bot error. */
static int hedge_once(const struct chaos_opts *o, hshm_store *s, ms_conn *c, struct chaos_tally *t,
                      unsigned *seed)
{
        int pos = pick_position(o, seed);
        const char *symbol = symbols[pos % 8], *hedge = symbols[(pos + 3) % 8];
        char group[16], tag[HSHM_TAG_LEN + 1];
        struct ms_order_result r;
        struct hshm_status st;
        uint64_t token;
        int64_t sent_ns;
        int err, out;

        snprintf(group, sizeof(group), "g%d", pos / 8);
        err = hshm_is_available(s, group, symbol);
        if (err != 1) {
                if (err < 0 && err != -EAGAIN)
                        return bot_error(t, "is_available", err);
                chaos_bump(err == 0 ? &t->busy : &t->again);
                return 0;
        }
        err = hshm_lock(s, group, symbol, &token);
        if (err == -EBUSY || err == -EAGAIN) {
                chaos_bump(err == -EBUSY ? &t->conflicts : &t->again);
                return 0;
        }
        if (err != 0)
                return bot_error(t, "lock", err);
        maybe_die(o, KILL_AFTER_LOCK, seed);
        err = hshm_tag_format(s, token, tag, sizeof(tag));
        if (err == HSHM_ESTALE) {
                chaos_bump(&t->lock_lost);
                return 0;
        }
        /* The protocol: no order under an expired lease (the syncer may judge the lock as an
         * orphan from the lease's end on), with the grace as the margin for the time between
         * this check and the send. A slot that cannot be read now is given up too: only the
         * syncer writes a HEDGING slot that is not its own. */
        if (err == 0)
                err = hshm_status_by_token(s, token, &st);
        if (err == -EAGAIN ||
            (err == 0 && hshm_lease_expired(&st, chaos_wall_ns() + BOT_GRACE_MS * INT64_C(1000000)))) {
                chaos_bump(err == 0 ? &t->lease_ran_out : &t->again);
                return give_up(o, s, t, token, 1, seed);
        }
        if (err != 0)
                return bot_error(t, "tag or status before the order", err);
        chaos_bump(&t->orders);
        out = ms_order(c, hedge, pos % 2, 0.1, 9000u + (unsigned)my_cell, tag, &r);
        /* after the call returned: never earlier than the send */
        sent_ns = chaos_wall_ns();
        if (out > 0)
                maybe_die(o, KILL_AFTER_SEND, seed);
        if (out == MS_REJECTED && ms_retcode_unknown(r.retcode))
                out = MS_UNKNOWN; /* a real terminal may have executed it */
        switch (out) {
        case MS_FILLED:
                chaos_bump(&t->fills);
                arm(o, "activate", KILL_IN_ACTIVATE, seed);
                err = hshm_activate(s, token, r.identifier, hedge);
                disarm();
                if (err == HSHM_ESTATE) {
                        /* The syncer adopted it (rule 3) or marked it first. */
                        chaos_bump(&t->acted_first);
                        return 0;
                }
                if (err == HSHM_ESTALE) {
                        chaos_bump(&t->lock_lost);
                        return 0;
                }
                return err == 0 ? 0 : bot_error(t, "activate", err);
        case MS_REJECTED:
                chaos_bump(&t->rejections);
                return give_up(o, s, t, token, 0, seed);
        case MS_UNKNOWN:
                chaos_bump(&t->unknown);
                return settle_unknown(o, s, t, token, sent_ns, seed);
        default:
                /* The request never left: nothing happened at the broker. */
                chaos_bump(&t->never_sent);
                return give_up(o, s, t, token, 0, seed);
        }
}

int chaos_bot(const struct chaos_opts *o, struct chaos_tally *t, int cell, unsigned seed)
{
        hshm_store *s;
        ms_conn *c;
        int err;

        tally = t;
        my_cell = cell;
        hsi_fault_hook = fault_hook;
        err = hshm_open(o->name, 0, &s);
        if (err != 0)
                return bot_error(t, "open", err) != 0;
        err = hshm_set_lease_ms(s, CHAOS_LEASE_MS);
        if (err != 0)
                return bot_error(t, "set_lease_ms", err) != 0;
        err = ms_connect(o->sock, &c);
        if (err != 0) {
                fprintf(stderr, "chaos: bot %d: cannot reach mt5sim: %s\n", cell, strerror(-err));
                chaos_bump(&t->bot_errors);
                return 1;
        }
        /* Short, so a lost reply costs a second, and the run sees many of them. */
        ms_set_timeout(c, 1000);
        while (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED)) {
                chaos_sleep_ms(2 + rand_r(&seed) % 10);
                if (hedge_once(o, s, c, t, &seed) != 0)
                        break;
        }
        ms_disconnect(c);
        hshm_close(s);
        return __atomic_load_n(&t->stop, __ATOMIC_RELAXED) ? 0 : 1;
}
