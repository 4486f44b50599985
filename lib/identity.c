/*
 * Who this process is: pid, start time and boot id. A pid alone is recycled by the kernel;
 * the start time (field 22 of /proc/PID/stat, in clock ticks since boot) tells a reused pid
 * from the original, and the boot id tells a pid of this boot from one of a previous boot.
 * Read once at attach; locks copy it into the slot they take.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static uint64_t read_start_ticks(void)
{
        char buf[1024];
        FILE *f = fopen("/proc/self/stat", "re");
        size_t n;
        const char *p;
        unsigned long long ticks = 0;

        if (f == NULL)
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* The command name (field 2) may hold spaces and parentheses: skip to its last ')'. */
        p = strrchr(buf, ')');
        if (p == NULL)
                return 0;
        /* The space after ')' starts field 3; the start time is field 22, 20 spaces on. */
        for (int space = 0; space < 20 && p != NULL; space++)
                p = strchr(p + 1, ' ');
        if (p == NULL || sscanf(p + 1, "%llu", &ticks) != 1)
                return 0;
        return ticks;
}

static void read_boot_id(uint8_t out[16])
{
        char text[64] = {0};
        FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
        size_t k = 0;

        memset(out, 0, 16);
        if (f == NULL)
                return;
        if (fgets(text, sizeof(text), f) == NULL)
                text[0] = '\0';
        fclose(f);
        for (size_t i = 0; text[i] != '\0' && k < 32; i++) {
                char c = text[i];
                int v = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (v < 0)
                        continue;
                out[k / 2] = (uint8_t)(out[k / 2] | (k % 2 == 0 ? v << 4 : v));
                k++;
        }
}

void hsi_identity_self(struct hsi_identity *id)
{
        id->pid = (int32_t)getpid();
        id->start_ticks = read_start_ticks();
        read_boot_id(id->boot_id);
}

int64_t hsi_clock_resolution_ns(void)
{
        struct timespec res;

        if (clock_getres(CLOCK_REALTIME_COARSE, &res) != 0)
                return 0;
        return (int64_t)res.tv_sec * 1000000000 + res.tv_nsec;
}

int64_t hsi_now_ns(void)
{
        struct timespec ts;

        /* The coarse clock: slot timestamps are taken on every transition, and the
         * precise one would be the largest cost of a lock + activate + reset. */
        clock_gettime(CLOCK_REALTIME_COARSE, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
