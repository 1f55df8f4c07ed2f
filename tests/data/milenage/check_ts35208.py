#!/usr/bin/python3
"""Recompute every output of ts35208_sets.tsv with Milenage as TS 35.206 describes it (default
c1..c5, r1..r5), independently of common/auth/milenage.c, to catch a transcription error in the table.
Needs python3-cryptography (AES only). Exit 0 when all 20 sets agree.
Usage: tests/data/milenage/check_ts35208.py [tests/data/milenage/ts35208_sets.tsv]"""
import os
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def aes(k, block):
    enc = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def rot(x, bits):
    n = bits // 8
    return x[n:] + x[:n]


def const(last):  # c1..c5: 128-bit values that are zero but for the last byte
    return bytes(15) + bytes([last])


def milenage(k, op, rand, sqn, amf):
    opc = xor(aes(k, op), op)
    temp = aes(k, xor(rand, opc))
    in1 = sqn + amf + sqn + amf
    out1 = xor(aes(k, xor(temp, rot(xor(in1, opc), 64))), opc)  # r1 = 64, c1 = 0

    def out(r, c):
        return xor(aes(k, xor(rot(xor(temp, opc), r), const(c))), opc)

    out2, out3, out4, out5 = out(0, 1), out(32, 2), out(64, 4), out(96, 8)
    return {"opc": opc, "f1_mac_a": out1[:8], "f1star_mac_s": out1[8:], "f2_res": out2[8:],
            "f3_ck": out3, "f4_ik": out4, "f5_ak": out2[:6], "f5star_ak_resync": out5[:6]}


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "ts35208_sets.tsv")
    with open(path) as f:
        lines = [line.rstrip("\n").split("\t") for line in f]
    head, rows = lines[0], lines[1:]
    bad = 0
    for row in rows:
        r = dict(zip(head, row))
        got = milenage(*(bytes.fromhex(r[c]) for c in ("k", "op", "rand", "sqn", "amf")))
        for name, value in got.items():
            if value.hex() != r[name]:
                bad += 1
                print(f"set {r['set']} {name}: table {r[name]}, computed {value.hex()}")
    print(f"{len(rows)} sets, {bad} mismatches")
    return 0 if bad == 0 and len(rows) == 20 else 1


if __name__ == "__main__":
    sys.exit(main())
