/*
 * The reconcile engine (see reconcile.h and docs/reconcile.md, whose table names each rule
 * the way the code below does).
 *
 * A pass:
 *   1. hedges: every position, and every order that opens one (its ticket is the identifier
 *      the position will have), once per identifier, into a hash map identifier -> hedge;
 *      every identifier an order refers to is also marked present (rule 1 looks there);
 *   2. tags: each hedge's comment is parsed and resolved against this segment;
 *   3. slot -> tagged hedges, by counting sort on the slot number (no per-slot allocation);
 *   4. every used slot is read once and judged with its tagged hedges.
 *
 * Times: slot times are this host's CLOCK_REALTIME(_COARSE), a snapshot's time_ms the
 * terminal's clock. Every decision that needs "the snapshot was taken more than grace after t"
 * (settled: rules 1, 2, 3, 4 and 7) uses the snapshot's time, the earlier of its time_ms and
 * the local time the syncer began to read it. A snapshot cannot have been taken after we read
 * it, so a terminal clock running ahead cannot make a snapshot taken before a fill, a close or
 * a reset look newer than it; a terminal clock behind ours only makes the syncer wait longer.
 * The sync block publishes the same time (hr_snapshot_time_ms), and bots wait on it: a bot
 * resets an unknown-outcome lock once the syncer has published a snapshot time > lock + grace,
 * so by then the syncer, judging by that same time, has adopted whatever that snapshot shows.
 */
#include "reconcile.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "orphan.h"

#define NS_PER_MS      INT64_C(1000000)
#define TOKEN_GEN_BITS 44 /* token = slot << 44 | generation of the lock */
#define TOKEN_GEN(t)   ((t) & ((UINT64_C(1) << TOKEN_GEN_BITS) - 1))
#define NO_SLOT        UINT32_MAX
#define FOREIGN_NONE   UINT32_MAX
#define INSTANCE_MASK  UINT64_C(0xfffff) /* a tag carries the low 20 bits of instance_id */
/* Room for a snapshot's comment or symbol once escaped for the log (hr_escape). */
#define COMMENT_TEXT HR_ESCAPED_SIZE(sizeof(((struct hf_position *)0)->comment))
#define SYMBOL_TEXT  HR_ESCAPED_SIZE(sizeof(((struct hf_position *)0)->symbol))

/* Hash set/map of nonzero 64-bit identifiers, open addressing, linear probing. */
struct idmap {
        uint64_t *keys; /* 0: empty */
        uint32_t *vals;
        uint32_t mask;
        size_t cap;   /* allocated entries */
        size_t count; /* keys inserted since the last reset: none means nothing to clear */
};

/* A position, or an order that opens one, with what its tag says. */
struct hedge {
        uint64_t identifier;
        uint64_t token; /* the lock's token when same_instance */
        const char *symbol;
        const char *comment; /* valid during its own pass only */
        uint64_t comment_hash;
        struct hshm_tag tag; /* what hshm_tag_parse found, when tag_found */
        uint32_t slot;       /* NO_SLOT: no tag, or one that named no slot */
        uint8_t same_instance;
        uint8_t is_order;
        uint8_t parsed; /* comment_hash, tag and tag_found are set */
        uint8_t tag_found;
};

/*
 * What one pass leaves for the next. There are two, this pass's and the last one's: the last
 * pass's hedges remember their tag parse (a position keeps its comment for life, and parsing
 * is the largest cost of a steady pass), and its warnings are "already said".
 */
struct generation {
        struct idmap ids; /* identifier -> hedge index + 1, or 0: present, not a hedge */
        struct hedge *hedges;
        size_t hedges_cap;
        struct idmap warned; /* identifiers warned about */
};

struct hr_state {
        struct generation gen[2];
        int cur;              /* index of this pass's generation */
        struct idmap foreign; /* key print + 1 -> resolved slot + 1, or FOREIGN_NONE */
        uint32_t *start;      /* CSR: tagged hedges of slot i are by_slot[start[i] .. start[i+1]) */
        size_t start_cap;
        uint32_t *by_slot;
        size_t by_slot_cap;
        struct idmap deals;       /* lock token + 1 -> deal index + 1 (rule 7), built on demand */
        struct ho_memory orphans; /* rule 7: orphans of the last pass or scan */
};

struct pass {
        hshm_store *s;
        const struct hf_snapshot *snap;
        const struct hr_config *cfg;
        struct hr_state *st;
        struct generation *cur, *last;
        struct hr_result *res;
        int64_t now_ns;
        int64_t snap_ns; /* the snapshot's time (see the top), in ns */
        uint32_t n_hedges, n_tagged, used;
        uint32_t instance; /* low 20 bits of this segment's instance_id */
        int deals_indexed; /* st->deals holds this pass's deals; deals_err if that failed */
        int deals_err;
};

static uint32_t hash_id(uint64_t id, uint32_t mask)
{
        /* Fibonacci hashing: identifiers are often consecutive, the multiply spreads them. */
        return (uint32_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & mask;
}

static int idmap_reset(struct idmap *m, size_t n)
{
        size_t want = 16;

        while (want < 2 * n)
                want *= 2;
        if (want > m->cap) {
                uint64_t *k = realloc(m->keys, want * sizeof(*k));
                uint32_t *v = k ? realloc(m->vals, want * sizeof(*v)) : NULL;

                if (k)
                        m->keys = k;
                if (v == NULL)
                        return -ENOMEM;
                m->vals = v;
                m->cap = want;
                memset(m->keys, 0, want * sizeof(*m->keys));
        } else if (m->count > 0) {
                /* The last use wrote keys only under its own mask. An empty table is empty
                 * under any mask, so a pass that inserted nothing costs nothing here. */
                memset(m->keys, 0, ((size_t)m->mask + 1) * sizeof(*m->keys));
        }
        m->count = 0;
        m->mask = (uint32_t)(want - 1);
        return 0;
}

/* Entry of id, inserted (value 0) if absent when insert is set; NULL when absent. */
static uint32_t *idmap_slot(struct idmap *m, uint64_t id, int insert)
{
        if (m->keys == NULL)
                return NULL;
        for (uint32_t i = hash_id(id, m->mask);; i = (i + 1) & m->mask) {
                if (m->keys[i] == id)
                        return &m->vals[i];
                if (m->keys[i] == 0) {
                        if (!insert)
                                return NULL;
                        m->keys[i] = id;
                        m->vals[i] = 0;
                        m->count++;
                        return &m->vals[i];
                }
        }
}

static void idmap_free(struct idmap *m)
{
        free(m->keys);
        free(m->vals);
}

struct hr_state *hr_state_new(void)
{
        return calloc(1, sizeof(struct hr_state));
}

void hr_state_free(struct hr_state *st)
{
        if (st == NULL)
                return;
        for (int g = 0; g < 2; g++) {
                idmap_free(&st->gen[g].ids);
                idmap_free(&st->gen[g].warned);
                free(st->gen[g].hedges);
        }
        idmap_free(&st->foreign);
        idmap_free(&st->deals);
        ho_memory_free(&st->orphans);
        free(st->start);
        free(st->by_slot);
        free(st);
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
        void *q;

        if (n <= *cap)
                return 0;
        q = realloc(*p, n * size);
        if (q == NULL)
                return -ENOMEM;
        *p = q;
        *cap = n;
        return 0;
}

/*
 * Rule 5's counted warning, once per identifier while it stays in the snapshots: the set of
 * this pass's warnings becomes next pass's "already said".
 */
static void warn_tag(struct pass *p, uint64_t identifier, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn_tag(struct pass *p, uint64_t identifier, const char *fmt, ...)
{
        uint32_t *mine = idmap_slot(&p->cur->warned, identifier, 1);
        char msg[512];
        va_list ap;

        if (*mine)
                return; /* two warnings for one hedge in one pass count once */
        *mine = 1;
        if (idmap_slot(&p->last->warned, identifier, 0) != NULL)
                return;
        p->res->tag_warnings++;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        hr_log(HR_LOG_WARNING, "tag warning: hedge %" PRIu64 ": %s [rule 5, no action]", identifier,
               msg);
}

/* A damaged tag rather than no tag: "HS" and at least 8 more tag characters, in any case
 * (tags are decoded ignoring case). A comment of another strategy ("HSBC long") is not a
 * warning; a tag a broker cut short is. */
static int looks_like_tag(const char *c)
{
        for (const char *h = strcasestr(c, "HS"); h != NULL; h = strcasestr(h + 1, "HS")) {
                int n = 0;

                while (isalnum((unsigned char)h[2 + n]))
                        n++;
                if (n >= 8)
                        return 1;
        }
        return 0;
}

static int add_hedge(struct pass *p, uint64_t id, const char *symbol, const char *comment,
                     int is_order)
{
        uint32_t *v = idmap_slot(&p->cur->ids, id, 1);
        struct hedge *h;

        if (*v != 0)
                return 0; /* a position and its opening order, or a repeated record: one hedge */
        h = &p->cur->hedges[p->n_hedges];
        *v = ++p->n_hedges;
        memset(h, 0, sizeof(*h));
        h->identifier = id;
        h->symbol = symbol;
        h->comment = comment;
        h->slot = NO_SLOT;
        h->is_order = (uint8_t)is_order;
        return 0;
}

/* Step 1: the hedges and the identifiers present (positions, orders, orders' positions). */
static int collect(struct pass *p)
{
        const struct hf_snapshot *snap = p->snap;
        struct generation *g = p->cur;
        size_t n = snap->n_positions + snap->n_orders;
        int err;

        if ((err = idmap_reset(&g->ids, snap->n_positions + 2 * snap->n_orders)) != 0 ||
            (err = grow((void **)&g->hedges, &g->hedges_cap, n, sizeof(*g->hedges))) != 0)
                return err;
        for (size_t i = 0; i < snap->n_positions; i++) {
                const struct hf_position *pos = &snap->positions[i];

                if (pos->identifier != 0)
                        add_hedge(p, pos->identifier, pos->symbol, pos->comment, 0);
        }
        for (size_t i = 0; i < snap->n_orders; i++) {
                const struct hf_order *o = &snap->orders[i];

                /* An order with no position (or its own) opens a hedge whose identifier will
                 * be the order's ticket; one naming another position closes or changes it. */
                if (o->ticket != 0 && (o->position_id == 0 || o->position_id == o->ticket))
                        add_hedge(p, o->ticket, o->symbol, o->comment, 1);
                else if (o->ticket != 0)
                        idmap_slot(&g->ids, o->ticket, 1);
                if (o->position_id != 0)
                        idmap_slot(&g->ids, o->position_id, 1);
        }
        p->res->hedges = p->n_hedges;
        return 0;
}

/*
 * hshm_tag_resolve finds a tag of another segment (made before a reboot recreated it) by
 * scanning every used slot for its key's fingerprint. After a reboot every surviving hedge is
 * such a tag, so the answer is remembered per fingerprint for the pass: one scan per distinct
 * key, not one per hedge.
 */
static int resolve(struct pass *p, const struct hshm_tag *tag, struct hshm_tag_match *m)
{
        uint32_t *memo;
        int err;

        if (tag->instance == p->instance)
                return hshm_tag_resolve(p->s, tag, m);
        memo = idmap_slot(&p->st->foreign, (uint64_t)tag->key_print + 1, 1);
        if (*memo == FOREIGN_NONE)
                return HSHM_ENOKEY;
        if (*memo != 0) {
                memset(m, 0, sizeof(*m));
                m->slot = *memo - 1;
                return 0;
        }
        err = hshm_tag_resolve(p->s, tag, m);
        if (err == 0 && !m->same_instance)
                *memo = m->slot + 1;
        else if (err == HSHM_ENOKEY)
                *memo = FOREIGN_NONE;
        return err;
}

static uint64_t comment_hash(const char *c)
{
        size_t n = strnlen(c, sizeof(((struct hf_position *)0)->comment));
        uint64_t h = n;

        for (size_t i = 0; i < n; i += 8) {
                uint64_t w = 0;

                memcpy(&w, c + i, n - i < 8 ? n - i : 8);
                h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
                h ^= h >> 29;
        }
        return h;
}

/* hshm_tag_parse, or what it said last pass about this hedge's unchanged comment. */
static int parse_tag(struct pass *p, struct hedge *h, struct hshm_tag *tag)
{
        uint32_t *was = idmap_slot(&p->last->ids, h->identifier, 0);
        const struct hedge *before = was != NULL && *was != 0 ? &p->last->hedges[*was - 1] : NULL;

        h->comment_hash = comment_hash(h->comment);
        if (before != NULL && before->parsed && before->comment_hash == h->comment_hash) {
                h->tag = before->tag;
                h->tag_found = before->tag_found;
        } else {
                h->tag_found = hshm_tag_parse(h->comment, &h->tag) == 0;
        }
        h->parsed = 1;
        *tag = h->tag;
        return h->tag_found ? 0 : HSHM_ENOTAG;
}

/* Step 2: what each hedge's tag names here. */
static void resolve_tags(struct pass *p)
{
        char text[COMMENT_TEXT];

        for (uint32_t i = 0; i < p->n_hedges; i++) {
                struct hedge *h = &p->cur->hedges[i];
                struct hshm_tag_match m;
                struct hshm_tag tag;
                int err;

                if (strcasestr(h->comment, "HS") == NULL)
                        continue; /* every tag starts with HS: the common untagged case */
                if (parse_tag(p, h, &tag) != 0) {
                        if (looks_like_tag(h->comment))
                                warn_tag(p, h->identifier,
                                         "comment \"%s\" holds a damaged tag (cut or rewritten "
                                         "by the broker?)",
                                         hr_escape(h->comment, text, sizeof(text)));
                        continue;
                }
                err = resolve(p, &tag, &m);
                if (err == -EAGAIN) {
                        p->res->raced++;
                        continue;
                }
                if (err != 0) {
                        warn_tag(p, h->identifier,
                                 "tag in \"%s\" names no position of this "
                                 "segment (%s)",
                                 hr_escape(h->comment, text, sizeof(text)), hshm_strerror(err));
                        continue;
                }
                h->slot = m.slot;
                h->same_instance = m.same_instance != 0;
                h->token = m.same_instance ? m.token : 0;
                p->n_tagged++;
        }
        p->res->tagged = p->n_tagged;
}

/* Step 3: tagged hedges grouped by slot, in slot order (counting sort). */
static int group_by_slot(struct pass *p)
{
        struct hr_state *st = p->st;
        uint32_t *start;
        int err;

        if ((err = grow((void **)&st->start, &st->start_cap, (size_t)p->used + 2,
                        sizeof(*st->start))) != 0 ||
            (err = grow((void **)&st->by_slot, &st->by_slot_cap, p->n_tagged + (size_t)1,
                        sizeof(*st->by_slot))) != 0)
                return err;
        start = st->start;
        memset(start, 0, ((size_t)p->used + 2) * sizeof(*start));
        for (uint32_t i = 0; i < p->n_hedges; i++) {
                uint32_t slot = p->cur->hedges[i].slot;

                if (slot != NO_SLOT && slot < p->used)
                        start[slot + 2]++;
        }
        for (uint32_t i = 2; i < p->used + 2; i++)
                start[i] += start[i - 1];
        /* start[i + 1] is now where slot i's hedges begin; filling moves it to their end,
         * which is where slot i + 1's begin: start[i] .. start[i + 1] afterwards. */
        for (uint32_t i = 0; i < p->n_hedges; i++) {
                uint32_t slot = p->cur->hedges[i].slot;

                if (slot != NO_SLOT && slot < p->used)
                        st->by_slot[start[slot + 1]++] = i;
        }
        return 0;
}

/* "The snapshot was taken more than grace after t", by the snapshot's time (see the top). */
static int settled(const struct pass *p, int64_t t)
{
        return p->snap_ns > t + p->cfg->grace_ns;
}

enum relation { REL_CURRENT, REL_OLDER, REL_NEWER };

/* A tag against the slot's current (or, when AVAILABLE, last) lock. A tag made before the
 * segment was recreated is older than any lock in it. */
static enum relation relation(const struct hedge *h, const struct hshm_status *st)
{
        if (!h->same_instance)
                return REL_OLDER;
        if (st->token == 0 || TOKEN_GEN(h->token) > TOKEN_GEN(st->token))
                return REL_NEWER;
        return TOKEN_GEN(h->token) == TOKEN_GEN(st->token) ? REL_CURRENT : REL_OLDER;
}

/* Refusals that mean a bot changed the slot after we read it. */
static int is_race(int err)
{
        return err == HSHM_ESTALE || err == HSHM_ESTATE || err == -EBUSY || err == -EAGAIN;
}

static void failed(struct pass *p, const struct hshm_status *st, const char *what, int err)
{
        if (is_race(err)) {
                p->res->raced++;
                hr_log(HR_LOG_DEBUG, "%s/%s (slot %" PRIu32 "): %s skipped, slot changed (%s)",
                       st->group, st->symbol, st->slot, what, hshm_strerror(err));
                return;
        }
        p->res->failed++;
        hr_log(HR_LOG_ERR, "%s/%s (slot %" PRIu32 "): %s failed: %s (%s)", st->group, st->symbol,
               st->slot, what, hshm_strerror(err), hshm_last_detail());
}

/* Rule 4: ERROR naming both tickets. The slot is read again first, so a slot a bot changed
 * since this pass read it is left for the next pass rather than judged on old facts. */
static void duplicate(struct pass *p, const struct hshm_status *st, const char *rule, uint64_t a,
                      uint64_t b, const char *why)
{
        char reason[HSHM_REASON_MAX + 1];
        struct hshm_status again;
        int err = hshm_slot_status(p->s, st->slot, &again);

        if (err == 0 && (again.generation != st->generation || again.state != st->state))
                err = HSHM_ESTALE;
        if (err == 0) {
                if (b != 0)
                        snprintf(reason, sizeof(reason),
                                 "duplicate hedges: %" PRIu64 " and %" PRIu64, a, b);
                else
                        snprintf(reason, sizeof(reason),
                                 "duplicate hedge: ticket %" PRIu64 " open, slot locked again", a);
                err = hshm_mark_error(p->s, st->group, st->symbol, reason);
        }
        if (err != 0) {
                failed(p, st, "marking a duplicate ERROR", err);
                return;
        }
        p->res->duplicates++;
        p->res->errors_marked++;
        hr_log(HR_LOG_ERR,
               "DUPLICATE HEDGE %s/%s (slot %" PRIu32 "): %s; marked ERROR \"%s\" [rule %s]; "
               "close the extra hedge at the broker, then `hedgectl clear`",
               st->group, st->symbol, st->slot, why, reason, rule);
}

/* hshm_activate's hedge symbol: the position's, when the library would take it. */
static const char *hedge_symbol(const struct hedge *h)
{
        return hshm_validate_key("g", h->symbol) == 0 ? h->symbol : "";
}

static void adopt_available(struct pass *p, const struct hshm_status *st, const struct hedge *h)
{
        char symbol[SYMBOL_TEXT];
        uint64_t token;
        int err = hshm_lock(p->s, st->group, st->symbol, &token);

        if (err != 0) {
                failed(p, st, "adopting (lock)", err);
                return;
        }
        err = hshm_activate(p->s, token, h->identifier, hedge_symbol(h));
        if (err != 0) {
                failed(p, st, "adopting (activate)", err);
                /* Give back the lock we took: nobody else holds its token. */
                hshm_reset(p->s, token);
                return;
        }
        p->res->adoptions++;
        hr_log(HR_LOG_NOTICE,
               "adopted %s/%s (slot %" PRIu32 "): untracked tagged %s %" PRIu64 " %s, slot was "
               "AVAILABLE; now ACTIVE [rule 2]",
               st->group, st->symbol, st->slot, h->is_order ? "order" : "hedge", h->identifier,
               hr_escape(h->symbol, symbol, sizeof(symbol)));
}

/* Rule 3 (rule 7 for an orphan): the slot's own hedge, found with the lock's tag on the hedge
 * itself or, when its comment was lost, on the deal that opened it. */
static void adopt_hedging(struct pass *p, const struct hshm_status *st, const struct hedge *h,
                          const struct hf_deal *deal, const struct ho_lock *l)
{
        int err = hshm_activate(p->s, st->token, h->identifier, hedge_symbol(h));
        char who[128] = "", by_deal[96] = "", symbol[SYMBOL_TEXT];

        if (err != 0) {
                failed(p, st, "adopting (activate)", err);
                return;
        }
        p->res->adoptions++;
        if (l->orphan) {
                p->res->orphans_adopted++;
                ho_describe(st, l, p->now_ns, who, sizeof(who));
        }
        if (deal != NULL)
                snprintf(by_deal, sizeof(by_deal), " (its deal %" PRIu64 ")", deal->ticket);
        hr_log(HR_LOG_NOTICE,
               "adopted %s/%s (slot %" PRIu32 "): %s %" PRIu64 " %s carries the tag of the "
               "slot's lock%s, HEDGING %" PRId64 " ms%s%s; now ACTIVE [rule %s]",
               st->group, st->symbol, st->slot, h->is_order ? "order" : "hedge", h->identifier,
               hr_escape(h->symbol, symbol, sizeof(symbol)), by_deal,
               (p->now_ns - st->lock_ns) / NS_PER_MS, l->orphan ? ", " : "", who,
               l->orphan ? "7, as rule 3" : "3");
}

/* Rule 7: nothing at the broker carries the lock's tag, in a snapshot taken after the lock
 * could last have placed an order; or its hedge opened and closed (deal). hshm_release, not
 * hshm_reset: a live owner past its lease that activates after this pass read the slot keeps
 * its ACTIVE slot (the release is refused), where a reset would drop its hedge. */
static void release_orphan(struct pass *p, const struct hshm_status *st, const struct ho_lock *l,
                           const struct hf_deal *deal)
{
        int err = hshm_release(p->s, st->token);
        char who[128];

        if (err != 0) {
                failed(p, st, "releasing an orphaned lock", err);
                return;
        }
        p->res->orphans_released++;
        ho_describe(st, l, p->now_ns, who, sizeof(who));
        if (deal != NULL)
                hr_log(HR_LOG_NOTICE,
                       "released %s/%s (slot %" PRIu32 "): %s; its hedge %" PRIu64 " opened and "
                       "closed (deal %" PRIu64 " carries the lock's tag, the position is gone from "
                       "snapshot %" PRIu64 "); now AVAILABLE [rule 7]",
                       st->group, st->symbol, st->slot, who, deal->position_id, deal->ticket,
                       p->snap->seq);
        else
                hr_log(HR_LOG_NOTICE,
                       "released %s/%s (slot %" PRIu32 "): %s; no position, order or deal carries "
                       "the lock's tag in snapshot %" PRIu64 ", taken %" PRId64 " ms after the "
                       "lock; now AVAILABLE [rule 7]",
                       st->group, st->symbol, st->slot, who, p->snap->seq,
                       (p->snap_ns - st->lock_ns) / NS_PER_MS);
}

/* A deal's position is still open (or an order still refers to it). */
static int deal_open(const struct pass *p, const struct hf_deal *d)
{
        return idmap_slot(&p->cur->ids, d->position_id, 0) != NULL;
}

/*
 * Deals with the tag of a lock of this segment, by lock token. A hedge's deals keep its order's
 * comment, so a tagged deal proves that the order reached the broker and filled, even once the
 * position has closed or lost its comment. Only HEDGING slots ask, so the index is built the
 * first time one does in a pass: a pass with no lock in flight never parses a deal.
 */
static int index_deals(struct pass *p)
{
        const struct hf_snapshot *snap = p->snap;
        struct idmap *m = &p->st->deals;

        if (p->deals_indexed)
                return p->deals_err;
        p->deals_indexed = 1;
        if ((p->deals_err = idmap_reset(m, snap->n_deals)) != 0)
                return p->deals_err;
        for (size_t i = 0; i < snap->n_deals; i++) {
                const struct hf_deal *d = &snap->deals[i];
                struct hshm_tag_match match;
                struct hshm_tag tag;
                uint32_t *v;

                /* A tag of another segment never names a current lock. */
                if (strcasestr(d->comment, "HS") == NULL || hshm_tag_parse(d->comment, &tag) != 0 ||
                    tag.instance != p->instance || hshm_tag_resolve(p->s, &tag, &match) != 0 ||
                    !match.same_instance)
                        continue;
                /* Several deals of one lock (a fill in parts, the close): one whose position is
                 * still open says more than one whose position closed. */
                v = idmap_slot(m, match.token + 1, 1);
                if (*v == 0 || (!deal_open(p, &snap->deals[*v - 1]) && deal_open(p, d)))
                        *v = (uint32_t)i + 1;
        }
        return 0;
}

/* The deal with the tag of the slot's current lock, if any; -ENOMEM if deals cannot be
 * indexed (then nothing may be concluded from their absence). */
static int lock_deal(struct pass *p, const struct hshm_status *st, const struct hf_deal **out)
{
        uint32_t *v;
        int err = index_deals(p);

        *out = NULL;
        if (err != 0)
                return err;
        v = idmap_slot(&p->st->deals, st->token + 1, 0);
        if (v != NULL)
                *out = &p->snap->deals[*v - 1];
        return 0;
}

/* The open hedge a tagged deal names, if it carries no tag of its own (a broker that dropped
 * the position's comment): the lock's hedge, to adopt. NULL if closed, or tagged otherwise. */
static const struct hedge *deal_hedge(const struct pass *p, const struct hf_deal *d)
{
        const uint32_t *v = idmap_slot(&p->cur->ids, d->position_id, 0);
        const struct hedge *h = v != NULL && *v != 0 ? &p->cur->hedges[*v - 1] : NULL;

        return h != NULL && h->slot == NO_SLOT ? h : NULL;
}

/* Rules 2 and 4b for an AVAILABLE slot, judged only on a snapshot taken more than grace after
 * the slot last changed: an older one may show the hedge the slot held until a bot closed it
 * and reset the slot, and adopting that again would track a closed hedge. */
static void judge_available(struct pass *p, const struct hshm_status *st, const struct hedge **t,
                            uint32_t n)
{
        if (n > 0 && !settled(p, st->changed_ns)) {
                p->res->waiting++;
                return;
        }
        if (n == 1)
                adopt_available(p, st, t[0]);
        else if (n >= 2)
                duplicate(p, st, "4b", t[0]->identifier, t[1]->identifier,
                          "two tagged hedges for one AVAILABLE slot");
}

/* Rules 3, 4b, 4c and 7 for a HEDGING slot. */
static void judge_hedging(struct pass *p, const struct hshm_status *st, const struct hedge **t,
                          uint32_t n)
{
        const struct hedge *cur[2] = {NULL, NULL}, *old = NULL, *by_deal = NULL;
        int past_grace = settled(p, st->lock_ns);
        const struct hf_deal *deal = NULL;
        const char *waiting_for;
        struct ho_lock l;
        uint32_t n_cur = 0;
        int deal_err = 0;

        for (uint32_t i = 0; i < n; i++) {
                if (relation(t[i], st) == REL_CURRENT) {
                        if (n_cur < 2)
                                cur[n_cur] = t[i];
                        n_cur++;
                } else if (old == NULL) {
                        old = t[i];
                }
        }
        ho_judge(&p->st->orphans, p->s, st, p->now_ns, &l);
        if (l.liveness < 0)
                failed(p, st, "judging the lock's owner", l.liveness);
        if (n_cur >= 2) {
                duplicate(p, st, "4b", cur[0]->identifier, cur[1]->identifier,
                          "two hedges carry the tag of the slot's one lock");
                return;
        }
        if (old != NULL && past_grace) {
                /* A hedge of an earlier lock still open, in a snapshot that surely postdates
                 * the new lock (earlier, the old hedge may have been closing as it was taken). */
                duplicate(p, st, "4c", old->identifier, cur[0] ? cur[0]->identifier : 0,
                          "a hedge of an older lock is open while the slot is HEDGING again");
                return;
        }
        if (n_cur == 0 && (past_grace || l.orphan)) {
                deal_err = lock_deal(p, st, &deal);
                if (deal != NULL && deal_open(p, deal))
                        by_deal = deal_hedge(p, deal);
        }
        /* Bots rely on "a snapshot newer than my lock + grace was reconciled and my slot is
         * still HEDGING" meaning that no hedge of theirs was in it. Past grace, that snapshot
         * either had no older hedge, and rule 3 adopts here, or had one, and 4c made the slot
         * ERROR above: both are judged by the one time the sync block publishes. */
        if (past_grace && (n_cur == 1 || by_deal != NULL)) {
                adopt_hedging(p, st, n_cur == 1 ? cur[0] : by_deal, n_cur == 1 ? NULL : deal, &l);
                return;
        }
        if (!l.orphan) {
                /* Its bot may still activate it, or the older hedge settle. */
                if (n_cur == 1 || old != NULL || (deal != NULL && deal_open(p, deal)))
                        p->res->waiting++;
                return;
        }
        /* Rule 7. Anything with the lock's tag still at the broker holds the release up. */
        if (n_cur == 1 || by_deal != NULL)
                waiting_for = "its tagged hedge is adopted, once a snapshot is past lock + grace";
        else if (old != NULL)
                waiting_for = "a hedge of an older lock settles (rule 4c)";
        else if (deal_err != 0)
                waiting_for = "its deals can be read (out of memory)";
        else if (deal != NULL && deal_open(p, deal))
                waiting_for = "the position of its tagged deal closes or loses its other tag";
        else if (!settled(p, l.quiet_ns))
                waiting_for = "a fresh snapshot taken more than grace after the lock could "
                              "last have placed an order shows nothing with its tag";
        else {
                release_orphan(p, st, &l, deal);
                return;
        }
        p->res->waiting++;
        ho_keep(&p->st->orphans, st, &l, p->now_ns, waiting_for, p->res);
}

/* Rules 4a, 5 and 1 for an ACTIVE slot. */
static void judge_active(struct pass *p, const struct hshm_status *st, const struct hedge **t,
                         uint32_t n)
{
        const struct hedge *other = NULL;
        int other_settled = 0;

        for (uint32_t i = 0; i < n; i++) {
                if (t[i]->identifier == st->ticket)
                        continue; /* rule 5: the slot's own hedge, whatever lock tagged it */
                /* Another hedge under the current lock is a duplicate now; under an older lock,
                 * once the snapshot surely postdates the current one. */
                if (relation(t[i], st) == REL_CURRENT || settled(p, st->lock_ns)) {
                        other = t[i];
                        other_settled = 1;
                        break;
                }
                other = t[i];
        }
        if (other != NULL && other_settled) {
                duplicate(p, st, "4a", st->ticket, other->identifier,
                          "the slot is ACTIVE with one hedge and another tagged hedge is open");
                return;
        }
        if (other != NULL) {
                p->res->waiting++;
                return;
        }
        if (st->ticket == 0 || idmap_slot(&p->cur->ids, st->ticket, 0) != NULL)
                return; /* still open (or no identifier to look for: left alone) */
        if (!settled(p, st->activate_ns)) {
                p->res->waiting++;
                return;
        }
        int err = hshm_reset(p->s, st->token);
        if (err != 0) {
                failed(p, st, "resetting a closed hedge", err);
                return;
        }
        p->res->resets_closed++;
        hr_log(HR_LOG_INFO,
               "reset %s/%s (slot %" PRIu32 "): hedge %" PRIu64 " closed, absent from positions "
               "and orders of snapshot %" PRIu64 ", activated %" PRId64 " ms before it; now "
               "AVAILABLE [rule 1]",
               st->group, st->symbol, st->slot, st->ticket, p->snap->seq,
               (p->snap_ns - st->activate_ns) / NS_PER_MS);
}

/* Step 4. */
static void judge_slots(struct pass *p)
{
        struct hr_state *s = p->st;
        const struct hedge *t[64];

        for (uint32_t i = 0; i < p->used; i++) {
                uint32_t from = s->start[i], to = s->start[i + 1], n = 0;
                struct hshm_status st;
                int err = hshm_slot_status(p->s, i, &st);

                if (err == HSHM_ENOKEY)
                        continue; /* being inserted: holds no position yet */
                if (err != 0) {
                        if (err == -EAGAIN)
                                p->res->raced++;
                        else
                                p->res->failed++;
                        hr_log(err == -EAGAIN ? HR_LOG_DEBUG : HR_LOG_ERR,
                               "slot %" PRIu32 " unreadable: %s (%s)", i, hshm_strerror(err),
                               hshm_last_detail());
                        continue;
                }
                p->res->slots++;
                for (uint32_t k = from; k < to && n < sizeof(t) / sizeof(t[0]); k++) {
                        const struct hedge *h = &p->cur->hedges[s->by_slot[k]];

                        if (relation(h, &st) == REL_NEWER)
                                warn_tag(p, h->identifier,
                                         "tag names lock generation %" PRIu64 " of %s/%s, "
                                         "but the slot's latest lock is generation %" PRIu64,
                                         TOKEN_GEN(h->token), st.group, st.symbol,
                                         TOKEN_GEN(st.token));
                        else
                                t[n++] = h;
                }
                switch (st.state) {
                case HSHM_AVAILABLE:
                        judge_available(p, &st, t, n);
                        break;
                case HSHM_HEDGING:
                        judge_hedging(p, &st, t, n);
                        break;
                case HSHM_ACTIVE:
                        judge_active(p, &st, t, n);
                        break;
                case HSHM_ERROR:
                default:
                        break; /* left for a person: `hedgectl clear` */
                }
        }
}

int64_t hr_snapshot_time_ms(const struct hf_snapshot *snap, int64_t read_ns)
{
        int64_t read_ms = read_ns / NS_PER_MS;

        return snap->time_ms < read_ms ? snap->time_ms : read_ms;
}

int hr_reconcile_read(hshm_store *s, const struct hf_snapshot *snap, int64_t read_ns,
                      const struct hr_config *cfg, int64_t now_ns, struct hr_result *res)
{
        struct pass p = {.s = s, .snap = snap, .cfg = cfg, .res = res, .now_ns = now_ns};
        size_t n = snap->n_positions + snap->n_orders;
        struct hr_state *own = NULL;
        struct hshm_info info;
        int err;

        memset(res, 0, sizeof(*res));
        /* In ms, as published, so a bot's "published time > lock + grace" implies this pass's
         * settled(lock). A read cannot come after the pass. */
        p.snap_ns = hr_snapshot_time_ms(snap, read_ns < now_ns ? read_ns : now_ns) * NS_PER_MS;
        p.st = cfg->state;
        if (p.st == NULL && (p.st = own = hr_state_new()) == NULL)
                return -ENOMEM;
        p.cur = &p.st->gen[p.st->cur];
        p.last = &p.st->gen[!p.st->cur];
        if ((err = idmap_reset(&p.cur->warned, n)) != 0 ||
            (err = idmap_reset(&p.st->foreign, n)) != 0 || (err = hshm_info(s, &info)) != 0 ||
            (err = collect(&p)) != 0)
                goto out;
        p.instance = (uint32_t)(info.instance_id & INSTANCE_MASK);
        resolve_tags(&p);
        /* The shape after the tags: every slot a tag resolved to is below this used. */
        if ((err = hshm_info(s, &info)) != 0)
                goto out;
        p.used = info.used;
        if ((err = group_by_slot(&p)) != 0)
                goto out;
        ho_round_begin(&p.st->orphans);
        judge_slots(&p);
        ho_round_end(&p.st->orphans);
        p.st->cur = !p.st->cur;
out:
        hr_state_free(own);
        return err;
}

int hr_reconcile(hshm_store *s, const struct hf_snapshot *snap, const struct hr_config *cfg,
                 int64_t now_ns, struct hr_result *res)
{
        return hr_reconcile_read(s, snap, now_ns, cfg, now_ns, res);
}

int hr_scan(hshm_store *s, const struct hr_config *cfg, int64_t now_ns, struct hr_result *res)
{
        struct hr_state *st = cfg->state, *own = NULL;
        struct hshm_info info;
        int err;

        memset(res, 0, sizeof(*res));
        if (st == NULL && (st = own = hr_state_new()) == NULL)
                return -ENOMEM;
        if ((err = hshm_info(s, &info)) != 0)
                goto out;
        ho_round_begin(&st->orphans);
        for (uint32_t i = 0; i < info.used; i++) {
                struct hshm_status slot;
                struct ho_lock l;

                /* A slot unreadable now is counted again next cycle; no action rests on it. */
                if (hshm_slot_status(s, i, &slot) != 0)
                        continue;
                res->slots++;
                if (slot.state != HSHM_HEDGING)
                        continue;
                ho_judge(&st->orphans, s, &slot, now_ns, &l);
                if (l.orphan)
                        ho_keep(&st->orphans, &slot, &l, now_ns,
                                "a fresh snapshot shows nothing with its tag", res);
        }
        ho_round_end(&st->orphans);
out:
        hr_state_free(own);
        return err;
}
