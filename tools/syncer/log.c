/*
 * The log (see log.h). A line is formatted whole into one buffer and written with one write(2),
 * so lines from a forked test child or a second thread never interleave mid-line. hr_escape
 * keeps text from snapshots to one printable line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int max_level = HR_LOG_INFO;
static int to_journal;

/* systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected stderr to. */
static int stderr_is_journal(void)
{
        const char *env = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat sb;

        if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &sb) != 0)
                return 0;
        return (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino;
}

void hr_log_setup(int level)
{
        max_level = level;
        to_journal = stderr_is_journal();
}

int hr_log_enabled(enum hr_log_level level)
{
        return (int)level <= max_level;
}

static const char *level_name(enum hr_log_level level)
{
        switch (level) {
        case HR_LOG_ERR:
                return "error";
        case HR_LOG_WARNING:
                return "warning";
        case HR_LOG_NOTICE:
                return "notice";
        case HR_LOG_INFO:
                return "info";
        default:
                return "debug";
        }
}

void hr_log(enum hr_log_level level, const char *fmt, ...)
{
        char line[1024];
        size_t n;
        va_list ap;
        int k;

        if (!hr_log_enabled(level))
                return;
        if (to_journal) {
                k = snprintf(line, sizeof(line), "<%d>", (int)level);
        } else {
                struct timespec ts;
                struct tm tm;

                clock_gettime(CLOCK_REALTIME, &ts);
                gmtime_r(&ts.tv_sec, &tm);
                k = snprintf(line, sizeof(line),
                             "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ", tm.tm_year + 1900,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                             ts.tv_nsec / 1000000, level_name(level));
        }
        n = k > 0 ? (size_t)k : 0;
        va_start(ap, fmt);
        k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        n += k > 0 ? (size_t)k : 0;
        if (n > sizeof(line) - 2)
                n = sizeof(line) - 2; /* cut an overlong line, keep its newline */
        line[n++] = '\n';
        /* One write per line; a failed log write has nowhere better to be reported. */
        if (write(2, line, n) < 0)
                return;
}

const char *hr_escape(const char *text, char *buf, size_t size)
{
        static const char hex[] = "0123456789abcdef";
        size_t n = 0;

        if (size == 0)
                return buf;
        for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
                if (*c >= 0x20 && *c <= 0x7e && *c != '\\' && *c != '"') {
                        if (n + 1 >= size)
                                break;
                        buf[n++] = (char)*c;
                        continue;
                }
                if (n + 4 >= size)
                        break;
                buf[n++] = '\\';
                buf[n++] = 'x';
                buf[n++] = hex[*c >> 4];
                buf[n++] = hex[*c & 0xf];
        }
        buf[n] = '\0';
        return buf;
}
