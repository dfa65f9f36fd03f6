#!/bin/sh
# The last step of hack/image/rootfs.sh, run on the finished root filesystem ROOT: the
# user and group 65532 (gitops), its home and the artifact cache, and nothing that
# differs from one build to the next (logs, apt and ldconfig caches, machine-id).
set -eu
root=$1
echo 'gitops:x:65532:65532:gitops:/home/gitops:/usr/sbin/nologin' >>"$root/etc/passwd"
echo 'gitops:x:65532:' >>"$root/etc/group"
echo 'gitops:!:0::::::' >>"$root/etc/shadow"
install -d -m 0755 -o 65532 -g 65532 "$root/home/gitops" "$root/var/cache/gitops-operator"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/ldconfig/* \
  "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root"/tmp/* "$root"/run/*
find "$root/var/log" -type f -delete
: >"$root/etc/machine-id"
