#!/bin/sh
# tests/unit/metrics/promtool_check.sh SAMPLE_BIN - lint a live /metrics scrape with promtool.
# Starts SAMPLE_BIN (metrics_sample: a populated registry on 127.0.0.1:<free port>), fetches
# /metrics with curl, checks status and Content-Type, and runs `promtool check metrics`
# (rc 0 clean, 3 lint problems, 1 parse error). Stops only the process it started.
set -u
bin=${1:?usage: promtool_check.sh METRICS_SAMPLE_BINARY}
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v promtool >/dev/null 2>&1 ||
    fail "promtool not found: install Debian's prometheus package (apt-get install prometheus)"
command -v curl >/dev/null 2>&1 || fail "curl not found: apt-get install curl"

tmp=$(mktemp -d) || fail "mktemp"
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
"$bin" >"$tmp/port" &
pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do
    kill -0 "$pid" 2>/dev/null || fail "$bin exited before serving"
    sleep 0.1
    i=$((i + 1))
done
port=$(head -n1 "$tmp/port")
[ -n "$port" ] || fail "$bin printed no port"

code=$(curl -sS -m 10 -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' \
    "http://127.0.0.1:$port/metrics") || fail "curl http://127.0.0.1:$port/metrics"
[ "$code" = 200 ] || fail "GET /metrics: got status $code, want 200"
tr -d '\r' <"$tmp/headers" | grep -qix 'Content-Type: text/plain; version=0.0.4; charset=utf-8' ||
    fail "GET /metrics: wrong Content-Type: $(grep -i '^content-type' "$tmp/headers")"
[ "$(tail -c1 "$tmp/body" | od -An -c | tr -d ' ')" = '\n' ] || fail "body does not end with a newline"
grep -q '^greyspf_build_info{version="0.1.0~test"} 1$' "$tmp/body" || fail "no greyspf_build_info"

promtool check metrics <"$tmp/body"
rc=$?
[ $rc -eq 0 ] || fail "promtool check metrics: rc $rc (1 parse error, 3 lint problems)"
echo "ok: promtool check metrics clean on $(wc -l <"$tmp/body") lines"
