#!/usr/bin/python3
"""Checks rendered masqd manifests (helm template, kubectl kustomize) for the
properties a node agent needs, and that every argument is one masqd takes.

  check_manifests.py MANIFESTS.yaml PROFILE MASQD
PROFILE: generic | gke | monitoring. Prints one "ok - ..." or "FAIL - ..."
line per check and a last "N passed, M failed" line; exits 1 on a failure.
Debian's /usr/bin/python3 with python3-yaml (tools/deps.sh installs it).
"""
import subprocess
import sys

import yaml

passed = failed = 0


def check(desc, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + desc)
    else:
        failed += 1
        print("FAIL - %s%s" % (desc, ": " + str(detail) if detail else ""))


def by_kind(docs, kind):
    return [d for d in docs if d and d.get("kind") == kind]


def one(docs, kind):
    found = by_kind(docs, kind)
    return found[0] if len(found) == 1 else None


def flag(args, name):
    """The value of --name=value, True for a bare --name, None when absent."""
    for a in args:
        if a == "--" + name:
            return True
        if a.startswith("--" + name + "="):
            return a.split("=", 1)[1]
    return None


def rbac_allows(rule, group, resource, verbs):
    return group in rule.get("apiGroups", []) and resource in rule.get("resources", []) \
        and set(verbs) <= set(rule.get("verbs", []))


def check_daemonset(ds, masqd):
    spec = ds["spec"]
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    args = c.get("args", [])
    check("DaemonSet in kube-system", ds["metadata"].get("namespace") == "kube-system",
          ds["metadata"].get("namespace"))
    check("hostNetwork", pod.get("hostNetwork") is True)
    check("priorityClassName system-node-critical",
          pod.get("priorityClassName") == "system-node-critical")
    check("tolerates every taint",
          any(t.get("operator") == "Exists" and "key" not in t and "effect" not in t
              for t in pod.get("tolerations", [])), pod.get("tolerations"))
    check("nodeSelector kubernetes.io/os: linux",
          pod.get("nodeSelector", {}).get("kubernetes.io/os") == "linux")
    us = spec.get("updateStrategy", {})
    ru = us.get("rollingUpdate", {})
    check("RollingUpdate with maxUnavailable and no surge",
          us.get("type") == "RollingUpdate" and ru.get("maxUnavailable") not in (None, 0, "0%")
          and ru.get("maxSurge") in (0, "0%"), us)
    sc = c.get("securityContext", {})
    caps = sc.get("capabilities", {})
    check("runs as UID 0", sc.get("runAsUser") == 0)
    check("drops ALL capabilities and adds NET_ADMIN only",
          caps.get("drop") == ["ALL"] and caps.get("add") == ["NET_ADMIN"], caps)
    check("not privileged, no privilege escalation",
          sc.get("privileged") is False and sc.get("allowPrivilegeEscalation") is False)
    check("read-only root filesystem", sc.get("readOnlyRootFilesystem") is True)
    check("seccomp: the runtime's default profile",
          sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", sc)
    res = c.get("resources", {})
    check("resource requests and limits",
          res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory")
          and res.get("limits", {}).get("memory"), res)
    hz = flag(args, "healthz-bind-address") or ""
    port = int(hz.rsplit(":", 1)[1]) if ":" in hz else None
    live, ready = c.get("livenessProbe", {}), c.get("readinessProbe", {})
    check("liveness on /healthz at the healthz port",
          live.get("httpGet", {}).get("path") == "/healthz"
          and live.get("httpGet", {}).get("port") == port, live)
    check("readiness on /readyz at the healthz port",
          ready.get("httpGet", {}).get("path") == "/readyz"
          and ready.get("httpGet", {}).get("port") == port, ready)
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    cm_vol = [v for v in vols.values() if "configMap" in v]
    cm = cm_vol[0]["configMap"] if len(cm_vol) == 1 else {}
    check("the ip-masq-agent ConfigMap as a volume, optional",
          cm.get("name") == "ip-masq-agent" and cm.get("optional") is True, cm)
    check("items: key config as path ip-masq-agent (as upstream)",
          cm.get("items") == [{"key": "config", "path": "ip-masq-agent"}], cm.get("items"))
    m = mounts.get(cm_vol[0]["name"], {}) if cm_vol else {}
    check("mounted at /etc/config, never through subPath",
          m.get("mountPath") == "/etc/config"
          and not any("subPath" in x or "subPathExpr" in x for x in c.get("volumeMounts", [])),
          m)
    check("--config names the mounted file", flag(args, "config") == "/etc/config/ip-masq-agent",
          flag(args, "config"))
    sock = flag(args, "status-socket") or ""
    check("the status socket is on a writable volume",
          any(sock.startswith(mm["mountPath"] + "/") and "emptyDir" in vols.get(n, {})
              for n, mm in mounts.items()), sock)
    # every argument must be one masqd takes: run it with them and --version
    env_args = [a.replace("$(NODE_IP)", "192.0.2.10") for a in args]
    r = subprocess.run([masqd] + env_args + ["--version"], capture_output=True, text=True)
    check("masqd accepts every argument (%d)" % len(args), r.returncode == 0,
          r.stderr.strip())
    return args


def check_rbac(docs, args, ds):
    sa_name = ds["spec"]["template"]["spec"].get("serviceAccountName")
    sas = [d for d in by_kind(docs, "ServiceAccount") if d["metadata"]["name"] == sa_name]
    check("its ServiceAccount exists in kube-system",
          len(sas) == 1 and sas[0]["metadata"].get("namespace") == "kube-system", sa_name)
    if flag(args, "watch-egress-nat-policies") in (True, "true"):
        roles = by_kind(docs, "ClusterRole")
        ok = any(rbac_allows(r, "networking.gke.io", "egressnatpolicies",
                             ["get", "list", "watch"]) for role in roles
                 for r in role.get("rules", []))
        check("a ClusterRole gets, lists and watches egressnatpolicies", ok)
        binds = [b for b in by_kind(docs, "ClusterRoleBinding")
                 if any(s.get("name") == sa_name and s.get("namespace") == "kube-system"
                        for s in b.get("subjects", []))]
        check("bound to masqd's ServiceAccount", len(binds) == 1)
    cm = flag(args, "watch-configmap")
    if cm:
        ns, name = cm.split("/", 1)
        roles = [r for r in by_kind(docs, "Role") if r["metadata"].get("namespace") == ns]
        rules = [r for role in roles for r in role.get("rules", [])]
        check("a Role for the one watched ConfigMap only",
              any(rbac_allows(r, "", "configmaps", ["get", "list", "watch"])
                  and r.get("resourceNames") == [name] for r in rules), rules)
        binds = [b for b in by_kind(docs, "RoleBinding") if b["metadata"].get("namespace") == ns
                 and any(s.get("name") == sa_name for s in b.get("subjects", []))]
        check("bound to masqd's ServiceAccount in " + ns, len(binds) == 1)


def check_podsrc(docs, args, ds, profile):
    """--pod-cidr-from-node: NODE_NAME from spec.nodeName and read access to
    nodes, bound to masqd; without it, no access to nodes at all."""
    on = flag(args, "pod-cidr-from-node") in (True, "true")
    check("pod-source scoping from the Node: on for gke only (upstream's default elsewhere)",
          on == (profile in ("gke", "pod-source")), flag(args, "pod-cidr-from-node"))
    env = ds["spec"]["template"]["spec"]["containers"][0].get("env", [])
    node_env = [e for e in env if e.get("name") == "NODE_NAME"]
    sa_name = ds["spec"]["template"]["spec"].get("serviceAccountName")
    bound = {b["roleRef"]["name"] for b in by_kind(docs, "ClusterRoleBinding")
             if any(s.get("name") == sa_name for s in b.get("subjects", []))}
    nodes = [r for role in by_kind(docs, "ClusterRole") if role["metadata"]["name"] in bound
             for r in role.get("rules", []) if "nodes" in r.get("resources", [])]
    if not on:
        check("no access to nodes without it", not nodes, nodes)
        return
    check("NODE_NAME comes from spec.nodeName (the downward API)",
          len(node_env) == 1 and node_env[0].get("valueFrom", {}).get("fieldRef", {})
          .get("fieldPath") == "spec.nodeName", node_env)
    check("a bound ClusterRole gets, lists and watches nodes, nothing more",
          any(rbac_allows(r, "", "nodes", ["get", "list", "watch"]) for r in nodes)
          and all(set(r["verbs"]) <= {"get", "list", "watch"} for r in nodes), nodes)


def check_uninstall(docs, args):
    ds = flag(args, "cleanup-on-uninstall")
    check("uninstall removes the table: --cleanup-on-uninstall names masqd's DaemonSet",
          ds == "kube-system/masqd", ds)
    if not ds:
        return
    ns, name = ds.split("/", 1)
    rules = [r for role in by_kind(docs, "Role") if role["metadata"].get("namespace") == ns
             for r in role.get("rules", [])]
    check("a Role lets masqd get its own DaemonSet only",
          any(rbac_allows(r, "apps", "daemonsets", ["get"]) and r.get("resourceNames") == [name]
              for r in rules), rules)


def check_crd(docs):
    crd = one(docs, "CustomResourceDefinition")
    if crd is None:
        return
    spec = crd["spec"]
    v1 = [v for v in spec["versions"] if v["name"] == "v1"][0]
    props = v1["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    check("the CRD is cluster-scoped networking.gke.io EgressNATPolicy",
          spec["scope"] == "Cluster" and spec["group"] == "networking.gke.io"
          and spec["names"]["kind"] == "EgressNATPolicy")
    check("its schema has spec.action (NoSNAT) and spec.destinations[].cidr",
          props["action"].get("enum") == ["NoSNAT"]
          and "cidr" in props["destinations"]["items"]["properties"])


def main():
    path, profile, masqd = sys.argv[1:4]
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    ds = one(docs, "DaemonSet")
    check("one DaemonSet", ds is not None, [d.get("kind") for d in docs])
    if ds is None:
        print("%d passed, %d failed" % (passed, failed))
        return 1
    args = check_daemonset(ds, masqd)
    check_rbac(docs, args, ds)
    check_uninstall(docs, args)
    check_podsrc(docs, args, ds, profile)
    check_crd(docs)
    check("no ConfigMap by default (on migration kube-system/ip-masq-agent exists)",
          profile == "with-configmap" or not by_kind(docs, "ConfigMap"))
    if profile == "pod-source":
        check("pod-source: --pod-cidr as given",
              [a.split("=", 1)[1] for a in args if a.startswith("--pod-cidr=")]
              == ["10.244.0.0/14"])
        return finish()
    if profile == "gke":
        check("gke: --nomasq-all-reserved-ranges",
              flag(args, "nomasq-all-reserved-ranges") in (True, "true"))
        check("gke: --masq-chain=IP-MASQ", flag(args, "masq-chain") == "IP-MASQ")
        check("gke: --random-fully=false (Dataplane V2)", flag(args, "random-fully") == "false")
    else:
        check("generic: upstream's defaults (RFC 1918, IP-MASQ-AGENT, random-fully)",
              flag(args, "nomasq-all-reserved-ranges") in (None, "false")
              and flag(args, "masq-chain") in (None, "IP-MASQ-AGENT")
              and flag(args, "random-fully") in (None, True, "true"))
    if profile == "snat-interface":
        check("snat-interface: --snat-interface=eth1", flag(args, "snat-interface") == "eth1")
    if profile == "snat-addresses":
        check("snat-addresses: --snat-to-address once per family, IPv6 enabled",
              [a.split("=", 1)[1] for a in args if a.startswith("--snat-to-address=")]
              == ["192.0.2.10", "2001:db8::10"] and flag(args, "enable-ipv6") == "true")
    if profile not in ("snat-interface", "snat-addresses"):
        check("no SNAT flag unless asked for",
              flag(args, "snat-interface") is None and flag(args, "snat-to-address") is None)
    if profile == "conntrack-cleanup":
        check("conntrack-cleanup: --conntrack-cleanup=udp", flag(args, "conntrack-cleanup") == "udp")
    else:
        check("no conntrack cleanup unless asked for (upstream never touches conntrack)",
              flag(args, "conntrack-cleanup") in (None, "off"))
    if profile == "monitoring":
        check("monitoring: a PodMonitor on the metrics port",
              one(docs, "PodMonitor") is not None)
        check("monitoring: metrics on the node's IP",
              flag(args, "metrics-bind-address") == "$(NODE_IP):9743")
    else:
        check("metrics on loopback unless monitoring is on",
              (flag(args, "metrics-bind-address") or "127.0.0.1:9743").startswith("127.0.0.1:"))
    return finish()


def finish():
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
