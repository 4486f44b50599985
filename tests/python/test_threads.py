"""One tracker shared by several threads: exactly one winner per round, the tokens it keeps
stay consistent, library calls that wait release the GIL, and close() waits for calls in
flight instead of pulling the handle from under them."""
import os
import subprocess
import sys
import textwrap
import threading
import time

import hedgeshm
from support import Raw, SegmentCase, unknown_writer

THREADS = 8
ROUNDS = 200


class ThreadsTest(SegmentCase):
    def test_one_winner_per_round(self):
        t = self.tracker
        barrier = threading.Barrier(THREADS)
        wins = [0] * ROUNDS
        wins_lock = threading.Lock()
        failures = []

        def worker():
            try:
                for r in range(ROUNDS):
                    barrier.wait(timeout=30)
                    won = t.lock_position("thr", "EURUSD")
                    if won:
                        with wins_lock:
                            wins[r] += 1
                        if not t.activate_position("thr", "EURUSD", 1000 + r, "GBPUSD"):
                            failures.append("activate refused in round %d" % r)
                    barrier.wait(timeout=30)  # everybody tried before the winner lets go
                    if won and not t.reset_position("thr", "EURUSD"):
                        failures.append("reset refused in round %d" % r)
            except Exception as e:  # reported below; a broken barrier stops the others
                failures.append(repr(e))
                barrier.abort()

        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(failures, [])
        self.assertEqual(wins, [1] * ROUNDS)
        self.assertEqual(t.held(), {})
        stats = t.get_statistics()
        self.assertEqual((stats["locks_won"], stats["activations"], stats["resets"]),
                         (ROUNDS, ROUNDS, ROUNDS))
        self.assertEqual(stats["lock_conflicts"], ROUNDS * (THREADS - 1))

    def test_mixed_operations(self):
        t = self.tracker
        stop = threading.Event()
        failures = []
        cycles = 2000

        def cycler(i):
            symbol = "SYM%d" % i
            try:
                for n in range(cycles):
                    if not t.lock_position("mix", symbol):
                        failures.append("lock %s %d" % (symbol, n))
                    t.order_tag("mix", symbol)
                    if not t.activate_position("mix", symbol, n + 1, "HEDGE"):
                        failures.append("activate %s %d" % (symbol, n))
                    st = t.get_position_status("mix", symbol)
                    if st["state"] != "ACTIVE" or st["ticket"] != n + 1:
                        failures.append("status %s %d: %r" % (symbol, n, st))
                    if not t.reset_position("mix", symbol):
                        failures.append("reset %s %d" % (symbol, n))
            except Exception as e:
                failures.append(repr(e))

        def reader():
            while not stop.is_set():
                t.get_statistics()
                t.positions()
                t.held()

        readers = [threading.Thread(target=reader) for _ in range(2)]
        workers = [threading.Thread(target=cycler, args=(i,)) for i in range(THREADS)]
        for th in readers + workers:
            th.start()
        for th in workers:
            th.join()
        stop.set()
        for th in readers:
            th.join()
        self.assertEqual(failures, [])
        self.assertEqual(t.held(), {})
        stats = t.get_statistics()
        self.assertEqual(stats["locks_won"], THREADS * cycles)
        self.assertEqual(stats["available"], THREADS)

    def stuck_slot(self):
        """Lock a position, then make its slot look mid-write by a dead process."""
        self.tracker.lock_position("gil", "EURUSD")
        raw = Raw(self.name)
        self.addCleanup(raw.close)
        word = raw.word(0)
        raw.word(0, unknown_writer(word))
        self.addCleanup(raw.word, 0, word)

    def test_waiting_call_releases_the_gil(self):
        self.stuck_slot()
        t = self.tracker
        done = threading.Event()
        errors = []

        def waiter():
            try:
                t.reset_position("gil", "EURUSD")  # waits about a second, then gives up
            except hedgeshm.TryAgainError as e:
                errors.append(e)
            finally:
                done.set()

        th = threading.Thread(target=waiter)
        th.start()
        time.sleep(0.05)
        spins = 0
        while not done.is_set():
            spins += 1  # runs only if the waiting thread let go of the GIL
        th.join()
        self.assertEqual(len(errors), 1)
        self.assertGreater(spins, 10000)

    def test_close_waits_for_calls_in_flight(self):
        self.stuck_slot()
        t = self.tracker
        returned = []

        def waiter():
            try:
                t.get_position_status("gil", "EURUSD")
            except hedgeshm.TryAgainError:
                returned.append(time.monotonic())

        th = threading.Thread(target=waiter)
        th.start()
        time.sleep(0.1)
        t.close()
        closed_at = time.monotonic()
        th.join()
        self.assertEqual(len(returned), 1)
        self.assertLessEqual(returned[0], closed_at)
        with self.assertRaises(ValueError):
            t.get_position_status("gil", "EURUSD")

    def test_close_from_a_finalizer_during_a_call(self):
        """A finalizer that closes the tracker may run inside one of its calls, on the same
        thread (the collector runs wherever Python allocates). The call must not count as in
        flight while it runs Python code, or close() would wait on itself for ever."""
        for i in range(self.capacity):
            self.tracker.lock_position("fin", "S%d" % i)
        code = textwrap.dedent("""
            import gc, sys
            import hedgeshm
            t = hedgeshm.HedgeTracker(sys.argv[1])
            class Closer:
                def __init__(self):
                    self.me = self  # a cycle: only the collector frees it, mid-scan
                def __del__(self):
                    t.close()
            Closer()
            gc.set_threshold(1)
            try:
                t.positions()
            except ValueError:
                pass
            print("returned, closed:", t.closed)
            """)
        out = subprocess.run([sys.executable, "-c", code, self.name], capture_output=True,
                             text=True, timeout=30, env=dict(os.environ))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("returned, closed: True", out.stdout)


if __name__ == "__main__":
    import unittest

    unittest.main()
