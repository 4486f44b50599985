/*
 * Who is alive. A read-write handle claims a process-table entry by taking an OFD write lock
 * on the entry's first byte, and keeps it until it closes; the kernel drops it when the
 * process dies, however it dies and whatever pid namespace it lives in. So:
 *
 *   - claiming needs no CAS: whoever gets the lock owns the entry, and an entry whose lock
 *     is free belonged to a dead process (or nobody) and may be taken over (swept);
 *   - an owner recorded in a slot (entry, pid, start time, boot id) is alive only while its
 *     entry is locked and still carries that identity. A verdict of alive can lag a death
 *     (for an instant while a new process writes its identity into a reused entry); dead is
 *     never wrong, because an entry's lock is free, or its identity changed, only after the
 *     process that held it is gone.
 *
 * Locks belong to open file descriptions, which fork() shares with the child; so every
 * handle is registered, and in a child after fork() its descriptors are closed and the
 * handle is marked as the parent's: the parent's death then still frees its entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static off_t entry_byte(uint32_t entry)
{
        return (off_t)(HSHM_PROCS_OFFSET + (uint64_t)entry * HSHM_PROC_SIZE);
}

int hsi_entry_locked(const hshm_store *s, uint32_t entry)
{
        struct flock lk = {
            .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = entry_byte(entry), .l_len = 1};

        if (entry >= HSHM_PROCS_MAX)
                return hsi_fail(HSHM_ECORRUPT, "process entry %u out of range", entry);
        if (entry + 1 == s->owner)
                return 1; /* our own lock does not conflict with our own query */
        if (fcntl(s->fd, F_OFD_GETLK, &lk) != 0)
                return hsi_fail(-errno, "cannot query the lock of entry %u: %s", entry,
                                strerror(errno));
        return lk.l_type != F_UNLCK;
}

int hsi_writer_dead(const hshm_store *s, uint32_t entry1, uint32_t claim, uint32_t claim_bits)
{
        uint32_t mask = (1u << claim_bits) - 1;

        /* Every read-write handle has an entry; 0 or one out of range is a scribble, and a
         * writer that cannot be named cannot be judged: never repaired. */
        if (entry1 == 0 || entry1 > HSHM_PROCS_MAX)
                return 0;
        if (hsi_entry_locked(s, entry1 - 1) == 0)
                return 1;
        return (hsi_load(&s->procs[entry1 - 1].claims) & mask) != (claim & mask);
}

/* Boot ids live in the table as two 64-bit words, read and written atomically like every
 * other shared field. */
static void store_boot_id(uint64_t words[2], const uint8_t id[16])
{
        uint64_t v[2];

        memcpy(v, id, sizeof(v));
        hsi_store(&words[0], v[0]);
        hsi_store(&words[1], v[1]);
}

static int same_boot_id(const uint64_t words[2], const uint8_t id[16])
{
        uint64_t v[2] = {hsi_load(&words[0]), hsi_load(&words[1])};

        return memcmp(v, id, sizeof(v)) == 0;
}

/* Take a free entry (or a dead process's: counted as swept). Returns 0, or -ENOSPC when every
 * entry belongs to a live process. */
int hsi_claim_entry(hshm_store *s)
{
        for (uint32_t i = 0; i < HSHM_PROCS_MAX; i++) {
                struct flock lk = {
                    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = entry_byte(i), .l_len = 1};
                struct hshm_proc *p = &s->procs[i];

                if (fcntl(s->fd, F_OFD_SETLK, &lk) != 0)
                        continue;
                if (hsi_load(&p->in_use) != 0)
                        hsi_inc(&s->hdr->repairs.procs_swept);
                /* The claim count first: from here on, writers that died under the old owner
                 * no longer match this entry. */
                s->claim = hsi_add_return(&p->claims, 1);
                hsi_store(&p->pid, s->self.pid);
                hsi_store(&p->start_ticks, s->self.start_ticks);
                store_boot_id(p->boot_id, s->self.boot_id);
                hsi_store(&p->attach_ns, hsi_now_ns());
                hsi_store(&p->in_use, 1);
                s->owner = i + 1;
                s->counters = &p->counters;
                return 0;
        }
        return -ENOSPC;
}

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static hshm_store **handles;
static size_t n_handles, cap_handles;

static void before_fork(void)
{
        pthread_mutex_lock(&handles_lock);
}

static void after_fork_parent(void)
{
        pthread_mutex_unlock(&handles_lock);
}

static void after_fork_child(void)
{
        for (size_t i = 0; i < n_handles; i++) {
                hshm_store *s = handles[i];
                s->forked = 1;
                if (s->fd >= 0)
                        close(s->fd);
                s->fd = -1;
        }
        pthread_mutex_unlock(&handles_lock);
}

static void install_atfork(void)
{
        pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void hsi_register_handle(hshm_store *s)
{
        pthread_once(&atfork_once, install_atfork);
        pthread_mutex_lock(&handles_lock);
        if (n_handles == cap_handles) {
                size_t cap = cap_handles ? 2 * cap_handles : 8;
                hshm_store **grown = realloc(handles, cap * sizeof(*grown));
                if (grown != NULL) {
                        handles = grown;
                        cap_handles = cap;
                }
        }
        /* Without room the handle is not followed across fork(): its child would share
         * the liveness lock. Only an out-of-memory process gets there. */
        if (n_handles < cap_handles)
                handles[n_handles++] = s;
        pthread_mutex_unlock(&handles_lock);
}

void hsi_unregister_handle(hshm_store *s)
{
        pthread_mutex_lock(&handles_lock);
        for (size_t i = 0; i < n_handles; i++) {
                if (handles[i] == s) {
                        handles[i] = handles[--n_handles];
                        break;
                }
        }
        pthread_mutex_unlock(&handles_lock);
}

int hshm_owner_liveness(hshm_store *s, const struct hshm_status *st)
{
        const struct hshm_proc *p;
        int locked;

        if (st->state != HSHM_HEDGING && st->state != HSHM_ACTIVE)
                return HSHM_OWNER_NONE;
        if (st->owner.entry == 0)
                return HSHM_OWNER_DETACHED;
        if (st->owner.entry > HSHM_PROCS_MAX)
                return hsi_fail(HSHM_ECORRUPT, "owner entry %u out of range", st->owner.entry);
        if (s->fd < 0)
                return hsi_fail(-ECHILD, "this handle belongs to the parent process");
        locked = hsi_entry_locked(s, st->owner.entry - 1);
        if (locked < 0)
                return locked;
        p = &s->procs[st->owner.entry - 1];
        if (!locked || hsi_load(&p->pid) != st->owner.pid ||
            hsi_load(&p->start_ticks) != st->owner.start_ticks ||
            !same_boot_id(p->boot_id, st->owner.boot_id))
                return HSHM_OWNER_DEAD;
        return HSHM_OWNER_ALIVE;
}
