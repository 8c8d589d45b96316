#!/bin/sh
# tests/integration/spf_dnssec/make_zones.sh OUTDIR - zones for test_spf_dnssec.py:
#   OUTDIR/sig.zone       sig.spftest., signed now with a fresh ECDSA P-256 key (NSEC);
#                         the RRSIG over bad.sig.spftest. TXT is corrupted
#   OUTDIR/unsigned.zone  unsigned.spftest., no signatures and no anchor above it
#   OUTDIR/anchor.ds      the DS of sig.spftest. (spaces, one line): the trust anchor
# Needs ldnsutils.
set -eu
out=$1
cd "$out"
cat > sig.zone.in <<'Z'
$ORIGIN sig.spftest.
$TTL 300
@     SOA  ns.sig.spftest. hostmaster.sig.spftest. 1 3600 600 86400 60
@     NS   ns.sig.spftest.
ns    A    127.0.0.1
good  TXT  "v=spf1 ip4:192.0.2.10 -all"
bad   TXT  "v=spf1 ip4:192.0.2.10 -all"
Z
key=$(ldns-keygen -a ECDSAP256SHA256 -k sig.spftest)
ldns-signzone -f sig.zone.tmp sig.zone.in "$key"
awk '$1 == "bad.sig.spftest." && $4 == "RRSIG" && $5 == "TXT" {
         s = $NF; c = substr(s, 1, 1); $NF = (c == "A" ? "B" : "A") substr(s, 2)
     } { print }' sig.zone.tmp > sig.zone
grep -q '^bad\.sig\.spftest\..*RRSIG' sig.zone
tr '\t' ' ' < "$key.ds" | tr -s ' ' > anchor.ds
cat > unsigned.zone <<'Z'
$ORIGIN unsigned.spftest.
$TTL 300
@     SOA  ns.unsigned.spftest. hostmaster.unsigned.spftest. 1 3600 600 86400 60
@     NS   ns.unsigned.spftest.
ns    A    127.0.0.1
plain TXT  "v=spf1 ip4:192.0.2.10 -all"
Z
rm -f sig.zone.tmp sig.zone.in "$key.private" "$key.key" "$key.ds"
