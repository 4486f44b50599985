/*
 * The chaos test's checks, all made from the broker's side (mt5sim's positions and ledger)
 * against the segment:
 *
 *   (1) no tag key ever had two hedges open at once (the ledger's duplicates and every key's
 *       max_open), and the syncer never found a duplicate (its duplicates counter);
 *   (2) every open hedge is tracked: the slot its tag names is ACTIVE with that hedge's
 *       identifier as ticket, or ERROR;
 *   (3) no slot is HEDGING once the syncer had lease + grace + two intervals on a healthy
 *       feed after the last bot stopped;
 *   (5) no slot stays ACTIVE for a hedge that closed (rule 1 resets it).
 * (4), the figures, is main.c's.
 *
 * (2) runs during the chaos too, where a hedge may rightly be untracked for a while: a bot
 * between its fill and its activation, an orphan waiting for the syncer, a stalled feed. So
 * a hedge is held to (2) only once the syncer has published a pass over a snapshot taken
 * more than grace + two intervals after the hedge opened and after the slot's last change:
 * that pass saw the hedge and had to adopt it or mark the slot (rules 2, 3, 4). To be sure
 * the hedge was still open when its slot was read, the positions are read again after the
 * slot: positions never reopen, so a hedge open before and after the slot read was open
 * during it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"

#define NS_PER_MS 1000000

void chaos_violation(struct chaos_audit *a, const char *fmt, ...)
{
        va_list ap;

        fprintf(stdout, "chaos: VIOLATION ");
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        a->violations++;
}

static int tracks(const struct hshm_status *st, const struct ms_position *p)
{
        return st->state == HSHM_ERROR || (st->state == HSHM_ACTIVE && st->ticket == p->identifier);
}

static int still_open(const struct ms_position *list, size_t n, uint64_t identifier)
{
        for (size_t i = 0; i < n; i++)
                if (list[i].identifier == identifier)
                        return 1;
        return 0;
}

static int64_t max64(int64_t a, int64_t b)
{
        return a > b ? a : b;
}

/* The time after which a pass over a snapshot must have seen hedge p with the slot as st. */
static int64_t due_ms(const struct ms_position *p, const struct hshm_status *st)
{
        int64_t last = max64(p->time_msc, st->lock_ns / NS_PER_MS);

        last = max64(last, max64(st->activate_ns / NS_PER_MS, st->changed_ns / NS_PER_MS));
        return last + CHAOS_GRACE_MS + 2 * CHAOS_INTERVAL_MS;
}

struct suspect {
        struct ms_position p;
        struct hshm_status st;
        int resolved; /* 0: the tag named no slot here */
};

static void describe(struct chaos_audit *a, const struct suspect *x, const char *when)
{
        const struct hshm_status *st = &x->st;

        if (!x->resolved) {
                chaos_violation(a, "(2) %s: open hedge %" PRIu64 " (comment \"%s\") names no slot",
                                when, x->p.identifier, x->p.comment);
                return;
        }
        chaos_violation(a,
                        "(2) %s: open hedge %" PRIu64 " (opened %" PRId64 ", tag %s) untracked: "
                        "slot %u %s/%s is %s gen %" PRIu64 " ticket %" PRIu64 ", changed %" PRId64
                        " ms, owner pid %d",
                        when, x->p.identifier, x->p.time_msc, x->p.comment, st->slot, st->group,
                        st->symbol, hshm_state_name(st->state), st->generation, st->ticket,
                        st->changed_ns / NS_PER_MS, (int)st->owner.pid);
}

/* Reads the slot a hedge's tag names. 0, 1 when its tag names no slot, or -EAGAIN. */
static int slot_of(hshm_store *s, const struct ms_position *p, struct hshm_status *st)
{
        struct hshm_tag_match m;
        struct hshm_tag tag;
        int err;

        if (hshm_tag_parse(p->comment, &tag) != 0)
                return 1;
        err = hshm_tag_resolve(s, &tag, &m);
        if (err == 0)
                err = hshm_slot_status(s, m.slot, st);
        if (err == -EAGAIN)
                return err;
        return err == 0 ? 0 : 1;
}

/* 1 the first time a hedge is reported (remembered), 0 after. */
static int first_report(struct chaos_audit *a, uint64_t identifier)
{
        for (size_t i = 0; i < a->n_reported; i++)
                if (a->reported[i] == identifier)
                        return 0;
        if (a->n_reported == a->cap_reported) {
                size_t cap = a->cap_reported ? 2 * a->cap_reported : 16;
                uint64_t *more = realloc(a->reported, cap * sizeof(*more));
                if (more == NULL)
                        return 1; /* report it again rather than not at all */
                a->reported = more;
                a->cap_reported = cap;
        }
        a->reported[a->n_reported++] = identifier;
        return 1;
}

/* The second read of the positions; suspects still open are violations. */
static void confirm(ms_conn *c, struct chaos_audit *a, const struct suspect *sus, size_t n,
                    const char *when)
{
        struct ms_position *again;
        size_t m;

        if (n == 0)
                return;
        if (ms_positions(c, &again, &m) != 0) {
                chaos_violation(a, "(2) %s: mt5sim did not list its positions: %s", when,
                                ms_last_reply(c));
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (still_open(again, m, sus[i].p.identifier) &&
                    first_report(a, sus[i].p.identifier)) {
                        describe(a, &sus[i], when);
                        a->untracked++;
                }
        }
        free(again);
}

/* Check (2) over the open positions; with final, every hedge is due. */
static void check_open_hedges(hshm_store *s, ms_conn *c, struct chaos_audit *a, int final)
{
        const char *when = final ? "at the end" : "during the run";
        struct ms_position *pos;
        struct suspect *sus;
        struct hshm_sync y;
        size_t n, nsus = 0;

        if (ms_positions(c, &pos, &n) != 0) {
                if (final)
                        chaos_violation(a, "(2) mt5sim did not list its positions: %s",
                                        ms_last_reply(c));
                return;
        }
        /* Read after the positions: a pass it names saw every hedge in that list still open
         * at the second read. */
        if (hshm_sync_read(s, &y) != 0 || (!final && y.health != HSHM_SYNC_OK)) {
                free(pos);
                return;
        }
        sus = calloc(n + 1, sizeof(*sus));
        if (sus == NULL) {
                free(pos);
                return;
        }
        a->audits++;
        for (size_t i = 0; i < n; i++) {
                struct suspect *x = &sus[nsus];
                int err = slot_of(s, &pos[i], &x->st);

                if (err == -EAGAIN && !final)
                        continue;
                if (err == -EAGAIN) {
                        chaos_violation(a, "(2) slot of hedge %" PRIu64 " still being written",
                                        pos[i].identifier);
                        continue;
                }
                x->resolved = err == 0;
                if (x->resolved && !final && y.snapshot_time_ms <= due_ms(&pos[i], &x->st))
                        continue; /* the syncer has not had its chance yet */
                a->hedges_checked++;
                if (x->resolved && tracks(&x->st, &pos[i]))
                        continue;
                x->p = pos[i];
                nsus++;
        }
        confirm(c, a, sus, nsus, when);
        free(sus);
        free(pos);
}

void chaos_audit_open_hedges(hshm_store *s, ms_conn *c, struct chaos_audit *a)
{
        check_open_hedges(s, c, a, 0);
}

void chaos_clear_interrupted(hshm_store *s, ms_conn *c, struct chaos_audit *a)
{
        static const char interrupted[] = "activation interrupted";
        struct hshm_info info;
        struct ms_ledger l;

        if (hshm_info(s, &info) != 0 || ms_ledger(c, &l) != 0)
                return;
        for (uint32_t i = 0; i < info.used; i++) {
                struct hshm_status st;
                if (hshm_slot_status(s, i, &st) != 0 || st.state != HSHM_ERROR ||
                    strncmp(st.reason, interrupted, sizeof(interrupted) - 1) != 0)
                        continue;
                /* ERROR takes no lock, so no new hedge can open under the key meanwhile. */
                if (ms_ledger_open(&l, (uint32_t)(info.instance_id & 0xfffff), i) != 0)
                        continue;
                if (hshm_clear(s, st.group, st.symbol) == 0)
                        a->cleared++;
        }
        ms_ledger_free(&l);
}

void chaos_audit_ledger(ms_conn *c, struct chaos_audit *a, int final)
{
        struct ms_ledger l;

        if (ms_ledger(c, &l) != 0) {
                if (final)
                        chaos_violation(a, "(1) mt5sim did not give its ledger: %s",
                                        ms_last_reply(c));
                return;
        }
        if (l.duplicates > a->duplicates || final) {
                for (size_t i = 0; i < l.n_keys; i++) {
                        const struct ms_ledger_key *k = &l.keys[i];
                        if (k->max_open <= 1)
                                continue;
                        if (final)
                                chaos_violation(a, "(1) key %u/slot %u had %u hedges open at once",
                                                k->instance, k->slot, k->max_open);
                        else
                                printf("chaos: the ledger shows key %u/slot %u with %u hedges "
                                       "open at once\n",
                                       k->instance, k->slot, k->max_open);
                }
                if (final && l.duplicates != 0)
                        chaos_violation(a, "(1) the ledger counts %" PRIu64 " duplicate hedges",
                                        l.duplicates);
                if (final && l.untagged_total != 0)
                        chaos_violation(a, "(2) %" PRIu64 " positions were opened without a tag",
                                        l.untagged_total);
                a->duplicates = l.duplicates;
        }
        ms_ledger_free(&l);
}

static const char *liveness_word(hshm_store *s, const struct hshm_status *st)
{
        switch (hshm_owner_liveness(s, st)) {
        case HSHM_OWNER_NONE:
                return "(no owner)";
        case HSHM_OWNER_ALIVE:
                return "alive";
        case HSHM_OWNER_DEAD:
                return "dead";
        case HSHM_OWNER_DETACHED:
                return "(detached)";
        default:
                return "(unreadable)";
        }
}

/* Check (3): no slot HEDGING; and a census of the slots. Collects ACTIVE slots whose hedge
 * is not open for check (5). */
static size_t check_slots(hshm_store *s, ms_conn *c, struct chaos_audit *a,
                          struct hshm_status *active_closed, size_t max)
{
        long states[4] = {0};
        struct ms_position *pos;
        struct hshm_info info;
        size_t n = 0, npos;

        if (hshm_info(s, &info) != 0 || ms_positions(c, &pos, &npos) != 0) {
                chaos_violation(a, "(3) cannot read the segment or the positions");
                return 0;
        }
        for (uint32_t i = 0; i < info.used; i++) {
                struct hshm_status st;
                int err = hshm_slot_status(s, i, &st);

                if (err != 0) {
                        chaos_violation(a, "(3) slot %u unreadable: %s (%s)", i, hshm_strerror(err),
                                        hshm_last_detail());
                        continue;
                }
                states[st.state & 3]++;
                if (st.state == HSHM_HEDGING)
                        chaos_violation(
                            a,
                            "(3) slot %u %s/%s still HEDGING, locked %" PRId64
                            " ms ago (gen %" PRIu64 ", owner pid %d %s, lease %s)",
                            i, st.group, st.symbol, chaos_wall_ms() - st.lock_ns / NS_PER_MS,
                            st.generation, (int)st.owner.pid, liveness_word(s, &st),
                            hshm_lease_expired(&st, chaos_wall_ms() * NS_PER_MS) ? "expired"
                                                                                 : "running");
                if (st.state == HSHM_ERROR)
                        printf("chaos: slot %u %s/%s is ERROR: %s\n", i, st.group, st.symbol,
                               st.reason);
                if (st.state == HSHM_ACTIVE && !still_open(pos, npos, st.ticket) && n < max)
                        active_closed[n++] = st;
        }
        printf("chaos: %u slots: %ld AVAILABLE, %ld HEDGING, %ld ACTIVE, %ld ERROR; %zu hedges "
               "open\n",
               info.used, states[HSHM_AVAILABLE], states[HSHM_HEDGING], states[HSHM_ACTIVE],
               states[HSHM_ERROR], npos);
        free(pos);
        return n;
}

/* Check (5): an ACTIVE slot whose hedge was not open is reset by rule 1 within the grace and
 * a few passes; read those slots again after that long. */
static void check_active_closed(hshm_store *s, struct chaos_audit *a,
                                const struct hshm_status *cand, size_t n)
{
        if (n == 0)
                return;
        chaos_sleep_ms(CHAOS_GRACE_MS + 4 * CHAOS_INTERVAL_MS + 500);
        for (size_t i = 0; i < n; i++) {
                struct hshm_status st;
                if (hshm_slot_status(s, cand[i].slot, &st) != 0 || st.state != HSHM_ACTIVE ||
                    st.generation != cand[i].generation)
                        continue;
                chaos_violation(a,
                                "(5) slot %u %s/%s still ACTIVE for hedge %" PRIu64
                                " which is not open (activated %" PRId64 " ms ago)",
                                st.slot, st.group, st.symbol, st.ticket,
                                chaos_wall_ms() - st.activate_ns / NS_PER_MS);
        }
}

void chaos_final_checks(hshm_store *s, ms_conn *c, struct chaos_audit *a)
{
        struct hshm_status cand[64];
        struct hshm_sync y;
        size_t n;

        chaos_audit_ledger(c, a, 1);
        /* A duplicate the syncer saw (rule 4) is one too, even if the ledger never had both
         * open at once: a slot locked again while its hedge was still open. */
        if (hshm_sync_read(s, &y) == 0 && y.counters.duplicates != 0)
                chaos_violation(a, "(1) the syncer marked %" PRIu64 " slots ERROR for duplicates",
                                y.counters.duplicates);
        check_open_hedges(s, c, a, 1);
        n = check_slots(s, c, a, cand, sizeof(cand) / sizeof(cand[0]));
        check_active_closed(s, a, cand, n);
}
