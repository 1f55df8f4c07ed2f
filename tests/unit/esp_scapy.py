#!/usr/bin/python3
"""ESP by an implementation that is not ours (scapy's SecurityAssociation), for test_esp.c.

One request per line on stdin, one answer per line on stdout, so one interpreter serves the
whole test (scapy takes a second to import):
  enc ALG EALG SPI SEQ AUTHKEY ENCKEY NH PAYLOAD  ->  ok ESP      (transport mode, SEQ used)
  dec ALG EALG SPI AUTHKEY ENCKEY ESP             ->  ok NH PAYLOAD | err REASON
Names are sec-agree's (hmac-sha-1-96, aes-cbc, ...); keys, payloads and packets are hex ("-"
for an empty key); ESP is the ESP header onwards (no IP header). Exit 2 when scapy is missing.
"""
import sys

try:
    from scapy.layers.inet import IP
    from scapy.layers.ipsec import ESP, SecurityAssociation
    from scapy.packet import Raw
except ImportError as e:
    print(f"scapy missing ({e}): apt-get install python3-scapy", file=sys.stderr)
    sys.exit(2)

AUTH = {"hmac-sha-1-96": "HMAC-SHA1-96", "hmac-md5-96": "HMAC-MD5-96"}
CRYPT = {"null": "NULL", "aes-cbc": "AES-CBC", "des-ede3-cbc": "3DES"}


def key(h):
    return None if h == "-" else bytes.fromhex(h)


def sa_for(alg, ealg, spi, auth_key, enc_key, seq=1):
    return SecurityAssociation(ESP, spi=int(spi), seq_num=seq, crypt_algo=CRYPT[ealg],
                               crypt_key=key(enc_key), auth_algo=AUTH[alg],
                               auth_key=key(auth_key))


def encrypt(alg, ealg, spi, seq, auth_key, enc_key, nh, payload):
    sa = sa_for(alg, ealg, spi, auth_key, enc_key, int(seq))
    inner = IP(bytes(IP(src="192.0.2.1", dst="192.0.2.2", proto=int(nh)) / Raw(bytes.fromhex(payload))))
    out = sa.encrypt(inner)
    return "ok " + bytes(out[ESP]).hex()


def decrypt(alg, ealg, spi, auth_key, enc_key, esp):
    sa = sa_for(alg, ealg, spi, auth_key, enc_key)
    outer = IP(bytes(IP(src="192.0.2.2", dst="192.0.2.1", proto=50) / Raw(bytes.fromhex(esp))))
    try:
        inner = sa.decrypt(outer)
    except Exception as e:  # scapy's integrity error, or a padding/length it refuses
        return "err " + type(e).__name__
    raw = bytes(inner)
    return f"ok {inner.proto} {raw[inner.ihl * 4:].hex()}"


def main():
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        if f[0] == "enc" and len(f) in (8, 9):
            print(encrypt(*f[1:8], f[8] if len(f) == 9 else ""))
        elif f[0] == "dec" and len(f) == 7:
            print(decrypt(*f[1:]))
        else:
            print("err request")
        sys.stdout.flush()


try:
    main()
except BrokenPipeError:  # the test stopped reading after a failure it reports itself
    sys.exit(1)
