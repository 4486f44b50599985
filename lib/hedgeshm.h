/*
 * hedgeshm: hedge state of trading positions shared by many processes through one POSIX
 * shared-memory segment, with no server in the path.
 *
 * A position is keyed by (group, symbol). Its slot moves
 *
 *     AVAILABLE --lock--> HEDGING --activate--> ACTIVE --reset--> AVAILABLE
 *                         HEDGING --reset--> AVAILABLE
 *     any state but ERROR --mark_error--> ERROR --clear--> AVAILABLE
 *
 * and every transition is one compare-and-swap on the slot's 64-bit state word, so two
 * processes can never both win the same position. hshm_lock() returns a fencing token; only
 * the current token can activate or reset, so a process that lost its lock (or an old
 * command line) can never touch somebody else's hedge.
 *
 * Conventions: every function returning int gives 0 (or a documented non-negative value) on
 * success and a negative error on failure: a negative errno, or one of the HSHM_E* codes
 * below. hshm_strerror() names any of them; hshm_last_detail() adds what exactly was wrong
 * for the last failure in the calling thread.
 *
 * Thread safety: a handle may be used from many threads at once. Do not use a handle in a
 * child after fork(): open the segment again in the child, so the child is its own owner.
 */
#ifndef HEDGESHM_H
#define HEDGESHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HSHM_VERSION_MAJOR 0
#define HSHM_VERSION_MINOR 1
#define HSHM_VERSION_PATCH 0

/* Name used when neither the caller nor HEDGESHM_NAME names a segment. */
#define HSHM_DEFAULT_NAME "/hedgeshm"
#define HSHM_NAME_ENV     "HEDGESHM_NAME"

/* Longest strings, in bytes, without the terminating NUL. 31 fits every MT5 symbol name. */
#define HSHM_GROUP_MAX  31
#define HSHM_SYMBOL_MAX 31
#define HSHM_REASON_MAX 63

/* Capacity (number of position slots) accepted by hshm_create(). */
#define HSHM_CAPACITY_MIN     1u
#define HSHM_CAPACITY_MAX     (1u << 20)
#define HSHM_CAPACITY_DEFAULT 4096u

/* Lease a lock carries unless hshm_set_lease_ms() says otherwise. */
#define HSHM_LEASE_DEFAULT_MS 60000u

/* Library error codes; everything else is a negative errno. */
enum {
        HSHM_ENOTSEG = -4001,  /* the segment is not a hedgeshm segment (bad magic) */
        HSHM_EVERSION = -4002, /* made by another format version of hedgeshm */
        HSHM_ELAYOUT = -4003,  /* made by a build with another slot/word/cache-line layout */
        HSHM_ETRUNC = -4004,   /* segment smaller than its header says */
        HSHM_ECORRUPT = -4005, /* a value read from the segment is out of range */
        HSHM_ESTALE = -4006,   /* token is not the slot's current one */
        HSHM_ESTATE = -4007,   /* slot is not in a state this transition starts from */
        HSHM_ENOKEY = -4008,   /* no slot has this key yet */
        HSHM_EINIT = -4009,    /* segment never finished initialising */
        HSHM_ENOTAG = -4010,   /* text holds no valid hedgeshm order tag */
};

enum hshm_state {
        HSHM_AVAILABLE = 0,
        HSHM_HEDGING = 1,
        HSHM_ACTIVE = 2,
        HSHM_ERROR = 3,
};

typedef struct hshm_store hshm_store;

struct hshm_create_opts {
        uint32_t capacity; /* slots; 0 means HSHM_CAPACITY_DEFAULT */
        mode_t mode;       /* permission bits, applied with fchmod; 0 means 0600 */
        gid_t gid;         /* group to share with; 0 or (gid_t)-1 keeps the creator's */
};

/* hshm_open() flags. */
#define HSHM_OPEN_RDONLY 1u /* map read-only: status, stats and listing only */

/* Owner of a lock, as recorded when it was taken. */
struct hshm_owner {
        uint32_t entry; /* process-table entry + 1; 0 for a detached lock (or none) */
        int32_t pid;
        uint64_t start_ticks; /* process start, clock ticks after boot (/proc/PID/stat) */
        uint8_t boot_id[16];  /* /proc/sys/kernel/random/boot_id of the owner's boot */
};

/* A consistent snapshot of one slot: every field belongs to the same generation. */
struct hshm_status {
        uint32_t slot;
        enum hshm_state state;
        uint64_t generation;
        uint64_t token; /* token of the current or last lock; 0 if never locked */
        struct hshm_owner owner;
        uint64_t ticket;
        int64_t lock_ns; /* CLOCK_REALTIME_COARSE, ns (lags by a tick or two); 0 when unset */
        int64_t lease_deadline_ns;
        int64_t activate_ns;
        int64_t changed_ns;
        char group[HSHM_GROUP_MAX + 1];
        char symbol[HSHM_SYMBOL_MAX + 1];
        char hedge_symbol[HSHM_SYMBOL_MAX + 1];
        char reason[HSHM_REASON_MAX + 1];
};

/* Counters summed over every process that used the segment. */
struct hshm_stats {
        uint64_t locks_won;
        uint64_t lock_conflicts;
        uint64_t activations;
        uint64_t resets;
        uint64_t errors;
        uint64_t clears;
        uint64_t stale_refusals;
        uint64_t keys_inserted;
        uint64_t writer_repairs; /* slots left mid-write by a dead process, completed */
        uint64_t insert_repairs; /* index entries left half-inserted by a dead process */
        uint64_t procs_swept;    /* process-table entries of dead processes freed */
};

/* Shape of an attached segment. */
struct hshm_info {
        uint32_t format_version;
        uint32_t capacity;
        uint32_t used; /* slots that hold a key */
        uint32_t index_buckets;
        uint32_t slot_size;
        uint32_t procs_max;
        uint32_t procs_registered;
        uint64_t size_bytes;
        uint64_t instance_id; /* random, new at every creation */
        int64_t created_ns;
        int64_t clock_resolution_ns; /* tick of the coarse clock slot times are read from */
        int read_only;
};

/* Name of the segment to use: name if not NULL, else $HEDGESHM_NAME, else the default. */
const char *hshm_resolve_name(const char *name);

/* 0 if name is a valid POSIX shared-memory name: '/', then 1..255 bytes of printable ASCII
 * without spaces or '/'. Else -EINVAL with the reason in hshm_last_detail(). */
int hshm_validate_name(const char *name);

/* 0 if the key fits: 1..HSHM_GROUP_MAX / HSHM_SYMBOL_MAX bytes of printable ASCII without
 * spaces. Otherwise -EINVAL. */
int hshm_validate_key(const char *group, const char *symbol);

/* Create a segment (fails if it exists). opts may be NULL for defaults.
 * Returns 0, -EINVAL (name, capacity or mode), -EEXIST, -EACCES, -EPERM (gid),
 * -ENOSPC (no room in /dev/shm for the whole segment), -ENOMEM. */
int hshm_create(const char *name, const struct hshm_create_opts *opts);

/* Attach to an existing segment. Waits up to about a second for a segment still being
 * created. A read-write handle takes one of the segment's HSHM_PROCS_MAX process entries
 * (entries of dead processes are taken over) until hshm_close.
 * Returns 0 and *out, or -EINVAL, -ENOENT, -EACCES, -ENOMEM, -EUSERS (every process entry
 * held by a live handle), HSHM_ENOTSEG, HSHM_EVERSION, HSHM_ELAYOUT, HSHM_ETRUNC,
 * HSHM_ECORRUPT, HSHM_EINIT. */
int hshm_open(const char *name, unsigned flags, hshm_store **out);

/* Detach and free the handle. NULL is ignored. */
void hshm_close(hshm_store *store);

/* Remove the segment's name. Attached processes keep their mapping until they close.
 * Returns 0, -EINVAL, -ENOENT, -EACCES. */
int hshm_destroy(const char *name);

/* Lease given to locks taken through this handle from now on (1 ms .. 1 day). -EINVAL
 * when out of range. */
int hshm_set_lease_ms(hshm_store *store, uint32_t lease_ms);

/* hshm_lock() without an owner: the lock is held by its lease alone, for as long as the lease
 * runs, whether or not the caller lives. For command-line tools, whose process exits while
 * the lock must stay meaningful. Returns as hshm_lock(). */
int hshm_lock_detached(hshm_store *store, const char *group, const char *symbol, uint64_t *token);

/* AVAILABLE -> HEDGING. Inserts the key on first use. On success *token names this lock.
 * Returns 0, -EBUSY (slot is not AVAILABLE), -EINVAL (key), -ENOSPC (table full),
 * -EAGAIN (slot or key being written by a process that did not finish in time),
 * -EOVERFLOW (slot's generations exhausted), -EROFS, HSHM_ECORRUPT. */
int hshm_lock(hshm_store *store, const char *group, const char *symbol, uint64_t *token);

/* HEDGING -> ACTIVE with the hedge's MT5 position identifier as its ticket (never 0: the
 * syncer follows the hedge by it) and the hedge's symbol (NULL or "" for none, otherwise
 * checked like a key's symbol).
 * Returns 0, HSHM_ESTALE (token not current), HSHM_ESTATE (not HEDGING), -EINVAL,
 * -EAGAIN, -EROFS, HSHM_ECORRUPT. */
int hshm_activate(hshm_store *store, uint64_t token, uint64_t ticket, const char *hedge_symbol);

/* HEDGING or ACTIVE -> AVAILABLE. Returns 0, HSHM_ESTALE, HSHM_ESTATE, -EINVAL, -EAGAIN,
 * -EROFS, HSHM_ECORRUPT. */
int hshm_reset(hshm_store *store, uint64_t token);

/* HEDGING -> AVAILABLE only: giving up a lock whose order never filled. Refused with
 * HSHM_ESTATE once the slot is ACTIVE (the syncer adopted the hedge after all), which is
 * what makes it the safe call after an unknown order outcome. Otherwise as hshm_reset(). */
int hshm_release(hshm_store *store, uint64_t token);

/* Any state but ERROR -> ERROR with a reason (truncated to HSHM_REASON_MAX). Inserts the key
 * on first use. Returns 0, HSHM_ESTATE (already ERROR), -EINVAL, -ENOSPC, -EAGAIN,
 * -EOVERFLOW, -EROFS, HSHM_ECORRUPT. */
int hshm_mark_error(hshm_store *store, const char *group, const char *symbol, const char *reason);

/* ERROR -> AVAILABLE: the manual way out of ERROR. Returns 0, HSHM_ENOKEY, HSHM_ESTATE,
 * -EINVAL, -EAGAIN, -EOVERFLOW, -EROFS, HSHM_ECORRUPT. */
int hshm_clear(hshm_store *store, const char *group, const char *symbol);

/* 1 if the position may be locked now (AVAILABLE, or never used), 0 if not, or -EINVAL,
 * -EAGAIN, HSHM_ECORRUPT. Never inserts the key. */
int hshm_is_available(hshm_store *store, const char *group, const char *symbol);

/* Consistent snapshot of the key's slot. Returns 0, HSHM_ENOKEY, -EINVAL, -EAGAIN,
 * HSHM_ECORRUPT. */
int hshm_status(hshm_store *store, const char *group, const char *symbol, struct hshm_status *out);

/* Snapshot of the slot a token names (whatever its current generation). Returns 0,
 * HSHM_ENOKEY (token names no keyed slot), -EAGAIN, HSHM_ECORRUPT. */
int hshm_status_by_token(hshm_store *store, uint64_t token, struct hshm_status *out);

/* Snapshot of slot number slot (0 .. info.used-1), for listing. Returns 0, HSHM_ENOKEY
 * (slot holds no key), -ERANGE, -EAGAIN, HSHM_ECORRUPT. */
int hshm_slot_status(hshm_store *store, uint32_t slot, struct hshm_status *out);

/* Counters summed over all processes. Returns 0 or HSHM_ECORRUPT. */
int hshm_stats(hshm_store *store, struct hshm_stats *out);

/* Shape of the segment. Returns 0 or HSHM_ECORRUPT. */
int hshm_info(hshm_store *store, struct hshm_info *out);

/*
 * Order tags. Every hedge order a bot places carries, in its MT5 comment, the tag of the lock
 * it placed it under: the segment instance, the slot, the lock's generation and a fingerprint
 * of the key, as HSHM_TAG_LEN characters of [0-9A-Z] with a check character, so that the
 * syncer can tell which slot and which lock a position belongs to, even after the segment
 * was recreated (docs/tags.md says what survives which broker behaviour).
 */
#define HSHM_TAG_LEN 25

struct hshm_tag {
        uint32_t instance;   /* low 20 bits of the segment's instance_id */
        uint32_t slot;       /* slot number in that segment */
        uint64_t generation; /* the lock's generation */
        uint32_t key_print;  /* 25-bit fingerprint of (group, symbol), the same in every segment */
};

/* The tag of a current lock into buf (at least HSHM_TAG_LEN + 1 bytes). Returns 0,
 * HSHM_ESTALE (token not current), HSHM_ENOKEY, -EINVAL (buffer), -EAGAIN, HSHM_ECORRUPT. */
int hshm_tag_format(hshm_store *store, uint64_t token, char *buf, size_t len);

/* Find and decode a tag anywhere in text (brokers may add text around it). Pure function.
 * Returns 0, or HSHM_ENOTAG when no well-formed tag with a valid check character is in it. */
int hshm_tag_parse(const char *text, struct hshm_tag *out);

/* What a parsed tag names in this segment. */
struct hshm_tag_match {
        uint32_t slot;
        int same_instance; /* 1: the tag was made in this segment and token is its lock */
        uint64_t token;    /* the lock's token when same_instance, else 0 */
};

/* Resolve a tag against this segment: by slot number when the tag was made here, else by key
 * fingerprint among the slots in use. Returns 0, HSHM_ENOKEY (no slot holds that key; or
 * the fingerprint matches several slots), -EAGAIN, HSHM_ECORRUPT. */
int hshm_tag_resolve(hshm_store *store, const struct hshm_tag *tag, struct hshm_tag_match *out);

/*
 * Sync health, published in the segment by the one syncer process (hedge-syncer) and read
 * by bots: when the syncer is absent or degraded (stale or missing broker snapshots, or a
 * terminal without connection), nothing is being reset and bots should know it.
 */
enum hshm_sync_health {
        HSHM_SYNC_ABSENT = 0,   /* no syncer ever ran, or its heartbeat stopped */
        HSHM_SYNC_OK = 1,       /* reconciling against fresh snapshots */
        HSHM_SYNC_DEGRADED = 2, /* running, but its feed is stale, missing or disconnected */
};

#define HSHM_SYNC_REASON_MAX 63

struct hshm_sync_counters {
        uint64_t cycles;
        uint64_t snapshots_ok;
        uint64_t snapshots_rejected;
        uint64_t resets_closed; /* ACTIVE slots reset because their hedge closed */
        uint64_t adoptions;     /* untracked tagged hedges adopted as ACTIVE */
        uint64_t duplicates;    /* slots marked ERROR for a duplicate hedge */
        uint64_t tag_warnings;  /* tags that did not parse or did not resolve */
        uint64_t errors_marked; /* slots marked ERROR for any reason */
        uint64_t
            orphans_released; /* dead owners' or expired locks released: no hedge at the broker */
        uint64_t orphans_adopted; /* dead owners' or expired locks whose hedge the broker had */
        uint64_t orphans_waiting; /* gauge: orphaned locks waiting for a fresh snapshot */
        uint64_t leases_expired;  /* gauge: live owners past their lease, reported only */
        uint64_t repairs;         /* what hshm_repair fixed, summed over cycles */
        uint64_t spare[3];        /* zero */
};

struct hshm_sync {
        int32_t pid;              /* the syncer's pid; 0 if none ever ran */
        uint32_t interval_ms;     /* the heartbeat period it promises */
        int64_t started_ns;       /* CLOCK_REALTIME */
        int64_t heartbeat_ns;     /* CLOCK_REALTIME of its last cycle */
        uint64_t snapshot_seq;    /* sequence number of the last good snapshot */
        int64_t snapshot_time_ms; /* time of the last reconciled snapshot: its terminal time, or
                                   * when the syncer read it if earlier */
        int degraded;
        uint32_t grace_ms;        /* how much newer than an order a snapshot must be before
                                   * the syncer trusts it to show that order (--grace-ms) */
        int64_t degraded_since_ns;
        char degraded_reason[HSHM_SYNC_REASON_MAX + 1];
        struct hshm_sync_counters counters;
        enum hshm_sync_health health; /* filled in by hshm_sync_read() */
};

/* Read the sync block consistently and judge health at now (heartbeat older than three
 * intervals plus a second is ABSENT). Returns 0, -EAGAIN, HSHM_ECORRUPT. */
int hshm_sync_read(hshm_store *store, struct hshm_sync *out);

/* Become the segment's only syncer, for as long as this handle stays open: an
 * open-file-description lock the kernel drops when the process dies. Returns 0, -EBUSY
 * (another syncer holds it; its pid is in hshm_sync_read), -EROFS, or an errno. */
int hshm_sync_claim(hshm_store *store);

/* Publish the sync block (health is ignored). Returns 0, -EPERM (this handle has not
 * claimed the syncer role), -EINVAL. */
int hshm_sync_publish(hshm_store *store, const struct hshm_sync *in);

/*
 * Settling an order whose outcome is unknown (its reply was lost, or MT5 answered with a
 * timeout): the hedge may have opened, so the bot must neither reset its lock nor keep it
 * for ever. Keep the slot HEDGING and call this from time to time with the lock's token and
 * sent_ns, the CLOCK_REALTIME read after the order call returned (never earlier than the
 * send). Once the syncer has reconciled a snapshot taken more than grace after sent_ns (the
 * larger of grace_ms and the syncer's published grace), that snapshot showed the order if it
 * reached the broker at all, and the slot tells the outcome:
 *   HSHM_SETTLED_RELEASED  the slot was still HEDGING under this lock: nothing filled; the
 *                          lock is released (hshm_release) and the position is free again
 *   HSHM_SETTLED_ADOPTED   the syncer adopted the hedge: ACTIVE, the token's activation
 *   HSHM_SETTLED_MOVED_ON  the lock was judged since (adopted and closed, marked ERROR,
 *                          released as an orphan): nothing is left for the bot to do
 * A lock no longer HEDGING under the token is reported at once, without a snapshot.
 * Returns one of those, or -EAGAIN (no healthy syncer, or no snapshot that recent yet; call
 * again later), -EINVAL (sent_ns before the lock or in the future: not CLOCK_REALTIME?),
 * HSHM_ENOKEY, HSHM_ECORRUPT, or what hshm_release() returns.
 */
enum hshm_settled {
        HSHM_SETTLED_RELEASED = 0,
        HSHM_SETTLED_ADOPTED = 1,
        HSHM_SETTLED_MOVED_ON = 2,
};

int hshm_settle_unknown(hshm_store *store, uint64_t token, int64_t sent_ns, uint32_t grace_ms);

/*
 * Liveness of a slot's owner. Every attached read-write handle holds an open-file-description
 * lock on its process-table entry, which the kernel drops when the process dies (whatever
 * its pid namespace), and a lock records its owner's entry, pid, start time and boot id. An
 * owner is alive only if its entry is still locked and still names that same identity.
 */
enum hshm_liveness {
        HSHM_OWNER_NONE = 0,     /* the slot has no lock owner (AVAILABLE or ERROR) */
        HSHM_OWNER_ALIVE = 1,    /* the process that took the lock is running */
        HSHM_OWNER_DEAD = 2,     /* it is not: the lock is an orphan */
        HSHM_OWNER_DETACHED = 3, /* a detached lock: held by its lease alone */
};

/* Judge the owner of the slot st was read from. Returns an enum hshm_liveness value, or a
 * negative error (HSHM_ECORRUPT). */
int hshm_owner_liveness(hshm_store *store, const struct hshm_status *st);

/*
 * Repair what dead processes left behind: slots whose writer died between its CAS and its
 * publish (completed conservatively: an interrupted lock stays HEDGING with an expired lease,
 * an interrupted activation becomes ERROR because its ticket cannot be trusted), index
 * buckets left RESERVED by a dead inserter (made DEAD), and process-table entries of dead
 * processes (freed). Waits on such writers repair what they meet too; this sweep is for the
 * syncer to run every cycle. Counts go to hshm_stats. Returns the number of repairs, or
 * -EROFS, HSHM_ECORRUPT.
 */
int hshm_repair(hshm_store *store);

/* 0 while the segment's name still names this segment; -EIDRM once it was removed
 * (hedgectl destroy, or systemd's RemoveIPC at logout) or replaced by a new segment. */
int hshm_check_linked(hshm_store *store);

/* 1 if the slot's lease has run out at time now_ns (CLOCK_REALTIME), else 0. */
int hshm_lease_expired(const struct hshm_status *st, int64_t now_ns);

/* "AVAILABLE", "HEDGING", "ACTIVE", "ERROR", or "?" */
const char *hshm_state_name(enum hshm_state state);

/* Message for any value these functions return. */
const char *hshm_strerror(int err);

/* What exactly went wrong in this thread's last failing call; "" if nothing was recorded. */
const char *hshm_last_detail(void);

#ifdef __cplusplus
}
#endif
#endif
