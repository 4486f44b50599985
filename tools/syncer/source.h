/*
 * Where snapshots come from. Reconciliation sees only bytes, through this small vtable, so a
 * second kind of source (a TCP stream from the EA: MQL5 sockets are clients only, so the
 * syncer would listen) can be added without touching reconcile.c or validate.c.
 *
 * A source is used from one thread: open, then wait/read in a loop, then close.
 */
#ifndef HEDGE_SYNCER_SOURCE_H
#define HEDGE_SYNCER_SOURCE_H

#include <stddef.h>

struct hr_source;

struct hr_source_ops {
        /* Start watching. 0 or a negative errno (a missing snapshot is not an error here). */
        int (*open)(struct hr_source *src);
        /* Wait at most timeout_ms for the latest snapshot to change. 1: it may have changed,
         * read it; 0: nothing changed; negative errno on failure. A signal may end the wait
         * early with 0. */
        int (*wait)(struct hr_source *src, int timeout_ms);
        /* The latest snapshot's bytes in *buf (owned by the source, valid until the next read
         * or close) and *len. 0, -ENOENT (no snapshot there), -EFBIG, or another errno. */
        int (*read)(struct hr_source *src, const char **buf, size_t *len);
        /* Stop and free the source. */
        void (*close)(struct hr_source *src);
        const char *kind; /* "file", ... for logs */
};

struct hr_source {
        const struct hr_source_ops *ops;
        char describe[128]; /* what it reads, for logs: the path, an address */
};

/* Largest snapshot read, in bytes: a million positions of ~200 bytes, with room to spare. */
#define HR_SOURCE_MAX_BYTES (512u << 20)

/*
 * A snapshot file replaced by rename (the EA's and hf_write_atomic's way). Watches the file's
 * directory with inotify (IN_CLOSE_WRITE, IN_MOVED_TO naming the file) and, every poll_ms,
 * compares the file's inode, size, mtime and ctime: the fallback when inotify is unavailable
 * (no watches left, a filesystem without events) or gives nothing (a file written over a
 * Wine or network mount). Returns 0 and *out, -EINVAL (empty path), -ENOMEM.
 */
int hr_file_source_new(const char *path, int poll_ms, struct hr_source **out);

#endif
