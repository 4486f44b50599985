/*
 * The reconcile engine: one pass of the segment against one accepted snapshot, applying the
 * rules of docs/reconcile.md (condition -> action -> counter -> test). Only validate.c decides
 * whether a snapshot may be reconciled; this file assumes it may.
 *
 * A pass reads every used slot once (hshm_slot_status) and every position and order once,
 * with process-local hash maps built for the pass (identifier -> present / tagged hedge,
 * slot -> tagged hedges), so it costs O(slots + positions + orders). Every action is one of the
 * library's fenced transitions, taken with the token read in the same pass: when a bot changes
 * the slot first, the action is refused (HSHM_ESTALE, -EBUSY, ...) and the slot is looked at
 * again on the next snapshot, never forced.
 *
 * Orphans (rule 7): a HEDGING slot whose owner died, or whose lease ran out, is released only
 * by a pass, that is on a fresh snapshot taken past the lock plus grace that shows nothing
 * with the lock's tag. Between passes (degraded feed, no new snapshot) hr_scan only counts
 * them, so a stale feed never releases anything.
 */
#ifndef HEDGE_SYNCER_RECONCILE_H
#define HEDGE_SYNCER_RECONCILE_H

#include <stdint.h>

#include "hedgeshm.h"
#include "snapshot.h"

/* Memory kept from pass to pass: buffers (a pass at a million positions should not fault in
 * fresh pages every time), each hedge's tag parse (redone only when its comment changes),
 * and the tags already warned about, so a bad tag that stays open is logged and counted
 * once, not once per snapshot. The syncer keeps one for its life. */
struct hr_state;

struct hr_state *hr_state_new(void);
void hr_state_free(struct hr_state *st);

struct hr_config {
        int64_t grace_ns; /* how long a fresh lock or activation is left to its bot */
        /* May be NULL: scratch buffers per pass, every warning counted, and every dead owner
         * seen for the first time, so its orphan waits for its lease to run out (rule 7). */
        struct hr_state *state;
};

/* What one pass (or scan) found and did. */
struct hr_result {
        uint32_t slots;            /* used slots examined */
        uint32_t hedges;           /* positions and opening orders in the snapshot */
        uint32_t tagged;           /* of those, carrying a tag that named a slot here */
        uint32_t resets_closed;    /* rule 1 */
        uint32_t adoptions;        /* rules 2 and 3 (rule 7's adoptions included) */
        uint32_t duplicates;       /* rule 4 */
        uint32_t tag_warnings;     /* rule 5: new unparsable, unresolvable or impossible tags */
        uint32_t errors_marked;    /* slots marked ERROR (rule 4 is the only cause) */
        uint32_t waiting;          /* decisions left for a later snapshot (within grace) */
        uint32_t raced;            /* a bot changed the slot first: looked at again next pass */
        uint32_t failed;           /* actions or slot reads that failed otherwise (logged) */
        uint32_t orphans_released; /* rule 7: no hedge with the lock's tag at the broker */
        uint32_t orphans_adopted;  /* rule 7: the lock's hedge was at the broker (rule 3) */
        uint32_t orphans_waiting;  /* orphans still HEDGING after this pass or scan */
        uint32_t leases_expired;   /* of the HEDGING slots left, live or detached owners past
                                    * their lease */
};

/*
 * One pass over snap, which the syncer began to read at local time read_ns, at local time now_ns
 * (both CLOCK_REALTIME, read_ns <= now_ns). Every "taken more than grace after t" of the rules
 * uses the snapshot's time: the earlier of its time_ms (the terminal's clock) and read_ns, as
 * hr_snapshot_time_ms publishes it, so a terminal clock running ahead of ours never makes a
 * snapshot look newer than it is. Returns 0, or -ENOMEM, or the library's error when the
 * segment's shape cannot be read (HSHM_ECORRUPT); a slot that cannot be read or changed is
 * counted in res and logged, and the pass goes on.
 */
int hr_reconcile_read(hshm_store *s, const struct hf_snapshot *snap, int64_t read_ns,
                      const struct hr_config *cfg, int64_t now_ns, struct hr_result *res);

/* hr_reconcile_read of a snapshot read at now_ns: one built in memory (tests, benchmarks). */
int hr_reconcile(hshm_store *s, const struct hf_snapshot *snap, const struct hr_config *cfg,
                 int64_t now_ns, struct hr_result *res);

/* The snapshot's time in ms: the earlier of its time_ms and read_ns (the local time the syncer
 * began to read it). What the sync block publishes as snapshot_time_ms, and never later than
 * the time the pass judged it by, so a bot that sees it past lock + grace knows that the pass
 * saw it so too. */
int64_t hr_snapshot_time_ms(const struct hf_snapshot *snap, int64_t read_ns);

/*
 * No snapshot to act on (degraded, or nothing new): count the orphans and the expired leases
 * at local time now_ns, into res (zeroed first), and log each orphan the first time it is
 * seen. Changes nothing. Returns 0, -ENOMEM, HSHM_ECORRUPT.
 */
int hr_scan(hshm_store *s, const struct hr_config *cfg, int64_t now_ns, struct hr_result *res);

#endif
