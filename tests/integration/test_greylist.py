"""tests/integration/test_greylist.py - greylisting in greyspfd over real sockets, with the
RocksDB store in the daemon's state_dir and a 2 s delay: defer then pass, the reply text and
header, whitelist files reloaded on SIGHUP (a broken one keeps the running config), enabling
greylisting by reload, metrics, 8 connections racing on one new triplet (one record, counts
that add up), crash safety: under load, kill -9, restart on the same state_dir, and every
triplet whose DEFER reply arrived before the kill passes when retried after the delay; a
SIGHUP storm under load (greyspf-loadtest, GREYSPF_LOADTEST; `greyspf counts`, GREYSPF); and a
full disk (a 48 MB tmpfs in a private mount namespace; root only): writes refused under
min_free_disk and resumed, a real ENOSPC survived, acknowledged records kept.
Records are read back from the stopped daemon's store with greylist_kv_dump (GREYLIST_KV_DUMP).
SPF stays off: no DNS at all."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from daemon import LOADTEST, Daemon, ask, free_port, request  # noqa: E402

DUMP = os.environ.get("GREYLIST_KV_DUMP", "")
GREYSPF = os.environ.get("GREYSPF", "")  # the admin command
DELAY = 2
DEFER = "action=DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in "


def rcpt(client="192.0.2.10", sender="alice@example.org", recipient="bob@example.net", **kw):
    return request(client=client, sender=sender, recipient=recipient, **kw)


def dump(d):
    """The live records of d's (stopped) store: list of (kind, key, state, passes)."""
    out = subprocess.run([DUMP, os.path.join(d.dir, "greylist")], capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"greylist_kv_dump: {out.stderr}")
    rows = []
    for line in out.stdout.splitlines():
        kind, key, st, _first, _last, passes, _exp = line.split(" ")
        rows.append((kind, key, st, int(passes)))
    return rows


def metric(d, name, labels):
    body = urllib.request.urlopen(f"http://127.0.0.1:{d.metrics_port}/metrics",
                                  timeout=5).read().decode()
    m = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", body, re.M)
    return float(m.group(1)) if m else None


class GreylistTest(unittest.TestCase):
    def start(self, greylist=None, server=None, **kw):
        g = {"enabled": "yes", "delay": f"{DELAY}s"}
        g.update(greylist or {})
        srv = dict(server or {})
        self.metrics_port = free_port()
        srv.setdefault("metrics", f"127.0.0.1:{self.metrics_port}")
        self.d = Daemon(greylist=g, server=srv, **kw)
        self.d.metrics_port = self.metrics_port
        self.d.start()
        return self.d

    def tearDown(self):
        if getattr(self, "d", None) and self.d.proc and self.d.proc.poll() is None:
            rc = self.d.stop()
            self.assertEqual(rc, 0, self.d.log()[-3000:])

    def check(self, sock, req, want_prefix):
        got = ask(sock, req)
        self.assertTrue(got is not None and got.startswith(want_prefix),
                        f"got {got!r}, want {want_prefix!r}...")
        return got


class TestBasics(GreylistTest):
    def test_defer_then_pass(self):
        d = self.start(greylist={"x_greylist_header": "yes"})
        s = d.connect()
        self.check(s, rcpt(), DEFER + f"{DELAY} seconds\n\n")
        got = self.check(s, rcpt(), DEFER)
        left = int(got[len(DEFER):].split()[0])
        self.assertIn(left, (1, 2))
        # other protocol states are not greylisted
        self.check(s, rcpt(protocol_state="MAIL", recipient=""), "action=DUNNO\n\n")
        time.sleep(DELAY + 0.2)
        self.check(s, rcpt(instance="m2"), "action=PREPEND X-Greylist: delayed ")
        self.check(s, rcpt(instance="m3"), "action=DUNNO\n\n")
        # another host of the same /24 is the same client
        self.check(s, rcpt(client="192.0.2.200", instance="m4"), "action=DUNNO\n\n")
        self.check(s, rcpt(client="192.0.3.1", instance="m5"), DEFER)
        self.assertEqual(metric(d, "greyspf_greylist_decisions_total", '{decision="new"}'), 2)
        self.assertEqual(metric(d, "greyspf_greylist_decisions_total", '{decision="early"}'), 1)
        self.assertEqual(metric(d, "greyspf_greylist_decisions_total", '{decision="passed"}'), 3)
        self.assertEqual(metric(d, "greyspf_kv_operations_total",
                                '{op="update",result="error"}'), 0)
        self.assertIsNotNone(metric(d, "greyspf_kv_keys", ""))
        self.assertGreater(metric(d, "greyspf_kv_memtable_bytes", ""), 0)  # the writes above
        self.assertIsNotNone(metric(d, "greyspf_kv_block_cache_bytes", ""))
        self.assertIsNotNone(metric(d, "greyspf_kv_table_readers_bytes", ""))
        self.assertTrue(d.wait_log(r"stage=greylist reason=new notes=greylist=new left=2"))
        self.assertTrue(d.wait_log(r"notes=greylist=passed delayed=[23] "))
        s.close()
        self.assertEqual(d.stop(), 0)
        rows = dump(d)
        self.assertIn(("t", "192.0.2.0/24|alice@example.org|bob@example.net", "passed", 3),
                      rows)
        self.assertIn(("t", "192.0.3.0/24|alice@example.org|bob@example.net", "pending", 0),
                      rows)
        self.assertIn(("a", "192.0.2.0/24", "awl", 1), rows)

    def test_awl_across_restart(self):
        """auto-whitelisted networks survive a restart: the daemon reads them into its AWL
        hint, so only requests from networks that may be whitelisted read the AWL record"""
        d = self.start(greylist={"auto_whitelist_after": "1"})
        s = d.connect()
        self.check(s, rcpt(), DEFER)
        time.sleep(DELAY + 0.2)
        self.check(s, rcpt(instance="m2"), "action=DUNNO\n\n")  # the pass: AWL count 1
        s.close()
        self.assertEqual(d.stop(), 0)
        d.start()  # the log already says both lines once: wait for the second of each
        self.assertTrue(d.wait_log(r"server: ready", count=2), d.log())
        self.assertTrue(d.wait_log(r"auto-whitelisted networks read in \d+ ms", count=2),
                        d.log())
        s = d.connect()

        def gets():
            return metric(d, "greyspf_kv_operations_total", '{op="get",result="ok"}') or 0

        g0 = gets()
        self.check(s, rcpt(client="192.0.2.77", sender="new@example.com", instance="m3"),
                   "action=DUNNO\n\n")
        self.assertEqual(gets(), g0 + 1)  # the AWL record, read
        self.check(s, rcpt(client="198.51.100.7", sender="new@example.com", instance="m4"),
                   DEFER + f"{DELAY} seconds")
        self.assertEqual(gets(), g0 + 1)  # ruled out by the hint: no read
        self.assertTrue(d.wait_log(r"notes=greylist=awl "), d.log())
        s.close()

    def test_learning_and_text(self):
        d = self.start(greylist={"learning": "yes"})
        s = d.connect()
        self.check(s, rcpt(), "action=DUNNO\n\n")
        self.assertTrue(d.wait_log(r"notes=greylist=learning:new left=2"))
        s.close()
        d.greylist.update({"learning": "no", "action": "451 4.7.1",
                           "text": "{domain} greylists you, retry in {seconds}s"})
        d.write_config()
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"config: reloaded"))
        s = d.connect()
        self.check(s, rcpt(recipient="x@Mail.Example.NET"),
                   "action=451 4.7.1 Mail.Example.NET greylists you, retry in 2s\n\n")
        time.sleep(DELAY + 0.2)
        self.check(s, rcpt(), "action=DUNNO\n\n")  # learned while learning
        s.close()

    def test_enable_by_reload(self):
        d = self.start(greylist={"enabled": "no"})
        s = d.connect()
        self.check(s, rcpt(), "action=DUNNO\n\n")
        self.assertFalse(os.path.exists(os.path.join(d.dir, "greylist")))
        d.greylist["enabled"] = "yes"
        d.write_config()
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"config: reloaded"))
        self.check(s, rcpt(instance="m2"), DEFER)
        self.assertTrue(os.path.isdir(os.path.join(d.dir, "greylist")))
        s.close()


class TestWhitelists(GreylistTest):
    def test_files_and_reload(self):
        d = self.start()
        clients = os.path.join(d.dir, "clients")
        recipients = os.path.join(d.dir, "recipients")
        with open(clients, "w") as f:
            f.write("# test list\n203.0.113.0/24\n/^mx[0-9]+\\.pool\\.example$/\n")
        with open(recipients, "w") as f:
            f.write("postmaster@\n")
        d.greylist.update({"whitelist_clients": clients, "whitelist_recipients": recipients})
        d.write_config()
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"config: reloaded"))
        s = d.connect()
        self.check(s, rcpt(client="203.0.113.9"), "action=DUNNO\n\n")
        self.check(s, rcpt(client="198.51.100.1", client_name="mx12.pool.example"),
                   "action=DUNNO\n\n")
        self.check(s, rcpt(client="198.51.100.1", client_name="unknown"), DEFER)
        self.check(s, rcpt(client="198.51.100.1", recipient="postmaster@example.net"),
                   "action=DUNNO\n\n")
        self.assertEqual(metric(d, "greyspf_greylist_decisions_total",
                                '{decision="whitelisted"}'), 3)
        # a broken list: the reload fails and the running lists stay
        with open(clients, "w") as f:
            f.write("203.0.113.0/24\nnot a hostname\n")
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"reload failed, keeping the running configuration: .*"
                                   r"whitelist_clients: .*clients:2: \"not a hostname\""))
        self.check(s, rcpt(client="203.0.113.10", instance="m2"), "action=DUNNO\n\n")
        # fixed list with another network: effective after SIGHUP
        with open(clients, "w") as f:
            f.write("192.0.2.0/24\n")
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"config: reloaded", count=2))
        self.check(s, rcpt(client="192.0.2.99", instance="m3"), "action=DUNNO\n\n")
        self.check(s, rcpt(client="203.0.113.11", instance="m4"), DEFER)
        s.close()


class TestConcurrency(GreylistTest):
    def test_same_new_triplet_on_8_connections(self):
        d = self.start(greylist={"auto_whitelist_after": "0"}, server={"workers": "4"})
        conns = [d.connect() for _ in range(8)]
        req = rcpt(sender="race@example.org", recipient="same@example.net")
        barrier = threading.Barrier(8)
        replies = [None] * 8

        def one(i):
            barrier.wait()
            replies[i] = ask(conns[i], req)

        for rnd in range(2):
            threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            if rnd == 0:
                self.assertTrue(all(r and r.startswith(DEFER) for r in replies), replies)
                time.sleep(DELAY + 0.2)
            else:
                self.assertEqual(replies.count("action=DUNNO\n\n"), 8, replies)
        self.assertEqual(metric(d, "greyspf_greylist_decisions_total", '{decision="new"}'), 1)
        self.assertEqual(metric(d, "greyspf_greylist_decisions_total", '{decision="early"}'), 7)
        self.assertEqual(metric(d, "greyspf_greylist_decisions_total", '{decision="passed"}'),
                         8)
        for c in conns:
            c.close()
        self.assertEqual(d.stop(), 0)
        rows = dump(d)
        self.assertEqual(rows, [("t", "192.0.2.0/24|race@example.org|same@example.net",
                                 "passed", 8)])


class TestCrashSafety(GreylistTest):
    def test_kill_9_under_load(self):
        # no AWL: a network's later triplets must pass on their own records
        d = self.start(greylist={"auto_whitelist_after": "0"}, server={"workers": "2"})
        deferred = set()
        lock = threading.Lock()
        stop = threading.Event()

        def load(n):
            try:
                with d.connect() as s:
                    load_on(n, s)
            except OSError:
                return

        def load_on(n, s):
            i = 0
            while not stop.is_set():
                key = (f"198.51.{n}.7", f"s{i}@load.example", f"r{n}-{i}@example.net")
                s.sendall(rcpt(client=key[0], sender=key[1], recipient=key[2]))
                buf = b""
                while not buf.endswith(b"\n\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        return  # the daemon died mid-request: not acknowledged
                    buf += chunk
                if buf.decode().startswith(DEFER):
                    with lock:
                        deferred.add(key)
                i += 1

        threads = [threading.Thread(target=load, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        d.proc.kill()  # SIGKILL: no drain, no flush
        d.proc.wait()
        killed_at = time.time()
        stop.set()
        for t in threads:
            t.join(30)
        with lock:
            acked = set(deferred)
        self.assertGreater(len(acked), 200, "too little load to mean anything")
        d.logf.close()
        d.start()  # the same config and state_dir
        time.sleep(max(0, killed_at + DELAY + 0.2 - time.time()))
        s = d.connect()
        lost = []
        for key in sorted(acked):
            got = ask(s, rcpt(client=key[0], sender=key[1], recipient=key[2]))
            if got != "action=DUNNO\n\n":
                lost.append((key, got))
        s.close()
        self.assertEqual(lost[:5], [], f"{len(lost)} of {len(acked)} acknowledged triplets "
                                       "forgotten after kill -9")
        print(f"\ncrash safety: {len(acked)} deferred triplets before kill -9, all known after "
              "restart", file=sys.stderr)


class TestReloadUnderLoad(GreylistTest):
    def test_reload_storm_under_load(self):
        """SIGHUP every 20 ms while 64 connections keep two I/O threads and the workers'
        batches full, with scrapes and admin commands in between: every request answered
        with the deferral it must get, every reload done, a clean exit (under TSan: no report;
        this load once overflowed TSan's per-thread count of held mutexes)."""
        self.assertTrue(LOADTEST, "GREYSPF_LOADTEST not set")
        self.assertTrue(GREYSPF, "GREYSPF (the admin command) not set")
        d = self.start(server={"io_threads": "2", "log_decisions": "no"})
        lt = subprocess.Popen([LOADTEST, "--connect", f"inet:127.0.0.1:{d.port}", "-c", "64",
                               "-d", "4", "--mix", "repeat:3", "--seed", "7", "--json"],
                              stdout=subprocess.PIPE, text=True)
        reloads = 0
        deadline = time.time() + 3.5
        while time.time() < deadline:
            d.signal(signal.SIGHUP)
            reloads += 1
            time.sleep(0.02)
            if reloads % 25 == 0:
                self.assertIsNotNone(metric(d, "greyspf_kv_keys", ""))
                c = subprocess.run([GREYSPF, "-s", d.control, "counts"], capture_output=True,
                                   text=True, timeout=10)
                self.assertEqual(c.returncode, 0, c.stdout + c.stderr)
        out, _ = lt.communicate(timeout=60)
        self.assertEqual(lt.returncode, 0, out)
        r = json.loads(out)
        self.assertEqual(r["errors"]["total"], 0, r["errors"])
        self.assertEqual(r["unexpected"], 0)
        self.assertGreater(r["requests"], 1000)
        self.assertEqual(list(r["actions"]), ["DEFER_IF_PERMIT"], r["actions"])
        self.assertTrue(d.wait_log("config: reloaded", timeout=10, count=reloads),
                        f"fewer than {reloads} reloads logged")
        self.assertEqual(d.stop(), 0, d.log()[-3000:])


class TestFullDisk(GreylistTest):
    """The store on a 48 MB tmpfs mounted in a private mount namespace, which a sleeping
    process holds so that the daemon can be restarted into it (nsenter). Mounting needs
    root; CI runs as root."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: mounts a small tmpfs in a private mount namespace")
        self.holder = subprocess.Popen(["unshare", "-m", "--propagation", "private",
                                        "sleep", "600"])
        self.addCleanup(self.holder.wait)
        self.addCleanup(self.holder.kill)
        ours = os.readlink("/proc/self/ns/mnt")
        deadline = time.time() + 5
        while os.readlink(f"/proc/{self.holder.pid}/ns/mnt") == ours:
            self.assertLess(time.time(), deadline, "unshare -m did not take effect")
            time.sleep(0.01)
        self.enter = ["nsenter", "-t", str(self.holder.pid), "-m", "--"]
        self.store = tempfile.mkdtemp(prefix="greyspf-full-")  # empty out here
        self.addCleanup(shutil.rmtree, self.store, True)
        self.ns("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", self.store)

    def ns(self, *argv):
        return subprocess.run(self.enter + list(argv), capture_output=True, text=True,
                              timeout=30, check=True).stdout

    def free(self):
        return int(self.ns("df", "-B1", "--output=avail", self.store).split()[-1])

    def fill(self, leave):
        """a filler file that leaves about `leave` bytes free"""
        self.ns("fallocate", "-l", str(max(4096, self.free() - leave)),
                os.path.join(self.store, "filler"))

    def start_on_tmpfs(self, min_free):
        # no AWL: the triplets that failed open must not pass on their network's record
        return self.start(greylist={"min_free_disk": min_free, "auto_whitelist_after": "0"},
                          server={"state_dir": self.store}, wrap=self.enter)

    def test_writes_refused_under_min_free_then_resumed(self):
        d = self.start_on_tmpfs("8m")
        s = d.connect()
        acked = [rcpt(sender=f"a{i}@example.org") for i in range(20)]
        for r in acked:
            self.check(s, r, DEFER)
        self.fill(leave=4 << 20)
        time.sleep(0.3)  # the guard looks at most every 100 ms, at a write
        for i in range(20):  # not written, so not deferred: greylisting fails open
            self.check(s, rcpt(sender=f"b{i}@example.org"), "action=DUNNO\n\n")
        self.assertTrue(d.wait_log(r"MB free, under min_free_disk \(8 MB\): store writes "
                                   r"refused"))
        self.assertEqual(metric(d, "greyspf_kv_low_disk", ""), 1)
        self.assertLess(metric(d, "greyspf_kv_disk_free_bytes", ""), 8 << 20)
        self.assertTrue(GREYSPF, "GREYSPF (the admin command) not set")
        r = subprocess.run([GREYSPF, "-s", d.control, "whitelist", "add", "client",
                            "192.0.2.99"], capture_output=True, text=True, timeout=10)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("whitelist add: the store failed: state store I/O error (store writes "
                      "refused: less than min_free_disk is free", r.stdout + r.stderr)
        self.ns("rm", os.path.join(self.store, "filler"))
        time.sleep(0.3)
        self.check(s, rcpt(sender="c0@example.org"), DEFER)
        self.assertTrue(d.wait_log(r"MB free again: store writes resumed"))
        self.assertEqual(metric(d, "greyspf_kv_low_disk", ""), 0)
        s.close()
        self.assertEqual(d.stop(), 0)
        d.start()  # same namespace, same store
        time.sleep(DELAY + 0.2)
        s = d.connect()
        for i, r in enumerate(acked):  # acknowledged before the disk filled: known
            self.check(s, r.replace(b"instance=1.2.3", f"instance=r{i}".encode()),
                       "action=DUNNO\n\n")
        self.check(s, rcpt(sender="b0@example.org"), DEFER)  # failed open: never stored
        s.close()

    def test_full_disk_without_guard_stops_writes_and_keeps_running(self):
        """min_free_disk = 0: RocksDB itself meets ENOSPC. Debian's librocksdb aborted the
        process (an assertion) at its next LOG line or our next WAL sync, before its LOG was
        limited to the header and writes stopped at the first failure."""
        d = self.start_on_tmpfs("0")
        s = d.connect()
        acked = [rcpt(sender=f"a{i}@example.org") for i in range(20)]
        for r in acked:
            self.check(s, r, DEFER)
        self.fill(leave=0)
        got, n = None, 0
        while n < 20000:  # until a write fails: then the request passes unchecked
            got = ask(s, rcpt(sender=f"f{n}@example.org"))
            n += 1
            if got != DEFER + f"{DELAY} seconds\n\n":
                break
        self.assertEqual(got, "action=DUNNO\n\n", f"after {n} requests on a full disk")
        self.assertTrue(d.wait_log(r"No space left on device"))
        self.assertTrue(d.wait_log(r"store writes stopped after a failed write"))
        time.sleep(1.5)  # the WAL sync each second must not touch the failed writer
        self.check(s, rcpt(sender="g0@example.org"), "action=DUNNO\n\n")
        self.assertEqual(metric(d, "greyspf_kv_write_failed", ""), 1)
        s.close()
        self.assertEqual(d.stop(), 0)
        self.ns("rm", os.path.join(self.store, "filler"))
        d.start()  # a restart reopens the store: writes work again, nothing acked is lost
        time.sleep(DELAY + 0.2)
        s = d.connect()
        for i, r in enumerate(acked):
            self.check(s, r.replace(b"instance=1.2.3", f"instance=r{i}".encode()),
                       "action=DUNNO\n\n")
        self.check(s, rcpt(sender="h0@example.org"), DEFER)
        self.assertEqual(metric(d, "greyspf_kv_write_failed", ""), 0)
        s.close()


if __name__ == "__main__":
    unittest.main()
