"""Every error path: the exception hierarchy and what each exception carries, missing and
foreign segments, bad names and keys, a full table, stale tokens, wrong states, read-only
trackers, permissions, a closed tracker, and a segment scribbled on by a hostile process."""
import errno
import os
import time
import unittest

import hedgeshm
from support import (HEADER_FORMAT, HEADER_SLOT_SIZE, W_GEN_MAX, W_GEN_SHIFT, unknown_writer,
                     W_ZERO_BITS, Raw, SegmentCase, destroy_quietly, unique_name)

G, S, HEDGE = "corr-1", "EURUSD.pro", "GBPUSD.pro"


class HierarchyTest(unittest.TestCase):
    def test_classes(self):
        base = hedgeshm.HedgeShmError
        self.assertTrue(issubclass(base, Exception))
        also = {
            "NotFoundError": FileNotFoundError, "AccessError": PermissionError,
            "ExistsError": FileExistsError, "InvalidError": ValueError,
            "NoKeyError": LookupError, "NoTagError": ValueError,
        }
        for name in ("NotFoundError", "AccessError", "ExistsError", "InvalidError",
                     "CorruptSegmentError", "VersionError", "LayoutError", "TableFullError",
                     "StaleTokenError", "StateError", "BusyError", "NoKeyError", "NoTagError",
                     "ReadOnlyError", "TryAgainError", "ExhaustedError"):
            cls = getattr(hedgeshm, name)
            self.assertTrue(issubclass(cls, base), name)
            self.assertEqual(cls.__module__, "hedgeshm")
            if name in also:
                self.assertTrue(issubclass(cls, also[name]), name)

    def test_attributes(self):
        name = unique_name("attrs")
        with self.assertRaises(hedgeshm.NotFoundError) as cm:
            hedgeshm.HedgeTracker(name)
        e = cm.exception
        self.assertEqual(e.code, -errno.ENOENT)
        self.assertEqual(e.errno, errno.ENOENT)
        self.assertIn(name, e.detail)
        self.assertIn("segment not found", str(e))
        self.assertIn(e.detail, str(e))
        self.assertTrue(str(e).startswith("HedgeTracker: "))

    def test_library_code_has_no_errno(self):
        name = unique_name("code")
        self.addCleanup(destroy_quietly, name)
        with hedgeshm.HedgeTracker(name, create=True) as t:
            token = t.lock(G, S)
            t.reset(token)
            with self.assertRaises(hedgeshm.StaleTokenError) as cm:
                t.reset(token)
            self.assertEqual(cm.exception.code, hedgeshm.ESTALE)
            self.assertIsNone(cm.exception.errno)
            self.assertNotEqual(cm.exception.detail, "")


class SegmentErrorsTest(unittest.TestCase):
    def test_missing(self):
        with self.assertRaises(FileNotFoundError):
            hedgeshm.HedgeTracker(unique_name("missing"))
        with self.assertRaises(hedgeshm.NotFoundError):
            hedgeshm.destroy(unique_name("missing"))

    def test_exists(self):
        name = unique_name("exists")
        self.addCleanup(destroy_quietly, name)
        hedgeshm.create(name)
        with self.assertRaises(hedgeshm.ExistsError) as cm:
            hedgeshm.create(name)
        self.assertEqual(cm.exception.errno, errno.EEXIST)

    def test_bad_names(self):
        for bad in ("no-slash", "/", "/a/b", "/with space", "/" + "x" * 300, "/nul\0byte", ""):
            with self.assertRaises(hedgeshm.InvalidError, msg=repr(bad)):
                hedgeshm.HedgeTracker(bad)
            with self.assertRaises(ValueError, msg=repr(bad)):
                hedgeshm.validate_name(bad)
            with self.assertRaises(hedgeshm.InvalidError, msg=repr(bad)):
                hedgeshm.create(bad)
            with self.assertRaises(hedgeshm.InvalidError, msg=repr(bad)):
                hedgeshm.destroy(bad)
        with self.assertRaises(TypeError):
            hedgeshm.HedgeTracker(b"/bytes")

    def test_bad_create_arguments(self):
        name = unique_name("badcreate")
        self.addCleanup(destroy_quietly, name)
        with self.assertRaises(hedgeshm.InvalidError):
            hedgeshm.create(name, capacity=(1 << 20) + 1)
        with self.assertRaises(hedgeshm.InvalidError):
            hedgeshm.HedgeTracker(name, create=True, capacity=(1 << 20) + 1)
        with self.assertRaises(hedgeshm.InvalidError):
            hedgeshm.HedgeTracker(name, create=True, read_only=True)
        self.assertFalse(os.path.exists("/dev/shm" + name))
        for lease in (0, 86_400_001, 1 << 40):
            with self.assertRaises(hedgeshm.InvalidError, msg=lease):
                hedgeshm.HedgeTracker(name, create=True, lease_ms=lease)
        with self.assertRaises(OverflowError):
            hedgeshm.HedgeTracker(name, lease_ms=-1)
        with self.assertRaises(TypeError):
            hedgeshm.HedgeTracker(name, lease_ms="10")

    def test_not_a_segment(self):
        name = unique_name("foreign")
        self.addCleanup(destroy_quietly, name)
        with open("/dev/shm" + name, "wb") as f:
            f.write(b"not a hedgeshm segment".ljust(8192, b"x"))
        with self.assertRaises(hedgeshm.CorruptSegmentError) as cm:
            hedgeshm.HedgeTracker(name)
        self.assertEqual(cm.exception.code, hedgeshm.ENOTSEG)

    def test_truncated(self):
        name = unique_name("short")
        self.addCleanup(destroy_quietly, name)
        with open("/dev/shm" + name, "wb") as f:
            f.write(b"HD")
        with self.assertRaises(hedgeshm.CorruptSegmentError) as cm:
            hedgeshm.HedgeTracker(name)
        self.assertEqual(cm.exception.code, hedgeshm.ETRUNC)

    def test_never_initialised(self):
        name = unique_name("noinit")
        self.addCleanup(destroy_quietly, name)
        with open("/dev/shm" + name, "wb") as f:
            f.write(bytes(8192))
        start = time.monotonic()
        with self.assertRaises(hedgeshm.CorruptSegmentError) as cm:
            hedgeshm.HedgeTracker(name)
        self.assertEqual(cm.exception.code, hedgeshm.EINIT)
        self.assertGreater(time.monotonic() - start, 0.5)  # it waited for a creator

    def test_version_and_layout(self):
        for offset, cls, code in ((HEADER_FORMAT, hedgeshm.VersionError, hedgeshm.EVERSION),
                                  (HEADER_SLOT_SIZE, hedgeshm.LayoutError, hedgeshm.ELAYOUT)):
            name = unique_name("hdr")
            self.addCleanup(destroy_quietly, name)
            hedgeshm.create(name, capacity=4)
            raw = Raw(name)
            raw.u32(offset, 999)
            raw.close()
            with self.assertRaises(cls) as cm:
                hedgeshm.HedgeTracker(name)
            self.assertEqual(cm.exception.code, code)

    def test_permission(self):
        name = unique_name("perm")
        self.addCleanup(destroy_quietly, name)
        hedgeshm.create(name, mode=0o600)
        if os.geteuid() != 0:
            os.chmod("/dev/shm" + name, 0)
            with self.assertRaises(hedgeshm.AccessError):
                hedgeshm.HedgeTracker(name)
            return
        # root reads everything: try as nobody, in a child
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                except PermissionError:
                    os._exit(77)  # no CAP_SETUID here
                try:
                    hedgeshm.HedgeTracker(name)
                except PermissionError as e:
                    code = 0 if (isinstance(e, hedgeshm.AccessError)
                                 and e.errno == errno.EACCES) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) == 77:
            self.skipTest("cannot drop root privileges here")
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)


class KeyErrorsTest(SegmentCase):
    BAD_KEYS = [("", S), (G, ""), ("g" * 32, S), (G, "s" * 32), ("with space", S),
                (G, "tab\t"), ("caf\u00e9", S), (G, "nul\0byte")]

    def test_bad_keys(self):
        t = self.tracker
        calls = [t.lock_position, t.is_position_available, t.get_position_status, t.status,
                 t.mark_error, t.clear, t.lock, hedgeshm.validate_key]
        nul_calls = [t.token, t.order_tag, t.reset_position,
                     lambda g, s: t.activate_position(g, s, 1)]
        for group, symbol in self.BAD_KEYS:
            for call in calls + (nul_calls if "\0" in group + symbol else []):
                with self.assertRaises(hedgeshm.InvalidError, msg=(call, group, symbol)) as cm:
                    call(group, symbol)
                self.assertEqual(cm.exception.code, -errno.EINVAL)
        self.assertEqual(t.info()["used"], 0)
        # Methods that look up the tracker's own tokens first: a bad key is never held.
        for group, symbol in self.BAD_KEYS:
            if "\0" in group + symbol:
                continue  # refused before any lookup (above)
            self.assertIsNone(t.token(group, symbol))
            self.assertFalse(t.activate_position(group, symbol, 1))
            self.assertFalse(t.reset_position(group, symbol))
            with self.assertRaises(hedgeshm.StaleTokenError):
                t.order_tag(group, symbol)

    def test_longest_key_fits(self):
        self.assertTrue(self.tracker.lock_position("g" * 31, "s" * 31))

    def test_bad_hedge_symbol(self):
        t = self.tracker
        t.lock_position(G, S)
        for bad in ("", "x" * 32, "with space"):
            if bad == "":
                continue  # empty means none
            with self.assertRaises(hedgeshm.InvalidError):
                t.activate_position(G, S, 1, bad)
        self.assertEqual(t.get_position_status(G, S)["state"], "HEDGING")

    def test_wrong_types(self):
        t = self.tracker
        with self.assertRaises(TypeError):
            t.lock_position(G, 5)
        with self.assertRaises(TypeError):
            t.lock_position(G)
        with self.assertRaises(TypeError):
            t.lock_position(G, S, "extra")
        with self.assertRaises(TypeError):
            t.lock_position(G, S, colour="red")
        with self.assertRaises(TypeError):
            t.lock_position(G, group=G)
        t.lock_position(G, S)
        with self.assertRaises(TypeError):
            t.activate_position(G, S, "ticket", HEDGE)
        with self.assertRaises(OverflowError):
            t.activate_position(G, S, -1, HEDGE)
        with self.assertRaises(OverflowError):
            t.activate_position(G, S, 1 << 64, HEDGE)
        with self.assertRaises(TypeError):
            t.reset(None)
        with self.assertRaises(ValueError):
            t.positions("BOGUS")


class TableFullTest(SegmentCase):
    capacity = 2

    def test_full_table(self):
        t = self.tracker
        self.assertTrue(t.lock_position(G, "A"))
        self.assertTrue(t.mark_error(G, "B"))
        for call in (t.lock_position, t.mark_error, t.lock):
            with self.assertRaises(hedgeshm.TableFullError) as cm:
                call(G, "C")
            self.assertEqual(cm.exception.errno, errno.ENOSPC)
            self.assertIn("hold keys", cm.exception.detail)
        # keys already in the table keep working
        self.assertTrue(t.is_position_available(G, "C"))
        self.assertIsNone(t.get_position_status(G, "C"))
        self.assertTrue(t.reset_position(G, "A"))
        self.assertTrue(t.lock_position(G, "A"))


class TransitionErrorsTest(SegmentCase):
    def test_lock_busy(self):
        t = self.tracker
        t.lock(G, S)
        with self.assertRaises(hedgeshm.BusyError) as cm:
            t.lock(G, S)
        self.assertEqual(cm.exception.errno, errno.EBUSY)

    def test_stale_token(self):
        t = self.tracker
        token = t.lock(G, S)
        t.reset(token)
        with self.assertRaises(hedgeshm.StaleTokenError):
            t.activate(token, 1, HEDGE)
        with self.assertRaises(hedgeshm.StaleTokenError):
            t.reset(token)
        with self.assertRaises(hedgeshm.StaleTokenError):
            t.tag(token)
        newer = t.lock(G, S)
        with self.assertRaises(hedgeshm.StaleTokenError):
            t.reset(token)  # an old token never touches the next owner's lock
        self.assertEqual(t.status(G, S)["token"], newer)
        self.assertEqual(t.get_statistics()["stale_refusals"], 3)

    def test_wrong_state(self):
        t = self.tracker
        token = t.lock(G, S)
        t.activate(token, 1, HEDGE)
        with self.assertRaises(hedgeshm.StateError) as cm:
            t.activate(token, 2, HEDGE)
        self.assertEqual(cm.exception.code, hedgeshm.ESTATE)
        self.assertIsNone(cm.exception.errno)

    def test_token_of_no_slot(self):
        t = self.tracker
        bogus = (5 << 44) | 1  # slot 5 holds no key
        for call in (t.reset, t.tag, t.status_by_token):
            with self.assertRaises(hedgeshm.NoKeyError):
                call(bogus)
        with self.assertRaises(hedgeshm.NoKeyError):
            t.activate(bogus, 1)
        with self.assertRaises(hedgeshm.NoKeyError):
            t.status(G, "never")
        with self.assertRaises(LookupError):
            t.status_by_token(1 << 63)

    def test_order_tag_without_lock(self):
        t = self.tracker
        with self.assertRaises(hedgeshm.StaleTokenError) as cm:
            t.order_tag(G, S)
        self.assertIn("holds no lock", str(cm.exception))
        other = self.open()
        other.lock_position(G, S)
        with self.assertRaises(hedgeshm.StaleTokenError):
            t.order_tag(G, S)  # another tracker's lock is not this tracker's
        t2 = self.open()
        t2.lock_position(G, "X")
        other.reset(t2.token(G, "X"))
        with self.assertRaises(hedgeshm.StaleTokenError):
            t2.order_tag(G, "X")
        self.assertIsNone(t2.token(G, "X"))

    def test_resolve_errors(self):
        t = self.tracker
        with self.assertRaises(hedgeshm.NoTagError):
            t.resolve_tag("no tag in this comment")
        with self.assertRaises(ValueError):
            t.resolve_tag("")
        t.lock_position(G, S)
        tag = t.order_tag(G, S)
        broken = tag[:-1] + ("0" if tag[-1] != "0" else "1")  # wrong check character
        self.assertIsNone(hedgeshm.parse_tag(broken))
        name = unique_name("resolve")
        self.addCleanup(destroy_quietly, name)
        with hedgeshm.HedgeTracker(name, create=True) as empty:
            with self.assertRaises(hedgeshm.NoKeyError):
                empty.resolve_tag(tag)

    def test_sync_errors(self):
        t, other = self.tracker, self.open()
        with self.assertRaises(hedgeshm.AccessError) as cm:
            t.sync_publish(snapshot_seq=1)  # not claimed
        self.assertEqual(cm.exception.errno, errno.EPERM)
        other.sync_claim()
        with self.assertRaises(hedgeshm.BusyError):
            t.sync_claim()
        with self.assertRaises(hedgeshm.InvalidError):
            other.sync_publish(degraded_reason="x" * 64)
        with self.assertRaises(TypeError):
            other.sync_publish(1)  # keywords only
        with self.assertRaises(TypeError):
            other.sync_publish(counters={"cycles": "many"})


class ReadOnlyTest(SegmentCase):
    def test_read_only(self):
        self.tracker.lock_position(G, S)
        ro = self.open(read_only=True)
        self.assertTrue(ro.read_only)
        self.assertIn("read-only", repr(ro))
        self.assertEqual(ro.get_position_status(G, S)["state"], "HEDGING")
        self.assertFalse(ro.is_position_available(G, S))
        self.assertEqual(ro.get_statistics()["hedging"], 1)
        self.assertTrue(ro.info()["read_only"])
        self.assertEqual(ro.sync_with_mt5()["health"], "ABSENT")
        self.assertEqual(len(ro.positions()), 1)
        token = self.tracker.token(G, S)
        for call, args in ((ro.lock_position, (G, "new")), (ro.lock, (G, "new")),
                           (ro.mark_error, (G, S)), (ro.clear, (G, S)),
                           (ro.activate, (token, 1)), (ro.reset, (token,)), (ro.sync_claim, ())):
            with self.assertRaises(hedgeshm.ReadOnlyError, msg=call.__name__) as cm:
                call(*args)
            self.assertEqual(cm.exception.errno, errno.EROFS)
        self.assertEqual(self.tracker.get_position_status(G, S)["state"], "HEDGING")


class ClosedTest(SegmentCase):
    def test_closed(self):
        t = self.open()
        t.lock_position(G, S)
        t.close()
        for call, args in ((t.lock_position, (G, S)), (t.activate_position, (G, S, 1)),
                           (t.reset_position, (G, S)), (t.get_position_status, (G, S)),
                           (t.is_position_available, (G, S)), (t.sync_with_mt5, ()),
                           (t.get_statistics, ()), (t.positions, ()), (t.info, ()),
                           (t.lock, (G, S)), (t.tag, (1,)), (t.mark_error, (G, S))):
            with self.assertRaises(ValueError, msg=call.__name__):
                call(*args)
        self.assertEqual(t.held(), {})  # close() drops what it kept
        with self.assertRaises(ValueError):
            with t:
                pass
        with self.assertRaises(RuntimeError):
            t.__init__(self.name)  # a closed tracker is not reopened

    def test_context_manager_closes_on_error(self):
        with self.assertRaises(KeyError):
            with self.open() as t:
                raise KeyError("boom")
        self.assertTrue(t.closed)

    def test_unopened(self):
        t = hedgeshm.HedgeTracker.__new__(hedgeshm.HedgeTracker)
        with self.assertRaises(ValueError):
            t.lock_position(G, S)
        self.assertIsNone(t.name)
        t.close()


class HostileTest(SegmentCase):
    """Values another process wrote into the segment: errors, never a crash."""

    def test_stuck_writer(self):
        t = self.tracker
        t.lock_position(G, S)
        raw = Raw(self.name)
        self.addCleanup(raw.close)
        word = raw.word(0)
        raw.word(0, unknown_writer(word))  # stuck mid-write by a writer whose death is unprovable
        start = time.monotonic()
        with self.assertRaises(hedgeshm.TryAgainError) as cm:
            t.reset_position(G, S)
        self.assertEqual(cm.exception.errno, errno.EAGAIN)
        self.assertGreater(time.monotonic() - start, 0.5)
        with self.assertRaises(hedgeshm.TryAgainError):
            t.get_position_status(G, S)
        self.assertFalse(t.lock_position(G, S))  # refused on the state bits: HEDGING
        raw.word(0, word)
        self.assertTrue(t.reset_position(G, S))

    def test_generations_exhausted(self):
        t = self.tracker
        t.mark_error(G, S)
        t.clear(G, S)
        raw = Raw(self.name)
        self.addCleanup(raw.close)
        raw.word(0, (W_GEN_MAX - 1) << W_GEN_SHIFT)  # AVAILABLE, generations nearly used up
        with self.assertRaises(hedgeshm.ExhaustedError) as cm:
            t.lock_position(G, S)
        self.assertEqual(cm.exception.errno, errno.EOVERFLOW)

    def test_corrupt_word(self):
        t = self.tracker
        t.lock_position(G, S)
        raw = Raw(self.name)
        self.addCleanup(raw.close)
        raw.word(0, raw.word(0) | W_ZERO_BITS)
        for call in (t.get_position_status, t.is_position_available, t.lock_position):
            with self.assertRaises(hedgeshm.CorruptSegmentError, msg=call.__name__) as cm:
                call(G, S)
            self.assertEqual(cm.exception.code, hedgeshm.ECORRUPT)
        with self.assertRaises(hedgeshm.CorruptSegmentError):
            t.positions()
        with self.assertRaises(hedgeshm.CorruptSegmentError):
            t.get_statistics()


if __name__ == "__main__":
    unittest.main()
