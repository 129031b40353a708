#!/usr/bin/env bash
# Builds (or finds in the cache) the lab image: a Debian 13 root filesystem
# with trixie's User-Mode Linux kernel, libreswan, keepalived and strongSwan.
#
# The image lives outside the repository, in $HASYNC_LAB_CACHE (default
# /var/cache/hasync-lab), under a key made of this recipe and the exact
# versions of the packages it installs, so a second run skips the build and a
# new package version or recipe change builds a new image.
# Prints the image directory on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${HASYNC_LAB_CACHE:-/var/cache/hasync-lab}
suite=trixie

# What the guest needs. libreswan depends on the virtual package "host",
# which debootstrap cannot resolve, so bind9-host names a provider.
packages=(libreswan bind9-host libnss3-tools keepalived iproute2 lksctp-tools
	  iputils-ping kmod procps socat tcpdump jq util-linux mount fping
	  user-mode-linux
	  libnl-3-200 libnl-xfrm-3-200 libnl-route-3-200 libsctp1 libevent-2.1-7t64
	  libevent-core-2.1-7t64 libjson-c5 libnss3 libsystemd0)
# strongSwan conflicts with libreswan as packages, but its files do not
# collide: these are unpacked beside it for interoperability scenarios.
unpacked=(libstrongswan strongswan-libcharon strongswan-charon strongswan-swanctl)

say() { printf 'image: %s\n' "$*" >&2; }
die() { printf 'image: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "building the lab image needs root (debootstrap, chroot)"
for tool in debootstrap patchelf dpkg-deb apt-get sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is missing (run: tools/install-deps lab)"
done

# The mirror apt already uses on this host; never written into the repository.
mirror() { "$here/../../tools/debian-mirror" || die "no Debian mirror to build from"; }

# apt pointed at trixie without touching the host's own configuration.
aptdir=$cache/apt-$suite
apt_opts=(-o Dir::Etc::sourcelist="$aptdir/sources.list" -o Dir::Etc::sourceparts=-
	  -o Dir::State::Lists="$aptdir/lists" -o Dir::Cache="$aptdir/cache"
	  -o Dir::State::status=/dev/null -o Debug::NoLocking=1
	  -o APT::Architecture=amd64 -o Acquire::Languages=none
	  -o APT::Sandbox::User=root)

mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$cache/debs"
printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
	"$(mirror)" "$suite" >"$aptdir/sources.list"

say "reading $suite package versions"
offline=0
if ! apt-get "${apt_opts[@]}" -qq update >/dev/null 2>"$aptdir/update.err"; then
	offline=1
	say "apt update for $suite failed ($(tail -n 1 "$aptdir/update.err")); will reuse a cached image"
fi

versions() {
	local p v
	for p in "${packages[@]}" "${unpacked[@]}"; do
		v=$(apt-cache "${apt_opts[@]}" show --no-all-versions "$p" 2>/dev/null |
			awk '/^Version:/ {print $2; exit}')
		[ -n "$v" ] || die "package $p not found in $suite"
		printf '%s=%s\n' "$p" "$v"
	done
}

recipe_hash=$(cat "$0" "$here/guest/hasync-init" | sha256sum | cut -c1-12)
if [ "$offline" -eq 1 ]; then
	image=$(ls -d "$cache"/image-"$recipe_hash"-* 2>/dev/null | tail -n 1 || true)
	[ -n "$image" ] && [ -f "$image/ready" ] || die "no network to build the image and no cached image"
	printf '%s\n' "$image"
	exit 0
fi
versions >"$aptdir/versions.txt"
key=$recipe_hash-$(sha256sum <"$aptdir/versions.txt" | cut -c1-12)
image=$cache/image-$key

if [ -f "$image/ready" ]; then
	ln -sfn "$(basename "$image")" "$cache/current"
	say "cached image $image"
	printf '%s\n' "$image"
	exit 0
fi

start=$(date +%s.%N)
rm -rf "$image.tmp"
mkdir -p "$image.tmp"
rootfs=$image.tmp/rootfs

say "debootstrap $suite into $rootfs"
include=$(IFS=,; echo "${packages[*]}")
if ! debootstrap --variant=minbase --include="$include" --cache-dir="$cache/debs" \
	--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
	"$suite" "$rootfs" "$(mirror)" >"$image.tmp/debootstrap.log" 2>&1; then
	tail -n 20 "$image.tmp/debootstrap.log" >&2
	die "debootstrap failed (log: $image.tmp/debootstrap.log)"
fi

say "unpacking ${unpacked[*]}"
(cd "$aptdir/cache/archives" && apt-get "${apt_opts[@]}" -qq download "${unpacked[@]}" >/dev/null)
for p in "${unpacked[@]}"; do
	dpkg-deb -x "$(ls "$aptdir"/cache/archives/"${p}"_*.deb | tail -n 1)" "$rootfs"
done

# The UML kernel's modules where modprobe looks for them.
kver=$(ls "$rootfs/usr/lib/uml/modules")
[ -n "$kver" ] || die "user-mode-linux shipped no modules"
mkdir -p "$rootfs/lib/modules"
ln -sfn "/usr/lib/uml/modules/$kver" "$rootfs/lib/modules/$kver"
chroot "$rootfs" depmod -a "$kver"

# A read-only root needs its mount points; everything else is tmpfs at boot.
mkdir -p "$rootfs/lab/src" "$rootfs/lab/out" "$rootfs/lab/run"
install -m 0755 "$here/guest/hasync-init" "$rootfs/hasync-init"

# Trim what a lab never reads.
rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/lib/apt/lists/* \
	"$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

# The kernel binary the host runs. Trixie's linux.uml needs glibc >= 2.38:
# on an older host, a copy whose interpreter and library path point into the
# rootfs runs with the rootfs' own glibc.
cp "$rootfs/usr/bin/linux.uml" "$image.tmp/linux.uml"
host_glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
if [ "$(printf '%s\n2.38\n' "$host_glibc" | sort -V | head -n 1)" != 2.38 ]; then
	say "host glibc $host_glibc < 2.38: pointing linux.uml at the rootfs' glibc"
	patchelf --set-interpreter "$image/rootfs/lib64/ld-linux-x86-64.so.2" \
		--set-rpath "$image/rootfs/lib/x86_64-linux-gnu:$image/rootfs/usr/lib/x86_64-linux-gnu" \
		"$image.tmp/linux.uml"
fi

chroot "$rootfs" dpkg-query -W >"$image.tmp/packages.txt"
cp "$aptdir/versions.txt" "$image.tmp/versions.txt"
echo "$kver" >"$image.tmp/kernel-version"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f\n", e - s}' >"$image.tmp/build-seconds"
mv "$image.tmp" "$image"
touch "$image/ready"
ln -sfn "$(basename "$image")" "$cache/current"
say "built $image in $(cat "$image/build-seconds") s ($(du -sh "$image/rootfs" | cut -f1))"

# Older images are stale now; the one before is kept, since a guest started
# a moment ago may still be running from it.
ls -dt "$cache"/image-* 2>/dev/null | grep -v '\.tmp$' | tail -n +3 | while read -r old; do
	rm -rf "$old"
done
printf '%s\n' "$image"
