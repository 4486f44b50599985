/*
 * Integration tests of mt5sim: each test starts the real server on a socket and a snapshot
 * path of its own (a fresh temporary directory), talks to it through the client library, and
 * reads its snapshot file back with the feed's parser, the way the syncer will.
 *
 * Usage: test_sim MT5SIM_PATH [TEST_NAME]. meson runs one test per process (by name), so each
 * is reported on its own and stays within a few seconds. Timing: snapshots every 20 ms unless
 * a test needs a slower cadence to watch one particular file; every wait is bounded.
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "hedgeshm.h"
#include "snapshot.h"
#include "testutil.h"

#define ARGS_MAX 32

static const char *sim_exe;

struct sim {
        pid_t pid;
        char dir[64];
        char sock[128];
        char snap[128];
        ms_conn *c;
        /* a segment for real order tags, when a test needs one */
        char seg[TU_NAME_MAX];
        hshm_store *store;
};

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

        nanosleep(&ts, NULL);
}

static pid_t spawn(const char *const *argv, int quiet)
{
        pid_t pid = fork();

        if (pid == 0) {
                if (quiet) {
                        int fd = open("/dev/null", O_WRONLY);

                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                execv(sim_exe, (char *const *)argv);
                _exit(127);
        }
        assert_true(pid > 0);
        return pid;
}

/* Exit status of pid, waiting at most wait_ms; kills it and fails the test after that. */
static int reap(pid_t pid, int wait_ms)
{
        int64_t deadline = now_ms() + wait_ms;
        int status;

        while (waitpid(pid, &status, WNOHANG) == 0) {
                if (now_ms() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        fail_msg("mt5sim (pid %d) did not exit within %d ms", (int)pid, wait_ms);
                }
                sleep_ms(5);
        }
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* Starts mt5sim with the test defaults plus extra options (NULL-terminated), and connects. */
static void sim_start(struct sim *s, const char *const *extra)
{
        const char *argv[ARGS_MAX] = {sim_exe, "--socket",      s->sock, "--snapshot",
                                      s->snap, "--interval-ms", "20",    "--seed",
                                      "7",     "--max-life-ms", "0",     "--first-ticket",
                                      "1000"};
        int n = 13;
        int64_t deadline;
        int err;

        for (; extra != NULL && *extra != NULL; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;
        s->pid = spawn(argv, 0);
        deadline = now_ms() + 3000;
        while ((err = ms_connect(s->sock, &s->c)) != 0) {
                assert_true(now_ms() < deadline);
                sleep_ms(10);
        }
}

static int setup(void **state)
{
        struct sim *s = calloc(1, sizeof(*s));

        assert_non_null(s);
        strcpy(s->dir, "/tmp/mt5sim-test-XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
        snprintf(s->snap, sizeof(s->snap), "%s/snapshot.txt", s->dir);
        *state = s;
        return 0;
}

/* Stops the server with SIGTERM: it must exit 0 and remove its socket. */
static int teardown(void **state)
{
        struct sim *s = *state;
        char cmd[160];
        struct stat st;

        ms_disconnect(s->c);
        if (s->pid > 0) {
                kill(s->pid, SIGTERM);
                assert_int_equal(reap(s->pid, 3000), 0);
                assert_int_equal(lstat(s->sock, &st), -1);
        }
        if (s->store != NULL)
                tu_close_destroy(s->store, s->seg);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        assert_int_equal(system(cmd), 0);
        free(s);
        return 0;
}

/* Reads and parses the snapshot file. Returns hf_parse's result (or -errno from reading). */
static int read_snapshot(const struct sim *s, struct hf_snapshot *out)
{
        static char buf[1 << 20];
        FILE *f = fopen(s->snap, "rb");
        size_t len;

        memset(out, 0, sizeof(*out));
        if (f == NULL)
                return -errno;
        len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        return hf_parse(buf, len, out, NULL, 0);
}

static uint64_t snapshot_seq(const struct sim *s)
{
        struct hf_snapshot snap;
        uint64_t seq;

        assert_int_equal(read_snapshot(s, &snap), 0);
        seq = snap.seq;
        hf_free(&snap);
        return seq;
}

static const struct hf_position *find_position(const struct hf_snapshot *snap, uint64_t id)
{
        for (size_t i = 0; i < snap->n_positions; i++)
                if (snap->positions[i].identifier == id)
                        return &snap->positions[i];
        return NULL;
}

static const struct hf_deal *find_deal(const struct hf_snapshot *snap, uint64_t id, int entry)
{
        for (size_t i = 0; i < snap->n_deals; i++)
                if (snap->deals[i].position_id == id && snap->deals[i].entry == entry)
                        return &snap->deals[i];
        return NULL;
}

/* Waits (at most wait_ms) for a snapshot written after seq whose position list holds
 * identifier id (present 1) or not (present 0). Returns the snapshot's seq. */
static uint64_t wait_position(const struct sim *s, uint64_t seq, uint64_t id, int present,
                              int wait_ms)
{
        int64_t deadline = now_ms() + wait_ms;

        for (;;) {
                struct hf_snapshot snap;

                if (read_snapshot(s, &snap) == 0) {
                        int has = find_position(&snap, id) != NULL;
                        uint64_t got = snap.seq;

                        hf_free(&snap);
                        if (got > seq && has == present)
                                return got;
                }
                if (now_ms() > deadline)
                        fail_msg("no snapshot with position %llu %s within %d ms",
                                 (unsigned long long)id, present ? "present" : "absent", wait_ms);
                sleep_ms(5);
        }
}

/* A current lock's tag from a segment of the test's own, and its parsed key. */
static void make_tag(struct sim *s, const char *symbol, char *tag, struct hshm_tag *parsed)
{
        uint64_t token;

        if (s->store == NULL) {
                tu_name(s->seg, sizeof(s->seg), "mt5sim");
                s->store = tu_create_open(s->seg, 64);
                assert_non_null(s->store);
        }
        assert_int_equal(hshm_lock(s->store, "grp", symbol, &token), 0);
        assert_int_equal(hshm_tag_format(s->store, token, tag, HSHM_TAG_LEN + 1), 0);
        assert_int_equal(hshm_tag_parse(tag, parsed), 0);
}

static void test_fill_and_snapshot(void **state)
{
        struct sim *s = *state;
        struct ms_order_result r;
        struct hf_snapshot snap;
        const struct hf_position *p;
        struct ms_position *list;
        struct ms_stats st;
        uint64_t seq;
        size_t n;

        sim_start(s, (const char *const[]){"--login", "777", NULL});
        assert_int_equal(ms_ping(s->c), 0);
        seq = snapshot_seq(s);
        assert_int_equal(ms_order(s->c, "#XAUUSD.r", 1, 0.25, 4242, "my hedge 1", &r), MS_FILLED);
        assert_true(r.order == 1000 && r.identifier == r.order && r.retcode == 10009);

        seq = wait_position(s, seq, r.identifier, 1, 1000);
        assert_int_equal(read_snapshot(s, &snap), 0);
        assert_true(snap.format == HF_FORMAT && snap.seq >= seq && snap.login == 777);
        assert_int_equal(snap.connected, 1);
        assert_int_equal(snap.margin_mode, 2);
        assert_int_equal(snap.n_orders, 0);
        p = find_position(&snap, r.identifier);
        assert_non_null(p);
        assert_true(p->ticket == r.order && p->magic == 4242 && p->type == 1);
        assert_true(p->volume == 0.25 && p->price_open > 0);
        assert_string_equal(p->symbol, "#XAUUSD.r");
        assert_string_equal(p->comment, "my hedge 1");
        /* The snapshot's clock is the wall clock, and the open time is not in the future. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        assert_true(snap.time_ms <= wall && snap.time_ms > wall - 1000);
        assert_true(p->time_msc <= snap.time_ms);
        assert_non_null(find_deal(&snap, r.identifier, 0));
        assert_true(find_deal(&snap, r.identifier, 0)->order == r.order);
        hf_free(&snap);

        /* The sequence moves on every write, even with nothing new. */
        seq = snapshot_seq(s);
        sleep_ms(100);
        assert_true(snapshot_seq(s) >= seq + 2);

        assert_int_equal(ms_positions(s->c, &list, &n), 0);
        assert_int_equal(n, 1);
        assert_true(list[0].identifier == r.identifier && list[0].volume == 0.25);
        assert_string_equal(list[0].comment, "my hedge 1");
        assert_string_equal(list[0].symbol, "#XAUUSD.r");
        free(list);
        assert_int_equal(ms_stats(s->c, &st), 0);
        assert_true(st.orders == 1 && st.fills == 1 && st.open == 1 && st.snapshots >= 3);
        assert_true(st.seq >= seq);
}

static void test_close_and_auto_close(void **state)
{
        struct sim *s = *state;
        struct ms_order_result r1, r2;
        struct hf_snapshot snap;
        struct ms_stats st;
        uint64_t deal, seq;

        sim_start(s, (const char *const[]){"--min-life-ms", "300", "--max-life-ms", "400", NULL});
        assert_int_equal(ms_order(s->c, "EURUSD", 0, 1, 1, "", &r1), MS_FILLED);
        assert_int_equal(ms_order(s->c, "EURUSD", 0, 1, 1, "", &r2), MS_FILLED);
        assert_true(r2.order > r1.order);
        assert_int_equal(ms_close(s->c, r1.identifier, &deal), 0);
        assert_true(deal > r2.order);
        assert_int_equal(ms_close(s->c, r1.identifier, &deal), -ENOENT);
        seq = wait_position(s, 0, r1.identifier, 0, 1000);

        /* r2 closes by itself, as stop-loss or take-profit would, and its out deal shows. */
        seq = wait_position(s, seq, r2.identifier, 0, 3000);
        assert_int_equal(read_snapshot(s, &snap), 0);
        assert_non_null(find_deal(&snap, r2.identifier, 1));
        assert_non_null(find_deal(&snap, r1.identifier, 1));
        assert_int_equal(find_deal(&snap, r2.identifier, 1)->type, 1);
        hf_free(&snap);
        assert_int_equal(ms_stats(s->c, &st), 0);
        assert_true(st.closes == 1 && st.auto_closes == 1 && st.open == 0);
}

static void test_ledger_duplicates(void **state)
{
        struct sim *s = *state;
        char tag_a[HSHM_TAG_LEN + 1], tag_b[HSHM_TAG_LEN + 1], comment[64];
        struct ms_order_result r;
        struct hshm_tag ta, tb;
        struct ms_ledger l;

        sim_start(s, NULL);
        make_tag(s, "EURUSD", tag_a, &ta);
        make_tag(s, "GBPUSD", tag_b, &tb);
        assert_int_equal(ms_order(s->c, "XAUUSD", 0, 1, 1, tag_a, &r), MS_FILLED);
        assert_int_equal(ms_order(s->c, "XAUUSD", 1, 1, 1, tag_b, &r), MS_FILLED);
        assert_int_equal(ms_order(s->c, "XAUUSD", 1, 1, 1, "", &r), MS_FILLED);
        assert_int_equal(ms_ledger(s->c, &l), 0);
        assert_true(l.duplicates == 0 && l.untagged_open == 1 && l.n_keys == 2);
        assert_int_equal(ms_ledger_open(&l, ta.instance, ta.slot), 1);
        ms_ledger_free(&l);

        /* The same tag key again (text around the tag, as a broker might add): a duplicate. */
        snprintf(comment, sizeof(comment), "%s #2", tag_a);
        assert_int_equal(ms_order(s->c, "XAUUSD", 0, 1, 1, comment, &r), MS_FILLED);
        assert_int_equal(ms_ledger(s->c, &l), 0);
        assert_true(l.duplicates == 1);
        assert_int_equal(ms_ledger_open(&l, ta.instance, ta.slot), 2);
        assert_int_equal(ms_ledger_open(&l, tb.instance, tb.slot), 1);
        for (size_t i = 0; i < l.n_keys; i++)
                if (l.keys[i].instance == ta.instance && l.keys[i].slot == ta.slot)
                        assert_int_equal(l.keys[i].max_open, 2);
        ms_ledger_free(&l);

        /* Closing one leaves the history: still one duplicated key. */
        assert_int_equal(ms_close(s->c, r.identifier, NULL), 0);
        assert_int_equal(ms_ledger(s->c, &l), 0);
        assert_true(l.duplicates == 1);
        assert_int_equal(ms_ledger_open(&l, ta.instance, ta.slot), 1);
        ms_ledger_free(&l);
}

/* A filled order whose reply never comes: the client says UNKNOWN, the broker has it. */
static void lost_reply_case(struct sim *s, enum ms_fault fault, int timeout_ms, int max_ms)
{
        char tag[HSHM_TAG_LEN + 1];
        struct ms_order_result r;
        struct hshm_tag t;
        struct ms_ledger l;
        struct ms_position *list;
        struct hf_snapshot snap;
        struct ms_stats st;
        size_t n;
        int64_t t0;

        sim_start(s, NULL);
        make_tag(s, "EURUSD", tag, &t);
        ms_set_timeout(s->c, timeout_ms);
        assert_int_equal(ms_fault(s->c, fault, 1), 0);
        t0 = now_ms();
        assert_int_equal(ms_order(s->c, "XAUUSD", 0, 0.1, 5, tag, &r), MS_UNKNOWN);
        assert_true(now_ms() - t0 < max_ms);
        assert_true(r.order == 0 && r.identifier == 0);
        assert_true(r.text[0] != '\0');

        /* The broker filled it: POSITIONS, the ledger and the next snapshot all show it. */
        assert_int_equal(ms_positions(s->c, &list, &n), 0); /* reconnects by itself */
        assert_int_equal(n, 1);
        assert_string_equal(list[0].comment, tag);
        uint64_t id = list[0].identifier;
        free(list);
        assert_int_equal(ms_ledger(s->c, &l), 0);
        assert_int_equal(ms_ledger_open(&l, t.instance, t.slot), 1);
        ms_ledger_free(&l);
        wait_position(s, 0, id, 1, 1000);
        assert_int_equal(read_snapshot(s, &snap), 0);
        assert_string_equal(find_position(&snap, id)->comment, tag);
        hf_free(&snap);

        /* One lost reply only: the next order is answered. */
        assert_int_equal(ms_order(s->c, "XAUUSD", 0, 0.1, 5, "", &r), MS_FILLED);
        assert_true(r.identifier > id);
        assert_int_equal(ms_stats(s->c, &st), 0);
        assert_true(st.lost_replies == 1 && st.fills == 2);
}

static void test_lose_reply(void **state)
{
        lost_reply_case(*state, MS_FAULT_LOSE_REPLY, 300, 1500);
}

static void test_hangup(void **state)
{
        /* A closed connection is noticed at once, not after the timeout. */
        lost_reply_case(*state, MS_FAULT_HANGUP, 5000, 1000);
}

static void test_seq_back(void **state)
{
        struct sim *s = *state;
        uint64_t last, seen[64];
        int n = 0, went_back = -1;
        int64_t deadline;

        /* A slow cadence, so the one backward file is seen before the next replaces it. */
        sim_start(s, (const char *const[]){"--interval-ms", "250", NULL});
        sleep_ms(300); /* a backward sequence needs two writes before it */
        last = snapshot_seq(s);
        seen[n++] = last;
        assert_int_equal(ms_fault(s->c, MS_FAULT_SEQ_BACK, 0), 0);
        deadline = now_ms() + 3000;
        while (now_ms() < deadline && n < 64 && (went_back < 0 || n < went_back + 2)) {
                uint64_t seq = snapshot_seq(s); /* every file parses */

                if (seq != seen[n - 1]) {
                        seen[n++] = seq;
                        if (seq < seen[n - 2]) {
                                assert_int_equal(went_back, -1); /* once only */
                                went_back = n - 1;
                        }
                }
                sleep_ms(3);
        }
        assert_true(went_back > 0);
        /* Afterwards the sequence moves forward past everything seen before. */
        assert_true(went_back + 1 < n);
        assert_true(seen[went_back + 1] > seen[went_back - 1]);
}

static void test_malformed(void **state)
{
        struct sim *s = *state;
        int64_t deadline;
        uint64_t before;
        int torn = 0, good_after = 0;

        sim_start(s, (const char *const[]){"--interval-ms", "250", NULL});
        before = snapshot_seq(s);
        assert_int_equal(ms_fault(s->c, MS_FAULT_MALFORMED, 0), 0);
        deadline = now_ms() + 3000;
        while (now_ms() < deadline && !good_after) {
                struct hf_snapshot snap;
                int err = read_snapshot(s, &snap);

                if (err == -EINVAL)
                        torn = 1;
                else if (err == 0 && torn && snap.seq > before + 1)
                        good_after = 1;
                else
                        assert_int_equal(err, 0);
                hf_free(&snap);
                sleep_ms(3);
        }
        assert_true(torn);
        assert_true(good_after);
}

static void test_disconnect(void **state)
{
        struct sim *s = *state;
        struct ms_order_result r, held;
        struct hf_snapshot snap;
        int64_t deadline;
        int seen_offline = 0;

        sim_start(s, NULL);
        assert_int_equal(ms_order(s->c, "EURUSD", 0, 1, 1, "", &held), MS_FILLED);
        assert_int_equal(ms_fault(s->c, MS_FAULT_DISCONNECT, 1000), 0);
        assert_int_equal(ms_order(s->c, "EURUSD", 0, 1, 1, "", &r), MS_REJECTED);
        assert_int_equal(r.retcode, 10031);
        assert_true(ms_retcode_unknown(r.retcode));
        assert_int_equal(ms_close(s->c, held.identifier, NULL), -ENETDOWN);
        deadline = now_ms() + 1000;
        while (!seen_offline && now_ms() < deadline) {
                assert_int_equal(read_snapshot(s, &snap), 0);
                seen_offline = snap.connected == 0;
                hf_free(&snap);
                sleep_ms(5);
        }
        assert_true(seen_offline);
        /* The terminal comes back by itself. */
        deadline = now_ms() + 3000;
        for (;;) {
                assert_int_equal(read_snapshot(s, &snap), 0);
                int online = snap.connected == 1;
                hf_free(&snap);
                if (online)
                        break;
                assert_true(now_ms() < deadline);
                sleep_ms(10);
        }
        assert_int_equal(ms_order(s->c, "EURUSD", 0, 1, 1, "", &r), MS_FILLED);
        assert_int_equal(ms_close(s->c, held.identifier, NULL), 0);
}

static void test_stall(void **state)
{
        struct sim *s = *state;
        uint64_t seq;
        int64_t deadline;

        sim_start(s, NULL);
        int64_t t0 = now_ms();
        assert_int_equal(ms_fault(s->c, MS_FAULT_STALL, 500), 0);
        seq = snapshot_seq(s); /* the last write before the stall */
        sleep_ms(300);
        uint64_t later = snapshot_seq(s);
        /* Only meaningful while the stall surely holds (a loaded machine may oversleep). */
        if (now_ms() - t0 < 500)
                assert_true(later == seq);
        deadline = now_ms() + 1500;
        while (snapshot_seq(s) == seq) {
                assert_true(now_ms() < deadline);
                sleep_ms(10);
        }
        assert_true(snapshot_seq(s) > seq);
}

static void test_reject_rate(void **state)
{
        struct sim *s = *state;
        struct ms_order_result r;
        struct ms_stats st;
        int filled = 0, rejected = 0;

        sim_start(s, (const char *const[]){"--reject-percent", "50", NULL});
        for (int i = 0; i < 200; i++) {
                int o = ms_order(s->c, "EURUSD", 0, 1, 1, "", &r);

                filled += o == MS_FILLED;
                rejected += o == MS_REJECTED && r.retcode == 10006;
        }
        assert_int_equal(filled + rejected, 200);
        assert_true(filled > 50 && rejected > 50);
        assert_int_equal(ms_fault(s->c, MS_FAULT_REJECT_RATE, 100), 0);
        assert_int_equal(ms_order(s->c, "EURUSD", 0, 1, 1, "", &r), MS_REJECTED);
        assert_int_equal(ms_fault(s->c, MS_FAULT_REJECT_RATE, 0), 0);
        for (int i = 0; i < 20; i++)
                assert_int_equal(ms_order(s->c, "EURUSD", 0, 1, 1, "", &r), MS_FILLED);
        /* clear goes back to the option's rate. */
        assert_int_equal(ms_fault(s->c, MS_FAULT_CLEAR, 0), 0);
        rejected = 0;
        for (int i = 0; i < 100; i++)
                rejected += ms_order(s->c, "EURUSD", 0, 1, 1, "", &r) == MS_REJECTED;
        assert_true(rejected > 20);
        assert_int_equal(ms_stats(s->c, &st), 0);
        assert_true(st.orders == 321 && st.fills + st.rejections == 321);
        assert_int_equal(ms_fault(s->c, (enum ms_fault)42, 0), -EINVAL);
}

static void test_netting(void **state)
{
        struct sim *s = *state;
        struct ms_order_result a, b, c;
        struct hf_snapshot snap;

        sim_start(s, (const char *const[]){"--netting", NULL});
        assert_int_equal(ms_order(s->c, "EURUSD", 0, 1, 1, "", &a), MS_FILLED);
        assert_int_equal(ms_order(s->c, "EURUSD", 0, 1, 1, "", &b), MS_FILLED);
        /* On a netting account the second order merges: same position identifier. */
        assert_true(b.identifier == a.identifier && b.order != a.order);
        assert_int_equal(ms_order(s->c, "EURUSD", 1, 3, 1, "", &c), MS_FILLED);
        assert_true(c.identifier == c.order);
        wait_position(s, 0, c.identifier, 1, 1000);
        assert_int_equal(read_snapshot(s, &snap), 0);
        assert_int_equal(snap.margin_mode, 0);
        assert_int_equal(snap.n_positions, 1);
        assert_true(snap.positions[0].volume == 1 && snap.positions[0].type == 1);
        assert_non_null(find_deal(&snap, a.identifier, 0));
        hf_free(&snap);
}

/* Raw protocol: errors keep the connection, pipelined lines are answered in order, an
 * over-long line is refused, an unterminated line at EOF is never executed. */
static void test_raw_protocol(void **state)
{
        struct sim *s = *state;
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        char buf[4096], big[3000];
        struct ms_stats st;
        size_t len = 0;
        int fd;

        sim_start(s, NULL);
        strcpy(addr.sun_path, s->sock);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
        memset(big, 'x', sizeof(big));
        big[sizeof(big) - 1] = '\n';
        const char req[] = "PING\nNONSENSE\r\nORDER EURUSD buy 1 1 a%20b\nPING\n";
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
        assert_int_equal(write(fd, "STATS\n", 6), 6);
        int64_t deadline = now_ms() + 2000;
        buf[0] = '\0';
        while (strstr(buf, "STATS ") == NULL || buf[len - 1] != '\n') {
                assert_true(now_ms() < deadline);
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
                assert_true(n > 0);
                len += (size_t)n;
                buf[len] = '\0';
        }
        const char *p = buf;
        assert_true(strncmp(p, "PONG\n", 5) == 0);
        p += 5;
        assert_true(strncmp(p, "ERR 10013 unknown command 'NONSENSE'\n", 37) == 0);
        p = strchr(p, '\n') + 1;
        assert_true(strncmp(p, "FILLED ", 7) == 0);
        p = strchr(p, '\n') + 1;
        assert_true(strncmp(p, "PONG\n", 5) == 0);
        p += 5;
        assert_true(strncmp(p, "ERR 10013 line too long\n", 24) == 0);
        p += 24;
        assert_true(strncmp(p, "STATS orders=1 ", 15) == 0);
        /* An order without its newline, then EOF: not executed. */
        assert_int_equal(write(fd, "ORDER EURUSD buy 1 1", 20), 20);
        close(fd);
        sleep_ms(100);
        assert_int_equal(ms_stats(s->c, &st), 0);
        assert_true(st.orders == 1 && st.bad_requests == 2);
}

/* Many bots at once: every request answered, nothing lost or doubled. */
static void test_many_clients(void **state)
{
        enum { BOTS = 16, ORDERS = 100 };
        struct sim *s = *state;
        struct ms_position *list;
        struct ms_stats st;
        pid_t kids[BOTS];
        size_t n;

        sim_start(s, NULL);
        for (int b = 0; b < BOTS; b++) {
                kids[b] = fork();
                if (kids[b] == 0) {
                        ms_conn *c;
                        int bad = ms_connect(s->sock, &c) != 0;

                        for (int i = 0; !bad && i < ORDERS; i++) {
                                struct ms_order_result r;
                                char comment[32];

                                snprintf(comment, sizeof(comment), "bot %d order %d", b, i);
                                bad = ms_order(c, "EURUSD", i % 2, 0.01, (uint64_t)b, comment,
                                               &r) != MS_FILLED;
                                if (!bad && i % 2 == 1)
                                        bad = ms_close(c, r.identifier, NULL) != 0;
                        }
                        ms_disconnect(c);
                        _exit(bad);
                }
                assert_true(kids[b] > 0);
        }
        for (int b = 0; b < BOTS; b++) {
                int status;

                assert_int_equal(waitpid(kids[b], &status, 0), kids[b]);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        assert_int_equal(ms_stats(s->c, &st), 0);
        assert_true(st.orders == BOTS * ORDERS && st.fills == BOTS * ORDERS);
        assert_true(st.closes == BOTS * ORDERS / 2);
        assert_int_equal(ms_positions(s->c, &list, &n), 0);
        assert_int_equal(n, BOTS * ORDERS / 2);
        for (size_t i = 1; i < n; i++)
                assert_true(list[i].ticket > list[i - 1].ticket);
        free(list);
        /* A snapshot written after the STATS above shows the same books. */
        int64_t deadline = now_ms() + 1000;
        while (snapshot_seq(s) <= st.seq) {
                assert_true(now_ms() < deadline);
                sleep_ms(5);
        }
        struct hf_snapshot snap;
        assert_int_equal(read_snapshot(s, &snap), 0);
        assert_int_equal(snap.n_positions, BOTS * ORDERS / 2);
        assert_int_equal(snap.n_deals, BOTS * ORDERS * 3 / 2);
        hf_free(&snap);
}

static void test_process(void **state)
{
        struct sim *s = *state;
        const char *help[] = {sim_exe, "--help", NULL};
        const char *bogus[] = {sim_exe, "--bogus", NULL};
        const char *missing[] = {sim_exe, "--socket", s->sock, NULL};
        const char *range[] = {sim_exe, "--socket",         s->sock, "--snapshot",
                               s->snap, "--reject-percent", "101",   NULL};
        const char *lives[] = {sim_exe,         "--socket", s->sock,         "--snapshot", s->snap,
                               "--min-life-ms", "10",       "--max-life-ms", "5",          NULL};
        const char *nodir[] = {sim_exe,      "--socket",         s->sock,
                               "--snapshot", "/nonexistent/x/s", NULL};
        const char *second[] = {sim_exe, "--socket", s->sock, "--snapshot", s->snap, NULL};
        struct stat st;

        assert_int_equal(reap(spawn(help, 1), 3000), 0);
        assert_int_equal(reap(spawn(bogus, 1), 3000), 2);
        assert_int_equal(reap(spawn(missing, 1), 3000), 2);
        assert_int_equal(reap(spawn(range, 1), 3000), 2);
        assert_int_equal(reap(spawn(lives, 1), 3000), 2);
        assert_int_equal(reap(spawn(nodir, 1), 3000), 3);

        /* A leftover socket file is replaced; a live server's socket is not stolen. */
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        strcpy(addr.sun_path, s->sock);
        assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
        close(fd);
        sim_start(s, NULL);
        assert_int_equal(reap(spawn(second, 1), 3000), 1);
        assert_int_equal(ms_ping(s->c), 0);

        /* QUIT stops it cleanly, socket removed. */
        assert_int_equal(ms_quit(s->c), 0);
        assert_int_equal(reap(s->pid, 3000), 0);
        s->pid = 0;
        assert_int_equal(lstat(s->sock, &st), -1);
        /* With nobody listening, a request never leaves: a negative error, not UNKNOWN. */
        struct ms_order_result r;
        assert_true(ms_order(s->c, "EURUSD", 0, 1, 1, "", &r) < 0);
        assert_int_equal(ms_order(s->c, "", 0, 1, 1, "", &r), -EINVAL);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_fill_and_snapshot, setup, teardown),
            cmocka_unit_test_setup_teardown(test_close_and_auto_close, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ledger_duplicates, setup, teardown),
            cmocka_unit_test_setup_teardown(test_lose_reply, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hangup, setup, teardown),
            cmocka_unit_test_setup_teardown(test_seq_back, setup, teardown),
            cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
            cmocka_unit_test_setup_teardown(test_disconnect, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stall, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reject_rate, setup, teardown),
            cmocka_unit_test_setup_teardown(test_netting, setup, teardown),
            cmocka_unit_test_setup_teardown(test_raw_protocol, setup, teardown),
            cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
            cmocka_unit_test_setup_teardown(test_process, setup, teardown),
        };

        if (argc < 2) {
                fprintf(stderr, "usage: %s MT5SIM_PATH [TEST_NAME]\n", argv[0]);
                return 2;
        }
        sim_exe = argv[1];
        if (argc > 2)
                cmocka_set_test_filter(argv[2]);
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
