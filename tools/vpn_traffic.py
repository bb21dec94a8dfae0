#!/usr/bin/env python3
"""Traffic for the VPN router package (bpf/vpn_router.bpf.c): tunnel messages
in the demo tunnel's wire format, plain datagrams, and the demo's endless mix.

  vpn_traffic.py handshake SRC DST TUNNEL EPOCH
  vpn_traffic.py data SRC DST TUNNEL EPOCH FIRST COUNT [PAYLOAD]   counters FIRST..FIRST+COUNT-1
  vpn_traffic.py close SRC DST TUNNEL
  vpn_traffic.py raw SRC DST TYPE TUNNEL                          any message type
  vpn_traffic.py udp SRC DST PORT COUNT [SIZE]                    plain datagrams
  vpn_traffic.py sink PORT SECONDS                                drain a port (no ICMP answers)
  vpn_traffic.py demo-clients ROUTER                              the demo's client side, forever
  vpn_traffic.py demo-router CLIENT                               the demo's router side, forever

The tunnel header after UDP (port 51820): u8 type (1 handshake, 4 data,
5 close), u8 key epoch, u16 reserved, u32 tunnel id, u64 counter, all in
network byte order; data payloads are a multiple of 16 bytes. Run each side
inside its namespace (ip netns exec ...).
"""
import random
import socket
import struct
import sys
import time

from udp_send import sink  # drains a port so the kernel sends no ICMP answers

PORT = 51820


def message(kind, tunnel, epoch=0, counter=0, payload=b""):
    return struct.pack("!BBHIQ", kind, epoch, 0, tunnel, counter) + payload


class Sender:
    def __init__(self, src):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((src, 0))

    def send(self, dst, data, port=PORT):
        self.s.sendto(data, (dst, port))
        time.sleep(0.0005)  # no drops at the veth's backlog


def handshake(src, dst, tunnel, epoch):
    Sender(src).send(dst, message(1, tunnel, epoch))


def data(src, dst, tunnel, epoch, first, count, payload=64):
    s = Sender(src)
    for c in range(first, first + count):
        s.send(dst, message(4, tunnel, epoch, c, b"\0" * payload))


def close(src, dst, tunnel):
    Sender(src).send(dst, message(5, tunnel))


def raw(src, dst, kind, tunnel):
    Sender(src).send(dst, message(kind, tunnel))


def udp(src, dst, port, count, size=64):
    s = Sender(src)
    for _ in range(count):
        s.send(dst, b"u" * size, port)


# The demo: five clients with roles (see deploy/demo/bpfex.yaml), five
# tunnels, and traffic that the policy allows and denies.
CLIENTS = {"10.201.0.2": 1001, "10.201.0.3": 1002, "10.201.0.4": 1003, "10.201.0.5": 1004}
ZONES = ["10.201.0.1", "10.201.1.1", "10.201.2.1"]


def demo_clients(router):
    senders = {ip: Sender(ip) for ip in list(CLIENTS) + ["10.201.0.6"]}
    state = {t: [1, 1] for t in list(CLIENTS.values()) + [1005]}  # epoch, next counter
    for ip, t in CLIENTS.items():
        senders[ip].send(router, message(1, t, 1))
    senders["10.201.0.2"].send(router, message(1, 1005, 1))
    rnd = random.Random(7)
    n = 0
    while True:
        n += 1
        for ip, t in list(CLIENTS.items()) + [("10.201.0.2", 1005)]:
            epoch, c = state[t]
            for _ in range(rnd.randint(5, 20)):
                senders[ip].send(router, message(4, t, epoch, c, b"\0" * 64))
                c += 1
            state[t][1] = c
        t = rnd.choice(list(CLIENTS.values()))
        ip = [i for i, x in CLIENTS.items() if x == t][0]
        epoch, c = state[t]
        kind = n % 4
        if kind == 0:
            senders[ip].send(router, message(4, t, epoch, c - 3, b"\0" * 64))  # replay
        elif kind == 1:
            senders[ip].send(router, message(4, t, epoch + 1, c, b"\0" * 64))  # stale key
        elif kind == 2:
            senders[ip].send(router, message(4, t, epoch, c, b"\0" * 20))      # not decryptable
        if n % 30 == 0:  # key rotation
            state[t] = [epoch + 1, 1]
            senders[ip].send(router, message(1, t, epoch + 1))
        if n % 45 == 0:  # tunnel 1005 closes and comes back
            senders["10.201.0.2"].send(router, message(5, 1005))
            senders["10.201.0.2"].send(router, message(1, 1005, 1))
            state[1005] = [1, 1]
        # Plain traffic to every zone from every client: the policy denies
        # developer -> prod, guest -> corp/prod, contractor -> corp/prod and
        # the unassigned 10.201.0.6 everywhere.
        for ip, s in senders.items():
            for z in ZONES:
                s.send(z, b"x" * rnd.randint(32, 512), 9000)
        time.sleep(0.2)


def demo_router(client):
    s = Sender("10.201.0.1")
    counters = {t: 1 for t in CLIENTS.values()}
    while True:
        for t in CLIENTS.values():
            for _ in range(random.randint(5, 15)):
                s.send(client, message(4, t, 1, counters[t], b"\0" * 64))
                counters[t] += 1
        time.sleep(0.2)


if __name__ == "__main__":
    a = sys.argv[1:]
    try:
        if a[0] == "handshake":
            handshake(a[1], a[2], int(a[3]), int(a[4]))
        elif a[0] == "data":
            data(a[1], a[2], int(a[3]), int(a[4]), int(a[5]), int(a[6]), int(a[7]) if len(a) > 7 else 64)
        elif a[0] == "close":
            close(a[1], a[2], int(a[3]))
        elif a[0] == "raw":
            raw(a[1], a[2], int(a[3]), int(a[4]))
        elif a[0] == "udp":
            udp(a[1], a[2], int(a[3]), int(a[4]), int(a[5]) if len(a) > 5 else 64)
        elif a[0] == "sink":
            sink(int(a[1]), float(a[2]))
        elif a[0] == "demo-clients":
            demo_clients(a[1])
        elif a[0] == "demo-router":
            demo_router(a[1])
        else:
            raise IndexError
    except (IndexError, ValueError):
        sys.exit(__doc__)
