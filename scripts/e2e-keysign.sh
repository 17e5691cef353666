#!/usr/bin/env bash
# Decisions signed with the approver's own SSH key, and approvers by SSH
# certificate (issue 16), with real OpenSSH: ssh-keygen, ssh-agent, ssh-add,
# and the ssh client in an 80x24 tmux pane driven only by send-keys and
# capture-pane.
#   (a) `ssh -A` to the SSH console, approve a request whose template
#       requires key signatures; `signature export --sshsig` and stock
#       `ssh-keygen -Y verify` pass, and fail on a statement with one byte
#       changed;
#   (b) the same without agent forwarding is refused on screen, saying
#       `ssh -A` / `ssh-add`, and the request stays pending;
#   (c) locally: the console and `jitdesk approve` with $SSH_AUTH_SOCK sign
#       ("signing with ..."); the CLI without an agent is refused with the
#       explanation and records nothing;
#   (d) `jitdesk audit verify` passes, and fails on a copy whose stored
#       statement was edited with sqlite3;
#   (e) `serve --ssh-user-ca`: a certificate from `ssh-keygen -s CA -n LOGIN
#       -V +1h` logs in an approver with no registered key, and one
#       restricted by source-address from a listed address only; expired,
#       wrong principal and revoked (KRL) certificates are refused; updating
#       the KRL (no SIGHUP) ends a live session of a newly revoked certificate.
# Bounded waits only; everything it starts is stopped in the trap.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d -t jitdesk-e2e-keysign.XXXXXX)
# One tmux server per pane (a server being killed can still answer the
# next new-session, which then fails): panes counts them, tmuxsock is the
# current one.
panes=0
tmuxsock=jitdesk-e2e-keysign-$$-0
pids=()
cleanup() {
  for i in $(seq 0 "$panes"); do tmux -L "jitdesk-e2e-keysign-$$-$i" kill-server 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "e2e-keysign: FAIL: $*" >&2
  for f in "$work"/serve*.log; do [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -15 "$f" >&2; }; done
  exit 1
}
ok() { echo "e2e-keysign: ok: $*"; }
step() { printf -- '--- [%ss] %s\n' "$SECONDS" "$*"; }

missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v ssh >/dev/null && command -v ssh-agent >/dev/null && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v python3 >/dev/null || missing+=(python3)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

go build -o "$work/jitdesk" ./cmd/jitdesk
db="$work/j.db"
jd() { "$work/jitdesk" --db "$db" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
status_of() { jd --json request show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }

# --- the tmux pane: the only way the scripts see and drive the console
screen=""
capture() { screen=$(tmux -L "$tmuxsock" capture-pane -p 2>/dev/null || true); }
keys() { tmux -L "$tmuxsock" send-keys "$@"; }
wait_screen() { # wait_screen WHAT TEXT: bounded wait (15 s) until TEXT is on screen
  for _ in $(seq 1 75); do
    capture
    [[ "$screen" == *"$2"* ]] && return 0
    sleep 0.2
  done
  echo "$screen" >&2
  fail "the console did not show $1 ($2)"
}
open_pane() { # open_pane COMMAND: a fresh 80x24 pane running COMMAND
  tmux -L "$tmuxsock" kill-server 2>/dev/null || true
  panes=$((panes + 1))
  tmuxsock=jitdesk-e2e-keysign-$$-$panes
  tmux -L "$tmuxsock" new-session -d -x 80 -y 24 "$1"
}

step "setup: an approver with an ed25519 key, a template that requires key signatures"
jd init >/dev/null
jd --json app add shop --audience https://shop.e2e.example >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$work/bob" -C bob@e2e
bob_fp=$(ssh-keygen -lf "$work/bob.pub" | awk '{print $2}')
jd approver add bob --name "Bob Okafor" --ssh-key "$work/bob.pub" >/dev/null
jd template add prod --app shop --title "Prod shell" --type approve --approver bob --require-key-signature >/dev/null

# An agent on a socket of our own (never the caller's), in the foreground
# (-D) so its pid is ours to stop.
agent_sock="$work/agent.sock"
ssh-agent -D -a "$agent_sock" >/dev/null 2>&1 &
pids+=("$!")
for _ in $(seq 1 50); do [ -S "$agent_sock" ] && break; sleep 0.1; done
[ -S "$agent_sock" ] || fail "ssh-agent did not create its socket"
SSH_AUTH_SOCK=$agent_sock ssh-add -q "$work/bob" 2>/dev/null || fail "ssh-add"
SSH_AUTH_SOCK=$agent_sock ssh-add -l | grep -qF "$bob_fp" || fail "the agent does not list bob's key"
echo "agent $agent_sock holds bob's key $bob_fp"

ssh_port=$(free_port)
"$work/jitdesk" --db "$db" serve --http "" --ssh "127.0.0.1:$ssh_port" --host-key "$work/host_key" --quiet \
  >"$work/serve.log" 2>&1 &
serve=$!
pids+=("$serve")
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$ssh_port") 2>/dev/null && break
  kill -0 "$serve" 2>/dev/null || fail "serve exited"
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$ssh_port") 2>/dev/null || fail "serve's SSH port did not open"
ssh_opts="-p $ssh_port -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 -o IdentitiesOnly=yes"

# console_open_review: in the open pane, review the one request that needs
# bob and press a (approve), as an approver would.
console_open_review() {
  wait_screen "bob's queue" "Needs me (1)"
  keys Enter
  wait_screen "the review" "Key signing"
  keys a
}

step "(a) ssh -A: the console signs the approval with bob's key from the forwarded agent"
id_a=$(jd request create --template prod --requester alice --reason "e2e: console over ssh -A")
open_pane "SSH_AUTH_SOCK=$agent_sock ssh -A $ssh_opts -i $work/bob -t bob@127.0.0.1"
console_open_review
wait_screen "the confirm screen naming the signing key" "signing with ED25519"
wait_screen "bob's key fingerprint on the confirm screen" "$bob_fp"
keys y
wait_screen "the approval" "approved: alice has access"
[ "$(status_of "$id_a")" = approved ] || fail "request $id_a is not approved"
jd signature export "$id_a" --sshsig "$work/sig-a" >"$work/export-a.out" 2>&1 || fail "signature export"
for f in statement statement.sig allowed_signers; do [ -s "$work/sig-a/$f" ] || fail "export wrote no $f"; done
grep -q "ssh-keygen -Y verify" "$work/export-a.out" || fail "export did not print the verify command: $(cat "$work/export-a.out")"
grep -q "request: $id_a" "$work/sig-a/statement" && grep -q "decision: approve" "$work/sig-a/statement" \
  || fail "the statement does not name the request and the decision: $(cat "$work/sig-a/statement")"
ssh-keygen -Y verify -f "$work/sig-a/allowed_signers" -I bob -n jitdesk-decision -s "$work/sig-a/statement.sig" \
  <"$work/sig-a/statement" >"$work/verify-a.out" 2>&1 || { cat "$work/verify-a.out"; fail "ssh-keygen -Y verify refused the console's signature"; }
grep -qF "$bob_fp" "$work/verify-a.out" || fail "ssh-keygen verified with another key: $(cat "$work/verify-a.out")"
echo "  $(cat "$work/verify-a.out")"
# One byte of a copy changed: the digit after "digest: " gets its low bit flipped.
python3 - "$work/sig-a/statement" "$work/statement.changed" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.index(b"digest: ") + len(b"digest: ")
b[i] ^= 1
open(sys.argv[2], "wb").write(b)
PY
[ "$(cmp -l "$work/sig-a/statement" "$work/statement.changed" | wc -l)" = 1 ] || fail "the changed copy differs in more than one byte"
if ssh-keygen -Y verify -f "$work/sig-a/allowed_signers" -I bob -n jitdesk-decision -s "$work/sig-a/statement.sig" \
  <"$work/statement.changed" >"$work/verify-changed.out" 2>&1; then fail "ssh-keygen verified a statement with one byte changed"; fi
# The namespace matters too: the same signature under another namespace fails.
if ssh-keygen -Y verify -f "$work/sig-a/allowed_signers" -I bob -n file -s "$work/sig-a/statement.sig" \
  <"$work/sig-a/statement" >/dev/null 2>&1; then fail "ssh-keygen verified the signature under namespace 'file'"; fi
ok "ssh -A console approval is SSHSIG-signed by $bob_fp; ssh-keygen -Y verify passes, and fails with one byte changed or another namespace"

step "(b) without agent forwarding: the console refuses, saying how, and nothing is recorded"
id_b=$(jd request create --template prod --requester carol --reason "e2e: console without an agent")
# The agent is still in the ssh client's environment: only forwarding is off.
open_pane "SSH_AUTH_SOCK=$agent_sock ssh -o ForwardAgent=no $ssh_opts -i $work/bob -t bob@127.0.0.1"
console_open_review
wait_screen "the refusal" "ssh -A"
grep -q "ssh-add" <<<"$screen" || { echo "$screen" >&2; fail "the refusal does not mention ssh-add"; }
refusal=$(grep -E "ssh -A" <<<"$screen" | head -1 | sed 's/^ *//')
# y (confirm) right after must not approve either. Keys are handled in
# order, so once esc has brought the queue back, y has been handled too.
keys y
keys Escape
wait_screen "the queue after esc" "Needs me (1)"
[ "$(status_of "$id_b")" = pending ] || fail "request $id_b is $(status_of "$id_b") after a refused approval"
jd --json request show "$id_b" | python3 -c 'import json,sys; r=json.load(sys.stdin)["reviews"]; sys.exit(1 if r else 0)' \
  || fail "a review was recorded on $id_b"
ok "without -A the console says: \"$refusal\"; $id_b stays pending with no review"
tmux -L "$tmuxsock" kill-server 2>/dev/null || true
# Denials are signed too: bob denies it from the CLI with the agent.
SSH_AUTH_SOCK=$agent_sock jd deny "$id_b" --as bob --comment "e2e: use staging" >/dev/null 2>"$work/deny-b.err" \
  || { cat "$work/deny-b.err"; fail "jitdesk deny with the agent failed"; }
jd signature export "$id_b" --sshsig "$work/sig-b" >/dev/null 2>&1 || fail "signature export of the denial"
grep -q "decision: deny" "$work/sig-b/statement" || fail "the denial's statement does not say deny: $(cat "$work/sig-b/statement")"
ssh-keygen -Y verify -f "$work/sig-b/allowed_signers" -I bob -n jitdesk-decision -s "$work/sig-b/statement.sig" \
  <"$work/sig-b/statement" >/dev/null 2>&1 || fail "ssh-keygen -Y verify refused the denial's signature"
ok "then denied with SSH_AUTH_SOCK from the CLI: the denial is signed too and verifies"

step "(c) locally: the console and jitdesk approve sign through \$SSH_AUTH_SOCK"
id_c1=$(jd request create --template prod --requester dan --reason "e2e: local console")
open_pane "SSH_AUTH_SOCK=$agent_sock $work/jitdesk --db $db console --as bob --quiet"
console_open_review
wait_screen "the local confirm screen naming the signing key" "signing with ED25519"
keys y
wait_screen "the local approval" "approved: dan has access"
tmux -L "$tmuxsock" kill-server 2>/dev/null || true
jd signature export "$id_c1" --sshsig "$work/sig-c1" >/dev/null 2>&1 || fail "signature export of the local console's approval"
ssh-keygen -Y verify -f "$work/sig-c1/allowed_signers" -I bob -n jitdesk-decision -s "$work/sig-c1/statement.sig" \
  <"$work/sig-c1/statement" >/dev/null 2>&1 || fail "ssh-keygen -Y verify refused the local console's signature"
ok "the local console with SSH_AUTH_SOCK signs; ssh-keygen -Y verify passes"

id_c2=$(jd request create --template prod --requester erin --reason "e2e: cli with agent")
SSH_AUTH_SOCK=$agent_sock jd approve "$id_c2" --as bob >"$work/token-c2" 2>"$work/approve-c2.err" \
  || { cat "$work/approve-c2.err"; fail "jitdesk approve with the agent failed"; }
grep -q "signing with ED25519 $bob_fp" "$work/approve-c2.err" || fail "approve did not say which key signs: $(cat "$work/approve-c2.err")"
jd verify "$(cat "$work/token-c2")" >/dev/null || fail "the CLI approval's token does not verify"
jd signature export "$id_c2" --sshsig "$work/sig-c2" >/dev/null 2>&1 || fail "signature export of the CLI approval"
ssh-keygen -Y verify -f "$work/sig-c2/allowed_signers" -I bob -n jitdesk-decision -s "$work/sig-c2/statement.sig" \
  <"$work/sig-c2/statement" >/dev/null 2>&1 || fail "ssh-keygen -Y verify refused the CLI's signature"
ok "SSH_AUTH_SOCK=… jitdesk approve says \"$(head -1 "$work/approve-c2.err")\"; its signature verifies"

id_c3=$(jd request create --template prod --requester frank --reason "e2e: cli without agent")
if env -u SSH_AUTH_SOCK "$work/jitdesk" --db "$db" approve "$id_c3" --as bob >"$work/token-c3" 2>"$work/approve-c3.err"; then
  fail "jitdesk approve without an agent approved a template that requires key signatures"
fi
grep -q "ssh-add" "$work/approve-c3.err" && grep -q "ssh -A" "$work/approve-c3.err" \
  || fail "the CLI refusal does not say how to get a key signature: $(cat "$work/approve-c3.err")"
[ -s "$work/token-c3" ] && fail "a refused approve printed a token"
[ "$(status_of "$id_c3")" = pending ] || fail "request $id_c3 is $(status_of "$id_c3") after a refused approve"
ok "without SSH_AUTH_SOCK jitdesk approve is refused: $(cut -c1-160 "$work/approve-c3.err")…; $id_c3 stays pending"
# With the agent back the same request can be decided (denied, signed).
SSH_AUTH_SOCK=$agent_sock jd deny "$id_c3" --as bob --comment "e2e: done with it" >/dev/null 2>&1 || fail "deny $id_c3 with the agent"
[ "$(status_of "$id_c3")" = denied ] || fail "request $id_c3 is $(status_of "$id_c3") after deny"

step "(d) audit verify: the chain and every stored SSH signature"
jd audit verify >"$work/audit.out" 2>&1 || { cat "$work/audit.out"; fail "audit verify"; }
ok "$(head -1 "$work/audit.out")"
# On a copy (jitdesk backup), one character of a stored statement changed
# behind jitdesk's back (its append-only trigger dropped): audit verify names
# the signature that no longer verifies.
jd backup "$work/tamper.db" >/dev/null || fail "jitdesk backup for the tampering copy"
sqlite3 "$work/tamper.db" "DROP TRIGGER key_signatures_no_update;
  UPDATE key_signatures SET statement = replace(statement, 'approver: bob', 'approver: rob') WHERE request_id = '$id_a';" \
  || fail "sqlite3 could not edit the copy"
[ "$(sqlite3 "$work/tamper.db" "SELECT count(*) FROM key_signatures WHERE request_id = '$id_a' AND statement LIKE '%approver: rob%'")" = 1 ] \
  || fail "the tampering did not change $id_a's statement (no 'approver: bob' in it?)"
if "$work/jitdesk" --db "$work/tamper.db" --master-key-file "$db.master-key" audit verify >"$work/tamper.out" 2>&1; then
  fail "audit verify passed a database whose stored key-signed statement was changed"
fi
grep -q "key signature" "$work/tamper.out" && grep -q "does not verify" "$work/tamper.out" \
  || fail "audit verify did not name the broken key signature: $(cat "$work/tamper.out")"
ok "a stored statement changed on a copy: audit verify fails: $(cut -c1-170 "$work/tamper.out")…"

step "(e) serve --ssh-user-ca: certificates log approvers in; expired, wrong principal, revoked are refused"
kill -TERM "$serve"
for _ in $(seq 1 100); do kill -0 "$serve" 2>/dev/null || break; sleep 0.1; done
kill -0 "$serve" 2>/dev/null && fail "serve did not stop within 10s of SIGTERM"
wait "$serve" || fail "serve exited non-zero after SIGTERM"
# carol is an approver with no registered key: only the CA can let her in.
jd approver add carol --name "Carol Chen" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$work/ca" -C e2e-user-ca
ssh-keygen -q -t ed25519 -N '' -f "$work/carol" -C carol@e2e
cert() { # cert NAME SERIAL PRINCIPAL VALIDITY [OPTIONS…]: sign carol's key into $work/NAME-cert.pub
  cp "$work/carol.pub" "$work/$1.pub"
  ssh-keygen -q -s "$work/ca" -I "carol-$1" -z "$2" -n "$3" -V "$4" "${@:5}" "$work/$1.pub"
}
cert valid 1 carol +1h
cert expired 2 carol -2h:-1h
cert stranger 3 mallory +1h
cert revoked 4 carol +1h
cert mapped 5 c.chen +1h
cert sourced 6 carol +1h -O source-address=10.0.0.0/8,127.0.0.1
printf '# principal login\nc.chen carol\n' >"$work/principals"
printf 'serial: 4\n' >"$work/krl.spec"
ssh-keygen -q -k -f "$work/revoked.krl" -s "$work/ca.pub" "$work/krl.spec"
ssh-keygen -Q -f "$work/revoked.krl" "$work/revoked-cert.pub" >/dev/null 2>&1 && fail "ssh-keygen -Q does not find the revoked cert in the KRL"
ssh-keygen -Q -f "$work/revoked.krl" "$work/valid-cert.pub" >/dev/null 2>&1 || fail "ssh-keygen -Q finds the valid cert in the KRL"

ssh_port=$(free_port)
"$work/jitdesk" --db "$db" serve --http "" --ssh "127.0.0.1:$ssh_port" --host-key "$work/host_key" --quiet \
  --ssh-user-ca "$work/ca.pub" --ssh-principal-map "$work/principals" --ssh-revoked-keys "$work/revoked.krl" >"$work/serve-ca.log" 2>&1 &
serve=$!
pids+=("$serve")
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$ssh_port") 2>/dev/null && break
  kill -0 "$serve" 2>/dev/null || fail "serve --ssh-user-ca exited"
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$ssh_port") 2>/dev/null || fail "serve --ssh-user-ca's SSH port did not open"
ssh_opts="-p $ssh_port -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 -o IdentitiesOnly=yes"

# try_cert NAME: a non-interactive login with carol's key and the NAME
# certificate; prints ssh's stderr. The console refuses exec, so ssh exits
# non-zero either way: the authentication outcome is whether ssh says
# "Permission denied". Extra arguments go to ssh (-b ADDR: connect from
# another loopback address).
try_cert() {
  timeout 20 ssh $ssh_opts -o BatchMode=yes -i "$work/carol" -o CertificateFile="$work/$1-cert.pub" "${@:2}" \
    carol@127.0.0.1 true </dev/null 2>&1 >/dev/null || true
}
out=$(try_cert valid)
grep -q "Permission denied" <<<"$out" && fail "the valid certificate was refused: $out"
open_pane "ssh $ssh_opts -i $work/carol -o CertificateFile=$work/valid-cert.pub -t carol@127.0.0.1"
wait_screen "carol's console (certificate login)" "Carol Chen (carol)"
ok "a certificate signed by the CA for principal carol (-V +1h) opens carol's console; she has no registered key"
open_pane "ssh $ssh_opts -i $work/carol -o CertificateFile=$work/mapped-cert.pub -t carol@127.0.0.1"
wait_screen "carol's console (principal c.chen, mapped)" "Carol Chen (carol)"
ok "a certificate for principal c.chen logs in as carol through --ssh-principal-map"
open_pane "ssh $ssh_opts -i $work/carol -o CertificateFile=$work/sourced-cert.pub -t carol@127.0.0.1"
wait_screen "carol's console (source-address 10.0.0.0/8,127.0.0.1)" "Carol Chen (carol)"
ok "a certificate restricted by source-address to 10.0.0.0/8,127.0.0.1 logs in from 127.0.0.1"
# From 127.0.0.2 (another loopback address, so its own security-log budget
# of five lines a burst) the same certificate is refused.
out=$(try_cert sourced -b 127.0.0.2)
grep -q "Permission denied" <<<"$out" || fail "the source-address certificate logged in from 127.0.0.2: $out"
grep '"event":"auth.failed"' "$work/serve-ca.log" | grep '"remote":"127.0.0.2"' | grep '"certificate_key_id":"carol-sourced"' \
  | grep -q '"reason":"bad_option"' || fail "serve did not log the refusal from 127.0.0.2 with reason bad_option"
ok "the same certificate from 127.0.0.2 is refused with Permission denied; serve logs auth.failed reason bad_option"

# Key-signing with the certificate's key: the agent holds carol's key with
# the valid certificate, forwarded with -A; she approves a request.
jd template update prod --approver bob --approver carol >/dev/null
id_e=$(jd request create --template prod --requester gina --reason "e2e: approved by certificate")
cp "$work/valid-cert.pub" "$work/carol-cert.pub"
SSH_AUTH_SOCK=$agent_sock ssh-add -q "$work/carol" 2>/dev/null || fail "ssh-add carol's key and certificate"
SSH_AUTH_SOCK=$agent_sock ssh-add -L | grep -q "^ssh-ed25519-cert-v01@openssh.com " || fail "the agent holds no certificate"
open_pane "SSH_AUTH_SOCK=$agent_sock ssh -A $ssh_opts -i $work/carol -o CertificateFile=$work/valid-cert.pub -t carol@127.0.0.1"
wait_screen "carol's queue" "Needs me (1)"
keys Enter
wait_screen "the review" "Key signing"
keys a
wait_screen "the confirm screen naming the signing key" "signing with"
keys y
wait_screen "carol's approval" "approved: gina has access"
[ "$(status_of "$id_e")" = approved ] || fail "request $id_e is not approved"
jd signature export "$id_e" --sshsig "$work/sig-e" >"$work/export-e.out" 2>&1 || { cat "$work/export-e.out"; fail "signature export of the certificate-signed approval"; }
ssh-keygen -Y verify -f "$work/sig-e/allowed_signers" -I carol -n jitdesk-decision -s "$work/sig-e/statement.sig" \
  <"$work/sig-e/statement" >"$work/verify-e.out" 2>&1 || { cat "$work/verify-e.out" "$work/sig-e/allowed_signers"; fail "ssh-keygen -Y verify refused the certificate-signed approval"; }
carol_fp=$(ssh-keygen -lf "$work/carol.pub" | awk '{print $2}')
grep -qF "$carol_fp" "$work/verify-e.out" || fail "the approval was not signed with the certificate's key $carol_fp: $(cat "$work/verify-e.out")"
ok "carol, logged in by certificate with ssh -A, approves; the signature is made with the certificate's key and ssh-keygen -Y verify passes ($(cut -c1-60 "$work/sig-e/allowed_signers")…)"
tmux -L "$tmuxsock" kill-server 2>/dev/null || true
for name in expired stranger revoked; do
  out=$(try_cert "$name")
  grep -q "Permission denied" <<<"$out" || fail "the $name certificate was not refused: $out"
done
# The plain key alone is not registered either.
out=$(timeout 20 ssh $ssh_opts -o BatchMode=yes -o CertificateFile=none -i "$work/carol" carol@127.0.0.1 true </dev/null 2>&1 >/dev/null || true)
grep -q "Permission denied" <<<"$out" || fail "carol's plain key (no certificate) was not refused: $out"
# Each refusal is logged as a security event naming the certificate and why.
for pair in expired:expired stranger:unknown_principal revoked:revoked; do
  grep '"event":"auth.failed"' "$work/serve-ca.log" | grep "\"certificate_key_id\":\"carol-${pair%%:*}\"" \
    | grep -q "\"reason\":\"${pair#*:}\"" || fail "serve did not log the ${pair%%:*} certificate's refusal with reason ${pair#*:}"
done
ok "expired, wrong-principal (mallory) and revoked (KRL serial 4) certificates are refused with Permission denied; serve logs auth.failed with reasons expired, unknown_principal, revoked"

# Revoking takes no signal: serve watches the KRL's folder. carol is logged
# in with the valid certificate (serial 1) when the KRL is updated.
open_pane "ssh $ssh_opts -i $work/carol -o CertificateFile=$work/valid-cert.pub -t carol@127.0.0.1; sleep 60"
wait_screen "carol's console before the revocation" "Carol Chen (carol)"
printf 'serial: 1\n' >"$work/krl-more.spec"
ssh-keygen -q -k -u -f "$work/revoked.krl" -s "$work/ca.pub" "$work/krl-more.spec"
wait_screen "carol's session ended by the updated KRL" "no longer accepted (revoked)"
grep -q '"msg":"reloading files","cause":"changed ' "$work/serve-ca.log" || fail "serve did not log the reload caused by the KRL change"
out=$(try_cert valid)
grep -q "Permission denied" <<<"$out" || fail "the certificate revoked by the updated KRL (no SIGHUP) still logs in: $out"
ok "updating the KRL (ssh-keygen -k -u, no SIGHUP) ends carol's live session with \"no longer accepted (revoked)\" and refuses her next login"
tmux -L "$tmuxsock" kill-server 2>/dev/null || true

jd audit verify >"$work/audit.out" 2>&1 || { cat "$work/audit.out"; fail "audit verify after the certificate-signed approval"; }
ok "audit verify after the certificate-signed approval: $(head -1 "$work/audit.out")"
echo "e2e-keysign: all checks passed"
