/*
 * hedgectl: create, inspect and drive a hedgeshm segment from the command line, one
 * subcommand per library call (docs/hedgectl.md is its manual).
 *
 * A lock taken here outlives the process that took it: the store records the lock, its owner
 * (this short-lived hedgectl) and a lease deadline, and hands back the token. The token is the
 * lock from then on: whoever holds it may activate or reset the position, and nobody else can.
 * Nothing here releases locks at exit; reclaiming locks whose lease ran out is the syncer's
 * job (issue 4).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "hedgeshm.h"

/* CLI locks are held by a person or a script between commands, not by a bot in a hot loop:
 * give them longer than the library's default before the syncer may call them abandoned. */
#define CLI_LEASE_DEFAULT_MS 300000u
#define LEASE_MAX_MS         86400000u /* hshm_set_lease_ms() accepts up to a day */

enum opt {
        OPT_NAME = 1 << 0,
        OPT_HELP = 1 << 1,
        OPT_CAPACITY = 1 << 2,
        OPT_MODE = 1 << 3,
        OPT_GROUP = 1 << 4,
        OPT_LEASE = 1 << 5,
        OPT_TOKEN = 1 << 6,
        OPT_TICKET = 1 << 7,
        OPT_HEDGE = 1 << 8,
        OPT_JSON = 1 << 9,
        OPT_STATE = 1 << 10,
};

static const struct option long_opts[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"help", no_argument, NULL, OPT_HELP},
    {"capacity", required_argument, NULL, OPT_CAPACITY},
    {"mode", required_argument, NULL, OPT_MODE},
    {"group", required_argument, NULL, OPT_GROUP},
    {"lease", required_argument, NULL, OPT_LEASE},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"ticket", required_argument, NULL, OPT_TICKET},
    {"hedge-symbol", required_argument, NULL, OPT_HEDGE},
    {"json", no_argument, NULL, OPT_JSON},
    {"state", required_argument, NULL, OPT_STATE},
    {NULL, 0, NULL, 0},
};

/* What the command line said, before any of it is interpreted. */
struct args {
        unsigned seen;
        const char *name;
        const char *capacity;
        const char *mode;
        const char *group;
        const char *lease;
        const char *token;
        const char *ticket;
        const char *hedge;
        const char *state;
        char **pos;
};

struct command {
        const char *name;
        const char *synopsis; /* arguments and options after the command's name */
        int npos;             /* positional arguments, exactly */
        unsigned opts;        /* options it accepts besides --name and --help */
        const char *summary;
        const char *help; /* description and options for `hedgectl CMD --help` */
        int (*run)(const struct args *a, const char *name);
};

static const char common_help[] =
    "  --name NAME  segment to use (default: $" HSHM_NAME_ENV ", else " HSHM_DEFAULT_NAME ")\n"
    "  --help       show this help\n";

/* ---- helpers ---------------------------------------------------------------------------- */

static int open_store(const char *name, unsigned flags, hshm_store **store)
{
        int err = hshm_open(name, flags, store);

        return err < 0 ? cli_fail(err, name, "cannot open segment %s", name) : 0;
}

/* Check a key before touching the store, so a typo is a usage error even when the segment is
 * missing. */
static int check_key(const char *group, const char *symbol)
{
        int err = hshm_validate_key(group, symbol);

        if (err < 0)
                return cli_usage_error("bad key \"%s\" \"%s\": %s", group, symbol,
                                       hshm_last_detail()[0] ? hshm_last_detail()
                                                             : hshm_strerror(err));
        return 0;
}

static int parse_token(const char *text, uint64_t *token)
{
        if (!text)
                return cli_usage_error("--token T is required: the number `hedgectl lock` "
                                       "printed");
        if (cli_parse_u64("--token", text, UINT64_MAX, token))
                return CLI_EXIT_USAGE;
        if (*token == 0)
                return cli_usage_error("--token 0 names no lock");
        return 0;
}

/* --group takes a group name, or a numeric gid for groups without a name here. */
static int parse_group(const char *text, gid_t *gid)
{
        struct group *gr;
        uint64_t v;

        gr = getgrnam(text);
        if (gr) {
                *gid = gr->gr_gid;
                return 0;
        }
        if (text[0] >= '0' && text[0] <= '9') {
                if (cli_parse_u64("--group", text, (gid_t)-1 - 1, &v))
                        return CLI_EXIT_USAGE;
                *gid = (gid_t)v;
                return 0;
        }
        return cli_usage_error("--group %s: no such group (see `getent group`)", text);
}

static int parse_mode(const char *text, mode_t *mode)
{
        unsigned long v = 0;
        const char *p;

        for (p = text; *p >= '0' && *p <= '7'; p++) {
                v = v * 8 + (unsigned long)(*p - '0');
                if (v > 07777)
                        break;
        }
        if (p == text || *p != '\0' || v > 0777)
                return cli_usage_error("--mode must be octal permission bits 0000..0777, such "
                                       "as 0600 or 0660, not \"%s\"",
                                       text);
        if ((v & 0600) != 0600)
                return cli_usage_error("--mode %s: the owner needs read and write (0600)", text);
        *mode = (mode_t)v;
        return 0;
}

/* ---- commands --------------------------------------------------------------------------- */

static int cmd_init(const struct args *a, const char *name)
{
        struct hshm_create_opts o = {
            .capacity = HSHM_CAPACITY_DEFAULT, .mode = 0600, .gid = (gid_t)-1};
        uint64_t capacity;
        int err;

        if (a->capacity) {
                if (cli_parse_u64("--capacity", a->capacity, HSHM_CAPACITY_MAX, &capacity))
                        return CLI_EXIT_USAGE;
                if (capacity < HSHM_CAPACITY_MIN)
                        return cli_usage_error("--capacity must be at least %u", HSHM_CAPACITY_MIN);
                o.capacity = (uint32_t)capacity;
        }
        if (a->mode && parse_mode(a->mode, &o.mode))
                return CLI_EXIT_USAGE;
        if (a->group && parse_group(a->group, &o.gid))
                return CLI_EXIT_USAGE;
        err = hshm_create(name, &o);
        if (err < 0)
                return cli_fail(err, name, "cannot create segment %s", name);
        return CLI_EXIT_OK;
}

static int cmd_destroy(const struct args *a, const char *name)
{
        int err = hshm_destroy(name);

        (void)a;
        if (err < 0)
                return cli_fail(err, name, "cannot destroy segment %s", name);
        return CLI_EXIT_OK;
}

static int cmd_lock(const struct args *a, const char *name)
{
        const char *group = a->pos[0], *symbol = a->pos[1];
        uint64_t lease_ms = CLI_LEASE_DEFAULT_MS, token;
        hshm_store *store;
        int err, rc;

        if (a->lease && cli_parse_seconds("--lease", a->lease, 1, LEASE_MAX_MS, &lease_ms))
                return CLI_EXIT_USAGE;
        if ((rc = check_key(group, symbol)) || (rc = open_store(name, 0, &store)))
                return rc;
        err = hshm_set_lease_ms(store, (uint32_t)lease_ms);
        if (err == 0)
                err = hshm_lock_detached(store, group, symbol, &token);
        rc = err < 0 ? cli_fail(err, name, "cannot lock %s %s", group, symbol) : CLI_EXIT_OK;
        hshm_close(store);
        if (rc == CLI_EXIT_OK)
                printf("%" PRIu64 "\n", token);
        return rc;
}

static int cmd_activate(const struct args *a, const char *name)
{
        uint64_t token, ticket;
        hshm_store *store;
        int err, rc;

        if (parse_token(a->token, &token))
                return CLI_EXIT_USAGE;
        if (!a->ticket)
                return cli_usage_error("--ticket N is required: the broker's ticket of the hedge");
        if (cli_parse_u64("--ticket", a->ticket, UINT64_MAX, &ticket))
                return CLI_EXIT_USAGE;
        if ((rc = open_store(name, 0, &store)))
                return rc;
        err = hshm_activate(store, token, ticket, a->hedge);
        rc = err < 0 ? cli_fail(err, name, "cannot activate token %" PRIu64, token) : CLI_EXIT_OK;
        hshm_close(store);
        return rc;
}

static int cmd_reset(const struct args *a, const char *name)
{
        hshm_store *store;
        uint64_t token;
        int err, rc;

        if (parse_token(a->token, &token))
                return CLI_EXIT_USAGE;
        if ((rc = open_store(name, 0, &store)))
                return rc;
        err = hshm_reset(store, token);
        rc = err < 0 ? cli_fail(err, name, "cannot reset token %" PRIu64, token) : CLI_EXIT_OK;
        hshm_close(store);
        return rc;
}

static int cmd_status(const struct args *a, const char *name)
{
        const char *group = a->pos[0], *symbol = a->pos[1];
        struct hshm_status st;
        struct cli_table t;
        hshm_store *store;
        int err, rc;

        if ((rc = check_key(group, symbol)) || (rc = open_store(name, HSHM_OPEN_RDONLY, &store)))
                return rc;
        err = hshm_status(store, group, symbol, &st);
        if (err < 0) {
                rc = cli_fail(err, name, "no status for %s %s", group, symbol);
        } else if (a->seen & OPT_JSON) {
                cli_status_json(stdout, store, &st, cli_now_ns());
                putchar('\n');
        } else {
                cli_table_init(&t);
                cli_table_fit(&t, store, &st);
                cli_table_header(stdout, &t);
                cli_table_row(stdout, &t, store, &st, cli_now_ns());
        }
        hshm_close(store);
        return rc;
}

static int cmd_clear(const struct args *a, const char *name)
{
        const char *group = a->pos[0], *symbol = a->pos[1];
        hshm_store *store;
        int err, rc;

        if ((rc = check_key(group, symbol)) || (rc = open_store(name, 0, &store)))
                return rc;
        err = hshm_clear(store, group, symbol);
        rc = err < 0 ? cli_fail(err, name, "cannot clear %s %s", group, symbol) : CLI_EXIT_OK;
        hshm_close(store);
        return rc;
}

static int cmd_error(const struct args *a, const char *name)
{
        const char *group = a->pos[0], *symbol = a->pos[1], *reason = a->pos[2];
        hshm_store *store;
        int err, rc;

        if ((rc = check_key(group, symbol)) || (rc = open_store(name, 0, &store)))
                return rc;
        err = hshm_mark_error(store, group, symbol, reason);
        rc = err < 0 ? cli_fail(err, name, "cannot mark %s %s as ERROR", group, symbol)
                     : CLI_EXIT_OK;
        hshm_close(store);
        return rc;
}

/* Every used slot; a corrupt one is shown in place and makes the exit status 3. */
static int cmd_list(const struct args *a, const char *name)
{
        enum hshm_state want = HSHM_AVAILABLE;
        struct hshm_info info;
        hshm_store *store;
        int err, rc;

        if (a->state && cli_parse_state(a->state, &want))
                return CLI_EXIT_USAGE;
        if ((rc = open_store(name, HSHM_OPEN_RDONLY, &store)))
                return rc;
        err = hshm_info(store, &info);
        if (err < 0)
                rc = cli_fail(err, name, "cannot read the header of %s", name);
        else if (cli_print_slots(stdout, store, name, info.used, a->state ? &want : NULL,
                                 a->seen & OPT_JSON))
                rc = CLI_EXIT_STORE;
        if (err == 0 && (a->seen & OPT_JSON))
                putchar('\n');
        hshm_close(store);
        return rc;
}

static int cmd_stats(const struct args *a, const char *name)
{
        struct hshm_stats stats;
        struct hshm_info info;
        hshm_store *store;
        int err, rc;

        if ((rc = open_store(name, HSHM_OPEN_RDONLY, &store)))
                return rc;
        err = hshm_info(store, &info);
        if (err == 0)
                err = hshm_stats(store, &stats);
        if (err < 0) {
                rc = cli_fail(err, name, "cannot read the counters of %s", name);
        } else if (a->seen & OPT_JSON) {
                printf("{\"info\":");
                cli_info_json(stdout, name, &info);
                printf(",\"stats\":");
                cli_stats_json(stdout, &stats);
                printf("}\n");
        } else {
                cli_info_text(stdout, name, &info);
                cli_stats_text(stdout, &stats);
        }
        hshm_close(store);
        return rc;
}

static const struct command commands[] = {
    {"init", "[--capacity N] [--mode OCTAL] [--group GROUP]", 0,
     OPT_CAPACITY | OPT_MODE | OPT_GROUP, "create the segment",
     "Create the segment. It must not exist yet.\n"
     "  --capacity N   position slots, fixed for the segment's life (1 .. 1048576, "
     "default 4096)\n"
     "  --mode OCTAL   permission bits, applied whatever the umask (default 0600)\n"
     "  --group GROUP  group owning the segment: a name or a numeric gid. To share with\n"
     "                 a Unix group: --mode 0660 --group GROUP (you must be a member)\n",
     cmd_init},
    {"destroy", "", 0, 0, "remove the segment",
     "Remove the segment's name. Processes attached keep using it until they detach;\n"
     "new opens fail until `hedgectl init` makes a new one.\n",
     cmd_destroy},
    {"lock", "GROUP SYMBOL [--lease SECONDS]", 2, OPT_LEASE,
     "AVAILABLE -> HEDGING; prints the token",
     "Lock a position (AVAILABLE -> HEDGING) and print its token, a decimal number.\n"
     "The lock outlives hedgectl: the token is the lock. Pass it to `activate` or\n"
     "`reset` later. The owner recorded is this hedgectl process; the lease deadline\n"
     "is recorded and shown by status, list and shmdump (flagged once expired).\n"
     "Nothing reclaims an expired lock yet: reset it with its token, or use\n"
     "`error` and `clear`.\n"
     "  --lease SECONDS  how long the lock is meant to last (default 300; up to 86400;\n"
     "                   decimals allowed, e.g. 0.5)\n",
     cmd_lock},
    {"activate", "--token T --ticket N [--hedge-symbol S]", 0, OPT_TOKEN | OPT_TICKET | OPT_HEDGE,
     "HEDGING -> ACTIVE",
     "Record that the hedge order was placed (HEDGING -> ACTIVE).\n"
     "  --token T         token printed by `hedgectl lock` (required)\n"
     "  --ticket N        the broker's ticket of the hedge order (required)\n"
     "  --hedge-symbol S  symbol the hedge was placed on (optional)\n",
     cmd_activate},
    {"reset", "--token T", 0, OPT_TOKEN, "HEDGING or ACTIVE -> AVAILABLE",
     "Release a position (HEDGING or ACTIVE -> AVAILABLE): the hedge failed or closed.\n"
     "  --token T  token printed by `hedgectl lock` (required)\n",
     cmd_reset},
    {"status", "GROUP SYMBOL [--json]", 2, OPT_JSON, "show one position",
     "Show one position: state, generation, token, owner, ticket, hedge symbol, lock\n"
     "age, lease and error reason. Needs only read permission.\n"
     "  --json  one JSON object instead of a table\n",
     cmd_status},
    {"clear", "GROUP SYMBOL", 2, 0, "ERROR -> AVAILABLE",
     "Clear a position in ERROR back to AVAILABLE, once a person has checked it.\n", cmd_clear},
    {"error", "GROUP SYMBOL REASON", 3, 0, "any state but ERROR -> ERROR",
     "Put a position in ERROR with a reason (cut to 63 bytes). Only `clear` leaves\n"
     "ERROR. Locks on the position stop working: their tokens become stale.\n",
     cmd_error},
    {"list", "[--json] [--state STATE]", 0, OPT_JSON | OPT_STATE, "show every position",
     "Show every position that has been used, as a table. Needs only read permission.\n"
     "Slots that cannot be read are shown in place (busy or corrupt); a corrupt one\n"
     "makes the exit status 3.\n"
     "  --json         a JSON array of objects instead of a table\n"
     "  --state STATE  only positions in STATE: available, hedging, active or error\n",
     cmd_list},
    {"stats", "[--json]", 0, OPT_JSON, "show the segment's shape and counters",
     "Show the segment's shape (capacity, slots used, size, attached processes) and the\n"
     "counters summed over every process that used it. Needs only read permission.\n"
     "  --json  {\"info\":{...},\"stats\":{...}} instead of text\n",
     cmd_stats},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
        fprintf(f, "Usage: hedgectl [--name NAME] COMMAND [ARGUMENTS] [OPTIONS]\n"
                   "Drive the hedge state of positions in a hedgeshm shared-memory segment.\n\n"
                   "Commands:\n");
        for (size_t i = 0; i < NCOMMANDS; i++)
                fprintf(f, "  %-8s %-46s  %s\n", commands[i].name, commands[i].synopsis,
                        commands[i].summary);
        fprintf(f,
                "\nEvery command takes:\n%s"
                "Run `hedgectl COMMAND --help` for a command's details.\n\n%s",
                common_help, cli_exit_help);
}

static void command_usage(const struct command *c)
{
        printf("Usage: hedgectl %s%s%s [--name NAME]\n%s\nCommon options:\n%s\n%s", c->name,
               c->synopsis[0] ? " " : "", c->synopsis, c->help, common_help, cli_exit_help);
}

static const struct command *find_command(const char *name)
{
        for (size_t i = 0; i < NCOMMANDS; i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

/* Parse one command's options and arguments into a. Returns 0 to run the command, -1 once
 * --help has been printed, or CLI_EXIT_USAGE. */
static int parse_command(const struct command *c, int argc, char **argv, struct args *a)
{
        int opt;

        optind = 0; /* glibc: restart scanning from scratch for this argv */
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
                const char *bad = argv[optind - 1];

                if (opt == 'h')
                        opt = OPT_HELP;
                if (opt == '?')
                        return cli_usage_error("%s: unknown option %s", c->name, bad);
                if (opt == ':')
                        return cli_usage_error("%s: option %s needs a value", c->name, bad);
                if (!(opt & (c->opts | OPT_NAME | OPT_HELP)))
                        return cli_usage_error("%s does not take %s", c->name, bad);
                a->seen |= (unsigned)opt;
                switch (opt) {
                case OPT_NAME:
                        a->name = optarg;
                        break;
                case OPT_HELP:
                        command_usage(c);
                        return -1;
                case OPT_CAPACITY:
                        a->capacity = optarg;
                        break;
                case OPT_MODE:
                        a->mode = optarg;
                        break;
                case OPT_GROUP:
                        a->group = optarg;
                        break;
                case OPT_LEASE:
                        a->lease = optarg;
                        break;
                case OPT_TOKEN:
                        a->token = optarg;
                        break;
                case OPT_TICKET:
                        a->ticket = optarg;
                        break;
                case OPT_HEDGE:
                        a->hedge = optarg;
                        break;
                case OPT_STATE:
                        a->state = optarg;
                        break;
                default: /* OPT_JSON: recorded in seen */
                        break;
                }
        }
        if (argc - optind != c->npos)
                return cli_usage_error("%s takes %d argument%s (%s%s%s), not %d", c->name, c->npos,
                                       c->npos == 1 ? "" : "s", c->name, c->synopsis[0] ? " " : "",
                                       c->synopsis, argc - optind);
        a->pos = argv + optind;
        return 0;
}

int main(int argc, char **argv)
{
        struct args a = {0};
        const struct command *c;
        const char *name;
        int i, rc;

        cli_set_prog("hedgectl");
        /* Options before the command: only --name and --help. */
        for (i = 1; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        usage(stdout);
                        return CLI_EXIT_OK;
                }
                if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
                        a.name = argv[++i];
                else if (strncmp(argv[i], "--name=", 7) == 0)
                        a.name = argv[i] + 7;
                else if (strcmp(argv[i], "--name") == 0)
                        return cli_usage_error("option --name needs a value");
                else
                        return cli_usage_error("unknown option %s before the command", argv[i]);
        }
        if (i == argc) {
                usage(stderr);
                return CLI_EXIT_USAGE;
        }
        c = find_command(argv[i]);
        if (!c)
                return cli_usage_error("unknown command \"%s\"", argv[i]);
        cli_set_command(c->name);
        rc = parse_command(c, argc - i, argv + i, &a);
        if (rc)
                return rc < 0 ? CLI_EXIT_OK : rc;
        name = cli_segment_name(a.name);
        if (!name)
                return CLI_EXIT_USAGE;
        rc = c->run(&a, name);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                perror("hedgectl: writing output");
                return rc ? rc : CLI_EXIT_STORE;
        }
        return rc;
}
