/*
 * Helpers of the syncer's tests: snapshots built in memory (struct hf_snapshot with arrays this
 * helper owns), slots driven into a given state through the public API (or by a process that
 * dies holding a lock), and times. Every helper asserts (cmocka), so a test reads as the rule
 * it checks.
 */
#ifndef HEDGESHM_SYNCTEST_H
#define HEDGESHM_SYNCTEST_H

#include <stdint.h>

#include "hedgeshm.h"
#include "snapshot.h"

#define ST_MAX_RECORDS 16
#define ST_LOGIN       77001
#define NS_PER_MS      INT64_C(1000000)
#define NS_PER_S       INT64_C(1000000000)

struct st_snap {
        struct hf_snapshot snap;
        struct hf_position positions[ST_MAX_RECORDS];
        struct hf_order orders[ST_MAX_RECORDS];
        struct hf_deal deals[ST_MAX_RECORDS];
};

/* A valid snapshot of a connected hedging account: seq, time_ms, no records. */
void st_snap_init(struct st_snap *s, uint64_t seq, int64_t time_ms);
/* A position with identifier (== ticket), symbol and comment (a tag, or anything). */
void st_add_position(struct st_snap *s, uint64_t identifier, const char *symbol,
                     const char *comment);
/* An order: position_id 0 opens a position (identifier = ticket). */
void st_add_order(struct st_snap *s, uint64_t ticket, uint64_t position_id, const char *symbol,
                  const char *comment);

/* A deal of position_id (entry 0 in, 1 out), with a comment (a tag, or anything). */
void st_add_deal(struct st_snap *s, uint64_t ticket, uint64_t position_id, int entry,
                 const char *symbol, const char *comment);

/* CLOCK_REALTIME in ns and ms. */
int64_t st_now_ns(void);
int64_t st_now_ms(void);

/* Lock (group, symbol) and return the token, with its tag in tag (HSHM_TAG_LEN + 1 bytes). */
uint64_t st_lock(hshm_store *s, const char *group, const char *symbol, char *tag);
/* Lock, tag and activate with ticket; returns the token. */
uint64_t st_active(hshm_store *s, const char *group, const char *symbol, uint64_t ticket,
                   char *tag);
struct hshm_status st_status(hshm_store *s, const char *group, const char *symbol);

/* Lock (group, symbol) of segment name in a child process that opens the segment, locks, and
 * exits without closing it: a lock whose owner is dead. Returns the token, with its tag in tag
 * (HSHM_TAG_LEN + 1 bytes) when not NULL. */
uint64_t st_lock_dead(const char *name, const char *group, const char *symbol, char *tag);

#endif
