/*
 * Status under writes: writers cycle two keys (lock, activate, reset; every fourth cycle a
 * reset straight from HEDGING) while readers take hshm_status() snapshots in a loop. The
 * writers derive everything they write from the token of their lock: ticket = token*7+1 and
 * a 31-byte hedge symbol spread over four 8-byte words. A snapshot that mixes two
 * generations therefore shows up as a ticket, hedge symbol or generation that does not
 * belong to the snapshot's token. Half of the readers attach read-only, half read-write.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#include "layout.h"
#include "mp.h"

#define WRITERS       4
#define READERS       4
#define KEYS          2
#define WRITER_CYCLES 2000000
#define GEN_MASK      ((UINT64_C(1) << TOKEN_SLOT_SHIFT) - 1)

struct reader_counts {
        uint64_t snapshots;
        uint64_t by_state[4];
        uint64_t retries; /* -EAGAIN: a writer held the slot too long for a snapshot */
} __attribute__((aligned(64)));

struct shared {
        const char *name;
        unsigned long writers_done;
        pthread_barrier_t start;
        pid_t writer_pid[WRITERS];
        struct reader_counts reader[READERS];
};

static const char *const symbols[KEYS] = {"XAUUSD", "US30Cash"};

static void hedge_of(uint64_t token, char out[HSHM_SYMBOL_MAX + 1])
{
        snprintf(out, HSHM_SYMBOL_MAX + 1, "H%014" PRIx64 "%016" PRIx64,
                 (token * UINT64_C(0x9E3779B97F4A7C15)) >> 8, token);
}

static int writer(int index, void *arg)
{
        struct shared *sh = arg;
        hshm_store *store = mp_open(sh->name, 0);
        uint64_t rng = UINT64_C(0xD1B54A32D192ED03) * (uint64_t)(index + 1);
        int won = 0;

        sh->writer_pid[index] = getpid();
        mp_barrier_wait(&sh->start);
        for (int n = 0; n < WRITER_CYCLES; n++) {
                const char *symbol = symbols[mp_rand(&rng) % KEYS];
                char hedge[HSHM_SYMBOL_MAX + 1];
                uint64_t token;
                int rc = hshm_lock(store, "status", symbol, &token);

                if (rc == -EBUSY || rc == -EAGAIN)
                        continue;
                MP_CHECK(rc == 0, "hshm_lock(%s): %s (%d) %s", symbol, hshm_strerror(rc), rc,
                         hshm_last_detail());
                if (++won % 4) {
                        hedge_of(token, hedge);
                        MP_OK(hshm_activate(store, token, token * 7 + 1, hedge));
                }
                MP_OK(hshm_reset(store, token));
        }
        hshm_close(store);
        uatomic_inc(&sh->writers_done);
        return 0;
}

static int owner_is_writer(const struct shared *sh, pid_t pid)
{
        for (int i = 0; i < WRITERS; i++)
                if (sh->writer_pid[i] == pid)
                        return 1;
        return 0;
}

/* NULL if the snapshot is one generation's, else what disagrees. */
static const char *torn(const struct shared *sh, const struct hshm_status *st)
{
        uint64_t lock_gen = st->token & GEN_MASK;
        char hedge[HSHM_SYMBOL_MAX + 1];

        if (st->token == 0 || st->token >> TOKEN_SLOT_SHIFT != st->slot)
                return "token does not name this slot";
        switch (st->state) {
        case HSHM_HEDGING:
                if (st->generation != lock_gen)
                        return "HEDGING generation is not its lock's";
                if (st->ticket != 0 || st->hedge_symbol[0] != '\0')
                        return "HEDGING with a ticket or hedge symbol";
                if (!owner_is_writer(sh, st->owner.pid) || st->lock_ns == 0)
                        return "HEDGING without its owner or lock time";
                return NULL;
        case HSHM_ACTIVE:
                hedge_of(st->token, hedge);
                if (st->generation != lock_gen + 1)
                        return "ACTIVE generation is not its lock's + 1";
                if (st->ticket != st->token * 7 + 1)
                        return "ACTIVE ticket does not belong to the token";
                if (strcmp(st->hedge_symbol, hedge) != 0)
                        return "ACTIVE hedge symbol does not belong to the token";
                if (!owner_is_writer(sh, st->owner.pid) || st->lock_ns == 0 ||
                    st->activate_ns < st->lock_ns)
                        return "ACTIVE without its owner, or activated before locked";
                return NULL;
        case HSHM_AVAILABLE:
                if (st->generation != lock_gen + 1 && st->generation != lock_gen + 2)
                        return "AVAILABLE generation is not its last lock's + 1 or + 2";
                return NULL;
        default:
                return "state ERROR, never set here";
        }
}

static int reader(int index, void *arg)
{
        struct shared *sh = arg;
        hshm_store *store = mp_open(sh->name, index % 2 ? HSHM_OPEN_RDONLY : 0);
        struct reader_counts *mine = &sh->reader[index];

        mp_barrier_wait(&sh->start);
        while (uatomic_read(&sh->writers_done) < WRITERS) {
                for (int k = 0; k < KEYS; k++) {
                        struct hshm_status st;
                        const char *why;
                        int rc = hshm_status(store, "status", symbols[k], &st);

                        if (rc == -EAGAIN) {
                                mine->retries++;
                                continue;
                        }
                        MP_CHECK(rc == 0, "hshm_status(%s): %s (%d) %s", symbols[k],
                                 hshm_strerror(rc), rc, hshm_last_detail());
                        why = torn(sh, &st);
                        MP_CHECK(!why,
                                 "torn snapshot of %s: %s: state %s gen %" PRIu64 " token %#" PRIx64
                                 " ticket %" PRIu64 " hedge '%s' pid %d",
                                 symbols[k], why, hshm_state_name(st.state), st.generation,
                                 st.token, st.ticket, st.hedge_symbol, (int)st.owner.pid);
                        mine->snapshots++;
                        mine->by_state[st.state & 3]++;
                }
        }
        hshm_close(store);
        return 0;
}

static int child(int index, void *arg)
{
        return index < WRITERS ? writer(index, arg) : reader(index - WRITERS, arg);
}

int main(void)
{
        struct shared *sh = mp_shared(sizeof(*sh));
        uint64_t snapshots = 0, by_state[4] = {0}, retries = 0;
        hshm_store *store;

        sh->name = mp_create("status", 64);
        store = mp_open(sh->name, 0);
        /* Insert both keys first, so that no reader ever meets a key that does not exist. */
        for (int k = 0; k < KEYS; k++) {
                uint64_t token;

                MP_OK(hshm_lock(store, "status", symbols[k], &token));
                MP_OK(hshm_reset(store, token));
        }
        hshm_close(store);
        mp_barrier_init(&sh->start, WRITERS + READERS);
        mp_run(WRITERS + READERS, child, sh);

        for (int i = 0; i < READERS; i++) {
                snapshots += sh->reader[i].snapshots;
                retries += sh->reader[i].retries;
                for (int s = 0; s < 4; s++)
                        by_state[s] += sh->reader[i].by_state[s];
        }
        MP_CHECK(snapshots > 0, "no snapshot taken");
        printf("status: %d writers x %d attempts, %d readers: %" PRIu64
               " snapshots checked (AVAILABLE %" PRIu64 ", HEDGING %" PRIu64 ", ACTIVE %" PRIu64
               "), none torn, %" PRIu64 " -EAGAIN\n",
               WRITERS, WRITER_CYCLES, READERS, snapshots, by_state[HSHM_AVAILABLE],
               by_state[HSHM_HEDGING], by_state[HSHM_ACTIVE], retries);
        return 0;
}
