#!/bin/sh
# Build the operator image's Debian root filesystem into DIR: the packages of
# packages.txt on the essential set, no documentation, no apt lists or caches, and the
# non-root user 65532 with its home and cache directory. hack/operatorimage.py and the
# Dockerfile both run this script, so both images have the same Debian tree.
#
#   hack/image/rootfs.sh DIR [MMDEBSTRAP_MODE]
set -eu
dir=$1
mode=${2:-root}
here=$(cd "$(dirname "$0")" && pwd)
packages=$(grep -v '^#' "$here/packages.txt" | tr '\n' ',' | sed 's/,*$//')
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
export SOURCE_DATE_EPOCH
mmdebstrap --quiet --mode="$mode" --variant=essential --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --customize-hook='sh "'"$here"'/finish-rootfs.sh" "$1"' \
  "$(sed -n 's/^# suite: //p' "$here/packages.txt")" "$dir"
