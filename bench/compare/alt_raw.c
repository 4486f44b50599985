/*
 * The physical limit: each position is one 64-byte line of a MAP_SHARED mapping holding a
 * state word and a ticket, found by its index (no key lookup). Claim, activate and release
 * are one compare-and-swap each on the state word, moving it AVAILABLE -> HEDGING -> ACTIVE
 * -> AVAILABLE with a generation that grows at every step, as hedgeshm's word does; the token
 * is the HEDGING word. Status packs and hashes the key (the least any lookup by key costs),
 * then loads the word and the ticket. Nothing here is a usable store: no fencing of the
 * ticket write, no recovery; it is the floor every row is divided by.
 */
#include <errno.h>
#include <sys/mman.h>

#include <urcu/uatomic.h>

#include "compare.h"

#define GEN_SHIFT 20
#define ST_MASK   UINT64_C(3)

struct raw_line {
        uint64_t word;
        uint64_t ticket;
        uint64_t pad[CMP_LINE / 8 - 2];
} __attribute__((aligned(CMP_LINE)));

static struct raw_line *lines;

static uint64_t next_word(uint64_t w, uint64_t state)
{
        return ((w >> GEN_SHIFT) + 1) << GEN_SHIFT | state;
}

static int raw_setup(const char **skip)
{
        (void)skip;
        lines = mmap(NULL, CMP_NKEYS * sizeof(*lines), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        return lines == MAP_FAILED ? -errno : 0;
}

static void raw_teardown(void)
{
        munmap(lines, CMP_NKEYS * sizeof(*lines));
}

static void *raw_attach(int worker)
{
        (void)worker;
        return lines; /* inherited through fork */
}

static void raw_detach(void *ctx)
{
        (void)ctx;
}

static int raw_claim(void *ctx, const struct cmp_key *k, uint64_t *token)
{
        struct raw_line *l = (struct raw_line *)ctx + k->index;
        uint64_t w = uatomic_read(&l->word), h = next_word(w, 1);

        if ((w & ST_MASK) != 0 || uatomic_cmpxchg(&l->word, w, h) != w)
                return CMP_BUSY;
        *token = h;
        return CMP_WON;
}

static int raw_activate(void *ctx, const struct cmp_key *k, uint64_t token, uint64_t ticket)
{
        struct raw_line *l = (struct raw_line *)ctx + k->index;

        uatomic_set(&l->ticket, ticket);
        return uatomic_cmpxchg(&l->word, token, next_word(token, 2)) == token ? 0 : -ESTALE;
}

static int raw_status(void *ctx, const struct cmp_key *k, uint64_t *ticket)
{
        struct raw_line *l = (struct raw_line *)ctx + k->index;
        uint64_t key[8], h, w;

        cmp_pack_key(k, key);
        h = cmp_hash64(key);
        __asm__ volatile("" : : "r"(h)); /* the hash is the point: keep it */
        w = uatomic_read(&l->word);
        *ticket = (w & ST_MASK) == 2 ? uatomic_read(&l->ticket) : 0;
        return 0;
}

static int raw_release(void *ctx, const struct cmp_key *k, uint64_t token)
{
        struct raw_line *l = (struct raw_line *)ctx + k->index;
        uint64_t active = next_word(token, 2);

        if (uatomic_cmpxchg(&l->word, active, next_word(active, 0)) == active)
                return 0;
        return uatomic_cmpxchg(&l->word, token, next_word(token, 0)) == token ? 0 : -ESTALE;
}

const struct cmp_backend cmp_raw = {
    .name = "raw-cas",
    .what = "physical limit: 1 CAS per transition on a shared line, found by index; status "
            "= pack + hash key + load",
    .setup = raw_setup,
    .teardown = raw_teardown,
    .attach = raw_attach,
    .detach = raw_detach,
    .claim = raw_claim,
    .activate = raw_activate,
    .status = raw_status,
    .release = raw_release,
};
