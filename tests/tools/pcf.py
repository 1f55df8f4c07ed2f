#!/usr/bin/python3
"""A test PCF: the Npcf_PolicyAuthorization side of N5 (3GPP TS 29.514) for the e2e tests.

Cleartext HTTP/2 with prior knowledge (h2c), Debian's python3-h2, plain sockets and select.
It records every request it receives as one JSON line in --record:
  {"dir": "in", "method": ..., "path": ..., "ctype": ..., "body": <JSON or null>,
   "status": <what it answered, or null when it did not>, "location": <a 201's>}
and answers like a PCF: POST .../app-sessions -> 201 + Location (the app session),
PATCH .../app-sessions/{id} -> 200, POST .../app-sessions/{id}/delete -> 204, else 404.

--mode-file FILE (read before each answer): "ok" (or no file), "500" (every request gets 500
with a problem+json body) or "silent" (no answer at all: the stream stays open).
SIGUSR1: send a termination notification (POST {notifUri}/terminate, TerminationInfo) for the
newest app session still open; SIGUSR2: an event notification (POST {notifUri}/notify,
EventsNotification: SUCCESSFUL_RESOURCES_ALLOCATION) for it; each recorded as
{"dir": "out", "kind": "terminate"|"notify", ..., "status": <the answer>}.

  pcf.py --listen 127.0.0.1:PORT --record FILE [--mode-file FILE]
"""
import argparse
import json
import os
import select
import signal
import socket
import sys
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events

API = "/npcf-policyauthorization/v1/app-sessions"


class Pcf:
    def __init__(self, args):
        host, port = args.listen.rsplit(":", 1)
        self.authority = args.listen
        self.record = open(args.record, "a", buffering=1)
        self.mode_file = args.mode_file
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, int(port)))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.conns = {}  # socket -> (H2Connection, {stream: [headers, body bytes]})
        self.sessions = {}  # id -> {"notifUri": ..., "location": ...}, in creation order
        self.next_id = 1
        self.terminate_due = False
        self.notify_due = False

    def mode(self):
        try:
            with open(self.mode_file) as f:
                return f.read().strip() or "ok"
        except (OSError, TypeError):
            return "ok"

    def log(self, entry):
        self.record.write(json.dumps(entry, sort_keys=True) + "\n")

    # --- serving ---

    def accept(self):
        s, _ = self.sock.accept()
        s.setblocking(False)
        c = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        c.initiate_connection()
        s.sendall(c.data_to_send())
        self.conns[s] = (c, {})

    def readable(self, s):
        c, streams = self.conns[s]
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(s)
            return
        try:
            events = c.receive_data(data)
        except Exception as e:  # a protocol error: the connection goes, as nghttp2 would
            print("pcf: %s" % e, file=sys.stderr)
            self.drop(s)
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                streams[ev.stream_id] = [dict(ev.headers), b""]
            elif isinstance(ev, h2.events.DataReceived):
                if ev.stream_id in streams:
                    streams[ev.stream_id][1] += ev.data
                c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id in streams:
                    hdrs, body = streams.pop(ev.stream_id)
                    self.handle(c, ev.stream_id, hdrs, body)
            elif isinstance(ev, h2.events.StreamReset):
                streams.pop(ev.stream_id, None)
        out = c.data_to_send()
        if out:
            try:
                s.sendall(out)
            except OSError:
                self.drop(s)

    def drop(self, s):
        self.conns.pop(s, None)
        s.close()

    def handle(self, c, stream, hdrs, body):
        method, path = hdrs.get(":method"), hdrs.get(":path")
        ctype = hdrs.get("content-type")
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = {"unparsable": body.decode("utf-8", "replace")}
        mode = self.mode()
        status, extra, reply = 404, [], None
        if mode == "silent":
            status = None
        elif mode == "500":
            status = 500
            reply = {"status": 500, "cause": "SYSTEM_FAILURE"}
        elif method == "POST" and path == API:
            sid = "as%d" % self.next_id
            self.next_id += 1
            req = (doc or {}).get("ascReqData", {})
            location = "http://%s%s/%s" % (self.authority, API, sid)
            self.sessions[sid] = {"notifUri": req.get("notifUri"), "location": location}
            status, extra, reply = 201, [("location", location)], doc
        elif path.startswith(API + "/"):
            rest = path[len(API) + 1:].split("/")
            sid = rest[0]
            if sid not in self.sessions:
                status = 404
            elif method == "PATCH" and len(rest) == 1:
                status, reply = 200, doc
            elif method == "POST" and rest[1:] == ["delete"]:
                self.sessions.pop(sid)
                status = 204
        entry = {"dir": "in", "method": method, "path": path, "ctype": ctype, "body": doc,
                 "status": status, "t": time.time()}
        if status == 201:
            entry["location"] = extra[0][1]
        self.log(entry)
        if status is None:
            return
        data = json.dumps(reply).encode() if reply is not None else b""
        headers = [(":status", str(status))] + extra
        if data:
            ct = "application/problem+json" if status >= 400 else "application/json"
            headers += [("content-type", ct), ("content-length", str(len(data)))]
        c.send_headers(stream, headers, end_stream=not data)
        if data:
            c.send_data(stream, data, end_stream=True)

    # --- the termination notification (TS 29.514 4.2.5.3: POST {notifUri}/terminate) ---

    def terminate(self, kind="terminate"):
        if not self.sessions:
            self.log({"dir": "out", "kind": kind, "error": "no app session"})
            return
        sid = list(self.sessions)[-1]
        sess = self.sessions[sid]
        uri = urllib.parse.urlsplit(sess["notifUri"] + "/" + kind)
        if kind == "terminate":  # TerminationInfo (TS 29.514 5.6.2.10)
            body = json.dumps({"termCause": "ALL_SDF_DEACTIVATION", "resUri": sess["location"]})
        else:  # EventsNotification (5.6.2.5)
            body = json.dumps({"evSubsUri": sess["location"],
                               "evNotifs": [{"event": "SUCCESSFUL_RESOURCES_ALLOCATION"}]})
        status, err = None, None
        try:
            status = post_h2c(uri, body.encode())
        except Exception as e:  # recorded: the test says what went wrong
            err = str(e)
        self.log({"dir": "out", "kind": kind, "method": "POST", "path": uri.path, "session": sid,
                  "status": status, "error": err, "t": time.time()})

    def run(self):
        while True:
            if self.terminate_due:
                self.terminate_due = False
                self.terminate()
            if self.notify_due:
                self.notify_due = False
                self.terminate("notify")
            rl = [self.sock] + list(self.conns)
            try:
                r, _, _ = select.select(rl, [], [], 0.1)
            except InterruptedError:
                continue
            for s in r:
                if s is self.sock:
                    try:
                        self.accept()
                    except OSError:
                        pass
                elif s in self.conns:
                    self.readable(s)


def post_h2c(uri, body, timeout=5.0):
    """One POST over a new h2c connection; the response's status."""
    s = socket.create_connection((uri.hostname, uri.port), timeout=timeout)
    try:
        c = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        c.initiate_connection()
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                             (":authority", "%s:%d" % (uri.hostname, uri.port)),
                             (":path", uri.path), ("content-type", "application/json"),
                             ("content-length", str(len(body)))])
        c.send_data(sid, body, end_stream=True)
        s.sendall(c.data_to_send())
        end = time.time() + timeout
        status = None
        while time.time() < end:
            data = s.recv(65536)
            if not data:
                break
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[":status"])
                if isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) \
                        and ev.stream_id == sid:
                    return status
            s.sendall(c.data_to_send())
        return status
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--mode-file")
    pcf = Pcf(ap.parse_args())

    def on_usr1(signum, frame):
        pcf.terminate_due = True

    def on_usr2(signum, frame):
        pcf.notify_due = True

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGUSR2, on_usr2)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("pcf: listening on %s" % pcf.authority, file=sys.stderr, flush=True)
    pcf.run()


if __name__ == "__main__":
    main()
