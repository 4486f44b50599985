/*
 * The simulated broker's books (see book.h).
 *
 * Positions are kept in ticket order (a closed one is cut out with memmove), which is the
 * order MT5 lists them in and keeps the snapshot stable; the books of a test or a demo hold
 * hundreds of positions, not millions. Deals are appended in time order and pruned from the
 * front. The ledger is keyed by the tag's (segment instance, slot): two positions open at
 * once under one key are a duplicate hedge whatever their lock generations, which is exactly
 * what the syncer and the bots exist to prevent, so the count of such keys is the number a
 * demo ends with.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "book.h"
#include "hedgeshm.h"
#include "proto.h"

/* Volumes are kept to 1e-8 lots, so additions and subtractions compare exactly. */
static double round_lots(double v)
{
        return round(v * 1e8) / 1e8;
}

/* A plausible open price that depends only on the symbol and the ticket. */
static double price_for(const char *symbol, uint64_t ticket)
{
        uint64_t h = 1469598103934665603u;
        double base;

        for (const char *p = symbol; *p != '\0'; p++)
                h = (h ^ (unsigned char)*p) * 1099511628211u;
        base = 0.5 + (double)(h % 200000) / 100.0;
        return round((base * (1.0 + (double)(ticket * 2654435761u % 2001) / 1e6 - 0.001)) * 1e5) /
               1e5;
}

static void copy_text(char *dst, size_t size, const char *src)
{
        size_t n = src != NULL ? strnlen(src, size - 1) : 0;

        memcpy(dst, src != NULL ? src : "", n);
        dst[n] = '\0';
}

void book_init(struct book *b, int netting, size_t max_positions, uint64_t first_ticket)
{
        memset(b, 0, sizeof(*b));
        b->netting = netting;
        b->max_positions = max_positions;
        b->next_ticket = first_ticket != 0 ? first_ticket : 1;
}

void book_free(struct book *b)
{
        free(b->pos);
        free(b->meta);
        free(b->deals);
        free(b->ledger.keys);
        memset(b, 0, sizeof(*b));
}

/* Index where (instance, slot) is or would be inserted; *found says which. */
static size_t key_index(const struct book_ledger *l, uint32_t instance, uint32_t slot, int *found)
{
        size_t lo = 0, hi = l->n_keys;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const struct book_key *k = &l->keys[mid];

                if (k->instance < instance || (k->instance == instance && k->slot < slot))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = lo < l->n_keys && l->keys[lo].instance == instance && l->keys[lo].slot == slot;
        return lo;
}

static int ledger_open(struct book_ledger *l, const struct book_meta *m)
{
        struct book_key *k;
        size_t i;
        int found;

        if (!m->tagged) {
                l->untagged_open++;
                l->untagged_total++;
                return 0;
        }
        i = key_index(l, m->instance, m->slot, &found);
        if (!found) {
                if (l->n_keys == l->cap_keys) {
                        size_t cap = l->cap_keys != 0 ? 2 * l->cap_keys : 64;
                        struct book_key *keys = realloc(l->keys, cap * sizeof(*keys));

                        if (keys == NULL)
                                return -ENOMEM;
                        l->keys = keys;
                        l->cap_keys = cap;
                }
                memmove(&l->keys[i + 1], &l->keys[i], (l->n_keys - i) * sizeof(l->keys[0]));
                l->keys[i] = (struct book_key){m->instance, m->slot, 0, 0};
                l->n_keys++;
        }
        k = &l->keys[i];
        k->open++;
        if (k->open > k->max_open) {
                k->max_open = k->open;
                if (k->max_open == 2)
                        l->duplicates++;
        }
        return 0;
}

static void ledger_close(struct book_ledger *l, const struct book_meta *m)
{
        size_t i;
        int found;

        if (!m->tagged) {
                l->untagged_open--;
                return;
        }
        i = key_index(l, m->instance, m->slot, &found);
        if (found && l->keys[i].open > 0)
                l->keys[i].open--;
}

static void tag_of(const char *comment, struct book_meta *m)
{
        struct hshm_tag tag;

        m->tagged = hshm_tag_parse(comment, &tag) == 0;
        m->instance = m->tagged ? tag.instance : 0;
        m->slot = m->tagged ? tag.slot : 0;
}

static int push_deal(struct book *b, const struct hf_deal *d)
{
        if (b->n_deals == b->cap_deals) {
                size_t cap = b->cap_deals != 0 ? 2 * b->cap_deals : 256;
                struct hf_deal *deals = realloc(b->deals, cap * sizeof(*deals));

                if (deals == NULL)
                        return -ENOMEM;
                b->deals = deals;
                b->cap_deals = cap;
        }
        b->deals[b->n_deals++] = *d;
        return 0;
}

static int deal_for(struct book *b, const struct hf_position *p, uint64_t order, int type,
                    int entry, double volume, const char *comment, int64_t now_ms)
{
        struct hf_deal d = {
            .ticket = b->next_ticket++,
            .order = order,
            .position_id = p->identifier,
            .magic = p->magic,
            .type = type,
            .entry = entry,
            .volume = volume,
            .time_msc = now_ms,
        };

        copy_text(d.symbol, sizeof(d.symbol), p->symbol);
        copy_text(d.comment, sizeof(d.comment), comment);
        return push_deal(b, &d);
}

static int grow_positions(struct book *b)
{
        size_t cap = b->cap_pos != 0 ? 2 * b->cap_pos : 64;
        struct hf_position *pos;
        struct book_meta *meta;

        pos = realloc(b->pos, cap * sizeof(*pos));
        if (pos == NULL)
                return -ENOMEM;
        b->pos = pos;
        meta = realloc(b->meta, cap * sizeof(*meta));
        if (meta == NULL)
                return -ENOMEM;
        b->meta = meta;
        b->cap_pos = cap;
        return 0;
}

static void remove_position(struct book *b, size_t i)
{
        ledger_close(&b->ledger, &b->meta[i]);
        memmove(&b->pos[i], &b->pos[i + 1], (b->n_pos - i - 1) * sizeof(b->pos[0]));
        memmove(&b->meta[i], &b->meta[i + 1], (b->n_pos - i - 1) * sizeof(b->meta[0]));
        b->n_pos--;
}

/* Fills p (the position the order opens, or the netting position it reverses) from the order. */
static void set_opened(struct hf_position *p, struct book_meta *m, const struct book_order *o,
                       uint64_t order, double volume, int64_t now_ms, int64_t close_at)
{
        p->ticket = order;
        p->identifier = order;
        p->magic = o->magic;
        copy_text(p->symbol, sizeof(p->symbol), o->symbol);
        p->type = o->type;
        p->volume = volume;
        p->price_open = price_for(o->symbol, order);
        p->time_msc = now_ms;
        copy_text(p->comment, sizeof(p->comment), o->comment);
        m->close_at = close_at;
        tag_of(p->comment, m);
}

static int open_new(struct book *b, const struct book_order *o, uint64_t order, double volume,
                    int64_t now_ms, int64_t close_at)
{
        struct hf_position *p;
        int err;

        if (b->n_pos == b->cap_pos && (err = grow_positions(b)) != 0)
                return err;
        p = &b->pos[b->n_pos];
        memset(p, 0, sizeof(*p));
        set_opened(p, &b->meta[b->n_pos], o, order, volume, now_ms, close_at);
        err = ledger_open(&b->ledger, &b->meta[b->n_pos]);
        if (err != 0)
                return err;
        b->n_pos++;
        return deal_for(b, p, order, o->type, 0, volume, o->comment, now_ms);
}

/* A netting account's order against the symbol's open position at index i. */
static int net_into(struct book *b, size_t i, const struct book_order *o, uint64_t order,
                    double volume, int64_t now_ms, int64_t close_at, uint64_t *identifier)
{
        struct hf_position *p = &b->pos[i];
        double left;
        int err;

        if (p->type == o->type) {
                p->volume = round_lots(p->volume + volume);
                *identifier = p->identifier;
                return deal_for(b, p, order, o->type, 0, volume, o->comment, now_ms);
        }
        left = round_lots(p->volume - volume);
        *identifier = p->identifier;
        if (left > 0) {
                p->volume = left;
                return deal_for(b, p, order, o->type, 1, volume, o->comment, now_ms);
        }
        if (left == 0) {
                err = deal_for(b, p, order, o->type, 1, volume, o->comment, now_ms);
                remove_position(b, i);
                return err;
        }
        /* Reversal: the old position ends and the order's ticket names the new one. */
        ledger_close(&b->ledger, &b->meta[i]);
        set_opened(p, &b->meta[i], o, order, -left, now_ms, close_at);
        *identifier = order;
        err = ledger_open(&b->ledger, &b->meta[i]);
        if (err != 0)
                return err;
        return deal_for(b, p, order, o->type, 2, volume, o->comment, now_ms);
}

int book_fill(struct book *b, const struct book_order *o, int64_t now_ms, int64_t close_at,
              uint64_t *order, uint64_t *identifier)
{
        double volume = round_lots(o->volume);

        if (b->netting) {
                for (size_t i = 0; i < b->n_pos; i++) {
                        if (strcmp(b->pos[i].symbol, o->symbol) != 0)
                                continue;
                        *order = b->next_ticket++;
                        return net_into(b, i, o, *order, volume, now_ms, close_at, identifier);
                }
        }
        if (b->n_pos >= b->max_positions)
                return MP_RET_LIMIT_POSITIONS;
        *order = b->next_ticket++;
        *identifier = *order;
        return open_new(b, o, *order, volume, now_ms, close_at);
}

long book_find(const struct book *b, uint64_t identifier)
{
        for (size_t i = 0; i < b->n_pos; i++)
                if (b->pos[i].identifier == identifier)
                        return (long)i;
        return -1;
}

static int close_at_index(struct book *b, size_t i, const char *comment, int64_t now_ms,
                          uint64_t *deal)
{
        struct hf_position *p = &b->pos[i];
        uint64_t order = b->next_ticket++;
        int err;

        err = deal_for(b, p, order, !p->type, 1, p->volume, comment, now_ms);
        if (err != 0)
                return err;
        if (deal != NULL)
                *deal = b->deals[b->n_deals - 1].ticket;
        remove_position(b, i);
        return 0;
}

int book_close(struct book *b, uint64_t identifier, const char *comment, int64_t now_ms,
               uint64_t *deal)
{
        long i = book_find(b, identifier);

        if (i < 0)
                return MP_RET_POSITION_CLOSED;
        return close_at_index(b, (size_t)i, comment, now_ms, deal);
}

int book_expire(struct book *b, int64_t mono_ms, int64_t now_ms)
{
        int closed = 0;

        for (size_t i = 0; i < b->n_pos;) {
                int err;

                if (b->meta[i].close_at > mono_ms) {
                        i++;
                        continue;
                }
                /* Which of the two fired does not matter to anyone; alternate for realism. */
                err = close_at_index(b, i, b->pos[i].ticket % 2 ? "[tp]" : "[sl]", now_ms, NULL);
                if (err != 0)
                        return err;
                closed++;
        }
        return closed;
}

int64_t book_next_expiry(const struct book *b)
{
        int64_t next = BOOK_NEVER;

        for (size_t i = 0; i < b->n_pos; i++)
                if (b->meta[i].close_at < next)
                        next = b->meta[i].close_at;
        return next;
}

void book_prune_deals(struct book *b, int64_t cutoff_ms)
{
        size_t keep = 0;

        while (keep < b->n_deals && b->deals[keep].time_msc < cutoff_ms)
                keep++;
        if (keep == 0)
                return; /* also keeps memmove away from an empty (NULL) array */
        memmove(b->deals, b->deals + keep, (b->n_deals - keep) * sizeof(b->deals[0]));
        b->n_deals -= keep;
}
