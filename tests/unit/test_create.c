/*
 * Unit tests for creating and destroying a segment: capacity bounds, the mode applied in spite
 * of the umask, the group, refusing to overwrite, and what the created segment says about
 * itself through hshm_info().
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "layout.h"
#include "testutil.h"

static struct stat stat_shm(const char *name)
{
        char path[TU_NAME_MAX + 16];
        struct stat sb;

        snprintf(path, sizeof(path), "/dev/shm%s", name);
        assert_int_equal(stat(path, &sb), 0);
        return sb;
}

static void test_default_capacity(void **state)
{
        struct hshm_create_opts opts = {.capacity = 0, .gid = (gid_t)-1};
        char name[TU_NAME_MAX];
        struct hshm_info info;
        hshm_store *store = NULL;

        (void)state;
        tu_name(name, sizeof(name), "defcap");
        assert_int_equal(hshm_create(name, &opts), 0);
        assert_int_equal(hshm_open(name, 0, &store), 0);
        assert_int_equal(hshm_info(store, &info), 0);
        assert_int_equal(info.capacity, HSHM_CAPACITY_DEFAULT);
        assert_int_equal(info.used, 0);
        assert_int_equal(info.format_version, HSHM_FORMAT);
        assert_int_equal(info.slot_size, HSHM_SLOT_SIZE);
        assert_int_equal(info.procs_max, HSHM_PROCS_MAX);
        assert_true(info.procs_registered >= 1);
        assert_true(info.index_buckets >= 2 * info.capacity);
        assert_int_equal(info.index_buckets & (info.index_buckets - 1), 0);
        assert_int_equal(info.size_bytes, (uint64_t)stat_shm(name).st_size);
        assert_true(info.instance_id != 0);
        assert_true(info.created_ns > 0);
        assert_int_equal(info.read_only, 0);
        tu_close_destroy(store, name);

        /* NULL options: every default, the default mode included. */
        tu_name(name, sizeof(name), "nullopts");
        assert_int_equal(hshm_create(name, NULL), 0);
        assert_int_equal(stat_shm(name).st_mode & 07777, 0600);
        assert_int_equal(hshm_open(name, 0, &store), 0);
        assert_int_equal(hshm_info(store, &info), 0);
        assert_int_equal(info.capacity, HSHM_CAPACITY_DEFAULT);
        tu_close_destroy(store, name);
}

static void test_capacity_bounds(void **state)
{
        struct hshm_create_opts opts = {.capacity = HSHM_CAPACITY_MAX + 1, .gid = (gid_t)-1};
        char name[TU_NAME_MAX];
        struct hshm_info info;
        hshm_store *store;

        (void)state;
        tu_name(name, sizeof(name), "capmax");
        assert_int_equal(hshm_create(name, &opts), -EINVAL);
        assert_true(hshm_last_detail()[0] != '\0');
        opts.capacity = UINT32_MAX;
        assert_int_equal(hshm_create(name, &opts), -EINVAL);
        assert_int_equal(hshm_destroy(name), -ENOENT); /* a refused create leaves nothing */

        store = tu_create_open(name, HSHM_CAPACITY_MIN);
        assert_non_null(store);
        assert_int_equal(hshm_info(store, &info), 0);
        assert_int_equal(info.capacity, HSHM_CAPACITY_MIN);
        tu_close_destroy(store, name);
}

static void test_exists(void **state)
{
        struct hshm_create_opts opts = {.capacity = 4, .gid = (gid_t)-1};
        char name[TU_NAME_MAX];
        uint64_t token;
        hshm_store *store;
        int fd;

        (void)state;
        tu_name(name, sizeof(name), "exists");
        store = tu_create_open(name, 4);
        assert_non_null(store);
        assert_int_equal(hshm_lock(store, "g", "EURUSD", &token), 0);
        assert_int_equal(hshm_create(name, &opts), -EEXIST);
        /* The refused create must not have touched the live segment. */
        assert_int_equal(hshm_is_available(store, "g", "EURUSD"), 0);
        tu_close_destroy(store, name);

        /* A foreign shared-memory object of the same name is not overwritten either. */
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(hshm_create(name, &opts), -EEXIST);
        assert_int_equal(stat_shm(name).st_size, 0);
        assert_int_equal(shm_unlink(name), 0);
}

static void test_mode_despite_umask(void **state)
{
        struct hshm_create_opts opts = {.capacity = 4, .gid = (gid_t)-1};
        static const mode_t modes[] = {0640, 0660, 0644, 0600, 0666};
        char name[TU_NAME_MAX];
        mode_t old = umask(077);

        (void)state;
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                tu_name(name, sizeof(name), "mode");
                opts.mode = modes[i];
                assert_int_equal(hshm_create(name, &opts), 0);
                assert_int_equal(stat_shm(name).st_mode & 07777, modes[i]);
                assert_int_equal(hshm_destroy(name), 0);
        }

        /* mode 0 is the owner-only default, even under a permissive umask. */
        umask(0);
        tu_name(name, sizeof(name), "mode0");
        opts.mode = 0;
        assert_int_equal(hshm_create(name, &opts), 0);
        assert_int_equal(stat_shm(name).st_mode & 07777, 0600);
        assert_int_equal(hshm_destroy(name), 0);
        umask(old);
}

static void test_bad_mode(void **state)
{
        struct hshm_create_opts opts = {.capacity = 4, .gid = (gid_t)-1};
        static const mode_t bad[] = {01000, 01600, 02600, 04600, 07777, 010600, 0400, 0200, 0044};
        char name[TU_NAME_MAX];

        (void)state;
        tu_name(name, sizeof(name), "badmode");
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                opts.mode = bad[i];
                assert_int_equal(hshm_create(name, &opts), -EINVAL);
                assert_true(hshm_last_detail()[0] != '\0');
        }
        assert_int_equal(hshm_destroy(name), -ENOENT);
}

static void test_gid(void **state)
{
        struct hshm_create_opts opts = {.capacity = 4, .mode = 0660, .gid = getgid()};
        char name[TU_NAME_MAX];

        (void)state;
        tu_name(name, sizeof(name), "gid");
        assert_int_equal(hshm_create(name, &opts), 0);
        assert_int_equal(stat_shm(name).st_gid, getgid());
        assert_int_equal(stat_shm(name).st_mode & 07777, 0660);
        assert_int_equal(hshm_destroy(name), 0);

        if (geteuid() != 0) {
                /* Another group is only possible for root; a refusal must leave nothing. */
                opts.gid = 0;
                if (getgid() != 0) {
                        assert_int_equal(hshm_create(name, &opts), -EPERM);
                        assert_int_equal(hshm_destroy(name), -ENOENT);
                }
                return;
        }
        opts.gid = 65534;
        assert_int_equal(hshm_create(name, &opts), 0);
        assert_int_equal(stat_shm(name).st_gid, 65534);
        assert_int_equal(hshm_destroy(name), 0);
}

static void test_bad_names(void **state)
{
        hshm_store *store = NULL;

        (void)state;
        assert_int_equal(hshm_create("no-slash", NULL), -EINVAL);
        assert_int_equal(hshm_create("/a/b", NULL), -EINVAL);
        assert_int_equal(hshm_open("no-slash", 0, &store), -EINVAL);
        assert_null(store);
        assert_int_equal(hshm_destroy("/a/b"), -EINVAL);
}

static void test_destroy(void **state)
{
        char name[TU_NAME_MAX];
        hshm_store *store;
        hshm_store *again = NULL;
        uint64_t token;

        (void)state;
        tu_name(name, sizeof(name), "destroy");
        store = tu_create_open(name, 4);
        assert_non_null(store);
        assert_int_equal(hshm_destroy(name), 0);
        assert_int_equal(hshm_destroy(name), -ENOENT);
        assert_int_equal(hshm_open(name, 0, &again), -ENOENT);
        /* A handle attached before destroy keeps working on its mapping. */
        assert_int_equal(hshm_lock(store, "g", "EURUSD", &token), 0);
        assert_int_equal(hshm_activate(store, token, 7, "EURUSD.pro"), 0);
        hshm_close(store);
        hshm_close(NULL);
}

static void test_instance_id_differs(void **state)
{
        char name[TU_NAME_MAX];
        struct hshm_info a, b;
        hshm_store *store;

        (void)state;
        tu_name(name, sizeof(name), "inst");
        store = tu_create_open(name, 4);
        assert_non_null(store);
        assert_int_equal(hshm_info(store, &a), 0);
        tu_close_destroy(store, name);
        store = tu_create_open(name, 4);
        assert_non_null(store);
        assert_int_equal(hshm_info(store, &b), 0);
        tu_close_destroy(store, name);
        assert_true(a.instance_id != b.instance_id);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_default_capacity),
            cmocka_unit_test(test_capacity_bounds),
            cmocka_unit_test(test_exists),
            cmocka_unit_test(test_mode_despite_umask),
            cmocka_unit_test(test_bad_mode),
            cmocka_unit_test(test_gid),
            cmocka_unit_test(test_bad_names),
            cmocka_unit_test(test_destroy),
            cmocka_unit_test(test_instance_id_differs),
        };

        return cmocka_run_group_tests(tests, NULL, tu_sweep);
}
