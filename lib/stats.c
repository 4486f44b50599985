/*
 * Counters and the segment's shape. Each handle counts into its own cache line (its
 * process-table entry), so the hot
 * path never writes a line another process writes; a reader sums all lines. Entries keep
 * their counts when their process leaves, so the sums only grow.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static void add_counters(struct hshm_stats *out, const struct hshm_counters *c)
{
        out->locks_won += hsi_load(&c->locks_won);
        out->lock_conflicts += hsi_load(&c->lock_conflicts);
        out->activations += hsi_load(&c->activations);
        out->resets += hsi_load(&c->resets);
        out->errors += hsi_load(&c->errors);
        out->clears += hsi_load(&c->clears);
        out->stale_refusals += hsi_load(&c->stale_refusals);
        out->keys_inserted += hsi_load(&c->keys_inserted);
}

int hshm_stats(hshm_store *s, struct hshm_stats *out)
{
        memset(out, 0, sizeof(*out));
        for (uint32_t i = 0; i < HSHM_PROCS_MAX; i++)
                add_counters(out, &s->procs[i].counters);
        out->writer_repairs = hsi_load(&s->hdr->repairs.writer_repairs);
        out->insert_repairs = hsi_load(&s->hdr->repairs.insert_repairs);
        out->procs_swept = hsi_load(&s->hdr->repairs.procs_swept);
        return 0;
}

int hshm_info(hshm_store *s, struct hshm_info *out)
{
        uint32_t used = hsi_load(&s->hdr->used);

        memset(out, 0, sizeof(*out));
        out->format_version = HSHM_FORMAT;
        out->capacity = s->capacity;
        out->used = used < s->capacity ? used : s->capacity;
        out->index_buckets = s->bucket_mask + 1;
        out->slot_size = HSHM_SLOT_SIZE;
        out->procs_max = HSHM_PROCS_MAX;
        for (uint32_t i = 0; i < HSHM_PROCS_MAX; i++)
                out->procs_registered += hsi_load(&s->procs[i].in_use) != 0;
        out->size_bytes = s->map_size;
        out->instance_id = hsi_load(&s->hdr->instance_id);
        out->created_ns = hsi_load(&s->hdr->created_ns);
        out->read_only = s->read_only;
        out->clock_resolution_ns = hsi_clock_resolution_ns();
        if (used > s->capacity)
                return hsi_fail(HSHM_ECORRUPT, "slot allocator says %u used of %u", used,
                                s->capacity);
        return 0;
}

int hshm_lease_expired(const struct hshm_status *st, int64_t now_ns)
{
        return st->state == HSHM_HEDGING && st->lease_deadline_ns != 0 &&
               now_ns > st->lease_deadline_ns;
}

const char *hshm_state_name(enum hshm_state state)
{
        switch (state) {
        case HSHM_AVAILABLE:
                return "AVAILABLE";
        case HSHM_HEDGING:
                return "HEDGING";
        case HSHM_ACTIVE:
                return "ACTIVE";
        case HSHM_ERROR:
                return "ERROR";
        }
        return "?";
}
