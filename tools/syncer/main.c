/*
 * hedge-syncer: keeps the segment honest against the MT5 terminal's snapshots. Runs in the
 * foreground beside the terminal (systemd: docs/hedge-syncer.service), one per segment, and
 * every cycle reads the latest snapshot, judges it, reconciles it when it may, and publishes
 * the sync block bots read (heartbeat, last snapshot, degraded state, counters).
 * docs/hedge-syncer.md is the manual; this file is only the process around syncer.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "source.h"
#include "syncer.h"

#define NS_PER_MS     INT64_C(1000000)
#define EXIT_DEGRADED 4 /* --once: the feed could not be trusted, nothing was done */
#define DAY_MS        (24ull * 3600 * 1000)

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
        stop_signal = sig;
}

static const char usage_text[] =
    "Usage: hedge-syncer [--name /SEG] --snapshot PATH [options]\n"
    "Reconcile the hedgeshm segment against the MT5 terminal's snapshot file, every cycle,\n"
    "until SIGTERM or SIGINT. Only one hedge-syncer may run per segment.\n"
    "\n"
    "  -n, --name /SEG        segment (default: $HEDGESHM_NAME, else /hedgeshm)\n"
    "  -s, --snapshot PATH    snapshot file the terminal's exporter replaces atomically\n"
    "      --interval-ms N    heartbeat and polling period (default 100)\n"
    "      --stale-ms N       degraded after N ms without a new snapshot (default 3000)\n"
    "      --grace-ms N       time left to a bot after its lock or activation before the\n"
    "                         syncer acts on its slot (default 1000)\n"
    "      --max-skew-ms N    reject snapshots whose time is further than N ms from the\n"
    "                         local clock (default 5000)\n"
    "      --once             one pass over the current snapshot, then exit\n"
    "  -v, --verbose          log every pass and every decision left for later\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status:\n"
    "  0  done: stopped by SIGTERM/SIGINT, or --once reconciled the snapshot\n"
    "  1  refused: another hedge-syncer runs for this segment (its pid is named)\n"
    "  2  usage error: bad option, number or segment name\n"
    "  3  store error: segment missing, not permitted, corrupt, of another version;\n"
    "     or removed or replaced while hedge-syncer ran\n"
    "  4  --once only: feed degraded (snapshot missing, rejected, stale, disconnected,\n"
    "     not a hedging account): nothing was changed\n";

struct options {
        const char *name;
        const char *snapshot;
        uint64_t interval_ms, stale_ms, grace_ms, max_skew_ms;
        int once, verbose;
};

static int parse_options(int argc, char **argv, struct options *o)
{
        enum { OPT_INTERVAL = 256, OPT_STALE, OPT_GRACE, OPT_SKEW, OPT_ONCE };
        static const struct option longopts[] = {
            {"name", required_argument, NULL, 'n'},
            {"snapshot", required_argument, NULL, 's'},
            {"interval-ms", required_argument, NULL, OPT_INTERVAL},
            {"stale-ms", required_argument, NULL, OPT_STALE},
            {"grace-ms", required_argument, NULL, OPT_GRACE},
            {"max-skew-ms", required_argument, NULL, OPT_SKEW},
            {"once", no_argument, NULL, OPT_ONCE},
            {"verbose", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, rc = 0;

        *o = (struct options){
            .interval_ms = 100, .stale_ms = 3000, .grace_ms = 1000, .max_skew_ms = 5000};
        opterr = 0;
        while (rc == 0 && (c = getopt_long(argc, argv, ":n:s:vh", longopts, NULL)) != -1) {
                switch (c) {
                case 'n':
                        o->name = optarg;
                        break;
                case 's':
                        o->snapshot = optarg;
                        break;
                case OPT_INTERVAL:
                        rc = cli_parse_u64("--interval-ms", optarg, 60000, &o->interval_ms);
                        break;
                case OPT_STALE:
                        rc = cli_parse_u64("--stale-ms", optarg, DAY_MS, &o->stale_ms);
                        break;
                case OPT_GRACE:
                        rc = cli_parse_u64("--grace-ms", optarg, DAY_MS, &o->grace_ms);
                        break;
                case OPT_SKEW:
                        rc = cli_parse_u64("--max-skew-ms", optarg, DAY_MS, &o->max_skew_ms);
                        break;
                case OPT_ONCE:
                        o->once = 1;
                        break;
                case 'v':
                        o->verbose = 1;
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        exit(CLI_EXIT_OK);
                case ':':
                        return cli_usage_error("%s needs a value", argv[optind - 1]);
                default:
                        return cli_usage_error("unknown option %s", argv[optind - 1]);
                }
        }
        if (rc != 0)
                return rc;
        if (optind < argc)
                return cli_usage_error("unexpected argument '%s'", argv[optind]);
        if (o->snapshot == NULL || o->snapshot[0] == '\0')
                return cli_usage_error("--snapshot PATH is required");
        if (o->interval_ms < 10)
                return cli_usage_error("--interval-ms must be at least 10");
        if (o->stale_ms < o->interval_ms)
                return cli_usage_error("--stale-ms must be at least --interval-ms (%" PRIu64 ")",
                                       o->interval_ms);
        if (o->max_skew_ms == 0)
                return cli_usage_error("--max-skew-ms must be at least 1");
        return 0;
}

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Read and parse the latest snapshot into *snap. Returns the event to judge. */
static enum hr_event read_snapshot(struct hr_source *src, struct hf_snapshot *snap, char *why,
                                   size_t why_len)
{
        const char *buf = NULL;
        size_t len = 0;
        int err = src->ops->read(src, &buf, &len);

        if (err == -ENOENT)
                return HR_EV_MISSING;
        if (err != 0) {
                snprintf(why, why_len, "%s: %s", src->describe, strerror(-err));
                return HR_EV_UNREADABLE;
        }
        err = hf_parse(buf, len, snap, why, why_len);
        if (err == -ENOMEM) {
                snprintf(why, why_len, "out of memory parsing %zu bytes", len);
                return HR_EV_UNREADABLE;
        }
        return err == 0 ? HR_EV_SNAPSHOT : HR_EV_BAD;
}

static void publish(struct hr_syncer *sy, const char *stopped)
{
        static int warned;
        struct hshm_sync block;
        int err;

        hr_syncer_block(sy, now_ns(), &block);
        if (stopped != NULL) {
                /* Bots see DEGRADED with this reason until the heartbeat ages into ABSENT. */
                block.degraded = 1;
                block.degraded_since_ns = block.heartbeat_ns;
                snprintf(block.degraded_reason, sizeof(block.degraded_reason), "%s", stopped);
        }
        err = hshm_sync_publish(sy->store, &block);
        if (err != 0 && !warned) {
                hr_log(HR_LOG_ERR, "publishing the sync block: %s (%s)", hshm_strerror(err),
                       hshm_last_detail());
                warned = 1;
        }
}

/*
 * Is the segment's name still ours? `hedgectl destroy`, or systemd-logind's RemoveIPC when the
 * user logs out, unlinks it under a running syncer: bots that open the name from then on get
 * a new segment or none, and this syncer would keep reconciling one nobody can find. Say so
 * loudly and stop. Returns 1 when the name is gone or names another segment.
 */
static int unlinked(struct hr_syncer *sy, const char *name)
{
        static int warned;
        int err = hshm_check_linked(sy->store);

        if (err == 0)
                return 0;
        if (err != -EIDRM) {
                if (!warned)
                        hr_log(HR_LOG_WARNING, "cannot check that segment %s is still linked: %s",
                               name, hshm_strerror(err));
                warned = 1;
                return 0;
        }
        hr_log(HR_LOG_ERR,
               "segment %s was removed or replaced under the syncer (hedgectl destroy, or "
               "systemd's RemoveIPC at logout: see docs/hedge-syncer.md); bots opening %s now "
               "get another segment or none. Exiting with status 3: recreate the segment and "
               "restart the bots and hedge-syncer",
               name, name);
        publish(sy, "segment removed or replaced; hedge-syncer exited");
        return 1;
}

/* One cycle: read if something changed, judge, reconcile, publish. The clock is read before
 * the snapshot: the terminal took it before that, whatever its own clock says (the rules and
 * bots judge by the earlier of the two, docs/reconcile.md "Clocks"). */
static enum hr_verdict cycle(struct hr_syncer *sy, struct hr_source *src, int changed)
{
        struct hf_snapshot snap;
        enum hr_event ev = HR_EV_NONE;
        enum hr_verdict v;
        char why[256] = "";
        int64_t read_ns = now_ns();

        memset(&snap, 0, sizeof(snap));
        if (changed > 0)
                ev = read_snapshot(src, &snap, why, sizeof(why));
        v = hr_syncer_step(sy, ev, &snap, why, read_ns, now_ns());
        hf_free(&snap);
        publish(sy, NULL);
        return v;
}

static int run_once(struct hr_syncer *sy, struct hr_source *src, const char *name)
{
        const struct hr_result *r = &sy->last;
        enum hr_verdict v;

        if (unlinked(sy, name))
                return CLI_EXIT_STORE;
        v = cycle(sy, src, 1);

        if (v != HR_ACCEPT) {
                hr_log(HR_LOG_ERR, "--once: feed degraded (%s): nothing changed",
                       sy->feed.detail[0] ? sy->feed.detail : hr_verdict_name(v));
                return EXIT_DEGRADED;
        }
        if (sy->last_err != 0)
                return cli_exit_code(sy->last_err);
        hr_log(HR_LOG_INFO,
               "--once: snapshot %" PRIu64 " reconciled: %" PRIu32 " slots, %" PRIu32
               " hedges; %" PRIu32 " reset, %" PRIu32 " adopted, %" PRIu32 " duplicates, %" PRIu32
               " tag warnings, %" PRIu32 " orphaned locks released, %" PRIu32 " left for a later "
               "snapshot",
               sy->snapshot_seq, r->slots, r->hedges, r->resets_closed, r->adoptions, r->duplicates,
               r->tag_warnings, r->orphans_released, r->waiting);
        return CLI_EXIT_OK;
}

static int run_loop(struct hr_syncer *sy, struct hr_source *src, const char *name)
{
        int changed = 1; /* read what is there at start */

        while (!stop_signal) {
                if (unlinked(sy, name))
                        return CLI_EXIT_STORE;
                cycle(sy, src, changed);
                changed = src->ops->wait(src, (int)sy->cfg.interval_ms);
                if (changed < 0) {
                        hr_log(HR_LOG_ERR, "watching %s: %s", src->describe, strerror(-changed));
                        changed = 1; /* look at the file anyway */
                }
        }
        hr_log(HR_LOG_NOTICE, "stopping on %s", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
        publish(sy, "hedge-syncer stopped");
        return CLI_EXIT_OK;
}

/* Become the segment's only syncer, or say who is. */
static int claim(hshm_store *store, const char *name)
{
        struct hshm_sync other;
        int err = hshm_sync_claim(store);

        if (err == 0)
                return 0;
        if (err != -EBUSY)
                return cli_fail(err, name, "claiming the syncer role of %s", name);
        if (hshm_sync_read(store, &other) == 0 && other.pid > 0)
                fprintf(stderr,
                        "hedge-syncer: another hedge-syncer (pid %" PRId32 ") already runs for "
                        "segment %s; only one may run per segment\n",
                        other.pid, name);
        else
                fprintf(stderr,
                        "hedge-syncer: another hedge-syncer already runs for segment %s (its "
                        "pid is not published yet); only one may run per segment\n",
                        name);
        return CLI_EXIT_REFUSED;
}

static void handle_signals(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_stop;
        sigemptyset(&sa.sa_mask);
        /* No SA_RESTART: the wait returns early, so stopping takes no longer than a cycle. */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
        struct hr_syncer_config scfg = {0};
        struct hr_source *src = NULL;
        struct hshm_sync previous;
        struct hr_syncer sy;
        hshm_store *store = NULL;
        struct options o;
        const char *name;
        int rc;

        cli_set_prog("hedge-syncer");
        if ((rc = parse_options(argc, argv, &o)) != 0)
                return rc;
        if ((name = cli_segment_name(o.name)) == NULL)
                return CLI_EXIT_USAGE;
        hr_log_setup(o.verbose ? HR_LOG_DEBUG : HR_LOG_INFO);
        if ((rc = hshm_open(name, 0, &store)) != 0)
                return cli_fail(rc, name, "opening %s", name);
        if ((rc = claim(store, name)) != 0) {
                hshm_close(store);
                return rc;
        }
        scfg.interval_ms = (uint32_t)o.interval_ms;
        scfg.stale_ns = (int64_t)o.stale_ms * NS_PER_MS;
        scfg.grace_ns = (int64_t)o.grace_ms * NS_PER_MS;
        scfg.max_skew_ns = (int64_t)o.max_skew_ms * NS_PER_MS;
        scfg.once = o.once;
        /* Counters continue where the previous syncer of this segment left them. */
        if (hshm_sync_read(store, &previous) != 0)
                memset(&previous, 0, sizeof(previous));
        if ((rc = hr_syncer_init(&sy, store, &scfg, &previous.counters, now_ns())) != 0 ||
            (rc = hr_file_source_new(o.snapshot, (int)o.interval_ms, &src)) != 0 ||
            (rc = src->ops->open(src)) != 0) {
                fprintf(stderr, "hedge-syncer: %s: %s\n", o.snapshot, strerror(-rc));
                if (src != NULL)
                        src->ops->close(src);
                hshm_close(store);
                return rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_STORE;
        }
        handle_signals();
        hr_log(HR_LOG_NOTICE,
               "hedge-syncer %d.%d.%d pid %ld: segment %s, snapshot %s (%s source), interval "
               "%" PRIu64 " ms, stale %" PRIu64 " ms, grace %" PRIu64 " ms, max skew %" PRIu64
               " ms%s",
               HSHM_VERSION_MAJOR, HSHM_VERSION_MINOR, HSHM_VERSION_PATCH, (long)getpid(), name,
               o.snapshot, src->ops->kind, o.interval_ms, o.stale_ms, o.grace_ms, o.max_skew_ms,
               o.once ? ", once" : "");
        publish(&sy, NULL); /* our pid, at once: a refused second syncer names it */
        rc = o.once ? run_once(&sy, src, name) : run_loop(&sy, src, name);
        src->ops->close(src);
        hr_syncer_fini(&sy);
        hshm_close(store);
        return rc;
}
