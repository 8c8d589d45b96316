"""tests/integration/test_spf_dnssec.py - DNSSEC through the real path: a zone signed by the
test (ldns-keygen/ldns-signzone) served on loopback, its DS given to greyspf as the only
trust anchor. Valid signatures -> the result is `secure`; a corrupted signature ->
temperror; an unsigned zone -> the result stands but is not secure. Checked with
`greyspf spf --trace` and through greyspfd with spf.reject_only_secure."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from daemon import Daemon, ask, request  # noqa: E402

GREYSPF = os.environ.get("GREYSPF", "")


class Zones:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="greyspf-dnssec-")
        subprocess.run(["sh", os.path.join(HERE, "spf_dnssec", "make_zones.sh"), self.dir],
                       check=True, capture_output=True)
        with open(os.path.join(self.dir, "anchor.ds")) as f:
            self.anchor = f.read().strip()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "dns", "dns_server.py"),
             os.path.join(self.dir, "sig.zone"), os.path.join(self.dir, "unsigned.zone")],
            stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class TestDnssec(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.z = Zones()

    @classmethod
    def tearDownClass(cls):
        cls.z.stop()

    def spf(self, sender, ip="192.0.2.10"):
        r = subprocess.run([GREYSPF, "spf", "--ip", ip, "--sender", sender, "--helo", "x",
                            "--dns", f"127.0.0.1@{self.z.port}", "--trust-anchor",
                            self.z.anchor, "--dns-timeout", "3", "--trace"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        m = re.search(r"secure=(yes|no)", r.stdout)
        self.assertTrue(m, r.stdout)
        return lines[0], m.group(1) == "yes", r.stdout

    @unittest.skipUnless(GREYSPF, "GREYSPF not set")
    def test_valid_signature_is_secure(self):
        result, secure, out = self.spf("a@good.sig.spftest")
        self.assertEqual(result, "pass", out)
        self.assertTrue(secure, f"got secure=no, want yes:\n{out}")
        result, secure, out = self.spf("a@good.sig.spftest", ip="198.51.100.7")
        self.assertEqual(result, "fail", out)
        self.assertTrue(secure, out)

    @unittest.skipUnless(GREYSPF, "GREYSPF not set")
    def test_corrupted_signature_is_temperror(self):
        result, secure, out = self.spf("a@bad.sig.spftest")
        self.assertEqual(result, "temperror", out)
        self.assertFalse(secure, out)

    @unittest.skipUnless(GREYSPF, "GREYSPF not set")
    def test_unsigned_zone_is_accepted_not_secure(self):
        result, secure, out = self.spf("a@plain.unsigned.spftest")
        self.assertEqual(result, "pass", out)
        self.assertFalse(secure, f"got secure=yes, want no:\n{out}")

    def test_daemon_rejects_only_secure_fail(self):
        d = Daemon(spf={"enabled": "yes", "reject_only_secure": "yes", "helo_check": "no"},
                   dns={"forwarder": f"127.0.0.1@{self.z.port}", "dnssec": "yes",
                        "trust_anchor_file": "none", "trust_anchor": self.z.anchor,
                        "timeout": "3s"}).start()
        try:
            s = d.connect(timeout=10)
            got = ask(s, request(client="198.51.100.7", sender="a@good.sig.spftest",
                                 instance="1"))
            self.assertTrue(got.startswith("action=550 5.7.23 SPF fail"), got)
            got = ask(s, request(client="198.51.100.7", sender="a@plain.unsigned.spftest",
                                 instance="2"))
            self.assertTrue(got.startswith("action=PREPEND Received-SPF: fail"), got)
            got = ask(s, request(client="192.0.2.10", sender="a@bad.sig.spftest",
                                 instance="3"))
            self.assertTrue(got.startswith("action=451 4.7.24 SPF temperror"), got)
        finally:
            self.assertEqual(d.stop(), 0, d.log()[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
