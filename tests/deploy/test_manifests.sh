#!/usr/bin/env bash
# The Helm chart and the kustomize overlays: helm lint, then every rendering
# (Helm's defaults, GKE-like values, monitoring on; kustomize's generic and
# gke overlays) checked for the properties a node agent needs, with every
# argument tried on the real masqd (tests/deploy/check_manifests.py). No
# root, no cluster: helm template and kubectl kustomize work offline.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MASQD=$ROOT/${BUILD:-build}/masqd
CHART=$ROOT/deploy/helm/masqd
source "$ROOT/tests/assert.sh"
WORK=$(mktemp -d /tmp/masqd-deploy.XXXX)
trap 'rm -rf "$WORK"' EXIT

"$ROOT/tools/k8s-tools.sh" || { not_ok "helm and kubectl could not be had (tools/k8s-tools.sh)"; finish; exit 1; }
HELM=$ROOT/.tools/helm KUBECTL=$ROOT/.tools/kubectl

# Run the checker on one rendering; its lines count as ours.
checked() { # NAME FILE PROFILE
	local out last
	out=$(/usr/bin/python3 "$ROOT/tests/deploy/check_manifests.py" "$2" "$3" "$MASQD" 2>&1)
	last=$(tail -1 <<<"$out")
	grep -E '^(ok|FAIL) - ' <<<"$out" | sed "s/^\(ok\|FAIL\) - /\1 - $1: /" >"$WORK/lines"
	while IFS= read -r line; do
		if [[ $line == ok* ]]; then ok "${line#ok - }"; else not_ok "${line#FAIL - }"; fi
	done <"$WORK/lines"
	[[ $last =~ ^[0-9]+\ passed ]] || not_ok "$1: the checker did not finish: $out"
}
quiet() { "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out"; return 1; }; }
render() { "$HELM" template masqd "$CHART" --namespace kube-system "$@" 2>"$WORK/helm.err"; }

expect_true "helm lint, default values" quiet "$HELM" lint --strict "$CHART"
expect_true "helm lint, GKE values" quiet "$HELM" lint --strict "$CHART" -f "$CHART/values-gke.yaml"
expect_true "the values schema refuses a bad value" \
	bash -c "! '$HELM' template x '$CHART' --set tableFlags=sometimes >/dev/null 2>&1"

render --include-crds >"$WORK/helm-default.yaml"
checked "helm defaults" "$WORK/helm-default.yaml" generic
render -f "$CHART/values-gke.yaml" >"$WORK/helm-gke.yaml"
checked "helm gke" "$WORK/helm-gke.yaml" gke
render --set monitoring.podMonitor=true >"$WORK/helm-mon.yaml"
checked "helm monitoring" "$WORK/helm-mon.yaml" monitoring
render --set snat.interface=eth1 >"$WORK/helm-snat-if.yaml"
checked "helm snat.interface" "$WORK/helm-snat-if.yaml" snat-interface
render --set enableIPv6=true --set-json 'snat.toAddresses=["192.0.2.10","2001:db8::10"]' \
	>"$WORK/helm-snat-addr.yaml"
checked "helm snat.toAddresses" "$WORK/helm-snat-addr.yaml" snat-addresses
expect_true "snat.toAddresses and snat.interface together are refused" \
	bash -c "! '$HELM' template x '$CHART' --set snat.interface=eth1 --set-json 'snat.toAddresses=[\"192.0.2.10\"]' >/dev/null 2>&1"
expect_true "the values schema refuses an interface name with ':'" \
	bash -c "! '$HELM' template x '$CHART' --set snat.interface=eth0:1 >/dev/null 2>&1"
render --set podSource.fromNode=true --set-json 'podSource.cidrs=["10.244.0.0/14"]' \
	>"$WORK/helm-podsrc.yaml"
checked "helm podSource" "$WORK/helm-podsrc.yaml" pod-source
expect_true "the values schema refuses a pod CIDR that is not one" \
	bash -c "! '$HELM' template x '$CHART' --set-json 'podSource.cidrs=[\"pods\"]' >/dev/null 2>&1"
render --set conntrackCleanup=udp >"$WORK/helm-ct.yaml"
checked "helm conntrackCleanup" "$WORK/helm-ct.yaml" conntrack-cleanup
expect_true "the values schema refuses conntrackCleanup=tcp" \
	bash -c "! '$HELM' template x '$CHART' --set conntrackCleanup=tcp >/dev/null 2>&1"
expect_true "the values schema takes a short IPv6 pod CIDR (fd00::/8, as masqd does)" \
	quiet "$HELM" template x "$CHART" --set enableIPv6=true --set-json 'podSource.cidrs=["fd00::/8"]'
render --set config.create=true >"$WORK/helm-cm.yaml"
cm=$(/usr/bin/python3 -c '
import sys, yaml
d = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x and x["kind"] == "ConfigMap"][0]
print(d["data"]["config"], end="")' "$WORK/helm-cm.yaml")
printf '%s' "$cm" >"$WORK/ip-masq-agent"
expect_true "config.create: the ConfigMap's config key is a valid masqd config" \
	quiet "$ROOT/${BUILD:-build}/masqctl" validate "$WORK/ip-masq-agent"

for o in generic gke snat-interface conntrack-cleanup; do
	"$KUBECTL" kustomize "$ROOT/deploy/kustomize/overlays/$o" >"$WORK/kustomize-$o.yaml"
	checked "kustomize $o" "$WORK/kustomize-$o.yaml" "$o"
done
: >"$WORK/empty"
expect_true "the example policies are valid" \
	quiet "$ROOT/${BUILD:-build}/masqctl" validate --egress-nat-policy-dir "$ROOT/deploy/examples/egressnatpolicies" \
	"$WORK/empty"
eff=$("$ROOT/${BUILD:-build}/masqctl" effective --json \
	--egress-nat-policy-dir "$ROOT/deploy/examples/egressnatpolicies" "$WORK/empty")
expect_true "both example policies contribute" \
	bash -c 'grep -q EgressNATPolicy/default <<<"$1" && grep -q EgressNATPolicy/onprem <<<"$1"' - "$eff"
finish
