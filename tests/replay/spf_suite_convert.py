#!/usr/bin/python3
"""tests/replay/spf_suite_convert.py - turn an OpenSPF YAML test suite into flat scenarios.

Usage: spf_suite_convert.py SUITE.yml OUT.scenarios

Input: the OpenSPF suite format (tests/replay/spf-suite/*.yml, described in
/work/shared/spf-tests/README.md): YAML documents, each a scenario with `tests` and
`zonedata`. Output: a line-oriented text file read by spf_replay.c:

    # header comments
    suite SCENARIOS TESTS                  totals, checked by the runner
    scenario DESCRIPTION
    zone                                    then dns_fake_load lines (dns/dns.h) up to
    ...                                     a line "end"
    end
    test NAME                               then KEY VALUE lines up to "end":
    helo VALUE                                helo, host, mailfrom, spec, explanation
    host VALUE                                and result (space-separated words)
    mailfrom VALUE
    result WORD...
    end

A VALUE is the rest of the line after one space; bytes outside 0x20-0x7e and the backslash
are written as \\xNN (backslash x, two hex digits). YAML strings become bytes with each code
point below 256 as that byte (so "\\x80" is the byte 0x80) and others in UTF-8.

Zone data rules (the suite's conventions):
  - every SPF (type 99) record is also served as TXT unless the name has a TXT entry
    (`TXT: NONE` included), the suite's "auto-magic duplication";
  - `TXT: NONE` means no TXT record;
  - `TIMEOUT`: queries of the types the name has no records of never answer (a name with
    only TIMEOUT never answers at all);
  - `TXT: []` (no strings; illegal on the wire) is served as one empty string;
  - `MX: [pref, ""]` has the root as exchange.
"""
import sys

import yaml

TYPES = ("A", "AAAA", "MX", "PTR", "TXT", "SPF")


def to_bytes(v):
    """A YAML scalar as the bytes it stands for."""
    if isinstance(v, bytes):
        return v
    out = bytearray()
    for ch in str(v):
        o = ord(ch)
        out += bytes([o]) if o < 256 else ch.encode("utf-8")
    return bytes(out)


def quote(v):
    """A dns_fake_load quoted string."""
    out = ['"']
    for b in to_bytes(v):
        if b == 0x22:
            out.append('\\"')
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    out.append('"')
    return "".join(out)


def value(v):
    """A runner VALUE: printable ASCII as is, everything else as \\xNN."""
    out = []
    for b in to_bytes(v):
        if 0x20 <= b <= 0x7E and b != 0x5C:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def txt_data(v):
    """TXT/SPF record data: one or more quoted strings."""
    if isinstance(v, (list, tuple)):
        parts = list(v)
        if not parts:
            parts = [""]  # null text: one empty string (see the module doc)
    else:
        parts = [v]
    return " ".join(quote(p) for p in parts)


def zone_lines(zonedata):
    """The dns_fake_load lines of one scenario's zonedata."""
    lines = []
    for name, records in (zonedata or {}).items():
        records = records or []
        qn = quote(name)
        entries = []
        timeout = False
        for r in records:
            if isinstance(r, str):
                if r.upper() != "TIMEOUT":
                    raise ValueError("%s: unknown bare entry %r" % (name, r))
                timeout = True
                continue
            if not isinstance(r, dict):
                raise ValueError("%s: unknown entry %r" % (name, r))
            for k, v in r.items():
                entries.append((str(k).upper(), v))
        has_txt = any(k == "TXT" for k, _ in entries)
        present = set()
        for k, v in entries:
            if k == "TXT" and v == "NONE":
                continue
            if k in ("TXT", "SPF"):
                data = txt_data(v)
                lines.append("%s %s %s" % (qn, k, data))
                present.add(k)
                if k == "SPF" and not has_txt:
                    lines.append("%s TXT %s" % (qn, data))
                    present.add("TXT")
            elif k in ("A", "AAAA"):
                lines.append("%s %s %s" % (qn, k, str(v)))
                present.add(k)
            elif k == "MX":
                pref, exch = v
                exch = str(exch) if exch not in (None, "") else "."
                lines.append("%s MX %d %s" % (qn, int(pref), quote(exch)))
                present.add(k)
            elif k in ("PTR", "CNAME"):
                lines.append("%s %s %s" % (qn, k, quote(v)))
                present.add(k)
            else:
                raise ValueError("%s: unknown record type %s" % (name, k))
        if timeout:
            if not present:
                lines.append("%s TIMEOUT" % qn)
            elif "CNAME" not in present:
                for t in TYPES:
                    if t not in present:
                        lines.append("%s %s TIMEOUT" % (qn, t))
    return lines


def convert(path):
    """The scenario file text for the suite at path."""
    out = []
    n_scen = n_tests = 0
    with open(path, "rb") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for doc in docs:
        n_scen += 1
        desc = str(doc.get("description", "scenario %d" % n_scen)).strip()
        out.append("scenario " + value(desc))
        out.append("zone")
        out.extend(zone_lines(doc.get("zonedata")))
        out.append("end")
        for name, t in (doc.get("tests") or {}).items():
            n_tests += 1
            out.append("test " + value(name))
            out.append("helo " + value(t.get("helo", "")))
            out.append("host " + value(t["host"]))
            out.append("mailfrom " + value(t.get("mailfrom", "")))
            if "spec" in t:
                out.append("spec " + value(t["spec"]))
            res = t["result"]
            res = res if isinstance(res, list) else [res]
            out.append("result " + " ".join(str(r) for r in res))
            if "explanation" in t:
                out.append("explanation " + value(t["explanation"]))
            out.append("end")
    head = [
        "# generated by spf_suite_convert.py from %s - do not edit" % path.split("/")[-1],
        "suite %d %d" % (n_scen, n_tests),
    ]
    return "\n".join(head + out) + "\n"


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: spf_suite_convert.py SUITE.yml OUT.scenarios\n")
        return 2
    text = convert(argv[1])
    tmp = argv[2] + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
    import os

    os.replace(tmp, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
