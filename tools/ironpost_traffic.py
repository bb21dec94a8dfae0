#!/usr/bin/env python3
"""Ironpost's test traffic (seed 001): raw Ethernet frames of every protocol
class the ironpost_xdp program counts, some from blocked sources.

  ironpost_traffic.py burst IFACE [SRC...]   send the known set once; print
                                             what was sent as JSON: per
                                             protocol packets, bytes, and
                                             frames from the SRC addresses
  ironpost_traffic.py loop IFACE [SRC...]    a steady mix (about 200 frames/s)
                                             until killed, for the demo

Frames go out of IFACE through an AF_PACKET socket, addressed to a MAC that
no interface has: the peer's XDP program sees each of them, and the peer's
stack drops them unread (no replies, no ARP), so the only frames on the wire
are the ones sent here. Run it inside the sending namespace.
"""
import json
import random
import socket
import struct
import sys
import time

DST_MAC = bytes.fromhex("020000000099")  # nobody's: the receiving stack ignores it
SRC_MAC = bytes.fromhex("020000000001")
CLEAN_SRC = "10.77.0.2"


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(ethertype, payload):
    return DST_MAC + SRC_MAC + struct.pack("!H", ethertype) + payload


def ipv4(src, proto, payload, dst="10.77.0.1"):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return eth(0x0800, hdr + payload)


def ipv6(nexthdr, payload):
    src = socket.inet_pton(socket.AF_INET6, "fd00:77::2")
    dst = socket.inet_pton(socket.AF_INET6, "fd00:77::1")
    return eth(0x86DD, struct.pack("!IHBB", 6 << 28, len(payload), nexthdr, 64) + src + dst + payload)


def tcp(n):
    return struct.pack("!HHIIBBHHH", 40000 + n % 1000, 443, n, 0, 5 << 4, 0x02, 65535, 0, 0) + b"t" * (n % 17)


def udp(n):
    body = b"u" * (n % 23)
    return struct.pack("!HHHH", 50000 + n % 1000, 514, 8 + len(body), 0) + body


def icmp(n):
    return struct.pack("!BBHHH", 8, 0, 0, 7, n & 0xFFFF) + b"i" * (n % 13)


def arp(n):
    return eth(0x0806, struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, SRC_MAC,
                                   socket.inet_aton(CLEAN_SRC), b"\0" * 6,
                                   socket.inet_aton("10.77.0.%d" % (100 + n % 50))))


def frame(kind, n, src=CLEAN_SRC):
    """One frame of a kind, varied in length by n; returns (protocol, bytes)."""
    if kind == "tcp":
        return "tcp", ipv4(src, 6, tcp(n))
    if kind == "udp":
        return "udp", ipv4(src, 17, udp(n))
    if kind == "icmp":
        return "icmp", ipv4(src, 1, icmp(n))
    if kind == "gre":
        return "other", ipv4(src, 47, b"\0\0\x08\0" + b"g" * (n % 9))
    if kind == "arp":
        return "other", arp(n)
    if kind == "udp6":
        return "udp", ipv6(17, udp(n))
    if kind == "icmp6":
        return "icmp", ipv6(58, struct.pack("!BBHI", 128, 0, 0, n) + b"6" * (n % 5))
    raise ValueError(kind)


# The known set: (kind, count) from a clean source, then from each SRC.
BURST = [("tcp", 120), ("udp", 90), ("icmp", 60), ("gre", 7), ("arp", 11), ("udp6", 13), ("icmp6", 17)]
BURST_FROM_SRC = [("tcp", 5), ("udp", 9), ("icmp", 3)]


def burst(sock, sources):
    sent = {p: {"packets": 0, "bytes": 0} for p in ("tcp", "udp", "icmp", "other")}
    from_src = {s: 0 for s in sources}
    n = 0

    def send(kind, src=CLEAN_SRC):
        nonlocal n
        proto, f = frame(kind, n, src)
        sock.send(f)
        sent[proto]["packets"] += 1
        sent[proto]["bytes"] += len(f)
        n += 1
        time.sleep(0.0002)  # no frame lost at the veth's backlog

    for kind, count in BURST:
        for _ in range(count):
            send(kind)
    for s in sources:
        for kind, count in BURST_FROM_SRC:
            for _ in range(count):
                send(kind, s)
                from_src[s] += 1
    print(json.dumps({"sent": sent, "from_src": from_src}))


def loop(sock, sources):
    kinds = ["tcp"] * 6 + ["udp"] * 4 + ["icmp"] * 2 + ["gre", "arp", "udp6", "icmp6"]
    rnd = random.Random(1)
    n = 0
    while True:
        src = rnd.choice(sources) if sources and rnd.random() < 0.05 else CLEAN_SRC
        sock.send(frame(rnd.choice(kinds), n, src)[1])
        n += 1
        time.sleep(0.005)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("burst", "loop"):
        sys.exit(__doc__)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((sys.argv[2], 0))
    (burst if sys.argv[1] == "burst" else loop)(sock, sys.argv[3:])


if __name__ == "__main__":
    main()
