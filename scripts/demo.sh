#!/usr/bin/env bash
# The main job, offline: run a container from a busybox-static root filesystem with berth.
# (Where the network allows, `bin/berth run --rm busybox echo hi` pulls from Docker Hub instead.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (containers need namespaces, mounts and cgroups)" >&2; exit 1; }
rootfs=/var/lib/berth/rootfs/busybox
[ -x "$rootfs/bin/busybox" ] || scripts/busybox-rootfs.sh "$rootfs"
if [ $# -eq 0 ]; then
  set -- /bin/sh -c 'echo "Hello from a berth container: hostname $(hostname), pid $$, $(id)"; uname -sr; ls /'
fi
exec bin/berth run --rm --rootfs "$rootfs" "$@"
