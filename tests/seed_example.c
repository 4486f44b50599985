/*
 * The seed tracker's usage example (shared/seed/hedge-tracking-summary.md), line for line in
 * C with hedgeshm. README.md shows hedge_position() as it is here; main() runs it against a
 * broker that succeeds, then one that fails, and checks where each position ended up.
 */
#undef NDEBUG
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hedgeshm.h"
#include "testutil.h"

static bool broker_up = true;

/* broker.place_order(...): the order's ticket, or 0 when the order failed. */
static uint64_t broker_place_order(const char *symbol)
{
        static uint64_t next_ticket = 1000;

        (void)symbol;
        return broker_up ? next_ticket++ : 0;
}

static void hedge_position(hshm_store *hedge_tracker, const char *group_id, const char *symbol,
                           const char *hedge_symbol)
{
        uint64_t token;

        /* Check if position can be hedged */
        if (hshm_is_available(hedge_tracker, group_id, symbol) == 1) {
                /* Lock position to prevent duplicates */
                if (hshm_lock(hedge_tracker, group_id, symbol, &token) == 0) {
                        /* Place hedge order */
                        uint64_t order_id = broker_place_order(hedge_symbol);
                        if (order_id != 0)
                                /* Activate position after successful order */
                                hshm_activate(hedge_tracker, token, order_id, hedge_symbol);
                        else
                                /* Reset position if order failed */
                                hshm_reset(hedge_tracker, token);
                }
        }
}

int main(void)
{
        char name[TU_NAME_MAX];
        struct hshm_create_opts opts = {.capacity = 16, .mode = 0600, .gid = (gid_t)-1};

        /* hedgectl init would have made the segment; the bots find it by name. */
        tu_name(name, sizeof(name), "seed");
        setenv(HSHM_NAME_ENV, name, 1);
        if (hshm_create(name, &opts) != 0)
                return 1;

        /* Initialize tracker */
        hshm_store *hedge_tracker;
        if (hshm_open(hshm_resolve_name(NULL), 0, &hedge_tracker) != 0)
                return 1;

        hedge_position(hedge_tracker, "corr-1", "EURUSD.pro", "GBPUSD.pro");

        /* Sync with MT5 (call periodically): the syncer's job, not this example's. */

        /* Get position status */
        struct hshm_status status;
        hshm_status(hedge_tracker, "corr-1", "EURUSD.pro", &status);

        assert(status.state == HSHM_ACTIVE);
        assert(status.ticket == 1000);
        assert(strcmp(status.hedge_symbol, "GBPUSD.pro") == 0);

        /* Hedging it again is a no-op: the position is taken. */
        hedge_position(hedge_tracker, "corr-1", "EURUSD.pro", "GBPUSD.pro");
        assert(hshm_status(hedge_tracker, "corr-1", "EURUSD.pro", &status) == 0);
        assert(status.state == HSHM_ACTIVE && status.ticket == 1000);

        /* A failed order leaves the position available again. */
        broker_up = false;
        hedge_position(hedge_tracker, "corr-1", "#AAPL", "US500.cash");
        assert(hshm_status(hedge_tracker, "corr-1", "#AAPL", &status) == 0);
        assert(status.state == HSHM_AVAILABLE);
        assert(hshm_is_available(hedge_tracker, "corr-1", "#AAPL") == 1);

        struct hshm_stats stats;
        assert(hshm_stats(hedge_tracker, &stats) == 0);
        assert(stats.locks_won == 2 && stats.activations == 1 && stats.resets == 1);

        hshm_close(hedge_tracker);
        assert(hshm_destroy(name) == 0);
        puts("seed example: EURUSD.pro ACTIVE (ticket 1000), #AAPL AVAILABLE after a failed order");
        return 0;
}
