/*
 * libFuzzer target: arbitrary bytes as a shared-memory segment. Each input becomes a file in
 * /dev/shm, attached read-write and read-only, and every reader runs over it, with
 * hshm_repair and a few transitions: none may crash, touch memory outside the segment, or
 * break the properties listed below, whatever the segment holds.
 *
 * The input is a compact image of the segment rather than the segment byte for byte: a real
 * segment is at least 72 KiB and nearly all zeros (a process table of 512 entries, empty
 * buckets), which would make a slow fuzzer and a heavy corpus. The image is
 *
 *   HEAD_BYTES      the header's lines the library reads (identity, allocator, counters,
 *                   syncer block, repairs), at their offsets
 *   4 bytes         control: [0] size mode, [1] process entries that follow (0..8),
 *                   [2] which slot's key the transitions use, [3] which transitions run
 *   n x 128 bytes   the first n process-table entries
 *   b x 8 bytes     the index, b being the header's index_buckets when that is a power of two
 *                   from 16 to 65536, else 16
 *   the rest        the slots, from slot 0
 *
 * cut wherever the input ends; the rest of the segment is zero. The segment's size is, by
 * control[0] % 4, the header's total_size, exactly what the image fills, total_size - 1 or
 * total_size + one page, so that attach meets exact, truncated and oversized files. An input
 * too short to hold the header lines and the control bytes is the segment as it is, byte for
 * byte: the checks of short files.
 *
 * Two kinds of wait are kept out, each a second long by design: attach waits for the creator
 * of a segment without magic or ready mark (such inputs are skipped here; test_attach covers
 * them), and readers wait on a slot or bucket whose writer never finished. hshm_repair runs
 * first and finishes what dead writers left; what it must leave (writers whose death cannot be
 * proven: no process entry) is then cleared by settle() before any reader runs. The waits
 * themselves, and the repairs waiting readers make, are test_hostile's and test_repair's.
 *
 * Properties checked, besides "no crash":
 *   - read-only and read-write attach agree;
 *   - statuses carry NUL-terminated strings, states and owner entries in range, the slot
 *     asked for; a status found by key carries that key;
 *   - every HEDGING or ACTIVE slot's tag formats, parses back to its slot and generation, and
 *     resolves to that slot and token; with another instance, to that slot by fingerprint
 *     (or to none, when several slots share the fingerprint);
 *   - hshm_repair run twice in a row finds nothing the second time;
 *   - the syncer block read, published and read again comes back equal;
 *   - a lock that succeeds makes its key unavailable;
 *   - hshm_check_linked says the segment is linked; a read-only handle cannot repair.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"

#define HEAD_BYTES        offsetof(struct hshm_header, reserved)
#define CONTROL_BYTES     4u
#define IMAGE_PROCS       8u
#define IMAGE_BUCKETS_MIN 16u
#define IMAGE_BUCKETS_MAX 65536u
#define SIZE_LIMIT        (4u << 20) /* larger segments are left truncated: keeps runs fast */
#define PAGE              4096u
#define KEYS_TRIED        4u /* slots whose keys are also looked up by key */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int fuzz_replay_verdict(void);
size_t fuzz_attach_encode(const uint8_t *segment, size_t size, uint8_t *out, size_t out_len);

/* What the inputs reached, for the replay's verdict. */
static struct {
        unsigned inputs, skipped, attached, repaired, slots_read, tags_checked, locked;
} seen;

#define CHECK(cond) ((cond) ? (void)0 : broken(#cond, __LINE__))

static void broken(const char *what, int line)
{
        fprintf(stderr, "fuzz_attach.c:%d: property violated: %s (last detail: %s)\n", line, what,
                hshm_last_detail());
        abort();
}

static size_t min_size(size_t a, size_t b)
{
        return a < b ? a : b;
}

/* Buckets in the image: the header's count when plausible, so seeds line up with reality. */
static uint32_t image_buckets(const uint8_t *head)
{
        uint32_t b;

        memcpy(&b, head + offsetof(struct hshm_header, index_buckets), sizeof(b));
        return b >= IMAGE_BUCKETS_MIN && b <= IMAGE_BUCKETS_MAX && (b & (b - 1)) == 0
                   ? b
                   : IMAGE_BUCKETS_MIN;
}

/* The segment an input stands for: *filled bytes of content (returned, malloc'd), in a file of
 * *size bytes whose rest is zero. */
static uint8_t *decode(const uint8_t *in, size_t n, size_t *filled, size_t *size)
{
        const uint8_t *ctl = in + HEAD_BYTES;
        size_t at = HEAD_BYTES + CONTROL_BYTES, procs, bucket_bytes, slot_bytes, end, slots_at;
        uint64_t total;
        uint8_t *seg;

        if (n < HEAD_BYTES + CONTROL_BYTES) {
                seg = malloc(n > 0 ? n : 1);
                memcpy(seg, in, n);
                *filled = *size = n;
                return seg;
        }
        procs = min_size(ctl[1] % (IMAGE_PROCS + 1), (n - at) / HSHM_PROC_SIZE);
        slots_at = HSHM_INDEX_OFFSET + (size_t)image_buckets(in) * sizeof(uint64_t);
        bucket_bytes = min_size(slots_at - HSHM_INDEX_OFFSET, n - at - procs * HSHM_PROC_SIZE);
        slot_bytes = n - at - procs * HSHM_PROC_SIZE - bucket_bytes;
        end = slot_bytes > 0     ? slots_at + slot_bytes
              : bucket_bytes > 0 ? HSHM_INDEX_OFFSET + bucket_bytes
              : procs > 0        ? HSHM_PROCS_OFFSET + procs * HSHM_PROC_SIZE
                                 : HEAD_BYTES;
        seg = calloc(end, 1);
        memcpy(seg, in, HEAD_BYTES);
        memcpy(seg + HSHM_PROCS_OFFSET, in + at, procs * HSHM_PROC_SIZE);
        at += procs * HSHM_PROC_SIZE;
        memcpy(seg + HSHM_INDEX_OFFSET, in + at, bucket_bytes);
        memcpy(seg + slots_at, in + at + bucket_bytes, slot_bytes);

        memcpy(&total, in + offsetof(struct hshm_header, total_size), sizeof(total));
        *size = end;
        if (total > 1 && total <= SIZE_LIMIT) {
                switch (ctl[0] % 4) {
                case 0:
                        *size = total;
                        break;
                case 1:
                        break;
                case 2:
                        *size = total - 1;
                        break;
                default:
                        *size = total + PAGE;
                        break;
                }
        }
        *filled = min_size(end, *size);
        return seg;
}

/* The image of a real segment, for seeds: the inverse of decode() with size mode 0. Returns
 * its length, or 0 if out_len is too small or the segment too short to be one. */
size_t fuzz_attach_encode(const uint8_t *segment, size_t size, uint8_t *out, size_t out_len)
{
        size_t slots_at, procs = 0, last = 0, bucket_bytes = 0, slot_bytes = 0, len;

        if (size < HSHM_INDEX_OFFSET)
                return 0;
        slots_at = HSHM_INDEX_OFFSET + (size_t)image_buckets(segment) * sizeof(uint64_t);
        for (size_t i = 0; i < IMAGE_PROCS; i++)
                for (size_t j = 0; j < HSHM_PROC_SIZE; j++)
                        if (segment[HSHM_PROCS_OFFSET + i * HSHM_PROC_SIZE + j] != 0)
                                procs = i + 1;
        for (size_t i = HSHM_INDEX_OFFSET; i < size; i++)
                if (segment[i] != 0)
                        last = i + 1;
        if (last > slots_at) {
                bucket_bytes = slots_at - HSHM_INDEX_OFFSET;
                slot_bytes = last - slots_at;
        } else if (last > 0) {
                bucket_bytes = last - HSHM_INDEX_OFFSET;
        }
        len = HEAD_BYTES + CONTROL_BYTES + procs * HSHM_PROC_SIZE + bucket_bytes + slot_bytes;
        if (len > out_len)
                return 0;
        memcpy(out, segment, HEAD_BYTES);
        out += HEAD_BYTES;
        /* size = total_size, the process entries, the first slot's key, every transition */
        *out++ = 0;
        *out++ = (uint8_t)procs;
        *out++ = 0;
        *out++ = 0xff;
        memcpy(out, segment + HSHM_PROCS_OFFSET, procs * HSHM_PROC_SIZE);
        out += procs * HSHM_PROC_SIZE;
        memcpy(out, segment + HSHM_INDEX_OFFSET, bucket_bytes);
        memcpy(out + bucket_bytes, segment + slots_at, slot_bytes);
        return len;
}

/* Whether attach would take the segment for one still being created and wait a second for
 * its creator (segment.c, check_header): an empty file, no magic and no ready mark, or the
 * magic without the mark. */
static int creator_wait(const uint8_t *seg, size_t size)
{
        uint64_t magic;
        uint32_t ready = 0;

        if (size == 0)
                return 1;
        if (size < sizeof(magic))
                return 0;
        memcpy(&magic, seg, sizeof(magic));
        if (size >= HSHM_HEADER_SIZE)
                memcpy(&ready, seg + offsetof(struct hshm_header, ready), sizeof(ready));
        if (magic == 0)
                return size < HSHM_HEADER_SIZE || ready != HSHM_READY_MARK;
        return magic == HSHM_MAGIC && size >= HSHM_HEADER_SIZE && ready != HSHM_READY_MARK;
}

static int make_segment(const char *name, const uint8_t *seg, size_t filled, size_t size)
{
        int fd = shm_open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0 || ftruncate(fd, (off_t)size) != 0 ||
            pwrite(fd, seg, filled, 0) != (ssize_t)filled) {
                perror("fuzz_attach: cannot write the segment");
                abort();
        }
        return fd;
}

/* Clear what would make a reader wait out its limit: slots left WRITING and buckets left
 * RESERVED by writers hshm_repair could not prove dead, and an odd syncer seqlock. A cleared
 * slot word keeps its state, owner and generation, as its writer's publish would have. */
static void settle(int fd, size_t size, const struct hshm_info *info)
{
        uint8_t *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        struct hshm_header *h = (void *)map;
        uint64_t *buckets = (void *)(map + HSHM_INDEX_OFFSET);
        struct hshm_slot *slots =
            (void *)(map + HSHM_INDEX_OFFSET + (size_t)info->index_buckets * sizeof(uint64_t));

        if (map == MAP_FAILED) {
                perror("fuzz_attach: cannot map the segment");
                abort();
        }
        h->sync.seq += h->sync.seq & 1;
        for (uint32_t i = 0; i < info->index_buckets; i++)
                if ((buckets[i] & B_STATE_MASK) == B_RESERVED)
                        buckets[i] = buckets[i] >> B_TAG_SHIFT << B_TAG_SHIFT | B_DEAD;
        for (uint32_t i = 0; i < info->capacity; i++)
                if ((slots[i].word & W_WRITING) != 0)
                        slots[i].word &= ~(W_WRITING | W_ZERO_MASK);
        munmap(map, size);
}

static void check_string(const char *s, size_t cap)
{
        CHECK(memchr(s, '\0', cap) != NULL);
}

static void check_status(const struct hshm_status *st)
{
        CHECK((unsigned)st->state <= HSHM_ERROR);
        CHECK(st->generation <= W_GEN_MAX);
        CHECK(st->owner.entry <= HSHM_PROCS_MAX);
        check_string(st->group, sizeof(st->group));
        check_string(st->symbol, sizeof(st->symbol));
        check_string(st->hedge_symbol, sizeof(st->hedge_symbol));
        check_string(st->reason, sizeof(st->reason));
        CHECK(strcmp(hshm_state_name(st->state), "?") != 0);
}

/* A current lock's tag goes through format, parse and resolve back to its slot and token. */
static void check_tag(hshm_store *s, const struct hshm_status *st, const struct hshm_info *info)
{
        char text[HSHM_TAG_LEN + 1];
        struct hshm_tag_match m;
        struct hshm_tag tag;
        uint64_t gen, token;
        int r;

        if (st->state == HSHM_HEDGING)
                gen = st->generation;
        else if (st->state == HSHM_ACTIVE && st->generation > 0)
                gen = st->generation - 1;
        else
                return;
        token = (uint64_t)st->slot << TOKEN_SLOT_SHIFT | gen;
        CHECK(hshm_tag_format(s, token, text, sizeof(text)) == 0);
        CHECK(strlen(text) == HSHM_TAG_LEN);
        CHECK(hshm_tag_parse(text, &tag) == 0);
        CHECK(tag.slot == st->slot && tag.generation == gen);
        CHECK(tag.instance == (info->instance_id & 0xfffff));
        CHECK(hshm_tag_resolve(s, &tag, &m) == 0);
        CHECK(m.same_instance && m.slot == st->slot && m.token == token);
        /* As if made before the segment was recreated: found by the key's fingerprint, or
         * refused when several slots share it. */
        tag.instance ^= 1;
        r = hshm_tag_resolve(s, &tag, &m);
        CHECK(r == HSHM_ENOKEY || (r == 0 && !m.same_instance && m.slot == st->slot));
        seen.tags_checked++;
}

static void try_key(hshm_store *s, const char *group, const char *symbol)
{
        struct hshm_status st;
        int r;

        if (hshm_validate_key(group, symbol) != 0)
                return;
        if (hshm_status(s, group, symbol, &st) == 0) {
                check_status(&st);
                CHECK(strcmp(st.group, group) == 0 && strcmp(st.symbol, symbol) == 0);
        }
        r = hshm_is_available(s, group, symbol);
        CHECK(r == 0 || r == 1 || r < 0);
}

static uint64_t input_u64(const uint8_t *in, size_t n, size_t from_end)
{
        uint64_t v = 0;

        if (n >= from_end)
                memcpy(&v, in + n - from_end, sizeof(v));
        return v;
}

static void read_everything(hshm_store *s, const uint8_t *in, size_t n)
{
        struct hshm_info info;
        struct hshm_stats stats;
        struct hshm_sync sync;
        struct hshm_status st;
        struct hshm_tag tag;
        struct hshm_tag_match m;
        struct timespec now;
        int info_ok = hshm_info(s, &info) == 0, r;

        clock_gettime(CLOCK_REALTIME, &now);
        CHECK(info.used <= info.capacity && info.slot_size == HSHM_SLOT_SIZE);
        CHECK(info.procs_registered <= info.procs_max);
        CHECK(hshm_stats(s, &stats) == 0);
        if (hshm_sync_read(s, &sync) == 0) {
                CHECK((unsigned)sync.health <= HSHM_SYNC_DEGRADED);
                check_string(sync.degraded_reason, sizeof(sync.degraded_reason));
        }
        for (uint32_t i = 0; i < info.used; i++) {
                if (hshm_slot_status(s, i, &st) != 0) {
                        check_string(hshm_last_detail(), 1024);
                        continue;
                }
                seen.slots_read++;
                CHECK(st.slot == i);
                check_status(&st);
                r = hshm_owner_liveness(s, &st);
                CHECK(r < 0 || r <= HSHM_OWNER_DETACHED);
                r = hshm_lease_expired(&st, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
                CHECK(r == 0 || r == 1);
                if (info_ok)
                        check_tag(s, &st, &info);
                if (i < KEYS_TRIED)
                        try_key(s, st.group, st.symbol);
        }
        CHECK(hshm_slot_status(s, info.capacity, &st) == -ERANGE);
        try_key(s, "G", "EURUSD");
        /* A token and a tag from the input's last bytes: any value must be refused cleanly. */
        if (hshm_status_by_token(s, input_u64(in, n, 8), &st) == 0)
                check_status(&st);
        tag.instance = (uint32_t)input_u64(in, n, 16) & 0xfffff;
        if ((tag.instance & 1) != 0)
                tag.instance = (uint32_t)(info.instance_id & 0xfffff);
        tag.slot = (uint32_t)(input_u64(in, n, 16) >> 20) & 0xfffff;
        tag.generation = input_u64(in, n, 8) & W_GEN_MAX;
        tag.key_print = (uint32_t)(input_u64(in, n, 8) >> 44) & 0x1ffffff;
        if (hshm_tag_resolve(s, &tag, &m) == 0)
                CHECK(m.slot < info.capacity);
}

/* The syncer block survives a read, a publish of what was read, and a read back. */
static void sync_round_trip(hshm_store *s)
{
        struct hshm_sync a, b;

        if (hshm_sync_claim(s) != 0 || hshm_sync_read(s, &a) != 0)
                return;
        CHECK(hshm_sync_publish(s, &a) == 0);
        CHECK(hshm_sync_read(s, &b) == 0);
        CHECK(a.pid == b.pid && a.interval_ms == b.interval_ms && a.started_ns == b.started_ns);
        CHECK(a.heartbeat_ns == b.heartbeat_ns && a.snapshot_seq == b.snapshot_seq);
        CHECK(a.snapshot_time_ms == b.snapshot_time_ms && a.degraded == b.degraded);
        CHECK(a.degraded_since_ns == b.degraded_since_ns);
        CHECK(strcmp(a.degraded_reason, b.degraded_reason) == 0);
        CHECK(memcmp(&a.counters, &b.counters, sizeof(a.counters)) == 0);
}

/* Transitions on the key of slot ctl[2] (or a fixed one), chosen by the bits of ctl[3]. */
static void write_some(hshm_store *s, const uint8_t *ctl)
{
        const char *group = "G", *symbol = "EURUSD";
        struct hshm_status st;
        struct hshm_info info;
        uint64_t token;

        hshm_info(s, &info);
        if (info.used > 0 && hshm_slot_status(s, ctl[2] % info.used, &st) == 0 &&
            hshm_validate_key(st.group, st.symbol) == 0) {
                group = st.group;
                symbol = st.symbol;
        }
        if ((ctl[3] & 0x10) != 0)
                CHECK(hshm_set_lease_ms(s, 1) == 0);
        if ((ctl[3] & 0x01) != 0 && hshm_lock(s, group, symbol, &token) == 0) {
                seen.locked++;
                CHECK(hshm_is_available(s, group, symbol) == 0);
                if ((ctl[3] & 0x02) != 0)
                        hshm_activate(s, token, 42, "XAUUSD");
                if ((ctl[3] & 0x04) != 0)
                        hshm_reset(s, token);
        }
        if ((ctl[3] & 0x08) != 0 && hshm_mark_error(s, group, symbol, "fuzz") == 0)
                hshm_clear(s, group, symbol);
        if ((ctl[3] & 0x20) != 0 && hshm_lock_detached(s, "G", "FUZZ", &token) == 0)
                hshm_reset(s, token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint8_t no_control[CONTROL_BYTES];
        const uint8_t *ctl = size >= HEAD_BYTES + CONTROL_BYTES ? data + HEAD_BYTES : no_control;
        hshm_store *rw = NULL, *ro = NULL;
        size_t filled, seg_size;
        struct hshm_info info;
        char name[64];
        uint8_t *seg;
        int fd, err, repaired;

        seen.inputs++;
        seg = decode(data, size, &filled, &seg_size);
        if (creator_wait(seg, seg_size)) {
                seen.skipped++;
                free(seg);
                return 0;
        }
        snprintf(name, sizeof(name), "/hshm-fuzz-attach-%ld", (long)getpid());
        fd = make_segment(name, seg, filled, seg_size);
        free(seg);

        err = hshm_open(name, 0, &rw);
        if (err != 0) {
                check_string(hshm_last_detail(), 1024);
                CHECK(hshm_open(name, HSHM_OPEN_RDONLY, &ro) == err);
        } else {
                seen.attached++;
                repaired = hshm_repair(rw);
                if (repaired > 0)
                        seen.repaired++;
                if (repaired >= 0)
                        CHECK(hshm_repair(rw) == 0);
                hshm_info(rw, &info);
                settle(fd, seg_size, &info);

                CHECK(hshm_open(name, HSHM_OPEN_RDONLY, &ro) == 0);
                read_everything(ro, data, size);
                CHECK(hshm_repair(ro) == -EROFS);
                hshm_close(ro);

                read_everything(rw, data, size);
                CHECK(hshm_check_linked(rw) == 0);
                sync_round_trip(rw);
                write_some(rw, ctl);
                hshm_close(rw);
        }
        close(fd);
        shm_unlink(name);
        return 0;
}

int fuzz_replay_verdict(void)
{
        printf("attach: %u inputs, %u skipped (creator wait), %u attached, %u repaired, "
               "%u slots read, %u tags round-tripped, %u locks taken\n",
               seen.inputs, seen.skipped, seen.attached, seen.repaired, seen.slots_read,
               seen.tags_checked, seen.locked);
        if (seen.attached == 0 || seen.slots_read == 0) {
                printf("no saved input attaches and reaches a slot any more: after a layout "
                       "change, write new seeds with fuzz_attach_seeds (docs/fuzzing.md)\n");
                return 1;
        }
        return 0;
}
