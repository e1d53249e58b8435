#!/usr/bin/env python3
"""Test peer for the namespace suites; reaches only addresses given to it.

  peer.py serve PORT        answer every TCP connection with the source address
                            it arrived from, then close; exits after 15 minutes
  peer.py ask ADDR PORT [SRC]
                            connect to ADDR (from SRC if given), print the answer
"""
import socket
import sys


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


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        sys.exit(serve(int(sys.argv[2])))
    if len(sys.argv) in (4, 5) and sys.argv[1] == "ask":
        sys.exit(ask(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) == 5 else None))
    sys.exit(__doc__)
