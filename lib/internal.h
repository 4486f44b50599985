/*
 * What the library's files share and nothing else sees: the handle, the process identity,
 * and the internal functions (prefix hsi_, never exported by the symbol map).
 */
#ifndef HEDGESHM_INTERNAL_H
#define HEDGESHM_INTERNAL_H

#include <stdint.h>

#include <urcu/arch.h>
#include <urcu/uatomic.h>

#include "hedgeshm.h"
#include "layout.h"

/*
 * The atomics every file uses on shared memory. They are liburcu's uatomic and cmm
 * primitives, whose orderings the comments beside each use explain. Under ThreadSanitizer
 * they become the compiler's builtins: TSan cannot see liburcu's inline assembly, and would
 * take every shared access for a race. TSan does not model standalone fences either, so there
 * every load acquires and every store releases, which orders at least as much as the fences.
 */
#if defined(__SANITIZE_THREAD__)
#define hsi_load(p)          __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define hsi_store(p, v)      __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define hsi_inc(p)           ((void)__atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST))
#define hsi_add_return(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define hsi_cas(p, old, new)                                                                     \
        __extension__({                                                                          \
                __typeof__(*(p)) hsi_expected_ = (old);                                          \
                __atomic_compare_exchange_n((p), &hsi_expected_, (new), 0, __ATOMIC_SEQ_CST,     \
                                            __ATOMIC_SEQ_CST);                                   \
                hsi_expected_;                                                                   \
        })
#define hsi_wmb() __asm__ __volatile__("" ::: "memory")
#define hsi_rmb() __asm__ __volatile__("" ::: "memory")
#else
#define hsi_load(p)          uatomic_read(p)
#define hsi_store(p, v)      uatomic_set((p), (v))
#define hsi_inc(p)           uatomic_inc(p)
#define hsi_add_return(p, v) uatomic_add_return((p), (v))
#define hsi_cas(p, old, new) uatomic_cmpxchg((p), (old), (new))
#define hsi_wmb()            cmm_smp_wmb()
#define hsi_rmb()            cmm_smp_rmb()
#endif

#define HSI_KEY_WORDS (2u * HSHM_KEY_FIELD / 8u)

/* Who a process is, well enough that a reused pid is not taken for it. */
struct hsi_identity {
        int32_t pid;
        uint64_t start_ticks;
        uint8_t boot_id[16];
};

/*
 * The handle. Everything used to bound an access into the segment (capacity, bucket count,
 * offsets) is copied here once, after validation: the header may be scribbled on later, and
 * the handle's copies are what every bounds check trusts.
 */
struct hshm_store {
        uint8_t *base;
        size_t map_size;
        int read_only;
        struct hshm_header *hdr;
        struct hshm_proc *procs;
        uint64_t *buckets;
        struct hshm_slot *slots;
        uint32_t capacity;
        uint32_t bucket_mask;
        uint64_t secret[HSI_KEY_WORDS + 1]; /* hash secrets, from the segment's seed */
        uint32_t owner;                     /* process entry + 1, or 0 when the table was full */
        struct hshm_counters *counters;     /* this handle's counter line */
        struct hsi_identity self;
        uint64_t lease_ns; /* read and written atomically: any thread may set it */
        uint32_t instance; /* low 20 bits of the header's instance_id */
        uint32_t claim;    /* the claim count of this handle's process entry */
        int fd;            /* the segment; its OFD lock on our entry says we are alive */
        int sync_claimed;  /* fd also holds the syncer's OFD lock */
        int forked;        /* set in a child after fork(): the handle is the parent's */
        char name[256];    /* the segment's name, to reopen it for the lock */
};

/* errors.c: record the detail of a failure for hshm_last_detail(); returns err. */
int hsi_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hsi_fail_lit(int err, const char *text); /* text must outlive the thread */
void hsi_clear_detail(void);

/* names.c: check a symbol name (what names it in the error detail). */
int hsi_validate_symbol(const char *what, const char *symbol);
/* names.c: pack a validated key into the slot's zero-padded form. */
int hsi_pack_key(const char *group, const char *symbol, uint64_t key[HSI_KEY_WORDS]);
/* Copy a fixed-size string field out of the segment, always NUL-terminated. */
void hsi_unpack_string(const uint64_t *words, size_t field_bytes, char *out, size_t out_len);
void hsi_pack_string(uint64_t *words, size_t field_bytes, const char *s);

/* identity.c */
void hsi_identity_self(struct hsi_identity *id);
/* CLOCK_REALTIME_COARSE: about 4 ns instead of 19, a tick or two behind. */
int64_t hsi_now_ns(void);
int64_t hsi_clock_resolution_ns(void);

/* index.c: find the slot of a key; with insert, create it on first use. */
int hsi_index_find(hshm_store *s, const uint64_t key[HSI_KEY_WORDS], int insert, uint32_t *slot);
void hsi_hash_secrets(uint64_t seed, uint64_t secret[HSI_KEY_WORDS + 1]);
uint64_t hsi_hash_key(const uint64_t secret[HSI_KEY_WORDS + 1], const uint64_t key[HSI_KEY_WORDS]);

/* tag.c: the seed-independent fingerprint of a packed key (25 bits). */
uint32_t hsi_key_print(const uint64_t key[HSI_KEY_WORDS]);

/* wait.c: wait (bounded) until *addr differs from seen; 0 with *now set, or -EAGAIN. With
 * limit_ns 0 the limit is about a second. */
int hsi_wait_change(uint64_t *addr, uint64_t seen, uint64_t *now, int64_t limit_ns);

/* liveness.c */
int hsi_entry_locked(const hshm_store *s, uint32_t entry); /* 1 locked, 0 free, <0 error */
int hsi_claim_entry(hshm_store *s); /* 0, or -ENOSPC: every entry has a live owner */
/* 1 if the writer named by (entry + 1, low claim bits) is provably dead. */
int hsi_writer_dead(const hshm_store *s, uint32_t entry1, uint32_t claim, uint32_t claim_bits);
void hsi_register_handle(hshm_store *s);
void hsi_unregister_handle(hshm_store *s);

/* repair.c: the owner bits a writer puts in a WRITING word: its entry and claim count. */
uint64_t hsi_writer_bits(const hshm_store *s);
/* repair.c: wait for a slot's writer; repairs it if it died. 0 with *now, or -EAGAIN. */
int hsi_wait_slot_writer(hshm_store *s, uint32_t idx, uint64_t seen, uint64_t *now);
/* The same for a RESERVED bucket. */
int hsi_wait_bucket_writer(hshm_store *s, uint64_t *bucket, uint64_t seen, uint64_t *now);

/* Tests only: called right after a transition's CAS and after a bucket is reserved, with
 * the point's name, so a test can kill the process there. NULL otherwise. */
extern void (*hsi_fault_hook)(const char *point);
static inline void hsi_fault_point(const char *point)
{
        if (hsi_fault_hook != NULL)
                hsi_fault_hook(point);
}

#endif
