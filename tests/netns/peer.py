#!/usr/bin/env python3
"""Test peer for the namespace suites; reaches only addresses given to it.

  peer.py serve PORT        answer every TCP connection with the source address
                            it arrived from, then close; exits after 15 minutes
  peer.py ask ADDR PORT [SRC]
                            connect to ADDR (from SRC if given), print the answer
  peer.py udp-count PORT OUTFILE
                            count UDP datagrams by source address; on SIGTERM
                            write {"source": count, ...} to OUTFILE and exit
  peer.py udp-flood PORT STOPFILE ADDR...
                            send one datagram per new socket (a new flow each)
                            to each ADDR in turn, about 2000 flows a second,
                            until STOPFILE exists (at most 10 minutes)
  peer.py echo-port PORT... answer every TCP connection and every UDP datagram
                            on each PORT with "ADDRESS PORT", the source it
                            arrived from; exits after 15 minutes
  peer.py ports tcp|udp ADDR PORT COUNT
                            COUNT new connections (or one-datagram flows), each
                            from a new socket, to an echo-port peer; print the
                            "ADDRESS PORT" each was seen from, one a line
  peer.py echo-stream PORT  as echo-port, but a TCP connection stays open and
                            every line it receives is answered: one long-lived
                            stream, seen again and again; exits after 15 minutes
  peer.py stream tcp|udp ADDR PORT SPORT OUTFILE
                            one long-lived stream from source port SPORT: a
                            message every 50 ms to an echo-stream peer; after
                            each answer OUTFILE holds "N ADDRESS PORT" (N counts
                            the answers); a TCP stream that breaks writes
                            "N broken(...)" and exits; exits on SIGTERM or after
                            15 minutes
  peer.py ping ADDR         one ICMP echo request (IPv4, raw socket); prints
                            "reply" or "unreachable(...)"
"""
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time


def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(64)
    s.settimeout(900)  # never outlive a test run
    while True:
        try:
            c, addr = s.accept()
        except socket.timeout:
            return 0
        host = addr[0]
        if host.startswith("::ffff:"):
            host = host[len("::ffff:"):]
        try:
            c.sendall((host + "\n").encode())
        finally:
            c.close()


def ask(addr, port, src=None):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        if src:
            s.bind((src, 0))
        s.connect((addr, port))
        print(s.recv(256).decode().strip())
        return 0
    except OSError as e:
        print("unreachable(%s)" % e.__class__.__name__)
        return 1
    finally:
        s.close()


def udp_count(port, outfile):
    counts = {}
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.settimeout(1)

    def done(*_):
        with open(outfile + ".tmp", "w") as f:
            json.dump(counts, f)
        os.rename(outfile + ".tmp", outfile)
        sys.exit(0)

    signal.signal(signal.SIGTERM, done)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        try:
            _, addr = s.recvfrom(64)
        except socket.timeout:
            continue
        host = addr[0][7:] if addr[0].startswith("::ffff:") else addr[0]
        counts[host] = counts.get(host, 0) + 1
    done()


def udp_flood(port, stopfile, addrs):
    sent = {a: 0 for a in addrs}
    deadline = time.monotonic() + 600
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        for a in addrs:
            s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.sendto(b"x", (a, port))
                sent[a] += 1
            except OSError:
                pass
            s.close()
        time.sleep(0.001)
    print(json.dumps(sent))
    return 0


def unmapped(host):
    return host[7:] if host.startswith("::ffff:") else host


def listen_both(sel, port):
    """A TCP listener and a UDP socket on port, both families, in sel."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET6, kind)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        sel.register(s, selectors.EVENT_READ, "listen")


def echo_port(ports):
    sel = selectors.DefaultSelector()
    for port in ports:
        listen_both(sel, port)
    deadline = time.monotonic() + 900  # never outlive a test run
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            if s.type == socket.SOCK_DGRAM:
                _, addr = s.recvfrom(64)
                s.sendto(("%s %d\n" % (unmapped(addr[0]), addr[1])).encode(), addr)
                continue
            c, addr = s.accept()
            try:
                c.sendall(("%s %d\n" % (unmapped(addr[0]), addr[1])).encode())
            finally:
                c.close()
    return 0


def echo_stream(port):
    sel = selectors.DefaultSelector()
    listen_both(sel, port)
    deadline = time.monotonic() + 900  # never outlive a test run
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            if key.data == "conn":
                try:
                    data = s.recv(256)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
                    continue
                addr = s.getpeername()
                s.sendall(("%s %d\n" % (unmapped(addr[0]), addr[1])).encode())
            elif s.type == socket.SOCK_DGRAM:
                _, addr = s.recvfrom(64)
                s.sendto(("%s %d\n" % (unmapped(addr[0]), addr[1])).encode(), addr)
            else:
                c, _ = s.accept()
                sel.register(c, selectors.EVENT_READ, "conn")
    return 0


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.rename(path + ".tmp", path)


def stream(proto, addr, port, sport, outfile):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", sport))
    s.settimeout(1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    n = 0
    try:
        if proto == "tcp":
            s.connect((addr, port))
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if proto == "tcp":
                s.sendall(b"x\n")
                data = s.recv(256)
                if not data:
                    raise ConnectionResetError("closed")
            else:
                s.sendto(b"x", (addr, port))
                try:
                    data = s.recv(256)
                except socket.timeout:
                    continue  # a datagram lost: the next one is the stream still
            n += 1
            write_atomic(outfile, "%d %s" % (n, data.decode().strip()))
            time.sleep(0.05)
    except OSError as e:
        write_atomic(outfile, "%d broken(%s)" % (n, e.__class__.__name__))
        return 1
    return 0


def ports(proto, addr, port, count):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    failed = 0
    for _ in range(count):
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        s = socket.socket(family, kind)
        s.settimeout(3)
        try:
            if proto == "tcp":
                s.connect((addr, port))
                print(s.recv(256).decode().strip())
            else:
                s.sendto(b"x", (addr, port))
                print(s.recv(256).decode().strip())
        except OSError as e:
            print("unreachable(%s)" % e.__class__.__name__)
            failed = 1
        finally:
            s.close()
    return failed


def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def ping(addr):
    ident = os.getpid() & 0xFFFF
    body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"masqd-ping"
    packet = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(3)
    try:
        s.sendto(packet, (addr, 0))
        while True:
            data, _ = s.recvfrom(1500)
            icmp = data[(data[0] & 0x0F) * 4:]
            if icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
                print("reply")
                return 0
    except OSError as e:
        print("unreachable(%s)" % e.__class__.__name__)
        return 1
    finally:
        s.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "ping":
        sys.exit(ping(sys.argv[2]))
    if len(sys.argv) == 3 and sys.argv[1] == "echo-stream":
        sys.exit(echo_stream(int(sys.argv[2])))
    if len(sys.argv) == 7 and sys.argv[1] == "stream" and sys.argv[2] in ("tcp", "udp"):
        sys.exit(stream(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                        sys.argv[6]))
    if len(sys.argv) >= 3 and sys.argv[1] == "echo-port":
        sys.exit(echo_port([int(p) for p in sys.argv[2:]]))
    if len(sys.argv) == 6 and sys.argv[1] == "ports" and sys.argv[2] in ("tcp", "udp"):
        sys.exit(ports(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    if len(sys.argv) == 4 and sys.argv[1] == "udp-count":
        sys.exit(udp_count(int(sys.argv[2]), sys.argv[3]))
    if len(sys.argv) >= 5 and sys.argv[1] == "udp-flood":
        sys.exit(udp_flood(int(sys.argv[2]), sys.argv[3], sys.argv[4:]))
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        sys.exit(serve(int(sys.argv[2])))
    if len(sys.argv) in (4, 5) and sys.argv[1] == "ask":
        sys.exit(ask(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) == 5 else None))
    sys.exit(__doc__)
