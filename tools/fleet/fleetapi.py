#!/usr/bin/env python3
"""An event-driven fake Kubernetes API server for the fleet simulator.

One asyncio loop holds every connection: a watch costs a registered writer,
not a thread, so one process serves 1,000 agents' watches. The wire
behaviour is tests/fakeapi/fakeapi.py's, for the subset masqd uses (the
store, its resourceVersions, events and list pages are one copy for both:
tests/fakeapi/apistore.py):

  GET /apis/networking.gke.io/v1/egressnatpolicies[?...]
  GET /api/v1/namespaces/NS/configmaps?fieldSelector=metadata.name%3DNAME[&...]

- Lists carry metadata.resourceVersion; limit=N pages them in key order with
  metadata.continue tokens over the same snapshot (410 Expired after a
  compaction). A list's resourceVersion (0, a number, or none) is served
  from the newest state ("not older than") and recorded per request.
- watch=1 from resourceVersion RV streams every change after RV as
  newline-delimited JSON in a chunked 200, BOOKMARK events with
  allowWatchBookmarks=true, and ends at timeoutSeconds. A compacted RV gets
  HTTP 410. sendInitialEvents=true (the streaming watch list, request phase
  "watchlist") first sends the current objects as ADDED, then a BOOKMARK
  annotated k8s.io/initial-events-end; --watch-list off answers it 422 and
  ignore serves a plain watch, as fakeapi.py's watch_list modes.
- Every request needs "Authorization: Bearer TOKEN" (--token-file, re-read
  when its mtime changes), else 401.

The control channel is a unix socket (--ctl PATH), one JSON request per line,
one JSON answer per line, so that the driver reaches it from any namespace:
  {"op": "put", "resource": R, "object": {...}}     create or edit
  {"op": "delete", "resource": R, "name": N [, "namespace": NS]}
  {"op": "down", "seconds": S}   close the listener and every connection; back
                                 after S seconds with the same state
  {"op": "compact" [, "storm": true]}  every RV so far is too old; with storm,
                                 every open watch gets an ERROR 410 event and ends
  {"op": "bookmarks", "seconds": S}    BOOKMARK every S seconds (0: none)
  {"op": "kick"}                 end every open watch cleanly
  {"op": "requests", "since": T} the request log after time T: [t, peer,
                                 resource, phase (list, continue, watch or
                                 watchlist), code, resourceVersion-or-null]
  {"op": "clients"}              per source address (an agent): its first and
                                 last request's time, and counts by "resource
                                 phase code"
  {"op": "watching"}             per resource, the peers with an open watch and
                                 the time it opened
  {"op": "stats"}                CPU seconds (getrusage), max RSS, connections,
                                 watches, up or down
"""
import argparse
import asyncio
import json
import os
import resource as rlimit
import signal
import socket
import ssl
import sys
import time
import urllib.parse
from asyncio import sslproto

# the store, selections and list pages are fakeapi.py's own
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "fakeapi"))
from apistore import CONFIGMAPS, POLICIES, Store, selects, status  # noqa: E402

MAX_HEADERS = 64
MAX_LINE = 16384
WRITE_BUFFER_MAX = 4 << 20  # a watcher this far behind is cut off, as the API server does
# asyncio gives every TLS connection a 256 KiB read buffer, 500 MiB for
# 1,000 agents' 2,000 connections; requests are a few hundred bytes, and a
# TLS record is at most 16 KiB
sslproto.SSLProtocol.max_size = 16384


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def event_bytes(typ, obj):
    return chunk((json.dumps({"type": typ, "object": obj}) + "\n").encode())


class Watch:
    def __init__(self, conn, resource, ns, name, bookmarks):
        self.conn, self.resource, self.ns, self.name = conn, resource, ns, name
        self.bookmarks = bookmarks
        self.done = asyncio.get_running_loop().create_future()
        self.opened = time.time()

    def matches(self, resource, obj):
        return resource == self.resource and selects(resource, self.ns, self.name, obj)

    def send(self, data):
        t = self.conn.writer.transport
        if t.is_closing():
            return
        if t.get_write_buffer_size() > WRITE_BUFFER_MAX:
            t.abort()
            self.finish()
            return
        self.conn.writer.write(data)

    def finish(self):
        if not self.done.done():
            self.done.set_result(None)


class Conn:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        peer = writer.get_extra_info("peername")
        self.peer = peer[0] if peer else "?"


class Api(Store):
    def __init__(self, a):
        super().__init__((POLICIES, CONFIGMAPS))
        self.a = a
        self.bookmark_s = a.bookmarks
        self.requests = []  # (t, peer, resource, phase, code, rv)
        self.conns = set()
        self.watches = set()
        self.server = None
        self.up = False
        self.up_since = 0.0
        self.down_since = 0.0
        self.token = None
        self.token_mtime = None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        self.ssl = ctx

    # --- state

    def tell(self, typ, resource, obj):
        """Into every matching watch's buffer: when, per source address."""
        data = event_bytes(typ, obj)
        sent = {}
        for w in list(self.watches):
            if w.matches(resource, obj):
                w.send(data)
                sent[w.conn.peer] = time.time()
        return sent

    def token_ok(self, header):
        try:
            st = os.stat(self.a.token_file)
            if st.st_mtime_ns != self.token_mtime:
                with open(self.a.token_file) as f:
                    self.token = f.read().strip()
                self.token_mtime = st.st_mtime_ns
        except OSError:
            return False
        return header == "Bearer " + self.token

    # --- listener

    async def start(self):
        self.server = await asyncio.start_server(
            self.serve_conn, self.a.host, self.a.port, ssl=self.ssl, backlog=4096,
            reuse_address=True, ssl_handshake_timeout=30, limit=MAX_LINE)
        self.up, self.up_since = True, time.time()

    async def go_down(self, seconds):
        self.up, self.down_since = False, time.time()
        self.server.close()
        for w in list(self.watches):
            w.finish()
        for c in list(self.conns):
            c.writer.transport.abort()
        await self.server.wait_closed()
        await asyncio.sleep(seconds)
        await self.start()

    # --- HTTP

    async def serve_conn(self, reader, writer):
        c = Conn(reader, writer)
        self.conns.add(c)
        try:
            while self.up and await self.one_request(c):
                pass
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError, OSError):
            pass
        finally:
            self.conns.discard(c)
            writer.transport.abort() if not self.up else writer.close()

    async def one_request(self, c):
        line = await c.reader.readline()
        if not line:
            return False
        try:
            method, target, _ = line.decode("latin-1").split(" ", 2)
        except ValueError:
            return False
        headers = {}
        for _ in range(MAX_HEADERS + 1):
            h = await c.reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        else:
            return False
        if method != "GET":
            self.respond(c, 405, status(405, "MethodNotAllowed", "only GET"))
            return False
        return await self.get(c, target, headers)

    def respond(self, c, code, obj):
        body = (json.dumps(obj) + "\n").encode()
        c.writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (
                           code, {200: b"OK", 401: b"Unauthorized", 404: b"Not Found",
                                  405: b"Method Not Allowed", 400: b"Bad Request",
                                  410: b"Gone", 422: b"Unprocessable Entity"}.get(code, b"Error"), len(body), body))

    def route(self, target):
        u = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(u.query))
        parts = u.path.strip("/").split("/")
        if parts == ["apis", "networking.gke.io", "v1", POLICIES]:
            return POLICIES, None, None, q
        if len(parts) == 5 and parts[:3] == ["api", "v1", "namespaces"] \
                and parts[4] == CONFIGMAPS:
            sel = q.get("fieldSelector", "")
            name = sel[len("metadata.name="):] if sel.startswith("metadata.name=") else None
            return CONFIGMAPS, parts[3], name, q
        return None, None, None, q

    async def get(self, c, target, headers):
        resource, ns, name, q = self.route(target)
        watch = q.get("watch") in ("1", "true")
        phase = "watch" if watch else "continue" if q.get("continue") else "list"
        if watch and q.get("sendInitialEvents") == "true":
            phase = "watchlist"
        ok = self.token_ok(headers.get("authorization", ""))
        entry = [time.time(), c.peer, resource, phase, 0, q.get("resourceVersion")]
        self.requests.append(entry)
        if not ok:
            entry[4] = 401
            self.respond(c, 401, status(401, "Unauthorized", "Unauthorized"))
        elif resource is None:
            entry[4] = 404
            self.respond(c, 404, status(404, "NotFound", "the server could not find the "
                                        "requested resource"))
        elif phase == "watchlist" and self.a.watch_list == "off":
            entry[4] = 422
            self.respond(c, 422, status(422, "Invalid", "sendInitialEvents is forbidden for "
                                        "watch unless the WatchList feature gate is enabled"))
        elif phase == "watchlist" and self.a.watch_list == "on" and (
                q.get("resourceVersionMatch") != "NotOlderThan" or
                q.get("allowWatchBookmarks") != "true"):
            entry[4] = 422
            self.respond(c, 422, status(422, "Invalid", "sendInitialEvents needs "
                                        "resourceVersionMatch=NotOlderThan and "
                                        "allowWatchBookmarks=true"))
        elif watch:
            return await self.watch(c, entry, resource, ns, name, q)
        else:
            entry[4] = self.list(c, resource, ns, name, q)
        await c.writer.drain()
        return True

    def list(self, c, resource, ns, name, q):
        kind = "EgressNATPolicyList" if resource == POLICIES else "ConfigMapList"
        api = "networking.gke.io/v1" if resource == POLICIES else "v1"
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            limit = -1
        if limit < 0:
            self.respond(c, 400, status(400, "BadRequest", "bad limit"))
            return 400
        code, meta, page = self.page(resource, ns, name, limit, q.get("continue"))
        if code != 200:
            self.respond(c, code, meta)
            return code
        self.respond(c, 200, {"kind": kind, "apiVersion": api, "metadata": meta,
                              "items": page})
        return 200

    async def watch(self, c, entry, resource, ns, name, q):
        initial = q.get("sendInitialEvents") == "true" and self.a.watch_list == "on"
        try:
            since = int(q.get("resourceVersion", "0") or "0")
            timeout = float(q.get("timeoutSeconds", "1800"))
        except ValueError:
            entry[4] = 400
            self.respond(c, 400, status(400, "BadRequest", "bad resourceVersion"))
            return True
        if since and since <= self.compacted and not initial:
            entry[4] = 410
            self.respond(c, 410, status(410, "Expired", "too old resource version: %d (%d)" % (
                since, self.compacted)))
            await c.writer.drain()
            return True
        entry[4] = 200
        c.writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n")
        c.writer.transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        w = Watch(c, resource, ns, name, q.get("allowWatchBookmarks") == "true")
        if initial:
            for _, o in sorted(self.objects[resource].items()):
                if w.matches(resource, o):
                    w.send(event_bytes("ADDED", o))
            w.send(self.bookmark(resource, {"k8s.io/initial-events-end": "true"}))
        else:
            for rv, t, r, o in self.log:
                if rv > since and w.matches(r, o):
                    w.send(event_bytes(t, o))
        self.watches.add(w)
        try:
            await asyncio.wait_for(asyncio.shield(w.done), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self.watches.discard(w)
        if c.writer.transport.is_closing():
            return False
        c.writer.write(b"0\r\n\r\n")
        await c.writer.drain()
        return True

    def bookmark(self, resource, annotations=None):
        api = "networking.gke.io/v1" if resource == POLICIES else "v1"
        kind = "EgressNATPolicy" if resource == POLICIES else "ConfigMap"
        md = {"resourceVersion": str(self.rv)}
        if annotations:
            md["annotations"] = annotations
        return event_bytes("BOOKMARK", {"kind": kind, "apiVersion": api, "metadata": md})

    async def bookmarker(self):
        while True:
            await asyncio.sleep(self.bookmark_s or 1.0)
            if not self.bookmark_s:
                continue
            data = {r: self.bookmark(r) for r in (POLICIES, CONFIGMAPS)}
            for w in list(self.watches):
                if w.bookmarks:
                    w.send(data[w.resource])

    # --- control

    def control(self, req):
        op = req["op"]
        if op == "put":
            t = time.time()
            sent = self.put(req["resource"], req["object"])
            # the event is in every watcher's buffer (and mostly on its socket):
            # when, per source address
            return {"rv": self.rv, "fanout_s": time.time() - t, "sent": sent}
        elif op == "delete":
            self.delete(req["resource"], req.get("namespace", ""), req["name"])
        elif op == "down":
            if not self.up:
                return {"error": "already down"}
            asyncio.get_running_loop().create_task(self.go_down(float(req["seconds"])))
            return {"rv": self.rv, "down_at": time.time()}
        elif op == "compact":
            self.compact()
            if req.get("storm"):
                gone = event_bytes("ERROR", status(410, "Expired", "too old resource version"))
                for w in list(self.watches):
                    w.send(gone)
                    w.finish()
        elif op == "bookmarks":
            self.bookmark_s = float(req["seconds"])
        elif op == "kick":
            for w in list(self.watches):
                w.finish()
        elif op == "requests":
            since = float(req.get("since", 0))
            return {"requests": [r for r in self.requests if r[0] >= since]}
        elif op == "clients":
            out = {}
            for t, peer, res, phase, code, rv in self.requests:
                c = out.setdefault(peer, {"first": t, "last": t, "counts": {}})
                c["last"] = t
                k = "%s %s %d" % (res, phase, code)
                c["counts"][k] = c["counts"].get(k, 0) + 1
            return out
        elif op == "watching":
            out = {POLICIES: {}, CONFIGMAPS: {}}
            for w in self.watches:
                out[w.resource][w.conn.peer] = w.opened
            return out
        elif op == "stats":
            ru = rlimit.getrusage(rlimit.RUSAGE_SELF)
            return {"cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kib": ru.ru_maxrss,
                    "conns": len(self.conns), "watches": len(self.watches), "up": self.up,
                    "up_since": self.up_since, "down_since": self.down_since, "rv": self.rv}
        else:
            return {"error": "unknown op %r" % op}
        return {"rv": self.rv}

    async def serve_ctl(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    out = self.control(json.loads(line))
                except (ValueError, KeyError, TypeError) as e:
                    out = {"error": "%s: %s" % (type(e).__name__, e)}
                writer.write((json.dumps(out) + "\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()


async def amain(a):
    api = Api(a)
    await api.start()
    await asyncio.start_unix_server(api.serve_ctl, a.ctl, limit=1 << 24)
    asyncio.get_running_loop().create_task(api.bookmarker())
    stop = asyncio.get_running_loop().create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(s, stop.set_result, None)
    print("fleetapi: serving on %s port %d, control %s" % (a.host, a.port, a.ctl), flush=True)
    await stop


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=6443)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--ctl", required=True, help="the control socket's path")
    p.add_argument("--bookmarks", type=float, default=60.0,
                   help="seconds between BOOKMARK events (the API server's: about 60)")
    p.add_argument("--watch-list", choices=("on", "off", "ignore"), default="on",
                   help="the streaming watch list (sendInitialEvents): on; off: 422, as with "
                   "the WatchList gate off; ignore: a plain watch, as an old server")
    a = p.parse_args()
    soft, hard = rlimit.getrlimit(rlimit.RLIMIT_NOFILE)
    rlimit.setrlimit(rlimit.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(amain(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
