/*
 * Helpers shared by the command-line tools (hedgectl, shmdump): how a library error becomes an
 * exit code and a message that says what to do next, strict number parsing, and one way of
 * printing a slot, the counters and the segment's shape, as a table or as JSON, so both tools
 * show the same thing the same way.
 */
#ifndef HEDGESHM_CLI_H
#define HEDGESHM_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "hedgeshm.h"

/* Exit codes of every tool; docs/exit-codes.md explains each. */
enum {
        CLI_EXIT_OK = 0,      /* done */
        CLI_EXIT_REFUSED = 1, /* the store said no: busy, stale token, wrong state, no such key */
        CLI_EXIT_USAGE = 2,   /* bad arguments: fix the command line */
        CLI_EXIT_STORE = 3,   /* the segment is missing, unreadable, corrupt or of another build */
};

/* The exit-code paragraph every --help ends with. */
extern const char cli_exit_help[];

/* Program name used as the prefix of every message. */
void cli_set_prog(const char *prog);

/* Subcommand being run, so usage errors point at `prog cmd --help`. */
void cli_set_command(const char *cmd);

/* Exit code for a value returned by the library (0 or a negative error). */
int cli_exit_code(int err);

/* Print "prog: what: message (detail)" and, where there is one, what to do about it, to stderr.
 * Call it right after the failing library call: it reads that call's hshm_last_detail().
 * name is the segment's name, used in the advice. Returns cli_exit_code(err). */
int cli_fail(int err, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Print "prog: message" and a hint to run --help, to stderr. Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Segment name from --name (may be NULL), else $HEDGESHM_NAME, else the default. On an invalid
 * name prints why and returns NULL. */
const char *cli_segment_name(const char *opt);

/* Strict unsigned decimal: digits only, no sign, no spaces, at most max. Prints a usage error
 * naming what and returns CLI_EXIT_USAGE on failure, 0 on success. */
int cli_parse_u64(const char *what, const char *text, uint64_t max, uint64_t *out);

/* Seconds as "N" or "N.FFF" (at most millisecond precision) into milliseconds, in
 * [min_ms, max_ms]. Same error convention as cli_parse_u64. */
int cli_parse_seconds(const char *what, const char *text, uint64_t min_ms, uint64_t max_ms,
                      uint64_t *out_ms);

/* State name as typed by a user (any case) into *out. Returns 0 or a usage error. */
int cli_parse_state(const char *text, enum hshm_state *out);

/* CLOCK_REALTIME in nanoseconds: the clock the store stamps its times with. */
int64_t cli_now_ns(void);

/* Duration as "850ms", "12.3s", "5m02s", "3h04m", "2d05h". Negative durations print as 0. */
void cli_format_duration(char *buf, size_t size, int64_t ns);

/* Wall time (CLOCK_REALTIME ns) as ISO 8601 UTC with milliseconds, or "-" for 0. */
void cli_format_time(char *buf, size_t size, int64_t ns);

/* s as a JSON string, quotes included. */
void cli_json_string(FILE *f, const char *s);

/* Column widths of a slot table: grown to fit every row (cli_table_fit) before any row is
 * printed, so columns line up whatever the keys' lengths. */
#define CLI_COLUMNS 12
struct cli_table {
        int width[CLI_COLUMNS];
};

void cli_table_init(struct cli_table *t);
void cli_table_fit(struct cli_table *t, hshm_store *store, const struct hshm_status *st);
void cli_table_header(FILE *f, const struct cli_table *t);
void cli_table_row(FILE *f, const struct cli_table *t, hshm_store *store,
                   const struct hshm_status *st, int64_t now_ns);

/* One slot as a JSON object (no newline). */
void cli_status_json(FILE *f, hshm_store *store, const struct hshm_status *st, int64_t now_ns);

/*
 * Slots 0 .. used-1 (only those in state *only when only is not NULL), as a table with its
 * header, or as a JSON array on one line without a newline. A slot that cannot be read is
 * printed in place: "busy (being written)" for -EAGAIN, else what is wrong with it; in JSON,
 * {"slot":N,"problem":"busy"|"corrupt"|"unreadable","error":...,"detail":...}. Such slots are
 * shown whatever the filter, since their state is unknown. Slots whose key is not written yet
 * hold no position and are skipped. Returns how many slots were unreadable for a reason other
 * than being busy, after saying so on stderr.
 */
unsigned cli_print_slots(FILE *f, hshm_store *store, const char *name, uint32_t used,
                         const enum hshm_state *only, int json);

/* The segment's shape and the counters, as text lines or as JSON objects (no newline). */
void cli_info_text(FILE *f, const char *name, const struct hshm_info *info);
void cli_info_json(FILE *f, const char *name, const struct hshm_info *info);
void cli_stats_text(FILE *f, const struct hshm_stats *stats);
void cli_stats_json(FILE *f, const struct hshm_stats *stats);

/* The syncer's block, as text lines under the counters or as a JSON object. */
void cli_sync_text(FILE *f, const struct hshm_sync *sync);
void cli_sync_json(FILE *f, const struct hshm_sync *sync);

#endif
