#!/usr/bin/env bash
# Install the Debian packages `make test` and `make demo` need on a fresh machine: the Git
# servers of the tests (git-http-backend, sshd), gpgv and ssh-keygen that verify commit
# signatures, gpg and gpg-agent that make the tests' OpenPGP keys and signatures, and the
# real node beside the kwok ones (containerd, runc, the CNI plugins, iptables and
# conntrack for kube-proxy, mmdebstrap for image root filesystems, busybox-static for the
# sample workload image), chromium and chromium-driver for the web UI's browser tests). Installs only what is missing; as a non-root user it installs
# nothing and prints the one command that would.
#
#   hack/install-packages.sh          # install what is missing (root), else print the command
#   hack/install-packages.sh --check  # print what is missing; exit 1 if anything is
set -euo pipefail

# package -> a file the package installs; the file's absence means the package is missing.
declare -A provides=(
  [git]=/usr/bin/git
  [gpg]=/usr/bin/gpg
  [gpg-agent]=/usr/bin/gpg-agent
  [gpgv]=/usr/bin/gpgv
  [make]=/usr/bin/make
  [openssh-server]=/usr/sbin/sshd
  [openssh-client]=/usr/bin/ssh-keygen
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=/usr/sbin/iptables
  [conntrack]=/usr/sbin/conntrack
  [iproute2]=/usr/sbin/ip
  [mmdebstrap]=/usr/bin/mmdebstrap
  [busybox-static]=/bin/busybox
  [curl]=/usr/bin/curl
  [chromium]=/usr/bin/chromium
  [chromium-driver]=/usr/bin/chromedriver
)

missing=()
for pkg in $(printf '%s\n' "${!provides[@]}" | sort); do
  [[ -e "${provides[$pkg]}" ]] || missing+=("$pkg")
done
# git-http-backend ships with git but lives outside PATH; check it on its own.
[[ -x /usr/lib/git-core/git-http-backend ]] || [[ " ${missing[*]} " == *" git "* ]] || missing+=(git)

if ((${#missing[@]} == 0)); then
  exit 0
fi
command="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [[ "${1:-}" == "--check" ]]; then
  echo "missing Debian packages: ${missing[*]}"
  exit 1
fi
if ((EUID != 0)) || ! command -v apt-get >/dev/null; then
  echo "missing Debian packages (${missing[*]}); as root run: $command" >&2
  exit 0 # the tests that need them skip with a one-line reason
fi
echo "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
