#!/usr/bin/python3
"""suite_dns.py - loopback DNS server for the SPF conformance suites (integration tier).

Serves the `zonedata` of ONE scenario of an OpenSPF suite YAML file (rfc7208-tests.yml,
rfc4408-tests.yml) over UDP and TCP on 127.0.0.1 only, so real libunbound (the `greyspf spf`
CLI, configured as a forwarder) can run the suites. It answers recursive-style (RA) and
authoritatively (AA) for every name; nothing is ever forwarded anywhere.

Usage:
  suite_dns.py [--port 0] [--suite FILE --scenario N] [--control stdin|none] [-v]
  suite_dns.py --selftest
stdout line 1 is "PORT <n>" once both sockets listen. With --control stdin (the default) the
server reads commands from stdin, one per line, and answers one line on stdout:
  LOAD <file> <index>   switch to scenario <index> (0-based, YAML documents in file order,
                        empty documents skipped) -> "OK <names> <description>" | "ERR <why>"
  PING -> "OK"          QUIT -> "OK", then exit.       EOF on stdin -> exit.
With --control none it serves until SIGTERM/SIGINT (for manual testing with dig/drill).

Zone-data semantics (see spf-tests/README.md):
- A, AAAA (also ::FFFF:a.b.c.d), MX [pref, exchange] ("" -> root), PTR, CNAME, TXT and SPF
  (type 99) as a string, or a list = one RR with several character-strings (strings longer
  than 255 bytes are split, as a zone file would). `[]` (null text) is served as ONE empty
  string: an RR with no strings is malformed and libunbound would turn it into SERVFAIL.
- Strings go on the wire byte for byte: YAML "\\x80" is code point U+0080 and is sent as the
  byte 0x80 (latin-1), not UTF-8 re-encoded. Code points above U+00FF fall back to UTF-8.
- Auto-magic duplication: SPF records are also served as TXT when the name has no TXT entry;
  `TXT: NONE` means no TXT record and stops the duplication.
- TIMEOUT: queries for the name are dropped (never answered), except for the types whose
  records are listed before TIMEOUT (duplicated TXT counts as listed where its SPF was).
- CNAME chains are followed inside the data (CNAME RRs plus the target's RRs); a loop stops
  at the first repeated name. Unknown name -> NXDOMAIN, known name (or empty non-terminal)
  without the type -> NODATA; negative answers carry a synthetic root SOA in authority.
- Names are compared case-insensitively (ASCII) as raw bytes; the question's case is kept.
- UDP answers larger than 512 bytes (or the client's EDNS size) get TC and no records;
  TCP has no such limit. EDNS0 is echoed (no DO: nothing is signed).
"""

import argparse
import ipaddress
import os
import select
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time

try:
    import yaml
    from dnslib import (A, AAAA, CNAME, DNSHeader, DNSLabel, DNSRecord, EDNS0, MX, PTR,
                        QTYPE, RCODE, RR, SOA, TXT)
except ImportError as e:  # pragma: no cover
    sys.exit("suite_dns.py: needs Debian python3-dnslib and python3-yaml (/usr/bin/python3): %s"
             % e)

TTL = 60
T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_MX, T_TXT, T_AAAA, T_SPF, T_OPT, T_ANY = (
    1, 2, 5, 6, 12, 15, 16, 28, 99, 41, 255)
TYPE_BY_NAME = {"A": T_A, "AAAA": T_AAAA, "MX": T_MX, "PTR": T_PTR, "CNAME": T_CNAME,
                "TXT": T_TXT, "SPF": T_SPF}
SOA_RR = RR(DNSLabel(()), T_SOA, ttl=TTL,
            rdata=SOA(DNSLabel((b"ns", b"spf-suite", b"invalid")),
                      DNSLabel((b"hostmaster", b"spf-suite", b"invalid")),
                      (1, 3600, 600, 86400, TTL)))

DROP = object()  # resolve() result: never answer this query

# ---------------------------------------------------------------------------------------------
# Zone compilation


def wire_bytes(s):
    """wire_bytes - a YAML string as the bytes the suite means (latin-1, else UTF-8)."""
    if isinstance(s, bytes):
        return s
    s = str(s)
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def name_key(name):
    """name_key - a domain name (str/bytes/DNSLabel) as lower-case bytes without final dot."""
    if isinstance(name, DNSLabel):
        return b".".join(name.label).lower()
    return wire_bytes(name).rstrip(b".").lower()


def label_of(name):
    """label_of - DNSLabel built from bytes (dnslib's str path runs IDNA and rejects odd names)."""
    b = wire_bytes(name).rstrip(b".")
    return DNSLabel(tuple(b.split(b".")) if b else ())


def txt_rdata(value):
    """txt_rdata - TXT/SPF rdata: string or list of strings; [] becomes one empty string."""
    parts = value if isinstance(value, list) else [value]
    out = []
    for p in parts:
        b = wire_bytes(p)
        if len(b) <= 255:
            out.append(b)
        else:
            out.extend(b[i:i + 255] for i in range(0, len(b), 255))
    return TXT(out or [b""])


def make_rdata(rtype, value):
    """make_rdata - dnslib rdata for one suite record."""
    if rtype == T_A:
        return A(str(ipaddress.IPv4Address(str(value).strip())))
    if rtype == T_AAAA:  # dnslib's own parser rejects ::FFFF:a.b.c.d
        return AAAA(tuple(ipaddress.IPv6Address(str(value).strip()).packed))
    if rtype == T_MX:
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("MX wants [preference, exchange], got %r" % (value,))
        return MX(label_of(value[1] or ""), int(value[0]))
    if rtype == T_PTR:
        return PTR(label_of(value))
    if rtype == T_CNAME:
        return CNAME(label_of(value))
    return txt_rdata(value)  # TXT, SPF


class Node:
    """Node - the data of one owner name."""

    def __init__(self):
        self.rrs = {}             # rtype -> [rdata] in suite order
        self.before = set()       # rtypes with records listed before TIMEOUT
        self.timeout = False
        self.txt_entry = False    # any TXT entry, including TXT: NONE


class Zone:
    """Zone - one scenario's compiled zonedata (immutable once built)."""

    def __init__(self, zonedata, description=""):
        self.description = description
        self.nodes = {}
        for owner, entries in (zonedata or {}).items():
            node = self.nodes.setdefault(name_key(owner), Node())
            for entry in entries or []:
                if entry == "TIMEOUT":
                    node.timeout = True
                    continue
                if not isinstance(entry, dict):
                    raise ValueError("%s: unknown entry %r" % (owner, entry))
                for tname, value in entry.items():
                    rtype = TYPE_BY_NAME.get(str(tname).upper())
                    if rtype is None:
                        raise ValueError("%s: unknown record type %r" % (owner, tname))
                    if rtype == T_TXT:
                        node.txt_entry = True
                        if value == "NONE":
                            continue
                    node.rrs.setdefault(rtype, []).append(make_rdata(rtype, value))
                    if not node.timeout:
                        node.before.add(rtype)
        for node in self.nodes.values():
            if not node.txt_entry and T_SPF in node.rrs:
                node.rrs[T_TXT] = list(node.rrs[T_SPF])
                if T_SPF in node.before:
                    node.before.add(T_TXT)
        # Empty non-terminals (ancestors of owner names) exist: NODATA, not NXDOMAIN.
        self.ents = set()
        for key in self.nodes:
            labels = key.split(b".")
            for i in range(1, len(labels) + 1):
                self.ents.add(b".".join(labels[i:]))

    def resolve(self, qlabel, qtype):
        """resolve - (rcode, [RR]) for a question, or DROP when it must go unanswered."""
        answers = []
        owner = qlabel
        seen = set()
        while True:
            key = name_key(owner)
            seen.add(key)
            node = self.nodes.get(key)
            if node is None:
                return (RCODE.NOERROR if key in self.ents else RCODE.NXDOMAIN), answers
            if node.timeout and qtype not in node.before:
                return DROP
            if qtype == T_ANY:
                for rtype, rdatas in node.rrs.items():
                    answers.extend(RR(owner, rtype, ttl=TTL, rdata=rd) for rd in rdatas)
                return RCODE.NOERROR, answers
            if qtype in node.rrs:
                answers.extend(RR(owner, qtype, ttl=TTL, rdata=rd) for rd in node.rrs[qtype])
                return RCODE.NOERROR, answers
            if T_CNAME in node.rrs and qtype != T_CNAME:
                rd = node.rrs[T_CNAME][0]
                answers.append(RR(owner, T_CNAME, ttl=TTL, rdata=rd))
                owner = rd.label
                if name_key(owner) in seen:  # loop: stop, like an authoritative server
                    return RCODE.NOERROR, answers
                continue
            return RCODE.NOERROR, answers  # NODATA


def load_scenario(path, index):
    """load_scenario - Zone for the index-th non-empty YAML document of a suite file."""
    with open(path, "rb") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    if not 0 <= index < len(docs):
        raise ValueError("%s has %d scenarios, no index %d" % (path, len(docs), index))
    doc = docs[index]
    return Zone(doc.get("zonedata"), doc.get("description", ""))

# ---------------------------------------------------------------------------------------------
# Server


class SuiteDNS:
    """SuiteDNS - UDP + TCP listeners on 127.0.0.1 answering from the current Zone."""

    def __init__(self, port=0, verbose=False):
        self.zone = Zone({})      # replaced whole on LOAD; readers take one reference
        self.verbose = verbose
        self.log_lock = threading.Lock()   # protects: stderr lines from handler threads
        srv = self
        # Bind UDP first (port 0 = random), then TCP on the same number; retry on collision.
        for _ in range(50):
            self.udp = socketserver.ThreadingUDPServer(("127.0.0.1", port), _UDPHandler,
                                                       bind_and_activate=True)
            self.port = self.udp.server_address[1]
            try:
                self.tcp = _TCPServer(("127.0.0.1", self.port), _TCPHandler)
                break
            except OSError:
                self.udp.server_close()
                if port:
                    raise
        else:
            raise OSError("no free port pair")
        self.udp.daemon_threads = True
        self.udp.dns = srv
        self.tcp.dns = srv
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True)
                        for s in (self.udp, self.tcp)]
        for t in self.threads:
            t.start()

    def shutdown(self):
        for s in (self.udp, self.tcp):
            s.shutdown()
            s.server_close()

    def log(self, msg):
        if self.verbose:
            with self.log_lock:
                sys.stderr.write("suite_dns: %s\n" % msg)
                sys.stderr.flush()

    def answer(self, data, tcp):
        """answer - wire reply for one query, or None to stay silent."""
        try:
            req = DNSRecord.parse(data)
        except Exception as e:  # garbage: a real server drops it too
            self.log("unparsable query (%s)" % e)
            return None
        if req.header.qr:
            return None
        reply = DNSRecord(DNSHeader(id=req.header.id, qr=1, aa=1, ra=1, rd=req.header.rd,
                                    opcode=req.header.opcode), q=req.q)
        opt = next((rr for rr in req.ar if rr.rtype == T_OPT), None)
        limit = 512
        if opt is not None:
            limit = max(512, min(opt.rclass, 4096))
            reply.add_ar(EDNS0(udp_len=4096))
        if req.header.opcode != 0 or len(req.questions) != 1:
            reply.header.rcode = RCODE.NOTIMP if req.header.opcode else RCODE.FORMERR
            return reply.pack()
        q = req.q
        qname = b".".join(q.qname.label)
        if q.qclass != 1:
            reply.header.rcode = RCODE.REFUSED
            return reply.pack()
        res = self.zone.resolve(q.qname, q.qtype)
        if res is DROP:
            self.log("%r %s -> dropped (TIMEOUT)" % (qname, QTYPE.get(q.qtype)))
            return None
        rcode, answers = res
        reply.header.rcode = rcode
        for rr in answers:
            reply.add_answer(rr)
        if rcode == RCODE.NXDOMAIN or not any(rr.rtype == q.qtype or q.qtype == T_ANY
                                              for rr in answers):
            reply.add_auth(SOA_RR)
        wire = reply.pack()
        if not tcp and len(wire) > limit:
            reply.rr, reply.auth = [], []
            reply.header.tc = 1
            wire = reply.pack()
        self.log("%r %s -> %s, %d RR%s%s" % (qname, QTYPE.get(q.qtype), RCODE.get(rcode),
                                              len(answers), "" if tcp else " udp",
                                              " TC" if reply.header.tc else ""))
        return wire


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        wire = self.server.dns.answer(data, tcp=False)
        if wire is not None:
            sock.sendto(wire, self.client_address)


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        conn.settimeout(30)
        try:
            while True:
                hdr = _recv_exact(conn, 2)
                if hdr is None:
                    return
                data = _recv_exact(conn, struct.unpack("!H", hdr)[0])
                if data is None:
                    return
                wire = self.server.dns.answer(data, tcp=True)
                if wire is not None:
                    conn.sendall(struct.pack("!H", len(wire)) + wire)
        except OSError:
            return


def _recv_exact(conn, n):
    """_recv_exact - n bytes from a stream socket, None on EOF."""
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def control_loop(server):
    """control_loop - stdin line protocol (LOAD/PING/QUIT); returns on QUIT or EOF."""
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd = words[0].upper()
        if cmd == "LOAD" and len(words) == 3:
            try:
                server.zone = load_scenario(words[1], int(words[2]))
                print("OK %d %s" % (len(server.zone.nodes), server.zone.description),
                      flush=True)
            except Exception as e:
                print("ERR %s" % str(e).replace("\n", " "), flush=True)
        elif cmd == "PING":
            print("OK", flush=True)
        elif cmd == "QUIT":
            print("OK", flush=True)
            return
        else:
            print("ERR unknown command %r" % line.strip(), flush=True)

# ---------------------------------------------------------------------------------------------
# Self-test: run this script as a subprocess and query it with dnslib's client.


SELFTEST_YAML = r"""
description: selftest one
tests: {}
zonedata:
  multi.example.net:
    - TXT: [ "v=spf1 ", "-all" ]
    - TXT: "second"
  spfonly.example.net:
    - SPF: v=spf1 -all
    - TXT: NONE
  dup.example.net:
    - SPF: v=spf1 +all
  both.example.net:
    - SPF: v=spf1 +all
    - TXT: v=spf1 -all
  timeout.example.net:
    - TXT: v=spf1 -all
    - TIMEOUT
  Exists.Example.NET:
    - A: 192.0.2.1
    - AAAA: ::FFFF:1.2.3.4
    - MX: [ 0, "" ]
  alias.example.net:
    - CNAME: Exists.example.net.
  loop.example.net:
    - CNAME: LOOP.example.net
  raw.example.net:
    - TXT: "a\xEF\xBB\xBFb\x80\x00\x0d"
  null.example.net:
    - TXT: [ ]
  4.3.2.1.in-addr.arpa:
    - PTR: exists.example.net
  big.example.net:
    - TXT: "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
    - TXT: "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
    - TXT: "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
---
description: selftest two
tests: {}
zonedata:
  multi.example.net:
    - TXT: "switched"
"""


def selftest():
    """selftest - start the server as a subprocess, check answers; returns the exit code."""
    failures = []

    def check(what, cond, detail=""):
        print("%s %s%s" % ("ok  " if cond else "FAIL", what, (": " + detail) if detail else ""))
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="suite_dns_selftest.") as tmp:
        path = os.path.join(tmp, "selftest.yml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(SELFTEST_YAML)
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--control", "stdin"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            first = _readline(proc, 10)
            check("PORT line", first.startswith("PORT "), repr(first))
            port = int(first.split()[1])

            def cmd(line):
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
                return _readline(proc, 10)

            check("LOAD scenario 0", cmd("LOAD %s 0" % path).startswith("OK "))

            def q(name, qtype, tcp=False, timeout=3.0, edns=False):
                rec = DNSRecord.question(name, qtype)
                if edns:
                    rec.add_ar(EDNS0(udp_len=1232))
                return DNSRecord.parse(rec.send("127.0.0.1", port, tcp=tcp, timeout=timeout))

            def txts(r, rtype=T_TXT):
                return [_strings(rr.rdata) for rr in r.rr if rr.rtype == rtype]

            r = q("multi.example.net", "TXT")
            check("multi-string TXT: one RR with two strings, plus a second RR",
                  sorted(txts(r)) == [(b"second",), (b"v=spf1 ", b"-all")], repr(txts(r)))
            check("answers have AA and RA", r.header.aa == 1 and r.header.ra == 1)
            r = q("spfonly.example.net", "TXT")
            check("TXT: NONE -> NODATA with SOA", r.header.rcode == RCODE.NOERROR and not r.rr
                  and [a.rtype for a in r.auth] == [T_SOA])
            r = q("spfonly.example.net", "SPF")
            check("SPF type 99 served", txts(r, T_SPF) == [(b"v=spf1 -all",)], repr(txts(r, 99)))
            r = q("dup.example.net", "TXT")
            check("SPF auto-duplicated to TXT", txts(r) == [(b"v=spf1 +all",)], repr(txts(r)))
            r = q("both.example.net", "TXT")
            check("no duplication when TXT exists", txts(r) == [(b"v=spf1 -all",)])
            r = q("timeout.example.net", "TXT")
            check("record before TIMEOUT still answers", txts(r) == [(b"v=spf1 -all",)])
            for qtype, tcp in (("A", False), ("SPF", False), ("A", True)):
                t0 = time.monotonic()
                try:
                    q("timeout.example.net", qtype, tcp=tcp, timeout=1.0)
                    check("TIMEOUT %s drops (%s)" % (qtype, "tcp" if tcp else "udp"), False,
                          "got an answer")
                except (socket.timeout, TimeoutError):
                    check("TIMEOUT %s drops (%s)" % (qtype, "tcp" if tcp else "udp"),
                          time.monotonic() - t0 >= 0.9)
            r = q("nowhere.example.net", "TXT")
            check("unknown name -> NXDOMAIN with SOA", r.header.rcode == RCODE.NXDOMAIN and
                  [a.rtype for a in r.auth] == [T_SOA])
            r = q("exists.example.net", "TXT")
            check("known name, other type -> NODATA", r.header.rcode == RCODE.NOERROR
                  and not r.rr and len(r.auth) == 1)
            r = q("example.net", "A")
            check("empty non-terminal -> NODATA", r.header.rcode == RCODE.NOERROR and not r.rr)
            r = q("EXISTS.example.Net", "A")
            check("case-insensitive, question case kept",
                  [str(rr.rdata) for rr in r.rr] == ["192.0.2.1"]
                  and str(r.rr[0].rname) == "EXISTS.example.Net.")
            r = q("exists.example.net", "AAAA")
            check("AAAA ::FFFF:a.b.c.d",
                  bytes(r.rr[0].rdata.data) == ipaddress.IPv6Address("::ffff:1.2.3.4").packed)
            r = q("exists.example.net", "MX")
            check("MX with empty exchange -> root", r.rr[0].rdata.preference == 0
                  and r.rr[0].rdata.label.label == ())
            r = q("alias.example.net", "A")
            check("CNAME followed: CNAME RR + target A",
                  [(rr.rtype, str(rr.rdata)) for rr in r.rr]
                  == [(T_CNAME, "Exists.example.net."), (T_A, "192.0.2.1")])
            r = q("alias.example.net", "CNAME")
            check("CNAME query returns only the CNAME", [rr.rtype for rr in r.rr] == [T_CNAME])
            r = q("loop.example.net", "A")
            check("CNAME loop answered once, no hang",
                  r.header.rcode == RCODE.NOERROR and [rr.rtype for rr in r.rr] == [T_CNAME])
            r = q("raw.example.net", "TXT")
            check("raw bytes on the wire", txts(r) == [(b"a\xef\xbb\xbfb\x80\x00\r",)],
                  repr(txts(r)))
            r = q("null.example.net", "TXT")
            check("null text [] -> one empty string", txts(r) == [(b"",)], repr(txts(r)))
            r = q("4.3.2.1.in-addr.arpa", "PTR")
            check("PTR", [str(rr.rdata) for rr in r.rr] == ["exists.example.net."])
            r = q("big.example.net", "TXT")
            check("UDP > 512 bytes without EDNS -> TC", r.header.tc == 1 and not r.rr)
            r = q("big.example.net", "TXT", edns=True)
            check("EDNS 1232 -> fits, no TC", r.header.tc == 0 and len(r.rr) == 3)
            r = q("big.example.net", "TXT", tcp=True)
            check("TCP -> full answer", r.header.tc == 0 and len(r.rr) == 3)
            check("LOAD scenario 1", cmd("LOAD %s 1" % path).startswith("OK "))
            r = q("multi.example.net", "TXT")
            check("scenario switched", txts(r) == [(b"switched",)], repr(txts(r)))
            r = q("dup.example.net", "TXT")
            check("old scenario gone", r.header.rcode == RCODE.NXDOMAIN)
            check("LOAD bad index -> ERR", cmd("LOAD %s 7" % path).startswith("ERR "))
            check("QUIT", cmd("QUIT") == "OK")
            proc.stdin.close()
            check("exit 0", proc.wait(timeout=10) == 0)
        except Exception as e:
            check("no exception", False, "%s: %s" % (type(e).__name__, e))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print("selftest: %s (%d failure%s)" % ("FAIL" if failures else "PASS", len(failures),
                                           "" if len(failures) == 1 else "s"))
    return 1 if failures else 0


def _strings(rdata):
    """_strings - character-strings of TXT-like rdata (dnslib parses type 99 as raw RD)."""
    if isinstance(rdata, TXT):
        return tuple(rdata.data)
    raw, out = bytes(rdata.data), []
    while raw:
        out.append(raw[1:1 + raw[0]])
        raw = raw[1 + raw[0]:]
    return tuple(out)


def _readline(proc, timeout):
    """_readline - one stdout line of a child, stripped; raises TimeoutError."""
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    if not r:
        raise TimeoutError("no line from the server within %ss" % timeout)
    return proc.stdout.readline().strip()


def main():
    ap = argparse.ArgumentParser(description="DNS server for one OpenSPF suite scenario "
                                             "(127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="UDP+TCP port, 0 = random")
    ap.add_argument("--suite", help="suite YAML file to load at start")
    ap.add_argument("--scenario", type=int, default=0, help="0-based scenario index")
    ap.add_argument("--control", choices=("stdin", "none"), default="stdin")
    ap.add_argument("-v", "--verbose", action="store_true", help="log queries to stderr")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    if args.selftest:
        return selftest()
    server = SuiteDNS(args.port, args.verbose)
    if args.suite:
        server.zone = load_scenario(args.suite, args.scenario)
    print("PORT %d" % server.port, flush=True)
    if args.control == "stdin":
        control_loop(server)
    else:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(3600):
            pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
