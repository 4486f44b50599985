/*
 * Starting the sibling programs a demo or a test runs beside itself (mt5sim, hedge-syncer),
 * and the small parsing its options need. Shared by hedge-demo and the chaos test.
 */
#ifndef HEDGESHM_LAUNCH_H
#define HEDGESHM_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

/* Writes into out the first of candidates (paths relative to this executable's directory,
 * NULL-terminated) that is a regular file, or the last one if none is. A path too long for
 * out leaves it empty, and starting it then fails with a message. */
void launch_find_program(char *out, size_t len, const char *const candidates[]);

/* Forks and execs argv[0]; with log set, the child's standard error is appended to that file.
 * Returns the child's pid, or -1. A child that cannot exec says why and exits 127. */
pid_t launch_spawn(const char *const argv[], const char *log);

/* Waits until the mt5sim at socket path answers, or until its process pid exits, or
 * timeout_ms. Returns 0 when it answers, -1 otherwise. */
int launch_wait_mt5sim(const char *path, pid_t pid, int timeout_ms);

/* A whole decimal number in [lo, hi]: 0, or -1 for anything else. */
int launch_parse_long(const char *text, long lo, long hi, long *out);

#endif
