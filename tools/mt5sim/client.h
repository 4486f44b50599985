/*
 * Client of mt5sim, the simulated MT5 terminal, for bots, demos and tests: one connection per
 * handle, one request at a time, every wait bounded by the handle's timeout.
 *
 * An order has three outcomes, and the third is the one that matters: MS_UNKNOWN means the
 * request left in full but no answer came back (timeout, or the connection closed), so the
 * order may have filled. A bot must then leave its slot HEDGING and wait for the syncer, never
 * reset it. A negative return means the request never left: nothing happened at the broker.
 *
 * After any failure the connection is dropped (a late reply must never be read as the answer
 * to the next request); the next call reconnects to the same path by itself.
 * A handle is for one thread at a time. Every function sets the handle's last reply text
 * (ms_last_reply) for logs.
 */
#ifndef HEDGESHM_MT5SIM_CLIENT_H
#define HEDGESHM_MT5SIM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define MS_TIMEOUT_MS 2000 /* default wait for a reply */

typedef struct ms_conn ms_conn;

enum ms_outcome {
        MS_FILLED = 1,   /* the order filled: order ticket and position identifier are known */
        MS_REJECTED = 2, /* the terminal refused the order; retcode says why */
        MS_UNKNOWN = 3,  /* sent, but no answer: it may have filled */
};

struct ms_order_result {
        uint64_t order;      /* MS_FILLED: the order's ticket */
        uint64_t identifier; /* MS_FILLED: the position identifier (the opening order's ticket) */
        int retcode;         /* 10009 when filled, the MT5 retcode when rejected, 0 when unknown */
        char text[128];      /* the terminal's words, or why the outcome is unknown */
};

enum ms_fault {
        MS_FAULT_STALL,       /* value ms without snapshot writes */
        MS_FAULT_DISCONNECT,  /* value ms of connected 0 and orders rejected 10031 */
        MS_FAULT_SEQ_BACK,    /* the next snapshot's sequence goes backward (value ignored) */
        MS_FAULT_MALFORMED,   /* the next snapshot file is torn (value ignored) */
        MS_FAULT_LOSE_REPLY,  /* the next value fills are never answered (0: 1) */
        MS_FAULT_HANGUP,      /* the next value fills close the connection instead (0: 1) */
        MS_FAULT_REJECT_RATE, /* value percent of orders rejected with 10006 from now on */
        MS_FAULT_CLEAR,       /* all faults off, reject rate back to --reject-percent */
};

struct ms_position {
        uint64_t ticket, identifier, magic;
        char symbol[32];
        int type; /* 0 buy, 1 sell */
        double volume, price_open;
        int64_t time_msc;
        char comment[64];
};

struct ms_ledger_key {
        uint32_t instance, slot; /* the tag's key: segment instance and slot */
        uint32_t open;           /* positions open now under that key */
        uint32_t max_open;       /* most ever open at once (2 or more: a duplicate hedge) */
};

struct ms_ledger {
        uint64_t duplicates;     /* keys that ever had two or more positions open at once */
        uint64_t untagged_open;  /* open positions whose comment holds no tag */
        uint64_t untagged_total; /* positions without a tag ever opened */
        size_t n_keys;
        struct ms_ledger_key *keys; /* malloc'd; ms_ledger_free */
};

struct ms_stats {
        uint64_t orders, fills, rejections, closes, auto_closes, lost_replies;
        uint64_t snapshots, snapshot_errors, bad_requests, open, seq;
};

/* Connects to the mt5sim socket at path. Returns 0 with *out set, -EINVAL (path too long),
 * -ENOMEM, or connect's negative errno (-ENOENT, -ECONNREFUSED: no mt5sim there). */
int ms_connect(const char *path, ms_conn **out);

/* Closes the connection and frees the handle (NULL is fine). */
void ms_disconnect(ms_conn *c);

/* Wait for each reply at most timeout_ms (> 0; default MS_TIMEOUT_MS). */
void ms_set_timeout(ms_conn *c, int timeout_ms);

/* The last reply line received, or what went wrong, for logs. */
const char *ms_last_reply(const ms_conn *c);

/*
 * Sends a market order: type 0 buy, 1 sell; comment may be NULL or empty (the hedge tag goes
 * there). Returns MS_FILLED, MS_REJECTED or MS_UNKNOWN with *res filled; or, when the request
 * never left (nothing happened at the broker), -EINVAL (a symbol of 1..31 bytes, a comment of
 * at most 63, volume in (0, 100000], no control bytes), -EPROTO (the terminal did not
 * understand the request), or a negative errno from reconnecting or sending.
 */
int ms_order(ms_conn *c, const char *symbol, int type, double volume, uint64_t magic,
             const char *comment, struct ms_order_result *res);

/* Whether an MT5 retcode leaves an order's outcome unknown on a real terminal (10012 timeout,
 * 10031 no connection, -10005 IPC timeout): the shared protocol treats them as MS_UNKNOWN. */
int ms_retcode_unknown(int retcode);

/* Closes a position by identifier. Returns 0 with *deal (may be NULL) set, -ENOENT (no such open
 * position), -ENETDOWN (the terminal is disconnected), -ETIMEDOUT or -ECONNRESET (no answer:
 * it may have closed), -EPROTO, or a negative errno from reconnecting or sending. */
int ms_close(ms_conn *c, uint64_t identifier, uint64_t *deal);

/* The open positions, in ticket order, as a malloc'd array (free() it). Returns 0, -ENOMEM,
 * -ETIMEDOUT, -ECONNRESET, -EPROTO or a negative errno from reconnecting or sending. */
int ms_positions(ms_conn *c, struct ms_position **out, size_t *n);

/* The broker's ledger of open positions per tag key. Returns as ms_positions. */
int ms_ledger(ms_conn *c, struct ms_ledger *out);
void ms_ledger_free(struct ms_ledger *l);

/* Open positions under one key in l (0 when the key never had any). */
uint32_t ms_ledger_open(const struct ms_ledger *l, uint32_t instance, uint32_t slot);

/* Arms a fault. Returns 0, -EINVAL (unknown fault or value out of range), or as ms_positions. */
int ms_fault(ms_conn *c, enum ms_fault fault, uint64_t value);

/* The terminal's counters. Returns as ms_positions. */
int ms_stats(ms_conn *c, struct ms_stats *out);

/* Round trip with no effect: 0 when the terminal answers. */
int ms_ping(ms_conn *c);

/* Stops the simulator (it answers BYE, then exits cleanly). Returns 0 or as ms_positions. */
int ms_quit(ms_conn *c);

#endif
