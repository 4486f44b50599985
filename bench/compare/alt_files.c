/*
 * File locks on one lock file per position, in a temporary directory; the position's state
 * (state, token, ticket: 24 bytes) is the file's content. Two designs, two rows:
 *
 *   flock   the lock IS the claim: flock(LOCK_EX | LOCK_NB) wins the position and is held
 *           until release, so the kernel frees it if the holder dies; activate and release
 *           write the record under it; status reads the record without locking (one pread
 *           of a record written by one pwrite).
 *   fcntl   short critical sections with open-file-description record locks (F_OFD_SETLKW,
 *           per position), the way the mutex row works: each operation locks the record,
 *           reads it, checks state and token, writes it, unlocks; status under a read lock.
 *
 * Each process opens a position's file once, at first use, and keeps the descriptor: opening
 * per operation would be slower and no user would do it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "compare.h"

enum { AVAILABLE, HEDGING, ACTIVE };

struct record {
        uint64_t state, token, ticket;
};

struct files {
        int fd[CMP_NKEYS];
};

static char *flock_dir, *fcntl_dir;

static int make_dir(char **dir, const char *what)
{
        if ((*dir = cmp_make_tmpdir(what)) == NULL)
                return cmp_fail(-errno, "temporary directory: %s", strerror(errno));
        return 0;
}

static int flock_setup(const char **skip)
{
        (void)skip;
        return make_dir(&flock_dir, "flock");
}

static int fcntl_setup(const char **skip)
{
        (void)skip;
        return make_dir(&fcntl_dir, "fcntl");
}

static void flock_teardown(void)
{
        cmp_remove_tree(flock_dir);
        free(flock_dir);
}

static void fcntl_teardown(void)
{
        cmp_remove_tree(fcntl_dir);
        free(fcntl_dir);
}

static void *files_attach(int worker)
{
        struct files *f = malloc(sizeof(*f));

        (void)worker;
        if (f == NULL)
                return NULL;
        for (int i = 0; i < CMP_NKEYS; i++)
                f->fd[i] = -1;
        return f;
}

static void files_detach(void *ctx)
{
        struct files *f = ctx;

        for (int i = 0; i < CMP_NKEYS; i++)
                if (f->fd[i] >= 0)
                        close(f->fd[i]);
        free(f);
}

/* The position's descriptor, opened (and the file created) at first use. */
static int fd_of(struct files *f, const char *dir, const struct cmp_key *k)
{
        char path[4096];

        if (f->fd[k->index] >= 0)
                return f->fd[k->index];
        snprintf(path, sizeof(path), "%s/%s-%s.pos", dir, k->group, k->symbol);
        f->fd[k->index] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (f->fd[k->index] < 0)
                return cmp_fail(-errno, "open %s: %s", path, strerror(errno));
        return f->fd[k->index];
}

static int put(int fd, uint64_t state, uint64_t token, uint64_t ticket)
{
        struct record r = {state, token, ticket};

        if (pwrite(fd, &r, sizeof(r), 0) != (ssize_t)sizeof(r))
                return cmp_fail(-EIO, "pwrite: %s", strerror(errno));
        return 0;
}

/* A file never written holds AVAILABLE. */
static int get(int fd, struct record *r)
{
        ssize_t n = pread(fd, r, sizeof(*r), 0);

        if (n == 0)
                memset(r, 0, sizeof(*r));
        else if (n != (ssize_t)sizeof(*r))
                return cmp_fail(-EIO, "pread: %s", n < 0 ? strerror(errno) : "short record");
        return 0;
}

static int fl_claim(void *ctx, const struct cmp_key *k, uint64_t *token)
{
        int fd = fd_of(ctx, flock_dir, k);

        if (fd < 0)
                return fd;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0)
                return errno == EWOULDBLOCK ? CMP_BUSY
                                            : cmp_fail(-errno, "flock: %s", strerror(errno));
        *token = cmp_next_token();
        return put(fd, HEDGING, *token, 0);
}

/* Only the holder of the flock can be here: the lock is the fencing. */
static int fl_activate(void *ctx, const struct cmp_key *k, uint64_t token, uint64_t ticket)
{
        return put(fd_of(ctx, flock_dir, k), ACTIVE, token, ticket);
}

static int fl_status(void *ctx, const struct cmp_key *k, uint64_t *ticket)
{
        struct record r;
        int fd = fd_of(ctx, flock_dir, k), err;

        if (fd < 0)
                return fd;
        if ((err = get(fd, &r)) != 0)
                return err;
        *ticket = r.state == ACTIVE ? r.ticket : 0;
        return 0;
}

static int fl_release(void *ctx, const struct cmp_key *k, uint64_t token)
{
        int fd = fd_of(ctx, flock_dir, k), err = put(fd, AVAILABLE, 0, 0);

        (void)token;
        if (err == 0 && flock(fd, LOCK_UN) != 0)
                err = cmp_fail(-errno, "flock unlock: %s", strerror(errno));
        return err;
}

static int record_lock(int fd, short type)
{
        struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_len = sizeof(struct record)};

        while (fcntl(fd, F_OFD_SETLKW, &fl) != 0)
                if (errno != EINTR)
                        return cmp_fail(-errno, "F_OFD_SETLKW: %s", strerror(errno));
        return 0;
}

/*
 * One fenced step under the record's write lock: from the states in the `from` mask to `to`.
 * With token 0 (a claim) any current token is replaced by a fresh one; else the token must
 * match. Returns 0, CMP_BUSY (claim of a taken position) or an error.
 */
static int fc_step(struct files *f, const struct cmp_key *k, uint64_t *token, unsigned from,
                   uint64_t to, uint64_t ticket)
{
        int fd = fd_of(f, fcntl_dir, k), err;
        struct record r;

        if (fd < 0)
                return fd;
        if ((err = record_lock(fd, F_WRLCK)) != 0)
                return err;
        if ((err = get(fd, &r)) == 0) {
                if (!(from & (1u << r.state)))
                        err = *token == 0 ? CMP_BUSY : cmp_fail(-ESTALE, "wrong state");
                else if (*token != 0 && r.token != *token)
                        err = cmp_fail(-ESTALE, "token not current");
                else {
                        if (*token == 0)
                                *token = cmp_next_token();
                        err = put(fd, to, to == AVAILABLE ? 0 : *token, ticket);
                }
        }
        record_lock(fd, F_UNLCK);
        return err;
}

static int fc_claim(void *ctx, const struct cmp_key *k, uint64_t *token)
{
        *token = 0;
        return fc_step(ctx, k, token, 1u << AVAILABLE, HEDGING, 0);
}

static int fc_activate(void *ctx, const struct cmp_key *k, uint64_t token, uint64_t ticket)
{
        return fc_step(ctx, k, &token, 1u << HEDGING, ACTIVE, ticket);
}

static int fc_release(void *ctx, const struct cmp_key *k, uint64_t token)
{
        return fc_step(ctx, k, &token, 1u << HEDGING | 1u << ACTIVE, AVAILABLE, 0);
}

static int fc_status(void *ctx, const struct cmp_key *k, uint64_t *ticket)
{
        int fd = fd_of(ctx, fcntl_dir, k), err;
        struct record r;

        if (fd < 0)
                return fd;
        if ((err = record_lock(fd, F_RDLCK)) != 0)
                return err;
        err = get(fd, &r);
        record_lock(fd, F_UNLCK);
        *ticket = err == 0 && r.state == ACTIVE ? r.ticket : 0;
        return err;
}

const struct cmp_backend cmp_flock = {
    .name = "flock",
    .what = "flock(LOCK_EX|LOCK_NB) on a per-position file, held while claimed; state in the "
            "file (pwrite), status = pread without lock",
    .setup = flock_setup,
    .teardown = flock_teardown,
    .attach = files_attach,
    .detach = files_detach,
    .claim = fl_claim,
    .activate = fl_activate,
    .status = fl_status,
    .release = fl_release,
};

const struct cmp_backend cmp_fcntl = {
    .name = "fcntl-ofd",
    .what = "F_OFD_SETLKW record lock per operation on a per-position file: lock, pread, "
            "check, pwrite, unlock",
    .setup = fcntl_setup,
    .teardown = fcntl_teardown,
    .attach = files_attach,
    .detach = files_detach,
    .claim = fc_claim,
    .activate = fc_activate,
    .status = fc_status,
    .release = fc_release,
};
