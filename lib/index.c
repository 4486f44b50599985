/*
 * The index: key -> slot number, a lock-free open-addressing table of 64-bit buckets with
 * linear probing (bucket states and invariants in layout.h).
 *
 * Insert: claim an EMPTY bucket by CAS to RESERVED (with the key's tag), take the next free
 * slot from header.used by CAS, write the key into the slot, then publish the bucket READY
 * with release order. Lookups never wait on a RESERVED bucket whose tag differs from theirs
 * (it cannot hold their key); one with their tag may be their key half-inserted, so they
 * wait for it (bounded) instead of inserting a second copy further on. That wait is what
 * makes many processes racing on the first use of a key end with exactly one slot.
 *
 * Every slot number read from a bucket is checked against the handle's capacity.
 */
#include <errno.h>

#include "internal.h"

/*
 * wyhash-style: the key's four 16-byte halves are each multiplied (64 x 64 -> 128 bits) with
 * per-segment secrets, independently, so the multiplies overlap in the pipeline; a final
 * multiply mixes the sum. The secrets come from the segment's random seed, so the bucket a
 * key lands in is not predictable across segments.
 */
static uint64_t mum(uint64_t a, uint64_t b)
{
        unsigned __int128 r = (unsigned __int128)a * b;

        return (uint64_t)r ^ (uint64_t)(r >> 64);
}

void hsi_hash_secrets(uint64_t seed, uint64_t secret[HSI_KEY_WORDS + 1])
{
        for (unsigned i = 0; i <= HSI_KEY_WORDS; i++) {
                uint64_t z = seed + (i + 1) * UINT64_C(0x9e3779b97f4a7c15);
                z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
                z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
                secret[i] = (z ^ (z >> 31)) | 1;
        }
}

uint64_t hsi_hash_key(const uint64_t secret[HSI_KEY_WORDS + 1], const uint64_t key[HSI_KEY_WORDS])
{
        uint64_t h = 0;

        for (unsigned i = 0; i < HSI_KEY_WORDS; i += 2)
                h += mum(key[i] ^ secret[i], key[i + 1] ^ secret[i + 1]);
        return mum(h ^ secret[HSI_KEY_WORDS], h ^ UINT64_C(0xe7037ed1a0b428db));
}

static int key_equal(const struct hshm_slot *slot, const uint64_t key[HSI_KEY_WORDS])
{
        for (unsigned i = 0; i < HSI_KEY_WORDS; i++)
                if (hsi_load(&slot->key[i]) != key[i])
                        return 0;
        return 1;
}

static int insert_refused(const hshm_store *s)
{
        uint32_t used = hsi_load(&s->hdr->used);

        if (used > s->capacity)
                return hsi_fail(HSHM_ECORRUPT, "slot allocator says %u used of %u", used,
                                s->capacity);
        return hsi_fail(-ENOSPC,
                        "all %u position slots hold keys: create a larger segment "
                        "(hedgectl init --capacity)",
                        s->capacity);
}

/* Complete an insert whose bucket we hold RESERVED. */
static int insert_reserved(hshm_store *s, uint64_t *bucket, uint64_t tag,
                           const uint64_t key[HSI_KEY_WORDS], uint32_t *slot_out)
{
        uint32_t used = hsi_load(&s->hdr->used);
        struct hshm_slot *slot;

        for (;;) {
                if (used >= s->capacity) {
                        /* Never back to EMPTY: a key probed past this bucket while it was
                         * RESERVED would stop being found. DEAD is skipped by everyone. */
                        hsi_store(bucket, B_DEAD | tag << B_TAG_SHIFT);
                        return insert_refused(s);
                }
                uint32_t seen = hsi_cas(&s->hdr->used, used, used + 1);
                if (seen == used)
                        break;
                used = seen;
        }
        slot = &s->slots[used];
        for (unsigned i = 0; i < HSI_KEY_WORDS; i++)
                hsi_store(&slot->key[i], key[i]);
        /* Key before the bucket, bucket before the mark: whoever finds either finds the key,
         * and an inserter that dies before publishing the bucket leaves no listed slot. */
        hsi_wmb();
        hsi_store(bucket, B_READY | (uint64_t)used << B_VALUE_SHIFT | tag << B_TAG_SHIFT);
        hsi_wmb();
        hsi_store(&slot->key_mark, HSHM_KEY_READY);
        hsi_inc(&s->counters->keys_inserted);
        *slot_out = used;
        return 0;
}

int hsi_index_find(hshm_store *s, const uint64_t key[HSI_KEY_WORDS], int insert, uint32_t *slot)
{
        uint64_t h = hsi_hash_key(s->secret, key);
        uint64_t tag = h >> 32;
        uint32_t start = (uint32_t)h;

        for (uint32_t probe = 0; probe <= s->bucket_mask; probe++) {
                uint64_t *bucket = &s->buckets[(start + probe) & s->bucket_mask];
                uint64_t b = hsi_load(bucket);

                for (;;) {
                        uint64_t state = b & B_STATE_MASK;
                        uint64_t value = (b >> B_VALUE_SHIFT) & B_VALUE_MASK;
                        uint64_t mine;
                        int err;

                        if (state == B_DEAD || (state != B_EMPTY && b >> B_TAG_SHIFT != tag))
                                break;
                        if (state == B_READY) {
                                if (value >= s->capacity)
                                        return hsi_fail(HSHM_ECORRUPT,
                                                        "index bucket points at slot %llu of %u",
                                                        (unsigned long long)value, s->capacity);
                                /* Bucket before key: it was published after the key. */
                                hsi_rmb();
                                if (!key_equal(&s->slots[value], key))
                                        break;
                                *slot = (uint32_t)value;
                                return 0;
                        }
                        if (state == B_RESERVED) {
                                err = hsi_wait_bucket_writer(s, bucket, b, &b);
                                if (err != 0)
                                        return hsi_fail(err,
                                                        "key is being inserted by process entry "
                                                        "%llu, which has not finished",
                                                        (unsigned long long)(value & B_ENTRY_MASK));
                                continue;
                        }
                        if (b != B_EMPTY)
                                return hsi_fail(HSHM_ECORRUPT, "empty index bucket holds 0x%llx",
                                                (unsigned long long)b);
                        if (!insert)
                                return hsi_fail_lit(HSHM_ENOKEY, "no slot holds this position yet");
                        if (s->read_only)
                                return hsi_fail(-EROFS, "segment opened read-only");
                        /* A full table refuses before reserving: each reservation that
                         * fails turns an EMPTY bucket DEAD and lengthens every miss. */
                        if (hsi_load(&s->hdr->used) >= s->capacity)
                                return insert_refused(s);
                        /* Our entry and claim count: a waiter can tell if we died here. */
                        mine = B_RESERVED |
                               (((uint64_t)s->owner | (uint64_t)s->claim << B_CLAIM_SHIFT) &
                                B_VALUE_MASK)
                                   << B_VALUE_SHIFT |
                               tag << B_TAG_SHIFT;
                        b = hsi_cas(bucket, B_EMPTY, mine);
                        if (b == B_EMPTY) {
                                hsi_fault_point("insert");
                                return insert_reserved(s, bucket, tag, key, slot);
                        }
                }
        }
        if (!insert)
                return hsi_fail_lit(HSHM_ENOKEY, "no slot holds this position yet");
        return hsi_fail(-ENOSPC, "index is full");
}
