/*
 * mt5sim's snapshot writer: the EA's timer. Every interval it writes the account, the open
 * positions (no pending orders: every order fills or fails at once) and the deals of the last
 * window through the feed's hf_write_atomic, with the sequence one higher than the last even
 * when nothing changed, so a stall is visible as a sequence that stops moving.
 *
 * The snapshot faults live here: a stall skips writes, a disconnect writes connected 0 (with
 * the broker's true positions, so a syncer that acted on such a snapshot would be caught), a
 * seq_back write repeats an older sequence once, and a malformed write leaves a torn file,
 * as a non-atomic FileMove under Wine might.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "snapshot.h"

/* Writes the first half of the snapshot's text, through a temporary file and a rename like a
 * good write, so only the content is wrong. The half is checked to fail hf_parse; if it did
 * not (a format without a trailer), plain garbage goes out instead. */
static int write_torn(const char *path, const struct hf_snapshot *snap)
{
        static const char garbage[] = "\x01\x02 torn snapshot \xff\n";
        struct hf_snapshot check;
        char *buf, tmp[4096];
        size_t len, cut;
        const char *data;
        int fd, err = 0;

        err = hf_format(snap, &buf, &len);
        if (err != 0)
                return err;
        cut = len / 2;
        data = buf;
        if (hf_parse(buf, cut, &check, NULL, 0) == 0) {
                hf_free(&check);
                data = garbage;
                cut = sizeof(garbage) - 1;
        }
        if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
                free(buf);
                return -ENAMETOOLONG;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                err = -errno;
        } else {
                if (write(fd, data, cut) != (ssize_t)cut)
                        err = -EIO;
                if (close(fd) != 0 && err == 0)
                        err = -errno;
                if (err == 0 && rename(tmp, path) != 0)
                        err = -errno;
                if (err != 0)
                        unlink(tmp);
        }
        free(buf);
        return err;
}

static int write_now(struct sim *s, int64_t mono)
{
        int64_t now = sim_real_ms();
        struct hf_snapshot snap = {
            .format = HF_FORMAT,
            .time_ms = now,
            .login = s->opt.login,
            .connected = mono >= s->disconnect_until,
            .margin_mode = s->book.netting ? 0 : 2,
            .n_positions = s->book.n_pos,
            .positions = s->book.pos,
        };
        int torn = s->malformed, err;

        book_prune_deals(&s->book, now - s->opt.deals_window_ms);
        snap.n_deals = s->book.n_deals;
        snap.deals = s->book.deals;
        /* A backward sequence needs a sequence of at least 2 before it (sequences start at 1). */
        if (s->seq_back && s->seq >= 2) {
                snap.seq = s->seq - 1;
                s->seq_back = 0;
                sim_log("fault: snapshot with sequence %llu after %llu",
                        (unsigned long long)snap.seq, (unsigned long long)s->seq);
        } else {
                snap.seq = ++s->seq;
        }
        s->malformed = 0;
        err = torn ? write_torn(s->opt.snapshot_path, &snap)
                   : hf_write_atomic(s->opt.snapshot_path, &snap);
        if (torn && err == 0)
                sim_log("fault: torn snapshot written (sequence %llu)",
                        (unsigned long long)snap.seq);
        return err;
}

int sim_write_due(struct sim *s, int64_t mono)
{
        int err;

        if (mono < s->next_write || mono < s->stall_until)
                return 0;
        /* Keep the cadence, but after a stall or a slow write start again from now. */
        s->next_write += s->opt.interval_ms;
        if (s->next_write <= mono)
                s->next_write = mono + s->opt.interval_ms;
        err = write_now(s, mono);
        if (err != 0) {
                s->stats.snapshot_errors++;
                if (!s->write_failing)
                        sim_log("cannot write snapshot %s: %s", s->opt.snapshot_path,
                                strerror(-err));
                s->write_failing = 1;
                return err;
        }
        if (s->write_failing)
                sim_log("snapshot writes work again");
        s->write_failing = 0;
        s->stats.snapshots++;
        return 0;
}

int64_t sim_next_event(const struct sim *s)
{
        int64_t write_at = s->next_write > s->stall_until ? s->next_write : s->stall_until;
        int64_t expiry = book_next_expiry(&s->book);

        return expiry < write_at ? expiry : write_at;
}
