/*
 * The multiprocess harness (see mp.h). The parent remembers its pid so that the exit-time
 * cleanup and the choice between exit() and _exit() know which side of fork() they run on:
 * a child must never destroy the segment nor flush stdio buffers it inherited.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <urcu/arch.h>
#include <urcu/uatomic.h>

#include "../testutil.h"
#include "mp.h"

/* Generous against the ~60 s budget of the whole suite, well under meson's 300 s. */
#define WATCHDOG_S 200

static pid_t parent_pid;
static char segment[TU_NAME_MAX];
static pid_t children[64];
static volatile sig_atomic_t nchildren;
static volatile sig_atomic_t watchdog_fired;

static void destroy_segment(void)
{
        if (getpid() == parent_pid && segment[0])
                hshm_destroy(segment);
}

void mp_fail(const char *file, int line, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "[%d] %s:%d: ", (int)getpid(), file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
        if (parent_pid && getpid() != parent_pid)
                _exit(1);
        exit(1);
}

const char *mp_create(const char *tag, uint32_t capacity)
{
        struct hshm_create_opts opts = {.capacity = capacity, .gid = (gid_t)-1};
        int rc;

        parent_pid = getpid();
        tu_name(segment, sizeof(segment), tag);
        /* A leftover from a killed earlier run with a recycled pid would make create fail. */
        hshm_destroy(segment);
        rc = hshm_create(segment, &opts);
        if (rc != 0) {
                char name[sizeof(segment)];

                /* Not created: nothing for the exit handler to destroy. */
                memcpy(name, segment, sizeof(name));
                segment[0] = '\0';
                MP_FAIL("hshm_create(%s): %s (%d) %s", name, hshm_strerror(rc), rc,
                        hshm_last_detail());
        }
        atexit(destroy_segment);
        return segment;
}

hshm_store *mp_open(const char *name, unsigned flags)
{
        hshm_store *store = NULL;

        MP_OK(hshm_open(name, flags, &store));
        return store;
}

void *mp_shared(size_t size)
{
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

        MP_CHECK(p != MAP_FAILED, "mmap %zu bytes: %s", size, strerror(errno));
        return p;
}

void mp_barrier_init(pthread_barrier_t *barrier, unsigned count)
{
        pthread_barrierattr_t attr;
        int rc;

        MP_CHECK(pthread_barrierattr_init(&attr) == 0, "pthread_barrierattr_init");
        rc = pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        MP_CHECK(rc == 0, "pthread_barrierattr_setpshared: %s", strerror(rc));
        rc = pthread_barrier_init(barrier, &attr, count);
        MP_CHECK(rc == 0, "pthread_barrier_init: %s", strerror(rc));
        pthread_barrierattr_destroy(&attr);
}

void mp_barrier_wait(pthread_barrier_t *barrier)
{
        int rc = pthread_barrier_wait(barrier);

        MP_CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD, "pthread_barrier_wait: %s",
                 strerror(rc));
}

void mp_start_line(unsigned long *line, unsigned long n)
{
        unsigned spins = 0;

        uatomic_inc(line);
        while (uatomic_read(line) < n) {
                /* More processes than cores: the last ones to arrive need a CPU. */
                if (++spins % 32 == 0)
                        sched_yield();
                else
                        caa_cpu_relax();
        }
}

static void kill_children(void)
{
        for (int i = 0; i < nchildren; i++)
                kill(children[i], SIGKILL);
}

/* SIGALRM in the parent; kill() is async-signal-safe. */
static void watchdog(int sig)
{
        (void)sig;
        watchdog_fired = 1;
        kill_children();
}

static int index_of(pid_t pid)
{
        for (int i = 0; i < nchildren; i++)
                if (children[i] == pid)
                        return i;
        return -1;
}

void mp_run(int n, int (*fn)(int index, void *arg), void *arg)
{
        int failed = 0, stopped = 0, left = n;

        MP_CHECK(n > 0 && n <= (int)(sizeof(children) / sizeof(children[0])), "bad n %d", n);
        if (!parent_pid)
                parent_pid = getpid();
        /* Children must not inherit unwritten output, or it would be printed twice. */
        fflush(stdout);
        fflush(stderr);
        nchildren = 0;
        watchdog_fired = 0;
        for (int i = 0; i < n; i++) {
                pid_t pid = fork();

                if (pid == 0)
                        _exit(fn(i, arg));
                if (pid < 0) {
                        kill_children();
                        MP_FAIL("fork: %s", strerror(errno));
                }
                children[i] = pid;
                nchildren = i + 1;
        }
        signal(SIGALRM, watchdog);
        alarm(WATCHDOG_S);
        while (left > 0) {
                int status, i;
                pid_t pid = waitpid(-1, &status, 0);

                if (pid < 0 && errno == EINTR)
                        continue;
                MP_CHECK(pid > 0, "waitpid: %s", strerror(errno));
                i = index_of(pid);
                if (i < 0)
                        continue;
                left--;
                if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                        continue;
                if (WIFEXITED(status))
                        fprintf(stderr, "child %d (pid %d) exited with status %d\n", i, (int)pid,
                                WEXITSTATUS(status));
                else if (failed && !watchdog_fired && WTERMSIG(status) == SIGKILL)
                        stopped++; /* by us, below */
                else
                        fprintf(stderr, "child %d (pid %d) killed by signal %d%s\n", i, (int)pid,
                                WTERMSIG(status), watchdog_fired ? " (watchdog)" : "");
                /* The others may be waiting at a barrier for this one: stop them now. */
                if (!failed++)
                        kill_children();
        }
        alarm(0);
        signal(SIGALRM, SIG_DFL);
        nchildren = 0;
        MP_CHECK(!watchdog_fired, "children still running after %d s", WATCHDOG_S);
        MP_CHECK(!failed, "%d of %d children failed (%d of them stopped after the first failure)",
                 failed, n, stopped);
}

struct hshm_stats mp_stats(hshm_store *store)
{
        struct hshm_stats stats;

        MP_OK(hshm_stats(store, &stats));
        return stats;
}

uint64_t mp_rand(uint64_t *state)
{
        uint64_t x = *state;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        return x * UINT64_C(0x2545F4914F6CDD1D);
}
