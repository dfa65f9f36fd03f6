#!/bin/sh
# Write hack/image/constraints.txt: the exact version of every Python distribution the
# operator image installs (the project's dependencies for the image's platform and
# Python, resolved now from the package index) and of the backend that builds the
# project's wheel. hack/image/site-packages.sh installs under these constraints and
# refuses a distribution they do not pin, so the image's Python layer changes only when
# this file (an input of the image's cache key) does. Run it after changing
# pyproject.toml's dependencies, or to take newer releases.
#
#   hack/image/lock.sh [PYTHON]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${1:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip --disable-pip-version-check -q wheel --no-deps -w "$work/wheel" "$root"
"$python" -m pip --disable-pip-version-check -q install --dry-run --ignore-installed \
  --report "$work/report.json" --target "$work/site" \
  --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  --python-version 3.13 --implementation cp \
  --only-binary=:all: "$work"/wheel/gitops_operator-*.whl
# the build backend too: its version is written into the wheel
requires=$("$python" -c 'import sys, tomllib; print(*tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"])' "$root/pyproject.toml")
# shellcheck disable=SC2086 # one argument per requirement
"$python" -m pip --disable-pip-version-check -q download --no-deps --only-binary=:all: \
  -d "$work/backend" $requires
{
  echo "# The operator image's Python distributions, pinned: written by hack/image/lock.sh."
  "$python" - "$work/report.json" "$work/backend" <<'PY'
import json, os, re, sys
report = json.load(open(sys.argv[1]))
pins = {
    item["metadata"]["name"]: item["metadata"]["version"]
    for item in report["install"]
    if item["metadata"]["name"] != "gitops-operator"
}
for wheel in os.listdir(sys.argv[2]):
    name, version = wheel.split("-")[:2]
    pins[name] = version
for name in sorted(pins, key=lambda n: re.sub(r"[-_.]+", "-", n).lower()):
    print(f"{name}=={pins[name]}")
PY
} >"$here/constraints.txt"
echo "wrote $here/constraints.txt"
