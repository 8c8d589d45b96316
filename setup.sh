#!/usr/bin/env bash
# setup.sh - the two set-up commands of the README, for a fresh Debian 12 machine (as root):
#   ./setup.sh run    install build dependencies, build, run greyspfd in the foreground with
#                     packaging/greyspf.conf.example (listens on 127.0.0.1:10023)
#   ./setup.sh test   install build and test dependencies, build, run every test with ctest
#                     (normal -Werror build: all tiers; ASan+UBSan and TSan builds: unit,
#                     replay and integration; the .deb built, installed, checked and purged;
#                     a libFuzzer build runs each fuzz target briefly)
# Options for test: --quick (normal build only), --label L (ctest -L L).
set -euo pipefail
cd "$(dirname "$0")"
JOBS=$(nproc)

BUILD_DEPS=(build-essential cmake pkg-config libinih-dev libjemalloc-dev libcmocka-dev
    libunbound-dev librocksdb-dev libpcre2-dev dns-root-data)
TEST_DEPS=(clang libclang-rt-14-dev python3 python3-dnslib python3-yaml ldnsutils iproute2
    util-linux procps curl swaks postfix prometheus dpkg-dev debhelper fakeroot lintian
    systemd man-db)

apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup.sh: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    # Postfix unconfigured: no main.cf, nothing started (tests run private instances)
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # Packages must not start their services (prometheus, postfix would listen beyond
    # loopback): tests start every server themselves. policy-rc.d 101 = "action forbidden".
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' >$policy
        chmod 755 $policy
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    [ $made_policy -eq 1 ] && rm -f $policy
    return 0
}

build() { # build DIR [cmake args...]
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
}

cmd=${1:-}
shift || true
case "$cmd" in
run)
    apt_install "${BUILD_DEPS[@]}"
    build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    exec ./build/engine/greyspfd -f -c packaging/greyspf.conf.example
    ;;
test)
    quick=0
    label=()
    while [ $# -gt 0 ]; do
        case "$1" in
        --quick) quick=1 ;;
        --label) label=(-L "$2"); shift ;;
        *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
        esac
        shift
    done
    apt_install "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}"
    build build -DWERROR=ON
    (cd build && ctest --output-on-failure -j "$JOBS" "${label[@]}")
    if [ $quick -eq 0 ]; then
        build build-asan -DWERROR=ON -DSANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug
        (cd build-asan && ctest --output-on-failure -j "$JOBS" -L 'unit|fuzz|replay|integration')
        build build-tsan -DWERROR=ON -DSANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
        (cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j "$JOBS" -L 'unit|integration')
        sh tests/packaging/deb_test.sh
        CC=clang build build-fuzz -DFUZZ=ON -DSANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug
        for f in build-fuzz/tests/fuzz/fuzz_*; do
            [ -x "$f" ] || continue
            name=$(basename "$f")
            echo "fuzz: $name for 20 s"
            mkdir -p "build-fuzz/corpus-$name"
            "$f" -max_total_time=20 -print_final_stats=1 "build-fuzz/corpus-$name" \
                "tests/fuzz/corpus/$name" 2>&1 | tail -3
        done
    fi
    echo "setup.sh: all tests passed"
    ;;
*)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
