/*
 * shmdump: print everything a hedgeshm segment holds (its shape, the counters and every used
 * slot) as text or JSON, once or redrawn at an interval (docs/shmdump.md is its manual).
 *
 * It is the tool people reach for when something is wrong, so it must keep working when the
 * segment is damaged: it maps the segment read-only (read permission is enough, and it can
 * change nothing), reports a slot it cannot read in place and goes on to the next, and only
 * the exit status (3) sums up that something was corrupt.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hedgeshm.h"

#define WATCH_MAX_MS 86400000u /* a day: longer is a typo */

struct options {
        const char *name;
        int json;
        int filter;
        enum hshm_state state;
        uint64_t watch_ms; /* 0: dump once */
        uint64_t count;    /* 0: until interrupted */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

static const char help[] =
    "Usage: shmdump [--name NAME] [--json] [--state STATE] [--watch SECONDS [--count N]]\n"
    "Print a hedgeshm segment: its header, its counters and every used slot.\n"
    "The segment is opened read-only: read permission is enough.\n\n"
    "  --name NAME      segment to dump (default: $" HSHM_NAME_ENV ", else " HSHM_DEFAULT_NAME ")\n"
    "  --json           one JSON document {\"info\":{...},\"stats\":{...},\"slots\":[...]}\n"
    "  --state STATE    only slots in STATE: available, hedging, active or error\n"
    "                   (slots that cannot be read are always shown)\n"
    "  --watch SECONDS  redraw every SECONDS (decimals allowed) until Ctrl-C or SIGTERM;\n"
    "                   with --json, one document per line\n"
    "  --count N        with --watch: stop after N dumps\n"
    "  --help           show this help\n\n"
    "A slot being written shows as \"busy (being written)\"; a corrupt slot shows what is\n"
    "wrong with it, the dump goes on, and the exit status is 3.\n\n";

/* One dump. Returns the exit code it earns: 0, or 3 when anything could not be read. */
static int dump(const struct options *o)
{
        struct hshm_stats stats;
        struct hshm_sync sync;
        struct hshm_info info;
        hshm_store *store;
        int err, sync_err, rc = CLI_EXIT_OK;

        err = hshm_open(o->name, HSHM_OPEN_RDONLY, &store);
        if (err < 0) {
                cli_fail(err, o->name, "cannot open segment %s", o->name);
                return CLI_EXIT_STORE;
        }
        err = hshm_info(store, &info);
        if (err < 0) {
                cli_fail(err, o->name, "cannot read the header of %s", o->name);
                hshm_close(store);
                return CLI_EXIT_STORE;
        }
        /* Counters that cannot be read still leave the slots worth showing. */
        err = hshm_stats(store, &stats);
        if (err < 0)
                rc = cli_fail(err, o->name, "cannot read the counters of %s", o->name);
        sync_err = hshm_sync_read(store, &sync);
        if (sync_err < 0)
                rc = cli_fail(sync_err, o->name, "cannot read the syncer block of %s", o->name);
        if (o->json) {
                printf("{\"info\":");
                cli_info_json(stdout, o->name, &info);
                printf(",\"stats\":");
                if (err == 0)
                        cli_stats_json(stdout, &stats);
                else
                        printf("null");
                printf(",\"sync\":");
                if (sync_err == 0)
                        cli_sync_json(stdout, &sync);
                else
                        printf("null");
                printf(",\"slots\":");
        } else {
                cli_info_text(stdout, o->name, &info);
                if (err == 0)
                        cli_stats_text(stdout, &stats);
                else
                        printf("counters   unreadable\n");
                if (sync_err == 0)
                        cli_sync_text(stdout, &sync);
                else
                        printf("syncer     unreadable\n");
                putchar('\n');
        }
        if (cli_print_slots(stdout, store, o->name, info.used, o->filter ? &o->state : NULL,
                            o->json))
                rc = CLI_EXIT_STORE;
        if (o->json)
                printf("}\n");
        hshm_close(store);
        return rc;
}

/* Sleep ms with SIGINT/SIGTERM let through only here: a signal during a dump waits for the
 * dump to finish, and one that came before the sleep still ends it at once. */
static void pause_ms(uint64_t ms, const sigset_t *during)
{
        struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                              .tv_nsec = (long)(ms % 1000) * 1000000};

        if (!stop)
                ppoll(NULL, 0, &ts, during);
}

static int watch(const struct options *o)
{
        struct sigaction sa = {.sa_handler = on_signal};
        sigset_t block, during;
        int rc = CLI_EXIT_OK, tty = isatty(STDOUT_FILENO) && !o->json;
        char when[64], every[32];

        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigprocmask(SIG_BLOCK, &block, &during);
        sigdelset(&during, SIGINT);
        sigdelset(&during, SIGTERM);
        sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: the signal must end ppoll */
        sigaction(SIGTERM, &sa, NULL);
        cli_format_duration(every, sizeof(every), (int64_t)o->watch_ms * 1000000);
        for (uint64_t i = 0; !stop && (o->count == 0 || i < o->count); i++) {
                int r;

                if (i > 0)
                        pause_ms(o->watch_ms, &during);
                if (stop)
                        break;
                if (tty)
                        printf("\033[H\033[2J"); /* home, then clear the screen */
                if (!o->json) {
                        cli_format_time(when, sizeof(when), cli_now_ns());
                        printf("every %s, %s%s\n", every, when, tty ? " (Ctrl-C to stop)" : "");
                }
                r = dump(o);
                if (r > rc)
                        rc = r;
                fflush(stdout);
        }
        return rc;
}

static const struct option long_opts[] = {
    {"name", required_argument, NULL, 'n'},
    {"json", no_argument, NULL, 'j'},
    {"state", required_argument, NULL, 's'},
    {"watch", required_argument, NULL, 'w'},
    {"count", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
        struct options o = {0};
        const char *name_opt = NULL, *count = NULL;
        int opt, rc;

        cli_set_prog("shmdump");
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
                switch (opt) {
                case 'n':
                        name_opt = optarg;
                        break;
                case 'j':
                        o.json = 1;
                        break;
                case 's':
                        if (cli_parse_state(optarg, &o.state))
                                return CLI_EXIT_USAGE;
                        o.filter = 1;
                        break;
                case 'w':
                        if (cli_parse_seconds("--watch", optarg, 1, WATCH_MAX_MS, &o.watch_ms))
                                return CLI_EXIT_USAGE;
                        break;
                case 'c':
                        count = optarg;
                        break;
                case 'h':
                        printf("%s%s", help, cli_exit_help);
                        return CLI_EXIT_OK;
                case ':':
                        return cli_usage_error("option %s needs a value", argv[optind - 1]);
                default:
                        return cli_usage_error("unknown option %s", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return cli_usage_error("unexpected argument \"%s\"", argv[optind]);
        if (count) {
                if (!o.watch_ms)
                        return cli_usage_error("--count only applies with --watch");
                if (cli_parse_u64("--count", count, UINT64_MAX, &o.count))
                        return CLI_EXIT_USAGE;
                if (o.count == 0)
                        return cli_usage_error("--count must be at least 1");
        }
        o.name = cli_segment_name(name_opt);
        if (!o.name)
                return CLI_EXIT_USAGE;
        rc = o.watch_ms ? watch(&o) : dump(&o);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                perror("shmdump: writing output");
                return CLI_EXIT_STORE;
        }
        return rc;
}
