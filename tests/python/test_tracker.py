"""Every method of HedgeTracker and every module function, on their normal paths: the seed's
methods with the seed's meanings (a refused transition is False), the explicit-token methods,
order tags, statistics, sync health, and the seed's usage example run nearly unchanged."""
import errno
import gc
import os
import time
import tracemalloc
import unittest

import hedgeshm
from support import SegmentCase, destroy_quietly, unique_name

G, S, HEDGE = "corr-1", "EURUSD.pro", "GBPUSD.pro"


class ModuleTest(unittest.TestCase):
    def test_constants(self):
        self.assertEqual(hedgeshm.DEFAULT_NAME, "/hedgeshm")
        self.assertEqual(hedgeshm.NAME_ENV, "HEDGESHM_NAME")
        self.assertEqual((hedgeshm.AVAILABLE, hedgeshm.HEDGING, hedgeshm.ACTIVE, hedgeshm.ERROR),
                         ("AVAILABLE", "HEDGING", "ACTIVE", "ERROR"))
        self.assertEqual(hedgeshm.TAG_LEN, 25)
        self.assertEqual((hedgeshm.GROUP_MAX, hedgeshm.SYMBOL_MAX), (31, 31))
        self.assertEqual(hedgeshm.ESTALE, -4006)
        self.assertRegex(hedgeshm.__version__, r"^\d+\.\d+\.\d+$")

    def test_resolve_name(self):
        old = os.environ.pop("HEDGESHM_NAME", None)
        try:
            self.assertEqual(hedgeshm.resolve_name(), "/hedgeshm")
            self.assertEqual(hedgeshm.resolve_name(None), "/hedgeshm")
            os.environ["HEDGESHM_NAME"] = "/from-env"
            self.assertEqual(hedgeshm.resolve_name(), "/from-env")
            self.assertEqual(hedgeshm.resolve_name("/given"), "/given")
        finally:
            os.environ.pop("HEDGESHM_NAME", None)
            if old is not None:
                os.environ["HEDGESHM_NAME"] = old

    def test_validate(self):
        self.assertIsNone(hedgeshm.validate_name("/ok-name"))
        self.assertIsNone(hedgeshm.validate_key(G, S))

    def test_strerror(self):
        self.assertIn("stale token", hedgeshm.strerror(hedgeshm.ESTALE))
        self.assertEqual(hedgeshm.strerror(0), "success")

    def test_create_destroy(self):
        name = unique_name("create")
        self.addCleanup(destroy_quietly, name)
        self.assertEqual(hedgeshm.create(name, capacity=8, mode=0o640), name)
        self.assertEqual(os.stat("/dev/shm" + name).st_mode & 0o777, 0o640)
        with hedgeshm.HedgeTracker(name) as t:
            self.assertEqual(t.info()["capacity"], 8)
        hedgeshm.destroy(name)
        self.assertFalse(os.path.exists("/dev/shm" + name))

    def test_create_through_env(self):
        name = unique_name("env")
        self.addCleanup(destroy_quietly, name)
        old = os.environ.get("HEDGESHM_NAME")
        os.environ["HEDGESHM_NAME"] = name
        try:
            self.assertEqual(hedgeshm.create(capacity=4), name)
            with hedgeshm.HedgeTracker() as t:
                self.assertEqual(t.name, name)
            hedgeshm.destroy()
        finally:
            if old is None:
                del os.environ["HEDGESHM_NAME"]
            else:
                os.environ["HEDGESHM_NAME"] = old

    def test_parse_tag(self):
        self.assertIsNone(hedgeshm.parse_tag("no tag here"))
        self.assertIsNone(hedgeshm.parse_tag(""))


class OpenTest(unittest.TestCase):
    def test_create_when_missing_then_attach(self):
        name = unique_name("open")
        self.addCleanup(destroy_quietly, name)
        with hedgeshm.HedgeTracker(name, create=True, capacity=16) as a:
            self.assertEqual(a.info()["capacity"], 16)
            self.assertTrue(a.lock_position(G, S))
            # create=True on an existing segment attaches to it (capacity is not changed)
            with hedgeshm.HedgeTracker(name, create=True, capacity=99) as b:
                self.assertEqual(b.info()["capacity"], 16)
                self.assertFalse(b.lock_position(G, S))
        self.assertTrue(a.closed)

    def test_attributes_and_repr(self):
        name = unique_name("attrs")
        self.addCleanup(destroy_quietly, name)
        t = hedgeshm.HedgeTracker(name, create=True)
        self.assertEqual(t.name, name)
        self.assertFalse(t.read_only)
        self.assertFalse(t.closed)
        self.assertIn(name, repr(t))
        self.assertIn("held=0", repr(t))
        t.close()
        t.close()  # twice is fine
        self.assertTrue(t.closed)
        self.assertIn("closed", repr(t))
        self.assertEqual(t.info.__name__, "info")


class SeedMethodsTest(SegmentCase):
    def test_lock_position(self):
        t = self.tracker
        self.assertTrue(t.lock_position(G, S))
        self.assertFalse(t.lock_position(G, S))  # held by this tracker
        other = self.open()
        self.assertFalse(other.lock_position(G, S))  # held by another owner
        self.assertEqual(list(t.held()), [(G, S)])
        self.assertEqual(other.held(), {})

    def test_full_cycle(self):
        t = self.tracker
        self.assertTrue(t.is_position_available(G, S))
        self.assertTrue(t.lock_position(G, S))
        self.assertFalse(t.is_position_available(G, S))
        self.assertTrue(t.activate_position(G, S, 123456789, HEDGE))
        self.assertFalse(t.is_position_available(G, S))
        self.assertEqual(t.get_position_status(G, S)["state"], "ACTIVE")
        self.assertTrue(t.reset_position(G, S))
        self.assertTrue(t.is_position_available(G, S))
        self.assertIsNone(t.token(G, S))
        self.assertEqual(t.held(), {})

    def test_reset_from_hedging(self):
        t = self.tracker
        self.assertTrue(t.lock_position(G, S))
        self.assertTrue(t.reset_position(G, S))
        self.assertEqual(t.get_position_status(G, S)["state"], "AVAILABLE")

    def test_activate_without_lock_is_false(self):
        self.assertFalse(self.tracker.activate_position(G, S, 1, HEDGE))
        other = self.open()
        self.assertTrue(other.lock_position(G, S))
        self.assertFalse(self.tracker.activate_position(G, S, 1, HEDGE))  # other's lock
        self.assertEqual(self.tracker.get_position_status(G, S)["state"], "HEDGING")

    def test_activate_twice_is_false(self):
        t = self.tracker
        t.lock_position(G, S)
        self.assertTrue(t.activate_position(G, S, 7, HEDGE))
        self.assertFalse(t.activate_position(G, S, 8, HEDGE))
        self.assertEqual(t.get_position_status(G, S)["ticket"], 7)
        self.assertIsNotNone(t.token(G, S))  # still current: ACTIVE under it

    def test_reset_without_lock_is_false(self):
        self.assertFalse(self.tracker.reset_position(G, S))
        other = self.open()
        other.lock_position(G, S)
        self.assertFalse(self.tracker.reset_position(G, S))
        self.assertEqual(other.get_position_status(G, S)["state"], "HEDGING")

    def test_stale_token_is_false_and_dropped(self):
        t = self.tracker
        t.lock_position(G, S)
        token = t.token(G, S)
        t.activate_position(G, S, 5, HEDGE)
        # The syncer (here another tracker with the token) resets after the hedge closed.
        syncer = self.open()
        syncer.reset(token)
        self.assertEqual(t.token(G, S), token)  # the tracker cannot know yet
        self.assertFalse(t.reset_position(G, S))
        self.assertIsNone(t.token(G, S))
        # A new lock replaces what the tracker keeps.
        self.assertTrue(t.lock_position(G, S))
        self.assertNotEqual(t.token(G, S), token)
        syncer.reset(t.token(G, S))
        self.assertFalse(t.activate_position(G, S, 6, HEDGE))
        self.assertIsNone(t.token(G, S))

    def test_keywords(self):
        t = self.tracker
        self.assertTrue(t.lock_position(group=G, symbol=S))
        self.assertTrue(t.activate_position(G, S, order_id=9, hedge_symbol=HEDGE))
        self.assertEqual(t.get_position_status(symbol=S, group=G)["hedge_symbol"], HEDGE)
        self.assertTrue(t.reset_position(symbol=S, group=G))

    def test_activate_without_hedge_symbol(self):
        t = self.tracker
        t.lock_position(G, S)
        self.assertTrue(t.activate_position(G, S, 11))
        self.assertEqual(t.get_position_status(G, S)["hedge_symbol"], "")

    def test_unicode_subclass_keys(self):
        class Sym(str):
            def __hash__(self):
                raise AssertionError("the tracker must not hash a str subclass")

        t = self.tracker
        self.assertTrue(t.lock_position(Sym(G), Sym(S)))
        self.assertEqual(t.token(G, S), t.token(Sym(G), Sym(S)))
        self.assertTrue(t.reset_position(Sym(G), Sym(S)))


class StatusTest(SegmentCase):
    def test_never_used(self):
        self.assertIsNone(self.tracker.get_position_status(G, S))
        self.assertTrue(self.tracker.is_position_available(G, S))
        self.assertEqual(self.tracker.info()["used"], 0)  # reading never inserts the key

    def test_fields(self):
        t = self.tracker
        before = time.time_ns()
        t.lock_position(G, S)
        st = t.get_position_status(G, S)
        self.assertEqual(st["group"], G)
        self.assertEqual(st["symbol"], S)
        self.assertEqual(st["state"], "HEDGING")
        self.assertEqual(st["slot"], 0)
        self.assertEqual(st["generation"], 1)
        self.assertEqual(st["token"], t.token(G, S))
        self.assertEqual(st["owner_pid"], os.getpid())
        self.assertEqual(st["ticket"], 0)
        self.assertEqual(st["hedge_symbol"], "")
        self.assertEqual(st["reason"], "")
        # coarse clock: a few ms behind
        self.assertGreater(st["lock_ns"], before - 100_000_000)
        self.assertEqual(st["lease_deadline_ns"] - st["lock_ns"], 60_000 * 1_000_000)
        self.assertFalse(st["lease_expired"])
        self.assertEqual(st["activate_ns"], 0)
        t.activate_position(G, S, 424242, HEDGE)
        st = t.get_position_status(G, S)
        self.assertEqual((st["state"], st["generation"], st["ticket"], st["hedge_symbol"]),
                         ("ACTIVE", 2, 424242, HEDGE))
        self.assertGreaterEqual(st["activate_ns"], st["lock_ns"])
        t.reset_position(G, S)
        st = t.get_position_status(G, S)
        self.assertEqual((st["state"], st["generation"], st["owner_pid"], st["ticket"]),
                         ("AVAILABLE", 3, 0, 0))
        self.assertEqual(sorted(st), sorted([
            "group", "symbol", "state", "slot", "generation", "token", "ticket", "hedge_symbol",
            "owner_pid", "lock_ns", "lease_deadline_ns", "lease_expired", "activate_ns",
            "changed_ns", "reason"]))

    def test_changes_made_elsewhere_are_seen(self):
        t, other = self.tracker, self.open()
        self.assertIsNone(t.get_position_status(G, S))
        other.lock_position(G, S)
        self.assertEqual(t.get_position_status(G, S)["state"], "HEDGING")
        other.activate_position(G, S, 3, HEDGE)
        self.assertEqual(t.get_position_status(G, S)["state"], "ACTIVE")
        other.reset_position(G, S)
        self.assertEqual(t.get_position_status(G, S)["state"], "AVAILABLE")

    def test_returned_dict_is_the_callers(self):
        t = self.tracker
        t.lock_position(G, S)
        st = t.get_position_status(G, S)
        st["state"] = "scribbled"
        st.clear()
        self.assertEqual(t.get_position_status(G, S)["state"], "HEDGING")
        self.assertIsNot(t.get_position_status(G, S), t.get_position_status(G, S))

    def test_lease(self):
        t = self.open(lease_ms=50)
        t.lock_position(G, S)
        st = t.get_position_status(G, S)
        self.assertEqual(st["lease_deadline_ns"] - st["lock_ns"], 50 * 1_000_000)
        self.assertFalse(st["lease_expired"])
        time.sleep(0.15)
        self.assertTrue(t.get_position_status(G, S)["lease_expired"])
        t.activate_position(G, S, 1, HEDGE)
        self.assertFalse(t.get_position_status(G, S)["lease_expired"])  # only HEDGING expires

    def test_status_and_status_by_token(self):
        t = self.tracker
        token = t.lock(G, S)
        self.assertEqual(t.status(G, S)["token"], token)
        self.assertEqual(t.status_by_token(token)["symbol"], S)
        self.assertEqual(t.status_by_token(token), t.status(G, S))

    def test_positions(self):
        t = self.tracker
        t.lock_position(G, "A")
        t.lock_position(G, "B")
        t.activate_position(G, "B", 1, HEDGE)
        t.mark_error(G, "C", "dup")
        self.assertEqual([p["symbol"] for p in t.positions()], ["A", "B", "C"])
        self.assertEqual([p["symbol"] for p in t.positions("ACTIVE")], ["B"])
        self.assertEqual([p["symbol"] for p in t.positions(state="ERROR")], ["C"])
        self.assertEqual(t.positions("AVAILABLE"), [])
        self.assertEqual(t.positions(None), t.positions())

    def test_statistics(self):
        t, other = self.tracker, self.open()
        t.lock_position(G, "A")
        other.lock_position(G, "A")
        t.activate_position(G, "A", 1, HEDGE)
        t.lock_position(G, "B")
        t.reset_position(G, "B")
        t.mark_error(G, "C", "why")
        t.clear(G, "C")
        t.mark_error(G, "D")
        stats = t.get_statistics()
        expect = {
            "total_positions": 4, "available": 2, "hedging": 0, "active": 1, "error": 1,
            "capacity": 64, "used_slots": 4, "processes": 2, "held": 1, "locks_won": 2,
            "lock_conflicts": 1, "activations": 1, "resets": 1, "errors": 2, "clears": 1,
            "stale_refusals": 0, "keys_inserted": 4,
        }
        self.assertEqual(stats, expect)

    def test_info(self):
        info = self.tracker.info()
        self.assertEqual(info["capacity"], 64)
        self.assertEqual(info["used"], 0)
        self.assertEqual(info["procs_registered"], 1)
        self.assertFalse(info["read_only"])
        self.assertGreater(info["size_bytes"], 64 * 256)


class ErrorStateTest(SegmentCase):
    def test_mark_error_and_clear(self):
        t = self.tracker
        self.assertTrue(t.lock_position(G, S))
        self.assertTrue(t.mark_error(G, S, "duplicate hedge: tickets 1 and 2"))
        self.assertIsNone(t.token(G, S))  # that lock ended
        st = t.get_position_status(G, S)
        self.assertEqual((st["state"], st["reason"]), ("ERROR", "duplicate hedge: tickets 1 and 2"))
        self.assertFalse(t.mark_error(G, S, "again"))
        self.assertFalse(t.lock_position(G, S))
        self.assertFalse(t.is_position_available(G, S))
        self.assertTrue(t.clear(G, S))
        self.assertFalse(t.clear(G, S))
        self.assertTrue(t.is_position_available(G, S))

    def test_mark_error_on_a_new_key(self):
        t = self.tracker
        self.assertTrue(t.mark_error(G, S))
        self.assertEqual(t.get_position_status(G, S)["reason"], "")
        self.assertFalse(t.clear(G, "never-used"))

    def test_mark_error_keeps_active_evidence(self):
        t = self.tracker
        t.lock_position(G, S)
        t.activate_position(G, S, 77, HEDGE)
        t.mark_error(G, S, reason="manual")
        st = t.get_position_status(G, S)
        self.assertEqual((st["ticket"], st["hedge_symbol"]), (77, HEDGE))
        self.assertFalse(t.activate_position(G, S, 78, HEDGE))


class ExplicitTokenTest(SegmentCase):
    def test_cycle(self):
        t = self.tracker
        token = t.lock(G, S)
        self.assertEqual(t.token(G, S), token)
        self.assertEqual(token >> 44, 0)  # slot 0
        self.assertEqual(token & ((1 << 44) - 1), 1)  # generation of the lock
        t.activate(token, 55, HEDGE)
        t.reset(token)
        self.assertIsNone(t.token(G, S))

    def test_token_from_another_tracker(self):
        a, b = self.tracker, self.open()
        token = a.lock(G, S)
        b.activate(token, 1, hedge_symbol=HEDGE)  # a token is a capability
        b.reset(token=token)
        self.assertFalse(a.reset_position(G, S))  # stale now
        self.assertEqual(a.held(), {})

    def test_release_only_from_hedging(self):
        t = self.tracker
        token = t.lock(G, S)
        t.release(token)
        self.assertTrue(t.is_position_available(G, S))
        with self.assertRaises(hedgeshm.StaleTokenError):
            t.release(token)
        token = t.lock(G, S)
        t.activate(token, 2001, HEDGE)
        with self.assertRaises(hedgeshm.StateError):
            t.release(token)  # ACTIVE: the hedge is tracked, never dropped by a give-up
        self.assertEqual(t.get_position_status(G, S)["state"], "ACTIVE")
        t.reset(token)


MS = 1_000_000
GRACE_MS = 100  # short, so that the tests wait little for snapshot times past a send


def wait_until_ms(ms):
    """Sleep until CLOCK_REALTIME reaches ms: the library refuses snapshot times from the
    future, so a test publishes a snapshot only once its time has come."""
    while time.time_ns() // MS < ms:
        time.sleep(0.002)


class SettleUnknownTest(SegmentCase):
    """settle_unknown decides a lock whose order's outcome is unknown only from a snapshot
    the syncer reconciled more than grace after the send (not the lock), played here by a
    second tracker that claims the syncer role and publishes snapshot times."""

    def setUp(self):
        super().setUp()
        self.syncer = self.open()
        self.syncer.sync_claim()

    def publish(self, snapshot_time_ms, grace_ms=GRACE_MS, degraded=False):
        wait_until_ms(snapshot_time_ms)
        self.syncer.sync_publish(interval_ms=100, grace_ms=grace_ms, snapshot_seq=1,
                                 snapshot_time_ms=snapshot_time_ms, degraded=degraded)

    def lock_and_send(self, slow_ms=0):
        """A lock, then a send slow_ms + 5 ms after it, on a whole millisecond so that the
        boundaries are exact: (token, status at the lock, send time in ns)."""
        token = self.tracker.lock(G, S)
        st = self.tracker.status_by_token(token)
        time.sleep((slow_ms + 5) / 1000)
        sent = time.time_ns() // MS * MS
        self.assertGreaterEqual(sent, st["lock_ns"])
        return token, st, sent

    def assert_hedging(self, token):
        st = self.tracker.status_by_token(token)
        self.assertEqual((st["state"], st["token"]), ("HEDGING", token))
        self.assertEqual(self.tracker.token(G, S), token)

    def test_not_known_without_a_healthy_syncer(self):
        token, _, sent = self.lock_and_send()
        wait_until_ms(sent // MS + GRACE_MS + 1)
        # The syncer claimed the role but never published: its heartbeat is absent.
        self.assertIsNone(self.tracker.settle_unknown(token, sent, GRACE_MS))
        # Degraded: its snapshot time says nothing about the broker now.
        self.publish(sent // MS + GRACE_MS + 1, degraded=True)
        self.assertIsNone(self.tracker.settle_unknown(token, sent, GRACE_MS))
        self.assert_hedging(token)

    def test_waits_past_the_send_not_the_lock(self):
        # The spin model's trace: a bot slow between its lock and its send must not take a
        # snapshot past lock + grace, which predates its order, as showing the order.
        t = self.tracker
        token, st, sent = self.lock_and_send(slow_ms=3 * GRACE_MS)
        self.publish(st["lock_ns"] // MS + GRACE_MS + 50)
        self.assertIsNone(t.settle_unknown(token, sent, GRACE_MS))
        self.publish(sent // MS + GRACE_MS)  # exactly send + grace is not newer than it
        self.assertIsNone(t.settle_unknown(token, sent, grace_ms=GRACE_MS))
        self.assert_hedging(token)
        self.publish(sent // MS + GRACE_MS + 1)
        self.assertEqual(t.settle_unknown(token, sent, GRACE_MS), "released")
        self.assertEqual(t.get_position_status(G, S)["state"], "AVAILABLE")
        self.assertIsNone(t.token(G, S))
        self.assertEqual(t.held(), {})
        # The old token is dead for good.
        with self.assertRaises(hedgeshm.StaleTokenError):
            t.reset(token)
        with self.assertRaises(hedgeshm.StaleTokenError):
            t.activate(token, 1, HEDGE)
        # Asked again once another bot locked the position: the first lock moved on, and
        # the other bot's lock is left alone.
        other = self.open()
        newer = other.lock(G, S)
        self.assertEqual(t.settle_unknown(token, sent, GRACE_MS), "moved_on")
        self.assertEqual(other.status_by_token(newer)["state"], "HEDGING")
        self.assertEqual(other.token(G, S), newer)

    def test_larger_grace_wins(self):
        t = self.tracker
        token, _, sent = self.lock_and_send()
        # The syncer's grace is larger than the bot's: the syncer's counts.
        self.publish(sent // MS + GRACE_MS + 50, grace_ms=2 * GRACE_MS)
        self.assertIsNone(t.settle_unknown(token, sent, 10))
        # The bot's is larger than the syncer's: the bot's counts.
        self.publish(sent // MS + 2 * GRACE_MS + 1, grace_ms=2 * GRACE_MS)
        self.assertIsNone(t.settle_unknown(token, sent, 3 * GRACE_MS))
        self.assert_hedging(token)
        self.assertEqual(t.settle_unknown(token, sent, 10), "released")

    def test_default_grace(self):
        token, _, sent = self.lock_and_send()
        # grace_ms defaults to 1000: a snapshot 100 ms past the send decides nothing.
        self.publish(sent // MS + GRACE_MS + 1, grace_ms=0)
        self.assertIsNone(self.tracker.settle_unknown(token, sent))
        self.assertEqual(self.tracker.settle_unknown(token, sent, GRACE_MS), "released")

    def test_adopted(self):
        t = self.tracker
        token, _, sent = self.lock_and_send()
        # What the syncer does when the snapshot shows the tagged order (rule 3). A lock
        # already judged is reported at once, without a snapshot.
        self.syncer.activate(token, 4242, HEDGE)
        self.assertEqual(t.settle_unknown(token, sent, GRACE_MS), "adopted")
        st = t.get_position_status(G, S)
        self.assertEqual((st["state"], st["ticket"], st["token"]), ("ACTIVE", 4242, token))
        self.assertEqual(t.token(G, S), token)  # still this tracker's lock
        self.assertTrue(t.reset_position(G, S))

    def test_moved_on(self):
        t = self.tracker
        # Adopted, and its hedge closed since: the syncer reset it.
        token, _, sent = self.lock_and_send()
        self.syncer.activate(token, 4242, HEDGE)
        self.syncer.reset(token)
        self.assertEqual(t.settle_unknown(token, sent, GRACE_MS), "moved_on")
        self.assertIsNone(t.token(G, S))
        # Marked ERROR while HEDGING: the bot must not touch it.
        token, _, sent = self.lock_and_send()
        self.syncer.mark_error(G, S, "two hedges")
        self.assertEqual(t.token(G, S), token)  # another tracker marked it: still kept here
        self.assertEqual(t.settle_unknown(token, sent, GRACE_MS), "moved_on")
        self.assertIsNone(t.token(G, S))
        self.assertEqual(t.get_position_status(G, S)["state"], "ERROR")

    def test_invalid_send_times(self):
        t = self.tracker
        token, st, _ = self.lock_and_send()
        self.publish(time.time_ns() // MS)
        with self.assertRaises(hedgeshm.InvalidError) as cm:
            t.settle_unknown(token, st["lock_ns"] - 1, GRACE_MS)  # before the lock
        self.assertIn("CLOCK_REALTIME", str(cm.exception))
        self.assertEqual(cm.exception.code, -errno.EINVAL)
        with self.assertRaises(hedgeshm.InvalidError):
            t.settle_unknown(token, time.monotonic_ns(), GRACE_MS)  # another clock
        for bad in (0, -5, time.time_ns() + 60_000 * MS):  # not a past CLOCK_REALTIME time
            with self.assertRaises(hedgeshm.InvalidError):
                t.settle_unknown(token, bad, GRACE_MS)
        self.assert_hedging(token)

    def test_argument_checks(self):
        t = self.tracker
        token, _, sent = self.lock_and_send()
        with self.assertRaises(hedgeshm.InvalidError) as cm:
            t.settle_unknown(token, sent, 2**32)
        self.assertIn("grace_ms", str(cm.exception))
        with self.assertRaises(OverflowError):
            t.settle_unknown(token, sent, -1)
        with self.assertRaises(OverflowError):
            t.settle_unknown(token, 2**63, GRACE_MS)
        with self.assertRaises(OverflowError):
            t.settle_unknown(-1, sent, GRACE_MS)
        with self.assertRaises(TypeError):
            t.settle_unknown(token, time.time() * 1e9)  # a float: not time.time_ns()
        with self.assertRaises(TypeError):
            t.settle_unknown(token)
        with self.assertRaises(TypeError):
            t.settle_unknown(token, sent, GRACE_MS, 1)
        with self.assertRaises(TypeError):
            t.settle_unknown(token, sent, grace=GRACE_MS)
        with self.assertRaises(hedgeshm.NoKeyError):
            t.settle_unknown(40 << 44 | 1, sent, GRACE_MS)  # a slot no key uses
        self.assertIsNone(t.settle_unknown(token=token, sent_ns=sent, grace_ms=GRACE_MS))
        self.assert_hedging(token)
        t.close()
        with self.assertRaises(ValueError):
            t.settle_unknown(token, sent, GRACE_MS)


class TagTest(SegmentCase):
    def test_order_tag(self):
        t = self.tracker
        t.lock_position(G, S)
        tag = t.order_tag(G, S)
        self.assertEqual(len(tag), hedgeshm.TAG_LEN)
        self.assertTrue(tag.startswith("HS"))
        self.assertTrue(tag.isalnum() and tag.upper() == tag)
        token = t.token(G, S)
        self.assertEqual(t.tag(token), tag)
        parsed = hedgeshm.parse_tag("hedge " + tag + " [sl 1.2]")
        self.assertEqual(parsed["slot"], token >> 44)
        self.assertEqual(parsed["generation"], token & ((1 << 44) - 1))
        self.assertEqual(parsed["instance"], t.info()["instance_id"] & 0xFFFFF)
        self.assertEqual(sorted(parsed), ["generation", "instance", "key_print", "slot"])
        # the tag stays valid while the lock is current: HEDGING and ACTIVE
        t.activate_position(G, S, 1, HEDGE)
        self.assertEqual(t.order_tag(G, S), tag)
        self.assertEqual(hedgeshm.parse_tag(tag.lower()), parsed)  # servers may change case

    def test_resolve_tag(self):
        t = self.tracker
        t.lock_position(G, "A")
        t.lock_position(G, S)
        token = t.token(G, S)
        match = t.resolve_tag("comment: " + t.order_tag(G, S) + " #1")
        self.assertEqual(match, {"slot": 1, "same_instance": True, "token": token})

    def test_resolve_tag_from_an_earlier_segment(self):
        t = self.tracker
        t.lock_position(G, S)
        old_tag = t.order_tag(G, S)
        name = unique_name("again")
        self.addCleanup(destroy_quietly, name)
        with hedgeshm.HedgeTracker(name, create=True) as fresh:
            fresh.lock_position(G, "other")
            fresh.mark_error(G, S)
            match = fresh.resolve_tag(old_tag)
            self.assertEqual(match, {"slot": 1, "same_instance": False, "token": None})


class SyncTest(SegmentCase):
    def test_absent(self):
        sync = self.tracker.sync_with_mt5()
        self.assertEqual((sync["health"], sync["ok"], sync["pid"]), ("ABSENT", False, 0))
        self.assertEqual(sync["grace_ms"], 0)
        self.assertEqual(set(sync["counters"]), {
            "cycles", "snapshots_ok", "snapshots_rejected", "resets_closed", "adoptions",
            "duplicates", "tag_warnings", "errors_marked", "orphans_released", "orphans_adopted",
            "orphans_waiting", "leases_expired", "repairs"})

    def test_published_health(self):
        syncer = self.open()
        syncer.sync_claim()
        syncer.sync_claim()  # claiming again through the same handle is fine
        syncer.sync_publish(interval_ms=500, grace_ms=2500, snapshot_seq=42,
                            snapshot_time_ms=1_700_000_000_123,
                            counters={"cycles": 3, "adoptions": 1, "orphans_released": 4,
                                      "repairs": 2})
        sync = self.tracker.sync_with_mt5()
        self.assertEqual((sync["health"], sync["ok"]), ("OK", True))
        self.assertEqual(sync["pid"], os.getpid())
        self.assertEqual(sync["interval_ms"], 500)
        self.assertEqual(sync["grace_ms"], 2500)
        self.assertEqual(sync["snapshot_seq"], 42)
        self.assertEqual(sync["snapshot_time_ms"], 1_700_000_000_123)
        self.assertEqual(sync["counters"]["cycles"], 3)
        self.assertEqual(sync["counters"]["adoptions"], 1)
        self.assertEqual(sync["counters"]["duplicates"], 0)
        self.assertEqual(sync["counters"]["orphans_released"], 4)
        self.assertEqual(sync["counters"]["repairs"], 2)
        self.assertLessEqual(abs(sync["heartbeat_ns"] - time.time_ns()), 5_000_000_000)
        self.assertFalse(sync["degraded"])
        since = time.time_ns()
        syncer.sync_publish(degraded=True, degraded_since_ns=since,
                            degraded_reason="snapshot stale for 3200 ms")
        sync = self.tracker.sync_with_mt5()
        self.assertEqual((sync["health"], sync["ok"], sync["degraded"]), ("DEGRADED", False, True))
        self.assertEqual(sync["degraded_since_ns"], since)
        self.assertEqual(sync["degraded_reason"], "snapshot stale for 3200 ms")
        old = time.time_ns() - 60 * 1_000_000_000
        syncer.sync_publish(interval_ms=1000, heartbeat_ns=old, started_ns=old)
        sync = self.tracker.sync_with_mt5()
        self.assertEqual(sync["health"], "ABSENT")  # its heartbeat stopped
        self.assertEqual(sync["started_ns"], old)
        self.assertEqual(sync["grace_ms"], 0)  # every publish is the whole block


class LeakTest(SegmentCase):
    """Every method, on its normal and its error paths, many times: the memory Python
    allocates must not grow with the count (the module's own leak check: under ASan the
    suite runs with leak detection off, since the interpreter keeps memory until exit)."""

    def exercise(self, n):
        t = self.tracker
        refused = (hedgeshm.HedgeShmError, ValueError, OverflowError)
        for i in range(n):
            t.lock_position(G, S)
            t.lock_position(G, S)
            t.resolve_tag("c " + t.order_tag(G, S))
            t.token(G, S)
            t.held()
            t.activate_position(G, S, i + 1, HEDGE)
            t.activate_position(G, S, i + 1, HEDGE)
            t.get_position_status(G, S)
            t.get_position_status(G, "never")
            t.is_position_available(G, S)
            t.reset_position(G, S)
            t.reset_position(G, S)
            token = t.lock(G, S)
            t.settle_unknown(token, time.time_ns(), 0)  # None: no syncer
            t.activate(token, 1)
            t.settle_unknown(token, time.time_ns())  # adopted
            t.status_by_token(token)
            t.reset(token)
            t.settle_unknown(token, time.time_ns())  # moved on
            for call, args in ((t.reset, (token,)), (t.settle_unknown, (token, 0)),
                               (t.lock_position, ("", S)),
                               (t.status, (G, "never")), (t.order_tag, (G, S)),
                               (t.activate_position, (G, S, -1)), (t.lock, (G, "nul\0")),
                               (t.resolve_tag, ("none",)), (hedgeshm.HedgeTracker, ("/hshm-no",))):
                try:
                    call(*args)
                except refused:
                    pass
            t.mark_error(G, S, "leak test")
            t.mark_error(G, S, "again")
            t.clear(G, S)
            t.sync_with_mt5()
            t.get_statistics()
            t.positions()
            t.info()
            hedgeshm.parse_tag("none")

    def test_no_leaks(self):
        self.exercise(100)  # caches and interned strings settle first
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            self.exercise(2000)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        self.assertLess(grown, 32 * 1024, "memory grew by %d bytes" % grown)


class SeedExampleTest(SegmentCase):
    """The seed's usage example, line for line but the first (docs/python.md)."""

    def test_seed_example(self):
        class Broker:
            def __init__(self, success):
                self.success, self.orders = success, []

            def place_order(self, symbol):
                self.orders.append(symbol)
                return {"success": self.success, "order_id": 1000 + len(self.orders)}

        for success, state in ((True, "ACTIVE"), (False, "AVAILABLE")):
            group_id, symbol, hedge_symbol = "corr-%s" % success, "EURUSD", "GBPUSD"
            broker = Broker(success)
            # Initialize tracker
            hedge_tracker = hedgeshm.HedgeTracker(self.name)
            # Check if position can be hedged
            if hedge_tracker.is_position_available(group_id, symbol):
                # Lock position to prevent duplicates
                if hedge_tracker.lock_position(group_id, symbol):
                    # Place hedge order
                    order_result = broker.place_order(hedge_symbol)
                    order_id = order_result["order_id"]
                    if order_result['success']:
                        # Activate position after successful order
                        hedge_tracker.activate_position(group_id, symbol, order_id, hedge_symbol)
                    else:
                        # Reset position if order failed
                        hedge_tracker.reset_position(group_id, symbol)
            # Sync with MT5 (call periodically)
            hedge_tracker.sync_with_mt5()
            # Get position status
            status = hedge_tracker.get_position_status(group_id, symbol)
            self.assertEqual(status["state"], state)
            self.assertEqual(broker.orders, [hedge_symbol])
            hedge_tracker.close()


if __name__ == "__main__":
    unittest.main()
