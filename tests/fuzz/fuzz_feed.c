/*
 * libFuzzer target for the snapshot parser, hf_parse (tools/feed). Each input is parsed as it
 * is, then again with the last line's final 8 characters replaced by the right CRC, so that
 * mutations get past the checksum to the field rules and the accepted path. Besides "no
 * crash, no read past the input", anything accepted must format and parse back to the same
 * seq and counts. The seeds are tests/feed/corpus (good-* and bad-* snapshots, each saying
 * what it holds); a find worth keeping goes there as a good-*.snap or bad-*.snap, checked by
 * test_feed_corpus, or into tests/fuzz/corpus/feed when it is no snapshot of a named case.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int fuzz_replay_verdict(void);

static struct {
        unsigned inputs, accepted;
} seen;

static void check(const char *buf, size_t size)
{
        struct hf_snapshot s, back;
        char why[128], *text;
        size_t len;

        if (hf_parse(buf, size, &s, why, sizeof(why)) != 0)
                return;
        seen.accepted++;
        if (hf_format(&s, &text, &len) != 0 || hf_parse(text, len, &back, why, sizeof(why)) != 0)
                abort();
        if (back.seq != s.seq || back.n_positions != s.n_positions || back.n_orders != s.n_orders ||
            back.n_deals != s.n_deals)
                abort();
        hf_free(&back);
        hf_free(&s);
        free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t end = size, start;
        char hex[9], *copy;

        seen.inputs++;
        check((const char *)data, size);
        if (size < 10 || data[size - 1] != '\n')
                return 0;
        end = data[size - 2] == '\r' ? size - 2 : size - 1;
        for (start = end; start > 0 && data[start - 1] != '\n'; start--)
                ;
        if (end - start < 8)
                return 0;
        copy = malloc(size);
        memcpy(copy, data, size);
        snprintf(hex, sizeof(hex), "%08x", (unsigned)hf_crc32(0, copy, start));
        memcpy(copy + end - 8, hex, 8);
        check(copy, size);
        free(copy);
        return 0;
}

int fuzz_replay_verdict(void)
{
        printf("feed: %u inputs, %u parses accepted (with the CRC fixed up or as they were)\n",
               seen.inputs, seen.accepted);
        if (seen.accepted == 0) {
                printf("no saved input parses any more: did the snapshot format change?\n");
                return 1;
        }
        return 0;
}
