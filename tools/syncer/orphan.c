/*
 * Rule 7's bookkeeping (see orphan.h): judging a HEDGING lock, remembering when its owner was
 * first seen dead, the orphan gauges, and the first-sighting log line. No action is taken
 * here; reconcile.c releases or adopts, and only on a fresh snapshot.
 */
#include "orphan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "reconcile.h"

#define NS_PER_MS INT64_C(1000000)

void ho_memory_free(struct ho_memory *m)
{
        free(m->v[0]);
        free(m->v[1]);
}

void ho_round_begin(struct ho_memory *m)
{
        m->n[!m->last] = 0;
}

void ho_round_end(struct ho_memory *m)
{
        m->last = !m->last;
}

/* The last round's entry for token, by bisection (each round's array is sorted). */
static const struct ho_seen *seen_before(const struct ho_memory *m, uint64_t token)
{
        const struct ho_seen *v = m->v[m->last];
        size_t lo = 0, hi = m->n[m->last];

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (v[mid].token == token)
                        return &v[mid];
                if (v[mid].token < token)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

void ho_judge(const struct ho_memory *m, hshm_store *s, const struct hshm_status *st,
              int64_t now_ns, struct ho_lock *out)
{
        const struct ho_seen *before = seen_before(m, st->token);

        out->liveness = hshm_owner_liveness(s, st);
        out->expired = hshm_lease_expired(st, now_ns) == 1;
        out->dead_seen_ns = before != NULL ? before->dead_seen_ns : 0;
        if (out->liveness == HSHM_OWNER_DEAD && out->dead_seen_ns == 0)
                out->dead_seen_ns = now_ns;
        /* "Dead" is never wrong (liveness.c), so an owner once seen dead stays an orphan even
         * if its process-table entry was taken over since. */
        out->orphan = out->dead_seen_ns != 0 || out->expired;
        out->quiet_ns = 0;
        if (!out->orphan)
                return;
        /* A bot may send its order up to the end of its lease, and a dead one no later than
         * its death, which came before we first saw it. The lock itself bounds both. */
        if (out->expired)
                out->quiet_ns = st->lease_deadline_ns;
        if (out->dead_seen_ns != 0 && (out->quiet_ns == 0 || out->dead_seen_ns < out->quiet_ns))
                out->quiet_ns = out->dead_seen_ns;
        if (out->quiet_ns < st->lock_ns)
                out->quiet_ns = st->lock_ns;
}

void ho_describe(const struct hshm_status *st, const struct ho_lock *l, int64_t now_ns, char *buf,
                 size_t len)
{
        int n;

        if (l->liveness == HSHM_OWNER_DETACHED && st->owner.pid == 0)
                n = snprintf(buf, len, "lock without owner (its locker died mid-lock; repaired)");
        else if (l->liveness == HSHM_OWNER_DETACHED)
                n = snprintf(buf, len, "detached lock of pid %" PRId32, st->owner.pid);
        else if (l->dead_seen_ns != 0)
                n = snprintf(buf, len, "owner pid %" PRId32 " dead", st->owner.pid);
        else if (l->liveness == HSHM_OWNER_ALIVE)
                n = snprintf(buf, len, "owner pid %" PRId32 " alive", st->owner.pid);
        else
                n = snprintf(buf, len, "owner pid %" PRId32 " of unknown liveness (%s)",
                             st->owner.pid, hshm_strerror(l->liveness));
        if (l->expired && n >= 0 && (size_t)n < len)
                snprintf(buf + n, len - (size_t)n, ", lease ran out %" PRId64 " ms ago",
                         (now_ns - st->lease_deadline_ns) / NS_PER_MS);
}

void ho_keep(struct ho_memory *m, const struct hshm_status *st, const struct ho_lock *l,
             int64_t now_ns, const char *waiting_for, struct hr_result *res)
{
        int cur = !m->last;
        char who[128];

        res->orphans_waiting++;
        if (l->dead_seen_ns == 0)
                res->leases_expired++;
        if (m->n[cur] == m->cap[cur]) {
                size_t cap = m->cap[cur] ? 2 * m->cap[cur] : 16;
                struct ho_seen *v = realloc(m->v[cur], cap * sizeof(*v));

                /* Without room the orphan is forgotten: it is logged again next round, and
                 * its death counts from a later sighting, which only makes it wait longer. */
                if (v == NULL)
                        return;
                m->v[cur] = v;
                m->cap[cur] = cap;
        }
        m->v[cur][m->n[cur]++] = (struct ho_seen){st->token, l->dead_seen_ns};
        if (seen_before(m, st->token) != NULL)
                return; /* said already */
        ho_describe(st, l, now_ns, who, sizeof(who));
        hr_log(HR_LOG_WARNING,
               "%s %s/%s (slot %" PRIu32 "): %s, HEDGING for %" PRId64
               " ms; held until %s [rule 7]",
               l->dead_seen_ns != 0 ? "orphaned lock" : "lease expired", st->group, st->symbol,
               st->slot, who, (now_ns - st->lock_ns) / NS_PER_MS, waiting_for);
}
