#!/usr/bin/python3
"""TCP client for t_tcp_backlog.sh.

pipeline HOST PORT PID N: stops PID (SIGSTOP), writes N OPTIONS back to back on one TCP
  connection (they wait unread in its socket), continues PID, then reads answers for up to 10 s
  and sends one more OPTIONS on the same connection. Prints "SENT_BYTES ANSWERED LAST_ANSWERED"
  (LAST_ANSWERED 1 when the extra OPTIONS got its 200).
big HOST PORT BODY_BYTES: one OPTIONS with a body of that size; prints the first status line
  that comes back (or "none").
"""
import os
import signal
import socket
import sys
import time


def options(host, port, lport, tag, body=b""):
    head = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP 127.0.0.1:{lport};branch=z9hG4bK-backlog-{os.getpid()}-{tag}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=b{tag}\r\n"
            f"To: <sip:{host}:{port}>\r\nCall-ID: backlog-{os.getpid()}-{tag}@127.0.0.1\r\n"
            f"CSeq: 1 OPTIONS\r\nX-Padding: {'x' * 300}\r\n")
    if body:
        head += "Content-Type: text/plain\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def read_until(s, pred, seconds):
    buf = b""
    end = time.time() + seconds
    s.settimeout(0.2)
    while time.time() < end and not pred(buf):
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def pipeline(host, port, pid, n):
    s = socket.create_connection((host, port), timeout=5)
    lport = s.getsockname()[1]
    data = b"".join(options(host, port, lport, i) for i in range(n))
    sent = 0
    os.kill(pid, signal.SIGSTOP)
    try:
        s.settimeout(2)
        try:
            s.sendall(data)
            sent = len(data)
        except socket.timeout:
            sent = -1  # the kernel would not hold it all: the caller's check fails
    finally:
        os.kill(pid, signal.SIGCONT)
    buf = read_until(s, lambda b: b.count(b"SIP/2.0 200") >= n, 10)
    answered = buf.count(b"SIP/2.0 200")
    last = 0
    try:
        s.sendall(options(host, port, lport, "last"))
        tail = read_until(s, lambda b: b"backlog-%d-last" % os.getpid() in b, 5)
        last = int(b"SIP/2.0 200" in tail)
    except OSError:
        pass
    print(sent, answered, last)


def big(host, port, size):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(options(host, port, s.getsockname()[1], "big", b"y" * size))
    buf = read_until(s, lambda b: b"\r\n" in b, 5)
    print(buf.split(b"\r\n", 1)[0].decode(errors="replace") if buf else "none")


if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "pipeline":
        pipeline(host, port, int(sys.argv[4]), int(sys.argv[5]))
    else:
        big(host, port, int(sys.argv[4]))
