/*
 * libFuzzer target for order tags (lib/tag.c). The input, as text up to its first NUL, goes to
 * hshm_tag_parse, which must not crash or read past the text; the same bytes then drive a round
 * trip through a real segment. Properties:
 *
 *   - parsing ignores case: the text with its ASCII letters upper-cased finds the same tag;
 *   - the tag found is the first well-formed one: the first 25-character window of the text
 *     that parses on its own gives the same fields, and with no such window the text holds
 *     no tag;
 *   - a tag hshm_tag_format made for a key and a generation taken from the input parses back
 *     to its instance, slot and generation and resolves to its token, in lower case too, and
 *     with input text around it (a broker's additions) unless that text holds a tag first;
 *     under another instance it resolves to its slot by the key's fingerprint (or to none,
 *     when another key in the segment shares the fingerprint);
 *   - changing any one character after "HS" to another digit is always caught (the CRC-5
 *     check character's promise).
 *
 * The segment is made once per process and unlinked at once, so a fuzzer that is stopped
 * leaves nothing in /dev/shm; it is made again when its slots run out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"

#define CAPACITY   256u
#define AROUND     40u   /* most bytes of input text put before and after a tag */
#define TEXT_LIMIT 4096u /* windows are checked one by one up to this length */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int fuzz_replay_verdict(void);

/* The tag's digits (Crockford base32), as docs/tags.md specifies them. */
static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static struct {
        unsigned inputs, tags_found, round_trips;
} seen;

static struct {
        hshm_store *store;
        uint8_t *map;
        size_t map_size;
        uint32_t instance;
} seg;

#define CHECK(cond) ((cond) ? (void)0 : broken(#cond, __LINE__))

static void broken(const char *what, int line)
{
        fprintf(stderr, "fuzz_tag.c:%d: property violated: %s (last detail: %s)\n", line, what,
                hshm_last_detail());
        abort();
}

static int same_tag(const struct hshm_tag *a, const struct hshm_tag *b)
{
        return a->instance == b->instance && a->slot == b->slot && a->generation == b->generation &&
               a->key_print == b->key_print;
}

/* hshm_tag_parse on text[0..len), which must hold no NUL. */
static int parse_n(const char *text, size_t len, struct hshm_tag *out)
{
        char *copy = malloc(len + 1);
        int r;

        memcpy(copy, text, len);
        copy[len] = '\0';
        r = hshm_tag_parse(copy, out);
        free(copy);
        CHECK(r == 0 || r == HSHM_ENOTAG);
        return r;
}

static void check_text(const char *text, size_t len)
{
        struct hshm_tag tag, other;
        int found = parse_n(text, len, &tag) == 0, r;
        char *upper;

        if (found) {
                seen.tags_found++;
                CHECK(tag.instance <= 0xfffff && tag.slot <= 0xfffff);
                CHECK(tag.generation <= W_GEN_MAX && tag.key_print < (1u << 25));
        }
        upper = malloc(len + 1);
        for (size_t i = 0; i < len; i++)
                upper[i] = text[i] >= 'a' && text[i] <= 'z' ? (char)(text[i] - 32) : text[i];
        r = parse_n(upper, len, &other);
        free(upper);
        CHECK((r == 0) == found && (!found || same_tag(&tag, &other)));
        if (len > TEXT_LIMIT)
                return;
        for (size_t i = 0; i + HSHM_TAG_LEN <= len; i++) {
                if (parse_n(text + i, HSHM_TAG_LEN, &other) == 0) {
                        CHECK(found && same_tag(&tag, &other));
                        return;
                }
        }
        CHECK(!found);
}

static void open_segment(void)
{
        struct hshm_create_opts opts = {.capacity = CAPACITY, .mode = 0600, .gid = (gid_t)-1};
        struct hshm_info info;
        char name[64];
        int fd;

        if (seg.store != NULL) {
                hshm_close(seg.store);
                munmap(seg.map, seg.map_size);
        }
        snprintf(name, sizeof(name), "/hshm-fuzz-tag-%ld", (long)getpid());
        hshm_destroy(name);
        if (hshm_create(name, &opts) != 0 || hshm_open(name, 0, &seg.store) != 0 ||
            hshm_info(seg.store, &info) != 0)
                broken("a fresh segment", __LINE__);
        /* A raw mapping beside the handle, to move a slot's generation anywhere. */
        fd = shm_open(name, O_RDWR, 0);
        seg.map_size = info.size_bytes;
        seg.map = mmap(NULL, seg.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (fd < 0 || seg.map == MAP_FAILED)
                broken("a raw mapping", __LINE__);
        close(fd);
        hshm_destroy(name);
        seg.instance = (uint32_t)(info.instance_id & 0xfffff);
}

static struct hshm_slot *raw_slot(uint32_t slot)
{
        const struct hshm_header *h = (const void *)seg.map;

        return (struct hshm_slot *)(void *)(seg.map + h->slots_offset) + slot;
}

/* Bytes of the input in order; zeros once it runs out. */
struct cursor {
        const uint8_t *p;
        size_t left;
};

static uint8_t take(struct cursor *c)
{
        if (c->left == 0)
                return 0;
        c->left--;
        return *c->p++;
}

static void take_key(struct cursor *c, char *out, size_t max)
{
        size_t len = 1 + take(c) % max;

        for (size_t i = 0; i < len; i++)
                out[i] = (char)('!' + take(c) % 94);
        out[len] = '\0';
}

/* Up to AROUND bytes of text without NUL. */
static size_t take_text(struct cursor *c, char *out)
{
        size_t len = take(c) % (AROUND + 1);

        for (size_t i = 0; i < len; i++) {
                out[i] = (char)take(c);
                if (out[i] == '\0')
                        out[i] = ' ';
        }
        return len;
}

static int digit_value(char ch)
{
        const char *p = strchr(alphabet, ch >= 'a' && ch <= 'z' ? ch - 32 : ch);

        return p != NULL && ch != '\0' ? (int)(p - alphabet) : -1;
}

/* Lock the key at generation gen + 1 (gen written into its AVAILABLE slot), tag the lock, and
 * check the tag's properties. */
static void round_trip(struct cursor *c)
{
        char group[HSHM_GROUP_MAX + 1], symbol[HSHM_SYMBOL_MAX + 1], text[HSHM_TAG_LEN + 1];
        char around[2 * AROUND + HSHM_TAG_LEN], lower[HSHM_TAG_LEN + 1];
        uint64_t gen = 0, token, t0;
        struct hshm_tag tag, other;
        struct hshm_tag_match m;
        size_t before, after;
        uint32_t slot;
        int r, pos, v;

        take_key(c, group, HSHM_GROUP_MAX);
        take_key(c, symbol, HSHM_SYMBOL_MAX);
        for (int i = 0; i < 8; i++)
                gen = gen << 8 | take(c);
        gen %= W_GEN_MAX - 2; /* a lock needs three generations left */
        if (seg.store == NULL)
                open_segment();
        r = hshm_lock(seg.store, group, symbol, &t0);
        if (r == -ENOSPC) {
                open_segment();
                r = hshm_lock(seg.store, group, symbol, &t0);
        }
        CHECK(r == 0);
        CHECK(hshm_reset(seg.store, t0) == 0);
        slot = (uint32_t)(t0 >> TOKEN_SLOT_SHIFT);
        __atomic_store_n(&raw_slot(slot)->word, gen << W_GEN_SHIFT, __ATOMIC_SEQ_CST);
        CHECK(hshm_lock(seg.store, group, symbol, &token) == 0);
        CHECK(token == ((uint64_t)slot << TOKEN_SLOT_SHIFT | (gen + 1)));

        CHECK(hshm_tag_format(seg.store, token, text, sizeof(text)) == 0);
        CHECK(strlen(text) == HSHM_TAG_LEN);
        CHECK(parse_n(text, HSHM_TAG_LEN, &tag) == 0);
        CHECK(tag.instance == seg.instance && tag.slot == slot && tag.generation == gen + 1);
        CHECK(hshm_tag_resolve(seg.store, &tag, &m) == 0);
        CHECK(m.same_instance && m.slot == slot && m.token == token);
        other = tag;
        other.instance ^= 1;
        r = hshm_tag_resolve(seg.store, &other, &m);
        CHECK(r == HSHM_ENOKEY || (r == 0 && !m.same_instance && m.slot == slot));
        for (int i = 0; i <= HSHM_TAG_LEN; i++)
                lower[i] = text[i] >= 'A' && text[i] <= 'Z' ? (char)(text[i] + 32) : text[i];
        CHECK(parse_n(lower, HSHM_TAG_LEN, &other) == 0 && same_tag(&tag, &other));

        /* With text around it: found, unless a tag that starts earlier is found first, and
         * that one ends before the last character of ours. */
        before = take_text(c, around);
        memcpy(around + before, text, HSHM_TAG_LEN);
        after = take_text(c, around + before + HSHM_TAG_LEN);
        CHECK(parse_n(around, before + HSHM_TAG_LEN + after, &other) == 0);
        if (!same_tag(&tag, &other)) {
                struct hshm_tag first;

                CHECK(parse_n(around, before + HSHM_TAG_LEN - 1, &first) == 0);
                CHECK(same_tag(&first, &other));
        }

        /* One character after "HS" changed to another digit, in either case. */
        pos = 2 + take(c) % (HSHM_TAG_LEN - 2);
        v = take(c);
        if (v % 32 == digit_value(text[pos]))
                v++;
        text[pos] = alphabet[v % 32];
        if ((v & 0x80) != 0 && text[pos] >= 'A' && text[pos] <= 'Z')
                text[pos] = (char)(text[pos] + 32);
        CHECK(parse_n(text, HSHM_TAG_LEN, &other) == HSHM_ENOTAG);

        CHECK(hshm_reset(seg.store, token) == 0);
        /* Back to generation 0: the next lock of this key must not run out of generations. */
        __atomic_store_n(&raw_slot(slot)->word, 0, __ATOMIC_SEQ_CST);
        seen.round_trips++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *nul = memchr(data, '\0', size);
        struct cursor c = {data, size};

        seen.inputs++;
        check_text((const char *)data, nul != NULL ? (size_t)(nul - data) : size);
        round_trip(&c);
        return 0;
}

int fuzz_replay_verdict(void)
{
        printf("tag: %u inputs, %u held a tag, %u round trips\n", seen.inputs, seen.tags_found,
               seen.round_trips);
        if (seen.tags_found == 0) {
                printf("no saved input holds a tag any more: the tag format changed? "
                       "(docs/fuzzing.md)\n");
                return 1;
        }
        return 0;
}
