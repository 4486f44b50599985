/*
 * SQLite in WAL mode, the usual embedded-database choice: one database file in a temporary
 * directory, table positions(key PRIMARY KEY, state, token, ticket), one connection per
 * process with prepared statements and a busy timeout, every statement its own (autocommit)
 * transaction:
 *
 *   claim      INSERT OR IGNORE the row (first use of the key in this process), then
 *              UPDATE ... SET state='HEDGING', token=? WHERE key=? AND state='AVAILABLE'
 *   activate   UPDATE ... SET state='ACTIVE', ticket=? WHERE key=? AND token=? AND state='HEDGING'
 *   status     SELECT state, ticket WHERE key=?
 *   release    UPDATE ... SET state='AVAILABLE' WHERE key=? AND token=?
 *
 * synchronous=NORMAL, the setting WAL is meant for (no fsync per commit, only at
 * checkpoints): the fastest durable-across-process-crash setting, so the ratios err in
 * SQLite's favour.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"

#define BUSY_MS 10000

enum { S_INSERT, S_CLAIM, S_ACTIVATE, S_STATUS, S_RELEASE, S_COUNT };

static const char *const sql[S_COUNT] = {
    "INSERT OR IGNORE INTO positions(key, state, token, ticket) VALUES (?1, 'AVAILABLE', 0, 0)",
    "UPDATE positions SET state = 'HEDGING', token = ?1, ticket = 0 "
    "WHERE key = ?2 AND state = 'AVAILABLE'",
    "UPDATE positions SET state = 'ACTIVE', ticket = ?1 "
    "WHERE key = ?2 AND token = ?3 AND state = 'HEDGING'",
    "SELECT state, ticket FROM positions WHERE key = ?1",
    "UPDATE positions SET state = 'AVAILABLE', token = 0, ticket = 0 "
    "WHERE key = ?2 AND token = ?1 AND state IN ('HEDGING', 'ACTIVE')",
};

struct conn {
        sqlite3 *db;
        sqlite3_stmt *st[S_COUNT];
        unsigned char inserted[CMP_NKEYS];
};

static char *dir, path[4096];

static int db_error(sqlite3 *db, const char *what)
{
        return cmp_fail(-EIO, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int open_db(sqlite3 **db)
{
        if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK)
                return db_error(*db, "sqlite3_open");
        sqlite3_busy_timeout(*db, BUSY_MS);
        if (sqlite3_exec(*db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK)
                return db_error(*db, "PRAGMA synchronous");
        return 0;
}

static int sq_setup(const char **skip)
{
        sqlite3 *db = NULL;
        int err;

        (void)skip;
        if ((dir = cmp_make_tmpdir("sqlite")) == NULL)
                return cmp_fail(-errno, "temporary directory: %s", strerror(errno));
        snprintf(path, sizeof(path), "%s/positions.db", dir);
        if ((err = open_db(&db)) == 0 &&
            (sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK ||
             sqlite3_exec(db,
                          "CREATE TABLE positions (key TEXT PRIMARY KEY, state TEXT NOT NULL, "
                          "token INTEGER NOT NULL, ticket INTEGER NOT NULL)",
                          NULL, NULL, NULL) != SQLITE_OK))
                err = db_error(db, "schema");
        sqlite3_close(db);
        return err;
}

static void sq_teardown(void)
{
        cmp_remove_tree(dir);
        free(dir);
        dir = NULL;
}

static void sq_detach(void *ctx)
{
        struct conn *c = ctx;

        for (int i = 0; i < S_COUNT; i++)
                sqlite3_finalize(c->st[i]);
        sqlite3_close(c->db);
        free(c);
}

static void *sq_attach(int worker)
{
        struct conn *c = calloc(1, sizeof(*c));

        (void)worker;
        if (c == NULL)
                return NULL;
        if (open_db(&c->db) != 0)
                goto fail;
        for (int i = 0; i < S_COUNT; i++)
                if (sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
                                       NULL) != SQLITE_OK) {
                        db_error(c->db, "prepare");
                        goto fail;
                }
        return c;
fail:
        sq_detach(c);
        return NULL;
}

/* Run a prepared write (its parameters bound); the number of rows it changed, or an error. */
static int step_write(struct conn *c, int which, const char *what)
{
        sqlite3_stmt *st = c->st[which];
        int rc = sqlite3_step(st);

        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return db_error(c->db, what);
        return sqlite3_changes(c->db);
}

static void bind_key(sqlite3_stmt *st, int param, const struct cmp_key *k)
{
        sqlite3_bind_text(st, param, k->joined, -1, SQLITE_STATIC);
}

static int sq_claim(void *ctx, const struct cmp_key *k, uint64_t *token)
{
        struct conn *c = ctx;
        int n;

        if (!c->inserted[k->index]) {
                bind_key(c->st[S_INSERT], 1, k);
                if ((n = step_write(c, S_INSERT, "INSERT OR IGNORE")) < 0)
                        return n;
                c->inserted[k->index] = 1;
        }
        *token = cmp_next_token();
        sqlite3_bind_int64(c->st[S_CLAIM], 1, (sqlite3_int64)*token);
        bind_key(c->st[S_CLAIM], 2, k);
        n = step_write(c, S_CLAIM, "claim UPDATE");
        return n < 0 ? n : n == 1 ? CMP_WON : CMP_BUSY;
}

static int sq_activate(void *ctx, const struct cmp_key *k, uint64_t token, uint64_t ticket)
{
        struct conn *c = ctx;
        int n;

        sqlite3_bind_int64(c->st[S_ACTIVATE], 1, (sqlite3_int64)ticket);
        bind_key(c->st[S_ACTIVATE], 2, k);
        sqlite3_bind_int64(c->st[S_ACTIVATE], 3, (sqlite3_int64)token);
        n = step_write(c, S_ACTIVATE, "activate UPDATE");
        return n < 0 ? n : n == 1 ? 0 : cmp_fail(-ESTALE, "activate: token not current");
}

static int sq_release(void *ctx, const struct cmp_key *k, uint64_t token)
{
        struct conn *c = ctx;
        int n;

        sqlite3_bind_int64(c->st[S_RELEASE], 1, (sqlite3_int64)token);
        bind_key(c->st[S_RELEASE], 2, k);
        n = step_write(c, S_RELEASE, "release UPDATE");
        return n < 0 ? n : n == 1 ? 0 : cmp_fail(-ESTALE, "release: token not current");
}

static int sq_status(void *ctx, const struct cmp_key *k, uint64_t *ticket)
{
        struct conn *c = ctx;
        sqlite3_stmt *st = c->st[S_STATUS];
        int rc;

        bind_key(st, 1, k);
        rc = sqlite3_step(st);
        *ticket = 0;
        if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ACTIVE") == 0)
                *ticket = (uint64_t)sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(c->db, "SELECT");
}

const struct cmp_backend cmp_sqlite = {
    .name = "sqlite-wal",
    .what = "SQLite WAL (synchronous=NORMAL), conditional UPDATEs / SELECT, prepared, one "
            "connection per process",
    .setup = sq_setup,
    .teardown = sq_teardown,
    .attach = sq_attach,
    .detach = sq_detach,
    .claim = sq_claim,
    .activate = sq_activate,
    .status = sq_status,
    .release = sq_release,
};
