#!/usr/bin/env bash
# Builds a minimal root filesystem from Debian's busybox-static: /bin/busybox, its applets, /etc/passwd
# and /etc/group. Usage: scripts/busybox-rootfs.sh DIR   (works offline)
set -euo pipefail
dir=${1:?usage: busybox-rootfs.sh DIR}
bb=/bin/busybox
[ -x "$bb" ] && "$bb" --list >/dev/null 2>&1 || { echo "busybox-rootfs.sh: $bb missing: apt-get install busybox-static" >&2; exit 1; }
mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp,root,var,home}
cp "$bb" "$dir/bin/busybox"
for a in $("$bb" --list); do [ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
chmod 1777 "$dir/tmp"
