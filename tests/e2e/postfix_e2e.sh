#!/bin/bash
# postfix_e2e.sh - greyspfd behind a real Postfix 3.7, everything on loopback.
#
# Usage: postfix_e2e.sh PATH_TO_GREYSPFD     (as root; needs Debian postfix and swaks)
#
# Builds a private Postfix instance in a temp dir (`postfix -c $T/etc`, /etc/postfix and
# any system instance are never touched), smtpd on 127.0.0.1:<random port>, delivery only
# to a virtual maildir ($T/vmail/inbox/), no DNS anywhere (peer name lookup off, no SMTP
# client use). Its recipient restrictions end in check_policy_service aimed at greyspfd on
# 127.0.0.1:<random port>. greyspfd skips client 127.0.0.2 (DUNNO) and REJECTs all others.
# Steps: accept+deliver, reject, decision log lines, policy down -> 451 (fail closed),
# restart on the same port, SIGHUP reload + an smtp-source burst of 50 messages, greylisting
# enabled by SIGHUP (450 4.7.1, accepted after a 2 s delay, a whitelisted client at once).
# Every recipient is unique per step so log lines can be tied to the step that caused them.
# GREYSPF_E2E_KEEP=1 keeps the temp dir (and says where) instead of removing it.
set -euo pipefail

PATH=$PATH:/usr/sbin:/sbin
readonly BURST=50             # messages sent by smtp-source in step 6
readonly DELIVERY_WAIT_S=30   # max wait for the virtual(8) agent to write a maildir file
readonly START_WAIT_S=10      # max wait for a daemon to listen / to exit after SIGTERM

T=""
GPID=""          # greyspfd PID while it runs
MASTER_PID=""    # Postfix master PID
STEP="setup"
SECONDS=0

log() { printf 'e2e: %s\n' "$*"; }

dump_logs() {
	[ -n "$T" ] || return 0
	echo "---- greyspfd log (tail) ----"
	tail -n 40 "$T/greyspfd.log" 2>/dev/null || true
	echo "---- postfix maillog (tail) ----"
	tail -n 40 "$T/log/maillog" 2>/dev/null || true
	echo "----"
}

# fail MSG - report a failed assertion of the current step, dump logs, exit 1.
fail() {
	printf 'e2e: FAIL [%s]: %s\n' "$STEP" "$*" >&2
	dump_logs >&2
	exit 1
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# expect_match WHAT GOT ERE - GOT must match the extended regex ERE.
expect_match() {
	[[ $2 =~ $3 ]] || fail "$1: got '$2', want a match for /$3/"
}

# alive PID - true while PID exists and is not a zombie.
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# listening PORT - true if something listens on IPv4 TCP PORT.
listening() {
	awk -v p="$(printf ':%04X' "$1")" \
		'NR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { f = 1 } END { exit !f }' \
		/proc/net/tcp
}

# port_in_use PORT - true if any IPv4/IPv6 TCP socket uses PORT locally.
port_in_use() {
	awk -v p="$(printf ':%04X' "$1")" \
		'NR > 1 && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port [EXCLUDE] - a random unused port below the ephemeral range.
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		[ "$p" != "${1:-}" ] && ! port_in_use "$p" && { echo "$p"; return 0; }
	done
	fail "no free loopback port found"
}

# wait_for SECONDS CMD... - poll CMD every 0.1 s; false on timeout.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

delivered() { find "$T/vmail" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l; }
queued() {
	find "$T/spool/maildrop" "$T/spool/incoming" "$T/spool/active" "$T/spool/deferred" \
		"$T/spool/hold" -type f 2>/dev/null | wc -l
}
delivered_ge() { [ "$(delivered)" -ge "$1" ]; }

# expect_delivered WANT - wait until the maildir holds WANT messages, then check it.
expect_delivered() {
	wait_for "$DELIVERY_WAIT_S" delivered_ge "$1" || true
	expect_eq "messages in $T/vmail after ${DELIVERY_WAIT_S}s wait" "$(delivered)" "$1"
}

# write_conf SKIP_CLIENTS [GREYLIST_KEYS] - with GREYLIST_KEYS (lines for [greylist]),
# greylisting is on and requests no stage decides get DUNNO instead of the step-2 REJECT.
write_conf() {
	local default_action="REJECT 5.7.1 greyspf e2e: refused" greylist="enabled = no"
	if [ -n "${2:-}" ]; then
		default_action=DUNNO
		greylist="enabled = yes
$2"
	fi
	cat >"$T/greyspf.conf" <<EOF
[server]
listen = inet:127.0.0.1:$POLICY_PORT
state_dir = $T/state
workers = 2
log_level = info
metrics =
[policy]
skip_loopback = no
skip_clients = $1
skip_action = DUNNO
default_action = $default_action
[spf]
enabled = no
[greylist]
$greylist
EOF
}

start_greyspfd() {
	"$GREYSPFD" -f -c "$T/greyspf.conf" >>"$T/greyspfd.log" 2>&1 &
	GPID=$!
	wait_for "$START_WAIT_S" listening "$POLICY_PORT" ||
		fail "greyspfd (pid $GPID) listening on 127.0.0.1:$POLICY_PORT: got $(alive "$GPID" &&
			echo 'not listening after '"$START_WAIT_S"'s' || echo 'exited'), want listening"
	log "greyspfd pid $GPID listens on 127.0.0.1:$POLICY_PORT"
}

# stop_greyspfd - SIGTERM, wait for exit, assert exit status 0.
stop_greyspfd() {
	local rc=0 pid=$GPID
	kill -TERM "$pid"
	wait_for "$START_WAIT_S" eval '! alive '"$pid" ||
		fail "greyspfd exit after SIGTERM: got still running after ${START_WAIT_S}s, want exit 0"
	wait "$pid" || rc=$?
	GPID=""
	expect_eq "greyspfd exit status after SIGTERM" "$rc" 0
	wait_for "$START_WAIT_S" eval '! listening '"$POLICY_PORT" ||
		fail "port $POLICY_PORT after greyspfd exit: got still listening, want closed"
}

# smtp CLIENT_IP RCPT [SWAKS_ARGS...] - one swaks session to our smtpd from CLIENT_IP;
# sets RCPT_REPLY (server reply to RCPT TO) and DATA_REPLY (reply to the final dot, or "").
SWAKS_N=0
smtp() {
	local ip=$1 rcpt=$2 out
	shift 2
	SWAKS_N=$((SWAKS_N + 1))
	out="$T/swaks.$SWAKS_N.out"
	swaks --server 127.0.0.1 --port "$SMTP_PORT" --local-interface "$ip" --timeout 20 \
		--helo client.example --from a@sender.example --to "$rcpt" \
		--header "Subject: greyspf e2e $STEP" "$@" >"$out" 2>&1 || true
	# Server lines are "<-  reply" or "<** reply" (error); take the first after the command.
	RCPT_REPLY=$(awk '/^ *-> RCPT TO:/ { f = 1; next }
		f && /^ *(<-|<\*\*) / { sub(/^ *(<-|<\*\*) +/, ""); print; exit }' "$out")
	DATA_REPLY=$(awk '/^ *-> \.$/ { f = 1; next }
		f && /^ *(<-|<\*\*) / { sub(/^ *(<-|<\*\*) +/, ""); print; exit }' "$out")
	if [ -z "$RCPT_REPLY" ]; then
		echo "---- swaks output ($out) ----" >&2
		cat "$out" >&2
		fail "swaks from $ip: got no reply to RCPT TO, want one"
	fi
}

# decision_lines CLIENT RCPT ACTION_ERE - count greyspfd log lines naming all three.
decision_lines() {
	grep -F -- "$1" "$T/greyspfd.log" | grep -F -- "$2" | grep -E -i -c -- "$3" || true
}

teardown() {
	local rc=$? i
	set +e
	if [ -n "$GPID" ] && alive "$GPID"; then
		kill -TERM "$GPID"
		for i in $(seq 1 50); do alive "$GPID" || break; sleep 0.1; done
		alive "$GPID" && kill -KILL "$GPID"
		wait "$GPID" 2>/dev/null
	fi
	if [ -n "$MASTER_PID" ]; then
		postfix -c "$T/etc" stop >/dev/null 2>&1
		for i in $(seq 1 100); do alive "$MASTER_PID" || break; sleep 0.1; done
		if alive "$MASTER_PID"; then
			echo "e2e: postfix master $MASTER_PID did not stop, aborting it" >&2
			postfix -c "$T/etc" abort >/dev/null 2>&1
			for i in $(seq 1 50); do alive "$MASTER_PID" || break; sleep 0.1; done
		fi
	fi
	if [ -n "$T" ]; then
		if [ "${GREYSPF_E2E_KEEP:-0}" = 1 ]; then
			echo "e2e: kept $T" >&2
		else
			rm -rf -- "$T"
		fi
	fi
	exit "$rc"
}

# ---- preconditions ----------------------------------------------------------------------
if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 PATH_TO_GREYSPFD (got '${1:-}', not an executable)" >&2
	exit 2
fi
GREYSPFD=$(readlink -f "$1")
missing=""
for tool in postfix postconf smtp-source swaks; do
	command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "e2e: FAIL: missing tools:$missing (Debian 12: apt-get install postfix swaks;" \
		"install postfix unconfigured, see DEPENDENCIES.md)" >&2
	exit 1
fi
[ "$(id -u)" = 0 ] || { echo "e2e: FAIL: must run as root (private Postfix instance)" >&2; exit 1; }
[ -f /usr/share/postfix/master.cf.dist ] || { echo "e2e: FAIL: /usr/share/postfix/master.cf.dist missing" >&2; exit 1; }

trap teardown EXIT
trap 'exit 130' INT TERM

T=$(mktemp -d /tmp/greyspf-e2e.XXXXXX)
chmod 755 "$T"
mkdir "$T/etc" "$T/spool" "$T/data" "$T/log" "$T/vmail" "$T/state"
chown postfix "$T/data"
chown 65534:65534 "$T/vmail"
touch "$T/etc/main.cf" "$T/greyspfd.log"

SMTP_PORT=$(free_port)
POLICY_PORT=$(free_port "$SMTP_PORT")
log "temp dir $T, smtpd 127.0.0.1:$SMTP_PORT, greyspfd 127.0.0.1:$POLICY_PORT, binary $GREYSPFD"

# ---- private Postfix instance -----------------------------------------------------------
# No DNS: smtpd does no peer-name lookup; smtp/lmtp clients are never used (only virtual
# delivery, everything else bounces locally via error:) but are pinned to native lookups.
postconf -c "$T/etc" -e \
	compatibility_level=3.6 queue_directory="$T/spool" data_directory="$T/data" \
	maillog_file="$T/log/maillog" maillog_file_prefixes="$T" \
	inet_interfaces=127.0.0.1 inet_protocols=ipv4 myhostname=mx.example.org \
	mydestination= alias_maps= alias_database= notify_classes= biff=no \
	'default_transport=error:no relaying' 'relay_transport=error:no relaying' \
	smtpd_peername_lookup=no smtp_dns_support_level=disabled lmtp_dns_support_level=disabled \
	smtp_host_lookup=native lmtp_host_lookup=native \
	virtual_mailbox_domains=example.net virtual_mailbox_base="$T/vmail" \
	virtual_mailbox_maps=static:inbox/ virtual_uid_maps=static:65534 virtual_gid_maps=static:65534 \
	smtpd_policy_service_timeout=3s smtpd_policy_service_try_limit=2 \
	smtpd_policy_service_retry_delay=1s \
	"smtpd_recipient_restrictions=reject_unauth_destination, check_policy_service { inet:127.0.0.1:$POLICY_PORT, { default_action = 451 4.3.5 policy service unavailable } }"
cp /usr/share/postfix/master.cf.dist "$T/etc/master.cf"
postconf -c "$T/etc" -F '*/*/chroot = n'
postconf -c "$T/etc" -MX smtp/inet
postconf -c "$T/etc" -Me "127.0.0.1:$SMTP_PORT/inet = 127.0.0.1:$SMTP_PORT inet n - n - - smtpd"

# postfix(1) logs to syslog unless stderr is a tty; rerun under script(1) to show why.
if ! postfix -c "$T/etc" check >/dev/null 2>&1; then
	script -qc "postfix -c $T/etc check" /dev/null >&2 || true
	fail "postfix check: got failure, want success"
fi

# ---- step 0: greyspfd and Postfix up ----------------------------------------------------
write_conf "127.0.0.2"
start_greyspfd
postfix -c "$T/etc" start >/dev/null 2>&1 || {
	script -qc "postfix -c $T/etc start" /dev/null >&2 || true
	fail "postfix start: got failure, want success"
}
MASTER_PID=$(awk '{ print $1; exit }' "$T/spool/pid/master.pid")
wait_for "$START_WAIT_S" listening "$SMTP_PORT" ||
	fail "postfix smtpd on 127.0.0.1:$SMTP_PORT: got not listening, want listening"
log "postfix master pid $MASTER_PID listens on 127.0.0.1:$SMTP_PORT ($((SECONDS))s)"

# ---- step 1: skipped client -> DUNNO -> accepted and delivered --------------------------
STEP="1 skipped client accepted"
smtp 127.0.0.2 s1@example.net
expect_match "RCPT reply from 127.0.0.2" "$RCPT_REPLY" '^250 2\.1\.5 '
expect_match "end-of-data reply from 127.0.0.2" "$DATA_REPLY" '^250 2\.0\.0 Ok: queued as [0-9A-Za-z]+$'
expect_delivered 1
log "step 1 ok: $DATA_REPLY, delivered ($((SECONDS))s)"

# ---- step 2: other client -> REJECT -> 554 ----------------------------------------------
STEP="2 other client refused"
smtp 127.0.0.3 s2@example.net
expect_eq "RCPT reply from 127.0.0.3" "$RCPT_REPLY" \
	"554 5.7.1 <s2@example.net>: Recipient address rejected: greyspf e2e: refused"
expect_eq "end-of-data reply from 127.0.0.3" "$DATA_REPLY" ""
log "step 2 ok: $RCPT_REPLY ($((SECONDS))s)"

# ---- step 3: one decision line per request ----------------------------------------------
STEP="3 decision log lines"
expect_eq "greyspfd log lines with 127.0.0.2, s1@example.net, DUNNO" \
	"$(decision_lines 127.0.0.2 s1@example.net 'DUNNO')" 1
expect_eq "greyspfd log lines with 127.0.0.3, s2@example.net, REJECT" \
	"$(decision_lines 127.0.0.3 s2@example.net 'REJECT')" 1
log "step 3 ok ($((SECONDS))s)"

# ---- step 4: policy service down -> Postfix default_action 451, nothing accepted --------
# smtpd still holds an idle policy connection here: greyspfd must exit despite it.
STEP="4 policy down fails closed"
stop_greyspfd
before=$(delivered)
smtp 127.0.0.2 s4a@example.net
expect_eq "RCPT reply from 127.0.0.2, greyspfd down" "$RCPT_REPLY" \
	"451 4.3.5 <s4a@example.net>: Recipient address rejected: policy service unavailable"
smtp 127.0.0.3 s4b@example.net
expect_eq "RCPT reply from 127.0.0.3, greyspfd down" "$RCPT_REPLY" \
	"451 4.3.5 <s4b@example.net>: Recipient address rejected: policy service unavailable"
expect_eq "end-of-data reply while greyspfd down" "$DATA_REPLY" ""
sleep 1
expect_eq "messages in the Postfix queue while greyspfd down" "$(queued)" 0
expect_eq "messages in $T/vmail while greyspfd down" "$(delivered)" "$before"
log "step 4 ok: exit 0 on SIGTERM, $RCPT_REPLY ($((SECONDS))s)"

# ---- step 5: restart on the same port -> accepted again ---------------------------------
STEP="5 restart on same port"
start_greyspfd
smtp 127.0.0.2 s5a@example.net
expect_match "RCPT reply from 127.0.0.2 after restart" "$RCPT_REPLY" '^250 2\.1\.5 '
expect_match "end-of-data reply after restart" "$DATA_REPLY" '^250 2\.0\.0 Ok: queued as '
expect_delivered $((before + 1))
# Restart again while the smtpd that served s5a keeps an idle policy connection open:
# greyspfd must close it on SIGTERM, rebind the port despite TIME_WAIT, and smtpd (which
# watches its idle connection and drops it on EOF) must reconnect.
stop_greyspfd
start_greyspfd
smtp 127.0.0.2 s5b@example.net
expect_match "RCPT reply from 127.0.0.2 after restart under a live smtpd" "$RCPT_REPLY" '^250 2\.1\.5 '
expect_match "end-of-data reply after second restart" "$DATA_REPLY" '^250 2\.0\.0 Ok: queued as '
expect_delivered $((before + 2))
expect_eq "greyspfd log lines with 127.0.0.2, s5b@example.net, DUNNO" \
	"$(decision_lines 127.0.0.2 s5b@example.net 'DUNNO')" 1
log "step 5 ok ($((SECONDS))s)"

# ---- step 6: SIGHUP reload, then a burst from smtp-source -------------------------------
# smtp-source cannot pick its source address, so it connects from 127.0.0.1: make that a
# skipped client by reloading greyspfd, and poll (RCPT only, nothing queued) until it is.
STEP="6 reload and burst"
smtp 127.0.0.1 s6pre@example.net --quit-after RCPT
expect_match "RCPT reply from 127.0.0.1 before reload" "$RCPT_REPLY" '^554 5\.7\.1 .*greyspf e2e: refused$'
write_conf "127.0.0.1 127.0.0.2"
kill -HUP "$GPID"
reloaded() {
	smtp 127.0.0.1 s6probe@example.net --quit-after RCPT
	[[ $RCPT_REPLY == "250 "* ]]
}
wait_for "$START_WAIT_S" reloaded ||
	fail "RCPT reply from 127.0.0.1 ${START_WAIT_S}s after SIGHUP: got '$RCPT_REPLY', want 250"
alive "$GPID" || fail "greyspfd after SIGHUP: got exited, want running (pid $GPID)"
before=$(delivered)
t0=$SECONDS
rc=0
timeout 60 smtp-source -c -m "$BURST" -s 5 -M client.example -f a@sender.example \
	-t burst@example.net "127.0.0.1:$SMTP_PORT" >"$T/smtp-source.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$T/smtp-source.out" >&2; fail "smtp-source exit status: got $rc, want 0"; }
expect_delivered $((before + BURST))
expect_eq "greyspfd log lines with 127.0.0.1, burst@example.net, DUNNO" \
	"$(decision_lines 127.0.0.1 burst@example.net 'DUNNO')" "$BURST"
log "step 6 ok: $BURST sent and delivered in $((SECONDS - t0))s ($((SECONDS))s)"

# ---- step 7: greylisting, enabled by SIGHUP ----------------------------------------------
# A new triplet from 127.0.0.5 gets 450 4.7.1 (DEFER_IF_PERMIT), the same triplet after the
# 2 s delay is accepted and delivered, and a client on the whitelist file (127.0.0.4) is
# accepted at once. The store is opened by the reload (greylisting was off at start).
STEP="7 greylisting"
printf '# greyspf e2e whitelist\n127.0.0.4\n' >"$T/greylist_clients"
write_conf "127.0.0.1 127.0.0.2" "delay = 2s
whitelist_clients = $T/greylist_clients"
kill -HUP "$GPID"
greylisting() {
	smtp 127.0.0.5 s7probe@example.net --quit-after RCPT
	[[ $RCPT_REPLY == "450 "* ]]
}
wait_for "$START_WAIT_S" greylisting ||
	fail "RCPT reply from 127.0.0.5 ${START_WAIT_S}s after SIGHUP: got '$RCPT_REPLY', want 450"
before=$(delivered)
smtp 127.0.0.5 s7a@example.net
t_first=$SECONDS
expect_eq "RCPT reply to a new triplet" "$RCPT_REPLY" \
	"450 4.7.1 <s7a@example.net>: Recipient address rejected: Greylisted, please try again in 2 seconds"
expect_eq "end-of-data reply after 450" "$DATA_REPLY" ""
smtp 127.0.0.4 s7w@example.net
expect_match "RCPT reply from whitelisted 127.0.0.4" "$RCPT_REPLY" '^250 2\.1\.5 '
expect_match "end-of-data reply from whitelisted 127.0.0.4" "$DATA_REPLY" '^250 2\.0\.0 Ok: queued as '
sleep 2.2
smtp 127.0.0.5 s7a@example.net
expect_match "RCPT reply to the retry after $((SECONDS - t_first))s" "$RCPT_REPLY" '^250 2\.1\.5 '
expect_match "end-of-data reply to the retry" "$DATA_REPLY" '^250 2\.0\.0 Ok: queued as '
expect_delivered $((before + 2))
expect_eq "greyspfd log lines with 127.0.0.5, s7a@example.net, greylist=new" \
	"$(decision_lines 127.0.0.5 s7a@example.net 'greylist=new left=2')" 1
expect_eq "greyspfd log lines with 127.0.0.5, s7a@example.net, greylist=passed" \
	"$(decision_lines 127.0.0.5 s7a@example.net 'greylist=passed delayed=')" 1
expect_eq "greyspfd log lines with 127.0.0.4, s7w@example.net, greylist=whitelisted" \
	"$(decision_lines 127.0.0.4 s7w@example.net 'greylist=whitelisted')" 1
[ -d "$T/state/greylist" ] || fail "greylist store: got no $T/state/greylist, want one"
log "step 7 ok: 450 4.7.1, accepted after the delay, whitelisted at once ($((SECONDS))s)"

# ---- step 8: clean shutdown -------------------------------------------------------------
STEP="8 shutdown"
stop_greyspfd
log "PASS in ${SECONDS}s"
