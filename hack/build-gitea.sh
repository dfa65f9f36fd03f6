#!/usr/bin/env bash
# Build Gitea (a real Git host: commit statuses, pull requests, comments, webhooks) from
# the Go module proxy, at the pinned GITEA_VERSION, into the binary cache outside the
# repository, for the tests of the Git host client (tests/integration/test_gitea.py).
# A second run is a no-op. Prints the time the build took. Called by build-binaries.sh.
#
#   hack/build-gitea.sh
#   GITOPS_CACHE=/path hack/build-gitea.sh   # binary at /path/bin/gitea
#
# The module has `replace` directives, so `go install module@version` refuses it: it is
# copied from the module cache into a writable build directory and built there as the
# main module. Only the API is used, so the frontend is not built and the binary carries
# no assets (no `bindata` tag); what Gitea reads from disk at run time (templates,
# options) is copied next to the binary, in bin/gitea-static (its STATIC_ROOT_PATH).
# SQLite is compiled in without build tags since v1.27 (modernc.org/sqlite, pure Go), so
# no C compiler is needed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"

cache=${GITOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-operator}
bin=$cache/bin
static=$bin/gitea-static
v=$GITEA_VERSION
mkdir -p "$bin" "$cache/build"
export CGO_ENABLED=0
export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local # never download a toolchain

if [[ -x "$bin/gitea" && -d "$static/templates" && -d "$static/options" &&
  "$(cat "$bin/.gitea.version" 2>/dev/null)" == "$v" ]]; then
  exit 0
fi
start=$(date +%s)

json() { python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }

query=$cache/build/.query # outside any module: a refused requirement cannot fail a look-up
mkdir -p "$query"
served() { # module@version -> true when the module proxy serves it
  [[ -z "$(cd "$query" && go mod download -json "$1" 2>/dev/null | json Error)" ]]
}

alias_vanity() { # the proxy refuses (403) the gitea.dev vanity paths of some of Gitea's
  # own modules; the same modules are published under code.gitea.io/<name>, whose go.mod
  # declares the gitea.dev path. Replace each refused one with that release, or with the
  # newest served release of the same major when that exact one is not served there.
  local path version alt latest
  while read -r path version; do
    served "$path@$version" && continue
    alt=code.gitea.io/${path#gitea.dev/}
    if ! served "$alt@$version"; then
      latest=$(cd "$query" && go list -m -versions "$alt" 2>/dev/null | tr ' ' '\n' | grep "^${version%%.*}\." | tail -1 || true)
      if [[ -z "$latest" ]]; then
        echo "the module proxy refuses $path@$version and serves no $alt ${version%%.*}" >&2
        return 1
      fi
      version=$latest
    fi
    echo "the module proxy refuses $path: using $alt@$version" >&2
    go mod edit -replace="$path=$alt@$version"
  done < <(go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["Require"]:
    if r["Path"].startswith("gitea.dev/"):
        print(r["Path"], r["Version"])')
}

info=$(go mod download -json "code.gitea.io/gitea@$v")
dir=$(json Dir <<<"$info")
[[ -n "$dir" ]] || {
  echo "the module proxy does not serve code.gitea.io/gitea@$v: $(json Error <<<"$info")" >&2
  exit 1
}
mod=$cache/build/gitea-$v
rm -rf "$mod"
cp -r "$dir" "$mod"
chmod -R u+w "$mod"
cd "$mod"
alias_vanity
go build -trimpath -ldflags "-s -w -X main.Version=${v#v}" -o "$bin/gitea" .
rm -rf "$static"
mkdir -p "$static"
cp -r "$dir/templates" "$dir/options" "$static/"
chmod -R u+w "$static"
echo "$v" >"$bin/.gitea.version"
echo "built gitea@$v into $bin in $(($(date +%s) - start))s"
