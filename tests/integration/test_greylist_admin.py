"""tests/integration/test_greylist_admin.py - the greylisting admin commands of a running
greyspfd through its real control socket (`greyspf list/show/delete/counts/whitelist`, text and
--json), and migration from a real postgrey: Debian's /usr/sbin/postgrey runs in a network
namespace of its own (unshare --net, lo up: nothing it does can leave the machine) on
127.0.0.1 with --delay=1 and its own db dir; it sees triplets and passes some; stopped by
PID, its databases are dumped with db_dump -p, `greyspf import-postgrey` loads them into a
fresh state_dir, and greyspfd started on it passes at once what postgrey had passed and
defers the ones postgrey had only seen with fewer seconds left than a new triplet gets.
SPF stays off in greyspfd: no DNS at all. Needs root for the namespace and postgrey's user."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from daemon import Daemon, ask, free_port, request  # noqa: E402

GREYSPF = os.environ.get("GREYSPF", "")
DELAY = 2
DEFER = "action=DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in "
POSTGREY = "/usr/sbin/postgrey"
DB_DUMP = shutil.which("db_dump") or shutil.which("db5.3_dump")


def rcpt(client, sender, recipient, **kw):
    return request(client=client, sender=sender, recipient=recipient, **kw)


class AdminTest(unittest.TestCase):
    def greyspf(self, *args, check=None):
        r = subprocess.run([GREYSPF, "-s", self.d.control, *args], capture_output=True,
                           text=True, timeout=30)
        if check is not None:
            self.assertEqual(r.returncode, check,
                             f"greyspf {' '.join(args)}: rc {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def records(self, *filters):
        """`greyspf list` as (state, client, sender, recipient, passes) tuples"""
        out = self.greyspf("list", *filters, check=0).stdout
        rows = []
        for line in out.splitlines():
            if line.startswith("("):
                continue
            f = line.split(" ")
            self.assertEqual(len(f), 8, line)
            self.assertRegex(f[4], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            rows.append((f[0], f[1], f[2], f[3], int(f[6])))
        return rows

    def tearDown(self):
        if getattr(self, "d", None) and self.d.proc and self.d.proc.poll() is None:
            rc = self.d.stop()
            self.assertEqual(rc, 0, self.d.log()[-3000:])

    def expect(self, sock, req, want_prefix):
        got = ask(sock, req)
        self.assertTrue(got is not None and got.startswith(want_prefix),
                        f"got {got!r}, want {want_prefix!r}...")
        return got


@unittest.skipUnless(GREYSPF, "GREYSPF not set")
class TestAdmin(AdminTest):
    def start(self):
        self.d = Daemon(greylist={"enabled": "yes", "delay": f"{DELAY}s"})
        self.addCleanup(shutil.rmtree, self.d.dir, True)
        self.d.start()
        return self.d

    def test_list_show_counts_delete(self):
        d = self.start()
        s = d.connect()
        alice = ("192.0.2.10", "alice@example.org", "bob@example.net")
        carol = ("198.51.100.7", "", "carol@example.net")
        self.expect(s, rcpt(*alice), DEFER + f"{DELAY} seconds")
        self.expect(s, rcpt(*carol), DEFER + f"{DELAY} seconds")
        time.sleep(DELAY + 0.2)
        self.expect(s, rcpt(*alice, instance="m2"), "action=DUNNO")
        want = {("passed", "192.0.2.0/24", "alice@example.org", "bob@example.net", 1),
                ("pending", "198.51.100.0/24", "<>", "carol@example.net", 0),
                ("awl", "192.0.2.0/24", "-", "-", 1)}
        self.assertEqual(set(self.records()), want)
        self.assertEqual(self.records("state=pending"),
                         [("pending", "198.51.100.0/24", "<>", "carol@example.net", 0)])
        self.assertEqual(len(self.records("client=192.0.2.99")), 2)
        self.assertEqual(self.records("sender=Alice@Example.ORG", "recipient=bob@example.net"),
                         [("passed", "192.0.2.0/24", "alice@example.org", "bob@example.net", 1)])
        out = self.greyspf("list", "limit=1", check=0).stdout
        self.assertTrue(out.endswith("(truncated at 1)\n"), out)
        # JSON
        j = json.loads(self.greyspf("list", "--json", check=0).stdout)
        self.assertEqual(j["count"], 3)
        self.assertFalse(j["truncated"])
        byst = {r["state"]: r for r in j["records"]}
        self.assertEqual(byst["passed"]["sender"], "alice@example.org")
        self.assertEqual(byst["pending"]["sender"], "")
        self.assertGreaterEqual(byst["passed"]["last_seen_s"] - byst["passed"]["first_seen_s"],
                                DELAY)
        self.assertIsNone(byst["awl"]["recipient"])
        # show: the key as the daemon builds it (an address means its network)
        out = self.greyspf("show", "192.0.2.200", "Alice@example.org", "BOB@example.net",
                           check=0).stdout.splitlines()
        self.assertEqual(len(out), 2, out)
        self.assertTrue(out[0].startswith("passed 192.0.2.0/24 alice@example.org "
                                          "bob@example.net "), out)
        self.assertTrue(out[1].startswith("awl 192.0.2.0/24 - - "), out)
        j = json.loads(self.greyspf("show", *carol[:1], "<>", carol[2], "--json",
                                    check=0).stdout)
        self.assertEqual(j["triplet"]["state"], "pending")
        self.assertIsNone(j["awl"])
        r = self.greyspf("show", "192.0.2.10", "nobody@example.org", "bob@example.net", check=1)
        self.assertIn("error: no record for client 192.0.2.0/24", r.stderr)
        r = self.greyspf("show", "192.0.0.0/16", "a@b", "c@d", check=1)
        self.assertIn("by /24 networks", r.stderr)
        # counts
        self.assertEqual(self.greyspf("counts", check=0).stdout.splitlines()[:4],
                         ["pending 1", "passed 1", "awl 1", "total 3"])
        j = json.loads(self.greyspf("counts", "--json", check=0).stdout)
        self.assertEqual((j["pending"], j["passed"], j["awl"], j["total"]), (1, 1, 1, 3))
        self.assertGreaterEqual(j["keys_estimate"], 0)
        # delete: the next attempt is a first attempt again
        self.assertEqual(self.greyspf("delete", *alice, check=0).stdout, "deleted 1\n")
        self.greyspf("show", *alice, check=1)
        self.expect(s, rcpt(*alice, instance="m3"), DEFER + f"{DELAY} seconds")
        # a whole network: its triplets and its AWL record
        self.assertEqual(self.greyspf("delete", "client=192.0.2.1", check=0).stdout,
                         "deleted 2\n")
        self.assertEqual(self.records("client=192.0.2.0/24"), [])
        j = json.loads(self.greyspf("delete", "client=198.51.100.0/24", "--json",
                                    check=0).stdout)
        self.assertEqual(j, {"deleted": 1})
        self.assertEqual(self.records(), [])
        self.expect(s, rcpt(*carol, instance="m4"), DEFER + f"{DELAY} seconds")
        # help lists the commands; usage errors are errors
        out = self.greyspf("help", check=0).stdout
        for cmd in ("list ", "show ", "delete ", "counts ", "whitelist "):
            self.assertIn("\n" + cmd, out)
        self.assertIn("usage: list", self.greyspf("list", "bogus=1", check=1).stderr)
        # the socket taken from the config file
        r = subprocess.run([GREYSPF, "-c", d.conf, "counts"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        s.close()

    def test_whitelist_commands(self):
        self.start()
        self.assertEqual(self.greyspf("whitelist", "add", "client", "192.0.2.0/24",
                                      check=0).stdout, "added client 192.0.2.0/24\n")
        self.greyspf("whitelist", "add", "recipient", "Postmaster@Example.NET", check=0)
        self.greyspf("whitelist", "add", "client", "mail.example.org", check=0)
        r = self.greyspf("whitelist", "add", "client", "192.0.2.1/24", check=1)
        self.assertIn("not a network", r.stderr)
        out = self.greyspf("whitelist", "list", check=0).stdout.splitlines()
        self.assertEqual([l.rsplit(" ", 1)[0] for l in out],
                         ["client 192.0.2.0/24", "client mail.example.org",
                          "recipient postmaster@example.net"])
        j = json.loads(self.greyspf("whitelist", "list", "client", "--json", check=0).stdout)
        self.assertEqual([e["value"] for e in j], ["192.0.2.0/24", "mail.example.org"])
        self.assertEqual(self.greyspf("whitelist", "remove", "client", "mail.example.org",
                                      check=0).stdout, "removed client mail.example.org\n")
        self.greyspf("whitelist", "remove", "client", "mail.example.org", check=1)
        self.assertIn("whitelist 2\n", self.greyspf("counts", check=0).stdout)

    def test_greylisting_off(self):
        self.d = Daemon()
        self.addCleanup(shutil.rmtree, self.d.dir, True)
        self.d.start()
        r = self.greyspf("counts", check=1)
        self.assertIn("error: greylisting is not enabled", r.stderr)

    def test_whitelisted_client_passes_at_once(self):
        d = self.start()
        self.greyspf("whitelist", "add", "client", "192.0.2.0/24", check=0)
        self.greyspf("whitelist", "add", "recipient", "abuse@example.net", check=0)
        s = d.connect()
        self.expect(s, rcpt("192.0.2.99", "new@example.org", "x@example.net"),
                    "action=DUNNO\n\n")
        self.expect(s, rcpt("198.51.100.1", "new@example.org", "Abuse+x@Example.NET",
                            instance="2"), "action=DUNNO\n\n")
        self.greyspf("whitelist", "remove", "client", "192.0.2.0/24", check=0)
        self.expect(s, rcpt("192.0.2.98", "new@example.org", "x@example.net", instance="3"),
                    DEFER + f"{DELAY} seconds")
        s.close()
        # the entries live in the store: a restarted daemon whitelists at once
        self.greyspf("whitelist", "add", "client", "mail.example.com", check=0)
        self.assertEqual(d.stop(), 0)
        d.start()  # the log already says "ready" once: wait for the second
        self.assertTrue(d.wait_log(r"server: ready", count=2), d.log())
        s = d.connect()
        self.expect(s, rcpt("198.51.100.2", "new@example.org", "abuse@example.net",
                            instance="4"), "action=DUNNO\n\n")
        self.expect(s, rcpt("203.0.113.5", "new@example.org", "x@example.net", instance="5",
                            client_name="mx.Mail.Example.com"), "action=DUNNO\n\n")
        self.expect(s, rcpt("203.0.113.6", "new@example.org", "x@example.net", instance="6",
                            client_name="mail.example.net"), DEFER + f"{DELAY} seconds")
        s.close()


def postgrey_missing():
    for what, ok in (("root", os.geteuid() == 0), (POSTGREY, os.path.exists(POSTGREY)),
                     ("db_dump", DB_DUMP), ("unshare", shutil.which("unshare")),
                     ("nsenter", shutil.which("nsenter")), ("ip", shutil.which("ip")),
                     ("GREYSPF", GREYSPF)):
        if not ok:
            return what
    return None


# the policy client run inside postgrey's namespace: one request per argument triple
CLIENT = r"""
import os, socket, sys
port = int(sys.argv[1])
args = sys.argv[2:]
for i in range(0, len(args), 3):
    ip, snd, rcpt = args[i:i + 3]
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall((f"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address={ip}\n"
               f"client_name=unknown\nsender={snd}\nrecipient={rcpt}\n"
               f"instance={os.getpid()}.{i}\n\n").encode())
    buf = b""
    while not buf.endswith(b"\n\n"):
        c = s.recv(4096)
        if not c:
            break
        buf += c
    print(buf.decode().strip())
    s.close()
"""


class Postgrey:
    """Debian's postgrey in a network namespace of its own, on 127.0.0.1"""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="greyspf-postgrey-")
        os.chmod(self.dir, 0o711)  # postgrey runs as its own user
        self.db = os.path.join(self.dir, "db")
        os.mkdir(self.db)
        shutil.chown(self.db, "postgrey", "postgrey")
        self.port = 10023
        self.log_path = os.path.join(self.dir, "postgrey.log")
        self.logf = open(self.log_path, "wb")
        # unshare and sh exec in place: the PID is postgrey's (it stays in the foreground)
        self.proc = subprocess.Popen(
            ["unshare", "--net", "sh", "-c",
             "ip link set lo up && exec " + POSTGREY + f" --inet=127.0.0.1:{self.port} "
             f"--dbdir={self.db} --delay=1 --whitelist-clients=/dev/null "
             "--whitelist-recipients=/dev/null"],
            stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                text = self.log()
                self.stop()
                shutil.rmtree(self.dir, True)
                raise AssertionError(f"postgrey exited with {self.proc.returncode}:\n" + text)
            if "Binding to TCP port" in self.log() and self.ask_ok():
                return
            time.sleep(0.2)
        text = self.log()
        self.stop()
        shutil.rmtree(self.dir, True)
        raise AssertionError("postgrey did not start:\n" + text)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def ask_ok(self):
        r = subprocess.run(["nsenter", f"--net=/proc/{self.proc.pid}/ns/net", "python3", "-c",
                            "import socket; socket.create_connection(('127.0.0.1', "
                            f"{self.port}), timeout=2).close()"],
                           capture_output=True, timeout=30)
        return r.returncode == 0

    def ask(self, *triplets):
        args = [x for t in triplets for x in t]
        r = subprocess.run(["nsenter", f"--net=/proc/{self.proc.pid}/ns/net", "python3", "-c",
                            CLIENT, str(self.port), *args],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"policy client failed: {r.stderr}\n" + self.log())
        return r.stdout.splitlines()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError("postgrey did not stop on SIGTERM")
        self.logf.close()

    def dump(self, name, out):
        with open(out, "w") as f:
            r = subprocess.run([DB_DUMP, "-p", os.path.join(self.db, name)], stdout=f,
                               stderr=subprocess.PIPE, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"db_dump {name}: {r.stderr}")
        return out


@unittest.skipIf(postgrey_missing(), f"needs {postgrey_missing()}")
class TestMigration(AdminTest):
    NEW_DELAY = 60

    def test_postgrey_to_greyspf(self):
        alice = ("192.0.2.10", "alice@example.org", "bob@example.net")   # passed
        dave = ("2001:db8:1:2::5", "dave+list@example.org", "dave@example.net")  # passed
        carol = ("198.51.100.7", "carol@example.org", "carol@example.net")  # seen only
        erin = ("203.0.113.9", "", "erin@example.net")                    # seen only, <>
        pg = Postgrey()
        self.addCleanup(shutil.rmtree, pg.dir, True)
        try:
            got = pg.ask(alice, dave, carol, erin)
            self.assertEqual(len(got), 4, got)
            for line in got:
                self.assertTrue(line.startswith("action=DEFER_IF_PERMIT"), got)
            seen_at = time.time()
            time.sleep(2.2)  # postgrey --delay=1, in whole seconds
            got = pg.ask(alice, dave, alice)
            self.assertTrue(got[0].startswith("action=PREPEND X-Greylist: delayed"), got)
            self.assertTrue(got[1].startswith("action=PREPEND X-Greylist: delayed"), got)
            self.assertEqual(got[2], "action=DUNNO", got)
        finally:
            pg.stop()
        d1 = pg.dump("postgrey.db", os.path.join(pg.dir, "postgrey.dump"))
        d2 = pg.dump("postgrey_clients.db", os.path.join(pg.dir, "postgrey_clients.dump"))
        with open(d1) as f:
            text = f.read()
        self.assertIn(" 192.0.2.0/alice@example.org/bob@example.net\n", text)
        self.assertIn(" 2001:db8:1:2:0:0:0:0/dave@example.org/dave@example.net\n", text)

        self.d = Daemon(greylist={"enabled": "yes", "delay": f"{self.NEW_DELAY}s"})
        self.addCleanup(shutil.rmtree, self.d.dir, True)
        r = subprocess.run([GREYSPF, "import-postgrey", "-c", self.d.conf, "--delay", "1", d1,
                            d2], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("imported 6: 2 passed triplets, 2 pending triplets, "
                      "2 auto-whitelisted clients\n", r.stdout)
        self.assertIn("postgrey.db: triplets", r.stdout)
        self.assertIn("postgrey_clients.db: auto-whitelisted clients", r.stdout)
        self.assertIn("skipped 0:", r.stdout)

        d = self.d.start()
        s = d.connect()
        # what postgrey had passed passes at once, from any host of the network
        self.expect(s, rcpt(*alice), "action=DUNNO\n\n")
        self.expect(s, rcpt("192.0.2.99", alice[1], alice[2], instance="a2"), "action=DUNNO")
        self.expect(s, rcpt("2001:db8:1:2::77", *dave[1:], instance="a3"), "action=DUNNO")
        # what it had only seen is pending: deferred, with fewer seconds left than a new one
        for i, t in enumerate((carol, erin)):
            got = self.expect(s, rcpt(*t, instance=f"b{i}"), DEFER)
            left = int(got[len(DEFER):].split()[0])
            waited = int(time.time() - seen_at)
            self.assertLess(left, self.NEW_DELAY, got)
            self.assertLessEqual(left, self.NEW_DELAY - waited + 1, got)
        self.expect(s, rcpt("198.51.100.7", "new@example.org", "x@example.net", instance="c"),
                    DEFER + f"{self.NEW_DELAY} seconds")
        s.close()
        rows = set(self.records())
        self.assertIn(("passed", "192.0.2.0/24", "alice@example.org", "bob@example.net", 3), rows)
        self.assertIn(("passed", "2001:db8:1:2::/64", "dave@example.org", "dave@example.net", 2),
                      rows)
        self.assertIn(("pending", "198.51.100.0/24", "carol@example.org", "carol@example.net", 0),
                      rows)
        self.assertIn(("pending", "203.0.113.0/24", "<>", "erin@example.net", 0), rows)
        self.assertIn(("awl", "192.0.2.0/24", "-", "-", 1), rows)
        self.assertIn(("awl", "2001:db8:1:2::/64", "-", "-", 1), rows)
        # the store belongs to the running daemon: a second import is refused
        r = subprocess.run([GREYSPF, "import-postgrey", "-c", d.conf, d1], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("stop greyspfd first", r.stderr)


if __name__ == "__main__":
    unittest.main()
