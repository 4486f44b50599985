/*
 * Unit tests for attach refusals. Each test creates a good segment, then damages it the way a
 * foreign process, another build or a crash could (by writing the /dev/shm file directly), and
 * checks that hshm_open() refuses with the one error that names the damage and says why in
 * hshm_last_detail().
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "layout.h"
#include "testutil.h"

#define NOBODY 65534

/* Creates a segment of 8 slots with one key in it and leaves it closed. */
static void make_segment(char *name, const char *tag)
{
        uint64_t token;
        hshm_store *store;

        tu_name(name, TU_NAME_MAX, tag);
        store = tu_create_open(name, 8);
        assert_non_null(store);
        assert_int_equal(hshm_lock(store, "g", "EURUSD", &token), 0);
        hshm_close(store);
}

static void expect_open_refused(const char *name, unsigned flags, int want)
{
        hshm_store *store = NULL;
        int rc = hshm_open(name, flags, &store);

        if (rc != want)
                fail_msg("open %s: %d (%s), want %d (%s)", name, rc, hshm_strerror(rc), want,
                         hshm_strerror(want));
        assert_null(store);
        assert_true(hshm_last_detail()[0] != '\0');
}

/* Applies edit to the header of a fresh segment, then expects open to fail with want. */
static void damage_header(const char *tag, void (*edit)(struct hshm_header *), int want)
{
        char name[TU_NAME_MAX];
        size_t size;
        struct hshm_header *h;

        make_segment(name, tag);
        h = tu_map_raw(name, &size);
        assert_non_null(h);
        edit(h);
        tu_unmap_raw(h, size);
        expect_open_refused(name, 0, want);
        expect_open_refused(name, HSHM_OPEN_RDONLY, want);
        assert_int_equal(hshm_destroy(name), 0);
}

static void bad_magic(struct hshm_header *h)
{
        h->magic ^= 1;
}

static void zero_magic(struct hshm_header *h)
{
        h->magic = 0;
}

static void next_format(struct hshm_header *h)
{
        h->format = HSHM_FORMAT + 1;
}

static void old_format(struct hshm_header *h)
{
        h->format = 0;
}

static void small_slots(struct hshm_header *h)
{
        h->slot_size = HSHM_SLOT_SIZE / 2;
}

static void big_cachelines(struct hshm_header *h)
{
        h->cacheline = 2 * HSHM_CACHELINE;
}

static void small_words(struct hshm_header *h)
{
        h->word_size = 4;
}

static void not_ready(struct hshm_header *h)
{
        h->ready = 0;
}

static void test_not_found(void **state)
{
        char name[TU_NAME_MAX];

        (void)state;
        tu_name(name, sizeof(name), "missing");
        expect_open_refused(name, 0, -ENOENT);
        expect_open_refused(name, HSHM_OPEN_RDONLY, -ENOENT);
}

static void test_bad_magic(void **state)
{
        (void)state;
        damage_header("magic", bad_magic, HSHM_ENOTSEG);
}

/* A zero magic alone could be a creator still at work, but not once the ready mark (written
 * after the magic) is set. */
static void test_zero_magic_when_ready(void **state)
{
        (void)state;
        damage_header("magic0", zero_magic, HSHM_ENOTSEG);
}

static void test_foreign_file(void **state)
{
        char name[TU_NAME_MAX];
        char junk[8192];
        int fd;

        (void)state;
        /* A shared-memory object some other program made, full of text. */
        tu_name(name, sizeof(name), "foreign");
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        assert_true(fd >= 0);
        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (char)('a' + i % 26);
        assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
        close(fd);
        expect_open_refused(name, 0, HSHM_ENOTSEG);
        assert_int_equal(shm_unlink(name), 0);
}

static void test_wrong_version(void **state)
{
        (void)state;
        damage_header("vnext", next_format, HSHM_EVERSION);
        damage_header("vold", old_format, HSHM_EVERSION);
}

static void test_wrong_layout(void **state)
{
        (void)state;
        damage_header("slotsz", small_slots, HSHM_ELAYOUT);
        damage_header("cline", big_cachelines, HSHM_ELAYOUT);
        damage_header("word", small_words, HSHM_ELAYOUT);
}

static void truncate_shm(const char *name, off_t size)
{
        char path[TU_NAME_MAX + 16];
        int fd;

        snprintf(path, sizeof(path), "/dev/shm%s", name);
        fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
        close(fd);
}

static void test_truncated(void **state)
{
        char name[TU_NAME_MAX];
        struct stat sb;
        char path[TU_NAME_MAX + 16];

        (void)state;
        make_segment(name, "trunc");
        snprintf(path, sizeof(path), "/dev/shm%s", name);
        assert_int_equal(stat(path, &sb), 0);
        truncate_shm(name, sb.st_size - HSHM_SLOT_SIZE); /* the last slot is gone */
        expect_open_refused(name, 0, HSHM_ETRUNC);
        expect_open_refused(name, HSHM_OPEN_RDONLY, HSHM_ETRUNC);
        truncate_shm(name, HSHM_HEADER_SIZE); /* the header only */
        expect_open_refused(name, 0, HSHM_ETRUNC);
        assert_int_equal(hshm_destroy(name), 0);
}

static void test_never_initialised(void **state)
{
        char name[TU_NAME_MAX];
        int fd;

        (void)state;
        /* The creator died right after shm_open: the object exists and is empty. */
        tu_name(name, sizeof(name), "empty");
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        assert_true(fd >= 0);
        close(fd);
        expect_open_refused(name, 0, HSHM_EINIT);
        assert_int_equal(shm_unlink(name), 0);

        /* The creator died before publishing the ready mark. */
        damage_header("unready", not_ready, HSHM_EINIT);
}

/* In a child that dropped root, opening the segment must say -EACCES. Exit 0 when it did,
 * 77 when the child could not become nobody. */
static int child_open_as_nobody(const char *name, unsigned flags, int want)
{
        hshm_store *store = NULL;
        int rc;

        if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
                return 77;
        rc = hshm_open(name, flags, &store);
        if (rc != want) {
                fprintf(stderr, "open as nobody: got %d (%s), want %d\n", rc, hshm_strerror(rc),
                        want);
                return 1;
        }
        if (rc == 0) {
                /* Read-only access is enough to look, never to change. */
                uint64_t token;
                struct hshm_status st;

                if (hshm_status(store, "g", "EURUSD", &st) != 0 ||
                    hshm_lock(store, "g", "GBPUSD", &token) != -EROFS)
                        return 1;
                hshm_close(store);
        } else if (hshm_last_detail()[0] == '\0') {
                return 1;
        }
        return 0;
}

static int run_as_nobody(const char *name, unsigned flags, int want)
{
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0)
                _exit(child_open_as_nobody(name, flags, want));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_permission_denied(void **state)
{
        struct hshm_create_opts opts = {.capacity = 8, .mode = 0600, .gid = (gid_t)-1};
        char name[TU_NAME_MAX];
        char path[TU_NAME_MAX + 16];
        uint64_t token;
        hshm_store *store = NULL;

        (void)state;
        tu_name(name, sizeof(name), "perm");
        snprintf(path, sizeof(path), "/dev/shm%s", name);
        assert_int_equal(hshm_create(name, &opts), 0);
        assert_int_equal(hshm_open(name, 0, &store), 0);
        assert_int_equal(hshm_lock(store, "g", "EURUSD", &token), 0);
        hshm_close(store);

        if (geteuid() != 0) {
                /* Not root: take our own write permission away. */
                assert_int_equal(chmod(path, 0400), 0);
                expect_open_refused(name, 0, -EACCES);
                assert_int_equal(hshm_open(name, HSHM_OPEN_RDONLY, &store), 0);
                hshm_close(store);
                assert_int_equal(chmod(path, 0000), 0);
                expect_open_refused(name, HSHM_OPEN_RDONLY, -EACCES);
                assert_int_equal(hshm_destroy(name), 0);
                return;
        }

        /* Root ignores permission bits, so a child becomes nobody to be refused. */
        int rc = run_as_nobody(name, 0, -EACCES);

        if (rc == 77) {
                hshm_destroy(name);
                skip(); /* cannot setuid here (no CAP_SETUID): EACCES is untestable */
        }
        assert_int_equal(rc, 0);
        assert_int_equal(run_as_nobody(name, HSHM_OPEN_RDONLY, -EACCES), 0);
        /* Others may read: nobody attaches read-only but still may not write. */
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(run_as_nobody(name, HSHM_OPEN_RDONLY, 0), 0);
        assert_int_equal(run_as_nobody(name, 0, -EACCES), 0);
        assert_int_equal(hshm_destroy(name), 0);
}

static void test_read_only_handle(void **state)
{
        struct tu_fixture *f = *state;
        hshm_store *ro = NULL;
        uint64_t token, ro_token = 0;
        struct hshm_status st;
        struct hshm_stats stats;
        struct hshm_info info;

        assert_int_equal(hshm_lock(f->store, "g", "EURUSD", &token), 0);
        assert_int_equal(hshm_mark_error(f->store, "g", "XAUUSD_o", "test"), 0);
        assert_int_equal(hshm_open(f->name, HSHM_OPEN_RDONLY, &ro), 0);

        assert_int_equal(hshm_lock(ro, "g", "GBPUSD", &ro_token), -EROFS);
        assert_int_equal(hshm_lock(ro, "g", "EURUSD", &ro_token), -EROFS);
        assert_int_equal(hshm_activate(ro, token, 1, "EURUSD"), -EROFS);
        assert_int_equal(hshm_reset(ro, token), -EROFS);
        assert_int_equal(hshm_mark_error(ro, "g", "EURUSD", "ro"), -EROFS);
        assert_int_equal(hshm_clear(ro, "g", "XAUUSD_o"), -EROFS);

        /* Looking works, and nothing above changed anything. */
        assert_int_equal(hshm_status(ro, "g", "EURUSD", &st), 0);
        assert_int_equal(st.state, HSHM_HEDGING);
        assert_int_equal(st.token, token);
        assert_int_equal(hshm_status(ro, "g", "XAUUSD_o", &st), 0);
        assert_int_equal(st.state, HSHM_ERROR);
        assert_int_equal(hshm_is_available(ro, "g", "GBPUSD"), 1);
        assert_int_equal(hshm_info(ro, &info), 0);
        assert_int_equal(info.read_only, 1);
        assert_int_equal(info.used, 2);
        assert_int_equal(hshm_stats(ro, &stats), 0);
        assert_int_equal(stats.locks_won, 1);
        assert_int_equal(stats.lock_conflicts, 0);
        assert_int_equal(stats.keys_inserted, 2);
        hshm_close(ro);
        assert_int_equal(hshm_activate(f->store, token, 1, "EURUSD"), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_not_found),
            cmocka_unit_test(test_bad_magic),
            cmocka_unit_test(test_zero_magic_when_ready),
            cmocka_unit_test(test_foreign_file),
            cmocka_unit_test(test_wrong_version),
            cmocka_unit_test(test_wrong_layout),
            cmocka_unit_test(test_truncated),
            cmocka_unit_test(test_never_initialised),
            cmocka_unit_test(test_permission_denied),
            cmocka_unit_test_setup_teardown(test_read_only_handle, tu_setup, tu_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
