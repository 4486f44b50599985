/*
 * Writes fuzz_attach's seed inputs (tests/fuzz/corpus/attach/seed-*): real segments made by
 * this build of the library, taken through transitions, some with a writer killed in the
 * middle of one (the fault hook of lib/internal.h), then copied from /dev/shm and encoded as
 * fuzz_attach images. Seeds are what gets the fuzzer past the header checks into the index,
 * the slots and repair; rerun this after any change of the segment layout:
 *
 *   build/tests/fuzz/fuzz_attach_seeds tests/fuzz/corpus/attach
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

size_t fuzz_attach_encode(const uint8_t *segment, size_t size, uint8_t *out, size_t out_len);

static const char *out_dir;
static const char *kill_at; /* the fault point a child dies at */

static void die(const char *what, int err)
{
        fprintf(stderr, "fuzz_attach_seeds: %s: %s (%s)\n", what, hshm_strerror(err),
                hshm_last_detail());
        exit(1);
}

#define MUST(call)                                                                                 \
        do {                                                                                       \
                int must_err = (call);                                                             \
                if (must_err < 0)                                                                  \
                        die(#call, must_err);                                                      \
        } while (0)

static hshm_store *fresh(const char *name, uint32_t capacity)
{
        struct hshm_create_opts opts = {.capacity = capacity, .mode = 0600, .gid = (gid_t)-1};
        hshm_store *s;

        hshm_destroy(name);
        MUST(hshm_create(name, &opts));
        MUST(hshm_open(name, 0, &s));
        return s;
}

/* Copy the segment out of /dev/shm and write its image as DIR/seed-TAG. */
static void save(const char *name, const char *tag)
{
        char path[4096];
        struct stat st;
        uint8_t *seg, *img;
        size_t len;
        FILE *f;
        int fd;

        fd = shm_open(name, O_RDONLY, 0);
        if (fd < 0 || fstat(fd, &st) != 0)
                die("cannot read the segment back", -errno);
        seg = malloc((size_t)st.st_size);
        img = malloc((size_t)st.st_size + 4096);
        if (seg == NULL || img == NULL ||
            pread(fd, seg, (size_t)st.st_size, 0) != (ssize_t)st.st_size)
                die("cannot read the segment back", -EIO);
        close(fd);
        len = fuzz_attach_encode(seg, (size_t)st.st_size, img, (size_t)st.st_size + 4096);
        if (len == 0)
                die("cannot encode the segment", -EINVAL);
        snprintf(path, sizeof(path), "%s/seed-%s", out_dir, tag);
        f = fopen(path, "wb");
        if (f == NULL || fwrite(img, 1, len, f) != len || fclose(f) != 0)
                die(path, -errno);
        printf("%s: %zu bytes\n", path, len);
        free(seg);
        free(img);
}

static void die_at_point(const char *point)
{
        if (strcmp(point, kill_at) == 0)
                raise(SIGKILL);
}

/* In a child with a handle of its own: set up the key (steps before the fatal one), then die
 * inside the transition named by point. */
static void writer_dies(const char *name, const char *symbol, const char *point)
{
        pid_t pid = fork();
        int status;

        if (pid < 0)
                die("fork", -errno);
        if (pid == 0) {
                hshm_store *s;
                uint64_t token = 0;

                MUST(hshm_open(name, 0, &s));
                kill_at = point;
                hsi_fault_hook = die_at_point;
                if (strcmp(point, "mark_error") == 0 || strcmp(point, "clear") == 0) {
                        hshm_mark_error(s, "G", symbol, "seeded");
                        hshm_clear(s, "G", symbol);
                } else {
                        hshm_lock(s, "G", symbol, &token);
                        hshm_activate(s, token, 77, "XAUUSD");
                        hshm_reset(s, token);
                }
                _exit(3); /* the point was not reached */
        }
        if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status))
                die("the writer did not die at its fault point", -ECHILD);
}

/* A lock whose owner exits without closing: HEDGING, owner dead, entry still in use. */
static void owner_dies(const char *name, const char *symbol)
{
        pid_t pid = fork();
        int status;

        if (pid == 0) {
                hshm_store *s;
                uint64_t token;

                MUST(hshm_open(name, 0, &s));
                MUST(hshm_lock(s, "G", symbol, &token));
                _exit(0);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
                die("the owner did not exit", -ECHILD);
}

static void publish_sync(hshm_store *s)
{
        struct hshm_sync sync = {.pid = (int32_t)getpid(),
                                 .interval_ms = 500,
                                 .started_ns = 1700000000000000000,
                                 .heartbeat_ns = 1700000001000000000,
                                 .snapshot_seq = 41,
                                 .snapshot_time_ms = 1700000001000,
                                 .degraded = 1,
                                 .degraded_since_ns = 1700000000500000000};

        snprintf(sync.degraded_reason, sizeof(sync.degraded_reason), "feed stale for 3 s");
        sync.counters.cycles = 9;
        sync.counters.orphans_waiting = 1;
        MUST(hshm_sync_claim(s));
        MUST(hshm_sync_publish(s, &sync));
}

int main(int argc, char **argv)
{
        static const char *const points[] = {"insert", "lock",       "activate",
                                             "reset",  "mark_error", "clear"};
        char name[64], tag[64];
        hshm_store *s;
        uint64_t t[8];

        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return 2;
        }
        out_dir = argv[1];
        snprintf(name, sizeof(name), "/hshm-fuzz-seeds-%ld", (long)getpid());

        s = fresh(name, 1);
        save(name, "fresh-1");
        hshm_close(s);

        /* Every state, a detached lock, the syncer's block. */
        s = fresh(name, 16);
        MUST(hshm_lock(s, "G", "EURUSD", &t[0]));
        MUST(hshm_lock(s, "G", "GBPUSD", &t[1]));
        MUST(hshm_activate(s, t[1], 1234567, "GBPUSD.h"));
        MUST(hshm_lock(s, "G", "USDJPY", &t[2]));
        MUST(hshm_reset(s, t[2]));
        MUST(hshm_mark_error(s, "G", "XAUUSD", "duplicate hedge 99 and 100"));
        MUST(hshm_lock(s, "H", "EURUSD", &t[3]));
        MUST(hshm_activate(s, t[3], 5, NULL));
        MUST(hshm_mark_error(s, "H", "EURUSD", "closed by hand"));
        MUST(hshm_mark_error(s, "H", "USDCHF", "cleared later"));
        MUST(hshm_clear(s, "H", "USDCHF"));
        MUST(hshm_lock_detached(s, "CLI", "NAS100", &t[4]));
        publish_sync(s);
        save(name, "states-16");
        hshm_close(s);

        /* Every slot used: inserts refused. */
        s = fresh(name, 4);
        for (int i = 0; i < 4; i++) {
                snprintf(tag, sizeof(tag), "SYM%d", i);
                MUST(hshm_lock(s, "G", tag, &t[i]));
        }
        save(name, "full-4");
        hshm_close(s);

        /* Many keys, generations moved on by repeated use. */
        s = fresh(name, 64);
        for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 40; i++) {
                        snprintf(tag, sizeof(tag), "K%02d", i);
                        MUST(hshm_lock(s, "BOT", tag, &t[0]));
                        if (round < 2 || i % 3 == 0)
                                MUST(hshm_reset(s, t[0]));
                }
        }
        save(name, "many-64");
        hshm_close(s);

        /* A writer killed inside each transition, one seed each, then all in one. */
        for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
                s = fresh(name, 8);
                MUST(hshm_lock(s, "G", "EURUSD", &t[0]));
                writer_dies(name, "DIE", points[i]);
                snprintf(tag, sizeof(tag), "dead-%s", points[i]);
                save(name, tag);
                hshm_close(s);
        }
        s = fresh(name, 16);
        for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
                writer_dies(name, points[i], points[i]);
        owner_dies(name, "ORPHAN");
        save(name, "dead-all");
        hshm_close(s);

        s = fresh(name, 8);
        owner_dies(name, "ORPHAN");
        save(name, "dead-owner");
        hshm_close(s);

        hshm_destroy(name);
        return 0;
}
