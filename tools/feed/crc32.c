/*
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, the checksum of zlib, gzip and PNG) over
 * the bytes of a snapshot before its trailer line, so a torn or half-written file is caught.
 *
 * Snapshots of a million positions are about 80 MB, so the checksum is computed eight bytes per
 * step (slicing-by-8): one table lookup per byte but no dependency chain between the eight. The
 * tables are built once, under pthread_once, rather than spelled out as 8 KiB of constants.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "snapshot.h"

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;

                for (int k = 0; k < 8; k++)
                        c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
                table[0][i] = c;
        }
        /* table[k][i]: the CRC of byte i followed by k zero bytes. */
        for (int k = 1; k < 8; k++)
                for (int i = 0; i < 256; i++)
                        table[k][i] = (table[k - 1][i] >> 8) ^ table[0][table[k - 1][i] & 0xff];
}

uint32_t hf_crc32(uint32_t crc, const void *buf, size_t len)
{
        const unsigned char *p = buf;

        pthread_once(&table_once, build_table);
        crc = ~crc;
        while (len >= 8) {
                uint32_t lo, hi;

                /* Assembled byte by byte: the buffer has no alignment, and little-endian order
                 * is what the reflected CRC consumes whatever the host is. */
                lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
                hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                     (uint32_t)p[7] << 24;
                lo ^= crc;
                crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
                      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][hi & 0xff] ^
                      table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
                p += 8;
                len -= 8;
        }
        while (len--)
                crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
        return ~crc;
}
