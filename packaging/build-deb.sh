#!/bin/sh
# packaging/build-deb.sh - build the greyspf .deb from a copy of the source tree.
#
# usage: packaging/build-deb.sh [OUTDIR]   (default: $TMPDIR/greyspf-deb-out; created if needed)
#
# The tree (git's tracked and untracked-but-not-ignored files, or everything but build
# directories when there is no git) is copied to a temporary directory, debian/ is linked to
# packaging/debian there, and `dpkg-buildpackage -us -uc -b` runs in the copy, so the shared
# tree never gets a debian/ link or an obj-*/ directory. The .deb, .buildinfo and .changes
# files are copied to OUTDIR; the temporary directory is removed. Needs debhelper, cmake and
# the Build-Depends of packaging/debian/control. Set KEEP=1 to keep the temporary directory.
# Exit status: 0 when the package was built, 1 otherwise.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${TMPDIR:-/tmp}/greyspf-deb-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
upstream=${version%-*}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/greyspf-deb.XXXXXX")
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then
        echo "build-deb: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

tree="$tmp/greyspf-$upstream"
mkdir "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked files plus new files not yet committed, minus what .gitignore names (build*/,
    # obj-*/, /debian); files deleted in the work tree but still tracked are skipped
    # shellcheck disable=SC2016 # $f belongs to the inner shell
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do if [ -e "$f" ]; then printf "%s\0" "$f"; fi; done' sh |
        tar --null -T - -cf -) | tar -C "$tree" -xf -
else
    (cd "$src" && tar --exclude='./build*' --exclude='./obj-*' --exclude='./debian' \
        --exclude='./.git' -cf - .) | tar -C "$tree" -xf -
fi
ln -s packaging/debian "$tree/debian"

jobs=$(nproc 2>/dev/null || echo 1)
echo "build-deb: building greyspf $version in $tree" >&2
(cd "$tree" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$jobs}" \
    dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 || {
    tail -n 60 "$tmp/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed (log above)" >&2
    exit 1
}
for f in "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.changes; do
    [ -e "$f" ] && cp "$f" "$out/"
done
cp "$tmp/build.log" "$out/build.log"
ls "$out"/greyspf_"$version"_*.deb
