#!/usr/bin/env python3
"""HTTP client for the namespace suites; talks only to the address given.

  http_client.py get URL              print "STATUS BODY..." (first line of body)
  http_client.py raw HOST PORT WHAT   send a malformed request and print the
                                      status line's code, or "closed":
                                      WHAT = oversized | garbage | body
  http_client.py slow HOST PORT       send a request one byte a second; print
                                      "cut after N s" when the server closes the
                                      connection first, "answered" otherwise
                                      (gives up after 30 s)
  http_client.py idle SRC HOST PORT[,PORT...] N STOPFILE
                                      open N idle connections from SRC, print
                                      "open K" once they are, hold them until
                                      STOPFILE exists (at most 120 s)
  http_client.py probes HOST PORT PATH COUNT EVERY [TIMEOUT]
                                      COUNT probes, one every EVERY s, each
                                      a fresh connection that must get 200
                                      within TIMEOUT s (1, as kubelet's); print
                                      "N ok, M failed", a line per failure and,
                                      when TIMEOUT is given, the slowest answer
  http_client.py slowloris SRC[,SRC...] HOST PORT PER_SRC STOPFILE
                                      hold up to PER_SRC connections from each
                                      SRC, each sending a partial request and
                                      then a byte a second, reconnecting 0.1 s
                                      after a cut; stop once STOPFILE exists
                                      (at most 60 s) and print "connects N cut M"
  http_client.py bind HOST PORT       bind and listen with SO_REUSEPORT (what
                                      a second server sharing the port does);
                                      print "bound" or the error's name
"""
import errno
import os
import resource
import selectors
import socket
import sys
import time
import urllib.error
import urllib.request


def get(url):
    try:
        r = urllib.request.urlopen(url, timeout=5)
        print(r.status, r.read().decode(errors="replace"), end="")
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode(errors="replace"), end="")
    except OSError as e:
        print("error", e.__class__.__name__)


def status_of(s):
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    parts = data.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 and data.startswith(b"HTTP/") else "closed"


def raw(host, port, what):
    s = socket.create_connection((host, port), timeout=10)
    try:
        if what == "oversized":
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        elif what == "garbage":
            s.sendall(b"HELLO \x00\x01 WORLD\r\n\r\n")
        elif what == "body":
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    except OSError:
        pass  # the server may close while we still send
    print(status_of(s))
    s.close()


def slow(host, port):
    req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"z" * 40 + b"\r\n\r\n"
    s = socket.create_connection((host, port), timeout=10)
    t0 = time.monotonic()
    for b in req:
        if time.monotonic() - t0 > 30:
            break
        try:
            s.send(bytes([b]))
            s.settimeout(1.0)
            if s.recv(1, socket.MSG_PEEK) == b"":
                print("cut after %d s" % round(time.monotonic() - t0))
                return
        except socket.timeout:
            continue
        except OSError:
            print("cut after %d s" % round(time.monotonic() - t0))
            return
        print("answered")
        return
    print("answered")


def idle(src, host, ports, n, stopfile):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 256)), hard))
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        s.connect_ex((host, ports[i % len(ports)]))
        socks.append(s)
    print("open %d" % len(socks), flush=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in socks:
        s.close()


def probe(host, port, path, timeout=1.0):
    """One probe on a fresh connection: "" when it got 200 in time, else why not."""
    t_end = time.monotonic() + timeout
    try:
        s = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        return "connect: " + e.__class__.__name__
    data = b""
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                  % (path.encode(), host.encode()))
        while b"\r\n" not in data:
            left = t_end - time.monotonic()
            if left <= 0:
                return "no answer within %g s" % timeout
            s.settimeout(left)
            chunk = s.recv(4096)
            if not chunk:
                return "closed"
            data += chunk
    except socket.timeout:
        return "no answer within %g s" % timeout
    except OSError as e:
        return e.__class__.__name__
    finally:
        s.close()
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return "" if status.split(" ")[1:2] == ["200"] else status


def probes(host, port, path, count, every, timeout=None):
    failed, slowest = [], 0.0
    for i in range(count):
        t0 = time.monotonic()
        why = probe(host, port, path, timeout or 1.0)
        if why:
            failed.append("probe %d: %s" % (i + 1, why))
        else:
            slowest = max(slowest, time.monotonic() - t0)
        time.sleep(max(0.0, every - (time.monotonic() - t0)))
    print("%d ok, %d failed" % (count - len(failed), len(failed)))
    for f in failed:
        print(f)
    if timeout:  # asked for a timeout: say how close the answers came to it
        print("slowest answer: %.0f ms" % (slowest * 1000))


class Slow:
    """One slow client: a partial request, then a byte a second."""
    HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "

    def __init__(self, sel, src, host, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.bind((src, 0))
        self.connected = False
        self.next_byte = 0.0
        self.dead = False
        self.sock.connect_ex((host, port))
        sel.register(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, self)

    def on_event(self, sel, mask, now):
        """False once the server has cut it."""
        if mask & selectors.EVENT_READ:
            try:
                if not self.sock.recv(4096):
                    return False
            except OSError:
                return False
        if mask & selectors.EVENT_WRITE and not self.connected:
            if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return False
            self.connected = True
            sel.modify(self.sock, selectors.EVENT_READ, self)
            return self.send(self.HEAD, now)
        return True

    def send(self, data, now):
        try:
            self.sock.send(data)
        except OSError:
            return False
        self.next_byte = now + 1.0
        return True

    def tick(self, now):
        return not self.connected or now < self.next_byte or self.send(b"z", now)


def slowloris(srcs, host, port, per_src, stopfile):
    # A cut slot is refilled 0.1 s later: each closed connection stays in the
    # node's conntrack table for 2 minutes (TIME_WAIT), and an attacker who
    # reconnects at full speed fills it, after which the kernel drops every
    # new connection, the probes' too, whatever masqd does.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = len(srcs) * per_src + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, want)), hard))
    sel = selectors.DefaultSelector()
    slots = [[src, 0.0] for src in srcs for _ in range(per_src)]  # a Slow, or when to reconnect
    connects = cut = 0
    t_end = time.monotonic() + 60
    while not os.path.exists(stopfile) and time.monotonic() < t_end and connects < 200000:
        now = time.monotonic()
        for slot in slots:
            if isinstance(slot[1], float) and now >= slot[1]:
                slot[1] = Slow(sel, slot[0], host, port)
                connects += 1
        for key, mask in sel.select(timeout=0.05):
            if not key.data.on_event(sel, mask, now):
                key.data.dead = True
        now = time.monotonic()
        for slot in slots:
            c = slot[1]
            if isinstance(c, Slow) and (c.dead or not c.tick(now)):
                sel.unregister(c.sock)
                c.sock.close()
                cut += 1
                slot[1] = now + 0.1
    for _, c in slots:
        if isinstance(c, Slow):
            c.sock.close()
    print("connects %d cut %d" % (connects, cut))


def bind(host, port):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        s.bind((host, port))
        s.listen()
        print("bound")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e)))
    s.close()


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "get":
        get(a[1])
    elif len(a) == 4 and a[0] == "raw":
        raw(a[1], int(a[2]), a[3])
    elif len(a) == 3 and a[0] == "slow":
        slow(a[1], int(a[2]))
    elif len(a) == 6 and a[0] == "idle":
        idle(a[1], a[2], [int(p) for p in a[3].split(",")], int(a[4]), a[5])
    elif len(a) in (6, 7) and a[0] == "probes":
        probes(a[1], int(a[2]), a[3], int(a[4]), float(a[5]), float(a[6]) if len(a) == 7 else None)
    elif len(a) == 6 and a[0] == "slowloris":
        slowloris(a[1].split(","), a[2], int(a[3]), int(a[4]), a[5])
    elif len(a) == 3 and a[0] == "bind":
        bind(a[1], int(a[2]))
    else:
        sys.exit(__doc__)
