/*
 * Free-running contention, no barriers: children run lock/activate/reset cycles as fast as
 * they can, either over a few hot keys they all share ("hot") or each over keys of its own
 * ("disjoint", where every lock must succeed).
 *
 * Mutual exclusion is checked outside the library: a separate shared mapping holds one
 * "holder" word per key; whoever wins a lock must move it 0 -> pid by CAS (failure means two
 * processes hold the key at once) and moves it back pid -> 0 before resetting. At the end,
 * the library's counters must equal what the children counted, every slot must be
 * AVAILABLE, and every slot's generation must be three transitions per cycle won on it.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <urcu/arch.h>
#include <urcu/uatomic.h>

#include "mp.h"

#define HOT_KEYS    3
#define HOT_WINS    500000 /* cycles each child completes on the hot keys */
#define OWN_KEYS    3
#define OWN_CYCLES  100000 /* cycles each child runs on its own keys */
#define MAX_KEYS    (MP_CHILDREN * OWN_KEYS)
#define YIELD_AFTER 64 /* consecutive conflicts before giving the holder the CPU */

struct counts {
        uint64_t wins[MAX_KEYS];
        uint64_t conflicts; /* -EBUSY */
        uint64_t retries;   /* -EAGAIN */
} __attribute__((aligned(64)));

struct shared {
        const char *name;
        int hot;
        pthread_barrier_t start; /* only so that all children run at once; none per cycle */
        struct counts child[MP_CHILDREN];
};

/* In its own mapping, so the library's slots and the children's counts never share it. */
static unsigned long *holder;

static int nkeys(const struct shared *sh)
{
        return sh->hot ? HOT_KEYS : MAX_KEYS;
}

static void key_name(const struct shared *sh, int key, char *symbol, size_t size)
{
        if (sh->hot)
                snprintf(symbol, size, "HOT%d", key);
        else
                snprintf(symbol, size, "C%dS%d", key / OWN_KEYS, key % OWN_KEYS);
}

/* One attempt on key; returns 1 if a whole cycle was done, 0 on a conflict. */
static int cycle(struct shared *sh, hshm_store *store, int index, int key)
{
        unsigned long pid = (unsigned long)getpid(), old;
        struct counts *mine = &sh->child[index];
        char symbol[16];
        uint64_t token;
        int rc;

        key_name(sh, key, symbol, sizeof(symbol));
        rc = hshm_lock(store, "mp", symbol, &token);
        if (rc == -EBUSY && sh->hot) {
                mine->conflicts++;
                return 0;
        }
        if (rc == -EAGAIN) {
                mine->retries++;
                return 0;
        }
        if (rc != 0)
                MP_FAIL("hshm_lock(%s): %s (%d) %s", symbol, hshm_strerror(rc), rc,
                        hshm_last_detail());
        /* Full barrier (uatomic_cmpxchg): the claim is ordered after the winning lock. */
        old = uatomic_cmpxchg(&holder[key], 0UL, pid);
        MP_CHECK(old == 0, "%s: won the lock while pid %lu holds it", symbol, old);
        MP_OK(hshm_activate(store, token, token * 7 + 1, symbol));
        /* Full barrier again: the release is visible before reset makes the slot AVAILABLE. */
        old = uatomic_cmpxchg(&holder[key], pid, 0UL);
        MP_CHECK(old == pid, "%s: holder changed to %lu while we held the lock", symbol, old);
        MP_OK(hshm_reset(store, token));
        mine->wins[key]++;
        return 1;
}

static int child(int index, void *arg)
{
        struct shared *sh = arg;
        hshm_store *store = mp_open(sh->name, 0);
        uint64_t rng = 0x9E3779B97F4A7C15u * (uint64_t)(index + 1);
        unsigned misses = 0;

        mp_barrier_wait(&sh->start);
        if (sh->hot) {
                for (int won = 0; won < HOT_WINS;) {
                        if (cycle(sh, store, index, (int)(mp_rand(&rng) % HOT_KEYS))) {
                                won++;
                                misses = 0;
                        } else if (++misses % YIELD_AFTER == 0) {
                                /* More processes than cores: the holder may be preempted. */
                                sched_yield();
                        } else {
                                caa_cpu_relax();
                        }
                }
        } else {
                for (int n = 0; n < OWN_CYCLES;) {
                        int key = index * OWN_KEYS + (int)(mp_rand(&rng) % OWN_KEYS);

                        n += cycle(sh, store, index, key);
                }
        }
        hshm_close(store);
        return 0;
}

static void run(int hot)
{
        struct shared *sh = mp_shared(sizeof(*sh));
        uint64_t wins = 0, conflicts = 0, retries = 0;
        struct hshm_stats stats;
        hshm_store *store;

        holder = mp_shared(MAX_KEYS * sizeof(*holder));
        sh->hot = hot;
        sh->name = mp_create(hot ? "hot" : "disjoint", 256);
        mp_barrier_init(&sh->start, MP_CHILDREN);
        mp_run(MP_CHILDREN, child, sh);

        store = mp_open(sh->name, HSHM_OPEN_RDONLY);
        for (int k = 0; k < nkeys(sh); k++) {
                uint64_t key_wins = 0;
                struct hshm_status st;
                char symbol[16];

                for (int i = 0; i < MP_CHILDREN; i++)
                        key_wins += sh->child[i].wins[k];
                wins += key_wins;
                key_name(sh, k, symbol, sizeof(symbol));
                MP_CHECK(holder[k] == 0, "%s still held by pid %lu", symbol, holder[k]);
                MP_OK(hshm_status(store, "mp", symbol, &st));
                MP_CHECK(st.state == HSHM_AVAILABLE, "%s: final state %s", symbol,
                         hshm_state_name(st.state));
                MP_CHECK(st.generation == 3 * key_wins,
                         "%s: generation %" PRIu64 " after %" PRIu64 " cycles", symbol,
                         st.generation, key_wins);
        }
        for (int i = 0; i < MP_CHILDREN; i++) {
                conflicts += sh->child[i].conflicts;
                retries += sh->child[i].retries;
        }
        stats = mp_stats(store);
        MP_CHECK(stats.locks_won == wins, "locks_won %" PRIu64 ", children won %" PRIu64,
                 stats.locks_won, wins);
        MP_CHECK(stats.activations == wins, "activations %" PRIu64 ", expected %" PRIu64,
                 stats.activations, wins);
        MP_CHECK(stats.resets == wins, "resets %" PRIu64 ", expected %" PRIu64, stats.resets, wins);
        MP_CHECK(stats.lock_conflicts == conflicts,
                 "lock_conflicts %" PRIu64 ", children saw %" PRIu64 " -EBUSY",
                 stats.lock_conflicts, conflicts);
        MP_CHECK(stats.stale_refusals == 0, "stale_refusals %" PRIu64, stats.stale_refusals);
        MP_CHECK(stats.keys_inserted == (uint64_t)nkeys(sh), "keys_inserted %" PRIu64,
                 stats.keys_inserted);
        if (hot)
                MP_CHECK(wins == (uint64_t)MP_CHILDREN * HOT_WINS, "%" PRIu64 " wins", wins);
        else
                MP_CHECK(wins == (uint64_t)MP_CHILDREN * OWN_CYCLES && conflicts == 0,
                         "%" PRIu64 " wins, %" PRIu64 " conflicts", wins, conflicts);
        hshm_close(store);

        printf("contention-%s: %d children over %d keys: %" PRIu64 " cycles, %" PRIu64
               " conflicts, %" PRIu64 " -EAGAIN retries, never two holders\n",
               hot ? "hot" : "disjoint", MP_CHILDREN, nkeys(sh), wins, conflicts, retries);
        printf("contention-%s: cycles/conflicts per child:", hot ? "hot" : "disjoint");
        for (int i = 0; i < MP_CHILDREN; i++) {
                uint64_t child_wins = 0;

                for (int k = 0; k < nkeys(sh); k++)
                        child_wins += sh->child[i].wins[k];
                printf(" %" PRIu64 "/%" PRIu64, child_wins, sh->child[i].conflicts);
        }
        printf("\n");
}

int main(int argc, char **argv)
{
        if (argc != 2 || (strcmp(argv[1], "hot") && strcmp(argv[1], "disjoint"))) {
                fprintf(stderr, "usage: %s hot|disjoint\n", argv[0]);
                return 2;
        }
        run(strcmp(argv[1], "hot") == 0);
        return 0;
}
