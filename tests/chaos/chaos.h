/*
 * The chaos test's shared declarations: its options, the tally the bots and the conductor
 * share (an anonymous shared mapping made before the first fork), and the functions of its
 * four files: main.c (the run's phases), procs.c (child processes), bot.c (one bot) and
 * audit.c (the checks against the broker's ledger and the segment).
 */
#ifndef HEDGESHM_CHAOS_H
#define HEDGESHM_CHAOS_H

#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "hedgeshm.h"

#define CHAOS_MAX_BOTS 64

/* The syncer's timing, and the lease every bot sets: short, so that a run sees many leases
 * run out and many orphans judged. */
#define CHAOS_INTERVAL_MS 50
#define CHAOS_GRACE_MS    300
#define CHAOS_STALE_MS    1000
#define CHAOS_LEASE_MS    3000

/* Ways a bot dies. The random killer's SIGKILL lands anywhere; the others are the named
 * points of the protocol, where the bot kills itself. */
enum chaos_kill {
        KILL_RANDOM,      /* the killer's SIGKILL, at any moment */
        KILL_AFTER_LOCK,  /* locked, order not sent yet */
        KILL_AFTER_SEND,  /* order sent (whatever came back), slot not activated or reset */
        KILL_IN_ACTIVATE, /* inside hshm_activate, after its CAS, before its payload */
        KILL_IN_RESET,    /* inside hshm_reset, after its CAS, before its payload */
        KILL_AT_STOP,     /* still running when the run ended, and killed then */
        KILL_KINDS
};

struct chaos_opts {
        const char *name; /* the segment */
        const char *sock; /* mt5sim's socket */
        const char *snap; /* the snapshot file */
        const char *dir;  /* the run's temporary directory: socket, snapshot, logs */
        const char *mt5sim, *syncer;
        int seconds, bots, positions, keep;
        unsigned seed;
        /* Chance, per thousand passes through the point, that a bot kills itself there. */
        unsigned die_permille[KILL_KINDS];
};

/* Per bot, written by the bot, read by the conductor. */
struct chaos_bot_cell {
        int32_t pid;
        int32_t dying; /* 1 + enum chaos_kill, set just before a bot kills itself */
};

/* Counters the bots add to with atomic increments. */
struct chaos_tally {
        long orders, fills, rejections, unknown, never_sent;
        long unknown_adopted, unknown_released, unknown_moved_on, unknown_undecided;
        long acted_first;   /* a fill the syncer had adopted (or marked) before the bot activated */
        long lock_lost;     /* the bot's token was no longer current when it acted */
        long lease_ran_out; /* the lease ran out before the order was sent: given up */
        long busy, conflicts, again, bot_errors;
        int stop; /* set by the conductor: finish the current order and exit */
        struct chaos_bot_cell cell[CHAOS_MAX_BOTS];
};

/* bot.c: the bot in cell number cell, until t->stop. Returns its exit status. */
int chaos_bot(const struct chaos_opts *o, struct chaos_tally *t, int cell, unsigned seed);

/* procs.c */
int64_t chaos_now_ms(void);  /* CLOCK_MONOTONIC */
int64_t chaos_wall_ms(void); /* CLOCK_REALTIME, the clock of slot and snapshot times */
int64_t chaos_wall_ns(void);
void chaos_sleep_ms(long ms);
void chaos_bump(long *counter);
long chaos_read(const long *counter);
/* mt5sim and hedge-syncer with the run's settings, logging into its directory. */
pid_t chaos_start_mt5sim(const struct chaos_opts *o);
pid_t chaos_start_syncer(const struct chaos_opts *o);
/* Sends sig to pid and reaps it. */
void chaos_stop_child(pid_t pid, int sig);

/* audit.c: what the checks found, and the figures they print. */
struct chaos_audit {
        long audits, hedges_checked, untracked;
        long cleared; /* ERROR slots of interrupted activations cleared once their hedge closed */
        long violations;
        uint64_t duplicates;
        /* Hedges already reported untracked: each is one violation, however many audits see
         * it. malloc'd. */
        uint64_t *reported;
        size_t n_reported, cap_reported;
};

/* Every open hedge that the syncer has had time to see must be tracked: one audit, run while
 * the chaos goes on. Prints and counts what it finds. */
void chaos_audit_open_hedges(hshm_store *s, ms_conn *c, struct chaos_audit *a);
/* What a person does with the ERROR an interrupted activation leaves (docs/reconcile.md, rule
 * E): once the broker shows no hedge open under the slot's key, hshm_clear it. Without this a
 * long run would end with every position in ERROR. */
void chaos_clear_interrupted(hshm_store *s, ms_conn *c, struct chaos_audit *a);
/* The ledger's duplicates, at any moment. */
void chaos_audit_ledger(ms_conn *c, struct chaos_audit *a, int final);
/* After the settle: checks (2), (3) and (5) on the quiet system. */
void chaos_final_checks(hshm_store *s, ms_conn *c, struct chaos_audit *a);
/* A violation: printed with its name, and counted. */
void chaos_violation(struct chaos_audit *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
