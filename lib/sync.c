/*
 * The syncer's block in the header: who reconciles this segment against MT5, how fresh its
 * feed is, and its counters. One writer, guaranteed by an open-file-description lock on one
 * byte of the segment, which the kernel drops when the holder's last descriptor closes (its
 * death included): a second syncer cannot claim it, and a dead one does not block the next.
 * Readers use the block's seqlock (layout.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define SYNC_LOCK_BYTE  offsetof(struct hshm_header, sync)
#define SYNC_READ_TRIES 100000
#define NS_PER_MS       1000000

int hshm_sync_claim(hshm_store *s)
{
        struct flock lk = {
            .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)SYNC_LOCK_BYTE, .l_len = 1};
        struct hshm_sync_shared *b = &s->hdr->sync;
        uint64_t seq;

        if (s->read_only)
                return hsi_fail(-EROFS, "segment opened read-only");
        if (s->fd < 0)
                return hsi_fail(-ECHILD, "this handle belongs to the parent process");
        if (s->sync_claimed)
                return 0;
        /* On the descriptor the handle mapped: the lock is on this very segment, even if
         * its name was removed and reused since. Other handles, in this process or others,
         * have descriptions of their own, so their claims conflict with ours. */
        if (fcntl(s->fd, F_OFD_SETLK, &lk) != 0) {
                int err = errno;
                if (err == EAGAIN || err == EACCES)
                        return hsi_fail(-EBUSY, "another syncer (pid %d) serves %s",
                                        (int)hsi_load(&b->pid), s->name);
                return hsi_fail(-err, "cannot lock %s: %s", s->name, strerror(err));
        }
        s->sync_claimed = 1;
        /* A syncer that died while publishing left seq odd: we are the only writer now. */
        seq = hsi_load(&b->seq);
        if (seq % 2 != 0)
                hsi_store(&b->seq, seq + 1);
        return 0;
}

int hshm_sync_publish(hshm_store *s, const struct hshm_sync *in)
{
        struct hshm_sync_shared *b = &s->hdr->sync;
        uint64_t seq, counters[sizeof(b->counters) / 8];

        if (!s->sync_claimed || s->forked)
                return hsi_fail(-EPERM, "publish needs the syncer role: call hshm_sync_claim");
        if (in == NULL)
                return hsi_fail(-EINVAL, "nothing to publish");
        memcpy(counters, &in->counters, sizeof(counters));
        seq = hsi_load(&b->seq);
        hsi_store(&b->seq, seq + 1);
        /* Odd seq before any field changes. */
        hsi_wmb();
        hsi_store(&b->pid, in->pid);
        hsi_store(&b->interval_ms, in->interval_ms);
        hsi_store(&b->started_ns, in->started_ns);
        hsi_store(&b->heartbeat_ns, in->heartbeat_ns);
        hsi_store(&b->snapshot_seq, in->snapshot_seq);
        hsi_store(&b->snapshot_time_ms, in->snapshot_time_ms);
        hsi_store(&b->degraded, in->degraded ? 1u : 0u);
        hsi_store(&b->grace_ms, in->grace_ms);
        hsi_store(&b->degraded_since_ns, in->degraded_since_ns);
        hsi_pack_string(b->reason, sizeof(b->reason), in->degraded_reason);
        for (unsigned i = 0; i < sizeof(b->counters) / 8; i++)
                hsi_store(&b->counters[i], counters[i]);
        /* Every field before the even seq that publishes them. */
        hsi_wmb();
        hsi_store(&b->seq, seq + 2);
        return 0;
}

static enum hshm_sync_health judge(const struct hshm_sync *out, int64_t now_ns)
{
        int64_t limit = (3 * (int64_t)out->interval_ms + 1000) * NS_PER_MS;

        /* Compared without subtracting the heartbeat: any value can be in it, and a
         * heartbeat from the future (a clock stepped back, or a scribble) is no sign of life. */
        if (out->pid == 0 || out->heartbeat_ns < now_ns - limit ||
            out->heartbeat_ns > now_ns + limit)
                return HSHM_SYNC_ABSENT;
        return out->degraded ? HSHM_SYNC_DEGRADED : HSHM_SYNC_OK;
}

int hshm_sync_read(hshm_store *s, struct hshm_sync *out)
{
        struct hshm_sync_shared *b = &s->hdr->sync;
        uint64_t counters[sizeof(b->counters) / 8];

        for (int tries = 0; tries < SYNC_READ_TRIES; tries++) {
                uint64_t s1 = hsi_load(&b->seq), s2;

                if (s1 % 2 != 0) {
                        if (hsi_wait_change(&b->seq, s1, &s1, 0) != 0)
                                return hsi_fail(-EAGAIN, "the syncer stopped while publishing");
                        continue;
                }
                /* seq before fields */
                hsi_rmb();
                out->pid = hsi_load(&b->pid);
                out->interval_ms = hsi_load(&b->interval_ms);
                out->started_ns = hsi_load(&b->started_ns);
                out->heartbeat_ns = hsi_load(&b->heartbeat_ns);
                out->snapshot_seq = hsi_load(&b->snapshot_seq);
                out->snapshot_time_ms = hsi_load(&b->snapshot_time_ms);
                out->degraded = hsi_load(&b->degraded) != 0;
                out->grace_ms = hsi_load(&b->grace_ms);
                out->degraded_since_ns = hsi_load(&b->degraded_since_ns);
                hsi_unpack_string(b->reason, sizeof(b->reason), out->degraded_reason,
                                  sizeof(out->degraded_reason));
                for (unsigned i = 0; i < sizeof(b->counters) / 8; i++)
                        counters[i] = hsi_load(&b->counters[i]);
                /* fields before seq again */
                hsi_rmb();
                s2 = hsi_load(&b->seq);
                if (s1 != s2)
                        continue;
                memcpy(&out->counters, counters, sizeof(counters));
                out->health = judge(out, hsi_now_ns());
                return 0;
        }
        return hsi_fail(-EAGAIN, "the sync block kept changing");
}
