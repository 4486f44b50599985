/*
 * A process-shared robust pthread mutex guarding an open-addressing table in a POSIX
 * shared-memory segment: what a careful C programmer would write first. One mutex for the
 * whole table (the usual first design); the key is packed and hashed before taking it, so
 * the critical section holds only the probe and the state change. EOWNERDEAD (a holder
 * died) is answered with pthread_mutex_consistent: an entry's key is written before its
 * `used` flag, and every change is one store of the state plus its fields, so a table whose
 * holder died mid-operation is still a valid table.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compare.h"

#define BUCKETS 8192u /* twice hedgeshm's default capacity, as hedgeshm's own index */

enum { AVAILABLE, HEDGING, ACTIVE };

struct entry {
        uint64_t key[8];
        uint32_t used, state;
        uint64_t token, ticket;
} __attribute__((aligned(CMP_LINE)));

struct table {
        pthread_mutex_t lock;
        uint64_t next_token;
        struct entry e[BUCKETS];
};

static char name[64];
static struct table *parent_map;

static struct table *map_table(int create)
{
        int fd = shm_open(name, create ? O_CREAT | O_EXCL | O_RDWR : O_RDWR, 0600);
        struct table *t;

        if (fd < 0)
                return NULL;
        if (create && ftruncate(fd, sizeof(struct table)) != 0) {
                close(fd);
                return NULL;
        }
        t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        return t == MAP_FAILED ? NULL : t;
}

static int mtx_setup(const char **skip)
{
        pthread_mutexattr_t a;
        int err;

        (void)skip;
        snprintf(name, sizeof(name), "/hshm-cmp-mtx-%d", (int)getpid());
        if ((parent_map = map_table(1)) == NULL)
                return cmp_fail(-errno, "segment %s: %s", name, strerror(errno));
        pthread_mutexattr_init(&a);
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        err = pthread_mutex_init(&parent_map->lock, &a);
        pthread_mutexattr_destroy(&a);
        return err ? cmp_fail(-err, "pthread_mutex_init: %s", strerror(err)) : 0;
}

static void mtx_teardown(void)
{
        munmap(parent_map, sizeof(*parent_map));
        shm_unlink(name);
}

static void *mtx_attach(int worker)
{
        struct table *t = map_table(0);

        (void)worker;
        if (t == NULL)
                cmp_fail(-errno, "attach %s: %s", name, strerror(errno));
        return t;
}

static void mtx_detach(void *ctx)
{
        munmap(ctx, sizeof(struct table));
}

static int lock(struct table *t)
{
        int err = pthread_mutex_lock(&t->lock);

        if (err == EOWNERDEAD)
                err = pthread_mutex_consistent(&t->lock);
        return err ? cmp_fail(-err, "pthread_mutex_lock: %s", strerror(err)) : 0;
}

/* The key's entry, inserted when insert is set and it is missing; NULL if absent or full. */
static struct entry *find(struct table *t, const uint64_t key[8], uint64_t hash, int insert)
{
        for (uint32_t n = 0, i = (uint32_t)hash & (BUCKETS - 1); n < BUCKETS;
             n++, i = (i + 1) & (BUCKETS - 1)) {
                struct entry *e = &t->e[i];

                if (!e->used) {
                        if (!insert)
                                return NULL;
                        memcpy(e->key, key, sizeof(e->key));
                        e->state = AVAILABLE;
                        e->used = 1; /* last: a holder dying before this left no entry */
                        return e;
                }
                if (memcmp(e->key, key, sizeof(e->key)) == 0)
                        return e;
        }
        return NULL;
}

static int mtx_claim(void *ctx, const struct cmp_key *k, uint64_t *token)
{
        struct table *t = ctx;
        uint64_t key[8], h;
        struct entry *e;
        int rc;

        cmp_pack_key(k, key);
        h = cmp_hash64(key);
        if ((rc = lock(t)) != 0)
                return rc;
        e = find(t, key, h, 1);
        if (e == NULL) {
                rc = cmp_fail(-ENOSPC, "table full");
        } else if (e->state != AVAILABLE) {
                rc = CMP_BUSY;
        } else {
                e->token = *token = ++t->next_token;
                e->state = HEDGING;
        }
        pthread_mutex_unlock(&t->lock);
        return rc;
}

/* Move the key's entry from one of the states in `from` (a bit mask) to `to`, if its token
 * is still token: the fencing the library has, kept here too so the work is the same. */
static int transition(struct table *t, const struct cmp_key *k, uint64_t token, unsigned from,
                      uint32_t to, uint64_t ticket)
{
        uint64_t key[8], h;
        struct entry *e;
        int rc;

        cmp_pack_key(k, key);
        h = cmp_hash64(key);
        if ((rc = lock(t)) != 0)
                return rc;
        e = find(t, key, h, 0);
        if (e == NULL || e->token != token || !(from & (1u << e->state))) {
                rc = cmp_fail(-ESTALE, "token %llu not current", (unsigned long long)token);
        } else {
                e->ticket = ticket;
                e->state = to;
        }
        pthread_mutex_unlock(&t->lock);
        return rc;
}

static int mtx_activate(void *ctx, const struct cmp_key *k, uint64_t token, uint64_t ticket)
{
        return transition(ctx, k, token, 1u << HEDGING, ACTIVE, ticket);
}

static int mtx_release(void *ctx, const struct cmp_key *k, uint64_t token)
{
        return transition(ctx, k, token, 1u << HEDGING | 1u << ACTIVE, AVAILABLE, 0);
}

static int mtx_status(void *ctx, const struct cmp_key *k, uint64_t *ticket)
{
        struct table *t = ctx;
        uint64_t key[8], h;
        struct entry *e;
        int rc;

        cmp_pack_key(k, key);
        h = cmp_hash64(key);
        if ((rc = lock(t)) != 0)
                return rc;
        e = find(t, key, h, 0);
        *ticket = e && e->state == ACTIVE ? e->ticket : 0;
        pthread_mutex_unlock(&t->lock);
        return 0;
}

const struct cmp_backend cmp_mutex = {
    .name = "robust-mutex",
    .what = "PTHREAD_PROCESS_SHARED + ROBUST mutex over an open-addressing table in a shm "
            "segment (one mutex)",
    .setup = mtx_setup,
    .teardown = mtx_teardown,
    .attach = mtx_attach,
    .detach = mtx_detach,
    .claim = mtx_claim,
    .activate = mtx_activate,
    .status = mtx_status,
    .release = mtx_release,
};
