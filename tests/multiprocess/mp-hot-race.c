/*
 * Hot race with barriers: every round, all children are released together by a
 * process-shared barrier and try hshm_lock() on the same key. A second barrier holds
 * everybody until every attempt has returned; then the round's winner activates and resets,
 * which it finishes before the next round's first barrier lets anyone try again.
 *
 * What must hold: exactly one winner per round; the winning tokens of consecutive rounds
 * differ by exactly three generations (lock, activate, reset: no lost or doubled
 * transition); the shared counters agree with what the children saw.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#include "mp.h"

#define ROUNDS 40000
#define GROUP  "hot"
#define SYMBOL "EURUSD"

struct shared {
        const char *name;
        pthread_barrier_t start;
        pthread_barrier_t tried;
        unsigned long arrived[ROUNDS];   /* spinning start line behind the start barrier */
        uint32_t winners[ROUNDS];        /* how many lock calls won in each round */
        int32_t winner[ROUNDS];          /* child that won */
        uint64_t token[ROUNDS];          /* its token */
        uint64_t conflicts[MP_CHILDREN]; /* -EBUSY seen by each child */
        uint64_t retries[MP_CHILDREN];   /* -EAGAIN seen by each child */
};

static int child(int index, void *arg)
{
        struct shared *sh = arg;
        hshm_store *store = mp_open(sh->name, 0);

        for (int r = 0; r < ROUNDS; r++) {
                uint64_t token = 0;
                int rc;

                mp_barrier_wait(&sh->start);
                mp_start_line(&sh->arrived[r], MP_CHILDREN);
                /* -EAGAIN: a writer was caught mid-way by the scheduler; it says nothing
                 * about who owns the slot, so ask again. */
                while ((rc = hshm_lock(store, GROUP, SYMBOL, &token)) == -EAGAIN)
                        sh->retries[index]++;
                if (rc == 0) {
                        uatomic_inc(&sh->winners[r]);
                        sh->winner[r] = index;
                        sh->token[r] = token;
                } else if (rc == -EBUSY) {
                        sh->conflicts[index]++;
                } else {
                        MP_FAIL("round %d: hshm_lock: %s (%d) %s", r, hshm_strerror(rc), rc,
                                hshm_last_detail());
                }
                mp_barrier_wait(&sh->tried);
                /* Checked here too, so that two winners are reported before they collide. */
                MP_CHECK(sh->winners[r] == 1, "round %d: %u processes won the lock", r,
                         sh->winners[r]);
                if (rc == 0) {
                        MP_OK(hshm_activate(store, token, (uint64_t)r + 1, "EURUSD.h"));
                        MP_OK(hshm_reset(store, token));
                }
        }
        hshm_close(store);
        return 0;
}

int main(void)
{
        struct shared *sh = mp_shared(sizeof(*sh));
        uint64_t wins[MP_CHILDREN] = {0}, conflicts = 0, retries = 0;
        struct hshm_status st;
        struct hshm_stats stats;
        hshm_store *store;

        sh->name = mp_create("hot-race", 64);
        mp_barrier_init(&sh->start, MP_CHILDREN);
        mp_barrier_init(&sh->tried, MP_CHILDREN);
        mp_run(MP_CHILDREN, child, sh);

        for (int r = 0; r < ROUNDS; r++) {
                MP_CHECK(sh->winners[r] == 1, "round %d: %u winners", r, sh->winners[r]);
                wins[sh->winner[r]]++;
                if (r > 0)
                        MP_CHECK(sh->token[r] == sh->token[r - 1] + 3,
                                 "round %d: token %#" PRIx64 " after %#" PRIx64
                                 ": not three transitions apart",
                                 r, sh->token[r], sh->token[r - 1]);
        }
        for (int i = 0; i < MP_CHILDREN; i++) {
                conflicts += sh->conflicts[i];
                retries += sh->retries[i];
        }
        MP_CHECK(conflicts == (uint64_t)ROUNDS * (MP_CHILDREN - 1),
                 "%" PRIu64 " conflicts, expected %d", conflicts, ROUNDS * (MP_CHILDREN - 1));

        store = mp_open(sh->name, HSHM_OPEN_RDONLY);
        stats = mp_stats(store);
        MP_CHECK(stats.locks_won == ROUNDS, "locks_won %" PRIu64, stats.locks_won);
        MP_CHECK(stats.activations == ROUNDS, "activations %" PRIu64, stats.activations);
        MP_CHECK(stats.resets == ROUNDS, "resets %" PRIu64, stats.resets);
        MP_CHECK(stats.lock_conflicts == conflicts,
                 "lock_conflicts %" PRIu64 ", children saw %" PRIu64, stats.lock_conflicts,
                 conflicts);
        MP_CHECK(stats.stale_refusals == 0, "stale_refusals %" PRIu64, stats.stale_refusals);
        MP_CHECK(stats.keys_inserted == 1, "keys_inserted %" PRIu64, stats.keys_inserted);
        MP_OK(hshm_status(store, GROUP, SYMBOL, &st));
        MP_CHECK(st.state == HSHM_AVAILABLE, "final state %s", hshm_state_name(st.state));
        MP_CHECK(st.generation == 3 * (uint64_t)ROUNDS, "final generation %" PRIu64 ", expected %d",
                 st.generation, 3 * ROUNDS);
        MP_CHECK(st.token == sh->token[ROUNDS - 1], "final token %#" PRIx64 ", last won %#" PRIx64,
                 st.token, sh->token[ROUNDS - 1]);
        hshm_close(store);

        printf("hot-race: %d children x %d rounds: %d rounds with exactly one winner, "
               "%" PRIu64 " conflicts, %" PRIu64 " -EAGAIN retries\n",
               MP_CHILDREN, ROUNDS, ROUNDS, conflicts, retries);
        printf("hot-race: wins per child:");
        for (int i = 0; i < MP_CHILDREN; i++)
                printf(" %" PRIu64, wins[i]);
        printf("\n");
        return 0;
}
