#!/usr/bin/env bash
# Build Flux's source-controller and kustomize-controller from the Go module proxy, at
# pinned releases, into a cache outside the repository, and copy their CRDs from the
# module zips. Used by bench/scale.py --flux. A second run is a no-op. Prints the time
# the build took.
#
#   hack/build-flux.sh
#   GITOPS_CACHE=/path hack/build-flux.sh     # cache at /path/flux-bin
#
# The pins are the newest releases whose go.mod `go` directive is <= the machine's Go
# (1.26; v1.10.x of both needs go 1.27). Both modules have `replace` directives (their
# ./api sub-module, a go-digest fork, kustomize pins), so `go install module@version`
# refuses them: each is built from a wrapper module that requires it and repeats its
# non-local replaces, with ./api mapped to the published api module of the same version.
set -euo pipefail

SOURCE_CONTROLLER_VERSION=v1.9.6
KUSTOMIZE_CONTROLLER_VERSION=v1.9.6

cache=${GITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-operator}
out=$cache/flux-bin
work=$cache/build
mkdir -p "$out" "$work"
export CGO_ENABLED=0
export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local # never download a toolchain

start=$(date +%s)
built=()

stamp_ok() { # name version -> true when the cached binary and CRDs are of this version
  [[ -x "$out/$1" && -d "$out/crds/$1" && -f "$out/.$1.version" && "$(cat "$out/.$1.version")" == "$2" ]]
}

fill_gaps() { # package: replace module versions the proxy refuses (403) with an older
  # patch release of the same minor that it serves, until every build dependency resolves
  local missing alt i
  for i in 1 2 3 4 5 6 7 8; do
    missing=$(go list -e -deps -f '{{if .Error}}{{.Error}}{{end}}' "$1" 2>&1 |
      grep -oE '[A-Za-z0-9./_~-]+@v[0-9][^:]*: reading [^ ]+: (403|404|410)' | cut -d: -f1 | sort -u) || true
    [[ -z "$missing" ]] && return 0
    for m in $missing; do
      alt=$(go list -m -versions "${m%@*}" | python3 -c '
import re, sys
want = sys.argv[1]
key = lambda v: [int(x) for x in re.findall(r"\d+", v.split("-")[0])[:3]]
same = [v for v in sys.stdin.read().split()[1:] if key(v)[:2] == key(want)[:2] and key(v) < key(want)]
print(max(same, key=key) if same else "")' "${m#*@}")
      if [[ -z "$alt" ]]; then
        echo "the module proxy refuses $m and serves no older release of that minor" >&2
        return 1
      fi
      echo "the module proxy refuses $m: using ${m%@*}@$alt" >&2
      go mod edit -replace="$m=${m%@*}@$alt"
    done
    go mod tidy -e >/dev/null 2>&1 || true
  done
  return 1
}

build_controller() { # name version
  local name=$1 v=$2 module=github.com/fluxcd/$1
  stamp_ok "$name" "$v" && return 0
  local info dir gomod
  info=$(go mod download -json "$module@$v")
  dir=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["Dir"])' "$info")
  gomod=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["GoMod"])' "$info")
  local mod=$work/flux-$name-$v
  rm -rf "$mod"
  mkdir -p "$mod"
  cd "$mod"
  go mod init "local.build/flux-$name" >/dev/null 2>&1
  go mod edit -go="$(awk '$1 == "go" {print $2; exit}' "$gomod")"
  go mod edit -require="$module@$v"
  # repeat the upstream replaces: a local path (./api) becomes the published sub-module
  python3 - "$gomod" "$v" <<'PY' | while read -r spec; do go mod edit -replace="$spec"; done
import re, sys
text, version = open(sys.argv[1]).read(), sys.argv[2]
lines = []
for block in re.findall(r"^replace\s*\((.*?)^\)", text, re.M | re.S):
    lines += block.splitlines()
lines += re.findall(r"^replace\s+([^(\n].*)$", text, re.M)
for line in lines:
    line = line.split("//")[0].strip()
    if "=>" not in line:
        continue
    old, new = (s.split() for s in line.split("=>"))
    if new[0].startswith("."):
        print(f"{old[0]}={old[0]}@{version}")
    else:
        print(f"{' '.join(old)}={'@'.join(new)}".replace(" ", "@"))
PY
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$module" >tools.go
  go mod tidy -e >/dev/null 2>&1 || true
  fill_gaps "$module"
  go build -trimpath -ldflags "-s -w" -o "$out/$name" "$module"
  rm -rf "$out/crds/$name"
  mkdir -p "$out/crds/$name"
  cp "$dir"/config/crd/bases/*.yaml "$out/crds/$name/"
  chmod u+w "$out/crds/$name"/*.yaml
  echo "$v" >"$out/.$name.version"
  built+=("$name@$v")
}

build_controller source-controller "$SOURCE_CONTROLLER_VERSION"
build_controller kustomize-controller "$KUSTOMIZE_CONTROLLER_VERSION"

elapsed=$(($(date +%s) - start))
if ((${#built[@]})); then
  echo "built ${built[*]} into $out in ${elapsed}s"
else
  echo "flux controllers cached in $out (${elapsed}s)"
fi
