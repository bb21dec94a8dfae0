#!/usr/bin/env python3
"""Test traffic with exact counts (tests and benchmarks of bpfex).

  udp_send.py send HOST PORT COUNT [SIZE]   send COUNT datagrams of SIZE payload bytes
  udp_send.py sink PORT SECONDS             receive on PORT for SECONDS, print the count

Run each side inside its own network namespace (ip netns exec ...). The sink
keeps the kernel from answering with ICMP port-unreachable, so the only frames
on the wire are the datagrams themselves.
"""
import socket
import sys
import time


def send(host, port, count, size=64):
    payload = b"b" * size
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(count):
            s.sendto(payload, (host, port))
            # Pace slightly so no frame is dropped at the veth's backlog.
            time.sleep(0.0002)
    print(count)


def sink(port, seconds):
    got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", port))
        s.settimeout(0.2)
        end = time.time() + seconds
        while time.time() < end:
            try:
                s.recv(65535)
                got += 1
            except socket.timeout:
                pass
    print(got)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 64)
    elif len(sys.argv) == 4 and sys.argv[1] == "sink":
        sink(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(__doc__)
