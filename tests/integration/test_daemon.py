"""tests/integration/test_daemon.py - greyspfd over real sockets: concurrency, protocol
errors, limits, reload, drain. Run by ctest (label integration) with GREYSPFD and
GREYSPF_LOADTEST set; each test starts its own daemon on a random loopback port."""
import json
import os
import resource
import selectors
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import (LOADTEST, Daemon, ask, closed_without_reply, read_reply,  # noqa: E402
                    request)

SKIPPED = "action=OK\n\n"
REFUSED = "action=REJECT 5.7.1 not on the list\n\n"
SKIP_POLICY = {"skip_clients": "10.1.0.0/16 2001:db8:1::/48", "skip_action": "OK",
               "default_action": "REJECT 5.7.1 not on the list"}


class DaemonTest(unittest.TestCase):
    daemon = None

    def start(self, **kw):
        self.daemon = Daemon(**kw).start()
        return self.daemon

    def tearDown(self):
        if self.daemon:
            rc = self.daemon.stop()
            if rc != 0 and not getattr(self, "expect_nonzero_exit", False):
                self.fail(f"greyspfd exit status: got {rc}, want 0\n{self.daemon.log()[-3000:]}")


class TestConcurrency(DaemonTest):
    def test_1000_connections_many_requests_each(self):
        """1,000 concurrent connections, 30 sequential requests each, every reply checked."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
        d = self.start(policy=SKIP_POLICY, server={"max_connections": "2000",
                                                   "log_decisions": "no"})
        nconn, per_conn = 1000, 30
        sel = selectors.DefaultSelector()
        conns = []
        for i in range(nconn):
            s = d.connect(timeout=10)
            s.setblocking(False)
            conns.append({"sock": s, "sent": 0, "got": 0, "buf": b"", "id": i})
        answered = wrong = 0

        def send_next(c):
            k = c["sent"]
            inside = (c["id"] + k) % 3 != 0  # irregular pattern per connection
            client = f"10.1.{c['id'] % 250}.{k + 1}" if inside else f"10.2.{c['id'] % 250}.{k + 1}"
            c["want"] = SKIPPED if inside else REFUSED
            c["sock"].sendall(request(client=client, queue_id=f"Q{c['id']}x{k}"))
            c["sent"] += 1

        for c in conns:
            send_next(c)
            sel.register(c["sock"], selectors.EVENT_READ, c)
        deadline = time.time() + 120
        open_conns = nconn
        while open_conns and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                c = key.data
                data = c["sock"].recv(65536)
                if not data:
                    self.fail(f"connection {c['id']} closed after {c['got']} replies")
                c["buf"] += data
                while b"\n\n" in c["buf"]:
                    reply, c["buf"] = c["buf"].split(b"\n\n", 1)
                    reply = reply.decode() + "\n\n"
                    c["got"] += 1
                    answered += 1
                    if reply != c["want"]:
                        wrong += 1
                        if wrong < 5:
                            print(f"conn {c['id']} reply {c['got']}: got {reply!r}, "
                                  f"want {c['want']!r}")
                    if c["got"] < per_conn:
                        send_next(c)
                    else:
                        sel.unregister(c["sock"])
                        c["sock"].close()
                        open_conns -= 1
        self.assertEqual(wrong, 0, "wrong replies")
        self.assertEqual(answered, nconn * per_conn,
                         f"answered: got {answered}, want {nconn * per_conn}")

    def test_pipelined_requests_answered_in_order(self):
        d = self.start(policy=SKIP_POLICY)
        pattern = [True, False, False, True, True, True, False, True, False, False] * 10
        payload = b"".join(request(client="10.1.0.1" if p else "10.9.0.1") for p in pattern)
        s = d.connect()
        s.sendall(payload)
        for i, p in enumerate(pattern):
            got = read_reply(s)
            want = SKIPPED if p else REFUSED
            self.assertEqual(got, want, f"reply {i}: got {got!r}, want {want!r}")
        s.close()

    def test_request_split_into_single_bytes(self):
        d = self.start(policy=SKIP_POLICY)
        s = d.connect()
        for b in request(client="10.1.2.3"):
            s.send(bytes([b]))
        self.assertEqual(read_reply(s), SKIPPED)
        # and CRLF line endings from a hand-typed session
        s.sendall(request(client="10.1.2.3").replace(b"\n", b"\r\n"))
        self.assertEqual(read_reply(s), SKIPPED)
        s.close()

    def test_ipv6_client_and_listener(self):
        d = Daemon(policy=SKIP_POLICY)
        d.listen = [f"inet:127.0.0.1:{d.port}", f"inet:[::1]:{d.port}"]
        d.write_config()
        self.daemon = d.start()
        s6 = socket.create_connection(("::1", d.port), timeout=5)
        self.assertEqual(ask(s6, request(client="2001:db8:1::25")), SKIPPED)
        self.assertEqual(ask(s6, request(client="2001:db8:2::25")), REFUSED)
        s6.close()


class TestProtocolErrors(DaemonTest):
    def test_malformed_request_closes_only_its_connection(self):
        d = self.start(policy=SKIP_POLICY, server={"max_line_length": "2048",
                                                   "max_attributes": "40"})
        good = d.connect()
        self.assertEqual(ask(good, request(client="10.1.0.1")), SKIPPED)
        bad_inputs = {
            "no equals sign": b"request=smtpd_access_policy\njunk line\n\n",
            "empty name": b"request=smtpd_access_policy\n=value\n\n",
            "NUL byte": b"request=smtpd_access_policy\nsender=a\x00b\n\n",
            "line too long": b"request=smtpd_access_policy\nsender=" + b"a" * 3000,
            "too many attributes": b"request=smtpd_access_policy\n"
                                   + b"".join(b"x%d=1\n" % i for i in range(50)) + b"\n",
            "wrong request type": b"request=something_else\n\n",
            "no request attribute": b"sender=a@b\n\n",
            "bad number": request(client="10.1.0.1", size="12abc"),
        }
        for name, data in bad_inputs.items():
            s = d.connect()
            s.sendall(data)
            self.assertTrue(closed_without_reply(s), f"{name}: connection not closed "
                                                     "without a reply")
            s.close()
            # the established connection is unaffected
            self.assertEqual(ask(good, request(client="10.1.0.1")), SKIPPED, name)
        self.assertTrue(d.wait_log(r"malformed request", count=len(bad_inputs)),
                        d.log()[-2000:])
        good.close()

    def test_request_size_limit_at_and_past_the_edge(self):
        d = self.start(server={"max_request_size": "4096", "max_line_length": "2048"})

        def padded(total):
            """A valid request of exactly `total` bytes, padded with short x<N>= lines."""
            body = request()[:-1]
            lines = []
            room = total - len(body) - 1
            i = 0
            while room > 0:
                head = b"x%d=" % i
                k = min(1000, room - len(head) - 1)
                lines.append(head + b"p" * k + b"\n")
                room -= len(lines[-1])
                i += 1
            return body + b"".join(lines) + b"\n"

        at_limit = padded(4096)
        self.assertEqual(len(at_limit), 4096)
        s = d.connect()
        self.assertEqual(ask(s, at_limit), "action=DUNNO\n\n")
        past = padded(4097)
        self.assertEqual(len(past), 4097)
        s.sendall(past)
        self.assertTrue(closed_without_reply(s))

    def test_eof_mid_request_is_dropped_quietly(self):
        d = self.start()
        s = d.connect()
        s.sendall(request()[:-20])
        s.shutdown(socket.SHUT_WR)
        self.assertTrue(closed_without_reply(s))
        s2 = d.connect()
        self.assertEqual(ask(s2, request()), "action=DUNNO\n\n")

    def test_half_close_after_full_requests_still_answered(self):
        d = self.start()
        s = d.connect()
        s.sendall(request() + request())
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(read_reply(s), "action=DUNNO\n\n")
        self.assertEqual(read_reply(s), "action=DUNNO\n\n")
        self.assertIsNone(read_reply(s))


class TestLimits(DaemonTest):
    def test_idle_timeout_closes_idle_connections_only(self):
        d = self.start(server={"idle_timeout": "2s"})
        idle = d.connect()
        busy = d.connect()
        t0 = time.time()
        while time.time() - t0 < 4:
            self.assertEqual(ask(busy, request()), "action=DUNNO\n\n")
            time.sleep(0.4)
        self.assertTrue(closed_without_reply(idle, timeout=0.1), "idle connection still open")
        self.assertEqual(ask(busy, request()), "action=DUNNO\n\n")

    def test_max_connections_backs_off_and_recovers(self):
        d = self.start(server={"max_connections": "4"})
        held = [d.connect() for _ in range(4)]
        for s in held:
            self.assertEqual(ask(s, request()), "action=DUNNO\n\n")
        extra = d.connect()  # completes in the kernel backlog
        extra.sendall(request())
        extra.settimeout(0.5)
        with self.assertRaises(socket.timeout, msg="5th connection served above the limit"):
            extra.recv(100)
        held.pop().close()
        self.assertEqual(read_reply(extra), "action=DUNNO\n\n")  # within the back-off
        self.assertTrue(d.wait_log(r"max_connections reached"))


class TestUnixSocket(DaemonTest):
    def test_unix_listener_mode_stale_file_and_cleanup(self):
        d = Daemon()
        path = os.path.join(d.dir, "policy.sock")
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)  # a stale socket file nobody listens on
        stale.close()
        d.listen = [f"unix:{path}"]
        d.server["socket_mode"] = "0640"
        d.write_config()
        self.daemon = d.start()
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode, 0o640, f"socket mode: got {oct(mode)}, want 0o640")
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        self.assertEqual(ask(s, request()), "action=DUNNO\n\n")
        s.close()
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(path), "socket file left behind")

    def test_refuses_a_path_that_is_not_a_socket(self):
        d = Daemon()
        path = os.path.join(d.dir, "file")
        open(path, "w").close()
        d.listen = [f"unix:{path}"]
        d.write_config()
        r = subprocess.run([os.environ["GREYSPFD"], "-f", "-c", d.conf], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a socket", r.stderr)
        self.assertTrue(os.path.exists(path))


class TestConfig(DaemonTest):
    def test_check_config(self):
        d = Daemon()
        r = subprocess.run([os.environ["GREYSPFD"], "--check-config", "-c", d.conf],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.write_config(raw="[server]\nworkers = 2\n\n[policy]\ndefault_actoin = DUNNO\n")
        r = subprocess.run([os.environ["GREYSPFD"], "--check-config", "-c", d.conf],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{d.conf}:5:", r.stderr)
        self.assertIn("default_actoin", r.stderr)

    def test_reload_applies_and_bad_reload_keeps_old(self):
        d = self.start(policy={"default_action": "DUNNO"})
        s = d.connect()
        self.assertEqual(ask(s, request()), "action=DUNNO\n\n")
        d.write_config(policy={"default_action": "DEFER_IF_PERMIT 4.7.1 reloaded"})
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"config: reloaded"))
        self.assertEqual(ask(s, request()), "action=DEFER_IF_PERMIT 4.7.1 reloaded\n\n")
        d.write_config(raw="[server]\nworkers = many\n")
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"reload failed, keeping the running configuration: "
                                   + r".*:2: \[server\] workers"), d.log()[-2000:])
        self.assertEqual(ask(s, request()), "action=DEFER_IF_PERMIT 4.7.1 reloaded\n\n")
        s.close()

    @unittest.skipUnless(LOADTEST, "GREYSPF_LOADTEST not set")
    def test_reload_under_load_loses_no_request(self):
        d = self.start(server={"log_decisions": "no"},
                       policy={"default_action": "DEFER_IF_PERMIT 4.7.1 gen 0"})
        lt = subprocess.Popen([LOADTEST, "--connect", f"inet:127.0.0.1:{d.port}", "-c", "64",
                               "-d", "6", "--expect", "DEFER_IF_PERMIT 4.7.1 gen ", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for gen in range(1, 21):
            time.sleep(0.25)
            d.write_config(policy={"default_action": f"DEFER_IF_PERMIT 4.7.1 gen {gen}"})
            d.signal(signal.SIGHUP)
        out, err = lt.communicate(timeout=60)
        self.assertEqual(lt.returncode, 0, f"loadtest failed: {out}\n{err}")
        res = json.loads(out)
        self.assertGreater(res["requests"], 1000)
        self.assertEqual(res["errors"]["total"], 0, out)
        self.assertEqual(res["unexpected"], 0, out)
        self.assertEqual(res["actions"].get("DEFER_IF_PERMIT"), res["requests"], out)
        self.assertTrue(d.wait_log(r"config: reloaded", count=20))
        s = d.connect()
        self.assertEqual(ask(s, request()), "action=DEFER_IF_PERMIT 4.7.1 gen 20\n\n")


class TestShutdown(DaemonTest):
    def test_sigterm_answers_received_requests_then_exits_0(self):
        d = self.start(server={"log_decisions": "no"})
        s = d.connect()
        n = 300
        s.sendall(request() * n)
        d.signal(signal.SIGTERM)
        got = 0
        while read_reply(s) == "action=DUNNO\n\n":
            got += 1
        self.assertEqual(got, n, f"replies after SIGTERM: got {got}, want {n}")
        self.assertEqual(d.proc.wait(10), 0)
        self.assertIn("server: stopped", d.log())


class TestControl(DaemonTest):
    """the admin control socket and `greyspf` as its client"""

    def greyspf(self, *args, user=None):
        cmd = [os.environ["GREYSPF"], "-s", self.daemon.control, *args]
        if user:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10)

    @unittest.skipUnless(os.environ.get("GREYSPF"), "GREYSPF not set")
    def test_status_help_errors_and_permissions(self):
        d = self.start()
        mode = stat.S_IMODE(os.stat(d.control).st_mode)
        self.assertEqual(mode, 0o600, f"control socket mode: got {oct(mode)}, want 0o600")
        s = d.connect()
        ask(s, request())
        r = self.greyspf("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("connections 1\n", r.stdout)
        self.assertRegex(r.stdout, r"^version \S+\nuptime_s \d+\n")
        r = self.greyspf("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["connections"], 1)
        r = self.greyspf("help")
        self.assertIn("status", r.stdout)
        r = self.greyspf("frobnicate", "x y")
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown command "frobnicate"', r.stderr)
        r = self.greyspf("status", "extra")
        self.assertEqual(r.returncode, 1)
        self.assertIn("usage: status", r.stderr)
        r = self.greyspf("status", user="65534")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("cannot reach greyspfd", r.stderr)
        # a raw client: malformed escape, overlong line
        for line, want in [(b"status %zz\n", b"error: bad request"),
                           (b"x" * 5000 + b"\n", b"error: request line longer")]:
            c = socket.socket(socket.AF_UNIX)
            c.connect(d.control)
            c.sendall(line)
            self.assertTrue(c.recv(200).startswith(want))
            c.close()
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(d.control), "control socket left behind")


class TestLogging(DaemonTest):
    def test_one_decision_line_with_the_fields(self):
        d = self.start(policy=SKIP_POLICY)
        s = d.connect()
        ask(s, request(client="10.1.0.9", sender="Ann@Example.ORG", recipient="bob@example.net",
                       queue_id="4FzX1b2c3", **{"protocol_state": "RCPT"}))
        self.assertTrue(d.wait_log(r"decision: client=10\.1\.0\.9 .*sender=<Ann@Example\.ORG> "
                                   r"recipient=<bob@example\.net> queue_id=4FzX1b2c3 .*"
                                   r"action=\"OK\" stage=skip reason=skip_clients "
                                   r"latency_us=\d+"), d.log())
        ask(s, request(client="10.9.0.9", sender="evil\x01@x"))
        self.assertTrue(d.wait_log(r'sender=<evil\\x01@x>.*action="REJECT 5.7.1 not on the '
                                   r'list" stage=default'), d.log())
        self.assertEqual(d.log().count("decision:"), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
