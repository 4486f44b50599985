/*
 * Layout of the shared segment. Nothing here is public: the segment is shared by processes
 * that may run different builds, so every struct is pinned by _Static_assert and the header
 * carries a layout descriptor that attach compares with this build's.
 *
 *   offset 0            header        4 KiB   identity (immutable), then counters that change
 *   HSHM_PROCS_OFFSET   process table 512 x 128 B: who is attached, and per-process counters
 *   index_offset        index         buckets x 8 B: open addressing, key hash -> slot number
 *   slots_offset        slots         capacity x 256 B
 *
 * The segment holds no pointers, only offsets and indices, and every one of them is checked
 * against the real size of the mapping before use: any process can scribble on it.
 */
#ifndef HEDGESHM_LAYOUT_H
#define HEDGESHM_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "hedgeshm.h"

#define HSHM_CACHELINE    64u
#define HSHM_MAGIC        UINT64_C(0x314d485345474448) /* "HDGESHM1" read little-endian */
#define HSHM_FORMAT       1u
#define HSHM_READY_MARK   0x52454459u /* "REDY": written last by the creator */
#define HSHM_HEADER_SIZE  4096u
#define HSHM_PROCS_MAX    512u
#define HSHM_PROC_SIZE    128u
#define HSHM_PROCS_OFFSET HSHM_HEADER_SIZE
#define HSHM_INDEX_OFFSET (HSHM_PROCS_OFFSET + HSHM_PROCS_MAX * HSHM_PROC_SIZE)
#define HSHM_SLOT_SIZE    256u
#define HSHM_KEY_FIELD    32u /* bytes for group and for symbol, zero padded */
#define HSHM_HEDGE_FIELD  32u
#define HSHM_REASON_FIELD 64u

/*
 * The slot state word, the one word every transition compare-and-swaps:
 *
 *   bits  0..1   state (enum hshm_state)
 *   bit   2      WRITING: the transition's winner is writing the payload
 *   bits  3..12  clean word: owner, the process-table entry + 1 of the lock's owner, 0 for
 *                none (or a detached lock). WRITING word: the writer's entry + 1
 *   bits 13..19  clean word: zero (anything else there is corruption). WRITING word: the low
 *                bits of the writer entry's claim count, so a writer whose entry was taken
 *                over by a new process is still known to be dead
 *   bits 20..63  generation (44 bits), +1 at every transition
 *
 * Because the generation grows at every transition, a state word never repeats. That is
 * what makes it a valid seqlock sequence for the payload (see slot.c) and what makes
 * tokens fence: a token is the generation its lock created.
 */
#define W_STATE_MASK  UINT64_C(0x3)
#define W_WRITING     UINT64_C(0x4)
#define W_OWNER_SHIFT 3
#define W_OWNER_MASK  (UINT64_C(0x3ff) << W_OWNER_SHIFT)
#define W_ZERO_MASK   (UINT64_C(0x7f) << 13)
#define W_CLAIM_SHIFT 13
#define W_GEN_SHIFT   20
#define W_GEN_MAX     ((UINT64_C(1) << 44) - 1)

/* Token: slot number in the top 20 bits, generation of the lock in the low 44. */
#define TOKEN_SLOT_SHIFT 44

/*
 * An index bucket, written by CAS only:
 *
 *   bits  0..1   EMPTY, RESERVED (an inserter is writing the key), READY, DEAD
 *   bits  2..31  READY: slot number; RESERVED: the inserter's process-table entry + 1 (bits
 *                2..11) and the low 20 bits of that entry's claim count (bits 12..31)
 *   bits 32..63  tag: high half of the key's hash
 *
 * Invariants: a bucket never goes back to EMPTY, so EMPTY ends every probe sequence; a READY
 * bucket never changes; one key is READY in at most one bucket (an inserter waits on any
 * RESERVED bucket with its tag before going further).
 */
#define B_EMPTY       UINT64_C(0)
#define B_RESERVED    UINT64_C(1)
#define B_READY       UINT64_C(2)
#define B_DEAD        UINT64_C(3)
#define B_STATE_MASK  UINT64_C(0x3)
#define B_VALUE_SHIFT 2
#define B_VALUE_MASK  UINT64_C(0x3fffffff)
#define B_TAG_SHIFT   32
#define B_ENTRY_MASK  UINT64_C(0x3ff)
#define B_CLAIM_SHIFT 10

#define HSHM_KEY_READY 0x4b455952u /* slot.key_mark once group and symbol are written */

struct hshm_counters {
        uint64_t locks_won;
        uint64_t lock_conflicts;
        uint64_t activations;
        uint64_t resets;
        uint64_t errors;
        uint64_t clears;
        uint64_t stale_refusals;
        uint64_t keys_inserted;
};

/*
 * The syncer's block, one writer (the process holding the OFD lock on byte SYNC_LOCK_BYTE),
 * many readers: a classic seqlock. seq is odd while the syncer writes; readers copy the
 * fields with relaxed loads and keep the copy only if seq was even and unchanged around it.
 */
struct hshm_sync_shared {
        uint64_t seq;
        int32_t pid;
        uint32_t interval_ms;
        int64_t started_ns;
        int64_t heartbeat_ns;
        uint64_t snapshot_seq;
        int64_t snapshot_time_ms;
        uint32_t degraded;
        uint32_t grace_ms; /* 0 from a syncer that did not publish one */
        int64_t degraded_since_ns;
        uint64_t reason[HSHM_CACHELINE / 8];
        uint64_t counters[2 * HSHM_CACHELINE / 8];
};

/* Repairs of what dead processes left, counted in the header: rare, so shared atomics. */
struct hshm_repair_counters {
        uint64_t writer_repairs;
        uint64_t insert_repairs;
        uint64_t procs_swept;
        uint64_t pad[5];
};

struct hshm_header {
        /* line 0-1: written once by the creator, before ready is published */
        uint64_t magic;
        uint32_t format;
        uint32_t ready; /* HSHM_READY_MARK, stored last with release order */
        uint32_t slot_size;
        uint32_t capacity;
        uint32_t word_size;
        uint32_t cacheline;
        uint32_t index_buckets; /* power of two, >= 2 x capacity */
        uint32_t procs_max;
        uint64_t index_offset;
        uint64_t slots_offset;
        uint64_t total_size;
        uint64_t instance_id;
        uint64_t hash_seed;
        int64_t created_ns;
        uint32_t creator_pid;
        uint32_t header_size;
        uint8_t pad0[32];
        /* line 2: slot allocator, written on every key insert */
        uint32_t used;
        uint8_t pad1[60];
        /* line 3: zero. Format 1 builds before -EUSERS counted handles without a process
         * entry here; nothing reads it since. */
        uint8_t spare3[HSHM_CACHELINE];
        /* lines 4-7: written by the one syncer only */
        struct hshm_sync_shared sync;
        /* line 8: repairs */
        struct hshm_repair_counters repairs;
        uint8_t reserved[HSHM_HEADER_SIZE - 9 * HSHM_CACHELINE];
};

/*
 * One attached read-write handle. The handle owns the entry while it holds an OFD write lock
 * on the entry's first byte; the kernel drops that lock when the process dies, so "entry
 * locked and identity equal" is what alive means. Line 0 is written by the owner at claim,
 * line 1 by its operations only.
 */
struct hshm_proc {
        uint32_t
            in_use; /* 1 while claimed; cleared at close, or by a sweep once the lock is gone */
        int32_t pid;
        uint64_t start_ticks;
        uint64_t boot_id[2];
        int64_t attach_ns;
        uint32_t claims; /* +1 at every claim: tells a new owner of the entry from an old one */
        uint8_t pad[20];
        struct hshm_counters counters;
};

/*
 * A position slot. Line 0 is what a transition writes; group and symbol are written once,
 * before key_mark and before the index publishes the slot, and never change.
 * Payload fields are read and written as relaxed 64-bit atomics (strings too, packed), so a
 * racing read is a torn value the seqlock rejects, never undefined behaviour.
 */
struct hshm_slot {
        uint64_t word;
        uint64_t token;
        uint64_t ticket;
        int64_t lock_ns;
        int64_t lease_deadline_ns;
        int64_t activate_ns;
        int64_t changed_ns;
        int32_t owner_pid;
        uint32_t key_mark;
        uint64_t owner_start_ticks;
        uint64_t owner_boot_id[2];
        uint64_t hedge_symbol[HSHM_HEDGE_FIELD / 8];
        uint64_t pad0;
        uint64_t key[2 * HSHM_KEY_FIELD / 8]; /* group, then symbol, zero padded */
        uint64_t reason[HSHM_REASON_FIELD / 8];
};

_Static_assert(sizeof(uint64_t) == 8 && __atomic_always_lock_free(sizeof(uint64_t), 0),
               "64-bit atomics must be lock-free to be shared between processes");
_Static_assert(__atomic_always_lock_free(sizeof(uint32_t), 0), "32-bit atomics lock-free");
_Static_assert(sizeof(unsigned long) == 8, "liburcu uatomic needs 64-bit longs for u64 words");
_Static_assert(sizeof(struct hshm_counters) == HSHM_CACHELINE, "counters fill one line");
_Static_assert(sizeof(struct hshm_header) == HSHM_HEADER_SIZE, "header size");
_Static_assert(offsetof(struct hshm_header, ready) == 12, "ready offset");
_Static_assert(offsetof(struct hshm_header, used) == 2 * HSHM_CACHELINE, "allocator line");
_Static_assert(offsetof(struct hshm_header, spare3) == 3 * HSHM_CACHELINE, "spare line 3");
_Static_assert(sizeof(struct hshm_proc) == HSHM_PROC_SIZE, "process entry size");
_Static_assert(sizeof(struct hshm_sync_shared) == 4 * HSHM_CACHELINE, "sync block size");
_Static_assert(offsetof(struct hshm_header, repairs) == 8 * HSHM_CACHELINE, "repairs line 8");
_Static_assert(offsetof(struct hshm_proc, claims) == 40, "claims in line 0");
_Static_assert(offsetof(struct hshm_header, sync) == 4 * HSHM_CACHELINE, "sync block line 4");
_Static_assert(offsetof(struct hshm_sync_shared, grace_ms) == 52,
               "grace where format 1 had padding: older segments read 0 there");
_Static_assert(sizeof(struct hshm_sync_counters) ==
                   sizeof(((struct hshm_sync_shared *)0)->counters),
               "sync counters fill their line");
_Static_assert(offsetof(struct hshm_proc, counters) == HSHM_CACHELINE,
               "counters on their own line: no false sharing with attach data");
_Static_assert(sizeof(struct hshm_slot) == HSHM_SLOT_SIZE, "slot size");
_Static_assert(offsetof(struct hshm_slot, word) == 0, "state word first");
_Static_assert(offsetof(struct hshm_slot, owner_start_ticks) == HSHM_CACHELINE, "line 1");
_Static_assert(offsetof(struct hshm_slot, key) == 2 * HSHM_CACHELINE, "key on line 2");
_Static_assert(offsetof(struct hshm_slot, reason) == 3 * HSHM_CACHELINE, "reason on line 3");
_Static_assert(HSHM_INDEX_OFFSET % HSHM_CACHELINE == 0, "index aligned");
_Static_assert((HSHM_PROCS_MAX + 1) <= (W_OWNER_MASK >> W_OWNER_SHIFT) + 1, "owner fits");
_Static_assert((uint64_t)HSHM_CAPACITY_MAX <= (UINT64_C(1) << (64 - TOKEN_SLOT_SHIFT)),
               "slot number fits a token");

#endif
