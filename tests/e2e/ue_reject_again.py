#!/usr/bin/python3
"""A called handset over UDP whose ACK is lost, for t_dialogs.sh: it takes one INVITE on
127.0.0.1:PORT, answers 180 and 486, takes the ACK, and then sends the 486 again as a UAS does
until an ACK reaches it (RFC 3261 17.2.1). The proxy that relayed the INVITE must ACK the
retransmission too (17.1.1.2). Prints each request it receives ("INVITE", "ACK <branch>") and
exits 0 once the second ACK came with the INVITE's top Via branch, 1 after --max-seconds."""
import argparse
import re
import socket
import sys
import time


def header(msg, name):
    m = re.search(r"^%s:\s*(.*?)\r$" % name, msg, re.M | re.I)
    return m.group(1) if m else ""


def response(invite, status, tag):
    vias = "\r\n".join(l for l in invite.split("\r\n") if l.lower().startswith("via:"))
    lines = ["SIP/2.0 " + status, vias, "From: " + header(invite, "From"),
             "To: %s;tag=%s" % (header(invite, "To"), tag), "Call-ID: " + header(invite, "Call-ID"),
             "CSeq: " + header(invite, "CSeq"), "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--max-seconds", type=float, default=15)
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", a.port))
    end = time.monotonic() + a.max_seconds
    invite, peer, busy, acks = None, None, None, 0
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            break
        msg = data.decode(errors="replace")
        method = msg.split(" ", 1)[0]
        if method == "INVITE" and invite is None:
            print("INVITE", flush=True)
            invite, peer = msg, src
            s.sendto(response(invite, "180 Ringing", "lost-ack"), peer)
            busy = response(invite, "486 Busy Here", "lost-ack")
            s.sendto(busy, peer)
        elif method == "ACK" and invite is not None:
            branch = re.search(r"branch=([^;,\s]+)", header(msg, "Via")).group(1)
            print("ACK", branch, flush=True)
            if branch != re.search(r"branch=([^;,\s]+)", header(invite, "Via")).group(1):
                return 1
            acks += 1
            if acks == 2:
                return 0
            s.sendto(busy, peer)  # as if this ACK had been lost
    return 1


if __name__ == "__main__":
    sys.exit(main())
