/*
 * Is the feed good enough to act on? A pure state machine, apart from the reconciliation it
 * gates: given what the last cycle left (the last valid sequence, when a new one last came,
 * whether we are degraded and why) and what this cycle read (a snapshot, a parse failure, a
 * missing file, nothing), decide whether this snapshot may be reconciled, and whether the
 * sync is degraded, since when and why. No I/O and no clock: now_ns is an argument, so every
 * transition is testable.
 *
 * The safe rule it exists for: while degraded the syncer changes nothing and flags nothing.
 * A stale, missing, rejected, disconnected or netting-account snapshot cannot prove that a
 * hedge closed, so resetting on it is how duplicate hedges are made.
 */
#ifndef HEDGE_SYNCER_VALIDATE_H
#define HEDGE_SYNCER_VALIDATE_H

#include <stdint.h>

#include "hedgeshm.h"
#include "snapshot.h"

/* What a cycle read. */
enum hr_event {
        HR_EV_NONE,       /* nothing new: the wait timed out, or the file did not change */
        HR_EV_SNAPSHOT,   /* a snapshot was read and parsed */
        HR_EV_BAD,        /* the file was read but did not parse (why says where) */
        HR_EV_MISSING,    /* no snapshot file */
        HR_EV_UNREADABLE, /* the file is there but could not be read (why says why) */
};

/* What the syncer does with it. */
enum hr_verdict {
        HR_ACCEPT,   /* valid, fresh, of a connected hedging account: reconcile it */
        HR_SAME,     /* the sequence of the last valid snapshot: seen already, nothing to do */
        HR_IDLE,     /* nothing was read */
        HR_UNUSABLE, /* valid, but the account cannot be reconciled now (degraded) */
        HR_REJECT,   /* not valid: counted, logged, the last valid state kept (degraded) */
        HR_ABSENT,   /* missing or unreadable file (degraded) */
};

struct hr_feed_config {
        int64_t stale_ns;    /* degraded after this long without a new sequence */
        int64_t max_skew_ns; /* largest |snapshot time - local time| accepted */
        int once;            /* --once: no history, so no sequence or staleness judgement */
};

struct hr_feed {
        struct hr_feed_config cfg;
        int have_valid;      /* a valid snapshot was seen; last_seq is its sequence */
        uint64_t last_seq;   /* sequence of the last valid snapshot */
        uint64_t login;      /* account of the first usable snapshot; 0 until then */
        int64_t last_new_ns; /* local time the last new valid sequence arrived */
        int64_t started_ns;
        int degraded;
        int64_t degraded_since_ns;
        char reason[HSHM_SYNC_REASON_MAX + 1]; /* why degraded (cut to fit the sync block) */
        char detail[256];                      /* the same, whole, for the log */
        uint64_t snapshots_ok;                 /* valid snapshots (usable or not) */
        uint64_t snapshots_rejected;           /* invalid snapshots and unparsable files */
};

/* Starts degraded ("no snapshot read yet") until the first usable snapshot. */
void hr_feed_init(struct hr_feed *f, const struct hr_feed_config *cfg, int64_t now_ns);

/*
 * Judge one cycle's input. snap is used only with HR_EV_SNAPSHOT, why only with HR_EV_BAD and
 * HR_EV_UNREADABLE (either may be NULL otherwise). Updates f (degraded state, counters, last
 * valid sequence) and returns the verdict; f->reason says why for anything but HR_ACCEPT,
 * HR_SAME and HR_IDLE (where it keeps the current degraded reason, if any).
 *
 * Validation of a snapshot, in order: format == HF_FORMAT; sequence not behind the last valid
 * one (equal is the same file: HR_SAME); |time - now| <= max_skew; the same account login as
 * the first usable snapshot. Then usability: logged in (login != 0), connected, hedging
 * account (margin_mode 2). Every other field's range is hf_parse's job.
 */
enum hr_verdict hr_feed_judge(struct hr_feed *f, enum hr_event ev, const struct hf_snapshot *snap,
                              const char *why, int64_t now_ns);

const char *hr_verdict_name(enum hr_verdict v);

#endif
