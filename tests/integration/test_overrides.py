"""tests/integration/test_overrides.py - [override ...] sections in greyspfd over real sockets.
Greylisting (RocksDB in the daemon's state_dir, 2 s global delay): a recipient domain with
greylisting off passes at once, a client network with a 4 s delay is told ~4 s and passes only
after it, a recipient with action = OK is accepted, a SIGHUP that changes an override takes
effect and a broken one is refused naming file:line (the running config stays). SPF (real
libunbound forwarding to dns/dns_server.py serving spf_daemon/zone.txt on loopback): sender
domain overrides that reject softfail and switch SPF off, a recipient without SPF, and SPF off
globally but on for one sender domain. No DNS leaves the machine."""
import os
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from daemon import DnsServer, GREYSPFD, Daemon, ask, request  # noqa: E402

DEFER = "action=DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in "
GOOD = "192.0.2.10"   # authorised by the records under spftest.
BAD = "198.51.100.7"  # authorised by none

GREY_OVERRIDES = """
[override recipient_domain nogrey.example]
greylist = off

[override client 198.51.100.0/24]
greylist_delay = 4s

[override recipient postmaster@example.net]
action = OK
"""


class OverrideDaemon(Daemon):
    """A Daemon whose config ends with override sections (self.overrides)."""

    def __init__(self, overrides="", **kw):
        self.overrides = overrides
        super().__init__(**kw)

    def write_config(self, policy=None, server=None, raw=None):
        super().write_config(policy=policy, server=server, raw=raw)
        if raw is None:
            with open(self.conf, "a") as f:
                f.write(self.overrides)




class OverrideTest(unittest.TestCase):
    def tearDown(self):
        if getattr(self, "d", None) and self.d.proc and self.d.proc.poll() is None:
            rc = self.d.stop()
            self.assertEqual(rc, 0, self.d.log()[-3000:])

    def check(self, sock, req, want_prefix):
        got = ask(sock, req)
        self.assertTrue(got is not None and got.startswith(want_prefix),
                        f"got {got!r}, want {want_prefix!r}...")
        return got


class TestGreylist(OverrideTest):
    def start(self, overrides=GREY_OVERRIDES):
        self.d = OverrideDaemon(overrides=overrides, greylist={"enabled": "yes", "delay": "2s"})
        return self.d.start()

    def test_overrides(self):
        d = self.start()
        s = d.connect()
        t0 = time.time()
        # greylisting off for the domain: passes at once, every time
        self.check(s, request(client="192.0.2.10", recipient="bob@nogrey.example"),
                   "action=DUNNO\n\n")
        self.check(s, request(client="192.0.2.10", recipient="Carol@NoGrey.Example",
                              instance="m2"), "action=DUNNO\n\n")
        # the global delay
        self.check(s, request(client="192.0.2.10"), DEFER + "2 seconds\n\n")
        # the client network's own delay
        self.check(s, request(client="198.51.100.7"), DEFER + "4 seconds\n\n")
        # an exempt recipient, from the slow network too
        self.check(s, request(client="198.51.100.7", recipient="postmaster@example.net"),
                   "action=OK\n\n")
        time.sleep(max(0, t0 + 2.3 - time.time()))
        self.check(s, request(client="192.0.2.10", instance="m3"), "action=DUNNO\n\n")
        got = self.check(s, request(client="198.51.100.7", instance="m3"), DEFER)
        self.assertIn(int(got[len(DEFER):].split()[0]), (1, 2))
        time.sleep(max(0, t0 + 4.3 - time.time()))
        self.check(s, request(client="198.51.100.7", instance="m4"), "action=DUNNO\n\n")
        s.close()
        self.assertTrue(d.wait_log(r"recipient=<bob@nogrey.example> .*stage=default "
                                   r"notes=override=recipient_domain,greylist=off"))
        self.assertTrue(d.wait_log(r"action=\"OK\" stage=override reason=recipient "
                                   r"notes=override=recipient\+client"))
        self.assertTrue(d.wait_log(r"notes=override=client,greylist=new left=4"))

    def test_reload(self):
        d = self.start()
        s = d.connect()
        self.check(s, request(recipient="bob@nogrey.example"), "action=DUNNO\n\n")
        # the domain gets greylisting back, with its own delay
        d.overrides = GREY_OVERRIDES.replace("greylist = off", "greylist_delay = 3s")
        d.write_config()
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(r"config: reloaded"))
        self.check(s, request(recipient="bob@nogrey.example", instance="m2"),
                   DEFER + "3 seconds\n\n")
        # a broken override fails the reload, naming file:line; the running config stays
        d.overrides = GREY_OVERRIDES + "\n[override client 198.51.100.0/24]\ngreylist = off\n"
        d.write_config()
        with open(d.conf) as f:
            lines = f.read().splitlines()
        first = lines.index("[override client 198.51.100.0/24]") + 1
        dup = len(lines) - 1
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log(
            rf"reload failed, keeping the running configuration: {d.conf}:{dup}: "
            rf"\[override client 198.51.100.0/24\]: duplicate of the override on line {first}"),
            d.log()[-2000:])
        self.check(s, request(recipient="carol@nogrey.example", instance="m3"),
                   DEFER + "3 seconds\n\n")
        s.close()

    def test_bad_override_refused_at_start(self):
        d = OverrideDaemon(overrides="[override recipient bob@example.net]\ngreylist_delay = 2s\n"
                                     "spf_mail_from_reject = fail\nfoo = 1\n",
                           greylist={"enabled": "yes"})
        with open(d.conf) as f:
            n = len(f.read().splitlines())
        out = subprocess.run([GREYSPFD, "-t", "-c", d.conf], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn(f"{d.conf}:{n}: [override recipient bob@example.net] foo: unknown key",
                      out.stdout + out.stderr)


class TestSpf(OverrideTest):
    dns = None

    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def start(self, overrides, spf=None):
        spf_cfg = {"enabled": "yes", "timeout": "3s"}
        spf_cfg.update(spf or {})
        self.d = OverrideDaemon(overrides=overrides, spf=spf_cfg,
                                dns={"forwarder": f"127.0.0.1@{self.dns.port}",
                                     "dnssec": "no", "timeout": "1s"}).start()
        return self.d.connect(timeout=10)

    def rcpt(self, client, sender, instance, recipient="bob@example.net"):
        return request(client=client, sender=sender, helo_name="nospf.spftest",
                       instance=instance, recipient=recipient)

    def test_sender_domain_and_recipient(self):
        s = self.start("[override sender_domain soft.spftest]\n"
                       "spf_mail_from_reject = fail softfail\n"
                       "[override sender_domain pass.spftest]\nspf = off\n"
                       "[override recipient abuse@example.net]\nspf = off\n"
                       "[override sender_domain .fast.spftest]\n"
                       "spf_mail_from_defer = fail\n")
        # softfail rejected for this sender domain only
        self.check(s, self.rcpt(BAD, "a@soft.spftest", "m1"),
                   "action=550 5.7.23 SPF softfail: 198.51.100.7 is not authorised to send mail "
                   "from a@soft.spftest\n\n")
        # SPF off for a sender domain: a fail passes unchecked
        self.check(s, self.rcpt(BAD, "a@pass.spftest", "m2"), "action=DUNNO\n\n")
        # ... and for a recipient, whatever the sender
        self.check(s, self.rcpt(BAD, "a@perm.spftest", "m3", recipient="abuse@example.net"),
                   "action=DUNNO\n\n")
        # a fail under .fast.spftest is deferred, not rejected (the global reject set loses it)
        self.check(s, self.rcpt(BAD, "a@x.fast.spftest", "m4"),
                   "action=451 4.7.24 SPF fail for a@x.fast.spftest")
        # no override: the globals (fail rejects, softfail passes with a header)
        self.check(s, self.rcpt(BAD, "a@exp.spftest", "m5"), "action=550 5.7.23")
        self.check(s, self.rcpt(BAD, "a@neutral.spftest", "m6"),
                   "action=PREPEND Received-SPF: neutral")
        s.close()
        self.assertTrue(self.d.wait_log(r"sender=<a@pass.spftest> .*stage=default "
                                        r"notes=override=sender_domain,spf=off"))

    def test_on_for_one_domain(self):
        s = self.start("[override sender_domain pass.spftest]\nspf = on\n",
                       spf={"enabled": "no"})
        self.check(s, self.rcpt(BAD, "a@pass.spftest", "m1"), "action=550 5.7.23 SPF fail")
        self.check(s, self.rcpt(BAD, "a@exp.spftest", "m2"), "action=DUNNO\n\n")
        s.close()


if __name__ == "__main__":
    unittest.main()
