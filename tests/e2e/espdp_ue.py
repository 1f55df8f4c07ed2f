#!/usr/bin/python3
"""The UE side of tests/e2e/t_esp_datapath.sh: ESP by scapy's SecurityAssociation (transport
mode), an implementation that is not ours, against tests/tools/espdp's echo server behind the
userspace datapath. Runs in the UE's network namespace; one line per step on stdout:

  echo ok SPI SPORT DPORT LEN      a protected datagram came back protected (SPI: its SPI)
  large ok SPI SPORT DPORT LEN     the same with 4000 bytes (outer packets fragmented)
  plain refused|answered|silent    an unprotected datagram to port_ps: ICMP port unreachable,
                                   an answer, or nothing within the time bound
  sent badicv / sent replay        two packets with a broken ICV, and the first packet again
  again ok ...                     a protected echo after those (the SA still works)
  request ok SPI SPORT DPORT LEN   "request-us" made the core send a request from port_pc to
  trigger ok ...                   our port_us (on spi_us), and echo the trigger
  sent response                    our protected response, port_us -> port_pc on spi_pc
  tcp ok SPI SPORT DPORT LEN       a TCP connection port_uc -> port_ps through the SAs echoes
  plaintcp reset|synack|silent     the core's answer to a plain SYN to port_ps
Anything else ("... FAIL reason") is a failure. Exit 2 when scapy is missing.
"""
import argparse
import select
import socket
import sys
import time

try:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.ipsec import ESP, SecurityAssociation
    from scapy.packet import Raw
except ImportError as e:
    print(f"scapy missing ({e}): apt-get install python3-scapy", file=sys.stderr)
    sys.exit(2)

WAIT = 10  # seconds for any one answer: generous, the machine is shared


def sa(args, spi):
    return SecurityAssociation(ESP, spi=spi, crypt_algo="AES-CBC",
                               crypt_key=bytes.fromhex(args.enc_key),
                               auth_algo="HMAC-SHA1-96", auth_key=bytes.fromhex(args.auth_key))


def esp_socket(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ESP)
    s.bind((args.ue, 0))
    # Let the kernel fragment an ESP packet larger than the link, as the datapath's socket does.
    s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
    return s


def protect(args, out, seq, payload):
    inner = IP(src=args.ue, dst=args.core) / UDP(sport=args.port_uc, dport=args.port_ps) / Raw(payload)
    inner = IP(bytes(inner))  # checksums and lengths filled in, as a kernel would send it
    return bytes(out.encrypt(inner, seq_num=seq)[ESP])


class Inbox:
    """ESP packets from the core by SPI: the one asked for is returned, others are kept for a
    later ask (our request and the echo may arrive in either order)."""

    def __init__(self, sock, core):
        self.sock, self.core, self.kept = sock, core, []

    def take(self, spi):
        end = time.monotonic() + WAIT
        while True:
            for pkt in self.kept:
                if pkt[ESP].spi == spi:
                    self.kept.remove(pkt)
                    return pkt
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            pkt = IP(self.sock.recv(70000))
            if pkt.src == self.core and ESP in pkt:
                self.kept.append(pkt)


def opened(inbox, sa, payload):
    """The next packet on sa's SPI, opened: "ok SPI SPORT DPORT LEN" or "FAIL reason"."""
    pkt = inbox.take(sa.spi)
    if pkt is None:
        return f"FAIL no answer on spi {sa.spi}"
    try:
        inner = sa.decrypt(pkt)
    except Exception as e:
        return f"FAIL cannot open the packet (spi {sa.spi}): {type(e).__name__} {e}"
    if UDP not in inner:
        return "FAIL the answer is not UDP"
    data = bytes(inner[UDP].payload)
    if data != payload:
        return f"FAIL the payload differs ({len(data)} bytes: {data[:40]!r})"
    return f"ok {sa.spi} {inner[UDP].sport} {inner[UDP].dport} {len(data)}"


def tcp_segment(args, flags, seq, ack, payload=b""):
    opts = [("MSS", 1400)] if "S" in flags else []
    seg = IP(src=args.ue, dst=args.core) / TCP(sport=args.port_uc, dport=args.port_ps, flags=flags,
                                               seq=seq, ack=ack, window=65535, options=opts)
    return IP(bytes(seg / Raw(payload) if payload else seg))


def tcp_answer(inbox, inp):
    """The next TCP segment from the core on spi_uc, opened, or None."""
    pkt = inbox.take(inp.spi)
    if pkt is None:
        return None
    inner = inp.decrypt(pkt)
    return inner if TCP in inner else None


def tcp_echo(args, sock, out, inbox, inp, esp_seq):
    """A TCP connection from port_uc to port_ps through the SAs, one message echoed:
    "ok SPI SPORT DPORT LEN" or "FAIL reason". esp_seq: the next outbound ESP numbers."""
    send = lambda seg: sock.sendto(bytes(out.encrypt(seg, seq_num=next(esp_seq))[ESP]), (args.core, 0))
    isn, msg = 7000, b"tcp-hello-protected"
    send(tcp_segment(args, "S", isn, 0))
    synack = tcp_answer(inbox, inp)
    if synack is None or synack[TCP].flags != "SA":
        return "FAIL no SYN-ACK"
    peer = synack[TCP].seq + 1
    send(tcp_segment(args, "PA", isn + 1, peer, msg))
    for _ in range(4):  # a bare ACK may come first
        seg = tcp_answer(inbox, inp)
        if seg is None:
            return "FAIL no echo"
        data = bytes(seg[TCP].payload)
        if data:
            send(tcp_segment(args, "R", isn + 1 + len(msg), 0))
            if data != msg:
                return f"FAIL the echo differs ({data[:40]!r})"
            return f"ok {inp.spi} {seg[TCP].sport} {seg[TCP].dport} {len(data)}"
    return "FAIL no data"


def plain_syn(args, inbox, inp):
    """A plain SYN from port_uc to port_ps: the core's answer leaves from port_ps, so the rules
    protect it with spi_uc; with the listener bound to the TUN device it is a reset, never a
    SYN-ACK. "reset", "synack" or "silent"."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    raw.sendto(bytes(tcp_segment(args, "S", 9000, 0)[TCP]), (args.core, 0))
    raw.close()
    seg = tcp_answer(inbox, inp)
    if seg is None:
        return "silent"
    return "reset" if "R" in seg[TCP].flags else "synack" if seg[TCP].flags == "SA" else str(seg[TCP].flags)


def plain(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.ue, args.port_uc))
    s.connect((args.core, args.port_ps))
    s.settimeout(WAIT)
    s.send(b"plain-unprotected")
    try:
        s.recv(2000)
        return "answered"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "silent"
    finally:
        s.close()


def main():
    p = argparse.ArgumentParser()
    for a in ("ue", "core", "auth_key", "enc_key"):
        p.add_argument("--" + a.replace("_", "-"), required=True)
    for a in ("port_uc", "port_us", "port_pc", "port_ps", "spi_ps", "spi_uc", "spi_pc", "spi_us"):
        p.add_argument("--" + a.replace("_", "-"), type=int, required=True)
    args = p.parse_args()
    out, inp = sa(args, args.spi_ps), sa(args, args.spi_uc)
    sock = esp_socket(args)
    inbox = Inbox(sock, args.core)
    first = protect(args, out, 1, b"hello-protected")
    sock.sendto(first, (args.core, 0))
    print("echo", opened(inbox, inp, b"hello-protected"), flush=True)
    big = bytes((i % 26) + 65 for i in range(4000))
    sock.sendto(protect(args, out, 2, big), (args.core, 0))
    print("large", opened(inbox, inp, big), flush=True)
    print("plain", plain(args), flush=True)
    for seq in (3, 4):  # two: the refusal is counted twice but logged once
        bad = bytearray(protect(args, out, seq, b"bad-icv"))
        bad[-1] ^= 1
        sock.sendto(bytes(bad), (args.core, 0))
    print("sent badicv", flush=True)
    sock.sendto(first, (args.core, 0))
    print("sent replay", flush=True)
    sock.sendto(protect(args, out, 5, b"again-protected"), (args.core, 0))
    print("again", opened(inbox, inp, b"again-protected"), flush=True)
    # The other pair: the core's request to our server port on spi_us, our response on spi_pc.
    sock.sendto(protect(args, out, 6, b"request-us"), (args.core, 0))
    print("request", opened(inbox, sa(args, args.spi_us), b"request-from-pc"), flush=True)
    print("trigger", opened(inbox, inp, b"request-us"), flush=True)
    resp = IP(src=args.ue, dst=args.core) / UDP(sport=args.port_us, dport=args.port_pc) / Raw(b"response-from-us")
    sock.sendto(bytes(sa(args, args.spi_pc).encrypt(IP(bytes(resp)), seq_num=1)[ESP]), (args.core, 0))
    print("sent response", flush=True)
    esp_seq = iter(range(7, 100))
    print("tcp", tcp_echo(args, sock, out, inbox, inp, esp_seq), flush=True)
    print("plaintcp", plain_syn(args, inbox, inp), flush=True)

if __name__ == "__main__":
    main()
