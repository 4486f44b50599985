/*
 * mt5sim: a simulated MetaTrader 5 terminal for tests and demos. It keeps an account and its
 * books, takes orders from bots over a UNIX stream socket (one request line, one reply), closes
 * positions by itself as stop-loss and take-profit would, writes snapshots in the feed format
 * every interval, and injects faults on command. docs/mt5sim.md is its manual.
 *
 * This file holds the process: options, the listening socket, and a single-threaded poll loop
 * over the clients. Each client has an input buffer cut into lines and an output buffer
 * flushed as the socket accepts it, so one slow reader never blocks the others or the
 * snapshot timer. SIGTERM and SIGINT are blocked except inside ppoll, so a signal ends the
 * loop at a known point and the socket file is removed on the way out.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define CLIENTS_MAX 1024

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_SYSTEM = 3 };

struct client {
        int fd;
        char in[MP_LINE_MAX + 2];
        size_t in_len;
        int discarding; /* in the middle of an over-long line */
        char *out;
        size_t out_len, out_off, out_cap;
        int closing; /* close once out is flushed */
};

static volatile sig_atomic_t stop_signal;

static const char usage_text[] =
    "Usage: mt5sim --socket PATH --snapshot PATH [options]\n"
    "A simulated MT5 terminal: takes hedge orders on a UNIX socket, writes feed snapshots.\n"
    "\n"
    "  --socket PATH         UNIX stream socket to listen on (removed on exit)\n"
    "  --snapshot PATH       snapshot file, replaced atomically every interval\n"
    "  --interval-ms N       snapshot interval, 1..60000 (default 50)\n"
    "  --deals-window-s N    deals kept in each snapshot, seconds, 0..86400 (default 120)\n"
    "  --seed N              seed of the random lifetimes and rejections (default: clock)\n"
    "  --reject-percent P    orders rejected with 10006, 0..100 (default 0)\n"
    "  --min-life-ms N       shortest lifetime of a position (default 1000)\n"
    "  --max-life-ms N       longest lifetime; 0: positions never close by themselves\n"
    "                        (default 5000)\n"
    "  --netting             netting account (margin mode 0): orders merge per symbol\n"
    "  --login N             account login in snapshots (default 5000001)\n"
    "  --first-ticket N      first ticket (default: the wall clock in ms)\n"
    "  --max-positions N     more open positions are refused with 10040 (default 1000000)\n"
    "  --verbose             log every fill\n"
    "  --help                this text\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM, SIGINT or QUIT; 1 refused (another mt5sim serves\n"
    "the socket, or something that is not a socket is in the way); 2 usage error; 3 system\n"
    "error (socket, snapshot file, memory).\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
        va_list ap;

        fputs("mt5sim: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'mt5sim --help'.\n", stderr);
        return EXIT_USAGE;
}

static int number(const char *opt, const char *text, uint64_t max, uint64_t *out)
{
        if (mp_parse_u64(text, strlen(text), max, out) != 0) {
                fprintf(stderr, "mt5sim: %s wants a decimal number up to %llu, not '%s'\n", opt,
                        (unsigned long long)max, text);
                fputs("Try 'mt5sim --help'.\n", stderr);
                return EXIT_USAGE;
        }
        return 0;
}

static int parse_options(int argc, char **argv, struct sim_options *o)
{
        enum {
                O_SOCKET = 256,
                O_SNAPSHOT,
                O_INTERVAL,
                O_WINDOW,
                O_SEED,
                O_REJECT,
                O_MIN_LIFE,
                O_MAX_LIFE,
                O_NETTING,
                O_LOGIN,
                O_FIRST,
                O_MAX_POS,
                O_VERBOSE,
                O_HELP
        };
        static const struct option longopts[] = {
            {"socket", required_argument, NULL, O_SOCKET},
            {"snapshot", required_argument, NULL, O_SNAPSHOT},
            {"interval-ms", required_argument, NULL, O_INTERVAL},
            {"deals-window-s", required_argument, NULL, O_WINDOW},
            {"seed", required_argument, NULL, O_SEED},
            {"reject-percent", required_argument, NULL, O_REJECT},
            {"min-life-ms", required_argument, NULL, O_MIN_LIFE},
            {"max-life-ms", required_argument, NULL, O_MAX_LIFE},
            {"netting", no_argument, NULL, O_NETTING},
            {"login", required_argument, NULL, O_LOGIN},
            {"first-ticket", required_argument, NULL, O_FIRST},
            {"max-positions", required_argument, NULL, O_MAX_POS},
            {"verbose", no_argument, NULL, O_VERBOSE},
            {"help", no_argument, NULL, O_HELP},
            {NULL, 0, NULL, 0},
        };
        uint64_t v;
        int c, err = 0;

        *o = (struct sim_options){.interval_ms = 50,
                                  .min_life_ms = 1000,
                                  .max_life_ms = 5000,
                                  .login = 5000001,
                                  .deals_window_ms = 120000,
                                  .max_positions = 1000000};
        opterr = 0;
        while (err == 0 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                const char *name = optind > 1 ? argv[optind - 1] : "option";

                switch (c) {
                case O_SOCKET:
                        o->socket_path = optarg;
                        break;
                case O_SNAPSHOT:
                        o->snapshot_path = optarg;
                        break;
                case O_INTERVAL:
                        if ((err = number(name, optarg, 60000, &v)) == 0 && v == 0)
                                err = usage_error("--interval-ms must be at least %s", "1");
                        o->interval_ms = (int64_t)v;
                        break;
                case O_WINDOW:
                        err = number(name, optarg, 86400, &v);
                        o->deals_window_ms = (int64_t)v * 1000;
                        break;
                case O_SEED:
                        err = number(name, optarg, UINT64_MAX, &o->seed);
                        o->seeded = 1;
                        break;
                case O_REJECT:
                        err = number(name, optarg, 100, &v);
                        o->reject_percent = (unsigned)v;
                        break;
                case O_MIN_LIFE:
                        err = number(name, optarg, MP_FAULT_MS_MAX * 24, &v);
                        o->min_life_ms = (int64_t)v;
                        break;
                case O_MAX_LIFE:
                        err = number(name, optarg, MP_FAULT_MS_MAX * 24, &v);
                        o->max_life_ms = (int64_t)v;
                        break;
                case O_NETTING:
                        o->netting = 1;
                        break;
                case O_LOGIN:
                        err = number(name, optarg, UINT64_MAX, &o->login);
                        break;
                case O_FIRST:
                        if ((err = number(name, optarg, UINT64_MAX / 2, &o->first_ticket)) == 0 &&
                            o->first_ticket == 0)
                                err = usage_error("--first-ticket must be at least %s", "1");
                        break;
                case O_MAX_POS:
                        err = number(name, optarg, 100000000, &o->max_positions);
                        break;
                case O_VERBOSE:
                        o->verbose = 1;
                        break;
                case O_HELP:
                        fputs(usage_text, stdout);
                        return -1;
                default:
                        return usage_error("unknown option or missing value: %s", argv[optind - 1]);
                }
        }
        if (err != 0)
                return err;
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);
        if (o->socket_path == NULL || o->snapshot_path == NULL)
                return usage_error("%s", "--socket and --snapshot are required");
        if (strlen(o->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                return usage_error("socket path too long: %s", o->socket_path);
        if (o->max_life_ms != 0 && o->min_life_ms > o->max_life_ms)
                return usage_error("%s", "--min-life-ms is above --max-life-ms");
        return 0;
}

static void on_signal(int sig)
{
        stop_signal = sig;
}

/* Listens on path. An existing socket that nobody answers on is a leftover and is replaced;
 * one that answers belongs to a running mt5sim, which we refuse to steal from. */
static int listen_on(const char *path, int *out)
{
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        struct stat st;
        int fd;

        strcpy(addr.sun_path, path);
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        sim_log("%s exists and is not a socket; not touching it", path);
                        return EXIT_REFUSED;
                }
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
                        close(fd);
                        sim_log("another mt5sim is serving %s", path);
                        return EXIT_REFUSED;
                }
                if (fd >= 0)
                        close(fd);
                unlink(path);
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
            listen(fd, 64) != 0) {
                sim_log("cannot listen on %s: %s", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return EXIT_SYSTEM;
        }
        *out = fd;
        return 0;
}

static int queue_out(struct client *c, const char *data, size_t len)
{
        if (c->out_len + len > c->out_cap) {
                size_t cap = c->out_cap != 0 ? c->out_cap : 4096;
                char *out;

                while (cap < c->out_len + len)
                        cap *= 2;
                out = realloc(c->out, cap);
                if (out == NULL)
                        return -ENOMEM;
                c->out = out;
                c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, data, len);
        c->out_len += len;
        return 0;
}

static void flush_out(struct client *c)
{
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (n <= 0) {
                        c->closing = 1;
                        c->out_off = c->out_len = 0;
                        return;
                }
                c->out_off += (size_t)n;
        }
        c->out_off = c->out_len = 0;
}

static void drop_client(struct client *c)
{
        close(c->fd);
        free(c->out);
        memset(c, 0, sizeof(*c));
        c->fd = -1;
}

static void serve_line(struct sim *s, struct client *c, const char *line)
{
        char *reply;
        size_t len;
        enum sim_reply r = sim_serve(s, line, &reply, &len);

        if (r == SIM_REPLY && queue_out(c, reply, len) != 0)
                r = SIM_HANGUP;
        free(reply);
        if (r == SIM_HANGUP) {
                /* Whatever was answered before still goes out; nothing after. */
                c->closing = 1;
                shutdown(c->fd, SHUT_RD);
        }
}

/* Reads what the client sent and serves every complete line. An unterminated line at EOF is
 * dropped unserved: a client that died mid-write never sent that request. */
static void read_client(struct sim *s, struct client *c)
{
        for (;;) {
                ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
                size_t start = 0;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (n <= 0) {
                        c->closing = 1;
                        return;
                }
                c->in_len += (size_t)n;
                for (size_t i = 0; i < c->in_len && !c->closing && !s->quit; i++) {
                        if (c->in[i] != '\n')
                                continue;
                        c->in[i] = '\0';
                        if (i > start && c->in[i - 1] == '\r')
                                c->in[i - 1] = '\0';
                        if (c->discarding) {
                                c->discarding = 0;
                                s->stats.bad_requests++;
                                queue_out(c, "ERR 10013 line too long\n", 24);
                        } else {
                                serve_line(s, c, c->in + start);
                        }
                        start = i + 1;
                }
                memmove(c->in, c->in + start, c->in_len - start);
                c->in_len -= start;
                if (c->closing || s->quit)
                        return;
                if (c->in_len == sizeof(c->in) - 1) {
                        c->discarding = 1;
                        c->in_len = 0;
                }
        }
}

static void accept_clients(int lfd, struct client *clients)
{
        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), i;

                if (fd < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                                sim_log("accept: %s", strerror(errno));
                        return;
                }
                for (i = 0; i < CLIENTS_MAX && clients[i].fd >= 0; i++)
                        ;
                if (i == CLIENTS_MAX) {
                        sim_log("more than %d clients; refusing one", CLIENTS_MAX);
                        close(fd);
                        continue;
                }
                clients[i].fd = fd;
        }
}

static int run(struct sim *s, int lfd, struct client *clients, const sigset_t *waitmask)
{
        static struct pollfd fds[CLIENTS_MAX + 1];
        static int idx[CLIENTS_MAX + 1];

        while (!stop_signal && !s->quit) {
                int64_t mono = sim_mono_ms(), wait;
                struct timespec ts;
                nfds_t n = 1;

                sim_expire(s, mono);
                sim_write_due(s, mono);
                wait = sim_next_event(s) - mono;
                wait = wait < 0 ? 0 : wait > 1000 ? 1000 : wait;
                ts.tv_sec = wait / 1000;
                ts.tv_nsec = (wait % 1000) * 1000000;
                fds[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
                for (int i = 0; i < CLIENTS_MAX; i++) {
                        if (clients[i].fd < 0)
                                continue;
                        fds[n] =
                            (struct pollfd){.fd = clients[i].fd,
                                            .events = (short)(clients[i].closing ? 0 : POLLIN)};
                        if (clients[i].out_len > 0)
                                fds[n].events |= POLLOUT;
                        idx[n++] = i;
                }
                if (ppoll(fds, n, &ts, waitmask) < 0) {
                        if (errno == EINTR)
                                continue;
                        sim_log("poll: %s", strerror(errno));
                        return EXIT_SYSTEM;
                }
                for (nfds_t k = 1; k < n; k++) {
                        struct client *c = &clients[idx[k]];

                        if (fds[k].revents & (POLLIN | POLLHUP | POLLERR))
                                read_client(s, c);
                        flush_out(c);
                        if (c->closing && c->out_len == 0)
                                drop_client(c);
                }
                if (fds[0].revents & POLLIN)
                        accept_clients(lfd, clients);
        }
        return EXIT_OK;
}

/* After QUIT: give the clients' last replies (BYE among them) a moment to leave. */
static void flush_all(struct client *clients)
{
        for (int i = 0; i < CLIENTS_MAX; i++) {
                if (clients[i].fd < 0)
                        continue;
                for (int tries = 0; clients[i].out_len > 0 && tries < 100; tries++) {
                        struct pollfd p = {.fd = clients[i].fd, .events = POLLOUT};

                        poll(&p, 1, 10);
                        flush_out(&clients[i]);
                }
                drop_client(&clients[i]);
        }
}

int main(int argc, char **argv)
{
        static struct client clients[CLIENTS_MAX];
        struct sigaction sa = {.sa_handler = on_signal};
        struct sim s = {0};
        sigset_t block, waitmask;
        int lfd = -1, rc;

        rc = parse_options(argc, argv, &s.opt);
        if (rc != 0)
                return rc < 0 ? EXIT_OK : rc;
        s.rng = s.opt.seeded ? s.opt.seed : (uint64_t)sim_real_ms() ^ (uint64_t)getpid() << 32;
        s.reject_percent = s.opt.reject_percent;
        book_init(&s.book, s.opt.netting, s.opt.max_positions,
                  s.opt.first_ticket != 0 ? s.opt.first_ticket : (uint64_t)sim_real_ms());
        for (int i = 0; i < CLIENTS_MAX; i++)
                clients[i].fd = -1;

        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigprocmask(SIG_BLOCK, &block, &waitmask);
        sigdelset(&waitmask, SIGTERM);
        sigdelset(&waitmask, SIGINT);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        /* The first snapshot exists before anyone can connect, so a client that got in can
         * read the file at once. */
        s.next_write = sim_mono_ms();
        if (sim_write_due(&s, s.next_write) != 0) {
                book_free(&s.book);
                return EXIT_SYSTEM;
        }
        rc = listen_on(s.opt.socket_path, &lfd);
        if (rc != 0) {
                book_free(&s.book);
                return rc;
        }
        sim_log("listening on %s, snapshots to %s every %lld ms (%s account, login %llu)",
                s.opt.socket_path, s.opt.snapshot_path, (long long)s.opt.interval_ms,
                s.opt.netting ? "netting" : "hedging", (unsigned long long)s.opt.login);

        rc = run(&s, lfd, clients, &waitmask);
        flush_all(clients);
        close(lfd);
        unlink(s.opt.socket_path);
        sim_log("stopped (%s): orders %llu, fills %llu, rejections %llu, lost replies %llu, "
                "closes %llu, auto-closes %llu, snapshots %llu, duplicate keys %llu",
                stop_signal == SIGTERM  ? "SIGTERM"
                : stop_signal == SIGINT ? "SIGINT"
                : s.quit                ? "QUIT"
                                        : "error",
                (unsigned long long)s.stats.orders, (unsigned long long)s.stats.fills,
                (unsigned long long)s.stats.rejections, (unsigned long long)s.stats.lost_replies,
                (unsigned long long)s.stats.closes, (unsigned long long)s.stats.auto_closes,
                (unsigned long long)s.stats.snapshots,
                (unsigned long long)s.book.ledger.duplicates);
        book_free(&s.book);
        return rc;
}
