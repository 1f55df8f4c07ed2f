#!/usr/bin/python3
"""A TLS handset's transport for SIPp, which Debian builds without TLS (t_sip_tls.sh).

Accepts one TCP connection from SIPp on 127.0.0.1:LISTEN and carries it over one TLS
connection to the P-CSCF, both ways: what the P-CSCF sends back on that connection (the
handset's terminating INVITE, delivered over the flow the handset registered on) reaches SIPp
too, and so do requests in a dialog, sent to the Contact the handset gives: 127.0.0.1 and
--bind-port, this connection's own source. The server's certificate is verified against --ca
with its name checked against the address dialled (the lab certificates name 127.0.0.1);
--cert/--key are the handset's own.

Prints "listening" once bound, then one line for the handshake: "tls VERSION subject=CN
sha256=FINGERPRINT" (or "tls-error REASON"), and exits when either side closes (or after
--timeout seconds without SIPp connecting).
"""
import argparse
import hashlib
import select
import socket
import ssl
import sys


def say(line):
    print(line, flush=True)


def handshake(args):
    host, port = args.connect.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    # From --bind-port: the handset's Contacts name this port, so that the P-CSCF's requests in
    # a dialog (to the Contact) find this connection again (sofia reuses a connection whose peer
    # address is the destination).
    raw = socket.create_connection((host, int(port)), timeout=args.timeout,
                                   source_address=("127.0.0.1", args.bind_port))
    tls = ctx.wrap_socket(raw, server_hostname=host)
    tls.settimeout(None)
    der = tls.getpeercert(binary_form=True)
    cn = dict(x[0] for x in tls.getpeercert()["subject"]).get("commonName", "")
    say("tls %s subject=%s sha256=%s" % (tls.version(), cn, hashlib.sha256(der).hexdigest()))
    return tls


def pump(ue, tls):
    """Bytes both ways until one side closes. The TLS socket is read without blocking: bytes
    on it may be no data at all (TLS 1.3 session tickets after the handshake), and a blocking
    read would then wait for the P-CSCF while the handset's request waits for us."""
    tls.setblocking(False)
    while True:
        ready, _, _ = select.select([ue, tls], [], [])
        if ue in ready:
            data = ue.recv(65536)
            if not data:
                return "handset closed"
            tls.setblocking(True)
            tls.sendall(data)
            tls.setblocking(False)
        if tls in ready:
            data = b""
            try:
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        return "pcscf closed"
                    data += chunk
                    if not tls.pending():
                        break
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            except ssl.SSLError as e:
                return "tls-error " + str(e)
            if data:
                ue.sendall(data)


def serve(args, srv):
    """--serve: the other way round, for a TLS server stand-in (an AS): the TLS connection is
    accepted on --listen with --cert/--key (the client's certificate is not asked for), then
    carried to a plain TCP connection to --connect (SIPp). Says "tls VERSION" once the
    handshake is done."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    try:
        raw, _ = srv.accept()
    except socket.timeout:
        say("no client connected")
        return 1
    srv.close()
    try:
        raw.settimeout(args.timeout)
        tls = ctx.wrap_socket(raw, server_side=True)
        tls.settimeout(None)
    except (OSError, ssl.SSLError) as e:
        say("tls-error %s" % e)
        return 1
    say("tls %s" % tls.version())
    host, port = args.connect.rsplit(":", 1)
    plain = socket.create_connection((host, int(port)), timeout=args.timeout)
    plain.settimeout(None)
    say(pump(plain, tls))
    plain.close()
    tls.close()
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", action="store_true", help="accept TLS, connect plain TCP")
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--connect", required=True, help="host:port of the TLS listener")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--bind-port", type=int, default=0, help="source port of the TLS connection")
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.listen))
    srv.listen(1)
    srv.settimeout(args.timeout)
    say("listening")
    if args.serve:
        return serve(args, srv)
    try:
        ue, _ = srv.accept()
    except socket.timeout:
        say("no handset connected")
        return 1
    srv.close()
    try:
        tls = handshake(args)
    except (OSError, ssl.SSLError) as e:
        say("tls-error %s" % e)
        return 1
    say(pump(ue, tls))
    ue.close()
    tls.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
