/*
 * The file source (see source.h). Why watch the directory and not the file: the writer replaces
 * the file by rename, which gives the path a new inode each time, so a watch on the file would
 * see only the first replacement. The directory's IN_MOVED_TO and IN_CLOSE_WRITE events that
 * carry the file's name say "new content"; anything else about the name (create, delete) just
 * means "look again".
 *
 * inotify can also say nothing at all (filesystems that do not generate events, a watch limit
 * reached, a directory that does not exist yet), so every wait ends with a stat comparison:
 * inode, size, mtime and ctime. With no inotify the wait is plain polling at poll_ms.
 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define WATCH_MASK                                                                                 \
        (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |   \
         IN_MOVE_SELF | IN_ONLYDIR)

/* What a stat says about the file; equal fingerprints mean "same content", as far as we can
 * tell without reading it. exists == 0 is the missing file. */
struct fingerprint {
        int exists;
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
};

struct file_source {
        struct hr_source base; /* first: the vtable's struct hr_source * is this */
        char *path;
        char *dir;
        const char *name; /* inside path */
        int poll_ms;
        int ifd;    /* inotify descriptor, -1 without inotify */
        int wd;     /* watch on dir, -1 while there is none */
        int warned; /* said once that we fell back to polling */
        struct fingerprint seen;
        char *buf;
        size_t cap;
};

static void take_fingerprint(const char *path, struct fingerprint *fp)
{
        struct stat sb;

        memset(fp, 0, sizeof(*fp));
        if (stat(path, &sb) != 0)
                return;
        fp->exists = 1;
        fp->dev = sb.st_dev;
        fp->ino = sb.st_ino;
        fp->size = sb.st_size;
        fp->mtime = sb.st_mtim;
        fp->ctime = sb.st_ctim;
}

static int same_fingerprint(const struct fingerprint *a, const struct fingerprint *b)
{
        if (a->exists != b->exists)
                return 0;
        return !a->exists ||
               (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
                a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec);
}

/* (Re)arm the directory watch; the directory may appear later, or be replaced. */
static void arm_watch(struct file_source *fs)
{
        if (fs->ifd < 0 || fs->wd >= 0)
                return;
        fs->wd = inotify_add_watch(fs->ifd, fs->dir, WATCH_MASK);
        if (fs->wd < 0 && !fs->warned) {
                hr_log(HR_LOG_WARNING, "inotify on %s: %s; polling every %d ms", fs->dir,
                       strerror(errno), fs->poll_ms);
                fs->warned = 1;
        }
}

static int file_open(struct hr_source *src)
{
        struct file_source *fs = (struct file_source *)src;

        fs->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fs->ifd < 0) {
                hr_log(HR_LOG_WARNING, "inotify unavailable (%s); polling %s every %d ms",
                       strerror(errno), fs->path, fs->poll_ms);
                fs->warned = 1;
        }
        arm_watch(fs);
        take_fingerprint(fs->path, &fs->seen);
        return 0;
}

/* Drain queued events. 1 if one concerned our file, or the watch itself changed (the
 * directory went away, the queue overflowed): then look again to be sure. */
static int drain_events(struct file_source *fs)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        int relevant = 0;

        for (;;) {
                ssize_t n = read(fs->ifd, buf, sizeof(buf));

                if (n <= 0)
                        return relevant; /* EAGAIN: queue empty */
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

                        if (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
                                relevant = 1;
                        if (ev->mask & IN_IGNORED)
                                fs->wd = -1; /* directory gone: re-armed on the next wait */
                        if (ev->len > 0 && strcmp(ev->name, fs->name) == 0)
                                relevant = 1;
                        p += sizeof(*ev) + ev->len;
                }
        }
}

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int file_wait(struct hr_source *src, int timeout_ms)
{
        struct file_source *fs = (struct file_source *)src;
        int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);

        for (;;) {
                int64_t left = deadline - mono_ms();
                int step = left < fs->poll_ms ? (int)(left > 0 ? left : 0) : fs->poll_ms;
                struct fingerprint now;
                int event = 0;

                arm_watch(fs);
                if (fs->ifd >= 0 && fs->wd >= 0) {
                        struct pollfd pfd = {.fd = fs->ifd, .events = POLLIN};
                        int r = poll(&pfd, 1, step);

                        if (r < 0 && errno == EINTR)
                                return 0; /* a signal: let the caller look at its flags */
                        if (r > 0)
                                event = drain_events(fs);
                } else if (step > 0) {
                        struct timespec ts = {.tv_sec = step / 1000,
                                              .tv_nsec = (long)(step % 1000) * 1000000};

                        if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
                                return 0;
                }
                /* The stat comparison runs either way: it is the fallback when the events
                 * never come, and it keeps a burst of events from causing rereads of a file
                 * that did not change. */
                take_fingerprint(fs->path, &now);
                if (!same_fingerprint(&now, &fs->seen)) {
                        fs->seen = now;
                        return 1;
                }
                if (event) {
                        /* Same inode, size and times, yet an event named the file: a rewrite
                         * within the timestamp granularity. Read it; the sequence number
                         * tells whether it is new. */
                        return 1;
                }
                if (mono_ms() >= deadline)
                        return 0;
        }
}

static int file_read(struct hr_source *src, const char **out, size_t *len)
{
        struct file_source *fs = (struct file_source *)src;
        size_t n = 0;
        struct stat sb;
        int fd = open(fs->path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (fstat(fd, &sb) != 0) {
                int err = -errno;

                close(fd);
                return err;
        }
        if (!S_ISREG(sb.st_mode)) {
                close(fd);
                return -EINVAL; /* a directory or a device is no snapshot */
        }
        /* Read to EOF whatever fstat said: a file written in place may grow while we read. */
        for (;;) {
                ssize_t r;

                if (n == fs->cap) {
                        size_t cap = fs->cap ? fs->cap * 2 : (size_t)sb.st_size + 4096;
                        char *p;

                        if (cap > HR_SOURCE_MAX_BYTES)
                                cap = HR_SOURCE_MAX_BYTES;
                        if (cap <= n) {
                                close(fd);
                                return -EFBIG;
                        }
                        p = realloc(fs->buf, cap);
                        if (p == NULL) {
                                close(fd);
                                return -ENOMEM;
                        }
                        fs->buf = p;
                        fs->cap = cap;
                }
                r = read(fd, fs->buf + n, fs->cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        int err = -errno;

                        close(fd);
                        return err;
                }
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        close(fd);
        *out = fs->buf;
        *len = n;
        return 0;
}

static void file_close(struct hr_source *src)
{
        struct file_source *fs = (struct file_source *)src;

        if (fs == NULL)
                return;
        if (fs->ifd >= 0)
                close(fs->ifd);
        free(fs->buf);
        free(fs->path);
        free(fs->dir);
        free(fs);
}

static const struct hr_source_ops file_ops = {
    .open = file_open,
    .wait = file_wait,
    .read = file_read,
    .close = file_close,
    .kind = "file",
};

int hr_file_source_new(const char *path, int poll_ms, struct hr_source **out)
{
        struct file_source *fs;
        const char *slash;

        if (path == NULL || path[0] == '\0' || path[strlen(path) - 1] == '/')
                return -EINVAL;
        fs = calloc(1, sizeof(*fs));
        if (fs == NULL || (fs->path = strdup(path)) == NULL) {
                free(fs);
                return -ENOMEM;
        }
        slash = strrchr(fs->path, '/');
        if (slash == NULL)
                fs->dir = strdup(".");
        else if (slash == fs->path)
                fs->dir = strdup("/");
        else
                fs->dir = strndup(fs->path, (size_t)(slash - fs->path));
        if (fs->dir == NULL) {
                free(fs->path);
                free(fs);
                return -ENOMEM;
        }
        fs->name = slash ? slash + 1 : fs->path;
        fs->poll_ms = poll_ms > 0 ? poll_ms : 100;
        fs->ifd = -1;
        fs->wd = -1;
        fs->base.ops = &file_ops;
        snprintf(fs->base.describe, sizeof(fs->base.describe), "%s", path);
        *out = &fs->base;
        return 0;
}
