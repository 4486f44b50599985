/*
 * The state machine. Every transition is one compare-and-swap on the slot's state word
 * (layout in layout.h), from a clean word (WRITING clear) to the next word with WRITING
 * set. The CAS is the transition: who wins it owns the change, and everyone reading the
 * state bits sees the new state from that instant. The winner then writes the payload and
 * publishes the clean word with release order.
 *
 * Why a reader's snapshot is never torn (the seqlock argument): a reader loads the word
 * (w1, WRITING clear), the payload, then the word again (w2), with read barriers between.
 * Any write to the payload happens between a CAS that changed the word and a store that
 * changed it again, and the generation grows at every transition, so no word value ever
 * comes back. w1 == w2 therefore means no transition started or ended during the copy.
 *
 * Fencing: the token is (slot, generation of the lock). It is current only while the slot
 * is HEDGING at that generation or ACTIVE at the next; any reset, error or later lock moves
 * the generation on, and the old token is refused for ever after (HSHM_ESTALE).
 *
 * Transitions:
 *   lock        AVAILABLE(g)            -> HEDGING(g+1), owner = caller, token = g+1
 *   activate    HEDGING(t)              -> ACTIVE(t+1)     with the current token t
 *   reset       HEDGING(t) | ACTIVE(t+1) -> AVAILABLE(+1)  with the current token t
 *   mark_error  AVAILABLE|HEDGING|ACTIVE -> ERROR(+1)
 *   clear       ERROR                   -> AVAILABLE(+1)
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define W_STATE(w) ((enum hshm_state)((w)&W_STATE_MASK))
#define W_GEN(w)   ((w) >> W_GEN_SHIFT)
#define W_OWNER(w) ((uint32_t)(((w)&W_OWNER_MASK) >> W_OWNER_SHIFT))

#define SNAPSHOT_TRIES 100000

static uint64_t make_word(enum hshm_state state, uint32_t owner, uint64_t gen)
{
        return (uint64_t)state | (uint64_t)owner << W_OWNER_SHIFT | gen << W_GEN_SHIFT;
}

static int check_word(uint32_t slot, uint64_t w)
{
        /* The zero bits carry a writer's claim count while WRITING, and nothing otherwise. */
        if (((w & W_ZERO_MASK) != 0 && (w & W_WRITING) == 0) || W_OWNER(w) > HSHM_PROCS_MAX)
                return hsi_fail(HSHM_ECORRUPT, "slot %u state word 0x%016llx is malformed", slot,
                                (unsigned long long)w);
        return 0;
}

/* What a transition decides from the current word: the next word, or a refusal. */
struct change {
        int (*decide)(const struct change *c, uint64_t w, uint64_t *next);
        uint64_t token_gen;
        uint32_t owner;
        /* Generations this transition needs left, counting itself, so that what it starts
         * can always finish: a lock needs three (lock, activate or error, reset or clear),
         * an error two (error, clear), the rest one. */
        uint32_t reserve;
        const char *point; /* its name for hsi_fault_hook */
};

void (*hsi_fault_hook)(const char *point);

static const char *refusal_text(int err)
{
        switch (err) {
        case -EBUSY:
                return "the position is held: HEDGING, ACTIVE or ERROR";
        case HSHM_ESTALE:
                return "the token's lock was reset, marked ERROR or replaced by a newer lock";
        case HSHM_ESTATE:
                return "the slot's state does not allow this transition";
        default:
                return "refused";
        }
}

/*
 * Run the CAS of a transition. On success the slot's word holds *next | W_WRITING and the
 * caller must write the payload and call publish(). A refusal is decided on the state bits
 * even while another writer holds WRITING: its CAS already made that state current.
 */
static int begin(hshm_store *s, uint32_t idx, const struct change *c, uint64_t *next,
                 uint64_t *prev)
{
        uint64_t *word = &s->slots[idx].word;
        uint64_t w = hsi_load(word);

        for (;;) {
                int err = check_word(idx, w);

                if (err != 0)
                        return err;
                err = c->decide(c, w & ~W_WRITING, next);
                if (err != 0)
                        return hsi_fail_lit(err, refusal_text(err));
                if (W_GEN(w) + c->reserve > W_GEN_MAX)
                        return hsi_fail(-EOVERFLOW, "slot %u has used all its generations", idx);
                if ((w & W_WRITING) != 0) {
                        err = hsi_wait_slot_writer(s, idx, w, &w);
                        if (err != 0)
                                return hsi_fail(err,
                                                "slot %u is being written by a process that "
                                                "has not finished",
                                                idx);
                        continue;
                }
                /* Full barrier: the payload stores that follow stay after the CAS. While
                 * WRITING, the owner bits name us, the writer, so that a waiter can tell
                 * if we die here; publish() puts the real owner in. */
                uint64_t seen =
                    hsi_cas(word, w, (*next & ~W_OWNER_MASK) | hsi_writer_bits(s) | W_WRITING);
                if (seen == w) {
                        *prev = w;
                        hsi_fault_point(c->point);
                        return 0;
                }
                w = seen;
        }
}

static void publish(struct hshm_slot *slot, uint64_t next)
{
        /* Payload before the clean word: a reader that sees the word sees the payload. */
        hsi_wmb();
        hsi_store(&slot->word, next);
}

static int decide_lock(const struct change *c, uint64_t w, uint64_t *next)
{
        if (W_STATE(w) != HSHM_AVAILABLE)
                return -EBUSY;
        *next = make_word(HSHM_HEDGING, c->owner, W_GEN(w) + 1);
        return 0;
}

static int token_is_current(const struct change *c, uint64_t w)
{
        return (W_STATE(w) == HSHM_HEDGING && W_GEN(w) == c->token_gen) ||
               (W_STATE(w) == HSHM_ACTIVE && W_GEN(w) == c->token_gen + 1);
}

static int decide_activate(const struct change *c, uint64_t w, uint64_t *next)
{
        if (!token_is_current(c, w))
                return HSHM_ESTALE;
        if (W_STATE(w) != HSHM_HEDGING)
                return HSHM_ESTATE;
        *next = make_word(HSHM_ACTIVE, W_OWNER(w), W_GEN(w) + 1);
        return 0;
}

static int decide_reset(const struct change *c, uint64_t w, uint64_t *next)
{
        if (!token_is_current(c, w))
                return HSHM_ESTALE;
        *next = make_word(HSHM_AVAILABLE, 0, W_GEN(w) + 1);
        return 0;
}

static int decide_release(const struct change *c, uint64_t w, uint64_t *next)
{
        if (!token_is_current(c, w))
                return HSHM_ESTALE;
        if (W_STATE(w) != HSHM_HEDGING)
                return HSHM_ESTATE;
        *next = make_word(HSHM_AVAILABLE, 0, W_GEN(w) + 1);
        return 0;
}

static int decide_error(const struct change *c, uint64_t w, uint64_t *next)
{
        (void)c;
        if (W_STATE(w) == HSHM_ERROR)
                return HSHM_ESTATE;
        *next = make_word(HSHM_ERROR, W_OWNER(w), W_GEN(w) + 1);
        return 0;
}

static int decide_clear(const struct change *c, uint64_t w, uint64_t *next)
{
        (void)c;
        if (W_STATE(w) != HSHM_ERROR)
                return HSHM_ESTATE;
        *next = make_word(HSHM_AVAILABLE, 0, W_GEN(w) + 1);
        return 0;
}

static int writable(const hshm_store *s)
{
        if (s->read_only)
                return hsi_fail(-EROFS, "segment opened read-only");
        if (s->forked)
                return hsi_fail(-ECHILD, "this handle belongs to the parent process: open the "
                                         "segment again after fork()");
        return 0;
}

/* The slot a token names, if it holds a key. */
static int token_slot(const hshm_store *s, uint64_t token, uint32_t *idx)
{
        uint64_t slot = token >> TOKEN_SLOT_SHIFT;

        if (slot >= s->capacity || hsi_load(&s->slots[slot].key_mark) != HSHM_KEY_READY)
                return hsi_fail(HSHM_ENOKEY, "token %llu names slot %llu, which holds no position",
                                (unsigned long long)token, (unsigned long long)slot);
        *idx = (uint32_t)slot;
        return 0;
}

static void clear_owner(struct hshm_slot *slot)
{
        hsi_store(&slot->owner_pid, 0);
        hsi_store(&slot->owner_start_ticks, 0);
        hsi_store(&slot->owner_boot_id[0], 0);
        hsi_store(&slot->owner_boot_id[1], 0);
}

static int lock_as(hshm_store *s, uint32_t owner, const char *group, const char *symbol,
                   uint64_t *token)
{
        uint64_t key[HSI_KEY_WORDS], next, prev, boot[2];
        struct change c = {.decide = decide_lock, .owner = owner, .reserve = 3, .point = "lock"};
        struct hshm_slot *slot;
        uint32_t idx = 0;
        int64_t now;
        int err;

        if ((err = writable(s)) != 0 || (err = hsi_pack_key(group, symbol, key)) != 0 ||
            (err = hsi_index_find(s, key, 1, &idx)) != 0)
                return err;
        err = begin(s, idx, &c, &next, &prev);
        if (err != 0) {
                if (err == -EBUSY)
                        hsi_inc(&s->counters->lock_conflicts);
                return err;
        }
        slot = &s->slots[idx];
        now = hsi_now_ns();
        *token = (uint64_t)idx << TOKEN_SLOT_SHIFT | W_GEN(next);
        memcpy(boot, s->self.boot_id, sizeof(boot));
        hsi_store(&slot->token, *token);
        hsi_store(&slot->lock_ns, now);
        hsi_store(&slot->lease_deadline_ns, now + (int64_t)hsi_load(&s->lease_ns));
        hsi_store(&slot->changed_ns, now);
        hsi_store(&slot->owner_pid, s->self.pid);
        hsi_store(&slot->owner_start_ticks, s->self.start_ticks);
        hsi_store(&slot->owner_boot_id[0], boot[0]);
        hsi_store(&slot->owner_boot_id[1], boot[1]);
        publish(slot, next);
        hsi_inc(&s->counters->locks_won);
        return 0;
}

int hshm_lock(hshm_store *s, const char *group, const char *symbol, uint64_t *token)
{
        return lock_as(s, s->owner, group, symbol, token);
}

int hshm_lock_detached(hshm_store *s, const char *group, const char *symbol, uint64_t *token)
{
        return lock_as(s, 0, group, symbol, token);
}

/* Count a refused token, so a bot acting on a lost lock shows up in the counters. */
static int refused(hshm_store *s, int err)
{
        if (err == HSHM_ESTALE)
                hsi_inc(&s->counters->stale_refusals);
        return err;
}

int hshm_activate(hshm_store *s, uint64_t token, uint64_t ticket, const char *hedge_symbol)
{
        struct change c = {.decide = decide_activate,
                           .token_gen = token & W_GEN_MAX,
                           .reserve = 1,
                           .point = "activate"};
        struct hshm_slot *slot;
        uint64_t next, prev;
        uint32_t idx = 0;
        int64_t now;
        int err;

        if ((err = writable(s)) != 0 || (err = token_slot(s, token, &idx)) != 0)
                return err;
        /* Zero is no position identifier; the syncer could not follow such a hedge. */
        if (ticket == 0)
                return hsi_fail(-EINVAL, "ticket 0 names no position: pass the position's "
                                         "identifier");
        if (hedge_symbol != NULL && hedge_symbol[0] != '\0' &&
            (err = hsi_validate_symbol("hedge symbol", hedge_symbol)) != 0)
                return err;
        err = begin(s, idx, &c, &next, &prev);
        if (err != 0)
                return refused(s, err);
        slot = &s->slots[idx];
        now = hsi_now_ns();
        hsi_store(&slot->ticket, ticket);
        hsi_store(&slot->activate_ns, now);
        hsi_store(&slot->changed_ns, now);
        hsi_pack_string(slot->hedge_symbol, HSHM_HEDGE_FIELD, hedge_symbol);
        publish(slot, next);
        hsi_inc(&s->counters->activations);
        return 0;
}

static int reset_with(hshm_store *s, uint64_t token, const struct change *c)
{
        struct hshm_slot *slot;
        uint64_t next, prev;
        uint32_t idx = 0;
        int err;

        if ((err = writable(s)) != 0 || (err = token_slot(s, token, &idx)) != 0)
                return err;
        err = begin(s, idx, c, &next, &prev);
        if (err != 0)
                return refused(s, err);
        slot = &s->slots[idx];
        hsi_store(&slot->changed_ns, hsi_now_ns());
        publish(slot, next);
        hsi_inc(&s->counters->resets);
        return 0;
}

int hshm_reset(hshm_store *s, uint64_t token)
{
        struct change c = {
            .decide = decide_reset, .token_gen = token & W_GEN_MAX, .reserve = 1, .point = "reset"};

        return reset_with(s, token, &c);
}

int hshm_release(hshm_store *s, uint64_t token)
{
        struct change c = {.decide = decide_release,
                           .token_gen = token & W_GEN_MAX,
                           .reserve = 1,
                           .point = "reset"};

        return reset_with(s, token, &c);
}

int hshm_mark_error(hshm_store *s, const char *group, const char *symbol, const char *reason)
{
        struct change c = {.decide = decide_error, .reserve = 2, .point = "mark_error"};
        uint64_t key[HSI_KEY_WORDS], next, prev;
        struct hshm_slot *slot;
        uint32_t idx = 0;
        int err;

        if ((err = writable(s)) != 0 || (err = hsi_pack_key(group, symbol, key)) != 0 ||
            (err = hsi_index_find(s, key, 1, &idx)) != 0 ||
            (err = begin(s, idx, &c, &next, &prev)) != 0)
                return err;
        /* What the slot held stays as the evidence an operator needs; what it did not hold
         * in its previous state is old and cleared, since ERROR shows every field. */
        slot = &s->slots[idx];
        if (W_STATE(prev) != HSHM_ACTIVE) {
                hsi_store(&slot->ticket, 0);
                hsi_store(&slot->activate_ns, 0);
                hsi_store(&slot->hedge_symbol[0], 0);
        }
        if (W_STATE(prev) == HSHM_AVAILABLE) {
                hsi_store(&slot->lock_ns, 0);
                hsi_store(&slot->lease_deadline_ns, 0);
                clear_owner(slot);
        }
        hsi_store(&slot->changed_ns, hsi_now_ns());
        hsi_pack_string(slot->reason, HSHM_REASON_FIELD, reason);
        publish(slot, next);
        hsi_inc(&s->counters->errors);
        return 0;
}

int hshm_clear(hshm_store *s, const char *group, const char *symbol)
{
        struct change c = {.decide = decide_clear, .reserve = 1, .point = "clear"};
        uint64_t key[HSI_KEY_WORDS], next, prev;
        struct hshm_slot *slot;
        uint32_t idx = 0;
        int err;

        if ((err = writable(s)) != 0 || (err = hsi_pack_key(group, symbol, key)) != 0 ||
            (err = hsi_index_find(s, key, 0, &idx)) != 0 ||
            (err = begin(s, idx, &c, &next, &prev)) != 0)
                return err;
        slot = &s->slots[idx];
        hsi_store(&slot->changed_ns, hsi_now_ns());
        publish(slot, next);
        hsi_inc(&s->counters->clears);
        return 0;
}

int hshm_is_available(hshm_store *s, const char *group, const char *symbol)
{
        uint64_t key[HSI_KEY_WORDS], w;
        uint32_t idx = 0;
        int err;

        if ((err = hsi_pack_key(group, symbol, key)) != 0)
                return err;
        err = hsi_index_find(s, key, 0, &idx);
        if (err == HSHM_ENOKEY)
                return 1;
        if (err != 0)
                return err;
        /* The state bits are current even mid-write: the CAS that set WRITING set them. */
        w = hsi_load(&s->slots[idx].word);
        if ((err = check_word(idx, w)) != 0)
                return err;
        return W_STATE(w) == HSHM_AVAILABLE;
}

/*
 * Which payload fields mean something depends on the state, and only those are read (the
 * rest are reported as zero), which is also why writers leave old values in place:
 *   every state          token, changed_ns
 *   HEDGING, ACTIVE, ERROR   + lock_ns, lease_deadline_ns, owner
 *   ACTIVE, ERROR            + ticket, activate_ns, hedge_symbol
 *   ERROR                    + reason
 * (mark_error clears what the state it leaves did not hold, so ERROR shows no old values.)
 */
static void read_payload(const struct hshm_slot *slot, enum hshm_state state,
                         struct hshm_status *out)
{
        uint64_t boot[2] = {0, 0};

        out->token = hsi_load(&slot->token);
        out->changed_ns = hsi_load(&slot->changed_ns);
        out->lock_ns = out->lease_deadline_ns = out->activate_ns = 0;
        out->ticket = 0;
        out->owner.pid = 0;
        out->owner.start_ticks = 0;
        out->hedge_symbol[0] = out->reason[0] = '\0';
        if (state != HSHM_AVAILABLE) {
                out->lock_ns = hsi_load(&slot->lock_ns);
                out->lease_deadline_ns = hsi_load(&slot->lease_deadline_ns);
                out->owner.pid = hsi_load(&slot->owner_pid);
                out->owner.start_ticks = hsi_load(&slot->owner_start_ticks);
                boot[0] = hsi_load(&slot->owner_boot_id[0]);
                boot[1] = hsi_load(&slot->owner_boot_id[1]);
        }
        memcpy(out->owner.boot_id, boot, sizeof(boot));
        if (state == HSHM_ACTIVE || state == HSHM_ERROR) {
                out->ticket = hsi_load(&slot->ticket);
                out->activate_ns = hsi_load(&slot->activate_ns);
                hsi_unpack_string(slot->hedge_symbol, HSHM_HEDGE_FIELD, out->hedge_symbol,
                                  sizeof(out->hedge_symbol));
        }
        if (state == HSHM_ERROR)
                hsi_unpack_string(slot->reason, HSHM_REASON_FIELD, out->reason,
                                  sizeof(out->reason));
}

/* Copy the payload under the seqlock described at the top of this file. */
static int snapshot(hshm_store *s, uint32_t idx, struct hshm_status *out)
{
        struct hshm_slot *slot = &s->slots[idx];

        if (hsi_load(&slot->key_mark) != HSHM_KEY_READY)
                return hsi_fail_lit(HSHM_ENOKEY, "slot holds no position");
        /* Mark before key: the key was written before the mark. */
        hsi_rmb();
        out->slot = idx;
        hsi_unpack_string(slot->key, HSHM_KEY_FIELD, out->group, sizeof(out->group));
        hsi_unpack_string(slot->key + HSHM_KEY_FIELD / 8, HSHM_KEY_FIELD, out->symbol,
                          sizeof(out->symbol));
        for (int tries = 0; tries < SNAPSHOT_TRIES; tries++) {
                uint64_t w1 = hsi_load(&slot->word), w2;
                int err = check_word(idx, w1);

                if (err != 0)
                        return err;
                if ((w1 & W_WRITING) != 0) {
                        if (hsi_wait_slot_writer(s, idx, w1, &w1) != 0)
                                return hsi_fail(-EAGAIN,
                                                "slot %u is being written by a process "
                                                "that has not finished",
                                                idx);
                        continue;
                }
                /* First word, then payload. */
                hsi_rmb();
                read_payload(slot, W_STATE(w1), out);
                /* Payload, then the word again. */
                hsi_rmb();
                w2 = hsi_load(&slot->word);
                if (w1 != w2)
                        continue;
                out->state = W_STATE(w1);
                out->generation = W_GEN(w1);
                out->owner.entry = out->state == HSHM_AVAILABLE ? 0 : W_OWNER(w1);
                return 0;
        }
        return hsi_fail(-EAGAIN, "slot %u kept changing during %d reads", idx, SNAPSHOT_TRIES);
}

int hshm_status(hshm_store *s, const char *group, const char *symbol, struct hshm_status *out)
{
        uint64_t key[HSI_KEY_WORDS];
        uint32_t idx = 0;
        int err;

        if ((err = hsi_pack_key(group, symbol, key)) != 0 ||
            (err = hsi_index_find(s, key, 0, &idx)) != 0)
                return err;
        return snapshot(s, idx, out);
}

int hshm_status_by_token(hshm_store *s, uint64_t token, struct hshm_status *out)
{
        uint32_t idx = 0;
        int err = token_slot(s, token, &idx);

        return err != 0 ? err : snapshot(s, idx, out);
}

int hshm_slot_status(hshm_store *s, uint32_t slot, struct hshm_status *out)
{
        if (slot >= s->capacity)
                return hsi_fail(-ERANGE, "slot %u is beyond capacity %u", slot, s->capacity);
        return snapshot(s, slot, out);
}
