/*
 * Helpers shared by the unit and multiprocess suites. Every test gets a segment name of its
 * own (pid + counter), so suites running in parallel never meet in /dev/shm, and a cmocka
 * fixture whose teardown destroys the segment even when the test body failed.
 *
 * The helpers print what went wrong and return NULL or a negative value; they never abort,
 * so a forked child can use them too and report through its exit status.
 */
#ifndef HEDGESHM_TESTUTIL_H
#define HEDGESHM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "hedgeshm.h"

/* Longest name tu_name() writes, NUL included. */
#define TU_NAME_MAX 64

/* Writes "/hshm-t-<pid>-<counter>-<tag>" into buf (tag cut to fit). Thread-safe. */
void tu_name(char *buf, size_t len, const char *tag);

/* Creates name with capacity slots (0: default) and mode 0600, then opens it read-write.
 * Returns the handle, or NULL after printing why. */
hshm_store *tu_create_open(const char *name, uint32_t capacity);

/* Closes store (may be NULL) and destroys name; a name already gone is not an error. */
void tu_close_destroy(hshm_store *store, const char *name);

/* Maps the segment's /dev/shm file read-write, bypassing the library, to play a hostile
 * process. Returns the mapping and its size in *size, or NULL after printing why. */
void *tu_map_raw(const char *name, size_t *size);
void tu_unmap_raw(void *map, size_t size);

/* cmocka fixture: *state becomes a struct tu_fixture with a fresh name and a segment of
 * TU_FIXTURE_CAPACITY slots opened read-write. tu_teardown closes and destroys it. */
#define TU_FIXTURE_CAPACITY 64u
struct tu_fixture {
        char name[TU_NAME_MAX];
        hshm_store *store;
};
int tu_setup(void **state);
int tu_teardown(void **state);

/* cmocka group teardown: unlinks every segment this process named with tu_name(), so a test
 * that failed before its own cleanup leaves nothing behind in /dev/shm. */
int tu_sweep(void **state);

#endif
