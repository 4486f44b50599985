/*
 * The snapshot feed: what an MT5 exporter (the HedgeExport EA, the Python reference exporter or
 * mt5sim) tells the syncer about the account, as a line-based text file written atomically.
 * docs/snapshot-format.md is the format's specification; this header is its C interface.
 *
 * hf_parse is a pure function of its input (no I/O, no globals it writes, never reads past
 * len) so it can be fuzzed and replayed; anything it accepts obeys every range rule below, and
 * hf_format writes exactly what hf_parse accepts.
 */
#ifndef HEDGESHM_FEED_SNAPSHOT_H
#define HEDGESHM_FEED_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#define HF_FORMAT 1

/* Limits the parser enforces (and the formatter checks). */
#define HF_SYMBOL_MAX      31      /* bytes, after decoding; at least 1 */
#define HF_COMMENT_MAX     63      /* bytes, after decoding; may be 0 */
#define HF_RECORDS_MAX     2000000 /* positions + orders + deals in one snapshot */
/* Latest time in ms (year 2262): a time in ns must still fit an int64_t, since readers
 * compare snapshot times with CLOCK_REALTIME in ns. */
#define HF_TIME_MS_MAX     (INT64_MAX / 1000000)
#define HF_ORDER_TYPE_MAX  8       /* ORDER_TYPE_BUY (0) .. ORDER_TYPE_CLOSE_BY (8) */
#define HF_DEAL_ENTRY_MAX  3       /* DEAL_ENTRY_IN (0) .. DEAL_ENTRY_OUT_BY (3) */
#define HF_MARGIN_MODE_MAX 2       /* 0 netting, 1 exchange, 2 retail hedging */

/* An open position (MT5 POSITION_*). ticket and identifier are never 0. */
struct hf_position {
        uint64_t ticket, identifier, magic;
        char symbol[32];
        int type; /* 0 buy, 1 sell */
        double volume, price_open;
        int64_t time_msc;
        char comment[64];
};

/* An order still in the terminal's order list (pending, or a market order not yet done). */
struct hf_order {
        uint64_t ticket, position_id, magic; /* position_id 0: the order opens a new position */
        char symbol[32];
        int type; /* ENUM_ORDER_TYPE, 0..HF_ORDER_TYPE_MAX */
        double volume;
        int64_t time_setup_msc;
        char comment[64];
};

/* A trade deal of the last minutes (buy or sell deals only; balance operations are not sent). */
struct hf_deal {
        uint64_t ticket, order, position_id, magic; /* ticket, position_id never 0 */
        char symbol[32];
        int type;  /* 0 buy, 1 sell */
        int entry; /* 0 in, 1 out, 2 inout, 3 out_by */
        double volume;
        int64_t time_msc;
        char comment[64];
};

struct hf_snapshot {
        uint32_t format; /* HF_FORMAT */
        uint64_t seq;    /* >= 1; strictly increases on every write of the file */
        int64_t time_ms; /* the exporter's clock, Unix ms (UTC); > 0 */
        uint64_t login;  /* account login; 0 when not logged in */
        int connected;   /* 0 or 1: the terminal is connected to the trade server */
        int margin_mode; /* ACCOUNT_MARGIN_MODE, 0..HF_MARGIN_MODE_MAX */
        size_t n_positions, n_orders, n_deals;
        struct hf_position *positions;
        struct hf_order *orders;
        struct hf_deal *deals;
};

/*
 * Parses buf[0..len) (need not be NUL-terminated) into *out, which is treated as uninitialised.
 * Returns 0, or -EINVAL when the text is not a valid snapshot: why (if not NULL) then holds the
 * first offending line number and field, and *out is zeroed with nothing allocated. Returns
 * -ENOMEM (also with *out zeroed) if the records could not be allocated.
 */
int hf_parse(const char *buf, size_t len, struct hf_snapshot *out, char *why, size_t why_len);

/* Frees what hf_parse allocated and zeroes *snap. NULL and zeroed snapshots are fine. */
void hf_free(struct hf_snapshot *snap);

/*
 * Formats *snap as snapshot text in a malloc'd buffer (*buf, *len; NUL-terminated, the NUL not
 * counted). Returns 0, -EINVAL if *snap breaks a rule hf_parse enforces (nothing is written
 * then), or -ENOMEM.
 */
int hf_format(const struct hf_snapshot *snap, char **buf, size_t *len);

/*
 * Formats *snap and replaces the file at path atomically: writes "<path>.tmp.<pid>", fsyncs it
 * and renames it over path, so a reader sees the old file or the new one, never a part. Returns
 * 0, hf_format's errors, or a negative errno from open/write/fsync/rename (the temporary file is
 * removed then).
 */
int hf_write_atomic(const char *path, const struct hf_snapshot *snap);

/*
 * CRC-32 as zlib's crc32(): start with crc = 0, feed the bytes in any number of pieces. The
 * snapshot trailer carries this checksum of every byte before the trailer line.
 */
uint32_t hf_crc32(uint32_t crc, const void *buf, size_t len);

#endif
