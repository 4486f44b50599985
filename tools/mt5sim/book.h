/*
 * The simulated broker's books: the open positions, the recent deals, and the ledger that
 * counts open positions per hedge tag key. Pure bookkeeping: every function takes the times it
 * needs as arguments and draws no random numbers, so the unit tests drive it step by step and
 * the server stays deterministic under --seed.
 */
#ifndef HEDGESHM_MT5SIM_BOOK_H
#define HEDGESHM_MT5SIM_BOOK_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

#define BOOK_NEVER INT64_MAX /* close_at of a position that never closes by itself */

/* Per open position, beside its hf_position (parallel arrays, so a snapshot takes the
 * positions as they are). */
struct book_meta {
        int64_t close_at; /* monotonic ms when stop-loss or take-profit closes it */
        int tagged;       /* the comment holds an order tag: instance and slot are its key */
        uint32_t instance, slot;
};

/* The broker's own count of open positions per tag key (segment instance, slot). */
struct book_key {
        uint32_t instance, slot;
        uint32_t open;     /* open now */
        uint32_t max_open; /* most ever open at once */
};

struct book_ledger {
        struct book_key *keys; /* sorted by (instance, slot); keys stay once seen */
        size_t n_keys, cap_keys;
        uint64_t duplicates;     /* keys whose max_open reached 2 */
        uint64_t untagged_open;  /* positions without a tag, open now */
        uint64_t untagged_total; /* positions without a tag, ever opened */
};

struct book {
        int netting;          /* 1: one position per symbol (ACCOUNT_MARGIN_MODE 0) */
        size_t max_positions; /* more are refused with 10040 */
        uint64_t next_ticket; /* orders, deals and positions draw from one increasing counter */
        struct hf_position *pos;
        struct book_meta *meta;
        size_t n_pos, cap_pos;
        struct hf_deal *deals; /* oldest first */
        size_t n_deals, cap_deals;
        struct book_ledger ledger;
};

/* What an order asks for. */
struct book_order {
        const char *symbol;
        int type; /* 0 buy, 1 sell */
        double volume;
        uint64_t magic;
        const char *comment;
};

/* An empty book whose first ticket is first_ticket (> 0). */
void book_init(struct book *b, int netting, size_t max_positions, uint64_t first_ticket);
void book_free(struct book *b);

/*
 * Executes a market order at now_ms (CLOCK_REALTIME ms). A new position closes by itself at
 * close_at (monotonic ms, or BOOK_NEVER). On a hedging account every order opens a position
 * whose identifier is the order's ticket; on a netting account it adds to, reduces, closes or
 * reverses the symbol's position (a reversal takes the order's ticket as the new identifier,
 * as MT5 does). Returns 0 with *order and *identifier set, MP_RET_LIMIT_POSITIONS, or -ENOMEM.
 */
int book_fill(struct book *b, const struct book_order *o, int64_t now_ms, int64_t close_at,
              uint64_t *order, uint64_t *identifier);

/* Closes the position with that identifier by a closing order and an out deal whose comment
 * is comment. Returns 0 with *deal set, MP_RET_POSITION_CLOSED when there is none, -ENOMEM. */
int book_close(struct book *b, uint64_t identifier, const char *comment, int64_t now_ms,
               uint64_t *deal);

/* Closes every position whose close_at <= mono_ms, as stop-loss or take-profit would. Returns
 * how many closed, or -ENOMEM. */
int book_expire(struct book *b, int64_t mono_ms, int64_t now_ms);

/* The earliest close_at of the open positions, or BOOK_NEVER. */
int64_t book_next_expiry(const struct book *b);

/* Forgets the deals older than cutoff_ms (CLOCK_REALTIME ms). */
void book_prune_deals(struct book *b, int64_t cutoff_ms);

/* Index of the open position with that identifier, or -1. */
long book_find(const struct book *b, uint64_t identifier);

#endif
