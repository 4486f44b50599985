"""The bot loop of docs/python.md, run as written against a simulated MetaTrader5 module and a
syncer played by the test: a fill activates with the order ticket and tags the order, a clear
rejection resets, a lock whose lease is about to end (or that is no longer the bot's) sends
nothing, an unknown outcome stays HEDGING until settle_unknown finds a reconciled snapshot
newer than the send (not the lock) plus grace (adopted: ACTIVE under the bot's token; never
filled: released), two bots never hedge one position twice, and main() runs its loop."""
import collections
import os
import re
import sys
import time
import types
import unittest

import hedgeshm
from support import SegmentCase

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "python.md")

KEY = ("corr-1", "EURUSD")
MS = 1_000_000
GRACE_MS = 100  # the docs' 1000, shortened: a test waits for real time to pass a send + grace

Tick = collections.namedtuple("Tick", "bid ask")
Result = collections.namedtuple("Result", "retcode order deal volume price comment request_id")


class FakeMT5(types.ModuleType):
    """What the loop uses of the MetaTrader5 package (constants as the package defines them).
    order_send answers from a script of outcomes and records every request."""

    TRADE_ACTION_DEAL = 1
    ORDER_TYPE_BUY = 0
    ORDER_TIME_GTC = 0
    ORDER_FILLING_IOC = 1
    TRADE_RETCODE_REQUOTE = 10004
    TRADE_RETCODE_REJECT = 10006
    TRADE_RETCODE_PLACED = 10008
    TRADE_RETCODE_DONE = 10009
    TRADE_RETCODE_DONE_PARTIAL = 10010
    TRADE_RETCODE_TIMEOUT = 10012
    TRADE_RETCODE_NO_MONEY = 10019
    TRADE_RETCODE_CONNECTION = 10031

    def __init__(self):
        super().__init__("MetaTrader5")
        self.outcomes = []  # retcode, or None for no reply (IPC timeout -10005)
        self.requests = []
        self.next_ticket = 50_000_000
        self.error = (1, "Success")
        self.initialized = False
        self.slow_s = 0  # a bot slow between its lock and its send

    def initialize(self):
        self.initialized = True
        return True

    def shutdown(self):
        self.initialized = False

    def last_error(self):
        return self.error

    def symbol_info_tick(self, symbol):
        time.sleep(self.slow_s)
        return Tick(1.2500, 1.2502)

    def order_send(self, request):
        self.requests.append(dict(request))
        outcome = self.outcomes.pop(0)
        if outcome is None:
            self.error = (-10005, "IPC timeout")
            return None
        self.next_ticket += 1
        filled = outcome in (self.TRADE_RETCODE_DONE, self.TRADE_RETCODE_DONE_PARTIAL)
        return Result(outcome, self.next_ticket if filled else 0, 0, request["volume"],
                      request["price"], "", 1)


def load_loop(mt5):
    """The docs' bot loop as a module, importing mt5 as MetaTrader5."""
    with open(DOC, encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    code = [b for b in blocks if "def place_hedge" in b]
    if len(code) != 1:
        raise AssertionError("docs/python.md: expected one block with place_hedge()")
    saved = sys.modules.get("MetaTrader5")
    sys.modules["MetaTrader5"] = mt5
    try:
        module = types.ModuleType("docs_bot_loop")
        exec(compile(code[0], DOC, "exec"), module.__dict__)
    finally:
        if saved is None:
            del sys.modules["MetaTrader5"]
        else:
            sys.modules["MetaTrader5"] = saved
    return module


def wait_until_ms(ms):
    """Sleep until CLOCK_REALTIME reaches ms: the library refuses snapshot times from the
    future, so the syncer publishes a snapshot only once its time has come."""
    while time.time_ns() // MS < ms:
        time.sleep(0.002)


class Interfering:
    """A tracker with something done to its lock right before the loop reads the lock's
    status: what another process could do between the order tag and the send."""

    def __init__(self, tracker, interfere):
        self._tracker, self._interfere = tracker, interfere

    def __getattr__(self, name):
        return getattr(self._tracker, name)

    def get_position_status(self, group, symbol):
        self._interfere()
        return self._tracker.get_position_status(group, symbol)


class DocsLoopTest(SegmentCase):
    def setUp(self):
        super().setUp()
        self.mt5 = FakeMT5()
        self.bot = load_loop(self.mt5)
        self.assertEqual(self.bot.GRACE_MS, 1000)
        self.bot.GRACE_MS = GRACE_MS
        self.pending = {}

    def hedge(self, outcome, symbol="EURUSD", tracker=None):
        self.mt5.outcomes.append(outcome)
        return self.bot.place_hedge(tracker or self.tracker, self.pending, "corr-1", symbol,
                                    "GBPUSD", 0.10)

    def state(self, symbol="EURUSD"):
        return self.tracker.get_position_status("corr-1", symbol)

    def publish(self, syncer, snapshot_time_ms, grace_ms=GRACE_MS, **fields):
        wait_until_ms(snapshot_time_ms)
        syncer.sync_publish(interval_ms=1000, grace_ms=grace_ms, snapshot_seq=int(time.time()),
                            snapshot_time_ms=snapshot_time_ms, **fields)

    def sent_ms(self):
        """The send time of the pending order, in ms rounded up, as the library takes it."""
        return -(-self.pending[KEY][1] // MS)

    def test_filled(self):
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_DONE), "filled")
        st = self.state()
        self.assertEqual((st["state"], st["ticket"], st["hedge_symbol"]),
                         ("ACTIVE", self.mt5.next_ticket, "GBPUSD"))
        request = self.mt5.requests[0]
        self.assertEqual(request["comment"], self.tracker.order_tag("corr-1", "EURUSD"))
        match = self.tracker.resolve_tag(request["comment"])
        self.assertEqual(match["token"], st["token"])
        self.assertEqual((request["symbol"], request["volume"], request["price"]),
                         ("GBPUSD", 0.10, 1.2502))
        self.assertLess(request["magic"], 2**31)
        # held now: a second signal for the same position sends nothing
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_DONE), "held")
        self.assertEqual(len(self.mt5.requests), 1)
        self.mt5.outcomes.clear()

    def test_partial_fill(self):
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_DONE_PARTIAL), "filled")
        self.assertEqual(self.state()["state"], "ACTIVE")

    def test_clear_rejections(self):
        for code in (self.mt5.TRADE_RETCODE_REJECT, self.mt5.TRADE_RETCODE_REQUOTE,
                     self.mt5.TRADE_RETCODE_NO_MONEY):
            self.assertEqual(self.hedge(code), "rejected")
            self.assertEqual(self.state()["state"], "AVAILABLE")
        self.assertEqual(self.pending, {})
        self.assertEqual(self.tracker.held(), {})

    def test_unknown_then_adopted(self):
        before = time.time_ns()
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_TIMEOUT), "unknown")
        st = self.state()
        self.assertEqual(st["state"], "HEDGING")
        token, sent_ns = self.pending[KEY]
        self.assertEqual(token, self.tracker.token(*KEY))
        self.assertLessEqual(max(before, st["lock_ns"]), sent_ns)
        self.assertLessEqual(sent_ns, time.time_ns())
        # No syncer: nothing is known, nothing changes.
        self.bot.settle_unknown(self.tracker, self.pending)
        self.assertEqual(self.state()["state"], "HEDGING")
        syncer = self.open()
        syncer.sync_claim()
        # A snapshot not newer than send + grace settles nothing either.
        self.publish(syncer, self.sent_ms() + GRACE_MS)
        self.bot.settle_unknown(self.tracker, self.pending)
        self.assertEqual(self.state()["state"], "HEDGING")
        self.assertIn(KEY, self.pending)
        # The syncer finds the tagged position and adopts it under the bot's token (rule 3).
        tag = self.mt5.requests[0]["comment"]
        self.assertEqual(syncer.resolve_tag(tag)["token"], token)
        syncer.activate(token, 777, "GBPUSD")
        self.publish(syncer, self.sent_ms() + GRACE_MS + 1)
        self.bot.settle_unknown(self.tracker, self.pending)
        self.assertEqual(self.pending, {})
        st = self.state()
        self.assertEqual((st["state"], st["ticket"]), ("ACTIVE", 777))
        self.assertEqual(self.tracker.token(*KEY), token)  # still the bot's lock

    def test_unknown_then_never_filled(self):
        for outcome in (None, self.mt5.TRADE_RETCODE_CONNECTION, self.mt5.TRADE_RETCODE_PLACED):
            self.assertEqual(self.hedge(outcome), "unknown")
            self.assertEqual(self.state()["state"], "HEDGING")
            syncer = hedgeshm.HedgeTracker(self.name)
            syncer.sync_claim()
            self.publish(syncer, self.sent_ms() + GRACE_MS + 1, degraded=True,
                         degraded_reason="terminal disconnected")
            self.bot.settle_unknown(self.tracker, self.pending)  # degraded: nothing known
            self.assertEqual(self.state()["state"], "HEDGING")
            self.publish(syncer, self.sent_ms() + GRACE_MS + 1)
            self.bot.settle_unknown(self.tracker, self.pending)
            self.assertEqual(self.pending, {})
            self.assertEqual(self.state()["state"], "AVAILABLE")
            self.assertEqual(self.tracker.held(), {})
            syncer.close()

    def test_unknown_waits_past_the_send_not_the_lock(self):
        # The spin model's trace (docs/model.md, Findings 1): a bot slow between its lock and
        # its send, and a snapshot past lock + grace that predates the order.
        self.mt5.slow_s = 3 * GRACE_MS / 1000
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_TIMEOUT), "unknown")
        lock_ms = self.state()["lock_ns"] // MS
        self.assertGreater(self.sent_ms(), lock_ms + 2 * GRACE_MS)
        syncer = self.open()
        syncer.sync_claim()
        self.publish(syncer, lock_ms + GRACE_MS + 50)
        self.bot.settle_unknown(self.tracker, self.pending)
        self.assertEqual(self.state()["state"], "HEDGING")  # the order may still fill
        self.assertIn(KEY, self.pending)
        self.publish(syncer, self.sent_ms() + GRACE_MS + 1)
        self.bot.settle_unknown(self.tracker, self.pending)
        self.assertEqual(self.pending, {})
        self.assertEqual(self.state()["state"], "AVAILABLE")

    def test_syncer_grace_counts(self):
        # A syncer with more grace than the bot: the bot waits for the syncer's.
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_TIMEOUT), "unknown")
        syncer = self.open()
        syncer.sync_claim()
        self.publish(syncer, self.sent_ms() + GRACE_MS + 1, grace_ms=2 * GRACE_MS)
        self.bot.settle_unknown(self.tracker, self.pending)
        self.assertEqual(self.state()["state"], "HEDGING")
        self.publish(syncer, self.sent_ms() + 2 * GRACE_MS + 1, grace_ms=2 * GRACE_MS)
        self.bot.settle_unknown(self.tracker, self.pending)
        self.assertEqual(self.pending, {})
        self.assertEqual(self.state()["state"], "AVAILABLE")

    def test_unknown_then_taken_over(self):
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_TIMEOUT), "unknown")
        syncer = self.open()
        syncer.sync_claim()
        syncer.mark_error(*KEY, "duplicate hedge")  # rule 4
        # Judged already: settled at once, with no snapshot past the send yet.
        self.bot.settle_unknown(self.tracker, self.pending)
        self.assertEqual(self.pending, {})
        self.assertEqual(self.state()["state"], "ERROR")  # left for a manual clear
        self.assertEqual(self.tracker.held(), {})

    def test_unknown_then_adopted_and_closed(self):
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_TIMEOUT), "unknown")
        token = self.pending[KEY][0]
        syncer = self.open()
        syncer.activate(token, 778, "GBPUSD")  # rule 3
        syncer.reset(token)  # rule 1: the hedge closed
        self.bot.settle_unknown(self.tracker, self.pending)
        self.assertEqual(self.pending, {})
        self.assertEqual(self.state()["state"], "AVAILABLE")
        self.assertEqual(self.tracker.held(), {})

    def test_lease_nearly_over_sends_nothing(self):
        # The docs' own margin: a lease that ends within GRACE_MS of the check sends nothing.
        self.bot.GRACE_MS = 1000
        short = self.open(lease_ms=1000)
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_DONE, tracker=short), "lease")
        self.assertEqual(self.mt5.requests, [])
        self.assertEqual(self.state()["state"], "AVAILABLE")
        self.assertEqual((short.held(), self.pending), ({}, {}))
        # With the margin left, the same bot sends.
        self.bot.GRACE_MS = 100
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_DONE, tracker=short), "filled")
        self.assertEqual(len(self.mt5.requests), 1)

    def test_lock_lost_before_the_send(self):
        syncer, other = self.open(), self.open()

        def duplicate_marked():
            syncer.mark_error(*KEY, "hedge of an older lock open")  # rule 4c

        def released_and_relocked():
            token = self.tracker.token(*KEY)
            syncer.release(token)  # rule 7: its lease ran out
            other.lock(*KEY)

        for interfere, state in ((duplicate_marked, "ERROR"),
                                 (released_and_relocked, "HEDGING")):
            bot = Interfering(self.tracker, interfere)
            self.mt5.outcomes.append(self.mt5.TRADE_RETCODE_DONE)
            self.assertEqual(self.bot.place_hedge(bot, self.pending, *KEY, "GBPUSD", 0.1),
                             "lease")
            self.assertEqual(self.mt5.requests, [])
            self.assertEqual(self.tracker.held(), {})
            self.assertEqual(self.state()["state"], state)
            self.assertTrue(syncer.clear(*KEY) or other.reset_position(*KEY))
        self.mt5.outcomes.clear()

    def test_two_bots_one_hedge(self):
        other = self.open()
        self.assertEqual(self.hedge(self.mt5.TRADE_RETCODE_TIMEOUT), "unknown")
        self.mt5.outcomes.append(self.mt5.TRADE_RETCODE_DONE)
        self.assertEqual(self.bot.place_hedge(other, {}, "corr-1", "EURUSD", "GBPUSD", 0.1),
                         "held")
        self.assertEqual(len(self.mt5.requests), 1)
        self.mt5.outcomes.clear()

    def test_main_loop(self):
        os.environ["HEDGESHM_NAME"] = self.name
        self.addCleanup(os.environ.pop, "HEDGESHM_NAME")
        sent = []

        class Stop(Exception):
            pass

        def signals():
            if len(sent) == 3:
                raise Stop()
            sent.append(1)
            return [("corr-2", "USDJPY", "EURJPY", 0.2), ("corr-2", "AUDUSD", "NZDUSD", 0.2)]

        self.bot.signals = signals
        self.bot.time = types.SimpleNamespace(sleep=lambda s: None, time_ns=time.time_ns)
        self.mt5.outcomes += [self.mt5.TRADE_RETCODE_DONE, self.mt5.TRADE_RETCODE_REJECT,
                              self.mt5.TRADE_RETCODE_DONE]
        with self.assertRaises(Stop):
            self.bot.main()
        self.assertFalse(self.mt5.initialized)  # shut down on the way out
        states = {p["symbol"]: p["state"] for p in self.tracker.positions()}
        self.assertEqual(states, {"USDJPY": "ACTIVE", "AUDUSD": "ACTIVE"})
        self.assertEqual(len(self.mt5.requests), 3)  # USDJPY once, AUDUSD twice (one rejected)
        self.assertEqual(self.mt5.outcomes, [])


if __name__ == "__main__":
    unittest.main()
