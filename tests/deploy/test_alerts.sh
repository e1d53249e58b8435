#!/usr/bin/env bash
# The alerts (deploy/helm/masqd/files/alerts.yaml): promtool checks the rule
# file and runs tests/deploy/alerts_test.yaml against it (each alert fires on
# the node it should, after its "for", and not on a healthy one); every
# metric an alert reads is one masqd exports, and every alert is tested; the
# chart's PrometheusRule carries exactly the file's groups. No root, no
# cluster: promtool and helm template work offline.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CHART=$ROOT/deploy/helm/masqd
RULES=$CHART/files/alerts.yaml
source "$ROOT/tests/assert.sh"
WORK=$(mktemp -d /tmp/masqd-alerts.XXXX)
trap 'rm -rf "$WORK"' EXIT

quiet() { "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out"; return 1; }; }

expect_true "promtool check rules" quiet promtool check rules "$RULES"
expect_true "promtool test rules (tests/deploy/alerts_test.yaml)" \
	quiet promtool test rules "$ROOT/tests/deploy/alerts_test.yaml"

# the names the rules read, and those masqd's exposition defines
used=$(grep -oE '\bmasqd_[a-z0-9_]+' "$RULES" | sort -u)
defined=$(grep -ohE '"masqd_[a-z0-9_]+"' "$ROOT"/agent/*.c | tr -d '"' | sort -u)
expect_true "the rules read some of masqd's metrics" test -n "$used"
expect_eq "metrics the rules read that masqd does not export" "" \
	"$(comm -23 <(echo "$used") <(echo "$defined") | tr '\n' ' ')"
alerts=$(sed -n 's/^ *- alert: *//p' "$RULES" | sort -u)
tested=$(sed -n 's/^ *alertname: *//p' "$ROOT/tests/deploy/alerts_test.yaml" | sort -u)
expect_eq "alerts without a test" "" "$(comm -23 <(echo "$alerts") <(echo "$tested") | tr '\n' ' ')"
expect_true "each alert has a severity and both annotations" python3 -c "
import sys, yaml
for r in yaml.safe_load(open('$RULES'))['groups'][0]['rules']:
    assert r['labels']['severity'] in ('critical', 'warning', 'info'), r['alert']
    assert r['annotations']['summary'] and r['annotations']['description'], r['alert']
"

"$ROOT/tools/k8s-tools.sh" || { not_ok "helm could not be had (tools/k8s-tools.sh)"; finish; exit 1; }
HELM=$ROOT/.tools/helm
render() { "$HELM" template masqd "$CHART" --namespace kube-system "$@" 2>"$WORK/helm.err"; }
kinds() { python3 -c "
import sys, yaml
print(' '.join(sorted(d['kind'] for d in yaml.safe_load_all(sys.stdin) if d)))"; }
expect_true "by default, no PrometheusRule" bash -c "! grep -qw PrometheusRule <<<'$(render | kinds)'"
render --set monitoring.prometheusRule=true --set monitoring.labels.release=prom >"$WORK/on.yaml"
expect_true "monitoring.prometheusRule=true: the PrometheusRule carries the file's groups, labelled" \
	python3 -c "
import yaml
docs = [d for d in yaml.safe_load_all(open('$WORK/on.yaml')) if d]
pr = [d for d in docs if d['kind'] == 'PrometheusRule']
assert len(pr) == 1, len(pr)
assert pr[0]['apiVersion'] == 'monitoring.coreos.com/v1'
assert pr[0]['metadata']['namespace'] == 'kube-system'
assert pr[0]['metadata']['labels']['release'] == 'prom'
assert pr[0]['spec'] == yaml.safe_load(open('$RULES')), 'spec differs from the file'
"
expect_true "the schema refuses a non-boolean" \
	bash -c "! '$HELM' template x '$CHART' --set monitoring.prometheusRule=sometimes >/dev/null 2>&1"
finish
