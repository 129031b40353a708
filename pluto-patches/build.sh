#!/usr/bin/env bash
# Builds pluto, whack and addconn from Debian 13's Libreswan 5.2 orig tarball
# with our patch series, in a trixie build chroot, and caches the binaries.
#
# Only the upstream orig tarball of Debian's source package is served by the
# mirror (the .dsc and .debian.tar.xz are not), so the tarball is fetched by
# apt's own downloader and checked against the sha256 of the signed trixie
# Sources index, and upstream's makefiles build it with the settings of
# Debian's packaging. The result lives in $HASYNC_LAB_CACHE/pluto-KEY, KEY a
# hash of the tarball's sha256, the series, the patches and this script, so a
# second run with nothing changed only checks the index. Prints that
# directory on stdout (pluto, whack, addconn, version, ready); progress goes
# to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${HASYNC_LAB_CACHE:-/var/cache/hasync-lab}
suite=trixie
srcpkg=libreswan
jobs=${PLUTO_JOBS:-2}
# The programs the lab replaces: pluto and the two tools version-locked to it
# (whack's messages carry a magic number derived from the build).
programs=(pluto whack addconn)

say() { printf 'pluto-build: %s\n' "$*" >&2; }
die() { printf 'pluto-build: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "building needs root (debootstrap, chroot)"
for tool in debootstrap apt-get apt-cache sha256sum flock unshare patch; do
	command -v "$tool" >/dev/null || die "$tool is missing (run: tools/install-deps lab)"
done
apt_helper=/usr/lib/apt/apt-helper
[ -x "$apt_helper" ] || die "$apt_helper is missing"

# The mirror apt already uses on this host; never written into the repository.
mirror() { "$here/../tools/debian-mirror" || die "no Debian mirror to build from"; }

# ------------------------------------------------------------ the source

# apt pointed at trixie's Sources without touching the host's configuration.
aptdir=$cache/apt-$suite-src
apt_opts=(-o Dir::Etc::sourcelist="$aptdir/sources.list" -o Dir::Etc::sourceparts=-
	  -o Dir::State::Lists="$aptdir/lists" -o Dir::Cache="$aptdir/cache"
	  -o Dir::State::status=/dev/null -o Debug::NoLocking=1
	  -o APT::Architecture=amd64 -o Acquire::Languages=none
	  -o APT::Sandbox::User=root)
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$cache/pluto-dist"
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
	"$(mirror)" "$suite" >"$aptdir/sources.list"

# apt verifies the InRelease signature, so the checksums read from the
# Sources index below are Debian's own.
if ! apt-get "${apt_opts[@]}" -qq update >/dev/null 2>"$aptdir/update.err"; then
	say "apt update for $suite sources failed ($(tail -n 1 "$aptdir/update.err")); using the cached index"
fi
record=$(apt-cache "${apt_opts[@]}" showsrc --only-source "$srcpkg" 2>/dev/null |
	awk 'NF == 0 {exit} {print}') || true
[ -n "$record" ] || die "no $srcpkg in the $suite Sources index (and none cached)"

field() { printf '%s\n' "$record" | awk -v f="$1:" '$1 == f {sub(/^[^:]*: */, ""); print; exit}'; }
version=$(field Version)
directory=$(field Directory)
# The orig tarball's line in Checksums-Sha256: " SHA256 SIZE NAME".
read -r tar_sha tar_size tarball < <(printf '%s\n' "$record" |
	awk '/^Checksums-Sha256:/ {on = 1; next} /^[^ ]/ {on = 0}
	     on && $3 ~ /\.orig\.tar\.(gz|xz|bz2)$/ {print $1, $2, $3; exit}') ||
	die "no orig tarball in the Sources record of $srcpkg $version"
[ -n "$version" ] && [ -n "$directory" ] || die "incomplete Sources record for $srcpkg"

tarpath=$cache/pluto-dist/$tarball
if [ ! -f "$tarpath" ] || [ "$(sha256sum <"$tarpath" | cut -d' ' -f1)" != "$tar_sha" ]; then
	say "fetching $tarball ($tar_size bytes)"
	rm -f "$tarpath"
	# apt's own downloader: same mirror, proxies and hash check as apt.
	"$apt_helper" -o APT::Sandbox::User=root download-file \
		"$(mirror)/$directory/$tarball" "$tarpath.part" "SHA256:$tar_sha" >&2 ||
		die "cannot fetch $tarball"
	mv "$tarpath.part" "$tarpath"
fi
[ "$(sha256sum <"$tarpath" | cut -d' ' -f1)" = "$tar_sha" ] ||
	die "$tarball does not match the sha256 of the $suite Sources index"

# ------------------------------------------------------------ the key

# The series in quilt's format: one patch a line, '#' comments, no options.
patches=()
while read -r line; do
	line=${line%%#*}
	set -- $line
	[ $# -gt 0 ] || continue
	[ $# -eq 1 ] || die "series: options after a patch name are not supported: $line"
	[ -f "$here/$1" ] || die "series names $1, which is not in $here"
	patches+=("$1")
done < <(cat "$here/series" 2>/dev/null || true)

key=$({
	printf '%s\n' "$tar_sha"
	cat "$here/series" 2>/dev/null || true
	for p in "${patches[@]}"; do
		printf '== %s\n' "$p"
		cat "$here/$p"
	done
	cat "$0"
} | sha256sum | cut -c1-16)
out=$cache/pluto-$key

if [ -f "$out/ready" ]; then
	say "cached build $out"
	printf '%s\n' "$out"
	exit 0
fi

# One build at a time: the chroot is shared.
exec 9>"$cache/pluto-build.lock"
flock 9
if [ -f "$out/ready" ]; then
	printf '%s\n' "$out"
	exit 0
fi
start=$(date +%s.%N)

# ------------------------------------------------------------ the chroot

# Keyed on the source package's version and build dependencies, so a patch
# change reuses it and a new Debian upload gets a fresh one.
build_deps=$(field Build-Depends)
chroot_key=$(printf '%s\n%s\n%s\n' "$suite" "$version" "$build_deps" | sha256sum | cut -c1-12)
chroot_dir=$cache/pluto-chroot-$chroot_key

# in_chroot CMD...: runs in the chroot with /proc, in a private mount namespace
# so nothing stays mounted if the build dies.
in_chroot() {
	unshare --mount --propagation private -- sh -c '
		c=$1; shift
		mount -t proc proc "$c/proc"
		exec chroot "$c" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
			LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' sh "$chroot_dir" "$@"
}

if [ ! -f "$chroot_dir/ready" ]; then
	say "debootstrap $suite build chroot into $chroot_dir"
	rm -rf "$chroot_dir"
	mkdir -p "$cache/pluto-debs"
	if ! debootstrap --variant=buildd --include=ccache --cache-dir="$cache/pluto-debs" \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		"$suite" "$chroot_dir" "$(mirror)" >"$cache/pluto-chroot-$chroot_key.log" 2>&1; then
		tail -n 20 "$cache/pluto-chroot-$chroot_key.log" >&2
		die "debootstrap failed (log: $cache/pluto-chroot-$chroot_key.log)"
	fi
	printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
		"$(mirror)" "$suite" >>"$chroot_dir/etc/apt/sources.list"
	say "installing the build dependencies of $srcpkg $version"
	{
		in_chroot apt-get -q update &&
		in_chroot apt-get -q -y --no-install-recommends build-dep "$srcpkg" &&
		in_chroot apt-get clean
	} >>"$cache/pluto-chroot-$chroot_key.log" 2>&1 ||
		die "build-dep failed (log: $cache/pluto-chroot-$chroot_key.log)"
	printf '%s %s\n' "$srcpkg" "$version" >"$chroot_dir/ready"
	for old in "$cache"/pluto-chroot-*; do
		[ "$old" = "$chroot_dir" ] || [ ! -d "$old" ] || rm -rf "$old"
	done
fi

# What the patches need beyond libreswan's own build dependencies (0007
# parses the agent's JSON with json-c). Checked on every build, so a chroot
# made before a patch needed it gets it too.
patch_deps=(libjson-c-dev)
missing=()
for p in "${patch_deps[@]}"; do
	in_chroot dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	say "installing ${missing[*]} for the patches"
	{
		in_chroot apt-get -q update &&
		in_chroot apt-get -q -y --no-install-recommends install "${missing[@]}" &&
		in_chroot apt-get clean
	} >>"$cache/pluto-chroot-$chroot_key.log" 2>&1 ||
		die "installing ${missing[*]} failed (log: $cache/pluto-chroot-$chroot_key.log)"
fi

# ------------------------------------------------------------ the build

# A fixed path, so ccache hits across keys (builds are serialised above).
work=/build/src
rm -rf "${chroot_dir:?}$work"
mkdir -p "$chroot_dir$work"
tar -xzf "$tarpath" -C "$chroot_dir$work"
srcdir=$(cd "$chroot_dir$work" && ls -d "$srcpkg"-*/ | head -n 1)
srcdir=${srcdir%/}
[ -n "$srcdir" ] || die "$tarball holds no $srcpkg-* directory"
for p in "${patches[@]}"; do
	say "applying $p"
	patch -d "$chroot_dir$work/$srcdir" -p1 --fuzz=0 --no-backup-if-mismatch -s <"$here/$p" ||
		die "$p does not apply to $srcdir"
done

# The settings of Debian's packaging (upstream's packaging/debian/rules), so
# the binaries use the paths and features of the archive's package they
# replace; the version names our build so the lab can tell which one runs.
make_vars=("CC=ccache gcc" ARCH=amd64 "IPSECVERSION=${version}+hasync.${key:0:8}" PREFIX=/usr
	   LIBEXECDIR=/usr/libexec/ipsec MANDIR=/usr/share/man USE_LDAP=true
	   INITSYSTEM=systemd USE_LIBCAP_NG=true USE_LABELED_IPSEC=true
	   USE_LINUX_AUDIT=true)
say "building ${programs[*]} ($srcdir, -j$jobs)"
log=$chroot_dir$work/build.log
# The libraries first, then only the programs we ship.
if ! in_chroot sh -c '
	set -e
	cd "$1"; shift
	jobs=$1; shift
	export CCACHE_DIR=/var/cache/ccache
	make -j"$jobs" -C lib "$@" base
	for p in pluto whack addconn; do
		make -j"$jobs" -C programs/$p "$@" base
	done' sh "$work/$srcdir" "$jobs" "${make_vars[@]}" >"$log" 2>&1; then
	grep -E 'error|Error' "$log" | head -n 20 >&2 || tail -n 20 "$log" >&2
	die "build failed (log: $log)"
fi

rm -rf "$out.tmp"
mkdir -p "$out.tmp"
for p in "${programs[@]}"; do
	bin=$(ls "$chroot_dir$work/$srcdir"/OBJ.*/programs/"$p/$p" 2>/dev/null | head -n 1)
	[ -n "$bin" ] && [ -x "$bin" ] || die "the build left no $p"
	install -m 0755 "$bin" "$out.tmp/$p"
done
{
	printf 'source %s %s %s\n' "$srcpkg" "$version" "$tarball"
	printf 'sha256 %s\n' "$tar_sha"
	printf 'patches %s\n' "${patches[*]:-none}"
	printf 'ipsecversion %s\n' "${version}+hasync.${key:0:8}"
} >"$out.tmp/version"
cp "$log" "$out.tmp/build.log"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f\n", e - s}' >"$out.tmp/build-seconds"
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/ready"
ln -sfn "$(basename "$out")" "$cache/pluto-current"
rm -rf "${chroot_dir:?}$work"
say "built $out in $(cat "$out/build-seconds") s"

# Keep the last few builds (a patch being worked on flips between them).
ls -dt "$cache"/pluto-*/ 2>/dev/null | grep -E '/pluto-[0-9a-f]{16}/$' | tail -n +6 |
	while read -r old; do rm -rf "$old"; done
printf '%s\n' "$out"
