#!/usr/bin/python3
"""tests/integration/dns/dns_server.py - a small authoritative DNS server for tests.

Usage: dns_server.py [--log] ZONEFILE...

Binds UDP and TCP on the same random port of 127.0.0.1, prints that port on stdout (one
line), then serves until killed. Never sends anything anywhere but replies.

Zone files are master-file text as python3-dnslib parses it ($ORIGIN, $TTL, one RR per
line; pre-signed zones from ldns-signzone work too). A name owning an SOA is a zone apex;
names outside every zone get REFUSED. Extra lines starting with '!' set behaviours:
    !TIMEOUT NAME [TYPE]    never answer (NAME absolute, or relative to the last $ORIGIN)
    !SERVFAIL NAME [TYPE]   answer SERVFAIL
    !REFUSED NAME [TYPE]    answer REFUSED
    !DELAY MS NAME [TYPE]   answer normally after MS milliseconds
A NAME of the form *.PARENT applies to every name below PARENT without its own directive.
Answers: records of the asked type, following CNAMEs inside our data; NODATA and NXDOMAIN
carry the zone's SOA in the authority section; '*' owners synthesise answers (no DNSSEC
proofs for those). When the query has EDNS with DO and the zone is signed, the answer and
authority RRsets come with their RRSIGs, NODATA with the owner's NSEC, NXDOMAIN with the
NSECs covering the name and the wildcard at the closest encloser. UDP answers larger than
the client's EDNS size (512 without EDNS) are truncated (TC), so the client retries on TCP.
"""
import socket
import struct
import sys
import threading
import time

from dnslib import QTYPE, RCODE, RR, DNSLabel, DNSRecord, EDNS0

ACTIONS = ("TIMEOUT", "SERVFAIL", "REFUSED", "DELAY")


def lname(label):
    """lower-case text form of a name, always with a trailing dot"""
    s = str(label).lower()
    return s if s.endswith(".") else s + "."


def canon_key(name):
    """RFC 4034 6.1 canonical order: compare labels right to left, lower-cased"""
    return tuple(reversed(DNSLabel(name.lower()).label))


class Zones:
    """all records by owner name, plus behaviours"""

    def __init__(self):
        self.rrs = {}       # owner -> [RR]
        self.apexes = set()
        self.actions = {}   # (owner, qtype or None) -> (action, delay_ms)

    def load(self, path):
        origin = "."
        text = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                s = line.strip()
                if s.upper().startswith("$ORIGIN"):
                    origin = lname(s.split()[1])
                if s.startswith("!"):
                    self._action(s[1:].split(), origin, path)
                    continue
                text.append(line)
        for rr in RR.fromZone("".join(text)):
            owner = lname(rr.rname)
            self.rrs.setdefault(owner, []).append(rr)
            if rr.rtype == QTYPE.SOA:
                self.apexes.add(owner)

    def _action(self, words, origin, path):
        if not words or words[0].upper() not in ACTIONS:
            sys.exit("%s: bad directive %r" % (path, " ".join(words)))
        action = words[0].upper()
        delay = 0
        if action == "DELAY":
            delay = int(words[1])
            words = words[1:]
        name = words[1]
        name = lname(name) if name.endswith(".") else lname(name + "." + origin.rstrip("."))
        qtype = getattr(QTYPE, words[2].upper()) if len(words) > 2 else None
        self.actions[(name, qtype)] = (action, delay)

    def action_for(self, name, qtype):
        """the behaviour for name: its own, else that of a '*' owner above it"""
        candidates = [name]
        rest = name
        while "." in rest.rstrip("."):
            rest = rest.split(".", 1)[1]
            candidates.append("*." + rest)
        for owner in candidates:
            act = self.actions.get((owner, qtype)) or self.actions.get((owner, None))
            if act:
                return act
        return None

    def zone_of(self, name):
        best = None
        for apex in self.apexes:
            if name == apex or name.endswith("." + apex) or apex == ".":
                if best is None or len(apex) > len(best):
                    best = apex
        return best

    def exists(self, name):
        if name in self.rrs:
            return True
        suffix = "." + name
        return any(o.endswith(suffix) for o in self.rrs)

    def rrset(self, name, qtype):
        return [rr for rr in self.rrs.get(name, []) if rr.rtype == qtype]

    def sigs(self, name, covered):
        return [rr for rr in self.rrs.get(name, [])
                if rr.rtype == QTYPE.RRSIG and rr.rdata.covered == covered]

    def covering_nsec(self, zone, name):
        """the NSEC whose owner is the greatest one canonically before name"""
        key = canon_key(name)
        best = None
        for owner, rrs in self.rrs.items():
            if owner != zone and not owner.endswith("." + zone):
                continue
            if not any(rr.rtype == QTYPE.NSEC for rr in rrs):
                continue
            k = canon_key(owner)
            if k < key and (best is None or k > canon_key(best)):
                best = owner
        return best

    def wildcard(self, name, zone):
        """the '*' owner at the closest encloser of name, or None"""
        cand = "*." + self.closest_encloser(name, zone)
        return cand if cand in self.rrs else None

    def closest_encloser(self, name, zone):
        while name != zone and not self.exists(name):
            name = name.split(".", 1)[1]
        return name


class Server:
    def __init__(self, zones, log):
        self.zones = zones
        self.log = log

    def answer(self, data):
        """reply bytes for request bytes, or None (no answer); also the delay in seconds"""
        try:
            req = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - garbage in, nothing out
            return None, 0, 512
        q = req.q
        name, qtype = lname(q.qname), q.qtype
        do, size, edns = False, 512, None
        for rr in req.ar:
            if rr.rtype == QTYPE.OPT:
                edns = rr
                size = max(512, rr.rclass)
                do = bool(rr.ttl & 0x8000)
        if self.log:
            print("query %s %s do=%d" % (name, QTYPE.get(qtype), do), file=sys.stderr,
                  flush=True)
        reply = req.reply()
        reply.header.aa = 1
        reply.header.ra = 0
        reply.ar = []
        if edns is not None:
            reply.add_ar(EDNS0(udp_len=1232, flags="do" if do else ""))
        act = self.zones.action_for(name, qtype)
        delay = 0
        if act:
            action, delay_ms = act
            if action == "TIMEOUT":
                return None, 0, size
            if action == "SERVFAIL":
                reply.header.rcode = RCODE.SERVFAIL
                return reply, 0, size
            if action == "REFUSED":
                reply.header.rcode = RCODE.REFUSED
                return reply, 0, size
            delay = delay_ms / 1000.0
        zone = self.zones.zone_of(name)
        if zone is None:
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply, delay, size
        self.resolve(reply, name, qtype, zone, do)
        return reply, delay, size

    def add(self, section, rrs, owner, do, rename=None):
        for rr in rrs:
            if rename:
                rr = RR(rname=rename, rtype=rr.rtype, rclass=rr.rclass, ttl=rr.ttl,
                        rdata=rr.rdata)
            section(rr)
        if do and rrs and not rename:
            section_sigs = self.zones.sigs(owner, rrs[0].rtype)
            for rr in section_sigs:
                section(rr)

    def resolve(self, reply, name, qtype, zone, do):
        z = self.zones
        for _ in range(8):
            rrs = z.rrset(name, qtype)
            if rrs:
                self.add(reply.add_answer, rrs, name, do)
                return
            cname = z.rrset(name, QTYPE.CNAME)
            if cname and qtype != QTYPE.CNAME:
                self.add(reply.add_answer, cname, name, do)
                name = lname(cname[0].rdata.label)
                zone = z.zone_of(name)
                if zone is None:
                    return
                continue
            break
        if not z.exists(name):
            wild = z.wildcard(name, zone)
            if wild:
                rrs = z.rrset(wild, qtype)
                if rrs:
                    self.add(reply.add_answer, rrs, wild, do, rename=name)
                else:
                    self.negative(reply, zone, do, [wild])
                return
            reply.header.rcode = RCODE.NXDOMAIN
            proofs = []
            cover = z.covering_nsec(zone, name)
            if cover:
                proofs.append(cover)
                encloser = z.closest_encloser(name, zone)
                wcover = z.covering_nsec(zone, "*." + encloser)
                if wcover and wcover != cover:
                    proofs.append(wcover)
            self.negative(reply, zone, do, proofs)
            return
        self.negative(reply, zone, do, [name] if z.rrset(name, QTYPE.NSEC) else [])

    def negative(self, reply, zone, do, nsec_owners):
        self.add(reply.add_auth, self.zones.rrset(zone, QTYPE.SOA), zone, do)
        if do:
            for owner in nsec_owners:
                self.add(reply.add_auth, self.zones.rrset(owner, QTYPE.NSEC), owner, do)


def udp_loop(server, sock):
    lock = threading.Lock()

    def send(payload, addr):
        with lock:
            sock.sendto(payload, addr)

    while True:
        data, addr = sock.recvfrom(65535)
        reply, delay, size = server.answer(data)
        if reply is None:
            continue
        payload = reply.pack()
        if len(payload) > size:
            reply.header.tc = 1  # keep the question and OPT, drop the records
            reply.rr, reply.auth = [], []
            reply.ar = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
            payload = reply.pack()
        if delay:
            threading.Timer(delay, send, (payload, addr)).start()
        else:
            send(payload, addr)


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_client(server, conn):
    with conn:
        while True:
            head = recv_exact(conn, 2)
            if head is None:
                return
            data = recv_exact(conn, struct.unpack("!H", head)[0])
            if data is None:
                return
            reply, delay, _ = server.answer(data)
            if reply is None:
                continue
            if delay:
                time.sleep(delay)
            payload = reply.pack()
            conn.sendall(struct.pack("!H", len(payload)) + payload)


def tcp_loop(server, sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=tcp_client, args=(server, conn), daemon=True).start()


def bind_pair():
    """UDP and TCP sockets on one free port of 127.0.0.1"""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(64)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        return udp, tcp, port
    sys.exit("dns_server: no free port")


def main(argv):
    log = "--log" in argv
    files = [a for a in argv if a != "--log"]
    if not files:
        sys.exit(__doc__)
    zones = Zones()
    for path in files:
        zones.load(path)
    server = Server(zones, log)
    udp, tcp, port = bind_pair()
    threading.Thread(target=tcp_loop, args=(server, tcp), daemon=True).start()
    print(port, flush=True)
    udp_loop(server, udp)


if __name__ == "__main__":
    main(sys.argv[1:])
