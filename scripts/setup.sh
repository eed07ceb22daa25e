#!/usr/bin/env bash
# Installs what berth and its tests need on Debian 12 (apt packages, then `npm ci`, which also
# builds native/ with the system C compiler). Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (it installs Debian packages)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
pkgs=(gcc libc6-dev make busybox-static libseccomp2 docker-registry runc crun skopeo umoci
      containernetworking-plugins iproute2 iptables zstd util-linux procps time apache2-utils openssl python3)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# The Docker API tests drive the real docker CLI: Debian's docker.io brings it where none is installed.
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Packages installed just now may start services the tests do not use (docker-registry on :5000,
# dockerd): stop only those, so a user's own registry or docker keeps running.
[[ " ${missing[*]} " == *" docker-registry "* ]] && { systemctl disable --now docker-registry >/dev/null 2>&1 || true; }
[[ " ${missing[*]} " == *" docker.io "* ]] && { systemctl disable --now docker.service docker.socket containerd >/dev/null 2>&1 || true; }
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
make -s -C native
node scripts/build.mjs
