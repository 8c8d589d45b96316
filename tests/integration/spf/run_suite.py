#!/usr/bin/python3
"""run_suite.py - run an OpenSPF conformance suite through `greyspf spf` and real DNS.

For each scenario of the suite YAML, suite_dns.py (same folder, 127.0.0.1, random port) is
switched to that scenario's zonedata, then every test of the scenario runs, --jobs at a time:
  greyspf spf --ip HOST --sender MAILFROM --helo HELO --dns 127.0.0.1@PORT --no-dnssec
              --dns-timeout S --default-exp DEFAULT
stdout line 1 must be one of the test's result words; for fail with an `explanation` in the
test, line 2 must equal it (DEFAULT = the default explanation, set to the literal "DEFAULT").
A test named in --exceptions may differ (reported, not counted as a failure).

Output: one line per unexpected outcome,
  "<scenario> / <test>: got X, want Y (spec S)"
then "<suite>: P/N passed" (+ allowed differences). Exit 0 when everything passed or differed
only as allowed, 1 on any unexpected failure, 2 on a setup error.
"""

import argparse
import concurrent.futures
import os
import select
import subprocess
import sys
import time

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("run_suite.py: needs Debian python3-yaml (/usr/bin/python3)")

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")


def load_suite(path):
    """load_suite - [(index, description, tests dict)] for the non-empty YAML documents."""
    with open(path, "rb") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return [(i, d.get("description", "scenario %d" % i), d.get("tests") or {})
            for i, d in enumerate(docs)]


def load_exceptions(path):
    """load_exceptions - {test name: reason}; '#' starts a comment, blank lines skipped."""
    out = {}
    if not path:
        return out
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, reason = line.partition(" ")
            if not reason.strip():
                raise ValueError("%s:%d: test name without a reason" % (path, n))
            out[name] = reason.strip()
    return out


class Server:
    """Server - suite_dns.py child process driven over its stdin/stdout."""

    def __init__(self, verbose_log=None):
        cmd = [sys.executable, os.path.join(HERE, "suite_dns.py"), "--control", "stdin"]
        self.log = open(verbose_log, "a") if verbose_log else subprocess.DEVNULL
        if verbose_log:
            cmd.append("-v")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        line = self._readline()
        if not line.startswith("PORT "):
            raise RuntimeError("suite_dns.py said %r, want PORT <n>" % line)
        self.port = int(line.split()[1])

    def _readline(self, timeout=20):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            raise RuntimeError("suite_dns.py did not answer within %ss" % timeout)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("suite_dns.py exited (rc %s)" % self.proc.poll())
        return line.strip()

    def load(self, suite, index):
        self.proc.stdin.write("LOAD %s %d\n" % (suite, index))
        self.proc.stdin.flush()
        line = self._readline()
        if not line.startswith("OK"):
            raise RuntimeError("LOAD %s %d: %s" % (suite, index, line))

    def close(self):
        try:
            self.proc.stdin.write("QUIT\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        if self.log is not subprocess.DEVNULL:
            self.log.close()


def as_list(v):
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


def run_test(args, port, test, trace=False):
    """run_test - run the CLI once: (result word or None, explanation, detail, seconds)."""
    cmd = [args.greyspf, "spf", "--ip", str(test["host"]), "--sender", str(test["mailfrom"]),
           "--helo", str(test["helo"]), "--dns", "127.0.0.1@%d" % port, "--no-dnssec",
           "--dns-timeout", str(args.dns_timeout), "--default-exp", "DEFAULT"]
    if trace:
        cmd.append("--trace")
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=args.kill_after)
    except subprocess.TimeoutExpired:
        return None, None, "no result after %ss (killed)" % args.kill_after, args.kill_after
    secs = time.monotonic() - t0
    out = p.stdout.decode("utf-8", "backslashreplace").split("\n")
    err = p.stderr.decode("utf-8", "backslashreplace").strip()
    if p.returncode != 0:
        return None, None, "exit %d%s" % (p.returncode, (": " + err.splitlines()[0]) if err
                                          else ""), secs
    word = out[0].strip()
    if word not in RESULTS:
        return None, None, "line 1 is %r, not a result word" % out[0], secs
    expl = out[1].rstrip("\r") if len(out) > 1 else ""
    return word, expl, "\n".join(out[2:]).rstrip() if trace else "", secs


def check(args, port, scenario, name, test):
    """check - (name, ok, message) for one suite test."""
    want = as_list(test["result"])
    word, expl, detail, secs = run_test(args, port, test)
    spec = test.get("spec", "?")
    spec = ", ".join(as_list(spec)) if isinstance(spec, list) else spec
    head = "%s / %s" % (scenario, name)
    if word is None:
        return name, False, "%s: got no result (%s), want %s (spec %s)" % (
            head, detail, "|".join(want), spec)
    if word not in want:
        return name, False, "%s: got %s, want %s (spec %s)" % (head, word, "|".join(want), spec)
    if word == "fail" and "explanation" in test and expl != str(test["explanation"]):
        return name, False, "%s: got fail %r, want fail %r (spec %s)" % (
            head, expl, str(test["explanation"]), spec)
    if secs > args.max_seconds:
        return name, False, "%s: got %s after %.1fs, want it within %ss (spec %s)" % (
            head, word, secs, args.max_seconds, spec)
    return name, True, ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--greyspf", required=True, help="the greyspf CLI binary")
    ap.add_argument("--suite", required=True, help="suite YAML (rfc7208-tests.yml, ...)")
    ap.add_argument("--exceptions", help="test names allowed to differ: 'name reason' lines")
    ap.add_argument("--jobs", type=int, default=8, help="tests run in parallel")
    ap.add_argument("--dns-timeout", type=float, default=2, help="passed to greyspf spf")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="slower results fail (default 3 * dns-timeout + 2)")
    ap.add_argument("--kill-after", type=float, default=60, help="kill a CLI run after S")
    ap.add_argument("--only", action="append", default=[], help="run only this test (repeat)")
    ap.add_argument("--trace-failures", action="store_true",
                    help="re-run failing tests with --trace and print the trace")
    ap.add_argument("--dns-log", help="append suite_dns.py's query log to this file")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every test")
    args = ap.parse_args()
    if args.max_seconds is None:
        args.max_seconds = 3 * args.dns_timeout + 2
    if args.dns_timeout == int(args.dns_timeout):
        args.dns_timeout = int(args.dns_timeout)
    label = os.path.basename(args.suite).split(".")[0].replace("-tests", "")
    for path, what in ((args.greyspf, "--greyspf"), (args.suite, "--suite")):
        if not os.path.isfile(path):
            print("%s: %s %s: no such file" % (label, what, path))
            return 2
    try:
        scenarios = load_suite(args.suite)
        exceptions = load_exceptions(args.exceptions)
        server = Server(args.dns_log)
    except Exception as e:
        print("%s: setup failed: %s" % (label, e))
        return 2

    all_names = {n for _, _, tests in scenarios for n in tests}
    for name in sorted(set(exceptions) - all_names):
        print("%s: exceptions file names unknown test %r" % (label, name))
    total = passed = allowed = 0
    unexpected = []
    t_start = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            for index, desc, tests in scenarios:
                selected = {n: t for n, t in tests.items() if not args.only or n in args.only}
                if not selected:
                    continue
                server.load(os.path.abspath(args.suite), index)
                futs = [pool.submit(check, args, server.port, desc, n, t)
                        for n, t in selected.items()]
                for fut in futs:  # suite order, one scenario at a time
                    name, ok, msg = fut.result()
                    total += 1
                    if ok:
                        passed += 1
                        if name in exceptions:
                            print("%s / %s: passes; exception no longer needed (%s)"
                                  % (desc, name, exceptions[name]))
                        elif args.verbose:
                            print("%s / %s: ok" % (desc, name))
                        continue
                    if name in exceptions:
                        allowed += 1
                        print("%s [allowed: %s]" % (msg, exceptions[name]))
                        continue
                    unexpected.append(name)
                    print(msg)
                    if args.trace_failures:
                        _, _, trace, _ = run_test(args, server.port, selected[name], trace=True)
                        for line in trace.splitlines():
                            print("    | " + line)
                sys.stdout.flush()
    except Exception as e:
        print("%s: aborted: %s" % (label, e))
        return 2
    finally:
        server.close()
    extra = " (%d allowed difference%s)" % (allowed, "" if allowed == 1 else "s") if allowed \
        else ""
    print("%s: %d/%d passed%s" % (label, passed, total, extra))
    print("%s: %.0f s, %d jobs, --dns-timeout %s" % (label, time.monotonic() - t_start,
                                                     args.jobs, args.dns_timeout))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
