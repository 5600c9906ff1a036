#!/usr/bin/env bash
# Downloads and unpacks the guest kernels pinned in kernels/kernels.list into
# $TRACEJOB_CACHE/kernels/<name>/ (vmlinuz, loop.ko), with a private apt configuration
# so the host's apt setup is never touched. Already unpacked kernels are not fetched again.
# The archive is the host's own Debian mirror (from its apt sources), or $TRACEJOB_DEBIAN_MIRROR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${TRACEJOB_CACHE:-/var/cache/tracejob}/kernels
mkdir -p "$cache"

mirror_of() { # the first URIs/deb line of the host's sources whose path ends in $1
	cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
		grep -Eo "https?://[^ ]*/$1/?( |$)" | sed -n '1{s: ::g;s:/$::;p}' || true
}
mirror=${TRACEJOB_DEBIAN_MIRROR:-$(mirror_of debian)}
[ -n "$mirror" ] || { echo "fetch.sh: no Debian mirror in the host's apt sources: set TRACEJOB_DEBIAN_MIRROR" >&2; exit 1; }

missing=()
while read -r name suite package version sha256; do
	case "$name" in ''|'#'*) continue ;; esac
	[ -s "$cache/$name/vmlinuz" ] && [ "$(cat "$cache/$name/package" 2>/dev/null)" = "$package=$version" ] && continue
	missing+=("$name $suite $package $version $sha256")
done < "$here/kernels.list"
[ ${#missing[@]} -eq 0 ] && exit 0

apt=$cache/.apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
: > "$apt/sources.list"
for entry in "${missing[@]}"; do
	set -- $entry
	suite=$2
	grep -q " $suite " "$apt/sources.list" && continue
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >> "$apt/sources.list"
done
opts=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o APT::Architecture=amd64
	-o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${opts[@]}" -qq update
for entry in "${missing[@]}"; do
	set -- $entry
	name=$1 package=$3 version=$4 sha256=$5
	# _apt cannot write under a root-owned cache; the download is checked by sha256 below.
	(cd "$apt/debs" && apt-get "${opts[@]}" -qq download "$package=$version") || {
		echo "fetch.sh: $package=$version is no longer in the archive: pin the current version in kernels/kernels.list" >&2
		exit 1
	}
	deb=$(ls "$apt/debs/${package}_"*.deb | head -1)
	echo "$sha256  $deb" | sha256sum -c --quiet - || { echo "fetch.sh: $deb does not match its pinned sha256" >&2; exit 1; }
	rm -rf "$cache/$name" && mkdir -p "$cache/$name/root"
	dpkg-deb -x "$deb" "$cache/$name/root"
	cp "$cache/$name/root"/boot/vmlinuz-* "$cache/$name/vmlinuz"
	# The loop driver (a module in Debian's cloud kernels) gives blockio a block device.
	module=$(find "$cache/$name/root" -name 'loop.ko*' | head -1)
	case "$module" in
	*.xz) xz -dc "$module" > "$cache/$name/loop.ko" ;;
	*.zst) zstd -qdc "$module" > "$cache/$name/loop.ko" ;;
	*) cp "$module" "$cache/$name/loop.ko" ;;
	esac
	rm -rf "$cache/$name/root"
	echo "$package=$version" > "$cache/$name/package"
	rm -f "$deb"
	echo "fetched $name: $package=$version"
done
