#!/bin/sh
# tests/integration/dns/make_signed_zone.sh OUTDIR - a DNSSEC-signed zone for the tests.
# Writes OUTDIR/signed.zone (signed.test., ECDSA P-256, NSEC, signed now: signatures made
# at test time never expire mid-run) whose bad.signed.test. A signature is corrupted, and
# OUTDIR/anchor.ds, the zone's DS record to use as trust anchor. Needs ldnsutils.
set -eu
out=$1
cd "$out"
cat > signed.zone.in <<'EOF'
$ORIGIN signed.test.
$TTL 300
@    SOA  ns.signed.test. hostmaster.signed.test. 1 3600 600 86400 60
@    NS   ns.signed.test.
ns   A    127.0.0.1
www  A    192.0.2.10
txt  TXT  "v=spf1 " "ip4:192.0.2.10 -all"
bad  A    192.0.2.66
EOF
key=$(ldns-keygen -a ECDSAP256SHA256 -k signed.test)
ldns-signzone -f signed.zone.tmp signed.zone.in "$key"
# flip the first base64 character of the signature over bad.signed.test. A
awk '$1 == "bad.signed.test." && $4 == "RRSIG" && $5 == "A" {
         s = $NF; c = substr(s, 1, 1); $NF = (c == "A" ? "B" : "A") substr(s, 2)
     } { print }' signed.zone.tmp > signed.zone
grep -q '^bad\.signed\.test\..*RRSIG' signed.zone
cp "$key.ds" anchor.ds
rm -f signed.zone.tmp "$key.private"
