"""tests/integration/test_spf_daemon.py - the SPF stage of greyspfd over real sockets, with
real libunbound forwarding to a DNS server on loopback (dns/dns_server.py serving
spf_daemon/zone.txt). Every matrix cell the configuration offers, both header types, one
header per message, softfail rejection on and off, HELO checks, skips, temperror from a
name that never answers, and no head-of-line blocking behind it."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from daemon import DnsServer, Daemon, ask, free_port, read_reply, request  # noqa: E402

GOOD = "192.0.2.10"   # authorised by the records under spftest.
BAD = "198.51.100.7"  # authorised by none




def rcpt(client, sender, helo="nospf.spftest", instance="i1", recipient="bob@example.net",
         **kw):
    return request(client=client, sender=sender, helo_name=helo, instance=instance,
                   recipient=recipient, **kw)


class SpfDaemonTest(unittest.TestCase):
    dns = None

    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def start(self, spf=None, policy=None, server=None):
        spf_cfg = {"enabled": "yes", "timeout": "3s"}
        spf_cfg.update(spf or {})
        self.d = Daemon(spf=spf_cfg, policy=policy, server=server,
                        dns={"forwarder": f"127.0.0.1@{self.dns.port}", "dnssec": "no",
                             "timeout": "1s"}).start()
        self.s = self.d.connect(timeout=10)
        self.addCleanup(self.s.close)
        return self.d

    def tearDown(self):
        if getattr(self, "d", None):
            rc = self.d.stop()
            self.assertEqual(rc, 0, self.d.log()[-3000:])

    def check(self, req, want, exact=True):
        got = ask(self.s, req)
        if got is None:
            self.fail(f"closed without a reply; greyspfd exit status {self.d.proc.poll()}, "
                      f"log:\n{self.d.log()[-3000:]}")
        got = got[len("action="):-2]
        if exact:
            self.assertEqual(got, want, f"got {got!r}, want {want!r}")
        else:
            self.assertTrue(got.startswith(want), f"got {got!r}, want prefix {want!r}")
        return got


class TestDefaults(SpfDaemonTest):
    """defaults: fail rejects, temperror defers, the rest pass with a Received-SPF header"""

    def test_results_and_default_matrix(self):
        self.start()
        cases = [
            ("pass", GOOD, "a@pass.spftest",
             'PREPEND Received-SPF: pass (domain of a@pass.spftest designates 192.0.2.10 as '
             'permitted sender) client-ip=192.0.2.10; envelope-from="a@pass.spftest"; '
             'helo="nospf.spftest"; identity=mailfrom;'),
            ("fail", BAD, "a@pass.spftest",
             "550 5.7.23 SPF fail: 198.51.100.7 is not allowed to send mail from "
             "a@pass.spftest"),
            ("softfail passes", BAD, "a@soft.spftest",
             "PREPEND Received-SPF: softfail (domain of transitioning a@soft.spftest does not "
             "designate 198.51.100.7 as permitted sender)"),
            ("neutral", BAD, "a@neutral.spftest", "PREPEND Received-SPF: neutral ("),
            ("none", BAD, "a@nospf.spftest", "PREPEND Received-SPF: none ("),
            ("permerror passes", BAD, "a@perm.spftest", "PREPEND Received-SPF: permerror ("),
            ("temperror defers", BAD, "a@temp.spftest",
             "451 4.7.24 SPF temperror for a@temp.spftest"),
            ("explanation from exp=", BAD, "a@exp.spftest",
             "550 5.7.23 198.51.100.7 may not send for exp.spftest, see https://spftest/why"),
        ]
        for i, (name, client, sender, want) in enumerate(cases):
            with self.subTest(name):
                self.check(rcpt(client, sender, instance=f"m{i}"), want,
                           exact=not want.endswith("(") and "Received-SPF: softfail" not in want
                           and "temperror" not in want)

    def test_null_sender_is_postmaster_at_helo(self):
        self.start()
        self.check(rcpt(GOOD, "", helo="mx.spftest"),
                   'PREPEND Received-SPF: pass (domain of postmaster@mx.spftest designates '
                   '192.0.2.10 as permitted sender) client-ip=192.0.2.10; '
                   'envelope-from="postmaster@mx.spftest"; helo="mx.spftest"; '
                   'identity=mailfrom;')

    def test_header_once_per_message(self):
        self.start()
        first = self.check(rcpt(GOOD, "a@pass.spftest", instance="msg-1", recipient="r1@x"),
                           "PREPEND Received-SPF: pass", exact=False)
        self.assertIn("identity=mailfrom", first)
        self.check(rcpt(GOOD, "a@pass.spftest", instance="msg-1", recipient="r2@x"), "DUNNO")
        self.check(rcpt(GOOD, "a@pass.spftest", instance="msg-1", recipient="r3@x"), "DUNNO")
        self.check(rcpt(GOOD, "a@pass.spftest", instance="msg-2", recipient="r1@x"),
                   "PREPEND Received-SPF: pass", exact=False)
        # a rejected recipient does not consume the message's header
        self.check(rcpt(BAD, "a@pass.spftest", instance="msg-3"), "550 5.7.23", exact=False)
        self.check(rcpt(GOOD, "a@pass.spftest", instance="msg-4"), "PREPEND Received-SPF",
                   exact=False)


class TestMatrix(SpfDaemonTest):
    def test_softfail_reject_on(self):
        self.start(spf={"mail_from_reject": "fail softfail"})
        self.check(rcpt(BAD, "a@soft.spftest"),
                   "550 5.7.23 SPF softfail: 198.51.100.7 is not authorised to send mail from "
                   "a@soft.spftest")
        self.check(rcpt(GOOD, "a@soft.spftest", instance="2"), "PREPEND Received-SPF: pass",
                   exact=False)

    def test_softfail_reject_toggled_by_reload(self):
        d = self.start()
        self.check(rcpt(BAD, "a@soft.spftest"), "PREPEND Received-SPF: softfail", exact=False)
        d.write_config()
        d.spf["mail_from_reject"] = "fail softfail"
        d.write_config()
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log("config: reloaded"))
        self.check(rcpt(BAD, "a@soft.spftest", instance="2"), "550 5.7.23 SPF softfail",
                   exact=False)
        d.spf["mail_from_reject"] = "fail"
        d.write_config()
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log("config: reloaded", count=2))
        self.check(rcpt(BAD, "a@soft.spftest", instance="3"), "PREPEND Received-SPF: softfail",
                   exact=False)

    def test_mail_from_cells(self):
        self.start(spf={"mail_from_reject": "fail permerror", "mail_from_defer": "softfail",
                        "mail_from_accept": "pass none",
                        "mail_from_action_neutral": "REJECT 5.7.1 neutral is not enough",
                        "mail_from_action_temperror": "DEFER_IF_PERMIT 4.7.24 later please"})
        cells = [
            ("reject", BAD, "a@pass.spftest", "550 5.7.23 SPF fail", False),
            ("reject permerror", BAD, "a@perm.spftest",
             "550 5.7.24 SPF permerror for a@perm.spftest", False),
            ("defer", BAD, "a@soft.spftest", "451 4.7.24 SPF softfail for a@soft.spftest",
             False),
            ("accept: no header", GOOD, "a@pass.spftest", "DUNNO", True),
            ("accept none: no header", BAD, "a@nospf.spftest", "DUNNO", True),
            ("custom", BAD, "a@neutral.spftest", "REJECT 5.7.1 neutral is not enough", True),
            ("custom temperror", BAD, "a@temp.spftest", "DEFER_IF_PERMIT 4.7.24 later please",
             True),
        ]
        for i, (name, client, sender, want, exact) in enumerate(cells):
            with self.subTest(name):
                self.check(rcpt(client, sender, instance=f"c{i}"), want, exact=exact)

    def test_helo_cells(self):
        self.start(spf={"helo_reject": "fail", "helo_defer": "none",
                        "helo_action_softfail": "450 4.7.1 helo softfail"})
        self.check(rcpt(BAD, "a@nospf.spftest", helo="badhelo.spftest"),
                   "550 5.7.23 SPF fail: 198.51.100.7 is not allowed to send mail with HELO "
                   "badhelo.spftest")
        self.check(rcpt(BAD, "a@nospf.spftest", helo="nospf.spftest", instance="2"),
                   "451 4.7.24 SPF none for nospf.spftest", exact=False)
        self.check(rcpt(BAD, "a@nospf.spftest", helo="soft.spftest", instance="3"),
                   "450 4.7.1 helo softfail")
        # HELO decided first: a good MAIL FROM does not rescue a failing HELO
        self.check(rcpt(GOOD, "a@pass.spftest", helo="badhelo.spftest", instance="4"),
                   "550 5.7.23 SPF fail", exact=False)

    def test_helo_check_off(self):
        self.start(spf={"helo_check": "no"})
        self.check(rcpt(BAD, "a@nospf.spftest", helo="badhelo.spftest"),
                   "PREPEND Received-SPF: none", exact=False)

    def test_reject_only_secure(self):
        # dnssec is off here, so no result is secure: fail is accepted with its header
        self.start(spf={"reject_only_secure": "yes"})
        self.check(rcpt(BAD, "a@pass.spftest"), "PREPEND Received-SPF: fail", exact=False)


class TestHeaders(SpfDaemonTest):
    def test_authentication_results(self):
        self.start(spf={"header": "authentication-results", "authserv_id": "mx.example.net"})
        self.check(rcpt(GOOD, "a@pass.spftest", helo="mx.spftest"),
                   "PREPEND Authentication-Results: mx.example.net; spf=pass "
                   "smtp.mailfrom=a@pass.spftest; spf=pass smtp.helo=mx.spftest")
        self.check(rcpt(GOOD, "a@pass.spftest", helo="mx.spftest"), "DUNNO")

    def test_both_headers_over_the_message_requests(self):
        self.start(spf={"header": "both", "authserv_id": "mx.example.net",
                        "receiver": "mx.example.net"})
        first = self.check(rcpt(GOOD, "a@pass.spftest", recipient="r1@x"),
                           "PREPEND Received-SPF: pass (mx.example.net: domain of", exact=False)
        self.assertIn("receiver=mx.example.net;", first)
        self.check(rcpt(GOOD, "a@pass.spftest", recipient="r2@x"),
                   "PREPEND Authentication-Results: mx.example.net; spf=pass "
                   "smtp.mailfrom=a@pass.spftest; spf=none smtp.helo=nospf.spftest")
        self.check(rcpt(GOOD, "a@pass.spftest", recipient="r3@x"), "DUNNO")

    def test_receiver_hidden_by_default(self):
        self.start()
        got = self.check(rcpt(GOOD, "a@pass.spftest"), "PREPEND Received-SPF: pass",
                         exact=False)
        self.assertNotIn("receiver=", got)


class TestSkips(SpfDaemonTest):
    def test_skips_bypass_spf(self):
        self.start(policy={"skip_clients": "198.51.100.0/24", "skip_action": "DUNNO",
                           "skip_loopback": "yes"})
        self.check(rcpt(BAD, "a@pass.spftest"), "DUNNO")
        self.check(rcpt("127.0.0.1", "a@pass.spftest"), "DUNNO")
        self.check(rcpt("203.0.113.9", "a@pass.spftest", sasl_username="alice"), "DUNNO")
        self.check(rcpt("203.0.113.9", "a@pass.spftest"), "550 5.7.23 SPF fail", exact=False)
        self.assertTrue(self.d.wait_log(r"stage=skip reason=skip_clients"))
        self.assertTrue(self.d.wait_log(r"stage=skip reason=sasl"))
        self.assertTrue(self.d.wait_log(r"stage=spf reason=mail_from=fail"))


class TestReloadKeepsDns(SpfDaemonTest):
    def test_dns_settings_stay_until_restart(self):
        """[dns] changes take effect after a restart, as the reload says: a resolver created
        after a reload (a worker's first lookup) still uses the settings the daemon started
        with. Here no lookup ran before the reload, so every resolver is created after it."""
        d = self.start()
        d.dns["forwarder"] = f"127.0.0.1@{free_port()}"  # nothing listens there
        d.write_config()
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log("config: reloaded"))
        self.assertIn("[dns] changes take effect only after a restart", d.log())
        conns = [d.connect(timeout=10) for _ in range(8)]
        for s in conns:
            self.addCleanup(s.close)
        for i, s in enumerate(conns):
            s.sendall(rcpt(GOOD, f"a@d{i}.fast.spftest", instance=f"r{i}"))
        for i, s in enumerate(conns):
            got = read_reply(s)
            self.assertTrue(got.startswith("action=PREPEND Received-SPF: pass"), (i, got))
            s.close()

    def test_trust_anchor_change_is_reported(self):
        d = self.start()
        d.dns["trust_anchor"] = ". IN DS 20326 8 2 " + "ab" * 32
        d.write_config()
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log("config: reloaded"))
        self.assertIn("[dns] changes take effect only after a restart", d.log())


class TestNoHeadOfLineBlocking(SpfDaemonTest):
    def test_fast_requests_answered_while_slow_lookups_hang(self):
        """40 requests whose domain never answers are parked on the workers; requests for
        answering domains on other connections are decided meanwhile, long before the
        slow ones give up (dns timeout 1 s, spf timeout 3 s)."""
        d = self.start(server={"log_decisions": "no"})
        slow = []
        for i in range(40):
            s = d.connect(timeout=10)
            self.addCleanup(s.close)
            s.sendall(rcpt(BAD, f"a@d{i}.slow.spftest", instance=f"s{i}"))
            slow.append(s)
        time.sleep(0.1)
        t0 = time.time()
        for i in range(50):
            self.check(rcpt(GOOD, f"a@d{i}.fast.spftest", instance=f"f{i}"),
                       "PREPEND Received-SPF: pass", exact=False)
        fast_s = time.time() - t0
        self.assertLess(fast_s, 0.9, f"50 fast requests took {fast_s:.2f}s behind slow ones")
        for s in slow:  # the slow ones end as temperror -> defer
            s.settimeout(10)
            data = b""
            while not data.endswith(b"\n\n"):
                chunk = s.recv(4096)
                self.assertTrue(chunk, "slow connection closed without a reply")
                data += chunk
            self.assertTrue(data.startswith(b"action=451 4.7.24 SPF temperror"), data)
            s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
