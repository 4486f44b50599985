/*
 * The file source: a rename over the file, a rewrite in place, a file that appears, goes and
 * comes back, and a directory created after the syncer started are all noticed within a wait;
 * nothing changing is a timeout. Bounded waits only (a few seconds at most), no sleeps as
 * proof: every "noticed" is a wait that returned 1.
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "source.h"
#include "synctest.h"

struct fixture {
        char dir[64];
        char path[96];
        struct hr_source *src;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        snprintf(f->dir, sizeof(f->dir), "/tmp/hs-src-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/snapshot.txt", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[128];

        if (f->src != NULL)
                f->src->ops->close(f->src);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", f->dir);
        free(f);
        return 0;
}

static void write_snapshot(const char *path, uint64_t seq)
{
        struct st_snap s;

        st_snap_init(&s, seq, st_now_ms());
        st_add_position(&s, 1000 + seq, "XAUUSD.r", "");
        assert_int_equal(hf_write_atomic(path, &s.snap), 0);
}

/* 1 once the source notices a change within ms, else 0. */
static int noticed_within(struct hr_source *src, int ms)
{
        for (int waited = 0; waited < ms; waited += 50)
                if (src->ops->wait(src, 50) == 1)
                        return 1;
        return 0;
}

static uint64_t read_seq(struct hr_source *src)
{
        struct hf_snapshot snap;
        const char *buf;
        size_t len;
        uint64_t seq;
        char why[128];

        assert_int_equal(src->ops->read(src, &buf, &len), 0);
        assert_int_equal(hf_parse(buf, len, &snap, why, sizeof(why)), 0);
        seq = snap.seq;
        hf_free(&snap);
        return seq;
}

static void open_source(struct fixture *f, const char *path)
{
        assert_int_equal(hr_file_source_new(path, 50, &f->src), 0);
        assert_int_equal(f->src->ops->open(f->src), 0);
}

static void rename_over_is_noticed(void **state)
{
        struct fixture *f = *state;

        write_snapshot(f->path, 1);
        open_source(f, f->path);
        assert_int_equal(read_seq(f->src), 1);
        assert_int_equal(f->src->ops->wait(f->src, 100), 0); /* nothing new: a timeout */
        write_snapshot(f->path, 2);
        assert_true(noticed_within(f->src, 3000));
        assert_int_equal(read_seq(f->src), 2);
        assert_int_equal(f->src->ops->wait(f->src, 100), 0);
}

static void rewrite_in_place_is_noticed(void **state)
{
        struct fixture *f = *state;
        int fd;

        write_snapshot(f->path, 1);
        open_source(f, f->path);
        fd = open(f->path, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "x", 1), 1); /* a writer that does not rename */
        close(fd);
        assert_true(noticed_within(f->src, 3000));
}

static void missing_then_present_then_gone(void **state)
{
        struct fixture *f = *state;
        const char *buf;
        size_t len;

        open_source(f, f->path);
        assert_int_equal(f->src->ops->read(f->src, &buf, &len), -ENOENT);
        write_snapshot(f->path, 1);
        assert_true(noticed_within(f->src, 3000));
        assert_int_equal(read_seq(f->src), 1);
        assert_int_equal(unlink(f->path), 0);
        assert_true(noticed_within(f->src, 3000));
        assert_int_equal(f->src->ops->read(f->src, &buf, &len), -ENOENT);
}

/* The terminal's files folder may not exist yet when the syncer starts (Wine prefix). */
static void directory_created_later(void **state)
{
        struct fixture *f = *state;
        char dir[128], path[160];

        snprintf(dir, sizeof(dir), "%s/later", f->dir);
        snprintf(path, sizeof(path), "%s/snapshot.txt", dir);
        open_source(f, path);
        assert_int_equal(f->src->ops->wait(f->src, 100), 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        write_snapshot(path, 3);
        assert_true(noticed_within(f->src, 3000));
        assert_int_equal(read_seq(f->src), 3);
        /* And the watch (or the polling) keeps working afterwards. */
        write_snapshot(path, 4);
        assert_true(noticed_within(f->src, 3000));
        assert_int_equal(read_seq(f->src), 4);
}

static void not_a_regular_file_refused(void **state)
{
        struct fixture *f = *state;
        const char *buf;
        size_t len;

        open_source(f, f->dir);
        assert_int_equal(f->src->ops->read(f->src, &buf, &len), -EINVAL);
        assert_int_equal(hr_file_source_new("", 50, &f->src), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
            T(rename_over_is_noticed),         T(rewrite_in_place_is_noticed),
            T(missing_then_present_then_gone), T(directory_created_later),
            T(not_a_regular_file_refused),
#undef T
        };

        hr_log_setup(HR_LOG_INFO);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
