/*
 * hedge-syncer's log: one line per event on stderr. Under systemd (stderr is the journal, as
 * $JOURNAL_STREAM says) each line starts with a "<N>" priority the journal understands and no
 * timestamp, since the journal adds one; anywhere else each line starts with the UTC time.
 * Text that comes from a snapshot goes through hr_escape first: it cannot end a line early.
 */
#ifndef HEDGE_SYNCER_LOG_H
#define HEDGE_SYNCER_LOG_H

#include <stddef.h>

/* syslog priorities, so the journal prefix is the level itself. */
enum hr_log_level {
        HR_LOG_ERR = 3,
        HR_LOG_WARNING = 4,
        HR_LOG_NOTICE = 5,
        HR_LOG_INFO = 6,
        HR_LOG_DEBUG = 7,
};

/* Lines above max_level are dropped (default HR_LOG_INFO; --verbose gives HR_LOG_DEBUG). A
 * max_level below HR_LOG_ERR silences everything, for benchmarks. Call before any thread
 * logs. */
void hr_log_setup(int max_level);

/* 1 if a line at level would be printed: lets callers skip building costly messages. */
int hr_log_enabled(enum hr_log_level level);

void hr_log(enum hr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Room hr_escape needs for text of n bytes: each byte may become four ("\xNN"), and a NUL. */
#define HR_ESCAPED_SIZE(n) (4 * (size_t)(n) + 1)

/*
 * Text from a snapshot (comments, symbols), made safe to log: every byte outside 0x20..0x7e,
 * and the backslash and double quote that would make the result ambiguous, becomes \xNN. A
 * percent-encoded newline, carriage return or escape sequence in a comment could otherwise
 * forge a journal line, or a line that a terminal shows as something else. Writes into buf
 * (size bytes, HR_ESCAPED_SIZE of the text fits it whole; less cuts it at a whole character)
 * and returns buf.
 */
const char *hr_escape(const char *text, char *buf, size_t size);

#endif
