#!/usr/bin/env bash
# Build the pinned control-plane and renderer binaries from the Go module proxy into a
# cache outside the repository. Each binary is built once per version; a second run is a
# no-op. Prints the time the build took.
#
#   hack/build-binaries.sh            # everything
#   GITOPS_CACHE=/path hack/build-binaries.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"

cache=${GITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-operator}
bin=$cache/bin
work=$cache/build
mkdir -p "$bin" "$work"
export CGO_ENABLED=0
export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local  # the versions above build with the machine's Go; never download a toolchain

start=$(date +%s)
built=()

stamp_ok() { # name version -> true when the cached binary is of this version
  [[ -x "$bin/$1" && -f "$bin/.$1.version" && "$(cat "$bin/.$1.version")" == "$2" ]]
}
stamp() { echo "$2" >"$bin/.$1.version"; built+=("$1"); }

kubernetes_module() { # cd into the wrapper module of k8s.io/kubernetes@$KUBERNETES_VERSION
  local v=$KUBERNETES_VERSION
  local mod=$work/kubernetes-$v
  mkdir -p "$mod"
  cd "$mod"
  [[ -f go.mod ]] || go mod init local.build/kubernetes >/dev/null 2>&1
  grep -q "k8s.io/kubernetes $v" go.mod && return 0
  # k8s.io/kubernetes requires its staging modules at v0.0.0 with replaces to ./staging;
  # replaces only apply in the main module, so map each one to the published v0.Y.Z.
  local gomod staging minor=${v#v1.}
  gomod=$(go mod download -json "k8s.io/kubernetes@$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  staging=$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}')
  go mod edit -require="k8s.io/kubernetes@$v"
  for m in $staging; do go mod edit -replace="$m=$m@v0.$minor"; done
}

kubernetes_ldflags() {
  local v=$KUBERNETES_VERSION minor=${KUBERNETES_VERSION#v1.} pkg=k8s.io/component-base/version
  local ld="-s -w -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor%%.*}"
  echo "$ld -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
}

build_kubernetes() {
  local v=$KUBERNETES_VERSION need=0
  for b in kube-apiserver kube-controller-manager kube-scheduler; do stamp_ok "$b" "$v" || need=1; done
  ((need)) || return 0
  kubernetes_module
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  go mod tidy -e >/dev/null 2>&1 || true
  go build -trimpath -ldflags "$(kubernetes_ldflags)" -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
  for b in kube-apiserver kube-controller-manager kube-scheduler; do stamp "$b" "$v"; done
}

build_node() { # kubelet and kube-proxy of the real node, from the same wrapper module
  local v=$KUBERNETES_VERSION need=0
  for b in kubelet kube-proxy; do stamp_ok "$b" "$v" || need=1; done
  ((need)) || return 0
  kubernetes_module
  cat >tools_node.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  go mod tidy -e >/dev/null 2>&1 || true
  go build -trimpath -ldflags "$(kubernetes_ldflags)" -o "$bin/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  for b in kubelet kube-proxy; do stamp "$b" "$v"; done
}

build_pause() { # the sandbox process of the real node's pods (hack/images/pause)
  local sum
  sum=$(cat "$here/images/pause/go.mod" "$here/images/pause/main.go" | sha256sum | cut -c1-16)
  stamp_ok pause "$sum" && return 0
  (cd "$here/images/pause" && go build -trimpath -ldflags "-s -w -buildid=" -o "$bin/pause" .)
  stamp pause "$sum"
}

build_etcd() {
  local v=$ETCD_VERSION
  stamp_ok etcd "$v" && return 0
  local mod=$work/etcd-$v
  mkdir -p "$mod"
  cd "$mod"
  [[ -f go.mod ]] || go mod init local.build/etcd >/dev/null 2>&1
  # server/v3 has ../ replaces, so `go install` refuses it; a wrapper module does not.
  go mod edit -require="go.etcd.io/etcd/server/v3@$v"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
  go mod tidy -e >/dev/null 2>&1 || true
  go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
  stamp etcd "$v"
}

go_install() { # name version package
  stamp_ok "$1" "$2" && return 0
  GOBIN=$bin go install -trimpath -ldflags "-s -w ${4:-}" "$3@$2"
  stamp "$1" "$2"
}

build_kubernetes
build_node
build_pause
build_etcd
go_install kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
go_install kwokctl "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwokctl
go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
go_install kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5
go_install kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform \
  "-X main.version=$KUBECONFORM_VERSION"
go_install registry "$REGISTRY_VERSION" github.com/distribution/distribution/v3/cmd/registry \
  "-X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION"
"$here/build-gitea.sh" # a real Git host for the Git host client's tests

elapsed=$(($(date +%s) - start))
if ((${#built[@]})); then
  echo "built ${built[*]} into $bin in ${elapsed}s"
else
  echo "all binaries cached in $bin (${elapsed}s)"
fi
