/*
 * What the library's files share and nothing else sees: the handle, the process identity,
 * and the internal functions (prefix hsi_, never exported by the symbol map).
 */
#ifndef HEDGESHM_INTERNAL_H
#define HEDGESHM_INTERNAL_H

#include <stdint.h>

#include "hedgeshm.h"
#include "layout.h"

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
        int sync_fd;       /* holds the syncer's OFD lock; -1 when not claimed */
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

/* wait.c: wait (bounded) until *addr differs from seen; 0 with *now set, or -EAGAIN. */
int hsi_wait_change(uint64_t *addr, uint64_t seen, uint64_t *now);

#endif
