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
"""
import os
import resource
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
    else:
        sys.exit(__doc__)
