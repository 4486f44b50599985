/*
 * Rule 7's bookkeeping (docs/reconcile.md): which HEDGING locks are orphans, since when the
 * syncer has known each owner dead, and the gauges. reconcile.c decides what to do with an
 * orphan (release, adopt, wait); this file only judges the lock and keeps the memory from one
 * pass or scan to the next.
 *
 * An orphan is a HEDGING lock whose owner is dead, or whose lease ran out (whatever its owner).
 * Before it may be released, the broker must have been seen after the lock could last have
 * placed an order: the lease's end (a bot must not send an order after it), or, for a dead
 * owner, the moment the syncer first saw it dead if that is earlier. A bot that died long
 * after its lock may have sent its order just before dying; a snapshot taken only "lock +
 * grace" after the lock may predate that order. The first sighting is remembered here, by
 * lock token, for as long as the orphan stays HEDGING.
 */
#ifndef HEDGE_SYNCER_ORPHAN_H
#define HEDGE_SYNCER_ORPHAN_H

#include <stddef.h>
#include <stdint.h>

#include "hedgeshm.h"

struct hr_result;

/* One remembered orphan. */
struct ho_seen {
        uint64_t token;
        int64_t dead_seen_ns; /* local time the owner was first seen dead; 0: not seen dead */
};

/*
 * The orphans of the last round (a pass or a scan) and of this one. Slots are judged in slot
 * order and a token starts with its slot number, so each round's array is sorted by token and
 * the last round's is searched by bisection: no hash map for what is usually a handful.
 */
struct ho_memory {
        struct ho_seen *v[2];
        size_t n[2], cap[2];
        int last; /* index of the last round's array */
};

/* Rule 7's view of a HEDGING slot's lock at one moment. */
struct ho_lock {
        int liveness;         /* enum hshm_liveness, or a negative error (then logged) */
        int expired;          /* the lease ran out */
        int orphan;           /* the owner is dead, or the lease ran out */
        int64_t dead_seen_ns; /* as in struct ho_seen */
        int64_t quiet_ns;     /* orphans: when it could last have sent an order (see the top) */
};

void ho_memory_free(struct ho_memory *m);

/* Start a round: this round's array is emptied. */
void ho_round_begin(struct ho_memory *m);

/* Judge st's lock (st must be HEDGING) at local time now_ns into *out. */
void ho_judge(const struct ho_memory *m, hshm_store *s, const struct hshm_status *st,
              int64_t now_ns, struct ho_lock *out);

/*
 * An orphan that stays HEDGING after this round: remembered, counted in res's gauges
 * (orphans_waiting, and leases_expired unless the owner is dead), and logged at warning level
 * the first round it is seen, with waiting_for saying what it waits for.
 */
void ho_keep(struct ho_memory *m, const struct hshm_status *st, const struct ho_lock *l,
             int64_t now_ns, const char *waiting_for, struct hr_result *res);

/* End the round: what it kept becomes the last round's. */
void ho_round_end(struct ho_memory *m);

/* "owner pid N dead", "owner pid N alive, lease ran out 12 ms ago", "detached lock of pid N,
 * ...": who held the lock, for the log. */
void ho_describe(const struct hshm_status *st, const struct ho_lock *l, int64_t now_ns, char *buf,
                 size_t len);

#endif
