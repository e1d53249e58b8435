"""The object store both fake Kubernetes API servers keep: tests/fakeapi/fakeapi.py
(threads) and tools/fleet/fleetapi.py (asyncio). One copy, so that their
resourceVersions, event log, selections, compactions and list pages cannot
drift apart; each server adds how it tells its watchers. Standard library only.
"""
import base64
import json

POLICIES = "egressnatpolicies"
CONFIGMAPS = "configmaps"


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def selects(resource, ns, name, obj):
    """Whether a request for (resource, ns, name) sees obj: every policy (they
    are cluster-wide), else the namespace's, by name with a fieldSelector (a
    Node has no namespace: ns is None for it)."""
    if resource == POLICIES:
        return True
    md = obj["metadata"]
    return md.get("namespace") == ns and (name is None or md["name"] == name)


class Store:
    def __init__(self, resources):
        self.rv = 100
        self.compacted = 0
        self.objects = {r: {} for r in resources}  # key (namespace, name) -> object
        self.log = []  # (rv, type, resource, object)
        self.snapshots = {}  # rv -> the sorted items of a paginated list

    def change(self, typ, resource, obj):
        """Record one event, a copy of obj at the next resourceVersion, and
        tell the watchers; returns what tell does."""
        self.rv += 1
        obj = json.loads(json.dumps(obj))
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if typ == "DELETED":
            self.objects[resource].pop(key, None)
        else:
            self.objects[resource][key] = obj
        self.log.append((self.rv, typ, resource, obj))
        return self.tell(typ, resource, obj)

    def tell(self, typ, resource, obj):
        """Tell the open watches of one event: each server its own way."""
        return None

    def put(self, resource, obj):
        """Create or edit: ADDED or MODIFIED, as the key is new or not."""
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        return self.change("MODIFIED" if key in self.objects[resource] else "ADDED", resource, obj)

    def delete(self, resource, ns, name):
        obj = self.objects[resource].get((ns, name))
        if obj:
            self.change("DELETED", resource, obj)

    def compact(self):
        """Every RV so far is too old to watch from or to continue a list from."""
        self.compacted = self.rv
        self.rv += 1  # what a watch from the newest RV before may not see
        self.snapshots.clear()

    def page(self, resource, ns, name, limit, cont):
        """One page of a list from the newest state, or of the snapshot a
        continue token names: (200, metadata, items), or (code, a Status, None)."""
        if cont:
            try:
                tok = json.loads(base64.b64decode(cont))
                rv, start = int(tok["rv"]), int(tok["start"])
            except (ValueError, KeyError, TypeError):
                return 400, status(400, "BadRequest", "invalid continue token"), None
            items = self.snapshots.get(rv)
            if items is None or rv <= self.compacted:
                return 410, status(
                    410, "Expired", "The provided continue parameter is too old to display "
                    "a consistent list result. You can start a new list without the "
                    "continue parameter."), None
        else:
            items = [o for _, o in sorted(self.objects[resource].items())
                     if selects(resource, ns, name, o)]
            rv, start = self.rv, 0
        page = items[start:start + limit] if limit else items[start:]
        meta = {"resourceVersion": str(rv)}
        if limit and start + limit < len(items):
            self.snapshots[rv] = items
            while len(self.snapshots) > 4:
                self.snapshots.pop(min(self.snapshots))
            meta["continue"] = base64.b64encode(json.dumps(
                {"rv": rv, "start": start + limit}).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        return 200, meta, page
