#!/usr/bin/env python3
"""Writes the hand-made snapshots of this corpus (README lists them), each with a correct CRC
unless the CRC is the defect, so every bad-* file is refused by the rule it is named after.
Files it does not write (good-python-exporter.snap, fuzzer finds) are left alone.
Usage: make-corpus.py [DIR]   (default: the directory of this script)"""
import os
import sys
import zlib

out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

def snap(seq=1718000000500, time_ms=1718000000500, login=5012345, connected=1, margin=2,
         P=(), O=(), D=(), eol='\n', counts=None, magic='HEDGESNAP 1', trailer_seq=None,
         trailer=True, crc_fix=None):
    np_, no, nd = counts if counts else (len(P), len(O), len(D))
    lines = [magic, f'seq {seq}', f'time_ms {time_ms}', f'login {login}',
             f'connected {connected}', f'margin_mode {margin}', f'positions {np_}',
             f'orders {no}', f'deals {nd}'] + list(P) + list(O) + list(D)
    body = ''.join(l + eol for l in lines).encode('latin-1')
    if not trailer:
        return body
    crc = zlib.crc32(body)
    if crc_fix: body = crc_fix(body)
    ts = seq if trailer_seq is None else trailer_seq
    return body + f'END {ts} {crc:08x}{eol}'.encode()

def w(name, data):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)

TAG1 = 'HS0A3F2K0000C1000002QK7T9'
TAG2 = 'HS0A3F2K0000D1000005M3XB2'
typ_P = [f'P 500123456 500123456 20240001 EURUSD.r 0 0.1 1.08345 1718000000123 {TAG1}',
         f'P 500123460 500123457 20240001 XAUUSDm 1 0.02 2350.55 1718000000200 {TAG2}',
         'P 500123470 500123470 0 %23US500 0 1.5 5321.7 1717999000000 -']
typ_O = ['O 500123480 0 20240002 GBPJPY 2 0.3 1718000000400 HS0A3F2K0000E10000081N4ZX']
typ_D = ['D 700001 500123456 500123456 20240001 EURUSD.r 0 0 0.1 1718000000123 ' + TAG1,
         'D 700002 500123499 500123440 20240001 EURUSD.r 1 1 0.1 1718000000300 %5Btp%201.08500%5D']

# good
w('good-minimal.snap', snap(login=0, connected=0, margin=0, seq=1, time_ms=1))
w('good-typical.snap', snap(P=typ_P, O=typ_O, D=typ_D))
w('good-crlf.snap', snap(P=typ_P, O=typ_O, D=typ_D, eol='\r\n'))
w('good-escapes.snap', snap(P=[
    'P 1 1 1 EUR%20USD 0 1 1 1 a%25b%20c',          # space and percent
    'P 2 2 1 %2D 1 1 1 1 -',                          # the symbol "-", empty comment
    'P 3 3 1 X 0 1 1 1 %D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82',  # UTF-8 comment
    'P 4 4 1 X 0 1 1 1 %0D%0A%09%7F%FF',              # control bytes and 0xFF
    'P 5 5 1 x 0 1 1 1 %2d%2D%7e',                     # escapes of either case
    'P 6 6 1 US500.cash 0 1 1 1 --']))
w('good-python-repr.snap', snap(P=[
    'P 10 10 7 EURUSD 0 1e-05 1.0834500000000001 1718000000000 -',
    'P 11 11 7 EURUSD 1 100000.0 1e+22 1718000000000 -',
    'P 12 12 7 EURUSD 1 0.1 -37.63 1718000000000 -',
    'P 13 13 7 EURUSD 1 5e-324 1.7976931348623157e+308 1718000000000 -',
    'P 14 14 7 EURUSD 1 0.30000000000000004 2.2250738585072014e-308 1718000000000 -']))
w('good-mql5-fixed.snap', snap(P=[
    'P 20 20 7 EURUSD 0 0.10000000 1.08345000 1718000000000 -',
    'P 21 21 7 USOIL 1 1.00000000 -37.63000000 1718000000000 -',
    'P 22 22 7 BTCUSD 1 0.01000000 67890.12000000 1718000000000 -'], eol='\r\n'))
w('good-limits.snap', snap(seq=18446744073709551615, time_ms=9223372036854,
    login=18446744073709551615, P=[
    'P 18446744073709551615 18446744073709551615 18446744073709551615 '
    + 'S' * 31 + ' 1 0 0 9223372036854 ' + '%41' * 63],
    O=['O 18446744073709551615 0 0 X 8 0 0 -'],
    D=['D 18446744073709551615 0 1 0 X 1 3 0 0 -']))
# The latest time whose ns still fit an int64_t, plus one: a reader would overflow.
w('bad-time-overflow.snap', snap(time_ms=9223372036855))
w('good-trailer-lookalike.snap', snap(seq=9, P=[
    'P 1 1 1 END 0 1 1 1 END%209%2000000000']))

# bad
full = snap(P=typ_P, O=typ_O, D=typ_D)
w('bad-empty.snap', b'')
w('bad-torn-half.snap', full[:len(full) // 2])
w('bad-torn-no-trailer.snap', snap(P=typ_P, O=typ_O, D=typ_D, trailer=False))
w('bad-torn-no-final-newline.snap', full[:-1])
w('bad-zero-filled.snap', b'\0' * 4096)
w('bad-nul-tail.snap', full + b'\0' * 512)
w('bad-crc.snap', snap(P=typ_P, O=typ_O, D=typ_D,
                       crc_fix=lambda b: b.replace(b'1.08345', b'1.08346')))
w('bad-seq-mismatch.snap', snap(P=typ_P, O=typ_O, D=typ_D, trailer_seq=1718000000499))
w('bad-count-more.snap', snap(P=typ_P, O=typ_O, D=typ_D, counts=(4, 1, 2)))
w('bad-count-fewer.snap', snap(P=typ_P, O=typ_O, D=typ_D, counts=(3, 1, 1)))
w('bad-count-huge.snap', snap(P=typ_P, counts=(2000000, 0, 0)))
w('bad-format-2.snap', snap(magic='HEDGESNAP 2'))
w('bad-json.snap', b'{"seq": 1, "positions": []}\n')
w('bad-bom.snap', b'\xef\xbb\xbf' + full)
w('bad-utf16.snap', b'\xff\xfe' + full.decode().encode('utf-16-le'))
w('bad-lf-converted.snap', full.replace(b'\n', b'\r\n'))
w('bad-two-snapshots.snap', full + snap(seq=1718000000550, P=typ_P))
w('bad-extra-after-trailer.snap', full + b'\n')
w('bad-tabs.snap', snap(P=['P\t1\t1\t1\tX\t0\t1\t1\t1\t-']))
w('bad-time-zero.snap', snap(time_ms=0))
w('bad-connected-2.snap', snap(connected=2))
w('bad-margin-mode.snap', snap(margin=3))
w('bad-nan-volume.snap', snap(P=['P 1 1 1 X 0 nan 1 1 -']))
w('bad-negative-volume.snap', snap(P=['P 1 1 1 X 0 -0.1 1 1 -']))
w('bad-inf-price.snap', snap(P=['P 1 1 1 X 0 0.1 1e309 1 -']))
w('bad-comma-decimal.snap', snap(P=['P 1 1 1 X 0 0,1 1 1 -']))
w('bad-symbol-empty.snap', snap(P=['P 1 1 1 - 0 0.1 1 1 -']))
w('bad-symbol-overlong.snap', snap(P=['P 1 1 1 ' + 'S' * 32 + ' 0 0.1 1 1 -']))
w('bad-comment-overlong.snap', snap(P=['P 1 1 1 X 0 0.1 1 1 ' + '%41' * 64]))
w('bad-escape.snap', snap(P=['P 1 1 1 X%G1 0 0.1 1 1 -']))
w('bad-escape-nul.snap', snap(P=['P 1 1 1 X 0 0.1 1 1 a%00b']))
w('bad-raw-nul.snap', snap(P=['P 1 1 1 X 0 0.1 1 1 a\0b']))
w('bad-raw-utf8.snap', snap(P=['P 1 1 1 X 0 0.1 1 1 \xd0\xbf']))
w('bad-raw-space.snap', snap(P=['P 1 1 1 EUR USD 0 0.1 1 1 -']))
w('bad-ticket-zero.snap', snap(P=['P 0 1 1 X 0 0.1 1 1 -']))
w('bad-ticket-overflow.snap', snap(P=['P 18446744073709551616 1 1 X 0 0.1 1 1 -']))
w('bad-leading-zero.snap', snap(P=['P 0042 42 1 X 0 0.1 1 1 -']))
w('bad-position-type.snap', snap(P=['P 1 1 1 X 2 0.1 1 1 -']))
w('bad-order-type.snap', snap(O=['O 1 0 1 X 9 0.1 1 -']))
w('bad-deal-entry.snap', snap(D=['D 1 1 1 1 X 0 4 0.1 1 -']))
w('bad-deal-balance.snap', snap(D=['D 1 0 1 0 - 2 0 0 1 -']))
w('bad-records-out-of-order.snap', snap(P=typ_P[:1], O=typ_O, D=typ_D, counts=(1, 1, 2))
  .replace(typ_O[0].encode() + b'\n' + typ_D[0].encode(), typ_D[0].encode() + b'\n' + typ_O[0].encode()))
w('bad-uppercase-crc.snap', full[:full.rindex(b'END')] + full[full.rindex(b'END'):].upper())

# the example of docs/snapshot-format.md, byte for byte
doc = snap(seq=1718000000517, time_ms=1718000000517, P=[
    'P 500123456 500123456 20240001 EURUSD.r 0 0.1 1.08345 1718000000123 HS0A3F2K0000C1000002QK7T9',
    'P 500123470 500123470 0 %23US500 1 1.5 5321.7 1717999000000 -'],
    O=['O 500123480 0 20240002 GBPJPY 2 0.3 1718000000400 take%20profit%20%235'],
    D=['D 700001 500123456 500123456 20240001 EURUSD.r 0 0 0.1 1718000000123 HS0A3F2K0000C1000002QK7T9',
       'D 700002 500123499 500123440 20240001 EURUSD.r 1 1 0.1 1718000000300 %5Btp%201.08500%5D'])
w('good-doc-example.snap', doc)
