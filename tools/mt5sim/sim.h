/*
 * mt5sim's server state, shared by its three parts: mt5sim.c (options, sockets, the event
 * loop), serve.c (what each request does, the faults) and writer.c (the snapshot file). One
 * process, one thread: nothing here is locked.
 */
#ifndef HEDGESHM_MT5SIM_SIM_H
#define HEDGESHM_MT5SIM_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "book.h"
#include "proto.h"

struct sim_options {
        const char *socket_path;
        const char *snapshot_path;
        int64_t interval_ms;
        uint64_t seed;
        int seeded;
        unsigned reject_percent;
        int64_t min_life_ms, max_life_ms; /* max 0: positions never close by themselves */
        int netting;
        uint64_t login;
        int64_t deals_window_ms;
        uint64_t first_ticket;
        uint64_t max_positions;
        int verbose;
};

struct sim_stats {
        uint64_t orders, fills, rejections, closes, auto_closes, lost_replies;
        uint64_t snapshots, snapshot_errors, bad_requests;
};

struct sim {
        struct sim_options opt;
        struct book book;
        uint64_t rng;
        struct sim_stats stats;
        /* faults */
        int64_t stall_until;      /* monotonic ms; no snapshot writes before it */
        int64_t disconnect_until; /* monotonic ms; the terminal is offline before it */
        int seq_back;             /* the next snapshot goes backward */
        int malformed;            /* the next snapshot is torn */
        uint64_t lose_replies;    /* fills still to go unanswered */
        uint64_t hangups;         /* fills still to be answered by a hangup */
        unsigned reject_percent;
        /* snapshot writer */
        uint64_t seq;       /* the last sequence written (0: none yet) */
        int64_t next_write; /* monotonic ms */
        int write_failing;  /* the last write failed (log once per streak) */
        int quit;           /* QUIT was asked */
};

/* What a request does to the connection it came on. */
enum sim_reply {
        SIM_REPLY,  /* send the reply */
        SIM_SILENT, /* lose the reply: send nothing */
        SIM_HANGUP, /* close the connection without replying */
};

int64_t sim_mono_ms(void);
int64_t sim_real_ms(void);

/* Logs "mt5sim: ..." on stderr. */
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Next pseudo-random number (splitmix64: small, and the same sequence on every platform). */
uint64_t sim_random(struct sim *s);

/* Runs one request line. The reply (possibly several lines, each ending in '\n') is written
 * to a malloc'd *reply (*reply_len bytes); the return value says whether to send it. *reply
 * is NULL only when memory ran out (then the connection is hung up). */
enum sim_reply sim_serve(struct sim *s, const char *line, char **reply, size_t *reply_len);

/* Closes the positions whose time has come. */
void sim_expire(struct sim *s, int64_t mono);

/* Writes the snapshot file if one is due and no stall holds. Returns 0, or a negative errno
 * when the write failed (logged once per streak of failures). */
int sim_write_due(struct sim *s, int64_t mono);

/* Monotonic ms when sim_write_due or sim_expire next has something to do. */
int64_t sim_next_event(const struct sim *s);

#endif
