/*
 * Helpers shared by hedgectl and shmdump. The one rule they keep: everything a tool prints
 * about the store goes through here, so an exit code, a message, a table column or a JSON
 * field means the same thing in both tools and in docs/.
 *
 * Text output never trusts the segment's strings: any process can write bytes there, so
 * non-printable bytes become '?' in tables and \u00XX escapes in JSON (the JSON stays valid
 * whatever the segment holds).
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S  INT64_C(1000000000)

const char cli_exit_help[] = "Exit status:\n"
                             "  0  done\n"
                             "  1  refused: position busy, stale token, wrong state, no such "
                             "key, slot being written\n"
                             "  2  usage error: bad option, number, name, group or symbol\n"
                             "  3  store error: segment missing, not permitted, corrupt, of "
                             "another version or layout, full\n";

static const char *prog = "hedgeshm";
static const char *command;

void cli_set_prog(const char *name)
{
        const char *slash = strrchr(name, '/');

        prog = slash ? slash + 1 : name;
}

void cli_set_command(const char *cmd)
{
        command = cmd;
}

int cli_exit_code(int err)
{
        switch (err) {
        case 0:
                return CLI_EXIT_OK;
        case -EBUSY:
        case HSHM_ESTALE:
        case HSHM_ESTATE:
        case HSHM_ENOKEY:
        case -EAGAIN:
        case -EOVERFLOW:
                return CLI_EXIT_REFUSED;
        case -EINVAL:
                return CLI_EXIT_USAGE;
        default:
                /* Missing, forbidden, corrupt, full, or anything new: the store is the problem. */
                return CLI_EXIT_STORE;
        }
}

/* Errors whose advice below says all the library's detail would, and names the segment. */
static int advice_replaces_detail(int err)
{
        return err == -ENOENT || err == -EEXIST || err == -EACCES;
}

/* Say what the user can do about err, when there is something useful to say. */
static void print_advice(int err, const char *name)
{
        const char *n = name ? name : "NAME";

        switch (err) {
        case -ENOENT:
                fprintf(stderr,
                        "%s: segment %s not found: create it with `hedgectl init --name %s`\n",
                        prog, n, n);
                break;
        case -EACCES:
                fprintf(stderr,
                        "%s: run as the segment's owner, or have it shared with a group you are "
                        "in (`hedgectl init --mode 0660 --group GROUP`)\n",
                        prog);
                break;
        case -EPERM:
                fprintf(stderr,
                        "%s: --group must name a group you are a member of (see `id -Gn`)\n", prog);
                break;
        case -EEXIST:
                fprintf(stderr,
                        "%s: segment %s already exists: use it, or remove it first with "
                        "`hedgectl destroy --name %s`\n",
                        prog, n, n);
                break;
        case HSHM_ENOTSEG:
        case HSHM_EVERSION:
        case HSHM_ELAYOUT:
        case HSHM_ETRUNC:
        case HSHM_EINIT:
                fprintf(stderr,
                        "%s: check the name; if %s is yours and no bot uses it, re-create it "
                        "with `hedgectl destroy --name %s` and `hedgectl init --name %s`\n",
                        prog, n, n, n);
                break;
        case HSHM_ECORRUPT:
                fprintf(stderr, "%s: inspect the segment with `shmdump --name %s`\n", prog, n);
                break;
        case -ENOSPC:
                fprintf(stderr,
                        "%s: at init, /dev/shm has no room (free some or ask for a smaller "
                        "--capacity); otherwise every slot holds a key and a larger segment is "
                        "needed\n",
                        prog);
                break;
        case -EBUSY:
                fprintf(stderr, "%s: see who holds it with `hedgectl status GROUP SYMBOL`\n", prog);
                break;
        case HSHM_ESTATE:
                fprintf(stderr, "%s: see its state with `hedgectl status GROUP SYMBOL`\n", prog);
                break;
        case HSHM_ESTALE:
                fprintf(stderr,
                        "%s: that lock has ended (reset, or the position was put in ERROR); "
                        "see `hedgectl list` and take a new lock\n",
                        prog);
                break;
        case -EAGAIN:
                fprintf(stderr,
                        "%s: another process is writing that slot (or died while writing it); "
                        "try again\n",
                        prog);
                break;
        default:
                break;
        }
}

int cli_fail(int err, const char *name, const char *fmt, ...)
{
        char detail[256];
        va_list ap;

        /* Copy the detail before anything else can run in this thread. */
        snprintf(detail, sizeof(detail), "%s", hshm_last_detail());
        fprintf(stderr, "%s: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, ": %s", hshm_strerror(err));
        if (detail[0] != '\0' && !advice_replaces_detail(err))
                fprintf(stderr, " (%s)", detail);
        fputc('\n', stderr);
        /* Some details already say what to do; say it only once. */
        if (advice_replaces_detail(err) || !strstr(detail, "hedgectl"))
                print_advice(err, name);
        return cli_exit_code(err);
}

int cli_usage_error(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n%s: see `%s%s%s --help`\n", prog, prog, command ? " " : "",
                command ? command : "");
        return CLI_EXIT_USAGE;
}

const char *cli_segment_name(const char *opt)
{
        const char *name = hshm_resolve_name(opt);
        int err = hshm_validate_name(name);

        if (err < 0) {
                fprintf(stderr, "%s: bad segment name \"%s\": %s\n", prog, name,
                        hshm_last_detail()[0] ? hshm_last_detail() : hshm_strerror(err));
                fprintf(stderr,
                        "%s: a name is '/' then 1 to 255 printable ASCII characters, no '/' or "
                        "spaces, e.g. --name /hedgeshm\n",
                        prog);
                return NULL;
        }
        return name;
}

int cli_parse_u64(const char *what, const char *text, uint64_t max, uint64_t *out)
{
        unsigned long long v;
        char *end;

        /* strtoull alone would take " 5", "+5" and "-5" (as 2^64-5): insist on digits. */
        if (!isdigit((unsigned char)text[0]))
                return cli_usage_error("%s must be a non-negative decimal number, not \"%s\"", what,
                                       text);
        errno = 0;
        v = strtoull(text, &end, 10);
        if (*end != '\0')
                return cli_usage_error("%s must be a decimal number, not \"%s\"", what, text);
        if (errno == ERANGE || v > max)
                return cli_usage_error("%s %s is too large (at most %" PRIu64 ")", what, text, max);
        *out = v;
        return 0;
}

int cli_parse_seconds(const char *what, const char *text, uint64_t min_ms, uint64_t max_ms,
                      uint64_t *out_ms)
{
        const char *p = text;
        uint64_t ms = 0;
        int frac = 0;

        if (!isdigit((unsigned char)*p))
                goto bad;
        for (; isdigit((unsigned char)*p); p++) {
                ms = ms * 10 + (uint64_t)(*p - '0');
                if (ms > max_ms) /* also keeps the next multiplication from overflowing */
                        goto range;
        }
        ms *= 1000;
        if (*p == '.') {
                uint64_t scale = 100;

                for (p++; isdigit((unsigned char)*p); p++, frac++) {
                        if (frac == 3)
                                return cli_usage_error("%s \"%s\": at most 3 decimals "
                                                       "(milliseconds)",
                                                       what, text);
                        ms += (uint64_t)(*p - '0') * scale;
                        scale /= 10;
                }
                if (frac == 0)
                        goto bad;
        }
        if (*p != '\0')
                goto bad;
        if (ms < min_ms || ms > max_ms)
                goto range;
        *out_ms = ms;
        return 0;
bad:
        return cli_usage_error("%s must be a number of seconds such as 30 or 0.5, not \"%s\"", what,
                               text);
range:
        return cli_usage_error("%s %s s is out of range (%" PRIu64 ".%03" PRIu64 " .. %" PRIu64
                               " s)",
                               what, text, min_ms / 1000, min_ms % 1000, max_ms / 1000);
}

int cli_parse_state(const char *text, enum hshm_state *out)
{
        static const enum hshm_state all[] = {HSHM_AVAILABLE, HSHM_HEDGING, HSHM_ACTIVE,
                                              HSHM_ERROR};

        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                if (strcasecmp(text, hshm_state_name(all[i])) == 0) {
                        *out = all[i];
                        return 0;
                }
        }
        return cli_usage_error("unknown state \"%s\": use available, hedging, active or error",
                               text);
}

int64_t cli_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

void cli_format_duration(char *buf, size_t size, int64_t ns)
{
        int64_t s;

        if (ns < 0)
                ns = 0;
        s = ns / NS_PER_S;
        if (ns < NS_PER_S)
                snprintf(buf, size, "%" PRId64 "ms", ns / NS_PER_MS);
        else if (s < 60)
                snprintf(buf, size, "%" PRId64 ".%" PRId64 "s", s, ns % NS_PER_S / (NS_PER_S / 10));
        else if (s < 3600)
                snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
        else
                snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

void cli_format_time(char *buf, size_t size, int64_t ns)
{
        time_t secs;
        struct tm tm;
        char day[32];

        if (ns == 0) {
                snprintf(buf, size, "-");
                return;
        }
        /* Floor division, so a (corrupt) negative time still prints as a real instant. */
        secs = (time_t)(ns / NS_PER_S - (ns % NS_PER_S < 0));
        if (!gmtime_r(&secs, &tm) || !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm)) {
                snprintf(buf, size, "%" PRId64 "ns", ns);
                return;
        }
        snprintf(buf, size, "%s.%03dZ", day,
                 (int)((ns % NS_PER_S + NS_PER_S) % NS_PER_S / NS_PER_MS));
}

/* Length of the well-formed UTF-8 sequence of a printable character (U+00A0 and up: the C1
 * controls U+0080..U+009F include terminal escapes) starting at p, or 0 if there is none. */
static size_t utf8_printable(const unsigned char *p)
{
        size_t len;
        unsigned char lo = 0x80, hi = 0xbf;

        if (p[0] == 0xc2 && p[1] >= 0xa0 && p[1] <= 0xbf)
                return 2;
        if (p[0] >= 0xc3 && p[0] <= 0xdf)
                len = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                len = 3;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                len = 4;
        else
                return 0;
        /* Second-byte limits that exclude overlong forms, surrogates and values past U+10FFFF. */
        if (p[0] == 0xe0)
                lo = 0xa0;
        else if (p[0] == 0xed)
                hi = 0x9f;
        else if (p[0] == 0xf0)
                lo = 0x90;
        else if (p[0] == 0xf4)
                hi = 0x8f;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < len; i++)
                if (p[i] < 0x80 || p[i] > 0xbf)
                        return 0;
        return len;
}

void cli_json_string(FILE *f, const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t n;

        fputc('"', f);
        while (*p) {
                if (*p == '"' || *p == '\\') {
                        fprintf(f, "\\%c", *p++);
                } else if (*p >= 0x20 && *p < 0x7f) {
                        fputc(*p++, f);
                } else if ((n = utf8_printable(p)) > 0) {
                        fwrite(p, 1, n, f);
                        p += n;
                } else {
                        /* Controls and bytes that are not UTF-8 (segment bytes can be anything)
                         * become escapes, so the document stays valid JSON. */
                        fprintf(f, "\\u%04x", *p++);
                }
        }
        fputc('"', f);
}

/* Copy a segment string for a table cell: printable ASCII and UTF-8 pass, anything else
 * (controls, escapes, broken sequences) becomes '?', visible but harmless to a terminal. */
static void sanitize(char *dst, size_t size, const char *src)
{
        const unsigned char *p = (const unsigned char *)src;
        size_t i = 0, n;

        while (*p && i + 1 < size) {
                n = *p >= 0x20 && *p < 0x7f ? 1 : utf8_printable(p);
                if (n == 0) {
                        dst[i++] = '?';
                        p++;
                        continue;
                }
                if (i + n >= size)
                        break;
                memcpy(dst + i, p, n);
                i += n;
                p += n;
        }
        dst[i] = '\0';
}

/* A lock's age means something while the slot is held; AVAILABLE and ERROR slots show none
 * even if the fields still hold the last lock's values. */
static int held(const struct hshm_status *st)
{
        return st->state == HSHM_HEDGING || st->state == HSHM_ACTIVE;
}

/* The lease covers placing the order (HEDGING) only: once ACTIVE the hedge exists at the
 * broker and the lease no longer says anything (hshm_lease_expired agrees). */
static int leased(const struct hshm_status *st)
{
        return st->state == HSHM_HEDGING && st->lease_deadline_ns != 0;
}

enum column {
        COL_SLOT,
        COL_GROUP,
        COL_SYMBOL,
        COL_STATE,
        COL_GEN,
        COL_TOKEN,
        COL_OWNER,
        COL_TICKET,
        COL_HEDGE,
        COL_AGE,
        COL_LEASE,
        COL_REASON,
        COL_COUNT,
};

_Static_assert(COL_COUNT == CLI_COLUMNS, "cli.h sizes struct cli_table by the column count");

static const char *const headings[COL_COUNT] = {
    "SLOT",  "GROUP",  "SYMBOL", "STATE", "GEN",   "TOKEN",
    "OWNER", "TICKET", "HEDGE",  "AGE",   "LEASE", "REASON",
};

#define CELL_SIZE (HSHM_REASON_MAX + 1)

/* "dead" for an orphaned lock, "detached" for one held by its lease alone, "" otherwise
 * (alive, no owner, or no store to ask). */
static const char *owner_note(hshm_store *store, const struct hshm_status *st)
{
        switch (store != NULL ? hshm_owner_liveness(store, st) : HSHM_OWNER_NONE) {
        case HSHM_OWNER_DEAD:
                return "dead";
        case HSHM_OWNER_DETACHED:
                return "detached";
        default:
                return "";
        }
}

static void format_cells(char cells[COL_COUNT][CELL_SIZE], hshm_store *store,
                         const struct hshm_status *st, int64_t now_ns)
{
        const char *note = owner_note(store, st);

        char d[32];

        for (int i = 0; i < COL_COUNT; i++)
                snprintf(cells[i], CELL_SIZE, "-");
        snprintf(cells[COL_SLOT], CELL_SIZE, "%" PRIu32, st->slot);
        sanitize(cells[COL_GROUP], CELL_SIZE, st->group);
        sanitize(cells[COL_SYMBOL], CELL_SIZE, st->symbol);
        snprintf(cells[COL_STATE], CELL_SIZE, "%s", hshm_state_name(st->state));
        snprintf(cells[COL_GEN], CELL_SIZE, "%" PRIu64, st->generation);
        if (st->token)
                snprintf(cells[COL_TOKEN], CELL_SIZE, "%" PRIu64, st->token);
        if (st->owner.pid > 0)
                snprintf(cells[COL_OWNER], CELL_SIZE, "%" PRId32 "%s%s", st->owner.pid,
                         note[0] ? " " : "", note);
        if (st->ticket)
                snprintf(cells[COL_TICKET], CELL_SIZE, "%" PRIu64, st->ticket);
        if (st->hedge_symbol[0])
                sanitize(cells[COL_HEDGE], CELL_SIZE, st->hedge_symbol);
        if (held(st) && st->lock_ns) {
                cli_format_duration(d, sizeof(d), now_ns - st->lock_ns);
                snprintf(cells[COL_AGE], CELL_SIZE, "%s", d);
        }
        if (leased(st)) {
                if (hshm_lease_expired(st, now_ns)) {
                        cli_format_duration(d, sizeof(d), now_ns - st->lease_deadline_ns);
                        snprintf(cells[COL_LEASE], CELL_SIZE, "expired %s ago", d);
                } else {
                        cli_format_duration(d, sizeof(d), st->lease_deadline_ns - now_ns);
                        snprintf(cells[COL_LEASE], CELL_SIZE, "%s left", d);
                }
        }
        sanitize(cells[COL_REASON], CELL_SIZE, st->reason);
}

void cli_table_init(struct cli_table *t)
{
        for (int i = 0; i < COL_COUNT; i++)
                t->width[i] = (int)strlen(headings[i]);
}

void cli_table_fit(struct cli_table *t, hshm_store *store, const struct hshm_status *st)
{
        char cells[COL_COUNT][CELL_SIZE];

        /* The time columns change between fitting and printing; fitting against now keeps
         * their width close, and they are short anyway. */
        format_cells(cells, store, st, cli_now_ns());
        for (int i = 0; i < COL_COUNT; i++) {
                int w = (int)strlen(cells[i]);

                if (w > t->width[i])
                        t->width[i] = w;
        }
}

static void print_cells(FILE *f, const struct cli_table *t, const char *const cells[], int count)
{
        int last = count - 1;

        /* Pad only up to the last non-empty cell: no trailing spaces. */
        while (last > 0 && cells[last][0] == '\0')
                last--;
        for (int i = 0; i < last; i++)
                fprintf(f, "%-*s  ", t->width[i], cells[i]);
        fprintf(f, "%s\n", cells[last]);
}

void cli_table_header(FILE *f, const struct cli_table *t)
{
        print_cells(f, t, headings, COL_COUNT);
}

void cli_table_row(FILE *f, const struct cli_table *t, hshm_store *store,
                   const struct hshm_status *st, int64_t now_ns)
{
        char cells[COL_COUNT][CELL_SIZE];
        const char *ptrs[COL_COUNT];

        format_cells(cells, store, st, now_ns);
        for (int i = 0; i < COL_COUNT; i++)
                ptrs[i] = cells[i];
        print_cells(f, t, ptrs, COL_COUNT);
}

/* Short name of why a slot could not be read, as shown in tables and JSON. */
static const char *problem_name(int err)
{
        switch (err) {
        case -EAGAIN:
                return "busy";
        case HSHM_ECORRUPT:
                return "corrupt";
        default:
                return "unreadable";
        }
}

static void table_problem(FILE *f, const struct cli_table *t, uint32_t slot, int err,
                          const char *detail)
{
        char num[16], what[CELL_SIZE + 64], clean[CELL_SIZE];
        const char *cells[2] = {num, what};

        snprintf(num, sizeof(num), "%" PRIu32, slot);
        sanitize(clean, sizeof(clean), detail);
        if (err == -EAGAIN)
                snprintf(what, sizeof(what), "busy (being written)");
        else
                snprintf(what, sizeof(what), "%s: %s%s%s", problem_name(err), hshm_strerror(err),
                         clean[0] ? ": " : "", clean);
        print_cells(f, t, cells, 2);
}

void cli_status_json(FILE *f, hshm_store *store, const struct hshm_status *st, int64_t now_ns)
{
        fprintf(f, "{\"slot\":%" PRIu32 ",\"group\":", st->slot);
        cli_json_string(f, st->group);
        fprintf(f, ",\"symbol\":");
        cli_json_string(f, st->symbol);
        fprintf(f, ",\"state\":\"%s\",\"generation\":%" PRIu64 ",\"token\":%" PRIu64,
                hshm_state_name(st->state), st->generation, st->token);
        fprintf(f, ",\"owner\":{\"pid\":%" PRId32 ",\"start_ticks\":%" PRIu64 ",\"boot_id\":\"",
                st->owner.pid, st->owner.start_ticks);
        for (size_t i = 0; i < sizeof(st->owner.boot_id); i++)
                fprintf(f, "%02x", st->owner.boot_id[i]);
        fprintf(f, "\"},\"owner_note\":\"%s\",\"ticket\":%" PRIu64 ",\"hedge_symbol\":",
                owner_note(store, st), st->ticket);
        cli_json_string(f, st->hedge_symbol);
        fprintf(f, ",\"reason\":");
        cli_json_string(f, st->reason);
        fprintf(f,
                ",\"lock_ns\":%" PRId64 ",\"lease_deadline_ns\":%" PRId64
                ",\"activate_ns\":%" PRId64 ",\"changed_ns\":%" PRId64,
                st->lock_ns, st->lease_deadline_ns, st->activate_ns, st->changed_ns);
        if (held(st) && st->lock_ns)
                fprintf(f, ",\"lock_age_ms\":%" PRId64, (now_ns - st->lock_ns) / NS_PER_MS);
        else
                fprintf(f, ",\"lock_age_ms\":null");
        if (leased(st))
                fprintf(f, ",\"lease_left_ms\":%" PRId64 ",\"lease_expired\":%s",
                        (st->lease_deadline_ns - now_ns) / NS_PER_MS,
                        hshm_lease_expired(st, now_ns) ? "true" : "false");
        else
                fprintf(f, ",\"lease_left_ms\":null,\"lease_expired\":false");
        fputc('}', f);
}

static void problem_json(FILE *f, uint32_t slot, int err, const char *detail)
{
        fprintf(f, "{\"slot\":%" PRIu32 ",\"problem\":\"%s\",\"error\":", slot, problem_name(err));
        cli_json_string(f, hshm_strerror(err));
        fprintf(f, ",\"detail\":");
        cli_json_string(f, detail);
        fputc('}', f);
}

/* Whether slot i should be listed; *err and st are what reading it gave, detail its detail. */
static int read_slot(hshm_store *store, uint32_t i, const enum hshm_state *only, int *err,
                     struct hshm_status *st, char *detail, size_t size)
{
        *err = hshm_slot_status(store, i, st);
        snprintf(detail, size, "%s", *err ? hshm_last_detail() : "");
        if (*err == HSHM_ENOKEY)
                return 0;
        return *err != 0 || !only || st->state == *only;
}

unsigned cli_print_slots(FILE *f, hshm_store *store, const char *name, uint32_t used,
                         const enum hshm_state *only, int json)
{
        char detail[256], first_bad[256 + 64] = "";
        struct hshm_status st;
        struct cli_table t;
        unsigned bad = 0, shown = 0;
        int err;

        /* Text makes two passes, one to size the columns and one to print, instead of keeping
         * up to HSHM_CAPACITY_MAX snapshots in memory. Keys never change once written, so only
         * the short time columns can differ between the passes. */
        cli_table_init(&t);
        for (uint32_t i = 0; !json && i < used; i++)
                if (read_slot(store, i, only, &err, &st, detail, sizeof(detail)) && !err)
                        cli_table_fit(&t, store, &st);
        if (json)
                fputc('[', f);
        else
                cli_table_header(f, &t);
        for (uint32_t i = 0; i < used; i++) {
                if (!read_slot(store, i, only, &err, &st, detail, sizeof(detail)))
                        continue;
                if (json && shown)
                        fputc(',', f);
                shown++;
                if (err == 0 && json)
                        cli_status_json(f, store, &st, cli_now_ns());
                else if (err == 0)
                        cli_table_row(f, &t, store, &st, cli_now_ns());
                else if (json)
                        problem_json(f, i, err, detail);
                else
                        table_problem(f, &t, i, err, detail);
                if (err != 0 && err != -EAGAIN && bad++ == 0)
                        snprintf(first_bad, sizeof(first_bad), "slot %" PRIu32 ": %s%s%s", i,
                                 hshm_strerror(err), detail[0] ? ": " : "", detail);
        }
        if (json)
                fputc(']', f);
        if (bad)
                fprintf(stderr, "%s: %u slot%s of %s could not be read (first: %s)\n", prog, bad,
                        bad == 1 ? "" : "s", name, first_bad);
        return bad;
}

void cli_info_text(FILE *f, const char *name, const struct hshm_info *info)
{
        char created[64];

        cli_format_time(created, sizeof(created), info->created_ns);
        fprintf(f, "segment    %s%s\n", name, info->read_only ? " (opened read-only)" : "");
        fprintf(f, "format     %" PRIu32 ", instance %016" PRIx64 ", created %s\n",
                info->format_version, info->instance_id, created);
        fprintf(f,
                "slots      %" PRIu32 " used of %" PRIu32 ", %" PRIu32 " index buckets, %" PRIu32
                " B per slot, %" PRIu64 " B in all\n",
                info->used, info->capacity, info->index_buckets, info->slot_size, info->size_bytes);
        fprintf(f, "processes  %" PRIu32 " attached of %" PRIu32 "\n", info->procs_registered,
                info->procs_max);
}

void cli_info_json(FILE *f, const char *name, const struct hshm_info *info)
{
        fprintf(f, "{\"name\":");
        cli_json_string(f, name);
        fprintf(f,
                ",\"format_version\":%" PRIu32 ",\"capacity\":%" PRIu32 ",\"used\":%" PRIu32
                ",\"index_buckets\":%" PRIu32 ",\"slot_size\":%" PRIu32 ",\"procs_max\":%" PRIu32
                ",\"procs_registered\":%" PRIu32 ",\"size_bytes\":%" PRIu64
                ",\"instance_id\":%" PRIu64 ",\"created_ns\":%" PRId64 ",\"read_only\":%s}",
                info->format_version, info->capacity, info->used, info->index_buckets,
                info->slot_size, info->procs_max, info->procs_registered, info->size_bytes,
                info->instance_id, info->created_ns, info->read_only ? "true" : "false");
}

void cli_stats_text(FILE *f, const struct hshm_stats *s)
{
        fprintf(f,
                "counters   locks won %" PRIu64 ", lock conflicts %" PRIu64 ", activations %" PRIu64
                ", resets %" PRIu64 "\n",
                s->locks_won, s->lock_conflicts, s->activations, s->resets);
        fprintf(f,
                "           errors %" PRIu64 ", clears %" PRIu64 ", stale-token refusals %" PRIu64
                ", keys inserted %" PRIu64 "\n",
                s->errors, s->clears, s->stale_refusals, s->keys_inserted);
}

void cli_stats_json(FILE *f, const struct hshm_stats *s)
{
        fprintf(f,
                "{\"locks_won\":%" PRIu64 ",\"lock_conflicts\":%" PRIu64 ",\"activations\":%" PRIu64
                ",\"resets\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"clears\":%" PRIu64
                ",\"stale_refusals\":%" PRIu64 ",\"keys_inserted\":%" PRIu64 "}",
                s->locks_won, s->lock_conflicts, s->activations, s->resets, s->errors, s->clears,
                s->stale_refusals, s->keys_inserted);
}

static const char *health_name(enum hshm_sync_health h)
{
        switch (h) {
        case HSHM_SYNC_OK:
                return "ok";
        case HSHM_SYNC_DEGRADED:
                return "degraded";
        case HSHM_SYNC_ABSENT:
                break;
        }
        return "absent";
}

void cli_sync_text(FILE *f, const struct hshm_sync *y)
{
        const struct hshm_sync_counters *c = &y->counters;
        char beat[32], since[64];

        if (y->pid == 0) {
                fprintf(f, "syncer     none has run on this segment (nothing is reconciled)\n");
                return;
        }
        cli_format_duration(beat, sizeof(beat), cli_now_ns() - y->heartbeat_ns);
        fprintf(f,
                "syncer     %s: pid %d, heartbeat %s ago (every %u ms), grace %u ms, snapshot seq %" PRIu64
                "\n",
                health_name(y->health), (int)y->pid, beat, y->interval_ms, y->grace_ms,
                y->snapshot_seq);
        if (y->degraded) {
                cli_format_time(since, sizeof(since), y->degraded_since_ns);
                fprintf(f, "           degraded since %s: %s\n", since, y->degraded_reason);
        }
        fprintf(f,
                "           cycles %" PRIu64 ", snapshots ok %" PRIu64 ", rejected %" PRIu64
                ", resets %" PRIu64 ", adoptions %" PRIu64 "\n           duplicates %" PRIu64
                ", tag warnings %" PRIu64 ", errors marked %" PRIu64 "\n",
                c->cycles, c->snapshots_ok, c->snapshots_rejected, c->resets_closed, c->adoptions,
                c->duplicates, c->tag_warnings, c->errors_marked);
}

void cli_sync_json(FILE *f, const struct hshm_sync *y)
{
        const struct hshm_sync_counters *c = &y->counters;

        fprintf(f,
                "{\"health\":\"%s\",\"pid\":%d,\"interval_ms\":%u,\"grace_ms\":%u,\"started_ns\":%" PRId64
                ",\"heartbeat_ns\":%" PRId64 ",\"snapshot_seq\":%" PRIu64
                ",\"snapshot_time_ms\":%" PRId64 ",\"degraded\":%s,\"degraded_since_ns\":%" PRId64
                ",\"degraded_reason\":",
                health_name(y->health), (int)y->pid, y->interval_ms, y->grace_ms, y->started_ns,
                y->heartbeat_ns,
                y->snapshot_seq, y->snapshot_time_ms, y->degraded ? "true" : "false",
                y->degraded_since_ns);
        cli_json_string(f, y->degraded_reason);
        fprintf(f,
                ",\"counters\":{\"cycles\":%" PRIu64 ",\"snapshots_ok\":%" PRIu64
                ",\"snapshots_rejected\":%" PRIu64 ",\"resets_closed\":%" PRIu64
                ",\"adoptions\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"tag_warnings\":%" PRIu64
                ",\"errors_marked\":%" PRIu64 "}}",
                c->cycles, c->snapshots_ok, c->snapshots_rejected, c->resets_closed, c->adoptions,
                c->duplicates, c->tag_warnings, c->errors_marked);
}
