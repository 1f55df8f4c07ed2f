#!/usr/bin/python3
"""Half-open connections to a TCP port, for t_hss_halfopen.sh: N connections of which half
send nothing and half send the first 12 bytes of a 20-byte Diameter header (version 1, a
length of 200, the R flag, CER's command code 257) and then nothing more.

Prints "connected K" once every connect has finished (or after --connect-timeout seconds),
then "closed K" each time the server closes more of them (EOF or reset). Exits once all are
closed, after --max-seconds, or on SIGTERM."""
import argparse
import errno
import selectors
import signal
import socket
import sys
import time

PARTIAL = bytes([1, 0, 0, 200, 0x80, 0, 1, 1, 0, 0, 0, 0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--connect-timeout", type=float, default=5)
    ap.add_argument("--max-seconds", type=float, default=120)
    # Paced, so the listen backlog (5 in freeDiameter) is not overrun: a handshake the server's
    # kernel drops waits for a SYN-ACK retransmission and would reach the server seconds later.
    ap.add_argument("--interval", type=float, default=0.01)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    sel = selectors.DefaultSelector()
    pending = {}
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((a.host, a.port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            continue
        pending[s] = i % 2 == 1  # odd ones send a partial header
        sel.register(s, selectors.EVENT_WRITE)
        time.sleep(a.interval)

    # Connects finish when the server's kernel completes the handshake (freeDiameter need not
    # have accepted them): those that never do are left pending.
    connected = []
    end = time.monotonic() + a.connect_timeout
    while pending and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            partial = pending.pop(s)
            sel.unregister(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                s.close()
                continue
            if partial:
                try:
                    s.send(PARTIAL)
                except OSError:
                    pass
            connected.append(s)
            sel.register(s, selectors.EVENT_READ)
    print(f"connected {len(connected)}", flush=True)

    closed = 0
    end = time.monotonic() + a.max_seconds
    while closed < len(connected) and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                closed += 1
                print(f"closed {closed}", flush=True)


if __name__ == "__main__":
    main()
