#!/usr/bin/env python3
"""A fake Kubernetes API server for masqd's watch tests (standard library only).

It serves what masqd reads, with the wire behaviour the Kubernetes API
documents (API concepts: "Efficient detection of changes", "Watch bookmarks",
"410 Gone responses"):

  GET /apis/networking.gke.io/v1/egressnatpolicies                 list
  GET /apis/networking.gke.io/v1/egressnatpolicies?watch=1&...     watch
  GET /api/v1/namespaces/NS/configmaps?fieldSelector=metadata.name%3DNAME[&watch=1...]
  GET /apis/apps/v1/namespaces/NS/daemonsets/NAME                   one object, or 404
  GET /api/v1/nodes?fieldSelector=metadata.name%3DNAME[&watch=1...] a Node (cluster-scoped),
                               for --pod-cidr-from-node: put one without spec.podCIDRs,
                               then put it again with them, as IPAM assigns them

Lists carry metadata.resourceVersion. A list without resourceVersion is a
consistent read "from etcd": with limit=N it comes in pages of N items, in
key order, each but the last with metadata.continue, a token that reads the
rest of the same snapshot; a token from before a "compact" gets 410
Expired, as an etcd compaction makes the API server answer. A list with a
resourceVersion ("0", or any with resourceVersionMatch=NotOlderThan) is
served "from the watch cache": whole, whatever its limit, as the API server
does; with the watch cache off ("watch_cache" op) it is paged like the
other. A continue request is phase "continue" for faults and the request
log. A watch from resourceVersion RV sends
every change after RV as newline-delimited JSON events in a chunked 200
response, BOOKMARK events when allowWatchBookmarks=true, and ends at
timeoutSeconds. A watch from a compacted RV gets 410, as an HTTP status or as
an ERROR event inside a 200 stream (both happen in real clusters). Requests
need "Authorization: Bearer TOKEN" with the token in --token-file, read at
every request, so rotating the file is token rotation, and writing another
token into it revokes the old one; or, with --client-ca, a client
certificate signed by that CA. Without either, or with another token, the
answer is 401, as the API server's to an unauthenticated request.

Faults are injected through POST /_ctl (JSON), which tests use (see ctl()):
  {"op": "put", "resource": "egressnatpolicies", "object": {...}}   create or edit
  {"op": "delete", "resource": ..., "name": N [, "namespace": NS]}
  {"op": "fault", "resource": R, "on": "list"|"watch"|"any", "count": N,
   "kind": "403"|"404"|"429"|"500"|"410"|"gone-event"|"disconnect"|"empty200"|"garbage",
   "retry_after": S}
  {"op": "compact"}            every RV so far is too old to watch from (or to
                               continue a paginated list from)
  {"op": "generate", "prefix": P, "count": N, "cidrs": K [, "base": IPV4,
   "step": S]}                 create N policies P00000.. each with K distinct
                               /32 destinations, from base (10.0.0.0) every S
                               (1) addresses, one ADDED event each
  {"op": "watch_list", "mode": "on"|"off"|"ignore"}  the streaming watch
                               list (sendInitialEvents=true, phase "watchlist"):
                               on: the state as ADDED events, then a BOOKMARK
                               annotated k8s.io/initial-events-end; off (the
                               default): 422, as with the WatchList gate off;
                               ignore: a plain watch, as an old server
  {"op": "watch_cache", "on": bool}  lists with a resourceVersion come
                               whole from the cache (on, the default) or
                               paged (off: the server has no watch cache)
  {"op": "split", "bytes": N}  write watch events N bytes per chunk
  {"op": "bookmarks", "seconds": S}
  {"op": "crd", "installed": bool}
  {"op": "requests"}           the request log, for assertions: resource, phase,
                               query, auth (the Authorization header), ok (authenticated)
  {"op": "kick"}               end every open watch cleanly (as timeoutSeconds)
  {"op": "stall", "on": bool}  open watches stop sending anything, bookmarks included

With --request-log FILE, every GET (each API request, not /_ctl) also appends
one JSON line to FILE as it arrives: {"path", "auth" (true when it carried an
Authorization header), "ok"}. A test counts lines to prove that a request did
or did not get through the TLS handshake; truncating the file resets it.

A test's own request, to check what the server accepts:
  fakeapi.py get --ca CA [--token T] PATH      prints the HTTP status
"""
import argparse
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from apistore import CONFIGMAPS, POLICIES, Store, selects, status

DAEMONSETS = "daemonsets"  # GET of one, for masqd --cleanup-on-uninstall
NODES = "nodes"
# resource -> (apiVersion, kind) of its objects
KINDS = {POLICIES: ("networking.gke.io/v1", "EgressNATPolicy"), CONFIGMAPS: ("v1", "ConfigMap"),
         NODES: ("v1", "Node")}


class State(Store):
    def __init__(self, token_file):
        super().__init__((POLICIES, CONFIGMAPS, DAEMONSETS, NODES))
        self.lock = threading.Condition()
        self.faults = []
        self.split = 0
        self.bookmark_s = 0.0
        self.crd = True
        self.requests = []
        self.kick_gen = 0
        self.stalled = False
        self.token_file = token_file
        self.watch_cache = True
        self.watch_list = "off"  # on | off (422, the gate off) | ignore (an old server)

    def token_ok(self, header, client_cert):
        if client_cert:
            return True  # verified against --client-ca by the TLS handshake
        if not self.token_file:
            return True
        try:
            with open(self.token_file) as f:
                want = f.read().strip()
        except OSError:
            return False
        return header == "Bearer " + want

    def tell(self, typ, resource, obj):
        self.lock.notify_all()  # the watches wait on it (self.lock held)

    def take_fault(self, resource, phase):
        for f in self.faults:
            if f["resource"] in (resource, "any") and f.get("on", "any") in (phase, "any"):
                f["count"] -= 1
                if f["count"] <= 0:
                    self.faults.remove(f)
                return f
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fakeapi: " + fmt % args + "\n")

    def send_json(self, code, obj, extra=None):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/_ctl":
            return self.send_json(404, status(404, "NotFound", "no such path"))
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        st = self.server.state
        with st.lock:
            out = self.control(st, req)
        self.send_json(200, out)

    def control(self, st, req):
        op = req["op"]
        if op == "put":
            st.put(req["resource"], req["object"])
        elif op == "delete":
            st.delete(req["resource"], req.get("namespace", ""), req["name"])
        elif op == "fault":
            st.faults.append(dict(req, count=req.get("count", 1)))
        elif op == "compact":
            st.compact()
        elif op == "generate":
            k, step = req["cidrs"], req.get("step", 1)
            addr = int.from_bytes(socket.inet_aton(req.get("base", "10.0.0.0")), "big")
            for i in range(req["count"]):
                dests = []
                for _ in range(k):
                    dests.append({"cidr": "%d.%d.%d.%d/32" % (addr >> 24, (addr >> 16) & 255,
                                                             (addr >> 8) & 255, addr & 255)})
                    addr += step
                st.rv += 1
                name = "%s%05d" % (req["prefix"], i)
                obj = {"apiVersion": "networking.gke.io/v1", "kind": "EgressNATPolicy",
                       "metadata": {"name": name, "resourceVersion": str(st.rv)},
                       "spec": {"action": "NoSNAT", "destinations": dests}}
                st.objects[POLICIES][("", name)] = obj
                st.log.append((st.rv, "ADDED", POLICIES, obj))
            st.lock.notify_all()
        elif op == "split":
            st.split = req["bytes"]
        elif op == "bookmarks":
            st.bookmark_s = req["seconds"]
        elif op == "crd":
            st.crd = req["installed"]
        elif op == "watch_cache":
            st.watch_cache = req["on"]
        elif op == "watch_list":
            st.watch_list = req["mode"]
        elif op == "kick":
            st.kick_gen += 1
            st.lock.notify_all()
        elif op == "stall":
            st.stalled = req["on"]
            st.lock.notify_all()
        elif op == "requests":
            return {"requests": st.requests}
        return {"rv": st.rv}

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        parts = u.path.strip("/").split("/")
        if parts == ["apis", "networking.gke.io", "v1", POLICIES]:
            return POLICIES, None, None, q
        if parts == ["api", "v1", NODES]:
            sel = q.get("fieldSelector", "")
            name = sel[len("metadata.name="):] if sel.startswith("metadata.name=") else None
            return NODES, None, name, q
        if len(parts) == 7 and parts[:4] == ["apis", "apps", "v1", "namespaces"] \
                and parts[5] == DAEMONSETS:
            return DAEMONSETS, parts[4], parts[6], q
        if len(parts) == 5 and parts[:2] == ["api", "v1"] and parts[2] == "namespaces" \
                and parts[4] == CONFIGMAPS:
            sel = q.get("fieldSelector", "")
            name = sel[len("metadata.name="):] if sel.startswith("metadata.name=") else None
            return CONFIGMAPS, parts[3], name, q
        return None, None, None, q

    def do_GET(self):
        st = self.server.state
        resource, ns, name, q = self.route()
        watch = q.get("watch") in ("1", "true")
        phase = ("watchlist" if watch and q.get("sendInitialEvents") == "true" else
                 "watch" if watch else "continue" if q.get("continue") else "list")
        with st.lock:
            token_ok = st.token_ok(self.headers.get("Authorization", ""),
                                   bool(self.connection.getpeercert()))
            st.requests.append({"resource": resource, "phase": phase, "query": q,
                                "auth": self.headers.get("Authorization", ""),
                                "ok": token_ok})
            if self.server.request_log:
                with open(self.server.request_log, "a") as f:
                    f.write(json.dumps({"path": self.path, "ok": token_ok,
                                        "auth": "Authorization" in self.headers}) + "\n")
            fault = st.take_fault(resource, phase) if resource and token_ok else None
            watch_list = st.watch_list
            crd = st.crd
        if not token_ok:
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        if resource is None:
            return self.send_json(404, status(404, "NotFound", "the server could not find "
                                              "the requested resource"))
        if resource == POLICIES and not crd:
            return self.send_json(404, status(404, "NotFound", "the server could not find "
                                              "the requested resource"))
        if fault and self.fault(fault, watch):
            return
        if resource == DAEMONSETS:
            with st.lock:
                obj = st.objects[DAEMONSETS].get((ns, name))
            if obj is None:
                return self.send_json(404, status(404, "NotFound", 'daemonsets.apps "%s" not '
                                                  'found' % name))
            return self.send_json(200, obj)
        if phase == "watchlist" and watch_list == "off":
            return self.send_json(422, status(422, "Invalid", "sendInitialEvents is forbidden "
                                              "for watch unless the WatchList feature gate is "
                                              "enabled"))
        if phase == "watchlist" and watch_list == "on" and (
                q.get("resourceVersionMatch") != "NotOlderThan" or
                q.get("allowWatchBookmarks") != "true"):
            return self.send_json(422, status(422, "Invalid", "sendInitialEvents needs "
                                              "resourceVersionMatch=NotOlderThan and "
                                              "allowWatchBookmarks=true"))
        if watch:
            return self.watch(st, resource, ns, name, q, fault,
                              initial=phase == "watchlist" and watch_list == "on")
        api, kind = KINDS[resource]
        kind += "List"
        limit = int(q.get("limit") or 0)
        if q.get("continue") and q.get("resourceVersion"):
            return self.send_json(400, status(400, "BadRequest", "specifying resource version "
                                              "is not allowed when using continue"))
        with st.lock:
            if st.watch_cache and q.get("resourceVersion") and not q.get("continue"):
                limit = 0  # the watch cache ignores limit
            code, meta, page = st.page(resource, ns, name, limit, q.get("continue"))
        if code != 200:
            return self.send_json(code, meta)
        self.send_json(200, {"kind": kind, "apiVersion": api, "metadata": meta,
                             "items": page})

    def fault(self, f, watch):
        """Answer with the fault; False for those that happen inside a stream."""
        kind = f["kind"]
        codes = {"403": (403, "Forbidden", 'egressnatpolicies.networking.gke.io is forbidden: '
                         'User "system:serviceaccount:kube-system:masqd" cannot list'),
                 "404": (404, "NotFound", "the server could not find the requested resource"),
                 "429": (429, "TooManyRequests", "the server has received too many requests"),
                 "500": (500, "InternalError", "an error on the server"),
                 "410": (410, "Expired", "too old resource version")}
        if kind in codes:
            code, reason, msg = codes[kind]
            extra = {"Retry-After": str(f["retry_after"])} if "retry_after" in f else None
            self.send_json(code, status(code, reason, msg), extra)
            return True
        if kind == "empty200":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        if kind == "disconnect":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.chunk(b'{"type":"ADDED","object":{"metadata":{"na')
            self.wfile.flush()
            self.close_abruptly()
            return True
        if kind == "garbage" and not watch:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not json\n")
            return True
        return False  # gone-event, and garbage in a watch

    def close_abruptly(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
        except OSError:
            pass

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def send_event(self, st, line):
        data = (json.dumps(line) + "\n").encode() if not isinstance(line, bytes) else line
        step = st.split or len(data)
        for i in range(0, len(data), step):
            self.chunk(data[i:i + step])
            self.wfile.flush()
            if st.split:
                time.sleep(0.001)  # separate segments, so curl sees separate reads

    def watch(self, st, resource, ns, name, q, fault, initial=False):
        try:
            since = int(q.get("resourceVersion", "0") or "0")
        except ValueError:
            return self.send_json(400, status(400, "BadRequest", "bad resourceVersion"))
        timeout = float(q.get("timeoutSeconds", "1800"))
        bookmarks = q.get("allowWatchBookmarks") == "true"
        with st.lock:
            gone = since and since <= st.compacted
        if gone and not (fault and fault["kind"] == "gone-event"):
            # the API answers an expired RV with 410 or, in a stream, an ERROR event
            if self.server.gone_as_event:
                fault = {"kind": "gone-event"}
            else:
                return self.send_json(410, status(410, "Expired", "too old resource version"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if fault and fault["kind"] == "gone-event":
                self.send_event(st, {"type": "ERROR", "object": status(
                    410, "Expired", "too old resource version: %d (%d)" % (since, st.compacted))})
            elif fault and fault["kind"] == "garbage":
                self.send_event(st, b"{this is not json\n")
            elif initial:
                self.initial_events(st, resource, ns, name, q, timeout, bookmarks)
            else:
                self.stream(st, resource, ns, name, since, timeout, bookmarks)
            self.chunk(b"")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def initial_events(self, st, resource, ns, name, q, timeout, bookmarks):
        """A streaming list: the state as ADDED events, the bookmark that ends
        them, then the changes, as a watch from that point."""
        with st.lock:
            items = [o for _, o in sorted(st.objects[resource].items())
                     if selects(resource, ns, name, o)]
            cur = st.rv
        for o in items:
            self.send_event(st, {"type": "ADDED", "object": o})
        api, kind = KINDS[resource]
        self.send_event(st, {"type": "BOOKMARK", "object": {
            "kind": kind, "apiVersion": api,
            "metadata": {"resourceVersion": str(cur),
                         "annotations": {"k8s.io/initial-events-end": "true"}}}})
        self.stream(st, resource, ns, name, cur, timeout, bookmarks)

    def changes(self, st, resource, ns, name, since):
        """The events after since (st.lock held)."""
        return [(rv, t, o) for rv, t, r, o in st.log
                if rv > since and r == resource and selects(resource, ns, name, o)]

    def stream(self, st, resource, ns, name, since, timeout, bookmarks):
        end = time.monotonic() + timeout
        last_bm = time.monotonic()
        with st.lock:
            kick = st.kick_gen
        while time.monotonic() < end:
            with st.lock:
                if st.kick_gen != kick:
                    return
                if st.stalled:
                    st.lock.wait(0.1)
                    continue
                events = self.changes(st, resource, ns, name, since)
                if not events:
                    wait = end - time.monotonic()
                    if bookmarks and st.bookmark_s:
                        wait = min(wait, st.bookmark_s - (time.monotonic() - last_bm))
                    st.lock.wait(max(0.0, min(wait, 0.5)))
                    # the wait let go of the lock: look again, or a bookmark
                    # at the newest RV would skip what came meanwhile
                    events = self.changes(st, resource, ns, name, since)
                cur = st.rv
                bm = bookmarks and st.bookmark_s and time.monotonic() - last_bm >= st.bookmark_s
            for rv, t, o in events:
                self.send_event(st, {"type": t, "object": o})
                since = rv
            if bm:
                api, kind = KINDS[resource]
                self.send_event(st, {"type": "BOOKMARK", "object": {
                    "kind": kind, "apiVersion": api,
                    "metadata": {"resourceVersion": str(cur)}}})
                since = max(since, cur)
                last_bm = time.monotonic()


def ctl(host, port, req, cafile):
    """A control request, for tests: prints the JSON answer."""
    ctx = ssl.create_default_context(cafile=cafile)
    import http.client
    c = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
    c.request("POST", "/_ctl", body=json.dumps(req), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    out = r.read().decode()
    print(out.strip())
    return 0 if r.status == 200 else 1


def get(host, port, path, cafile, token):
    """A GET as a test makes it: prints the HTTP status."""
    import http.client
    ctx = ssl.create_default_context(cafile=cafile)
    c = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
    c.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
    r = c.getresponse()
    r.read()
    print(r.status)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=6443)
    s.add_argument("--host", default="127.0.0.1", help="127.0.0.1, or ::1 for IPv6")
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--token-file")
    s.add_argument("--client-ca", help="also accept client certificates signed by this CA")
    s.add_argument("--gone-as-event", action="store_true",
                   help="answer an expired resourceVersion with an ERROR event, not HTTP 410")
    s.add_argument("--request-log", metavar="FILE",
                   help="append one JSON line per API request (GET) to FILE")
    s.add_argument("-v", action="store_true")
    c = sub.add_parser("ctl")
    c.add_argument("--port", type=int, default=6443)
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--ca", required=True)
    c.add_argument("json")
    g = sub.add_parser("get")
    g.add_argument("--port", type=int, default=6443)
    g.add_argument("--host", default="127.0.0.1")
    g.add_argument("--ca", required=True)
    g.add_argument("--token", help="sent as a bearer token; none without it")
    g.add_argument("path")
    a = p.parse_args()
    if a.cmd == "ctl":
        return ctl(a.host, a.port, json.loads(a.json), a.ca)
    if a.cmd == "get":
        return get(a.host, a.port, a.path, a.ca, a.token)
    if ":" in a.host:
        ThreadingHTTPServer.address_family = socket.AF_INET6
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    srv.state = State(a.token_file)
    srv.verbose = a.v
    srv.request_log = a.request_log
    srv.gone_as_event = a.gone_as_event
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(a.client_ca)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("fakeapi: serving on %s port %d" % (a.host, a.port), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
