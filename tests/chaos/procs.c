/*
 * The chaos test's child processes other than bots: mt5sim (the broker, started once) and
 * hedge-syncer (started again after each of its deaths), plus the clocks and small helpers
 * every file of the test uses. Both programs log to files in the run's directory, appended
 * to across restarts, so a failing run leaves one readable history.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chaos.h"
#include "launch.h"

static int64_t clock_ms(clockid_t clock)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t chaos_now_ms(void)
{
        return clock_ms(CLOCK_MONOTONIC);
}

int64_t chaos_wall_ms(void)
{
        return clock_ms(CLOCK_REALTIME);
}

int64_t chaos_wall_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void chaos_sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

        nanosleep(&ts, NULL);
}

void chaos_bump(long *counter)
{
        __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

long chaos_read(const long *counter)
{
        return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

pid_t chaos_start_mt5sim(const struct chaos_opts *o)
{
        char log[PATH_MAX], seed[16];

        snprintf(log, sizeof(log), "%s/mt5sim.log", o->dir);
        snprintf(seed, sizeof(seed), "%u", o->seed);
        /* Short lives, so slots cycle fast; a few random rejections for the reset path. */
        return launch_spawn((const char *[]){o->mt5sim, "--socket", o->sock, "--snapshot", o->snap,
                                            "--interval-ms", "50", "--min-life-ms", "300",
                                            "--max-life-ms", "1500", "--reject-percent", "5",
                                            "--seed", seed, NULL},
                           log);
}

pid_t chaos_start_syncer(const struct chaos_opts *o)
{
        char log[PATH_MAX], interval[16], grace[16], stale[16];

        snprintf(log, sizeof(log), "%s/hedge-syncer.log", o->dir);
        snprintf(interval, sizeof(interval), "%d", CHAOS_INTERVAL_MS);
        snprintf(grace, sizeof(grace), "%d", CHAOS_GRACE_MS);
        snprintf(stale, sizeof(stale), "%d", CHAOS_STALE_MS);
        return launch_spawn((const char *[]){o->syncer, "--name", o->name, "--snapshot", o->snap,
                                            "--interval-ms", interval, "--grace-ms", grace,
                                            "--stale-ms", stale, NULL},
                           log);
}

void chaos_stop_child(pid_t pid, int sig)
{
        if (pid <= 0)
                return;
        kill(pid, sig);
        waitpid(pid, NULL, 0);
}
