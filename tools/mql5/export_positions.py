#!/usr/bin/env python3
"""Reference snapshot exporter (docs/snapshot-format.md) using the MetaTrader5 Python package.

Does what tools/mql5/HedgeExport.mq5 does, from outside the terminal: every --interval seconds
it writes the positions, orders and recent deals of the terminal's account to PATH, atomically
(temporary file, fsync, rename). It needs Windows, or Wine with a Windows Python, and a running
terminal; it is a reference for writing exporters, not something the tests run.

    python export_positions.py C:\\mt5\\MQL5\\Files\\hedgeshm-positions.snap --interval 0.05
"""
import argparse
import math
import os
import time
import zlib

import MetaTrader5 as mt5


def enc(s, limit):
    """Percent-encode the UTF-8 bytes of s, cut to limit bytes at a character boundary."""
    b = s.encode("utf-8")[:limit].decode("utf-8", "ignore").encode("utf-8")
    if b in (b"", b"-"):
        return "-" if not b else "%2D"
    return "".join(chr(c) if 0x20 < c < 0x7F and c != 0x25 else "%%%02X" % c for c in b)


def dec(x, non_negative=False):
    """repr() is the shortest text that reads back to the same double (e.g. 1e-05)."""
    x = float(x)
    if not math.isfinite(x) or (non_negative and x < 0):
        raise ValueError("unwritable value %r" % x)
    return repr(x + 0.0 if non_negative else x)  # + 0.0 turns -0.0 into 0.0


def snapshot(seq, now_ms, lookback):
    acc, term = mt5.account_info(), mt5.terminal_info()
    if acc is None or term is None:
        raise RuntimeError("no terminal: %s" % (mt5.last_error(),))
    recs = [f"P {p.ticket} {p.identifier} {p.magic} {enc(p.symbol, 31)} {p.type} "
            f"{dec(p.volume, True)} {dec(p.price_open)} {p.time_msc} {enc(p.comment, 63)}"
            for p in mt5.positions_get() or () if p.identifier and p.symbol]
    npos = len(recs)
    recs += [f"O {o.ticket} {o.position_id} {o.magic} {enc(o.symbol, 31)} {o.type} "
             f"{dec(o.volume_current, True)} {o.time_setup_msc} {enc(o.comment, 63)}"
             for o in mt5.orders_get() or () if 0 <= o.type <= 8 and o.symbol]
    nord = len(recs) - npos
    # Deal times are the server's wall clock, whose zone is unknown here: 12 h of margin on
    # each side, at the cost of a few more deals than the lookback asks for.
    now = time.time()
    deals = mt5.history_deals_get(now - lookback - 43200, now + 43200) or () if lookback else ()
    recs += [f"D {d.ticket} {d.order} {d.position_id} {d.magic} {enc(d.symbol, 31)} {d.type} "
             f"{d.entry} {dec(d.volume, True)} {d.time_msc} {enc(d.comment, 63)}"
             for d in deals if d.type in (0, 1) and d.position_id and d.symbol]
    head = ["HEDGESNAP 1", f"seq {seq}", f"time_ms {now_ms}", f"login {acc.login}",
            f"connected {1 if term.connected else 0}", f"margin_mode {acc.margin_mode}",
            f"positions {npos}", f"orders {nord}", f"deals {len(recs) - npos - nord}"]
    body = "".join(line + "\n" for line in head + recs).encode("ascii")
    return body + b"END %d %08x\n" % (seq, zlib.crc32(body))


def last_seq(path):
    """The seq of the file a previous run left, so that seq keeps growing across restarts."""
    try:
        with open(path, "rb") as f:
            magic, seq = f.readline(), f.readline().split()
        return int(seq[1]) if magic.strip() == b"HEDGESNAP 1" and seq[0] == b"seq" else 0
    except (OSError, ValueError, IndexError):
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between writes")
    ap.add_argument("--deals-lookback", type=int, default=300, help="seconds of deals")
    args = ap.parse_args()
    if not mt5.initialize():
        raise SystemExit("MetaTrader5.initialize failed: %s" % (mt5.last_error(),))
    seq, tmp = last_seq(args.path), "%s.tmp.%d" % (args.path, os.getpid())
    while True:
        now_ms = int(time.time() * 1000)
        seq = max(seq + 1, now_ms)  # grows on every write, even when nothing changed
        data = snapshot(seq, now_ms, args.deals_lookback)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, args.path)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
