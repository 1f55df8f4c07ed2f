#!/usr/bin/python3
"""An IMS handset with sec-agree and ESP that is not the project's code, for tests/e2e/t_ipsec.sh.

AKA with its own Milenage (tests/data/milenage/check_ts35208.py, independent of
common/auth/milenage.c), the AKAv1-MD5 digest (RFC 3310: RES is the password), the
security agreement of RFC 3329 / TS 33.203 7 (Security-Client, Security-Server,
Security-Verify), the SA keys of TS 33.203 Annex I, and transport-mode ESP (RFC 4303) with
scapy's SecurityAssociation: packets are sealed by scapy and sent on a raw IPPROTO_ESP
socket from the UE's address; ESP that arrives is read on a raw IPPROTO_ESP socket and
opened by scapy. Nothing here uses the project's C code.

The UE's ports are port_uc (protected client, 5080) and port_us (protected server, 5081; in
Via and Contact). Its SAs (TS 33.203 7.1):
  out spi_ps: UE port_uc -> P-CSCF port_ps (our requests)
  out spi_pc: UE port_us -> P-CSCF port_pc (our responses to the P-CSCF's requests)
  in  spi_uc: P-CSCF port_ps -> UE port_uc (responses to our requests)
  in  spi_us: P-CSCF port_pc -> UE port_us (requests to us)

Each subcommand is one step; a JSON state file carries the registration, SA sets and
sequence numbers between steps, and every message sent or received is appended to an event
log (JSON lines: cmd, dir, via esp|plain, spi, src, sport, dport, first, cseq, call_id, text)
that the test reads with jq. Subcommands:
  init       the state: identity, keys, addresses
  register   REGISTER / 401 / protected REGISTER / 200 (or unprotected with --plain)
  reregister a re-registration over the current SAs that moves to a new SA set
  deregister REGISTER with Expires 0 over the current SAs (answers a 401 over the new set)
  serve      answers requests that arrive over ESP until --expect is met or --seconds pass
  message    a MESSAGE over the SA; its final response must come back over ESP
  options    an OPTIONS to the P-CSCF over the SA (same)
  subscribe  a SUBSCRIBE to its own reg event over the SA; waits for the NOTIFY over ESP
  bad-icv    an OPTIONS whose ICV is broken: must get no answer
  replay     a valid OPTIONS (answered), then the same ESP packet again: must get no answer
  send-plain a plain UDP REGISTER to port_ps: must get no answer
  keys       the current SA set's SPIs and keys (for tshark's esp_sa table)
  tcp        SIP over TCP through the SAs: the first REGISTER plain over UDP with
             Security-Client; after the 401 the UE's ESP engine (tests/tools/espdp --engine,
             scapy has no TCP stack) gets the SA set, the UE's kernel TCP connects from port_uc
             to port_ps through it and carries the protected REGISTER; the 200 must come back
             on that connection; then it serves requests arriving on it until --expect is met
             (the ESP it receives is still opened by scapy and logged, inner TCP ports and all)
Exit status: 0 when the step did what it should, 1 when not (the reason on stderr).
"""
import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import random
import select
import socket
import struct
import subprocess
import sys
import termios
import time

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "milenage"))
from check_ts35208 import milenage  # noqa: E402  (independent Milenage, TS 35.206)


def load_scapy():
    """scapy takes about half a second to import: only the steps that seal or open ESP load it
    (init and keys, a third of t_ipsec's calls, do not)."""
    global IP, TCP, UDP, ESP, SecurityAssociation, Raw
    try:
        from scapy.layers.inet import IP, TCP, UDP
        from scapy.layers.ipsec import ESP, SecurityAssociation
        from scapy.packet import Raw
    except ImportError as e:
        print(f"scapy missing ({e}): apt-get install python3-scapy", file=sys.stderr)
        sys.exit(2)


ALGS = {"hmac-sha-1-96": "HMAC-SHA1-96", "hmac-md5-96": "HMAC-MD5-96"}
EALGS = {"null": "NULL", "aes-cbc": "AES-CBC", "des-ede3-cbc": "3DES"}
ALL_PAIRS = [f"{a}/{e}" for a in ALGS for e in ("aes-cbc", "des-ede3-cbc", "null")]
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported"}


def die(msg):
    print(f"esp_ue: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- state and event log

class State:
    def __init__(self, path):
        self.path = path
        with open(path) as f:
            self.d = json.load(f)

    def __getitem__(self, k):
        return self.d[k]

    def reload(self):
        with open(self.path) as f:
            self.d = json.load(f)

    def get(self, k, default=None):
        return self.d.get(k, default)

    @contextlib.contextmanager
    def locked(self):
        """Read-modify-write under a lock: serve and another step may run at the same time,
        and the sequence numbers must never go back."""
        with open(self.path + ".lock", "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            with open(self.path) as f:
                self.d = json.load(f)
            yield self.d
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.d, f, indent=1)
            os.replace(tmp, self.path)

    def next_seq(self, spi):
        with self.locked() as d:
            n = d["seq"].get(str(spi), 0) + 1
            d["seq"][str(spi)] = n
        return n

    def event(self, cmd, **ev):
        ev = {"t": round(time.time(), 3), "cmd": cmd, **ev}
        with open(self.d["events"], "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(json.dumps(ev) + "\n")

    def current(self):
        sets = [s for s in self.d["sets"] if s["state"] == "current"]
        return sets[-1] if sets else None


# ---------------------------------------------------------------- SIP text

class Sip:
    def __init__(self, text):
        self.text = text
        head, _, self.body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.first = lines[0]
        self.headers = []  # (lower-case name, value), in order; folded lines joined
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            n, _, v = line.partition(":")
            n = n.strip().lower()
            self.headers.append((COMPACT.get(n, n), v.strip()))
        f = self.first.split(" ", 2)
        self.is_response = f[0].startswith("SIP/2.0")
        self.status = int(f[1]) if self.is_response else 0
        self.method = "" if self.is_response else f[0]

    def all(self, name):
        return [v for n, v in self.headers if n == name]

    def get(self, name, default=""):
        v = self.all(name)
        return v[0] if v else default

    def cseq(self):
        n, _, m = self.get("cseq").partition(" ")
        return int(n or 0), m.strip()

    def branch(self):
        for p in self.get("via").split(";"):
            if p.strip().lower().startswith("branch="):
                return p.split("=", 1)[1].strip()
        return ""


def params(value):
    """'Digest a="x", b=y' or 'ipsec-3gpp;a=1;b=2': the parameters, names lower-cased."""
    out = {}
    if value.lower().startswith("digest "):
        value = value[7:]
    buf, q, parts = "", False, []
    for ch in value:
        if ch == '"':
            q = not q
        if ch in ",;" and not q:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    parts.append(buf)
    for p in parts:
        n, eq, v = p.strip().partition("=")
        if eq:
            out[n.strip().lower()] = v.strip().strip('"')
    return out


def mechanisms(values):
    """Security-Server values (each may list several mechanisms): [(name, params)]."""
    out = []
    for value in values:
        for mech in split_commas(value):
            name, _, rest = mech.strip().partition(";")
            out.append((name.strip().lower(), params(rest)))
    return out


def split_commas(v):
    parts, buf, q = [], "", False
    for ch in v:
        if ch == '"':
            q = not q
        if ch == "," and not q:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    parts.append(buf)
    return [p for p in (x.strip() for x in parts) if p]


def token(n=10):
    return "".join(random.choice("0123456789abcdef") for _ in range(n))


# ---------------------------------------------------------------- AKA and keys

def aka(st, nonce):
    """RFC 3310: the nonce is base64(RAND || AUTN || ...). Checks AUTN's MAC like a USIM;
    returns RES, CK, IK."""
    raw = base64.b64decode(nonce + "=" * (-len(nonce) % 4))
    if len(raw) < 32:
        die(f"AKA nonce too short ({len(raw)} bytes)")
    rand, autn = raw[:16], raw[16:32]
    k, op = bytes.fromhex(st["k"]), bytes.fromhex(st["op"])
    sqn_ak, amf, mac = autn[:6], autn[6:8], autn[8:16]
    ak = milenage(k, op, rand, bytes(6), amf)["f5_ak"]
    sqn = bytes(a ^ b for a, b in zip(sqn_ak, ak))
    out = milenage(k, op, rand, sqn, amf)
    if out["f1_mac_a"] != mac:
        die(f"AUTN's MAC does not verify (SQN {sqn.hex()}, AMF {amf.hex()}): wrong K/OP?")
    return out["f2_res"], out["f3_ck"], out["f4_ik"]


def digest_response(st, chal, res, uri):
    """AKAv1-MD5 (RFC 3310): RFC 2617 digest with RES (the octets) as the password."""
    def md5(b):
        return hashlib.md5(b).hexdigest()
    realm, nonce = chal.get("realm", st["domain"]), chal["nonce"]
    ha1 = md5(st["impi"].encode() + b":" + realm.encode() + b":" + res)
    ha2 = md5(f"REGISTER:{uri}".encode())
    a = {"username": st["impi"], "realm": realm, "nonce": nonce, "uri": uri,
         "algorithm": chal.get("algorithm", "AKAv1-MD5")}
    if "auth" in [q.strip() for q in chal.get("qop", "").split(",")]:
        cnonce, nc = token(16), "00000001"
        a["response"] = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode())
        a.update(qop="auth", nc=nc, cnonce=cnonce)
    else:
        a["response"] = md5(f"{ha1}:{nonce}:{ha2}".encode())
    if "opaque" in chal:
        a["opaque"] = chal["opaque"]
    unquoted = ("algorithm", "qop", "nc")
    return "Digest " + ", ".join(f'{n}={v}' if n in unquoted else f'{n}="{v}"' for n, v in a.items())


def sa_keys(alg, ealg, ck, ik):
    """TS 33.203 Annex I: the integrity key from IK, the encryption key from CK."""
    integ = ik + bytes(4) if alg == "hmac-sha-1-96" else ik  # hmac-md5-96: IK as is
    if ealg == "aes-cbc":
        enc = ck
    elif ealg == "des-ede3-cbc":
        enc = ck[:8] + ck[8:] + ck[:8]  # CK1 || CK2 || CK1
    else:
        enc = b""
    return integ, enc


def scapy_sa(s, spi, seq=1):
    return SecurityAssociation(ESP, spi=spi, seq_num=seq, crypt_algo=EALGS[s["ealg"]],
                               crypt_key=bytes.fromhex(s["enc_key"]) or None,
                               auth_algo=ALGS[s["alg"]], auth_key=bytes.fromhex(s["integ_key"]))


# ---------------------------------------------------------------- network

class Net:
    def __init__(self, st, cmd):
        """A raw ESP socket, and UDP sockets on port_uc and port_us: the first REGISTER leaves
        from port_uc, and anything that reaches either port as plain UDP is logged (with
        SO_REUSEPORT, so steps running at once each get some of it)."""
        self.st, self.cmd = st, cmd
        self.uas = Uas()
        self.esp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ESP)
        self.esp.bind((st["ue"], 0))
        self.plain = {}
        for p in (st["port_uc"], st["port_us"]):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((st["ue"], p))
            self.plain[p] = s

    def send_plain(self, text, sport, dst, dport):
        self.plain[sport].sendto(text.encode(), (dst, dport))
        self.log("out", "plain", text, sport=sport, dport=dport, dst=dst)

    def send_esp(self, s, side, text, dport=None, corrupt=False, raw=None):
        """side 'c': port_uc -> port_ps with spi_ps; side 's': port_us -> port_pc with spi_pc.
        Returns the ESP bytes sent (for replay)."""
        st = self.st
        if side == "c":
            spi, sport, dport = s["spi_ps"], st["port_uc"], dport or s["port_ps"]
        else:
            spi, sport, dport = s["spi_pc"], st["port_us"], dport or s["port_pc"]
        if raw is None:
            seq = st.next_seq(spi)
            inner = IP(bytes(IP(src=st["ue"], dst=st["pcscf"]) / UDP(sport=sport, dport=dport) /
                             Raw(text.encode())))
            raw = bytes(scapy_sa(s, spi).encrypt(inner, seq_num=seq)[ESP])
            if corrupt:
                raw = raw[:-1] + bytes([raw[-1] ^ 0x5A])
        else:
            seq = int.from_bytes(raw[4:8], "big")
        self.esp.sendto(raw, (st["pcscf"], 0))
        self.log("out", "esp", text, spi=spi, seq=seq, sport=sport, dport=dport, dst=st["pcscf"],
                 corrupt=corrupt or None)
        return raw

    def log(self, direction, via, text, **kw):
        m = Sip(text) if text else None
        ev = {"dir": direction, "via": via, **{k: v for k, v in kw.items() if v is not None}}
        if m:
            n, meth = m.cseq()
            ev.update(first=m.first, method=m.method or None, status=m.status or None, cseq=n,
                      cseq_method=meth, call_id=m.get("call-id"), text=text)
        self.st.event(self.cmd, **ev)

    def recv(self, deadline):
        """The next SIP message to the UE (over ESP, or plain on a watched port) before the
        deadline: (Sip, info) or (None, None). ESP that cannot be opened is logged and skipped."""
        socks = [self.esp] + list(self.plain.values())
        while True:
            left = deadline - time.time()
            if left <= 0:
                return None, None
            r, _, _ = select.select(socks, [], [], left)
            for sock in r:
                if sock is self.esp:
                    got = self.open_esp(sock.recv(65535))
                    if got:
                        return got
                else:
                    data, (src, sport) = sock.recvfrom(65535)
                    dport = sock.getsockname()[1]
                    text = data.decode(errors="replace")
                    self.log("in", "plain", text, src=src, sport=sport, dport=dport)
                    return Sip(text), {"via": "plain", "src": src, "sport": sport, "dport": dport}

    def open_esp(self, data):
        pkt = IP(data)
        if ESP not in pkt or pkt[IP].dst != self.st["ue"]:
            return None
        spi, seq = pkt[ESP].spi, pkt[ESP].seq
        s = None
        for cand in self.st.get("sets", []):
            if spi in (cand["spi_uc"], cand["spi_us"]):
                s = cand
        if s is None:
            self.st.event(self.cmd, dir="in", via="esp", spi=spi, seq=seq, error="unknown spi")
            return None
        try:
            inner = scapy_sa(s, spi).decrypt(pkt)
        except Exception as e:  # a bad ICV or padding: what a UE drops
            self.st.event(self.cmd, dir="in", via="esp", spi=spi, seq=seq, error=type(e).__name__)
            return None
        if TCP in inner:  # the TCP mode's segments: logged (scapy opened them), not parsed
            t = inner[TCP]
            payload = bytes(t.payload)
            self.st.event(self.cmd, dir="in", via="esp", proto="tcp", spi=spi, seq=seq, src=pkt[IP].src,
                          sport=t.sport, dport=t.dport, flags=str(t.flags), len=len(payload),
                          first=payload.decode(errors="replace").split("\r\n", 1)[0] if payload else None)
            return None
        if UDP not in inner:
            self.st.event(self.cmd, dir="in", via="esp", spi=spi, seq=seq, error="not UDP")
            return None
        u = inner[UDP]
        text = bytes(u.payload).decode(errors="replace")
        info = {"via": "esp", "spi": spi, "seq": seq, "src": pkt[IP].src, "sport": u.sport,
                "dport": u.dport, "set": s["spi_uc"]}
        self.log("in", "esp", text, spi=spi, seq=seq, src=pkt[IP].src, sport=u.sport, dport=u.dport)
        return Sip(text), info


# ---------------------------------------------------------------- requests

def contact(st, expires=None):
    c = (f'<sip:{st["user"]}@{st["ue"]}:{st["port_us"]}>;+sip.instance="<urn:gsma:imei:35000000-000000-9>"'
         f';+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"')
    return c + (f";expires={expires}" if expires is not None else "")


def security_client(st, offers, spi_uc, spi_us):
    out = []
    for pair in offers:
        alg, ealg = pair.split("/")
        out.append(f"ipsec-3gpp;alg={alg};ealg={ealg};spi-c={spi_uc};spi-s={spi_us};"
                   f"port-c={st['port_uc']};port-s={st['port_us']}")
    return ", ".join(out)


def register_text(st, cseq, expires, auth, sec_client=None, sec_verify=None, proto="UDP"):
    h = [f"REGISTER sip:{st['domain']} SIP/2.0",
         f"Via: SIP/2.0/{proto} {st['ue']}:{st['port_us']};branch=z9hG4bK{token(16)};rport",
         "Max-Forwards: 70",
         f"From: <{st['impu']}>;tag={st['from_tag']}",
         f"To: <{st['impu']}>",
         f"Call-ID: {st['call_id']}",
         f"CSeq: {cseq} REGISTER",
         f"Contact: {contact(st)}",
         f"Authorization: {auth}"]
    if sec_client:
        h += [f"Security-Client: {sec_client}", "Require: sec-agree", "Proxy-Require: sec-agree"]
    if sec_verify:
        h += [f"Security-Verify: {sec_verify}"]
        if not sec_client:
            h += ["Require: sec-agree", "Proxy-Require: sec-agree"]
    h += ["Supported: path,sec-agree" if (sec_client or sec_verify) else "Supported: path",
          f"Expires: {expires}", "User-Agent: esp_ue.py (scapy ESP)", "Content-Length: 0"]
    return "\r\n".join(h) + "\r\n\r\n"


def empty_auth(st):
    return f'Digest username="{st["impi"]}", realm="{st["domain"]}", nonce="", uri="sip:{st["domain"]}", response=""'


def new_spis(st):
    used = set()
    for s in st.get("sets", []):
        used |= {s["spi_uc"], s["spi_us"]}
    while True:
        a, b = random.randint(0x1000, 0x7FFFFFFF), random.randint(0x1000, 0x7FFFFFFF)
        if a != b and not {a, b} & used:
            return a, b


def wait_response(net, deadline, call_id, cseq, method="REGISTER"):
    """The final response to our request (provisional ones skipped): (Sip, info) or (None, None)."""
    while True:
        m, info = net.recv(deadline)
        if m is None:
            return None, None
        if m.is_response and m.get("call-id") == call_id and m.cseq() == (cseq, method) and m.status >= 200:
            return m, info
        net.uas.handle(net, m, info)  # a request meanwhile (a reg-event NOTIFY): answered


def new_set(st, r401, spi_uc, spi_us, offers):
    """The SA set a 401 announces: its Security-Server, keys from its AKA challenge."""
    mechs = [(n, p) for n, p in mechanisms(r401.all("security-server")) if n == "ipsec-3gpp"]
    if not mechs:
        die("the 401 carries no ipsec-3gpp Security-Server")
    mechs.sort(key=lambda np: -float(np[1].get("q", "0") or 0))
    p = mechs[0][1]
    alg, ealg = p.get("alg", ""), p.get("ealg", "null")
    if f"{alg}/{ealg}" not in offers:
        die(f"Security-Server names alg={alg} ealg={ealg}, which we did not offer")
    missing = [n for n in ("spi-c", "spi-s", "port-c", "port-s") if not p.get(n, "").isdigit()]
    if missing:
        die(f"Security-Server without a numeric {', '.join(missing)}")
    chal = params(r401.get("www-authenticate"))
    res, ck, ik = aka(st, chal["nonce"])
    integ, enc = sa_keys(alg, ealg, ck, ik)
    return {"alg": alg, "ealg": ealg, "spi_uc": spi_uc, "spi_us": spi_us,
            "spi_pc": int(p["spi-c"]), "spi_ps": int(p["spi-s"]),
            "port_pc": int(p["port-c"]), "port_ps": int(p["port-s"]),
            "ck": ck.hex(), "ik": ik.hex(), "integ_key": integ.hex(), "enc_key": enc.hex(),
            "server": ", ".join(r401.all("security-server")), "state": "new"}, chal, res


def finish_register(st, r200, info, s_new):
    """Record the 200: Service-Route, the new set current, older ones old. Any other final
    response changes nothing but last_final."""
    with st.locked() as d:
        d["last_final"] = {"status": r200.status, "spi": info.get("spi"), "via": info["via"]}
        if r200.status != 200:
            return
        d["registered"] = True
        d["service_route"] = r200.all("service-route")
        for s in d["sets"]:
            if s_new and s["spi_uc"] == s_new["spi_uc"]:
                s["state"] = "current"
            elif s["state"] in ("current", "new"):
                s["state"] = "old"


def add_set(st, s):
    with st.locked() as d:
        d["sets"].append(s)


def challenge_round(st, net, send, text, spis, cseq, expires, offers, timeout):
    """Send the REGISTER text (CSeq cseq, offering spis) with send(); when a 401 comes, set up
    the SA set its Security-Server announces and send the AKA answer over it with
    Security-Verify. Returns (final response, info, the new set or None when not challenged)."""
    spi_uc, spi_us = spis
    send(text)
    deadline = time.time() + timeout
    r, info = wait_response(net, deadline, st["call_id"], cseq)
    if r is None:
        die(f"no answer to REGISTER CSeq {cseq}")
    if r.status != 401:
        return r, info, None
    s, chal, res = new_set(st, r, spi_uc, spi_us, offers)
    add_set(st, s)
    uri = f"sip:{st['domain']}"
    auth = digest_response(st, chal, res, uri)
    text = register_text(st, cseq + 1, expires, auth, security_client(st, offers, spi_uc, spi_us),
                         s["server"])
    net.send_esp(s, "c", text)
    r2, info2 = wait_response(net, time.time() + timeout, st["call_id"], cseq + 1)
    if r2 is None:
        die(f"no answer to the protected REGISTER CSeq {cseq + 1} (sent over spi {s['spi_ps']})")
    return r2, info2, s


def offers_of(args, st):
    return args.offer.split(",") if args.offer else st.get("offers", ALL_PAIRS)


# ---------------------------------------------------------------- subcommands

def cmd_init(args):
    user = args.impu.split(":", 1)[1].split("@")[0]
    d = {"impi": args.impi, "impu": args.impu, "user": user, "domain": args.domain,
         "k": args.k, "op": args.op, "ue": args.ue, "pcscf": args.pcscf, "pcscf_port": args.pcscf_port,
         "port_uc": args.port_uc, "port_us": args.port_us, "call_id": f"{token(12)}@{args.ue}",
         "from_tag": token(8), "cseq": 0, "sets": [], "seq": {}, "events": args.events or args.state + ".events",
         "registered": False}
    with open(args.state, "w") as f:
        json.dump(d, f, indent=1)
    open(d["events"], "a").close()


def cmd_register(args):
    st = State(args.state)
    net = Net(st, "register")
    offers = offers_of(args, st)
    with st.locked() as d:
        d["offers"] = offers
        d["cseq"] += 2
        cseq = d["cseq"] - 1
    if args.plain:  # no sec-agree: the unprotected path (ipsec.mode optional)
        send = lambda t: net.send_plain(t, st["port_uc"], st["pcscf"], st["pcscf_port"])  # noqa: E731
        send(register_text(st, cseq, args.expires, empty_auth(st)))
        r, info = wait_response(net, time.time() + args.timeout, st["call_id"], cseq)
        if r is None or r.status != 401:
            die(f"expected 401, got {r.first if r else 'nothing'}")
        chal = params(r.get("www-authenticate"))
        res, _, _ = aka(st, chal["nonce"])
        send(register_text(st, cseq + 1, args.expires, digest_response(st, chal, res, f"sip:{st['domain']}")))
        r2, info2 = wait_response(net, time.time() + args.timeout, st["call_id"], cseq + 1)
        if r2 is None:
            die("no answer to the second REGISTER")
        finish_register(st, r2, info2, None)
        print(json.dumps({"status": r2.status, "via": info2["via"]}))
        return 0 if r2.status == 200 else 1
    spis = new_spis(st)
    text = register_text(st, cseq, args.expires, empty_auth(st), security_client(st, offers, *spis))
    send = lambda t: net.send_plain(t, st["port_uc"], st["pcscf"], st["pcscf_port"])  # noqa: E731
    r, info, s = challenge_round(st, net, send, text, spis, cseq, args.expires, offers, args.timeout)
    if s is None:
        print(json.dumps({"status": r.status, "via": info["via"], "first": r.first}))
        die(f"expected a 401 with Security-Server, got {r.first}")
    finish_register(st, r, info, s)
    print(json.dumps({"status": r.status, "via": info["via"], "spi": info.get("spi"),
                      "spi_uc": s["spi_uc"], "alg": s["alg"], "ealg": s["ealg"]}))
    return 0 if r.status == 200 and info["via"] == "esp" and info["spi"] == s["spi_uc"] else 1


def rereg(args, expires, cmd):
    st = State(args.state)
    cur = st.current()
    if cur is None:
        die("no current SA set: register first")
    net = Net(st, cmd)
    offers = offers_of(args, st)
    with st.locked() as d:
        d["cseq"] += 2
        cseq = d["cseq"] - 1
    spis = new_spis(st)
    verify = cur["server"]
    if getattr(args, "tamper_verify", False):  # RFC 3329 2.3.1: the pcscf must refuse it (494)
        verify = verify.replace(f"spi-c={cur['spi_pc']}", f"spi-c={cur['spi_pc'] ^ 1}")
    text = register_text(st, cseq, expires, empty_auth(st), security_client(st, offers, *spis), verify)
    r, info, s = challenge_round(st, net, lambda t: net.send_esp(cur, "c", t), text, spis, cseq,
                                 expires, offers, args.timeout)
    finish_register(st, r, info, s)
    if expires == 0 and r.status == 200:
        with st.locked() as d:
            d["registered"] = False
            for x in d["sets"]:
                x["state"] = "deleted"
    out = {"status": r.status, "via": info["via"], "spi": info.get("spi"), "challenged": s is not None,
           "old_spi_uc": cur["spi_uc"]}
    if s:
        out.update(spi_uc=s["spi_uc"], spi_us=s["spi_us"], spi_pc=s["spi_pc"], spi_ps=s["spi_ps"])
    print(json.dumps(out))
    want_spi = s["spi_uc"] if s else cur["spi_uc"]
    return 0 if r.status == 200 and info["via"] == "esp" and info["spi"] == want_spi else 1


def cmd_reregister(args):
    return rereg(args, args.expires, "reregister")


def cmd_deregister(args):
    return rereg(args, 0, "deregister")


def response_text(req, status, reason, tag, extra=(), body=""):
    to = req.get("to")
    if status > 100 and ";tag=" not in to:
        to += f";tag={tag}"
    h = [f"SIP/2.0 {status} {reason}"] + [f"Via: {v}" for v in req.all("via")]
    h += [f"Record-Route: {v}" for v in req.all("record-route")]
    h += [f"From: {req.get('from')}", f"To: {to}", f"Call-ID: {req.get('call-id')}",
          f"CSeq: {req.get('cseq')}"]
    h += list(extra)
    h += [f"Content-Length: {len(body.encode())}"]
    return "\r\n".join(h) + "\r\n\r\n" + body


def answer(st, net, req, info, status, reason, tag, extra=(), body=""):
    """A response to req, back through the SA it came on: from the port it reached to the
    port it came from (TS 33.203 7.1: port_us -> port_pc over spi_pc)."""
    s = next(x for x in st["sets"] if x["spi_uc"] == info["set"])
    text = response_text(req, status, reason, tag, extra, body)
    side = "s" if info["dport"] == st["port_us"] else "c"
    net.send_esp(s, side, text, dport=info["sport"])
    return text


class Uas:
    """Answers the requests that reach the UE over ESP, whatever step is running: INVITE with
    180 and 200 (SDP), ACK with nothing, anything else (MESSAGE, BYE, NOTIFY, OPTIONS) with 200.
    A retransmission gets the same answers again. Plain requests are logged, never answered."""

    def __init__(self):
        self.done, self.tags, self.seen = {}, {}, {}

    def handle(self, net, m, info):
        if m.is_response or info["via"] != "esp":
            return
        st = net.st
        st.reload()  # the sets and sequence numbers as they are now
        key = m.branch() + " " + m.method
        s = next(x for x in st["sets"] if x["spi_uc"] == info["set"])
        side = "s" if info["dport"] == st["port_us"] else "c"
        if key in self.done and m.method != "ACK":
            for t in self.done[key]:
                net.send_esp(s, side, t, dport=info["sport"])
            return
        self.seen[m.method] = self.seen.get(m.method, 0) + 1
        tag = self.tags.setdefault(m.get("call-id"), token(8))
        ct = [f"Contact: <sip:{st['user']}@{st['ue']}:{st['port_us']}>"]
        sent = []
        if m.method == "INVITE":
            sent.append(answer(st, net, m, info, 180, "Ringing", tag, ct))
            sdp = (f"v=0\r\no=ue 1 1 IN IP4 {st['ue']}\r\ns=-\r\nc=IN IP4 {st['ue']}\r\nt=0 0\r\n"
                   f"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
            sent.append(answer(st, net, m, info, 200, "OK", tag, ct + ["Content-Type: application/sdp"], sdp))
        elif m.method != "ACK":
            sent.append(answer(st, net, m, info, 200, "OK", tag, ct if m.method == "OPTIONS" else []))
        self.done[key] = sent


def cmd_serve(args):
    st = State(args.state)
    net = Net(st, "serve")
    want = [m for m in args.expect.split(",") if m] if args.expect else []
    if args.ready:
        open(args.ready, "w").close()
    deadline = time.time() + args.seconds
    while True:
        seen = net.uas.seen
        if want and all(seen.get(m, 0) >= want.count(m) for m in set(want)):
            return 0
        m, info = net.recv(deadline)
        if m is None:
            missing = [w for w in set(want) if seen.get(w, 0) < want.count(w)]
            if missing:
                print(f"esp_ue serve: time is up; still waiting for {','.join(missing)}", file=sys.stderr)
                return 1
            return 0
        net.uas.handle(net, m, info)


def simple_request(st, method, ruri, extra=(), body=""):
    cseq = random.randint(1, 10000)
    h = [f"{method} {ruri} SIP/2.0",
         f"Via: SIP/2.0/UDP {st['ue']}:{st['port_us']};branch=z9hG4bK{token(16)};rport",
         "Max-Forwards: 70", f"From: <{st['impu']}>;tag={token(8)}", f"To: <{ruri}>",
         f"Call-ID: {token(16)}@{st['ue']}", f"CSeq: {cseq} {method}"] + list(extra)
    h += [f"Content-Length: {len(body.encode())}"]
    return "\r\n".join(h) + "\r\n\r\n" + body, cseq


def pick_set(st, args):
    """The current SA set, or the one --set names by its spi_ps, or the newest (--latest)."""
    if getattr(args, "set", None):
        return next((x for x in st["sets"] if x["spi_ps"] == args.set), None)
    if getattr(args, "latest", False) and st["sets"]:
        return st["sets"][-1]
    return st.current()


def one_request(args, cmd, method, ruri, extra=(), body=""):
    st = State(args.state)
    s = pick_set(st, args)
    if s is None:
        die("no current SA set")
    net = Net(st, cmd)
    text, cseq = simple_request(st, method, ruri, extra, body)
    raw = net.send_esp(s, "c", text, corrupt=getattr(args, "corrupt", False))
    r, info = wait_response(net, time.time() + args.timeout, Sip(text).get("call-id"), cseq, method)
    return st, s, net, text, raw, cseq, r, info


def cmd_message(args):
    st, s, net, text, raw, cseq, r, info = one_request(
        args, "message", "MESSAGE", args.to, ["Content-Type: text/plain"], args.text)
    out = {"status": r.status if r else None, "via": info["via"] if info else None,
           "spi": info.get("spi") if info else None, "sent_spi": s["spi_ps"], "spi_uc": s["spi_uc"]}
    print(json.dumps(out))
    return 0 if r and r.status == args.want and info["via"] == "esp" and info["spi"] == s["spi_uc"] else 1


def cmd_subscribe(args):
    """SUBSCRIBE to our own reg event (RFC 3680, TS 24.229 5.1.1.3) over the SA; the 200 must
    come back over ESP and the NOTIFY reach port_us over ESP (answered over spi_pc)."""
    st = State(args.state)
    ct = f"Contact: <sip:{st['user']}@{st['ue']}:{st['port_us']}>"
    st, s, net, text, raw, cseq, r, info = one_request(
        args, "subscribe", "SUBSCRIBE", st["impu"],
        [ct, "Event: reg", "Accept: application/reginfo+xml", f"Expires: {args.expires}"])
    deadline = time.time() + args.timeout
    while r and not net.uas.seen.get("NOTIFY") and time.time() < deadline:
        m, i = net.recv(deadline)
        if m is not None:
            net.uas.handle(net, m, i)
    print(json.dumps({"status": r.status if r else None, "via": info["via"] if info else None,
                      "spi": info.get("spi") if info else None, "notify": net.uas.seen.get("NOTIFY", 0)}))
    return 0 if r and r.status < 300 and net.uas.seen.get("NOTIFY") else 1


def pcscf_uri(st, s):
    return f"sip:{st['pcscf']}:{s['port_ps']}"


def cmd_options(args):
    st = State(args.state)
    s = pick_set(st, args)
    if s is None:
        die("no such SA set")
    st, s, net, text, raw, cseq, r, info = one_request(args, "options", "OPTIONS", pcscf_uri(st, s))
    print(json.dumps({"status": r.status if r else None, "via": info["via"] if info else None,
                      "spi": info.get("spi") if info else None, "spi_uc": s["spi_uc"]}))
    return 0 if r and info["via"] == "esp" and info["spi"] == s["spi_uc"] else 1


def cmd_bad_icv(args):
    args.corrupt = True
    st = State(args.state)
    s = st.current()
    st, s, net, text, raw, cseq, r, info = one_request(args, "bad-icv", "OPTIONS", pcscf_uri(st, s))
    print(json.dumps({"answered": r is not None, "status": r.status if r else None}))
    return 1 if r else 0


def cmd_replay(args):
    st = State(args.state)
    s = st.current()
    st, s, net, text, raw, cseq, r, info = one_request(args, "replay", "OPTIONS", pcscf_uri(st, s))
    if r is None:
        print(json.dumps({"first": None, "replay_answered": None}))
        die("the original OPTIONS got no answer, so a replay proves nothing")
    net.send_esp(s, "c", text, raw=raw)
    r2, _ = wait_response(net, time.time() + args.wait, Sip(text).get("call-id"), cseq, "OPTIONS")
    print(json.dumps({"first": r.status, "replay_answered": r2 is not None}))
    return 1 if r2 else 0


def cmd_send_plain(args):
    st = State(args.state)
    s = st.current() or {"port_ps": args.port}
    port = args.port or s["port_ps"]
    net = Net(st, "send-plain")
    with st.locked() as d:
        d["cseq"] += 1
        cseq = d["cseq"]
    text = register_text(st, cseq, 600, empty_auth(st), sec_verify=s.get("server"))
    net.send_plain(text, st["port_uc"], st["pcscf"], port)
    r, info = wait_response(net, time.time() + args.wait, st["call_id"], cseq)
    print(json.dumps({"answered": r is not None, "status": r.status if r else None}))
    return 1 if r else 0


# ---------------------------------------------------------------- SIP over TCP through the SAs

def start_engine(args, st, s):
    """The UE's ESP engine: the project's userspace datapath seen from the UE (ipsec_dp.h is
    symmetric). Its "local" ports are ours (port_uc as its port_pc, port_us as its port_ps),
    its "UE" is the P-CSCF (port_pc as its port_uc, port_ps as its port_us); its inbound SPIs
    are ours (spi_us on its spi_ps selector: P-CSCF port_pc -> port_us; spi_uc on its spi_pc:
    port_ps -> port_uc), its outbound the P-CSCF's (spi_ps: port_uc -> port_ps; spi_pc:
    port_us -> port_pc). Returns the process once it printed "ready"."""
    cmd = [args.engine, "--engine", "--local", st["ue"], "--ue", st["pcscf"],
           "--port-pc", str(st["port_uc"]), "--port-ps", str(st["port_us"]),
           "--port-uc", str(s["port_pc"]), "--port-us", str(s["port_ps"]),
           "--spi-ps", str(s["spi_us"]), "--spi-pc", str(s["spi_uc"]),
           "--spi-us", str(s["spi_ps"]), "--spi-uc", str(s["spi_pc"]),
           "--ck", s["ck"], "--ik", s["ik"], "--alg", s["alg"], "--ealg", s["ealg"],
           "--tun", "ue-esp0", "--stats", args.state + ".engine"]
    eng = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(args.state + ".engine.log", "w"), text=True)
    r, _, _ = select.select([eng.stdout], [], [], args.timeout)
    line = eng.stdout.readline() if r else ""
    if line.strip() != "ready":
        eng.kill()
        die(f"the ESP engine did not start ({line.strip() or 'no ready line'}): see {args.state}.engine.log")
    return eng


def engine_stats(args):
    """The engine's set counters (packets_in=... packets_out=...) from its stats file."""
    try:
        with open(args.state + ".engine") as f:
            for line in f:
                if line.startswith("sa "):
                    return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    except OSError:
        pass
    return {}


class TcpConn:
    """A SIP connection (RFC 3261 18.3: messages framed by Content-Length) from the UE's
    kernel TCP; every message in and out is logged with via "tcp"."""

    def __init__(self, st, net, sock):
        self.st, self.net, self.sock, self.buf = st, net, sock, b""
        self.local, self.peer = sock.getsockname(), sock.getpeername()

    def send(self, text):
        self.sock.sendall(text.encode())
        self.net.log("out", "tcp", text, sport=self.local[1], dport=self.peer[1], dst=self.peer[0])

    def next_message(self):
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return None
        n = Sip(head.decode(errors="replace") + "\r\n\r\n")
        length = int(n.get("content-length", "0") or 0)
        if len(rest) < length:
            return None
        text = (head + sep + rest[:length]).decode(errors="replace")
        self.buf = rest[length:]
        self.net.log("in", "tcp", text, src=self.peer[0], sport=self.peer[1], dport=self.local[1])
        return Sip(text)

    def recv(self, deadline):
        """The next SIP message on the connection before the deadline, or None (closed or time
        up). ESP and UDP that arrive meanwhile are logged by Net."""
        while True:
            m = self.next_message()
            if m:
                return m
            left = deadline - time.time()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock, self.net.esp] + list(self.net.plain.values()), [], [], left)
            for sock in r:
                if sock is self.sock:
                    data = sock.recv(65535)
                    if not data:
                        return None
                    self.buf += data
                elif sock is self.net.esp:
                    self.net.open_esp(sock.recv(65535))
                else:  # UDP to our ports (the engine hands decrypted UDP to the kernel too)
                    data, (src, sport) = sock.recvfrom(65535)
                    self.net.log("in", "udp", data.decode(errors="replace"), src=src, sport=sport,
                                 dport=sock.getsockname()[1])


def drained(sock, deadline):
    """Waits (bounded) until the peer acknowledged all we sent: the engine must not stop while
    our last answer is still on its way through it."""
    while time.time() < deadline:
        if struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0" * 4))[0] == 0:
            return True
        time.sleep(0.05)
    return False


def cmd_tcp(args):
    st = State(args.state)
    net = Net(st, "tcp")
    offers = offers_of(args, st)
    with st.locked() as d:
        d["offers"] = offers
        d["cseq"] += 2
        cseq = d["cseq"] - 1
    spis = new_spis(st)
    net.send_plain(register_text(st, cseq, args.expires, empty_auth(st), security_client(st, offers, *spis)),
                   st["port_uc"], st["pcscf"], st["pcscf_port"])
    r, info = wait_response(net, time.time() + args.timeout, st["call_id"], cseq)
    if r is None or r.status != 401:
        die(f"expected a 401, got {r.first if r else 'nothing'}")
    s, chal, res = new_set(st, r, *spis, offers)
    add_set(st, s)
    eng = start_engine(args, st, s)
    out = {"status": None, "spi_uc": s["spi_uc"], "spi_us": s["spi_us"], "spi_pc": s["spi_pc"],
           "spi_ps": s["spi_ps"], "port_pc": s["port_pc"], "port_ps": s["port_ps"]}
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((st["ue"], st["port_uc"]))
        sock.settimeout(args.timeout)
        sock.connect((st["pcscf"], s["port_ps"]))  # through the engine: port_uc -> port_ps on spi_ps
        sock.setblocking(True)
        conn = TcpConn(st, net, sock)
        auth = digest_response(st, chal, res, f"sip:{st['domain']}")
        conn.send(register_text(st, cseq + 1, args.expires, auth, security_client(st, offers, *spis),
                                s["server"], proto="TCP"))
        deadline = time.time() + args.timeout
        r2 = None
        while r2 is None or not (r2.is_response and r2.cseq() == (cseq + 1, "REGISTER")):
            r2 = conn.recv(deadline)
            if r2 is None:
                die("no answer on the TCP connection to the protected REGISTER")
        finish_register(st, r2, {"via": "tcp"}, s)
        out["status"] = r2.status
        if args.ready:
            with open(args.ready, "w") as f:
                f.write(json.dumps(out) + "\n")
        want = [m for m in args.expect.split(",") if m] if args.expect else []
        seen, tag = {}, token(8)
        deadline = time.time() + args.seconds
        while any(seen.get(m, 0) < want.count(m) for m in want):
            m = conn.recv(deadline)
            if m is None:
                break
            if m.is_response:
                continue
            seen[m.method] = seen.get(m.method, 0) + 1
            if m.method != "ACK":
                conn.send(response_text(m, 200, "OK", tag))
        out["seen"] = seen
        out["drained"] = drained(sock, time.time() + args.timeout)
        sock.close()
    finally:
        eng.terminate()
        eng.wait(5)
    out["engine"] = engine_stats(args)
    print(json.dumps(out))
    return 0 if out["status"] == 200 and out["drained"] and all(
        out["seen"].get(m, 0) >= want.count(m) for m in want) else 1


def cmd_keys(args):
    st = State(args.state)
    sets = st["sets"] if args.all else [st.current()]
    for s in sets:
        if s:
            print(json.dumps({k: s[k] for k in ("alg", "ealg", "spi_uc", "spi_us", "spi_pc", "spi_ps",
                                                "port_pc", "port_ps", "integ_key", "enc_key", "state")}))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", required=True, help="the JSON state file")
    ap.add_argument("--timeout", type=float, default=10, help="seconds to wait for an answer")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("init")
    p.add_argument("--impi", required=True)
    p.add_argument("--impu", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--k", required=True, help="K, 32 hex digits")
    p.add_argument("--op", required=True, help="OP, 32 hex digits")
    p.add_argument("--ue", required=True, help="the UE's address")
    p.add_argument("--pcscf", required=True, help="the P-CSCF's Gm address")
    p.add_argument("--pcscf-port", type=int, default=5060)
    p.add_argument("--port-uc", type=int, default=5080)
    p.add_argument("--port-us", type=int, default=5081)
    p.add_argument("--events", help="the event log (default STATE.events)")
    for name in ("register", "reregister", "deregister"):
        p = sub.add_parser(name)
        p.add_argument("--offer", help="alg/ealg pairs offered, comma-separated (default: all six)")
        p.add_argument("--expires", type=int, default=600)
        if name == "register":
            p.add_argument("--plain", action="store_true", help="no sec-agree: unprotected registration")
        if name == "reregister":
            p.add_argument("--tamper-verify", action="store_true",
                           help="a Security-Verify that differs from the Security-Server (spi-c)")
    p = sub.add_parser("serve")
    p.add_argument("--seconds", type=float, default=30, help="the bound on the wait")
    p.add_argument("--expect", help="methods to wait for, comma-separated (repeat for counts)")
    p.add_argument("--ready", help="a file created once the sockets are open")
    p = sub.add_parser("message")
    p.add_argument("--to", required=True)
    p.add_argument("--text", default="hello over ESP")
    p.add_argument("--want", type=int, default=200, help="the final status expected")
    p = sub.add_parser("subscribe")
    p.add_argument("--expires", type=int, default=600)
    p = sub.add_parser("options")
    p.add_argument("--latest", action="store_true", help="over the newest SA set, even a deleted one")
    p.add_argument("--set", type=int, metavar="SPI_PS", help="over the SA set with this spi_ps")
    sub.add_parser("bad-icv")
    p = sub.add_parser("replay")
    p.add_argument("--wait", type=float, default=3, help="seconds a replay's answer is waited for")
    p = sub.add_parser("send-plain")
    p.add_argument("--port", type=int, help="the P-CSCF port (default port_ps)")
    p.add_argument("--wait", type=float, default=3)
    p = sub.add_parser("keys")
    p.add_argument("--all", action="store_true")
    p = sub.add_parser("tcp")
    p.add_argument("--engine", required=True, help="tests/tools/espdp (run with --engine)")
    p.add_argument("--offer", help="alg/ealg pairs offered, comma-separated (default: all six)")
    p.add_argument("--expires", type=int, default=600)
    p.add_argument("--ready", help="a file written (the 200's JSON) once registered")
    p.add_argument("--expect", help="requests to wait for on the connection, comma-separated")
    p.add_argument("--seconds", type=float, default=30, help="the bound on that wait")
    args = ap.parse_args()
    if args.cmd not in ("init", "keys"):
        load_scapy()
    if args.cmd == "bad-icv":
        args.timeout = min(args.timeout, 3)
    fn = {"init": cmd_init, "register": cmd_register, "reregister": cmd_reregister,
          "deregister": cmd_deregister, "serve": cmd_serve, "message": cmd_message,
          "options": cmd_options, "subscribe": cmd_subscribe, "bad-icv": cmd_bad_icv, "replay": cmd_replay,
          "send-plain": cmd_send_plain, "keys": cmd_keys, "tcp": cmd_tcp}[args.cmd]
    sys.exit(fn(args) or 0)


if __name__ == "__main__":
    main()
