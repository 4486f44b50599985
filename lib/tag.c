/*
 * Order tags: how a hedge order in MT5 names the lock it was placed under.
 *
 * MT5 gives two carriers. The 64-bit magic belongs to the bot's strategy and several bridges
 * squeeze it through 31 bits, so it cannot carry a 64-bit token. The comment is short (31
 * characters in most wrappers, 26 alphanumerics with one vendor), and servers may rewrite
 * its end or add text around it. So the tag is 25 characters, all alphanumeric:
 *
 *   "HS" + 22 characters of Crockford base32 (110 bits, top bit zero) + 1 check character
 *
 *   payload bits  108..89  segment instance (low 20 bits of instance_id)
 *                  88..69  slot number
 *                  68..25  lock generation (44 bits)
 *                  24..0   fingerprint of (group, symbol), hashed with a fixed seed
 *
 * The check character is a CRC-5 of the payload: any one character changed is caught. The
 * instance tells a tag of this segment from one made before the segment was recreated (a
 * reboot); the fingerprint then still finds the key's new slot. Decoding ignores case, since
 * some servers change it.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"

#define TAG_PREFIX "HS"
#define TAG_DIGITS 22
#define PRINT_BITS 25
#define PRINT_SEED UINT64_C(0x6865646765736873) /* fixed: prints match across segments */

typedef unsigned __int128 u128;

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Digit values by byte, either case; -1 for bytes outside the alphabet: decoding is one load
 * a character. Built once per process from the alphabet. */
static int8_t digit_of[256];
static pthread_once_t digits_once = PTHREAD_ONCE_INIT;

static void build_digits(void)
{
        memset(digit_of, -1, sizeof(digit_of));
        for (int i = 0; alphabet[i] != '\0'; i++) {
                digit_of[(unsigned char)alphabet[i]] = (int8_t)i;
                digit_of[(unsigned char)alphabet[i] | 0x20] = (int8_t)i;
        }
}

/*
 * CRC-5 (polynomial x^5 + x^2 + 1, initial 0x1f) over the 110 payload bits, most significant
 * first. The symbols are exactly 5 bits wide, the CRC's width, so each symbol is one table
 * step: crc = crc5_step[crc ^ symbol], where crc5_step[x] is x shifted five times through the
 * polynomial (checked against the bit-by-bit definition for 10,000 random payloads).
 */
static const uint8_t crc5_step[32] = {0, 5,  10, 15, 20, 17, 30, 27, 13, 8,  7,
                                      2, 25, 28, 19, 22, 26, 31, 16, 21, 14, 11,
                                      4, 1,  23, 18, 29, 24, 3,  6,  9,  12};

static unsigned crc5(u128 payload)
{
        unsigned crc = 0x1f;

        for (int i = TAG_DIGITS - 1; i >= 0; i--)
                crc = crc5_step[crc ^ ((unsigned)(payload >> (5 * i)) & 31u)];
        return crc;
}

uint32_t hsi_key_print(const uint64_t key[HSI_KEY_WORDS])
{
        uint64_t secret[HSI_KEY_WORDS + 1];

        hsi_hash_secrets(PRINT_SEED, secret);
        return (uint32_t)(hsi_hash_key(secret, key) >> (64 - PRINT_BITS));
}

static int key_ready(const hshm_store *s, uint32_t slot)
{
        int ready = hsi_load(&s->slots[slot].key_mark) == HSHM_KEY_READY;

        /* Mark before key: the key was written before the mark. */
        hsi_rmb();
        return ready;
}

static uint32_t slot_print(const hshm_store *s, uint32_t slot)
{
        uint64_t key[HSI_KEY_WORDS];

        for (unsigned i = 0; i < HSI_KEY_WORDS; i++)
                key[i] = hsi_load(&s->slots[slot].key[i]);
        return hsi_key_print(key);
}

int hshm_tag_format(hshm_store *s, uint64_t token, char *buf, size_t len)
{
        struct hshm_status st;
        uint64_t gen = token & W_GEN_MAX;
        u128 payload;
        int err;

        if (buf == NULL || len < HSHM_TAG_LEN + 1)
                return hsi_fail(-EINVAL, "a tag needs a buffer of %d bytes", HSHM_TAG_LEN + 1);
        err = hshm_status_by_token(s, token, &st);
        if (err != 0)
                return err;
        if (!((st.state == HSHM_HEDGING && st.generation == gen) ||
              (st.state == HSHM_ACTIVE && st.generation == gen + 1)))
                return hsi_fail_lit(HSHM_ESTALE, "the token's lock is no longer current");
        payload = (u128)s->instance << 89 | (u128)st.slot << 69 | (u128)gen << PRINT_BITS |
                  slot_print(s, st.slot);
        memcpy(buf, TAG_PREFIX, 2);
        for (int i = 0; i < TAG_DIGITS; i++)
                buf[2 + i] = alphabet[(unsigned)(payload >> (5 * (TAG_DIGITS - 1 - i))) & 31u];
        buf[2 + TAG_DIGITS] = alphabet[crc5(payload)];
        buf[HSHM_TAG_LEN] = '\0';
        return 0;
}

static int decode_at(const char *p, struct hshm_tag *out)
{
        u128 payload = 0;
        int check;

        for (int i = 0; i < TAG_DIGITS; i++) {
                int v = digit_of[(unsigned char)p[i]];
                if (v < 0)
                        return -1;
                payload = payload << 5 | (unsigned)v;
        }
        check = digit_of[(unsigned char)p[TAG_DIGITS]];
        if (check < 0 || (unsigned)check != crc5(payload) || payload >> 109 != 0)
                return -1;
        out->instance = (uint32_t)(payload >> 89) & 0xfffff;
        out->slot = (uint32_t)(payload >> 69) & 0xfffff;
        out->generation = (uint64_t)(payload >> PRINT_BITS) & W_GEN_MAX;
        out->key_print = (uint32_t)payload & ((1u << PRINT_BITS) - 1);
        return 0;
}

int hshm_tag_parse(const char *text, struct hshm_tag *out)
{
        size_t len = text != NULL ? strlen(text) : 0;

        pthread_once(&digits_once, build_digits);
        for (size_t i = 0; i + HSHM_TAG_LEN <= len; i++) {
                if ((text[i] | 0x20) != 'h' || (text[i + 1] | 0x20) != 's')
                        continue;
                if (decode_at(text + i + 2, out) == 0)
                        return 0;
        }
        return hsi_fail_lit(HSHM_ENOTAG, "no hedgeshm tag with a valid check character");
}

int hshm_tag_resolve(hshm_store *s, const struct hshm_tag *tag, struct hshm_tag_match *out)
{
        uint32_t used = hsi_load(&s->hdr->used), found = 0, slot = 0;

        if (used > s->capacity)
                return hsi_fail(HSHM_ECORRUPT, "slot allocator says %u used of %u", used,
                                s->capacity);
        memset(out, 0, sizeof(*out));
        if (tag->instance == s->instance && tag->slot < used && key_ready(s, tag->slot) &&
            slot_print(s, tag->slot) == tag->key_print) {
                out->slot = tag->slot;
                out->same_instance = 1;
                out->token = (uint64_t)tag->slot << TOKEN_SLOT_SHIFT | tag->generation;
                return 0;
        }
        /* Made by another segment (or mangled): find the key by its fingerprint, and accept
         * only an unambiguous answer. */
        for (uint32_t i = 0; i < used; i++) {
                if (!key_ready(s, i) || slot_print(s, i) != tag->key_print)
                        continue;
                found++;
                slot = i;
        }
        if (found != 1)
                return hsi_fail(HSHM_ENOKEY, "tag's key fingerprint matches %u slots", found);
        out->slot = slot;
        return 0;
}
