/*
 * hedgeshm itself, by key, through the public API only: hshm_lock, hshm_activate (ticket, no
 * hedge symbol), hshm_status, hshm_reset. The parent creates a private segment; every worker
 * opens it on its own (a handle must not cross fork), as a bot would.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "compare.h"
#include "hedgeshm.h"

static char name[64];

static int failed(int err, const char *what)
{
        return cmp_fail(err, "%s: %s %s", what, hshm_strerror(err), hshm_last_detail());
}

static int hs_setup(const char **skip)
{
        struct hshm_create_opts opts = {.capacity = HSHM_CAPACITY_DEFAULT, .gid = (gid_t)-1};
        int err;

        (void)skip;
        snprintf(name, sizeof(name), "/hshm-cmp-%d", (int)getpid());
        err = hshm_create(name, &opts);
        return err ? failed(err, "hshm_create") : 0;
}

static void hs_teardown(void)
{
        hshm_destroy(name);
}

static void *hs_attach(int worker)
{
        hshm_store *s = NULL;
        int err = hshm_open(name, 0, &s);

        (void)worker;
        if (err)
                failed(err, "hshm_open");
        return s;
}

static void hs_detach(void *ctx)
{
        hshm_close(ctx);
}

static int hs_claim(void *ctx, const struct cmp_key *k, uint64_t *token)
{
        int err = hshm_lock(ctx, k->group, k->symbol, token);

        if (err == -EBUSY || err == -EAGAIN)
                return CMP_BUSY;
        return err ? failed(err, "hshm_lock") : CMP_WON;
}

static int hs_activate(void *ctx, const struct cmp_key *k, uint64_t token, uint64_t ticket)
{
        int err = hshm_activate(ctx, token, ticket, NULL);

        (void)k;
        return err ? failed(err, "hshm_activate") : 0;
}

static int hs_status(void *ctx, const struct cmp_key *k, uint64_t *ticket)
{
        struct hshm_status st;
        int err = hshm_status(ctx, k->group, k->symbol, &st);

        if (err == HSHM_ENOKEY) {
                *ticket = 0;
                return 0;
        }
        if (err)
                return failed(err, "hshm_status");
        *ticket = st.state == HSHM_ACTIVE ? st.ticket : 0;
        return 0;
}

static int hs_release(void *ctx, const struct cmp_key *k, uint64_t token)
{
        int err = hshm_reset(ctx, token);

        (void)k;
        return err ? failed(err, "hshm_reset") : 0;
}

const struct cmp_backend cmp_hshm = {
    .name = "hedgeshm",
    .what = "the library by key: hshm_lock / hshm_activate / hshm_status / hshm_reset",
    .setup = hs_setup,
    .teardown = hs_teardown,
    .attach = hs_attach,
    .detach = hs_detach,
    .claim = hs_claim,
    .activate = hs_activate,
    .status = hs_status,
    .release = hs_release,
};
