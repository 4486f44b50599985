/*
 * The syncer's cycle (see syncer.h). What it guarantees: hr_reconcile runs only on an
 * HR_ACCEPT verdict, so no reset, adoption, orphan release or ERROR ever comes from a degraded
 * feed (hr_scan, run otherwise, only counts); and the sync block's snapshot_seq and
 * snapshot_time_ms name only snapshots that were reconciled, after the pass, so a bot that
 * sees "snapshot time > my lock + grace, health OK" knows that the syncer has already acted on
 * a snapshot that new. That time is the one the pass judged by (hr_snapshot_time_ms): never
 * later than when the syncer read the snapshot, whatever the terminal's clock says.
 */
#include "syncer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define NS_PER_MS INT64_C(1000000)

int hr_syncer_init(struct hr_syncer *sy, hshm_store *store, const struct hr_syncer_config *cfg,
                   const struct hshm_sync_counters *counters, int64_t now_ns)
{
        struct hr_feed_config fcfg = {
            .stale_ns = cfg->stale_ns, .max_skew_ns = cfg->max_skew_ns, .once = cfg->once};

        memset(sy, 0, sizeof(*sy));
        sy->store = store;
        sy->cfg = *cfg;
        sy->started_ns = now_ns;
        sy->rcfg.grace_ns = cfg->grace_ns;
        sy->rcfg.state = hr_state_new();
        if (sy->rcfg.state == NULL)
                return -ENOMEM;
        if (counters != NULL)
                sy->counters = *counters;
        hr_feed_init(&sy->feed, &fcfg, now_ns);
        return 0;
}

void hr_syncer_fini(struct hr_syncer *sy)
{
        hr_state_free(sy->rcfg.state);
        sy->rcfg.state = NULL;
}

static void add_result(struct hshm_sync_counters *c, const struct hr_result *r)
{
        c->resets_closed += r->resets_closed;
        c->adoptions += r->adoptions;
        c->duplicates += r->duplicates;
        c->tag_warnings += r->tag_warnings;
        c->errors_marked += r->errors_marked;
        c->orphans_released += r->orphans_released;
        c->orphans_adopted += r->orphans_adopted;
}

/* Every cycle, degraded or not: completing a dead writer's slot or freeing a dead process's
 * entry needs no broker, and leaving them would block readers or fill the process table. */
static void repair(struct hr_syncer *sy)
{
        int n = hshm_repair(sy->store);
        struct hshm_stats st;

        if (n < 0) {
                if (n != sy->repair_err)
                        hr_log(HR_LOG_ERR, "repairing what dead processes left: %s (%s)",
                               hshm_strerror(n), hshm_last_detail());
                sy->repair_err = n;
                return;
        }
        sy->repair_err = 0;
        if (n == 0)
                return;
        sy->counters.repairs += (uint64_t)n;
        if (hshm_stats(sy->store, &st) == 0)
                hr_log(HR_LOG_NOTICE,
                       "repaired %d thing(s) dead processes left behind (segment totals: %" PRIu64
                       " interrupted writes, %" PRIu64 " half-inserted keys, %" PRIu64
                       " process entries swept)",
                       n, st.writer_repairs, st.insert_repairs, st.procs_swept);
        else
                hr_log(HR_LOG_NOTICE, "repaired %d thing(s) dead processes left behind", n);
}

/* No pass this cycle: the orphan gauges are counted without acting, once a gauge period. */
static void scan(struct hr_syncer *sy, int64_t now_ns)
{
        struct hr_result r;
        int err;

        if (sy->gauged_ns != 0 && now_ns - sy->gauged_ns < HR_GAUGE_PERIOD_NS)
                return;
        sy->gauged_ns = now_ns;
        err = hr_scan(sy->store, &sy->rcfg, now_ns, &r);
        if (err != 0) {
                if (err != sy->scan_err)
                        hr_log(HR_LOG_ERR, "counting orphaned locks: %s (%s)", hshm_strerror(err),
                               hshm_last_detail());
                sy->scan_err = err;
                return;
        }
        sy->scan_err = 0;
        sy->counters.orphans_waiting = r.orphans_waiting;
        sy->counters.leases_expired = r.leases_expired;
}

static void reconcile(struct hr_syncer *sy, const struct hf_snapshot *snap, int64_t read_ns,
                      int64_t now_ns)
{
        struct hr_result *r = &sy->last;

        if (read_ns > now_ns)
                read_ns = now_ns; /* as the pass takes it: a read cannot come after it */
        sy->last_err = hr_reconcile_read(sy->store, snap, read_ns, &sy->rcfg, now_ns, r);
        add_result(&sy->counters, r);
        if (sy->last_err != 0) {
                hr_log(HR_LOG_ERR, "reconcile of snapshot %" PRIu64 " stopped: %s (%s)", snap->seq,
                       hshm_strerror(sy->last_err), hshm_last_detail());
                sy->gauged_ns = 0; /* a pass cut short counted only some orphans: scan now */
                return;            /* not published as reconciled: bots must not rely on it */
        }
        sy->snapshot_seq = snap->seq;
        sy->snapshot_time_ms = hr_snapshot_time_ms(snap, read_ns);
        /* Gauges: what the pass left, not a sum. */
        sy->counters.orphans_waiting = r->orphans_waiting;
        sy->counters.leases_expired = r->leases_expired;
        sy->gauged_ns = now_ns;
        hr_log(HR_LOG_DEBUG,
               "snapshot %" PRIu64 ": %" PRIu32 " slots, %" PRIu32 " hedges (%" PRIu32
               " tagged): %" PRIu32 " reset, %" PRIu32 " adopted, %" PRIu32 " duplicate, %" PRIu32
               " orphans released, %" PRIu32 " waiting, %" PRIu32 " raced, %" PRIu32 " failed",
               snap->seq, r->slots, r->hedges, r->tagged, r->resets_closed, r->adoptions,
               r->duplicates, r->orphans_released, r->waiting, r->raced, r->failed);
}

enum hr_verdict hr_syncer_step(struct hr_syncer *sy, enum hr_event ev,
                               const struct hf_snapshot *snap, const char *why, int64_t read_ns,
                               int64_t now_ns)
{
        uint64_t ok = sy->feed.snapshots_ok, rejected = sy->feed.snapshots_rejected;
        int was_degraded = sy->feed.degraded;
        int64_t since = sy->feed.degraded_since_ns;
        char was[sizeof(sy->feed.detail)];
        enum hr_verdict v;

        repair(sy);
        memcpy(was, sy->feed.detail, sizeof(was));
        v = hr_feed_judge(&sy->feed, ev, snap, why, now_ns);
        sy->counters.cycles++;
        sy->counters.snapshots_ok += sy->feed.snapshots_ok - ok;
        sy->counters.snapshots_rejected += sy->feed.snapshots_rejected - rejected;
        if (v == HR_REJECT)
                hr_log(HR_LOG_WARNING, "%s", sy->feed.detail);
        if (sy->feed.degraded && !was_degraded)
                hr_log(HR_LOG_WARNING,
                       "sync DEGRADED: %s; no resets, adoptions or ERRORs until a fresh snapshot",
                       sy->feed.detail);
        else if (sy->feed.degraded && v != HR_REJECT && strcmp(was, sy->feed.detail) != 0)
                hr_log(HR_LOG_WARNING, "sync still degraded: %s", sy->feed.detail);
        if (!sy->feed.degraded && was_degraded && sy->snapshot_seq == 0)
                hr_log(HR_LOG_NOTICE, "sync OK: first snapshot (seq %" PRIu64 ") accepted",
                       snap->seq);
        else if (!sy->feed.degraded && was_degraded)
                hr_log(HR_LOG_NOTICE,
                       "sync OK: snapshot %" PRIu64 " accepted after %" PRId64 " ms degraded (%s)",
                       snap->seq, (now_ns - since) / NS_PER_MS, was);
        if (v == HR_ACCEPT)
                reconcile(sy, snap, read_ns, now_ns);
        if (v != HR_ACCEPT || sy->last_err != 0)
                scan(sy, now_ns);
        return v;
}

void hr_syncer_block(const struct hr_syncer *sy, int64_t now_ns, struct hshm_sync *out)
{
        memset(out, 0, sizeof(*out));
        out->pid = (int32_t)getpid();
        out->interval_ms = sy->cfg.interval_ms;
        out->grace_ms = (uint32_t)(sy->cfg.grace_ns / 1000000);
        out->started_ns = sy->started_ns;
        out->heartbeat_ns = now_ns;
        out->snapshot_seq = sy->snapshot_seq;
        out->snapshot_time_ms = sy->snapshot_time_ms;
        out->degraded = sy->feed.degraded;
        out->degraded_since_ns = sy->feed.degraded ? sy->feed.degraded_since_ns : 0;
        snprintf(out->degraded_reason, sizeof(out->degraded_reason), "%s",
                 sy->feed.degraded ? sy->feed.reason : "");
        out->counters = sy->counters;
}
