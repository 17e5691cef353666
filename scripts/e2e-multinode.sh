#!/usr/bin/env bash
# End to end on PostgreSQL with two nodes, as real processes: a throwaway
# cluster; `jitdesk init` with $JITDESK_MASTER_KEY; two `serve` nodes (their
# own HTTP and SSH ports, one database); then
#   - both nodes show SSH clients the same host key (kept in the database);
#   - twelve `jitdesk approve` processes race on each request while both
#     nodes' sweepers run: exactly one grant, every loser told who won;
#   - a request submitted over HTTP to node A, long-polled on node B
#     (?wait=), is answered on B when approved;
#   - an SSH console (OpenSSH in tmux) on node B shows a request submitted
#     to node A;
#   - a webhook receiver sees each event exactly once across both nodes;
#   - kill -9 of node A during an intake burst: every 201 it answered has
#     its request and its audit event, and the audit chain verifies.
# Bounded waits only; everything it starts is stopped in the trap.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d -t jitdesk-e2e-multi.XXXXXX)
# Its own cluster, outside $work: the postgres user must reach it.
PG_TEST_DIR=$(mktemp -u -d -t jitdesk-e2e-multi-pg.XXXXXX)
export PG_TEST_DIR
pids=()
tmuxsock=jitdesk-e2e-multi-$$
cleanup() {
  tmux -L "$tmuxsock" kill-server 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  "$root/scripts/pg-test-cluster.sh" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "e2e-multinode: FAIL: $*" >&2
  for f in "$work"/node-a.log "$work"/node-b.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  exit 1
}

go build -o "$work/jitdesk" ./cmd/jitdesk
eval "$(scripts/pg-test-cluster.sh start)"
[ -n "${JITDESK_TEST_POSTGRES:-}" ] || fail "the PostgreSQL test cluster did not start"
export JITDESK_DB=$JITDESK_TEST_POSTGRES
# The deployment's master key, the same for every node and command; made
# here as an operator would with their secret store.
JITDESK_MASTER_KEY=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())')
export JITDESK_MASTER_KEY
export JITDESK_ISSUER=https://jitdesk.e2e.test
jd() { "$work/jitdesk" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_a=$(free_port); ssh_a=$(free_port); http_b=$(free_port); ssh_b=$(free_port); hook_port=$(free_port)
base_a="http://127.0.0.1:$http_a"; base_b="http://127.0.0.1:$http_b"

echo "--- init on PostgreSQL"
jd init | sed 's/^/  /'
app=$(jd --json app add e2e-app --audience https://e2e.example.com)
app_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$app")
app_secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret"])' "$app")
ssh-keygen -q -t ed25519 -N '' -f "$work/bob" -C bob@e2e
jd approver add bob --name "Bob Okafor" --group sre --ssh-key "$work/bob.pub" >/dev/null
for i in $(seq 1 12); do jd approver add "op$i" --name "Operator $i" --group sre >/dev/null; done
jd template add k8s --app e2e-app --title "K8s exec" --type approve --group sre --ttl 30m >/dev/null

# A webhook receiver on loopback that records every delivery's event id.
cat >"$work/hook.py" <<'EOF'
import http.server, json, sys
out = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            out.write(json.loads(body)["id"] + "\n")
        except Exception:
            out.write("unparsable\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
: >"$work/hook.ids"
python3 "$work/hook.py" "$hook_port" "$work/hook.ids" &
pids+=($!)
jd webhook add "http://127.0.0.1:$hook_port/hook" >/dev/null

echo "--- two serve nodes on one database"
"$work/jitdesk" serve --http "127.0.0.1:$http_a" --ssh "127.0.0.1:$ssh_a" --quiet >"$work/node-a.log" 2>&1 &
node_a=$!
pids+=($node_a)
"$work/jitdesk" serve --http "127.0.0.1:$http_b" --ssh "127.0.0.1:$ssh_b" --quiet >"$work/node-b.log" 2>&1 &
node_b=$!
pids+=($node_b)
for base in "$base_a" "$base_b"; do
  for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "$base/healthz" >/dev/null || fail "$base did not become healthy"
done
key_a=$(ssh-keyscan -t ed25519 -p "$ssh_a" 127.0.0.1 2>/dev/null | awk '{print $3}')
key_b=$(ssh-keyscan -t ed25519 -p "$ssh_b" 127.0.0.1 2>/dev/null | awk '{print $3}')
[ -n "$key_a" ] && [ "$key_a" = "$key_b" ] || fail "the nodes show different SSH host keys (A ${key_a:-none}, B ${key_b:-none})"
ls "${TMPDIR:-/tmp}"/jitdesk-host-key-* >/dev/null 2>&1 && fail "a shared host key's plaintext was left on disk"
echo "both nodes healthy; one SSH host key: ${key_a:0:24}…"

# Intake tokens: HS256, signed with the application's secret (python3 stdlib).
# intake SUB [N]: an intake token for SUB, or with N, N tokens (one a
# line) for SUB1…SUBN.
intake() {
  python3 - "$app_secret" "$app_id" "$JITDESK_ISSUER" "${1:-alice}" "${2:-}" <<'EOF'
import base64, hashlib, hmac, json, sys, time, uuid
secret, iss, aud, sub, n = sys.argv[1:6]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
for who in ([sub] if not n else [sub + str(i) for i in range(1, int(n) + 1)]):
    p = b64(json.dumps({"iss": iss, "aud": aud, "sub": who, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())}).encode())
    sig = b64(hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest())
    print(h + "." + p + "." + sig)
EOF
}
submit() { # submit BASE REASON [REQUESTER] -> prints the new request's id
  curl -fsS "$1/v1/requests" -H "Authorization: Bearer $(intake "${3:-alice}")" -H 'Content-Type: application/json' \
    -d "{\"template\":\"k8s\",\"reason\":\"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

echo "--- twelve approvers race on each request (both nodes' sweepers running)"
for round in 1 2 3; do
  id=$(submit "$base_a" "race round $round")
  rm -rf "$work/race" && mkdir "$work/race"
  for i in $(seq 1 12); do
    (set +e; "$work/jitdesk" approve "$id" --as "op$i" >"$work/race/$i.out" 2>"$work/race/$i.err"; echo $? >"$work/race/$i.rc") &
  done
  wait_all=0
  for _ in $(seq 1 300); do
    [ "$(ls "$work"/race/*.rc 2>/dev/null | wc -l)" -eq 12 ] && { wait_all=1; break; }
    sleep 0.1
  done
  [ "$wait_all" = 1 ] || fail "round $round: the twelve approvers did not all finish"
  winners=$(grep -lx 0 "$work"/race/*.rc | wc -l)
  [ "$winners" = 1 ] || fail "round $round: $winners approvals succeeded, want exactly 1"
  winner=op$(basename "$(grep -lx 0 "$work"/race/*.rc)" .rc)
  for i in $(seq 1 12); do
    [ "op$i" = "$winner" ] && continue
    grep -q "$winner" "$work/race/$i.err" || { cat "$work/race/$i.err"; fail "round $round: op$i's error does not name the winner $winner"; }
  done
  status=$(jd --json request show "$id" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("status"), d.get("decided_by"))')
  [ "$status" = "approved $winner" ] || fail "round $round: request shows '$status', want approved by $winner"
  echo "round $round: one grant, by $winner; 11 losers told: $(head -1 "$work/race/$(( ${winner#op} % 12 + 1 )).err")"
done

echo "--- submitted on node A, long-polled on node B, approved: B answers"
id=$(submit "$base_a" "long-poll across nodes")
curl -fsS "$base_b/v1/requests/$id?wait=60s" -H "Authorization: Bearer $(intake)" >"$work/poll.json" &
poll=$!
sleep 1
kill -0 "$poll" 2>/dev/null || fail "the long-poll on node B returned before any decision: $(cat "$work/poll.json")"
jd approve "$id" --as op1 >/dev/null
for _ in $(seq 1 100); do kill -0 "$poll" 2>/dev/null || break; sleep 0.05; done
kill -0 "$poll" 2>/dev/null && fail "node B's long-poll did not wake within 5s of the approval"
wait "$poll" || fail "the long-poll failed"
grep -q '"status":"approved"' "$work/poll.json" || fail "node B answered $(cat "$work/poll.json")"
echo "node B's long-poll woke with: status approved"

echo "--- SSH console on node B shows a request submitted to node A"
ssh_opts="-p $ssh_b -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 -o IdentitiesOnly=yes"
tmux -L "$tmuxsock" new-session -d -x 120 -y 30 "ssh $ssh_opts -i $work/bob -t bob@127.0.0.1"
wait_screen() { # wait_screen WHAT PATTERN: bounded wait until PATTERN is on screen
  for _ in $(seq 1 75); do
    screen=$(tmux -L "$tmuxsock" capture-pane -p 2>/dev/null || true)
    grep -q -- "$2" <<<"$screen" && return 0
    sleep 0.2
  done
  echo "$screen"
  fail "the SSH console on node B did not show $1"
}
wait_screen "bob's console" "Bob Okafor (bob)"
grep -q crossnode <<<"$screen" && fail "the console shows the request before it was submitted"
submit "$base_a" "seen across nodes" crossnode >/dev/null
wait_screen "the request submitted to node A" "crossnode"
echo "node B's console shows crossnode's request, submitted to node A"
tmux -L "$tmuxsock" kill-server 2>/dev/null || true

echo "--- webhooks: each event delivered exactly once across both nodes"
pending_deliveries() {
  jd --json webhook log --limit 500 | python3 -c 'import json,sys; print(sum(1 for d in json.load(sys.stdin) if d["state"] != "delivered"))'
}
for _ in $(seq 1 100); do [ "$(pending_deliveries)" = 0 ] && break; sleep 0.2; done
[ "$(pending_deliveries)" = 0 ] || fail "deliveries still pending: $(jd webhook log --limit 20)"
events=$(jd --json webhook log --limit 500 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
python3 - "$work/hook.ids" "$events" <<'EOF' || fail "webhook deliveries were not exactly once"
import collections, sys
ids = [l.strip() for l in open(sys.argv[1]) if l.strip()]
c = collections.Counter(ids)
dup = {k: v for k, v in c.items() if v != 1}
if dup or len(c) != int(sys.argv[2]):
    print(f"receiver saw {len(ids)} deliveries of {len(c)} events, the outbox has {sys.argv[2]}; repeated: {dup}")
    sys.exit(1)
print(f"receiver saw {len(ids)} deliveries of {len(c)} distinct events = the outbox's {sys.argv[2]}, none twice")
EOF

echo "--- kill -9 of node A during an intake burst"
mkdir "$work/burst"
burst=300
# Limits above the burst, so every answer is about the crash, not a 429.
jd app update e2e-app --rate 2000 --burst 1000 --max-pending 5000 >/dev/null
mapfile -t burst_tokens < <(intake burst "$burst")
burst_one() { # burst_one N: one intake POST to node A, status and body kept
  curl -s -o "$work/burst/$1.body" -w '%{http_code}\n' --max-time 10 "$base_a/v1/requests" \
    -H "Authorization: Bearer ${burst_tokens[$1-1]}" -H 'Content-Type: application/json' \
    -d "{\"template\":\"k8s\",\"reason\":\"burst $1\"}" >"$work/burst/$1.code.tmp" 2>/dev/null || true
  mv "$work/burst/$1.code.tmp" "$work/burst/$1.code"
}
for i in $(seq 1 "$burst"); do burst_one "$i" & done
for _ in $(seq 1 200); do
  [ "$(grep -lx 201 "$work"/burst/*.code 2>/dev/null | wc -l)" -ge 20 ] && break
  sleep 0.02
done
kill -9 "$node_a"
wait "$node_a" 2>/dev/null || true
wait_burst=0
for _ in $(seq 1 300); do
  [ "$(ls "$work"/burst/*.code 2>/dev/null | wc -l)" -eq "$burst" ] && { wait_burst=1; break; }
  sleep 0.1
done
[ "$wait_burst" = 1 ] || fail "the burst's curls did not all finish"
ok=$(grep -lx 201 "$work"/burst/*.code | wc -l)
[ "$ok" -ge 1 ] || fail "node A answered no 201 before it was killed"
echo "node A killed after $ok of $burst intake requests got 201 (all answers: $(cat "$work"/burst/*.code | sort | uniq -c | awk '{printf "%s x %s, ", $1, ($2 == "000" ? "none" : $2)}'))"
jd --json audit log --limit 10000 >"$work/audit.json"
missing=0
for f in $(grep -lx 201 "$work"/burst/*.code); do
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "${f%.code}.body")
  jd request show "$id" >/dev/null 2>&1 || { echo "201 $id: no request row"; missing=$((missing+1)); }
  grep -q "\"subject\": \"$id\"" "$work/audit.json" || { echo "201 $id: no audit event"; missing=$((missing+1)); }
done
[ "$missing" = 0 ] || fail "$missing answered intake requests lost"
jd audit verify | sed 's/^/  /' || fail "audit verify after the kill"
curl -fsS "$base_b/healthz" >/dev/null || fail "node B is not healthy after node A died"
echo "every 201 has its request and audit event; the chain verifies; node B serves on"
echo "e2e-multinode: ok"
