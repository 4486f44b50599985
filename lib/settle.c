/*
 * Settling a lock whose order's outcome is unknown. The bot cannot tell whether its hedge
 * opened; the broker can. The syncer publishes the time of every snapshot it reconciled
 * (never later than when it read it), and every pass adopts a HEDGING slot whose tagged
 * order the snapshot shows (rule 3 of docs/reconcile.md). So once a reconciled snapshot is
 * more than grace newer than the order's send, and grace covers the terminal's lag (A1 in
 * docs/model.md), a slot still HEDGING under the lock means the order is not at the broker
 * and never will be: releasing it loses nothing.
 *
 * The reference is the send, not the lock. A bot slow between its lock and its send, with a
 * snapshot past lock + grace that predates its order, would release a lock whose order
 * fills afterwards, and the position would be hedged twice (spin found that trace:
 * docs/model.md, Findings 1).
 */
#include <errno.h>
#include <time.h>

#include "internal.h"

#define NS_PER_MS 1000000
#define NS_PER_S  INT64_C(1000000000)

static int adopted_or_moved_on(const struct hshm_status *st, uint64_t token)
{
        uint64_t lock_gen = token & W_GEN_MAX;

        return st->state == HSHM_ACTIVE && st->generation == lock_gen + 1 ? HSHM_SETTLED_ADOPTED
                                                                          : HSHM_SETTLED_MOVED_ON;
}

/* The precise clock: the coarse one lags a tick behind the syncer's snapshot times. */
static int64_t realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* The lock as it is now: token valid, and still HEDGING under it (1) or not (0). */
static int read_lock(hshm_store *s, uint64_t token, int64_t sent_ns, struct hshm_status *st)
{
        int err = hshm_status_by_token(s, token, st);

        if (err != 0)
                return err;
        if (st->state != HSHM_HEDGING || st->generation != (token & W_GEN_MAX))
                return 0;
        /* lock_ns is the coarse clock, never ahead of the precise one: a send time before
         * it was read from another clock. */
        if (sent_ns < st->lock_ns)
                return hsi_fail(-EINVAL,
                                "send time %lld ns is before the lock at %lld ns: pass "
                                "CLOCK_REALTIME read after the order call returned",
                                (long long)sent_ns, (long long)st->lock_ns);
        return 1;
}

int hshm_settle_unknown(hshm_store *s, uint64_t token, int64_t sent_ns, uint32_t grace_ms)
{
        int64_t now_ns = realtime_ns(), sent_ms, wait_ms;
        struct hshm_sync sync;
        struct hshm_status st;
        int err;

        if (sent_ns <= 0 || sent_ns > now_ns + NS_PER_S)
                return hsi_fail(-EINVAL,
                                "send time %lld ns is not a past CLOCK_REALTIME time (now %lld)",
                                (long long)sent_ns, (long long)now_ns);
        /* A lock already judged needs no snapshot: nothing can give it back to the bot. */
        if ((err = read_lock(s, token, sent_ns, &st)) <= 0)
                return err < 0 ? err : adopted_or_moved_on(&st, token);
        if ((err = hshm_sync_read(s, &sync)) != 0)
                return err;
        if (sync.health != HSHM_SYNC_OK)
                return hsi_fail(-EAGAIN,
                                "the syncer is %s: nothing is reconciled, so the outcome is not "
                                "known yet; the lock stays HEDGING, call again later",
                                sync.health == HSHM_SYNC_DEGRADED ? "degraded" : "absent");
        /* The syncer publishes no snapshot time later than its read of it: one from the
         * future is a clock stepped back or a scribble, and decides nothing. */
        if (sync.snapshot_time_ms > now_ns / NS_PER_MS)
                return hsi_fail(-EAGAIN,
                                "the syncer's snapshot time %lld ms is in the future: waiting "
                                "for one this host's clock has reached",
                                (long long)sync.snapshot_time_ms);
        /* Rounded up, and compared in ms: no sum here can overflow. */
        sent_ms = sent_ns / NS_PER_MS + (sent_ns % NS_PER_MS != 0);
        wait_ms = grace_ms > sync.grace_ms ? grace_ms : sync.grace_ms;
        if (sync.snapshot_time_ms <= sent_ms + wait_ms)
                return hsi_fail(-EAGAIN,
                                "no reconciled snapshot more than %lld ms newer than the send "
                                "yet; the lock stays HEDGING, call again later",
                                (long long)wait_ms);
        /* The slot again, after the block: at least as new as the pass that published it. */
        hsi_rmb();
        if ((err = read_lock(s, token, sent_ns, &st)) <= 0)
                return err < 0 ? err : adopted_or_moved_on(&st, token);
        err = hshm_release(s, token);
        if (err == 0)
                return HSHM_SETTLED_RELEASED;
        if (err != HSHM_ESTATE && err != HSHM_ESTALE)
                return err;
        /* The syncer acted between our read and the release: see what it decided. */
        if ((err = hshm_status_by_token(s, token, &st)) != 0)
                return err;
        return adopted_or_moved_on(&st, token);
}
