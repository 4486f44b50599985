/*
 * First use of a key: every round, all children are released together on a key nobody has
 * used yet ("first", "K<round>"), so every hshm_lock() also races to insert the key into
 * the index. Exactly one must win, and the key must end up with exactly one slot: after
 * the round the winner sees info.used grown by one, and at the end every key has its own
 * slot, the slot table lists each key once, and nothing else was inserted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#include "layout.h"
#include "mp.h"

#define ROUNDS 40000
#define GROUP  "first"

struct shared {
        const char *name;
        uint32_t used_before; /* info.used when the children start */
        pthread_barrier_t start;
        pthread_barrier_t tried;
        unsigned long arrived[ROUNDS]; /* spinning start line behind the start barrier */
        uint32_t winners[ROUNDS];
        uint64_t token[ROUNDS];
        uint64_t conflicts[MP_CHILDREN];
        uint64_t retries[MP_CHILDREN];
};

static void key_of(int round, char *symbol, size_t size)
{
        snprintf(symbol, size, "K%d", round);
}

static int child(int index, void *arg)
{
        struct shared *sh = arg;
        hshm_store *store = mp_open(sh->name, 0);

        for (int r = 0; r < ROUNDS; r++) {
                char symbol[16];
                uint64_t token = 0;
                struct hshm_info info;
                struct hshm_status st;
                int rc;

                key_of(r, symbol, sizeof(symbol));
                mp_barrier_wait(&sh->start);
                mp_start_line(&sh->arrived[r], MP_CHILDREN);
                /* -EAGAIN: an inserter or writer was preempted mid-way; not an answer. */
                while ((rc = hshm_lock(store, GROUP, symbol, &token)) == -EAGAIN)
                        sh->retries[index]++;
                if (rc == 0) {
                        uatomic_inc(&sh->winners[r]);
                        sh->token[r] = token;
                } else if (rc == -EBUSY) {
                        sh->conflicts[index]++;
                } else {
                        MP_FAIL("round %d: hshm_lock(%s): %s (%d) %s", r, symbol, hshm_strerror(rc),
                                rc, hshm_last_detail());
                }
                mp_barrier_wait(&sh->tried);
                /* Checked here too, so that two winners are reported before they collide. */
                MP_CHECK(sh->winners[r] == 1, "round %d: %u processes won the lock", r,
                         sh->winners[r]);
                if (rc != 0)
                        continue;
                /* Every attempt of this round has returned: one slot more, not eight. */
                MP_OK(hshm_info(store, &info));
                MP_CHECK(info.used == sh->used_before + (uint32_t)r + 1,
                         "round %d: info.used %u, expected %u", r, info.used,
                         sh->used_before + r + 1);
                MP_OK(hshm_status(store, GROUP, symbol, &st));
                MP_CHECK(st.state == HSHM_HEDGING && st.token == token &&
                             st.slot == token >> TOKEN_SLOT_SHIFT,
                         "round %d: status %s token %#" PRIx64 " slot %u after lock %#" PRIx64, r,
                         hshm_state_name(st.state), st.token, st.slot, token);
                MP_OK(hshm_activate(store, token, (uint64_t)r + 1, NULL));
                MP_OK(hshm_reset(store, token));
        }
        hshm_close(store);
        return 0;
}

/* Every slot in the table holds one of our keys, and no key holds two slots. */
static void check_slot_table(hshm_store *store, const struct hshm_info *info,
                             const uint32_t *slot_of)
{
        unsigned char *seen = calloc(ROUNDS, 1);

        MP_CHECK(seen, "calloc");
        for (uint32_t s = 0; s < info->used; s++) {
                struct hshm_status st;
                char *end;
                long r;

                MP_OK(hshm_slot_status(store, s, &st));
                MP_CHECK(strcmp(st.group, GROUP) == 0 && st.symbol[0] == 'K',
                         "slot %u holds an unexpected key (%s, %s)", s, st.group, st.symbol);
                r = strtol(st.symbol + 1, &end, 10);
                MP_CHECK(*end == '\0' && r >= 0 && r < ROUNDS, "slot %u: key %s", s, st.symbol);
                MP_CHECK(!seen[r], "key %s holds two slots (%u and %u)", st.symbol, slot_of[r], s);
                MP_CHECK(slot_of[r] == s, "key %s: status says slot %u, table slot %u", st.symbol,
                         slot_of[r], s);
                seen[r] = 1;
        }
        free(seen);
}

int main(void)
{
        struct shared *sh = mp_shared(sizeof(*sh));
        uint32_t *slot_of = calloc(ROUNDS, sizeof(*slot_of));
        uint64_t conflicts = 0, retries = 0;
        struct hshm_info info;
        struct hshm_stats stats;
        hshm_store *store;

        MP_CHECK(slot_of, "calloc");
        sh->name = mp_create("first-use", ROUNDS + 64);
        store = mp_open(sh->name, HSHM_OPEN_RDONLY);
        MP_OK(hshm_info(store, &info));
        sh->used_before = info.used;
        mp_barrier_init(&sh->start, MP_CHILDREN);
        mp_barrier_init(&sh->tried, MP_CHILDREN);
        mp_run(MP_CHILDREN, child, sh);

        for (int r = 0; r < ROUNDS; r++) {
                char symbol[16];
                struct hshm_status st;

                MP_CHECK(sh->winners[r] == 1, "round %d: %u winners", r, sh->winners[r]);
                key_of(r, symbol, sizeof(symbol));
                MP_OK(hshm_status(store, GROUP, symbol, &st));
                MP_CHECK(st.state == HSHM_AVAILABLE && st.generation == 3,
                         "key %s: %s generation %" PRIu64 ", expected AVAILABLE 3", symbol,
                         hshm_state_name(st.state), st.generation);
                MP_CHECK(st.slot == sh->token[r] >> TOKEN_SLOT_SHIFT,
                         "key %s: slot %u, but its lock's token names slot %" PRIu64, symbol,
                         st.slot, sh->token[r] >> TOKEN_SLOT_SHIFT);
                slot_of[r] = st.slot;
        }
        MP_OK(hshm_info(store, &info));
        MP_CHECK(info.used == sh->used_before + ROUNDS, "info.used %u after %d keys", info.used,
                 ROUNDS);
        check_slot_table(store, &info, slot_of);
        for (int i = 0; i < MP_CHILDREN; i++) {
                conflicts += sh->conflicts[i];
                retries += sh->retries[i];
        }
        stats = mp_stats(store);
        MP_CHECK(stats.keys_inserted == ROUNDS, "keys_inserted %" PRIu64, stats.keys_inserted);
        MP_CHECK(stats.locks_won == ROUNDS, "locks_won %" PRIu64, stats.locks_won);
        MP_CHECK(stats.lock_conflicts == conflicts,
                 "lock_conflicts %" PRIu64 ", children saw %" PRIu64, stats.lock_conflicts,
                 conflicts);
        MP_CHECK(conflicts == (uint64_t)ROUNDS * (MP_CHILDREN - 1), "%" PRIu64 " conflicts",
                 conflicts);
        hshm_close(store);
        free(slot_of);

        printf("first-use: %d children x %d new keys: %d rounds with exactly one winner, "
               "%u slots for %d keys, %" PRIu64 " conflicts, %" PRIu64 " -EAGAIN retries\n",
               MP_CHILDREN, ROUNDS, ROUNDS, info.used, ROUNDS, conflicts, retries);
        return 0;
}
