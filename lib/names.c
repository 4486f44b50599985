/*
 * Segment names and position keys: what is accepted, and how a key is laid out in a slot.
 *
 * Keys are compared as exact bytes (MT5 symbol names differ by suffix only: EURUSD vs
 * EURUSD.r), so a key is packed zero-padded into fixed fields and compared word by word.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NAME_MAX_BYTES 255 /* NAME_MAX of the /dev/shm file, after the leading '/' */

const char *hshm_resolve_name(const char *name)
{
        const char *env;

        if (name != NULL)
                return name;
        env = getenv(HSHM_NAME_ENV);
        return env != NULL && env[0] != '\0' ? env : HSHM_DEFAULT_NAME;
}

int hshm_validate_name(const char *name)
{
        size_t len;

        if (name == NULL)
                return hsi_fail(-EINVAL, "segment name is missing");
        if (name[0] != '/')
                return hsi_fail(-EINVAL, "segment name \"%.64s\" must start with '/', as in /%.64s",
                                name, name);
        len = strlen(name);
        if (len < 2)
                return hsi_fail(-EINVAL, "segment name \"/\" names nothing: add a name after '/'");
        if (len - 1 > NAME_MAX_BYTES)
                return hsi_fail(-EINVAL, "segment name is %zu bytes; at most %d after the '/'",
                                len - 1, NAME_MAX_BYTES);
        if (strcmp(name, "/.") == 0 || strcmp(name, "/..") == 0)
                return hsi_fail(-EINVAL, "segment name \"%s\" is reserved", name);
        for (size_t i = 1; i < len; i++) {
                unsigned char c = (unsigned char)name[i];
                if (c == '/')
                        return hsi_fail(-EINVAL, "segment name may hold no '/' after the first");
                if (c <= 0x20 || c >= 0x7f)
                        return hsi_fail(
                            -EINVAL, "segment name byte %zu (0x%02x) is not printable ASCII", i, c);
        }
        return 0;
}

/*
 * Check one part of a key and copy it into a zero-filled field of max + 1 bytes, in one pass:
 * this runs on every lock, so the bytes are read once. Returns its length, or an error.
 */
static int copy_part(const char *what, const char *s, size_t max, char *field)
{
        size_t i;

        if (s == NULL || s[0] == '\0')
                return hsi_fail(-EINVAL, "%s is empty", what);
        for (i = 0; s[i] != '\0'; i++) {
                unsigned char c = (unsigned char)s[i];
                if (i == max)
                        return hsi_fail(-EINVAL, "%s \"%.40s...\" is longer than %zu bytes", what,
                                        s, max);
                if (c <= 0x20 || c >= 0x7f)
                        return hsi_fail(
                            -EINVAL, "%s byte %zu (0x%02x) is not printable ASCII without spaces",
                            what, i, c);
                field[i] = (char)c;
        }
        return (int)i;
}

static int validate_part(const char *what, const char *s, size_t max)
{
        char field[HSHM_KEY_FIELD];
        int len = copy_part(what, s, max, field);

        return len < 0 ? len : 0;
}

int hsi_validate_symbol(const char *what, const char *symbol)
{
        return validate_part(what, symbol, HSHM_SYMBOL_MAX);
}

int hshm_validate_key(const char *group, const char *symbol)
{
        int err = validate_part("group", group, HSHM_GROUP_MAX);

        return err != 0 ? err : validate_part("symbol", symbol, HSHM_SYMBOL_MAX);
}

int hsi_pack_key(const char *group, const char *symbol, uint64_t key[HSI_KEY_WORDS])
{
        char *bytes = (char *)key;
        int err;

        memset(key, 0, HSI_KEY_WORDS * sizeof(key[0]));
        if ((err = copy_part("group", group, HSHM_GROUP_MAX, bytes)) < 0 ||
            (err = copy_part("symbol", symbol, HSHM_SYMBOL_MAX, bytes + HSHM_KEY_FIELD)) < 0)
                return err;
        return 0;
}

/* Field words are read one relaxed atomic load at a time: the seqlock around the caller
 * decides whether the copy is kept, so a concurrent writer costs a retry, never a data race. */
void hsi_unpack_string(const uint64_t *words, size_t field_bytes, char *out, size_t out_len)
{
        uint64_t copy[HSHM_REASON_FIELD / 8];
        size_t n = field_bytes < out_len - 1 ? field_bytes : out_len - 1;

        for (size_t i = 0; i < field_bytes / 8; i++)
                copy[i] = hsi_load(&words[i]);
        memcpy(out, copy, n);
        out[n] = '\0';
}

void hsi_pack_string(uint64_t *words, size_t field_bytes, const char *s)
{
        uint64_t copy[HSHM_REASON_FIELD / 8] = {0};
        size_t len = s != NULL ? strnlen(s, field_bytes - 1) : 0;

        memcpy(copy, s != NULL ? s : "", len);
        for (size_t i = 0; i < field_bytes / 8; i++)
                hsi_store(&words[i], copy[i]);
}
