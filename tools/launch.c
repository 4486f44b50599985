/*
 * Sibling programs: found beside this executable once installed, in their build directories
 * otherwise; started with their standard error in a log the caller keeps.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "launch.h"

void launch_find_program(char *out, size_t len, const char *const candidates[])
{
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        const char *dir;
        struct stat st;

        self[n > 0 ? n : 0] = '\0';
        dir = dirname(self);
        out[0] = '\0';
        for (size_t i = 0; candidates[i] != NULL; i++) {
                if (snprintf(out, len, "%s/%s", dir, candidates[i]) >= (int)len) {
                        out[0] = '\0';
                        continue;
                }
                if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
                        return;
        }
}

pid_t launch_spawn(const char *const argv[], const char *log)
{
        pid_t pid = fork();

        if (pid == 0) {
                if (log != NULL && freopen(log, "a", stderr) == NULL)
                        _exit(127);
                /* execv's prototype predates const; it does not write the strings. */
                execv(argv[0], (char *const *)argv);
                fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        return pid;
}

int launch_wait_mt5sim(const char *path, pid_t pid, int timeout_ms)
{
        const struct timespec pause = {0, 25 * 1000000};

        for (int waited = 0; waited < timeout_ms; waited += 25) {
                ms_conn *c;
                if (ms_connect(path, &c) == 0) {
                        ms_disconnect(c);
                        return 0;
                }
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        return -1;
                nanosleep(&pause, NULL);
        }
        return -1;
}

int launch_parse_long(const char *text, long lo, long hi, long *out)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
                return -1;
        *out = v;
        return 0;
}
