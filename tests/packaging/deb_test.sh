#!/bin/sh
# tests/packaging/deb_test.sh - build the greyspf .deb, install it, check it, purge it.
#
# usage: tests/packaging/deb_test.sh            (as root, on Debian 12; the CI runs it after
#                                                ctest; takes about a minute)
#
# Steps: packaging/build-deb.sh builds from a copy of the tree (the shared tree is never
# touched); dpkg -i installs it with a policy-rc.d that forbids service starts (no daemon
# may be left listening on the test machine), apt-get -f pulls missing dependencies; then
# the checks below; then dpkg --purge, and checks that the package left nothing behind but
# the greyspf user (Debian keeps system users on purge). Packages apt-get installed for the
# test are purged again, and a policy-rc.d that was there before is put back.
# Output: one PASS/FAIL/INFO line per check, a summary, the run time. Exit 0 when every check
# passed, 1 when one failed, 2 when the test could not run (not root, greyspf already
# installed, ...).
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
start=$(date +%s)
fails=0
passes=0
installed=0
prc=/usr/sbin/policy-rc.d
prc_backup=""
work=""

pass() { passes=$((passes + 1)); echo "PASS: $*"; }
fail() { fails=$((fails + 1)); echo "FAIL: $*"; }
info() { echo "INFO: $*"; }
# check NAME CMD... - PASS when CMD succeeds, else FAIL with its output
check() {
    name=$1
    shift
    if out=$("$@" 2>&1); then
        pass "$name"
    else
        fail "$name: $(printf '%s' "$out" | tail -n 5 | tr '\n' ' ')"
    fi
}

cleanup() {
    if [ "$installed" = 1 ]; then
        dpkg --purge greyspf >/dev/null 2>&1 || true
    fi
    if [ -n "$work" ] && [ -s "$work/pkgs.new" ]; then
        # dependencies apt-get -f installed for this test only
        xargs apt-get purge -y -qq <"$work/pkgs.new" >/dev/null 2>&1 || true
    fi
    rm -f "$prc"
    if [ -n "$prc_backup" ]; then
        mv "$prc_backup" "$prc"
    fi
    [ -n "$work" ] && rm -rf "$work"
}

finish() {
    cleanup
    trap - EXIT
    end=$(date +%s)
    echo "deb_test: $passes passed, $fails failed in $((end - start))s"
    if [ "$fails" -eq 0 ]; then
        echo "PASS: deb_test"
        exit 0
    fi
    echo "FAIL: deb_test"
    exit 1
}

# --- preconditions ------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "deb_test: must run as root (dpkg -i)" >&2
    exit 2
fi
for tool in dpkg-buildpackage dh systemd-analyze man; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "deb_test: $tool missing (apt-get install dpkg-dev debhelper systemd man-db)" >&2
        exit 2
    fi
done
status=$(dpkg-query -W -f='${db:Status-Status}' greyspf 2>/dev/null || true)
if [ -n "$status" ] && [ "$status" != not-installed ]; then
    echo "deb_test: greyspf is already installed ($status); not touching it" >&2
    exit 2
fi
if [ -e /etc/greyspf ]; then
    echo "deb_test: /etc/greyspf exists without the package; not touching it" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/greyspf-debtest.XXXXXX")
trap finish EXIT
trap 'exit 1' INT TERM
user_before=no
getent passwd greyspf >/dev/null && user_before=yes

# --- build --------------------------------------------------------------------------------
if deb=$("$src/packaging/build-deb.sh" "$work/out" 2>"$work/build.err"); then
    pass "dpkg-buildpackage -us -uc -b ($(basename "$deb"))"
else
    fail "dpkg-buildpackage: $(tail -n 20 "$work/build.err")"
    finish
fi
if command -v lintian >/dev/null 2>&1; then
    lint=$(lintian --fail-on error,warning "$deb" 2>&1 | grep -v 'running with root privileges')
    if [ -z "$lint" ]; then
        pass "lintian: no errors or warnings"
    else
        fail "lintian: $(echo "$lint" | tr '\n' ' ')"
    fi
else
    info "lintian not installed: skipped"
fi

# --- install (no service may start) -------------------------------------------------------
if [ -e "$prc" ]; then
    prc_backup="$work/policy-rc.d.orig"
    cp -p "$prc" "$prc_backup"
fi
printf '#!/bin/sh\n# deb_test.sh: no service starts during the test\nexit 101\n' >"$prc"
chmod 755 "$prc"
dpkg-query -W -f='${binary:Package}\n' | sort >"$work/pkgs.before"
installed=1
if dpkg -i "$deb" >"$work/install.log" 2>&1; then
    pass "dpkg -i"
elif DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q --no-install-recommends \
    >>"$work/install.log" 2>&1; then
    dpkg-query -W -f='${binary:Package}\n' | sort >"$work/pkgs.after"
    comm -13 "$work/pkgs.before" "$work/pkgs.after" | grep -vx greyspf >"$work/pkgs.new"
    pass "dpkg -i, then apt-get -f for: $(tr '\n' ' ' <"$work/pkgs.new")"
else
    fail "install: $(tail -n 10 "$work/install.log" | tr '\n' ' ')"
    finish
fi
status=$(dpkg-query -W -f='${db:Status-Status}' greyspf 2>/dev/null)
check "package state is installed (got $status)" test "$status" = installed

# --- checks -------------------------------------------------------------------------------
check "greyspfd --check-config -c /etc/greyspf/greyspf.conf" \
    /usr/sbin/greyspfd --check-config -c /etc/greyspf/greyspf.conf
check "greyspf version" sh -c '/usr/bin/greyspf version | grep -q "^greyspf "'
check "/etc/greyspf/greyspf.conf is a conffile" \
    sh -c "dpkg-query -W -f='\${Conffiles}' greyspf | grep -q ' /etc/greyspf/greyspf.conf '"
check "systemd-analyze verify greyspf.service greyspf.socket" \
    systemd-analyze verify /lib/systemd/system/greyspf.service /lib/systemd/system/greyspf.socket
sec=$(systemd-analyze security --offline=true /lib/systemd/system/greyspf.service 2>&1 |
    grep 'Overall exposure level' | sed 's/.*: //')
case "$sec" in
*PERFECT* | *SAFE* | *OK*) pass "systemd-analyze security: $sec" ;;
*) fail "systemd-analyze security: got \"$sec\", want OK or better" ;;
esac
for u in multi-user.target.wants/greyspf.service sockets.target.wants/greyspf.socket; do
    check "enabled: /etc/systemd/system/$u" test -L "/etc/systemd/system/$u"
done
running=$(for e in /proc/[0-9]*/exe; do
    if [ "$(readlink "$e" 2>/dev/null)" = /usr/sbin/greyspfd ]; then
        p=${e#/proc/}
        echo "${p%/exe}"
    fi
done)
if [ -z "$running" ]; then
    pass "no greyspfd started by the install"
else
    fail "/usr/sbin/greyspfd runs after the install (pid $(echo "$running" | tr '\n' ' '))"
fi

check "user greyspf exists" getent passwd greyspf
if id -nG greyspf 2>/dev/null | tr ' ' '\n' | grep -qx postfix; then
    pass "greyspf is in group postfix"
else
    fail "greyspf is not in group postfix (groups: $(id -nG greyspf 2>&1))"
fi
home=$(getent passwd greyspf | cut -d: -f6)
check "greyspf's home is /var/lib/greyspf (got $home)" test "$home" = /var/lib/greyspf
spool=/var/spool/postfix/greyspf
if [ ! -d "$spool" ]; then
    info "$spool missing after postinst: running systemd-tmpfiles --create greyspf.conf"
    systemd-tmpfiles --create greyspf.conf >/dev/null 2>&1 || true
fi
got=$(stat -c '%U:%G %a' "$spool" 2>&1)
check "$spool is greyspf:postfix 750 (got $got)" test "$got" = "greyspf:postfix 750"
for page in greyspfd greyspf "5 greyspf.conf"; do
    # shellcheck disable=SC2086 # "5 greyspf.conf" is two words on purpose
    check "man -w $page" man -w $page
done
check "README and example config in /usr/share/doc/greyspf" \
    test -e /usr/share/doc/greyspf/README.md.gz -a \
    -e /usr/share/doc/greyspf/greyspf.conf.example.gz

# --- purge --------------------------------------------------------------------------------
check "dpkg --purge greyspf" dpkg --purge greyspf
installed=0
status=$(dpkg-query -W -f='${db:Status-Status}' greyspf 2>/dev/null || echo not-installed)
check "package state after purge is not-installed (got $status)" test "$status" = not-installed
for p in /etc/greyspf /var/lib/greyspf "$spool" /lib/systemd/system/greyspf.service \
    /etc/systemd/system/multi-user.target.wants/greyspf.service \
    /etc/systemd/system/sockets.target.wants/greyspf.socket /usr/sbin/greyspfd; do
    check "gone after purge: $p" test ! -e "$p" -a ! -L "$p"
done
if [ "$user_before" = no ] && getent passwd greyspf >/dev/null; then
    info "user greyspf kept after purge (Debian policy for system users)"
fi
finish
