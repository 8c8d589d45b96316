"""tests/integration/daemon.py - start greyspfd on a private config and talk the policy
protocol to it over real sockets. Used by test_daemon.py. Standard library only."""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

GREYSPFD = os.environ.get("GREYSPFD", "")
HERE = os.path.dirname(os.path.abspath(__file__))
LOADTEST = os.environ.get("GREYSPF_LOADTEST", "")


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(client="192.0.2.1", sender="alice@example.org", recipient="bob@example.net",
            queue_id="", instance="1.2.3", **extra):
    """A request as Postfix 3.7 sends it, as bytes."""
    attrs = [
        ("request", "smtpd_access_policy"), ("protocol_state", "RCPT"),
        ("protocol_name", "ESMTP"), ("client_address", client),
        ("client_name", "mail.example.org"), ("client_port", "41234"),
        ("reverse_client_name", "mail.example.org"), ("server_address", "127.0.0.1"),
        ("server_port", "25"), ("helo_name", "mail.example.org"), ("sender", sender),
        ("recipient", recipient), ("recipient_count", "0"), ("queue_id", queue_id),
        ("instance", instance), ("size", "0"), ("etrn_domain", ""), ("stress", ""),
        ("sasl_method", ""), ("sasl_username", ""), ("sasl_sender", ""),
        ("ccert_subject", ""), ("ccert_issuer", ""), ("ccert_fingerprint", ""),
        ("ccert_pubkey_fingerprint", ""), ("encryption_protocol", ""),
        ("encryption_cipher", ""), ("encryption_keysize", "0"), ("policy_context", ""),
    ]
    keys = {k for k, _ in attrs}
    for k, v in extra.items():
        if k in keys:
            attrs = [(n, v if n == k else old) for n, old in attrs]
        else:
            attrs.append((k, v))
    return "".join(f"{k}={v}\n" for k, v in attrs).encode() + b"\n"


# Temp dirs of daemons that ended cleanly are removed when the test process exits (each
# can hold a RocksDB store). A dir stays when its daemon exited non-zero, was killed, is
# still running, or logged a sanitizer report, and always with GREYSPF_KEEP_TEST_DIRS=1.
_DAEMONS = []


def _remove_clean_dirs():
    if os.environ.get("GREYSPF_KEEP_TEST_DIRS"):
        return
    for d in _DAEMONS:
        if d.ended_cleanly():
            shutil.rmtree(d.dir, True)


atexit.register(_remove_clean_dirs)


class Daemon:
    """One greyspfd process with its own temp dir, config and log file."""

    def __init__(self, policy=None, server=None, listen=None, spf=None, dns=None,
                 greylist=None, wrap=None):
        self.dir = tempfile.mkdtemp(prefix="greyspf-it-")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "greyspf.conf")
        self.log_path = os.path.join(self.dir, "greyspfd.log")
        self.listen = listen or [f"inet:127.0.0.1:{self.port}"]
        # metrics off unless a test asks (the default port would clash between tests)
        self.control = os.path.join(self.dir, "control.sock")
        self.server = {"state_dir": self.dir, "workers": "2", "log_level": "info",
                       "metrics": "", "control": self.control}
        self.server.update(server or {})
        self.policy = {"skip_loopback": "no", "default_action": "DUNNO"}
        self.policy.update(policy or {})
        # SPF off unless a test brings its own DNS server: DNS never leaves the machine
        self.spf = {"enabled": "no"}
        self.spf.update(spf or {})
        self.dns = dict(dns or {})
        # greylisting off unless a test asks: the other tests keep their meaning
        self.greylist = {"enabled": "no"}
        self.greylist.update(greylist or {})
        self.wrap = list(wrap or [])  # a command prefix, e.g. nsenter into a mount namespace
        self.proc = None
        self.dirty = False  # some run of it ended badly: keep the dir (see _DAEMONS)
        _DAEMONS.append(self)
        self.write_config()

    def write_config(self, policy=None, server=None, raw=None):
        if raw is not None:
            text = raw
        else:
            if policy:
                self.policy.update(policy)
            if server:
                self.server.update(server)
            lines = ["[server]"] + [f"listen = {l}" for l in self.listen]
            lines += [f"{k} = {v}" for k, v in self.server.items()]
            lines += ["[policy]"] + [f"{k} = {v}" for k, v in self.policy.items()]
            lines += ["[spf]"] + [f"{k} = {v}" for k, v in self.spf.items()]
            if self.dns:
                lines += ["[dns]"] + [f"{k} = {v}" for k, v in self.dns.items()]
            lines += ["[greylist]"] + [f"{k} = {v}" for k, v in self.greylist.items()]
            text = "\n".join(lines) + "\n"
        with open(self.conf + ".tmp", "w") as f:
            f.write(text)
        os.rename(self.conf + ".tmp", self.conf)

    def start(self):
        if self.proc and self.proc.poll() != 0:
            self.dirty = True
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.wrap + [GREYSPFD, "-f", "-c", self.conf],
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"greyspfd exited with {self.proc.returncode}:\n"
                                     + self.log())
            if "server: ready" in self.log():
                return self
            time.sleep(0.02)
        raise AssertionError("greyspfd did not become ready:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5.0, count=1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(re.findall(pattern, self.log())) >= count:
                return True
            time.sleep(0.02)
        return False

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("greyspfd did not stop on SIGTERM")
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def ended_cleanly(self):
        """Every run exited 0 (none killed or still running) and the log has no sanitizer
        report."""
        if self.proc and self.proc.poll() != 0:
            self.dirty = True
        return not self.dirty and not re.search(r"Sanitizer|runtime error:", self.log())

    def connect(self, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s


def read_reply(sock):
    """One reply ("action=...\\n\\n") as text, or None on EOF before any byte."""
    buf = b""
    while not buf.endswith(b"\n\n"):
        chunk = sock.recv(1)
        if not chunk:
            if buf:
                raise AssertionError(f"connection closed mid-reply: {buf!r}")
            return None
        buf += chunk
    return buf.decode()


def ask(sock, req):
    sock.sendall(req)
    return read_reply(sock)


def closed_without_reply(sock, timeout=5.0):
    """True if the peer closes the connection without sending a byte."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return data == b""


class DnsServer:
    """tests/integration/dns/dns_server.py on a random loopback port, serving zone files
    (default: spf_daemon/zone.txt, the SPF test data)"""

    def __init__(self, *zones):
        zones = zones or (os.path.join(HERE, "spf_daemon", "zone.txt"),)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "dns", "dns_server.py"), *zones],
            stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
