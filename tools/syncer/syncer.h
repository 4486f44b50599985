/*
 * One syncer cycle without the I/O: judge what was read (validate.c), reconcile it when it
 * may be (reconcile.c), keep the counters, and fill the sync block the segment publishes.
 * main.c adds the source, the clock and the signals; tests drive this directly with snapshots
 * built in memory.
 */
#ifndef HEDGE_SYNCER_SYNCER_H
#define HEDGE_SYNCER_SYNCER_H

#include <stdint.h>

#include "hedgeshm.h"
#include "reconcile.h"
#include "snapshot.h"
#include "validate.h"

struct hr_syncer_config {
        uint32_t interval_ms;
        int64_t stale_ns, grace_ns, max_skew_ns;
        int once;
};

struct hr_syncer {
        hshm_store *store;
        struct hr_syncer_config cfg;
        struct hr_config rcfg;
        struct hr_feed feed;
        struct hshm_sync_counters counters; /* cumulative, continued from the last syncer */
        uint64_t snapshot_seq;              /* last reconciled snapshot */
        int64_t snapshot_time_ms;
        int64_t started_ns;
        struct hr_result last; /* the last pass */
        int last_err;          /* hr_reconcile's return of the last pass */
};

/* counters may be NULL (start from zero). Returns 0 or -ENOMEM. */
int hr_syncer_init(struct hr_syncer *sy, hshm_store *store, const struct hr_syncer_config *cfg,
                   const struct hshm_sync_counters *counters, int64_t now_ns);
void hr_syncer_fini(struct hr_syncer *sy);

/* One cycle: judge ev (see hr_feed_judge) and, on HR_ACCEPT only, reconcile snap. Logs the
 * feed's transitions (degraded, recovered) and every rejection. Returns the verdict. */
enum hr_verdict hr_syncer_step(struct hr_syncer *sy, enum hr_event ev,
                               const struct hf_snapshot *snap, const char *why, int64_t now_ns);

/* The sync block as of now_ns. */
void hr_syncer_block(const struct hr_syncer *sy, int64_t now_ns, struct hshm_sync *out);

#endif
