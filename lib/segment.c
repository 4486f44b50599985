/*
 * Creating, attaching to and removing a segment.
 *
 * Creation publishes in this order: name (O_EXCL, owner-only), group and mode (fchown,
 * fchmod: the umask never decides who may attach), the whole size reserved with
 * posix_fallocate (a full /dev/shm fails here, not as a SIGBUS in a bot later), every
 * header field, and last the ready mark with release order. An attacher that finds the
 * segment empty, or without magic or ready mark, waits up to ATTACH_WAIT_NS for the creator,
 * then gives up with HSHM_EINIT. Everything else it reads from the header is checked
 * against this build's layout and against the real size of the mapping before any use, and
 * the values it relies on afterwards are copied into the handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define ATTACH_WAIT_NS (1000 * 1000 * 1000)
#define PAGE           4096u
#define LEASE_MAX_MS   (24u * 3600u * 1000u)

struct geometry {
        uint32_t buckets;
        uint64_t slots_offset;
        uint64_t total_size;
};

static struct geometry geometry_for(uint32_t capacity)
{
        struct geometry g;

        /* At most half the buckets ever hold keys, so probe sequences stay short even
         * when every slot is used. */
        g.buckets = 16;
        while (g.buckets < 2 * capacity)
                g.buckets <<= 1;
        g.slots_offset = HSHM_INDEX_OFFSET + (uint64_t)g.buckets * sizeof(uint64_t);
        g.total_size = g.slots_offset + (uint64_t)capacity * HSHM_SLOT_SIZE;
        g.total_size = (g.total_size + PAGE - 1) / PAGE * PAGE;
        return g;
}

static uint64_t random_u64(void)
{
        uint64_t v = 0;

        if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
                v = (uint64_t)hsi_now_ns() ^ ((uint64_t)getpid() << 32);
        return v;
}

static int open_error(int err, const char *name, const char *action)
{
        switch (err) {
        case ENOENT:
                return hsi_fail(-ENOENT,
                                "segment %s does not exist: create it with `hedgectl init`", name);
        case EACCES:
        case EPERM:
                return hsi_fail(-EACCES,
                                "no permission to %s segment %s: ask its owner to share it "
                                "(hedgectl init --mode 0660 --group GROUP)",
                                action, name);
        case EEXIST:
                return hsi_fail(-EEXIST,
                                "segment %s already exists: attach to it, or remove it "
                                "with `hedgectl destroy` first",
                                name);
        default:
                return hsi_fail(-err, "cannot %s segment %s: %s", action, name, strerror(err));
        }
}

static void write_header(struct hshm_header *h, uint32_t capacity, const struct geometry *g)
{
        h->format = HSHM_FORMAT;
        h->slot_size = HSHM_SLOT_SIZE;
        h->capacity = capacity;
        h->word_size = sizeof(uint64_t);
        h->cacheline = HSHM_CACHELINE;
        h->index_buckets = g->buckets;
        h->procs_max = HSHM_PROCS_MAX;
        h->index_offset = HSHM_INDEX_OFFSET;
        h->slots_offset = g->slots_offset;
        h->total_size = g->total_size;
        h->instance_id = random_u64();
        h->hash_seed = random_u64();
        h->created_ns = hsi_now_ns();
        h->creator_pid = (uint32_t)getpid();
        h->header_size = HSHM_HEADER_SIZE;
        h->magic = HSHM_MAGIC;
        /* Every field above before the mark: an attacher that sees the mark sees them. */
        hsi_wmb();
        hsi_store(&h->ready, HSHM_READY_MARK);
}

int hshm_create(const char *name, const struct hshm_create_opts *opts)
{
        uint32_t capacity =
            opts != NULL && opts->capacity != 0 ? opts->capacity : HSHM_CAPACITY_DEFAULT;
        mode_t mode = opts != NULL && opts->mode != 0 ? opts->mode : 0600;
        gid_t gid = opts != NULL && opts->gid != 0 ? opts->gid : (gid_t)-1;
        struct geometry g;
        void *map;
        int fd, err;

        hsi_clear_detail();
        err = hshm_validate_name(name);
        if (err != 0)
                return err;
        if (capacity < HSHM_CAPACITY_MIN || capacity > HSHM_CAPACITY_MAX)
                return hsi_fail(-EINVAL, "capacity %u is out of range %u..%u", capacity,
                                HSHM_CAPACITY_MIN, HSHM_CAPACITY_MAX);
        if ((mode & ~(mode_t)0777) != 0)
                return hsi_fail(-EINVAL, "mode %o has bits beyond 0777", (unsigned)mode);
        if ((mode & 0600) != 0600)
                return hsi_fail(-EINVAL, "mode %o must let the owner read and write",
                                (unsigned)mode);
        g = geometry_for(capacity);

        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return open_error(errno, name, "create");
        if (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) != 0) {
                err = hsi_fail(-errno, "cannot give segment %s to group %u: %s", name,
                               (unsigned)gid, strerror(errno));
                goto fail;
        }
        if (fchmod(fd, mode) != 0) {
                err = hsi_fail(-errno, "cannot set mode %o on %s: %s", (unsigned)mode, name,
                               strerror(errno));
                goto fail;
        }
        err = posix_fallocate(fd, 0, (off_t)g.total_size);
        if (err != 0) {
                err = hsi_fail(err == ENOSPC ? -ENOSPC : -err,
                               "cannot reserve %llu bytes for %s: %s (free space in /dev/shm, "
                               "or create with a smaller --capacity)",
                               (unsigned long long)g.total_size, name, strerror(err));
                goto fail;
        }
        map = mmap(NULL, g.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
                err = hsi_fail(-ENOMEM, "cannot map %s: %s", name, strerror(errno));
                goto fail;
        }
        /* The reserved pages read as zero: every bucket EMPTY, every slot AVAILABLE at
         * generation 0, every counter 0. Only the header needs writing. */
        write_header(map, capacity, &g);
        munmap(map, g.total_size);
        close(fd);
        return 0;
fail:
        shm_unlink(name);
        close(fd);
        return err;
}

/*
 * 1 when the creator has not finished yet, 0 when the header is valid, else an error. The
 * identity lines are copied into *h first and only the copy is checked and used after: a
 * process writing into the header meanwhile cannot slip a value past the checks.
 */
static int check_header(const uint8_t *base, size_t size, const char *name, struct hshm_header *h)
{
        const struct hshm_header *live = (const void *)base;
        struct geometry g;
        uint64_t magic;

        if (size < sizeof(magic))
                return hsi_fail(HSHM_ETRUNC, "%s is %zu bytes, too small for a header", name, size);
        magic = hsi_load(&live->magic);
        /* No magic yet is a creator at work, unless the ready mark (written after the
         * magic) is already there. */
        if (magic == 0 && (size < HSHM_HEADER_SIZE || hsi_load(&live->ready) != HSHM_READY_MARK))
                return 1;
        if (magic == __builtin_bswap64(HSHM_MAGIC))
                return hsi_fail(HSHM_ENOTSEG, "%s was made on a machine of the other byte order",
                                name);
        if (magic != HSHM_MAGIC)
                return hsi_fail(HSHM_ENOTSEG, "%s has magic 0x%016llx, not hedgeshm's", name,
                                (unsigned long long)magic);
        if (size < HSHM_HEADER_SIZE)
                return hsi_fail(HSHM_ETRUNC, "%s is %zu bytes, smaller than its %u-byte header",
                                name, size, HSHM_HEADER_SIZE);
        if (hsi_load(&live->ready) != HSHM_READY_MARK)
                return 1;
        /* The mark before any other field: they were written before it. */
        hsi_rmb();
        memcpy(h, live, offsetof(struct hshm_header, used));
        if (h->format != HSHM_FORMAT)
                return hsi_fail(HSHM_EVERSION,
                                "%s has format version %u; this library reads version %u", name,
                                h->format, HSHM_FORMAT);
        if (h->slot_size != HSHM_SLOT_SIZE || h->word_size != sizeof(uint64_t) ||
            h->cacheline != HSHM_CACHELINE || h->header_size != HSHM_HEADER_SIZE ||
            h->procs_max != HSHM_PROCS_MAX || h->index_offset != HSHM_INDEX_OFFSET)
                return hsi_fail(HSHM_ELAYOUT,
                                "%s layout (slot %u, word %u, cache line %u, header %u, procs %u) "
                                "differs from this build's (%u, %zu, %u, %u, %u)",
                                name, h->slot_size, h->word_size, h->cacheline, h->header_size,
                                h->procs_max, HSHM_SLOT_SIZE, sizeof(uint64_t), HSHM_CACHELINE,
                                HSHM_HEADER_SIZE, HSHM_PROCS_MAX);
        if (h->capacity < HSHM_CAPACITY_MIN || h->capacity > HSHM_CAPACITY_MAX)
                return hsi_fail(HSHM_ECORRUPT, "%s capacity %u is out of range", name, h->capacity);
        g = geometry_for(h->capacity);
        if (h->index_buckets != g.buckets || h->slots_offset != g.slots_offset ||
            h->total_size != g.total_size)
                return hsi_fail(HSHM_ECORRUPT,
                                "%s geometry (buckets %u, slots at %llu, size %llu) does not "
                                "follow from its capacity %u",
                                name, h->index_buckets, (unsigned long long)h->slots_offset,
                                (unsigned long long)h->total_size, h->capacity);
        if (g.total_size > size)
                return hsi_fail(HSHM_ETRUNC, "%s is %zu bytes; its header needs %llu", name, size,
                                (unsigned long long)g.total_size);
        return 0;
}

static int64_t monotonic_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Map the segment once its creator has finished; returns 0 with *base and *size set. */
static int map_when_ready(int fd, int prot, const char *name, uint8_t **base, size_t *size,
                          struct hshm_header *h)
{
        int64_t deadline = monotonic_ns() + ATTACH_WAIT_NS;
        const struct timespec pause = {0, 1000 * 1000};

        for (;;) {
                struct stat st;
                void *map;
                int err;

                if (fstat(fd, &st) != 0)
                        return hsi_fail(-errno, "cannot stat %s: %s", name, strerror(errno));
                if (st.st_size > 0) {
                        map = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
                        if (map == MAP_FAILED)
                                return hsi_fail(-ENOMEM, "cannot map %s: %s", name,
                                                strerror(errno));
                        err = check_header(map, (size_t)st.st_size, name, h);
                        if (err == 0) {
                                *base = map;
                                *size = (size_t)st.st_size;
                                return 0;
                        }
                        munmap(map, (size_t)st.st_size);
                        if (err < 0)
                                return err;
                }
                if (monotonic_ns() > deadline)
                        return hsi_fail(HSHM_EINIT,
                                        "%s is still not initialised after 1 s: its creator died "
                                        "while creating it; remove it with `hedgectl destroy`",
                                        name);
                nanosleep(&pause, NULL);
        }
}

/* Take a process entry so this handle's counters have a line of their own, its locks name
 * a live owner, and a write it dies in the middle of can be proven abandoned (liveness.c).
 * With every entry held by a live process it is refused: a writer without an entry could
 * leave a slot that no one can ever prove free to repair. */
static int register_process(hshm_store *s)
{
        if (hsi_claim_entry(s) == 0)
                return 0;
        return hsi_fail(-EUSERS,
                        "all %u process entries of %s are held by live read-write handles: "
                        "close the handles you do not use (one per process is enough), or "
                        "open read-only",
                        HSHM_PROCS_MAX, s->name);
}

int hshm_open(const char *name, unsigned flags, hshm_store **out)
{
        int read_only = (flags & HSHM_OPEN_RDONLY) != 0;
        struct hshm_header h;
        hshm_store *s;
        int fd, err;

        hsi_clear_detail();
        if (out == NULL || (flags & ~HSHM_OPEN_RDONLY) != 0)
                return hsi_fail(-EINVAL, "hshm_open needs an output handle and known flags");
        *out = NULL;
        err = hshm_validate_name(name);
        if (err != 0)
                return err;
        s = calloc(1, sizeof(*s));
        if (s == NULL)
                return hsi_fail(-ENOMEM, "out of memory for a handle");
        fd = shm_open(name, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
        if (fd < 0) {
                err = open_error(errno, name, read_only ? "read" : "attach to");
                free(s);
                return err;
        }
        err = map_when_ready(fd, read_only ? PROT_READ : PROT_READ | PROT_WRITE, name, &s->base,
                             &s->map_size, &h);
        if (err != 0) {
                close(fd);
                free(s);
                return err;
        }
        /* Kept open: its OFD lock on our process entry is how others know we are alive. */
        s->fd = fd;
        s->read_only = read_only;
        s->instance = (uint32_t)(h.instance_id & 0xfffff);
        snprintf(s->name, sizeof(s->name), "%s", name);
        s->hdr = (struct hshm_header *)(void *)s->base;
        s->capacity = h.capacity;
        s->bucket_mask = h.index_buckets - 1;
        hsi_hash_secrets(h.hash_seed, s->secret);
        s->procs = (struct hshm_proc *)(void *)(s->base + HSHM_PROCS_OFFSET);
        s->buckets = (uint64_t *)(void *)(s->base + HSHM_INDEX_OFFSET);
        s->slots = (struct hshm_slot *)(void *)(s->base + h.slots_offset);
        s->lease_ns = (uint64_t)HSHM_LEASE_DEFAULT_MS * 1000000u;
        hsi_identity_self(&s->self);
        if (!read_only && (err = register_process(s)) != 0) {
                munmap(s->base, s->map_size);
                close(fd);
                free(s);
                return err;
        }
        hsi_register_handle(s);
        *out = s;
        return 0;
}

void hshm_close(hshm_store *s)
{
        if (s == NULL)
                return;
        hsi_unregister_handle(s);
        /* In a child after fork() the entry is the parent's: leave it alone. */
        if (s->owner != 0 && !s->forked) {
                struct hshm_proc *p = &s->procs[s->owner - 1];

                hsi_store(&p->pid, 0);
                /* Identity cleared before the entry is offered again. */
                hsi_wmb();
                hsi_store(&p->in_use, 0);
        }
        if (s->fd >= 0)
                close(s->fd); /* drops our entry's lock (and the syncer's, if held) */
        munmap(s->base, s->map_size);
        free(s);
}

int hshm_destroy(const char *name)
{
        int err;

        hsi_clear_detail();
        err = hshm_validate_name(name);
        if (err != 0)
                return err;
        if (shm_unlink(name) != 0)
                return open_error(errno, name, "remove");
        return 0;
}

int hshm_set_lease_ms(hshm_store *s, uint32_t lease_ms)
{
        if (lease_ms < 1 || lease_ms > LEASE_MAX_MS)
                return hsi_fail(-EINVAL, "lease %u ms is out of range 1..%u", lease_ms,
                                LEASE_MAX_MS);
        hsi_store(&s->lease_ns, (uint64_t)lease_ms * 1000000u);
        return 0;
}
