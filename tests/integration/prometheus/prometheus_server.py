"""tests/integration/prometheus/prometheus_server.py - a real Prometheus server for tests:
Debian's /usr/bin/prometheus on 127.0.0.1 (random port) with its own temp storage, a
generated config scraping given targets every second, and rule files evaluated every second.
Also the templating that shortens the shipped alert rules for a test. Standard library only."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("PROMTOOL", "/usr/bin/promtool")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
ALERTS = os.path.join(REPO, "packaging", "prometheus", "greyspf-alerts.yml")
DASHBOARD = os.path.join(REPO, "packaging", "grafana", "greyspf-dashboard.json")
EXAMPLE_CONFIG = os.path.join(REPO, "packaging", "prometheus", "prometheus-example.yml")


def shorten_rules(text, for_="2s", window="10s"):
    """The rule file text with every `for:` set to for_ and every range window [..] to window,
    so alerts meant for minutes fire in seconds against a 1 s scrape interval."""
    text, n_for = re.subn(r"(?m)^(\s+for:\s*)\S+\s*$", lambda m: m.group(1) + for_, text)
    text, n_win = re.subn(r"\[\d+[smhdwy]\]", f"[{window}]", text)
    if not n_for or not n_win:
        raise AssertionError(f"rule templating matched nothing: for {n_for}, windows {n_win}")
    return text


def strip_annotations(text):
    """The rule file text without annotations blocks (promtool test rules compares them)."""
    out, skip = [], None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip is not None:
            if not line.strip() or indent > skip:
                continue
            skip = None
        if line.strip() == "annotations:":
            skip = indent
            continue
        out.append(line)
    return "\n".join(out) + "\n"


class Prometheus:
    """One Prometheus process; start() waits for /-/ready, stop() ends it by PID."""

    def __init__(self, job, targets, rules_text=None, interval="1s"):
        from daemon import free_port  # tests/integration/daemon.py, on sys.path
        self.dir = tempfile.mkdtemp(prefix="greyspf-prom-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = os.path.join(self.dir, "prometheus.yml")
        self.log_path = os.path.join(self.dir, "prometheus.log")
        rule_files = []
        if rules_text is not None:
            rules = os.path.join(self.dir, "rules.yml")
            with open(rules, "w") as f:
                f.write(rules_text)
            rule_files.append(rules)
        # JSON is YAML: no YAML library needed
        cfg = {"global": {"scrape_interval": interval, "scrape_timeout": interval,
                          "evaluation_interval": interval},
               "rule_files": rule_files,
               "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}]}
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)
        self.proc = None

    def start(self, timeout=30):
        r = subprocess.run([PROMTOOL, "check", "config", self.config], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise AssertionError(f"promtool check config: {r.stdout}{r.stderr}")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
             "--log.level=warn"],
            stdout=self.logf, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n"
                                     + self.log())
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("prometheus did not become ready:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, path, **params):
        """GET /api/v1/<path>; the "data" member, or AssertionError with Prometheus' error."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                doc = json.load(r)
        except urllib.error.HTTPError as e:
            doc = json.load(e)
        if doc.get("status") != "success":
            raise AssertionError(f"{path} {params}: {doc.get('errorType')}: {doc.get('error')}")
        return doc["data"]

    def query(self, expr):
        """Instant query; the result list ([{"metric": {...}, "value": [t, "v"]}])."""
        return self.api("query", query=expr)["result"]

    def value(self, expr):
        """The single sample of an instant query as float, None if the result is empty."""
        res = self.query(expr)
        if not res:
            return None
        if len(res) != 1:
            raise AssertionError(f"{expr}: {len(res)} series, want 1: {res}")
        return float(res[0]["value"][1])

    def alerts(self, name=None):
        """Active alerts (pending and firing), optionally only those called name."""
        return [a for a in self.api("alerts")["alerts"]
                if name is None or a["labels"].get("alertname") == name]

    def wait_alert(self, name, state="firing", timeout=60.0, poke=None):
        """Poll /api/v1/alerts until alert name is in state; calls poke() between polls.
        Returns the alert; AssertionError after timeout seconds."""
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            got = self.alerts(name)
            seen = [a["state"] for a in got]
            for a in got:
                if a["state"] == state:
                    return a
            if poke:
                poke()
            time.sleep(0.25)
        raise AssertionError(f"alert {name} not {state} within {timeout} s (states {seen})")
