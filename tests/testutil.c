/*
 * Test helpers (see testutil.h). Names carry the pid and a per-process counter so that no two
 * tests, in this process or another, ever use the same segment.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void tu_name(char *buf, size_t len, const char *tag)
{
        static atomic_uint counter;
        unsigned n = atomic_fetch_add(&counter, 1);

        snprintf(buf, len, "/hshm-t-%ld-%u-%.20s", (long)getpid(), n, tag ? tag : "x");
}

hshm_store *tu_create_open(const char *name, uint32_t capacity)
{
        /* gid must be spelled out: 0 would mean root's group. */
        struct hshm_create_opts opts = {.capacity = capacity, .mode = 0600, .gid = (gid_t)-1};
        hshm_store *store = NULL;
        int rc = hshm_create(name, &opts);

        if (rc != 0) {
                fprintf(stderr, "tu_create_open: create %s: %s (%s)\n", name, hshm_strerror(rc),
                        hshm_last_detail());
                return NULL;
        }
        rc = hshm_open(name, 0, &store);
        if (rc != 0) {
                fprintf(stderr, "tu_create_open: open %s: %s (%s)\n", name, hshm_strerror(rc),
                        hshm_last_detail());
                hshm_destroy(name);
                return NULL;
        }
        return store;
}

void tu_close_destroy(hshm_store *store, const char *name)
{
        int rc;

        hshm_close(store);
        rc = hshm_destroy(name);
        if (rc != 0 && rc != -ENOENT)
                fprintf(stderr, "tu_close_destroy: destroy %s: %s\n", name, hshm_strerror(rc));
}

void *tu_map_raw(const char *name, size_t *size)
{
        char path[TU_NAME_MAX + 16];
        struct stat sb;
        void *map;
        int fd;

        snprintf(path, sizeof(path), "/dev/shm%s", name);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "tu_map_raw: open %s: %s\n", path, strerror(errno));
                return NULL;
        }
        if (fstat(fd, &sb) != 0 || sb.st_size <= 0) {
                fprintf(stderr, "tu_map_raw: %s: empty or unreadable\n", path);
                close(fd);
                return NULL;
        }
        map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (map == MAP_FAILED) {
                fprintf(stderr, "tu_map_raw: mmap %s: %s\n", path, strerror(errno));
                return NULL;
        }
        *size = (size_t)sb.st_size;
        return map;
}

void tu_unmap_raw(void *map, size_t size)
{
        if (map)
                munmap(map, size);
}

int tu_setup(void **state)
{
        struct tu_fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        tu_name(f->name, sizeof(f->name), "fx");
        f->store = tu_create_open(f->name, TU_FIXTURE_CAPACITY);
        if (!f->store) {
                free(f);
                return -1;
        }
        *state = f;
        return 0;
}

int tu_teardown(void **state)
{
        struct tu_fixture *f = *state;

        if (f) {
                tu_close_destroy(f->store, f->name);
                free(f);
        }
        return 0;
}

int tu_sweep(void **state)
{
        char prefix[32], name[NAME_MAX + 2];
        struct dirent *de;
        DIR *dir = opendir("/dev/shm");
        size_t n;

        (void)state;
        if (!dir)
                return 0;
        n = (size_t)snprintf(prefix, sizeof(prefix), "hshm-t-%ld-", (long)getpid());
        while ((de = readdir(dir)) != NULL) {
                if (strncmp(de->d_name, prefix, n) != 0)
                        continue;
                snprintf(name, sizeof(name), "/%s", de->d_name);
                fprintf(stderr, "tu_sweep: removing leftover %s\n", name);
                shm_unlink(name);
        }
        closedir(dir);
        return 0;
}
