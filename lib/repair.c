/*
 * Repairing what dead processes leave behind, and noticing when the segment itself is gone.
 *
 * A writer that dies between its CAS and its publish leaves a slot word with WRITING set and
 * its own entry and claim count in the owner bits; an inserter that dies leaves a RESERVED
 * bucket naming its entry and claim count. Whoever waits on such a writer checks, after a
 * short wait, whether it is provably dead (liveness.c), and if so repairs it instead of
 * waiting out the limit. The repair takes the write over by CAS (so two repairers never both
 * write), then publishes a conservative outcome, chosen by the state the writer's CAS had
 * already made current:
 *
 *   AVAILABLE  (an interrupted reset or clear)  -> AVAILABLE, same generation
 *   HEDGING    (an interrupted lock)            -> HEDGING, no owner, lease already expired:
 *                                                  an orphan, which the syncer releases or
 *                                                  adopts only after asking the broker
 *   ACTIVE     (an interrupted activation)      -> ERROR, next generation: an order filled,
 *                                                  but the ticket written may be torn
 *   ERROR      (an interrupted mark_error)      -> ERROR, its reason replaced by one that
 *                                                  says the original was lost
 *
 * A half-inserted bucket becomes DEAD (never EMPTY: see index.c). Its slot, if it took one,
 * stays unpublished: the key mark is written only after the bucket is READY.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define SHORT_WAIT_NS (20 * 1000 * 1000)
#define W_CLAIM_BITS  7
#define B_CLAIM_BITS  20

uint64_t hsi_writer_bits(const hshm_store *s)
{
        return (uint64_t)s->owner << W_OWNER_SHIFT |
               (uint64_t)(s->claim & ((1u << W_CLAIM_BITS) - 1)) << W_CLAIM_SHIFT;
}

static int slot_writer_dead(const hshm_store *s, uint64_t w)
{
        return hsi_writer_dead(s, (uint32_t)((w & W_OWNER_MASK) >> W_OWNER_SHIFT),
                               (uint32_t)((w & W_ZERO_MASK) >> W_CLAIM_SHIFT), W_CLAIM_BITS);
}

/* Finish the write of a dead writer; 1 if we did, 0 if the word changed under us. */
static int repair_slot(hshm_store *s, uint32_t idx, uint64_t w)
{
        struct hshm_slot *slot = &s->slots[idx];
        uint64_t gen = w >> W_GEN_SHIFT, base = w & ~(W_OWNER_MASK | W_ZERO_MASK | W_WRITING);
        uint64_t mine = base | hsi_writer_bits(s) | W_WRITING, next = base;
        int64_t now = hsi_now_ns();

        /* Take the write over: from here, only we write this payload. */
        if (hsi_cas(&slot->word, w, mine) != w)
                return 0;
        switch ((enum hshm_state)(w & W_STATE_MASK)) {
        case HSHM_AVAILABLE:
                break;
        case HSHM_HEDGING:
                hsi_store(&slot->token, (uint64_t)idx << TOKEN_SLOT_SHIFT | gen);
                hsi_store(&slot->lock_ns, now);
                hsi_store(&slot->lease_deadline_ns, now);
                hsi_store(&slot->owner_pid, 0);
                hsi_store(&slot->owner_start_ticks, 0);
                hsi_store(&slot->owner_boot_id[0], 0);
                hsi_store(&slot->owner_boot_id[1], 0);
                break;
        case HSHM_ACTIVE:
                /* A lock reserves the generations its activation and reset need, so only a
                 * scribbled word can sit at the end; it stays ACTIVE rather than wrap. */
                if (gen >= W_GEN_MAX)
                        break;
                next = ((base & ~W_STATE_MASK) + ((uint64_t)1 << W_GEN_SHIFT)) | HSHM_ERROR;
                hsi_pack_string(slot->reason, HSHM_REASON_FIELD,
                                "activation interrupted: its process died; ticket unverified, "
                                "check the broker");
                break;
        case HSHM_ERROR:
                hsi_pack_string(slot->reason, HSHM_REASON_FIELD,
                                "marked ERROR; the reason was lost when its writer died");
                break;
        }
        hsi_store(&slot->changed_ns, now);
        /* Payload before the clean word, as in every publish. */
        hsi_wmb();
        hsi_store(&slot->word, next);
        hsi_inc(&s->hdr->repairs.writer_repairs);
        return 1;
}

int hsi_wait_slot_writer(hshm_store *s, uint32_t idx, uint64_t seen, uint64_t *now)
{
        uint64_t *word = &s->slots[idx].word;

        /* A live writer finishes within the short wait unless it is descheduled; a dead one
         * never does, and is repaired as soon as that is provable. */
        for (int64_t waited = 0; waited < 50 * SHORT_WAIT_NS; waited += SHORT_WAIT_NS) {
                if (hsi_wait_change(word, seen, now, SHORT_WAIT_NS) == 0)
                        return 0;
                if (!s->read_only && s->fd >= 0 && slot_writer_dead(s, seen) &&
                    repair_slot(s, idx, seen)) {
                        *now = hsi_load(word);
                        return 0;
                }
        }
        return -EAGAIN;
}

static int bucket_writer_dead(const hshm_store *s, uint64_t b)
{
        uint64_t value = (b >> B_VALUE_SHIFT) & B_VALUE_MASK;

        return hsi_writer_dead(s, (uint32_t)(value & B_ENTRY_MASK),
                               (uint32_t)(value >> B_CLAIM_SHIFT), B_CLAIM_BITS);
}

static int repair_bucket(hshm_store *s, uint64_t *bucket, uint64_t b)
{
        uint64_t dead = B_DEAD | (b >> B_TAG_SHIFT) << B_TAG_SHIFT;

        if (hsi_cas(bucket, b, dead) != b)
                return 0;
        hsi_inc(&s->hdr->repairs.insert_repairs);
        return 1;
}

int hsi_wait_bucket_writer(hshm_store *s, uint64_t *bucket, uint64_t seen, uint64_t *now)
{
        for (int64_t waited = 0; waited < 50 * SHORT_WAIT_NS; waited += SHORT_WAIT_NS) {
                if (hsi_wait_change(bucket, seen, now, SHORT_WAIT_NS) == 0)
                        return 0;
                if (!s->read_only && s->fd >= 0 && bucket_writer_dead(s, seen) &&
                    repair_bucket(s, bucket, seen)) {
                        *now = hsi_load(bucket);
                        return 0;
                }
        }
        return -EAGAIN;
}

int hshm_repair(hshm_store *s)
{
        uint32_t used = hsi_load(&s->hdr->used);
        int repairs = 0;

        if (s->read_only)
                return hsi_fail(-EROFS, "segment opened read-only");
        if (s->fd < 0)
                return hsi_fail(-ECHILD, "this handle belongs to the parent process");
        if (used > s->capacity)
                return hsi_fail(HSHM_ECORRUPT, "slot allocator says %u used of %u", used,
                                s->capacity);
        for (uint32_t i = 0; i < used; i++) {
                uint64_t w = hsi_load(&s->slots[i].word);
                if ((w & W_WRITING) != 0 && slot_writer_dead(s, w))
                        repairs += repair_slot(s, i, w);
        }
        for (uint32_t i = 0; i <= s->bucket_mask; i++) {
                uint64_t b = hsi_load(&s->buckets[i]);
                if ((b & B_STATE_MASK) == B_RESERVED && bucket_writer_dead(s, b))
                        repairs += repair_bucket(s, &s->buckets[i], b);
        }
        for (uint32_t i = 0; i < HSHM_PROCS_MAX; i++) {
                struct hshm_proc *p = &s->procs[i];
                if (hsi_load(&p->in_use) == 0 || hsi_entry_locked(s, i) != 0)
                        continue;
                /* Dead without closing: free it for the listing. Its counters stay. */
                if (hsi_cas(&p->in_use, 1, 0) == 1) {
                        hsi_inc(&s->hdr->repairs.procs_swept);
                        repairs++;
                }
        }
        return repairs;
}

int hshm_check_linked(hshm_store *s)
{
        struct stat mine, named;
        char path[300];

        if (s->fd < 0)
                return hsi_fail(-ECHILD, "this handle belongs to the parent process");
        if (fstat(s->fd, &mine) != 0)
                return hsi_fail(-errno, "cannot stat the segment: %s", strerror(errno));
        if (mine.st_nlink == 0)
                return hsi_fail(-EIDRM, "segment %s was removed while attached", s->name);
        /* Linux keeps POSIX shared memory in /dev/shm under the name without its '/'. */
        snprintf(path, sizeof(path), "/dev/shm%s", s->name);
        if (stat(path, &named) != 0 || named.st_ino != mine.st_ino || named.st_dev != mine.st_dev)
                return hsi_fail(-EIDRM, "segment %s was removed or replaced while attached",
                                s->name);
        return 0;
}
