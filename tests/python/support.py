"""What the python suite's files share: segment names of their own, a TestCase that creates a
segment per test and destroys it even when the test fails, and raw access to a segment's
bytes to play a hostile process (offsets from lib/layout.h, which the C suites include)."""
import itertools
import mmap
import os
import struct
import unittest

import hedgeshm

_counter = itertools.count()

# lib/layout.h
HEADER_FORMAT = 8  # u32 format version
HEADER_SLOT_SIZE = 16  # u32 slot size
HEADER_SLOTS_OFFSET = 48  # u64 offset of the slot array
SLOT_SIZE = 256
W_WRITING = 0x4
W_OWNER_MASK = 0x3FF << 3


def unknown_writer(word):
    """The word mid-write, naming no process entry (every real writer has one: a scribble):
    its writer's death cannot be proven, so the library waits (and gives up with EAGAIN)
    instead of repairing it."""
    return (word & ~W_OWNER_MASK) | W_WRITING
W_GEN_SHIFT = 20
W_GEN_MAX = (1 << 44) - 1
W_ZERO_BITS = 0x7F << 13


def unique_name(tag="t"):
    """A segment name no other test (or test process) uses."""
    return "/hshm-py-%d-%d-%s" % (os.getpid(), next(_counter), tag[:40])


def destroy_quietly(name):
    try:
        hedgeshm.destroy(name)
    except hedgeshm.NotFoundError:
        pass


class Raw:
    """The segment's /dev/shm file mapped read-write, bypassing the library."""

    def __init__(self, name):
        with open("/dev/shm" + name, "r+b") as f:
            self.map = mmap.mmap(f.fileno(), 0)

    def u32(self, off, value=None):
        if value is not None:
            struct.pack_into("<I", self.map, off, value)
        return struct.unpack_from("<I", self.map, off)[0]

    def u64(self, off, value=None):
        if value is not None:
            struct.pack_into("<Q", self.map, off, value)
        return struct.unpack_from("<Q", self.map, off)[0]

    def word_offset(self, slot):
        return self.u64(HEADER_SLOTS_OFFSET) + slot * SLOT_SIZE

    def word(self, slot, value=None):
        return self.u64(self.word_offset(slot), value)

    def close(self):
        self.map.close()


class SegmentCase(unittest.TestCase):
    """Each test gets a fresh segment self.name of self.capacity slots and a tracker on it."""

    capacity = 64

    def setUp(self):
        self.name = unique_name(self._testMethodName.replace("test_", ""))
        hedgeshm.create(self.name, capacity=self.capacity)
        self.addCleanup(destroy_quietly, self.name)
        self.tracker = self.open()

    def open(self, **kw):
        tracker = hedgeshm.HedgeTracker(self.name, **kw)
        self.addCleanup(tracker.close)
        return tracker
