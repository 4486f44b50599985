/*
 * bench_parse [POSITIONS]: the time hf_parse takes on a snapshot of POSITIONS open
 * positions (default 1,000,000) shaped like a real account's: broker-suffixed symbols, 5-digit
 * prices, lot volumes, millisecond times and 25-character tag comments. Prints the best of five
 * parses (and the time hf_format took to make the text). No timing decides the exit status:
 * it is 1 only when formatting or parsing fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot.h"

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
        static const char *const symbols[] = {"EURUSD.r",   "XAUUSDm", "#XAUUSD",
                                              "US500.cash", "GBPJPY",  "BTCUSD"};
        size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
        double best = 1e30, t0;
        struct hf_snapshot s = {.format = HF_FORMAT,
                                .seq = 1,
                                .time_ms = 1718000000000,
                                .login = 5012345,
                                .connected = 1,
                                .margin_mode = 2};
        char *text, why[256];
        size_t len;

        if (n > HF_RECORDS_MAX) {
                fprintf(stderr, "at most %d positions\n", HF_RECORDS_MAX);
                return 2;
        }
        s.n_positions = n;
        s.positions = calloc(n + 1, sizeof(*s.positions));
        if (s.positions == NULL)
                return 1;
        for (size_t i = 0; i < n; i++) {
                struct hf_position *p = &s.positions[i];

                p->ticket = 500000000 + i;
                p->identifier = 500000000 + i - (i % 7 == 0);
                p->magic = 20240000 + i % 50;
                strcpy(p->symbol, symbols[i % 6]);
                p->type = (int)(i & 1);
                p->volume = (double)(1 + i % 500) / 100;
                p->price_open = (double)(100000 + (i * 7919) % 50000) / 100000;
                p->time_msc = 1717000000000 + (int64_t)i * 13;
                snprintf(p->comment, sizeof(p->comment), "HS%023zu", i * 2654435761u);
        }
        t0 = now_ms();
        if (hf_format(&s, &text, &len) != 0) {
                fprintf(stderr, "hf_format failed\n");
                return 1;
        }
        printf("format %zu positions: %.1f ms, %.1f MB\n", n, now_ms() - t0, (double)len / 1e6);
        for (int run = 0; run < 5; run++) {
                struct hf_snapshot back;
                double t;

                t0 = now_ms();
                if (hf_parse(text, len, &back, why, sizeof(why)) != 0) {
                        fprintf(stderr, "hf_parse: %s\n", why);
                        return 1;
                }
                t = now_ms() - t0;
                if (t < best)
                        best = t;
                if (back.n_positions != n)
                        return 1;
                hf_free(&back);
        }
        printf("parse %zu positions: %.1f ms best of 5 (%.0f ns/position, %.0f MB/s)\n", n, best,
               n ? best * 1e6 / (double)n : 0.0, (double)len / 1e3 / best);
        free(text);
        free(s.positions);
        return 0;
}
