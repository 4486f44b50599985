/*
 * What every part of bench-compare shares: the clock and its calibration, CPU pinning, the
 * sampled latencies and their percentiles, the key set and key hash, temporary directories.
 *
 * Sampling: one cycle in CMP_SAMPLE_EVERY is timed op by op (five clock reads); the others
 * run untimed, so the throughput counts every cycle and the clock's cost touches only the
 * sampled ones. Each delta includes about one clock read, whose median cost is measured at
 * start and subtracted. A worker's buffer holds CMP_MAX_SAMPLES; when it fills, every other
 * sample is dropped and the stride doubles, so the samples stay spread over the whole run.
 */
#include <errno.h>
#include <ftw.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "compare.h"

static struct cmp_key keys[CMP_NKEYS];
const struct cmp_key *cmp_keys = keys;
uint64_t cmp_timer_ns;

uint64_t cmp_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

double cmp_median(double *v, int n)
{
        if (n == 0)
                return 0;
        qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void cmp_calibrate_timer(void)
{
        enum { N = 100001 };
        static uint64_t d[N];

        for (int i = 0; i < N; i++) {
                uint64_t a = cmp_now_ns();

                d[i] = cmp_now_ns() - a;
        }
        qsort(d, N, sizeof(d[0]), cmp_u64);
        cmp_timer_ns = d[N / 2];
}

/* Positions: CMP_KEYS_PER per possible worker (disjoint runs), then the hot ones. */
void cmp_make_keys(void)
{
        for (uint32_t i = 0; i < CMP_NKEYS; i++) {
                struct cmp_key *k = &keys[i];

                k->index = i;
                if (i < CMP_HOT_FIRST)
                        snprintf(k->group, sizeof(k->group), "corr-%u", i / CMP_KEYS_PER);
                else
                        snprintf(k->group, sizeof(k->group), "corr-hot");
                snprintf(k->symbol, sizeof(k->symbol), "SYM%04u.pro", i);
                snprintf(k->joined, sizeof(k->joined), "%s/%s", k->group, k->symbol);
        }
}

int cmp_online_cpus(int *cpus, int max)
{
        cpu_set_t set;
        int n = 0;

        if (sched_getaffinity(0, sizeof(set), &set) != 0)
                return 0;
        for (int c = 0; c < CPU_SETSIZE && n < max; c++)
                if (CPU_ISSET(c, &set))
                        cpus[n++] = c;
        return n;
}

void cmp_pin(int cpu)
{
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
}

void cmp_unpin(const int *cpus, int n)
{
        cpu_set_t set;

        CPU_ZERO(&set);
        for (int i = 0; i < n; i++)
                CPU_SET(cpus[i], &set);
        sched_setaffinity(0, sizeof(set), &set);
}

int cmp_sample_due(struct cmp_samples *b)
{
        if (b->countdown > 0) {
                b->countdown--;
                return 0;
        }
        return 1;
}

static uint32_t less_timer(uint64_t d)
{
        d = d > cmp_timer_ns ? d - cmp_timer_ns : 0;
        return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* t: clock before claim, after claim, after activate, after status, after release. */
void cmp_keep_sample(struct cmp_samples *b, const uint64_t t[5])
{
        struct cmp_sample s = {less_timer(t[1] - t[0]), less_timer(t[2] - t[1]),
                               less_timer(t[3] - t[2]), less_timer(t[4] - t[3])};

        if (b->n == CMP_MAX_SAMPLES) {
                for (uint32_t i = 0; i < CMP_MAX_SAMPLES / 2; i++)
                        b->s[i] = b->s[2 * i];
                b->n = CMP_MAX_SAMPLES / 2;
                b->stride *= 2;
        }
        b->s[b->n++] = s;
        b->countdown = b->stride - 1;
}

static uint32_t field_of(const struct cmp_sample *s, int field)
{
        if (field < 0)
                return s->claim + s->activate + s->release;
        return *(const uint32_t *)(const void *)((const char *)s + field);
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p of the samples at or below it. */
static double rank(const uint32_t *v, size_t n, double p)
{
        size_t r = (size_t)(p * (double)n + 0.999999);

        return v[r == 0 ? 0 : r - 1];
}

struct cmp_pct cmp_percentiles(struct cmp_samples *const *bufs, int from, int to, int field)
{
        struct cmp_pct p = {0, 0};
        size_t n = 0, i = 0;
        uint32_t *v;

        for (int w = from; w < to; w++)
                n += bufs[w]->n;
        if (n == 0 || (v = malloc(n * sizeof(*v))) == NULL)
                return p;
        for (int w = from; w < to; w++)
                for (uint32_t j = 0; j < bufs[w]->n; j++)
                        v[i++] = field_of(&bufs[w]->s[j], field);
        qsort(v, n, sizeof(*v), cmp_u32);
        p.p50 = rank(v, n, 0.5);
        p.p99 = rank(v, n, 0.99);
        free(v);
        return p;
}

/* 64 x 64 -> 128-bit multiply, folded: one multiply mixes 128 bits of input. */
static uint64_t fold_mul(uint64_t a, uint64_t b)
{
        unsigned __int128 r = (unsigned __int128)a * b;

        return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* A fast 64-byte-key hash (the raw baseline's and the mutex table's): each 16-byte quarter
 * masked and folded by one wide multiply, the four independent, one more multiply to mix. */
uint64_t cmp_hash64(const void *key64)
{
        static const uint64_t k[9] = {
            UINT64_C(0x243F6A8885A308D3), UINT64_C(0x13198A2E03707345),
            UINT64_C(0xA4093822299F31D1), UINT64_C(0x082EFA98EC4E6C89),
            UINT64_C(0x452821E638D01377), UINT64_C(0xBE5466CF34E90C6D),
            UINT64_C(0xC0AC29B7C97C50DD), UINT64_C(0x3F84D5B5B5470917),
            UINT64_C(0x9216D5D98979FB1B),
        };
        const uint64_t *w = key64;
        uint64_t h = 0;

        for (int i = 0; i < 8; i += 2)
                h += fold_mul(w[i] ^ k[i], w[i + 1] ^ k[i + 1]);
        return fold_mul(h ^ k[8], h);
}

/* group and symbol, each zero-padded to 32 bytes: the shape hedgeshm keeps a key in. */
void cmp_pack_key(const struct cmp_key *k, uint64_t out[8])
{
        memset(out, 0, 64);
        memcpy(out, k->group, strnlen(k->group, 31));
        memcpy((char *)out + 32, k->symbol, strnlen(k->symbol, 31));
}

/* A fresh directory under $TMPDIR (or /tmp); NULL with errno on failure. */
char *cmp_make_tmpdir(const char *what)
{
        const char *base = getenv("TMPDIR");
        char *dir;

        if (base == NULL || *base == '\0')
                base = "/tmp";
        if (asprintf(&dir, "%s/hshm-cmp-%s-XXXXXX", base, what) < 0)
                return NULL;
        if (mkdtemp(dir) == NULL) {
                int e = errno;

                free(dir);
                errno = e;
                return NULL;
        }
        return dir;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        remove(path);
        return 0;
}

void cmp_remove_tree(const char *dir)
{
        if (dir != NULL)
                nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The file system a path lives on, for the legend: file locks and SQLite depend on it. */
const char *cmp_fs_name(const char *path)
{
        struct statfs fs;

        if (statfs(path, &fs) != 0)
                return "unknown";
        switch ((unsigned long)fs.f_type) {
        case 0x01021994UL:
                return "tmpfs";
        case 0xEF53UL:
                return "ext4";
        case 0x58465342UL:
                return "xfs";
        case 0x9123683EUL:
                return "btrfs";
        case 0x794C7630UL:
                return "overlayfs";
        default:
                return "other";
        }
}

/* Full path of an executable found on $PATH, or NULL. */
const char *cmp_find_program(const char *name)
{
        static char found[4096];
        const char *path = getenv("PATH");
        char *copy, *dir, *save = NULL;

        if (path == NULL)
                path = "/usr/local/bin:/usr/bin:/bin";
        if ((copy = strdup(path)) == NULL)
                return NULL;
        for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                snprintf(found, sizeof(found), "%s/%s", *dir ? dir : ".", name);
                if (access(found, X_OK) == 0) {
                        free(copy);
                        return found;
                }
        }
        free(copy);
        return NULL;
}

char cmp_detail[160];

int cmp_fail(int err, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmp_detail, sizeof(cmp_detail), fmt, ap);
        va_end(ap);
        return err;
}

uint64_t cmp_next_token(void)
{
        static uint64_t count;

        return (uint64_t)getpid() << 32 | ++count;
}
