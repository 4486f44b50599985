/*
 * Redis on loopback through hiredis, the usual server-based choice. The benchmark starts its
 * own redis-server (no persistence: --save '' --appendonly no, in a temporary directory, on
 * a free port the kernel picked for a throwaway socket) and stops it at the end. A position
 * is one string key, absent when AVAILABLE:
 *
 *   claim      SET pos:<key> H:<token> NX PX 60000      (the lock, with a lease)
 *   activate   script: if value is H:<token>, SET A:<token>:<ticket> (no expiry)
 *   status     GET
 *   release    script: if value is H:<token> or A:<token>:..., DEL   (compare-and-delete)
 *
 * One connection per worker process; both scripts are loaded once and run by EVALSHA.
 *
 * Two rows: "redis" leaves the server where the scheduler puts it, as a deployment would;
 * "redis-pinned" pins it to worker 0's CPU. On a virtual machine whose other CPU is idle,
 * each round trip that crosses CPUs waits for a halted virtual CPU to wake (tens of us), so
 * the pinned row is the fastest Redis gets on such a machine, and both are shown.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compare.h"

static const char activate_lua[] =
    "if redis.call('GET', KEYS[1]) == 'H:' .. ARGV[1] then "
    "redis.call('SET', KEYS[1], 'A:' .. ARGV[1] .. ':' .. ARGV[2]) return 1 end return 0";
static const char release_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v == 'H:' .. ARGV[1] or (v and string.sub(v, 1, #ARGV[1] + 3) == 'A:' .. ARGV[1] .. ':') "
    "then return redis.call('DEL', KEYS[1]) end return 0";

static char *dir, activate_sha[48], release_sha[48];
static pid_t server = -1;
static int port, pin_server;

/* A port nobody listens on now: bind a throwaway socket to port 0 and ask which it got. */
static int free_port(void)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0), p = -1;

        if (fd < 0)
                return -1;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
                p = ntohs(a.sin_port);
        close(fd);
        return p;
}

static redisContext *connect_server(void)
{
        struct timeval tv = {2, 0};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

        if (c != NULL && c->err) {
                redisFree(c);
                return NULL;
        }
        return c;
}

static void stop_server(void)
{
        if (server <= 0)
                return;
        kill(server, SIGTERM);
        for (int i = 0; i < 500 && waitpid(server, NULL, WNOHANG) == 0; i++)
                usleep(10000);
        if (waitpid(server, NULL, WNOHANG) == 0) {
                kill(server, SIGKILL);
                waitpid(server, NULL, 0);
        }
        server = -1;
}

static int start_server(const char *exe)
{
        char portarg[16], log[4096];

        port = free_port();
        if (port <= 0)
                return cmp_fail(-EADDRNOTAVAIL, "no free loopback port");
        snprintf(portarg, sizeof(portarg), "%d", port);
        snprintf(log, sizeof(log), "%s/redis.log", dir);
        fflush(NULL);
        server = fork();
        if (server < 0)
                return cmp_fail(-errno, "fork: %s", strerror(errno));
        if (server == 0) {
                int cpu;

                prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the benchmark */
                if (pin_server && cmp_online_cpus(&cpu, 1) == 1)
                        cmp_pin(cpu); /* worker 0 runs on the first online CPU */
                execl(exe, exe, "--port", portarg, "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no", "--dir", dir, "--logfile", log, "--daemonize", "no",
                      (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 500; i++) { /* up to 5 s for it to listen */
                redisContext *c = connect_server();

                if (c != NULL) {
                        redisReply *r = redisCommand(c, "PING");
                        int ok = r && r->type == REDIS_REPLY_STATUS;

                        freeReplyObject(r);
                        redisFree(c);
                        if (ok)
                                return 0;
                }
                if (waitpid(server, NULL, WNOHANG) == server) {
                        server = -1;
                        return cmp_fail(-ECHILD, "redis-server exited at start (see %s)", log);
                }
                usleep(10000);
        }
        stop_server();
        return cmp_fail(-ETIMEDOUT, "redis-server did not answer on port %d", port);
}

static int load_script(redisContext *c, const char *lua, char sha[48])
{
        redisReply *r = redisCommand(c, "SCRIPT LOAD %s", lua);
        int ok = r && r->type == REDIS_REPLY_STRING && r->len < 48;

        if (ok)
                memcpy(sha, r->str, (size_t)r->len + 1);
        freeReplyObject(r);
        return ok ? 0 : cmp_fail(-EPROTO, "SCRIPT LOAD failed");
}

static int rd_setup(const char **skip)
{
        const char *exe = cmp_find_program("redis-server");
        redisContext *c;
        int err = 0;

        if (exe == NULL) {
                *skip = "skipped: redis-server not installed";
                return 0;
        }
        if ((dir = cmp_make_tmpdir("redis")) == NULL)
                return cmp_fail(-errno, "temporary directory: %s", strerror(errno));
        /* The port may be taken between our probe and the server's bind: try a few. */
        for (int attempt = 0; attempt < 3; attempt++)
                if ((err = start_server(exe)) == 0)
                        break;
        if (err)
                return err;
        if ((c = connect_server()) == NULL)
                return cmp_fail(-ECONNREFUSED, "connect to port %d", port);
        err = load_script(c, activate_lua, activate_sha);
        if (err == 0)
                err = load_script(c, release_lua, release_sha);
        redisFree(c);
        return err;
}

static int rd_setup_pinned(const char **skip)
{
        pin_server = 1;
        return rd_setup(skip);
}

static void rd_teardown(void)
{
        stop_server();
        cmp_remove_tree(dir);
        free(dir);
        dir = NULL;
        pin_server = 0;
}

static void *rd_attach(int worker)
{
        redisContext *c = connect_server();

        (void)worker;
        if (c == NULL)
                cmp_fail(-ECONNREFUSED, "connect to redis on port %d", port);
        return c;
}

static void rd_detach(void *ctx)
{
        redisFree(ctx);
}

/* A reply that is an error, or no reply at all (connection lost), as a negative error. */
static int bad_reply(redisContext *c, redisReply *r, const char *what)
{
        int err = cmp_fail(-EPROTO, "%s: %s", what,
                           r == NULL                      ? c->errstr
                           : r->type == REDIS_REPLY_ERROR ? r->str
                                                          : "?");

        freeReplyObject(r);
        return err;
}

static int rd_claim(void *ctx, const struct cmp_key *k, uint64_t *token)
{
        uint64_t t = cmp_next_token();
        redisReply *r = redisCommand(ctx, "SET pos:%s H:%llu NX PX %d", k->joined,
                                     (unsigned long long)t, CMP_LEASE_MS);
        int rc;

        if (r == NULL || r->type == REDIS_REPLY_ERROR)
                return bad_reply(ctx, r, "SET NX");
        rc = r->type == REDIS_REPLY_STATUS ? CMP_WON : CMP_BUSY; /* nil: the key exists */
        freeReplyObject(r);
        *token = t;
        return rc;
}

static int run_script(redisContext *c, const char *sha, const char *what, const struct cmp_key *k,
                      uint64_t token, uint64_t ticket)
{
        redisReply *r = redisCommand(c, "EVALSHA %s 1 pos:%s %llu %llu", sha, k->joined,
                                     (unsigned long long)token, (unsigned long long)ticket);
        int ok;

        if (r == NULL || r->type != REDIS_REPLY_INTEGER)
                return bad_reply(c, r, what);
        ok = r->integer == 1;
        freeReplyObject(r);
        return ok ? 0 : cmp_fail(-ESTALE, "%s: token not current", what);
}

static int rd_activate(void *ctx, const struct cmp_key *k, uint64_t token, uint64_t ticket)
{
        return run_script(ctx, activate_sha, "activate script", k, token, ticket);
}

static int rd_release(void *ctx, const struct cmp_key *k, uint64_t token)
{
        return run_script(ctx, release_sha, "release script", k, token, 0);
}

static int rd_status(void *ctx, const struct cmp_key *k, uint64_t *ticket)
{
        redisReply *r = redisCommand(ctx, "GET pos:%s", k->joined);
        unsigned long long tok, tic;

        if (r == NULL || r->type == REDIS_REPLY_ERROR)
                return bad_reply(ctx, r, "GET");
        *ticket = 0;
        if (r->type == REDIS_REPLY_STRING && sscanf(r->str, "A:%llu:%llu", &tok, &tic) == 2)
                *ticket = tic;
        freeReplyObject(r);
        return 0;
}

const struct cmp_backend cmp_redis = {
    .name = "redis",
    .what = "redis-server on 127.0.0.1 via hiredis: SET NX PX / EVALSHA / GET / EVALSHA "
            "compare-and-delete",
    .setup = rd_setup,
    .teardown = rd_teardown,
    .attach = rd_attach,
    .detach = rd_detach,
    .claim = rd_claim,
    .activate = rd_activate,
    .status = rd_status,
    .release = rd_release,
};

const struct cmp_backend cmp_redis_pinned = {
    .name = "redis-pinned",
    .what = "the same, with redis-server pinned to worker 0's CPU (no cross-CPU wake-up per "
            "round trip)",
    .setup = rd_setup_pinned,
    .teardown = rd_teardown,
    .attach = rd_attach,
    .detach = rd_detach,
    .claim = rd_claim,
    .activate = rd_activate,
    .status = rd_status,
    .release = rd_release,
};
