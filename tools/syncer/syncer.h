/*
 * One syncer cycle without the I/O: repair what dead processes left half-written
 * (hshm_repair, every cycle, degraded or not: a repair is local and asks nothing of the
 * broker), judge what was read (validate.c), reconcile it when it may be (reconcile.c), or
 * else only count the orphans (hr_scan), keep the counters, and fill the sync block the
 * segment publishes. main.c adds the source, the clock, the signals and the check that the
 * segment is still linked; tests drive this directly with snapshots built in memory.
 */
#ifndef HEDGE_SYNCER_SYNCER_H
#define HEDGE_SYNCER_SYNCER_H

#include <stdint.h>

#include "hedgeshm.h"
#include "reconcile.h"
#include "snapshot.h"
#include "validate.h"

/* Cycles without a pass recount the orphan gauges this often: a scan reads every slot (about
 * 5 ms at 100 000 slots), and snapshots, whose passes count them too, usually come faster. */
#define HR_GAUGE_PERIOD_NS INT64_C(1000000000)

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
        int64_t snapshot_time_ms;           /* its time: hr_snapshot_time_ms */
        int64_t started_ns;
        struct hr_result last; /* the last pass */
        int last_err;          /* hr_reconcile's return of the last pass */
        int repair_err;        /* hshm_repair's last failure, logged once until it changes */
        int scan_err;          /* the same for hr_scan */
        int64_t gauged_ns;     /* when the orphan gauges were last counted (pass or scan) */
};

/* counters may be NULL (start from zero). Returns 0 or -ENOMEM. */
int hr_syncer_init(struct hr_syncer *sy, hshm_store *store, const struct hr_syncer_config *cfg,
                   const struct hshm_sync_counters *counters, int64_t now_ns);
void hr_syncer_fini(struct hr_syncer *sy);

/* One cycle at local time now_ns: hshm_repair; judge ev (see hr_feed_judge) and, on HR_ACCEPT
 * only, reconcile snap, whose read began at local time read_ns (<= now_ns; used only with a
 * snapshot); without a pass, hr_scan for the orphan gauges, at most once a second
 * (HR_GAUGE_PERIOD_NS). Logs the feed's transitions (degraded, recovered), every rejection and
 * every repair. Returns the verdict. */
enum hr_verdict hr_syncer_step(struct hr_syncer *sy, enum hr_event ev,
                               const struct hf_snapshot *snap, const char *why, int64_t read_ns,
                               int64_t now_ns);

/* The sync block as of now_ns. */
void hr_syncer_block(const struct hr_syncer *sy, int64_t now_ns, struct hshm_sync *out);

#endif
