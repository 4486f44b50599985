/*
 * The feed's state machine (see validate.h):
 *
 *                    usable snapshot with a new sequence
 *     DEGRADED  ------------------------------------------->  OK
 *     (since, why)  <-------------------------------------
 *                    rejected, missing, unreadable or unusable snapshot,
 *                    or no new sequence for stale_ns
 *
 * degraded_since is the start of the current degraded period; the reason is the latest cause,
 * except that staleness never hides a more specific one (a file that went missing is also,
 * a while later, stale: "missing" says more).
 */
#include "validate.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_MS INT64_C(1000000)

/* The sync block's reason field is short; the log gets the whole text. */
static void cut_copy(char *dst, size_t size, const char *src)
{
        size_t n = strnlen(src, size - 1);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

void hr_feed_init(struct hr_feed *f, const struct hr_feed_config *cfg, int64_t now_ns)
{
        memset(f, 0, sizeof(*f));
        f->cfg = *cfg;
        f->started_ns = now_ns;
        f->degraded = 1;
        f->degraded_since_ns = now_ns;
        snprintf(f->detail, sizeof(f->detail), "no snapshot read yet");
        cut_copy(f->reason, sizeof(f->reason), f->detail);
}

static void degrade(struct hr_feed *f, int64_t now_ns, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void degrade(struct hr_feed *f, int64_t now_ns, const char *fmt, ...)
{
        va_list ap;

        if (!f->degraded) {
                f->degraded = 1;
                f->degraded_since_ns = now_ns;
        }
        va_start(ap, fmt);
        vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
        va_end(ap);
        cut_copy(f->reason, sizeof(f->reason), f->detail);
}

/* Nothing new this cycle: degraded once the last new sequence is older than stale_ns. */
static void check_stale(struct hr_feed *f, int64_t now_ns)
{
        int64_t since = f->have_valid ? f->last_new_ns : f->started_ns;

        if (f->cfg.once || f->degraded || now_ns - since <= f->cfg.stale_ns)
                return;
        degrade(f, now_ns, "stale: no new snapshot for %" PRId64 " ms (last seq %" PRIu64 ")",
                (now_ns - since) / NS_PER_MS, f->last_seq);
}

static enum hr_verdict reject(struct hr_feed *f, int64_t now_ns, const char *what,
                              const char *detail)
{
        f->snapshots_rejected++;
        degrade(f, now_ns, "rejected %s: %s", what, detail);
        return HR_REJECT;
}

static enum hr_verdict judge_snapshot(struct hr_feed *f, const struct hf_snapshot *snap,
                                      int64_t now_ns)
{
        int64_t skew_ns = snap->time_ms * NS_PER_MS - now_ns;
        char detail[128];

        if (snap->format != HF_FORMAT) {
                snprintf(detail, sizeof(detail), "format %" PRIu32 ", this syncer reads %d",
                         snap->format, HF_FORMAT);
                return reject(f, now_ns, "snapshot", detail);
        }
        if (f->have_valid && !f->cfg.once && snap->seq < f->last_seq) {
                snprintf(detail, sizeof(detail), "sequence went back to %" PRIu64 " from %" PRIu64,
                         snap->seq, f->last_seq);
                return reject(f, now_ns, "snapshot", detail);
        }
        if (f->have_valid && !f->cfg.once && snap->seq == f->last_seq) {
                check_stale(f, now_ns);
                return HR_SAME;
        }
        if (skew_ns > f->cfg.max_skew_ns || -skew_ns > f->cfg.max_skew_ns) {
                snprintf(detail, sizeof(detail), "clock skew: time %" PRId64 " ms %s local clock",
                         (skew_ns < 0 ? -skew_ns : skew_ns) / NS_PER_MS,
                         skew_ns < 0 ? "behind" : "ahead of");
                return reject(f, now_ns, "snapshot", detail);
        }
        if (f->login != 0 && snap->login != 0 && snap->login != f->login) {
                snprintf(detail, sizeof(detail),
                         "account %" PRIu64 ", this syncer follows %" PRIu64, snap->login,
                         f->login);
                return reject(f, now_ns, "snapshot", detail);
        }

        /* Valid: the sequence moved on, so the feed is alive, usable or not. */
        f->snapshots_ok++;
        f->have_valid = 1;
        f->last_seq = snap->seq;
        f->last_new_ns = now_ns;
        if (snap->login == 0) {
                degrade(f, now_ns, "terminal not logged in to an account");
                return HR_UNUSABLE;
        }
        if (!snap->connected) {
                degrade(f, now_ns, "terminal disconnected from the trade server");
                return HR_UNUSABLE;
        }
        if (snap->margin_mode != 2) {
                degrade(f, now_ns, "not a hedging account (margin mode %d): refusing to act",
                        snap->margin_mode);
                return HR_UNUSABLE;
        }
        f->login = snap->login;
        f->degraded = 0;
        f->degraded_since_ns = 0;
        f->reason[0] = f->detail[0] = '\0';
        return HR_ACCEPT;
}

enum hr_verdict hr_feed_judge(struct hr_feed *f, enum hr_event ev, const struct hf_snapshot *snap,
                              const char *why, int64_t now_ns)
{
        switch (ev) {
        case HR_EV_SNAPSHOT:
                return judge_snapshot(f, snap, now_ns);
        case HR_EV_BAD:
                return reject(f, now_ns, "file", why ? why : "does not parse");
        case HR_EV_MISSING:
                degrade(f, now_ns, "snapshot file missing");
                return HR_ABSENT;
        case HR_EV_UNREADABLE:
                degrade(f, now_ns, "snapshot file unreadable: %s", why ? why : "?");
                return HR_ABSENT;
        case HR_EV_NONE:
        default:
                check_stale(f, now_ns);
                return HR_IDLE;
        }
}

const char *hr_verdict_name(enum hr_verdict v)
{
        switch (v) {
        case HR_ACCEPT:
                return "accept";
        case HR_SAME:
                return "same";
        case HR_IDLE:
                return "idle";
        case HR_UNUSABLE:
                return "unusable";
        case HR_REJECT:
                return "reject";
        case HR_ABSENT:
                return "absent";
        }
        return "?";
}
