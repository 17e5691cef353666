#!/usr/bin/env bash
# End to end, the way people use jitdesk: the real binary serves HTTP and
# SSH on loopback; the Node example (jsonwebtoken + jose) submits a request
# and waits; a scripted approver approves it with `jitdesk approve`; the
# client verifies the token against the JWKS; curl exercises the API; and
# the OpenSSH client, in tmux, reaches the console.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d -t jitdesk-e2e.XXXXXX)
pids=()
cleanup() {
  tmux -L jitdesk-e2e kill-server 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "e2e-serve: FAIL: $*" >&2; [ -f "$work/serve.log" ] && tail -20 "$work/serve.log" >&2; exit 1; }

go build -o "$work/jitdesk" ./cmd/jitdesk
jd() { "$work/jitdesk" --db "$work/j.db" --issuer "$issuer" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port); ssh_port=$(free_port)
issuer="http://127.0.0.1:$http_port"
base="http://127.0.0.1:$http_port"

jd init >/dev/null
app=$(jd --json app add e2e-app --audience https://e2e.example.com)
app_id=$(node -e 'console.log(JSON.parse(process.argv[1]).id)' "$app")
app_secret=$(node -e 'console.log(JSON.parse(process.argv[1]).secret)' "$app")
ssh-keygen -q -t ed25519 -N '' -f "$work/bob" -C bob@e2e
jd approver add bob --name "Bob Okafor" --ssh-key "$work/bob.pub" >/dev/null
jd template add k8s-exec --app e2e-app --title "K8s exec" --type approve --approver bob --ttl 30m >/dev/null

# Started directly (not through the jd function, which would put a subshell
# between $! and the server), so signals and the cleanup reach it.
"$work/jitdesk" --db "$work/j.db" --issuer "$issuer" serve --http "127.0.0.1:$http_port" --ssh "127.0.0.1:$ssh_port" \
  --host-key "$work/host_key" >"$work/serve.log" 2>&1 &
serve=$!
pids+=($serve)
for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$base/healthz" | grep -q ok || fail "server did not become healthy"

echo "--- curl: JWKS and a problem response"
curl -fsS "$base/.well-known/jwks.json" | node -e 'const j=JSON.parse(require("fs").readFileSync(0)); if(!j.keys.length) process.exit(1); console.log("jwks keys:", j.keys.map(k=>k.kid+"/"+k.alg).join(","))'
code=$(curl -s -o "$work/p.json" -w '%{http_code}' -X POST "$base/v1/requests" -H 'Authorization: Bearer not.a.token' -H 'Content-Type: application/json' -d '{"template":"k8s-exec","reason":"x"}')
[ "$code" = 401 ] || fail "bad token got $code"
grep -q '"detail"' "$work/p.json" || fail "401 without a problem body"
echo "bad intake token -> 401: $(cat "$work/p.json")"

echo "--- node client (jsonwebtoken + jose) while an approver approves with the CLI"
(cd examples/node && timeout 300 npm install --no-audit --no-fund --silent >/dev/null) || fail "npm install"
JITDESK_URL=$base JITDESK_APP_ID=$app_id JITDESK_APP_SECRET=$app_secret JITDESK_ISSUER=$issuer \
  JITDESK_AUDIENCE=https://e2e.example.com TEMPLATE=k8s-exec REQUESTER=alice REASON="e2e: debug checkout pods" \
  TIMEOUT_SECONDS=60 node examples/node/client.mjs >"$work/client.log" 2>&1 &
client=$!
approved=""
for _ in $(seq 1 100); do
  id=$(jd --json request list --status pending | node -e 'const a=JSON.parse(require("fs").readFileSync(0)); if(a.length) console.log(a[0].id)')
  if [ -n "$id" ]; then
    jd approve "$id" --as bob --comment "e2e approval" >"$work/token.txt"
    approved=$id
    break
  fi
  sleep 0.2
done
[ -n "$approved" ] || fail "no pending request appeared"
wait "$client" || { cat "$work/client.log"; fail "node client failed"; }
head -3 "$work/client.log"
jd verify "$(cat "$work/token.txt")" >/dev/null || fail "jitdesk verify refused the token"
grep -q "token verified with jose" "$work/client.log" || fail "client did not verify the token"

echo "--- curl: status and token pick-up need a fresh intake token each"
tok() { node -e '
const jwt=require("./examples/node/node_modules/jsonwebtoken");
console.log(jwt.sign({}, process.argv[1], {algorithm:"HS256",issuer:process.argv[2],audience:process.argv[3],subject:"alice",jwtid:require("crypto").randomUUID(),expiresIn:"2m"}))' "$app_secret" "$app_id" "$issuer"; }
curl -fsS "$base/v1/requests/$approved" -H "Authorization: Bearer $(tok)" | grep -q '"status":"approved"' || fail "status"
curl -fsS "$base/v1/requests/$approved/token" -H "Authorization: Bearer $(tok)" | grep -q access_token || fail "token pick-up"
grep -q "$(cut -c1-40 "$work/token.txt")" "$work/serve.log" && fail "a token reached the server log"

echo "--- curl: RFC 7009 revocation, then RFC 7662 introspection says inactive"
access=$(curl -fsS "$base/v1/requests/$approved/token" -H "Authorization: Bearer $(tok)" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).access_token)')
curl -fsS "$base/v1/introspect" -H "Authorization: Bearer $(tok)" --data-urlencode "token=$access" | grep -q '"active":true' || fail "introspection of a live token"
curl -fsS -o /dev/null "$base/v1/revoke" -H "Authorization: Bearer $(tok)" --data-urlencode "token=$access" || fail "revoke"
[ "$(curl -fsS "$base/v1/introspect" -H "Authorization: Bearer $(tok)" --data-urlencode "token=$access")" = '{"active":false}' ] || fail "revoked token still introspects active"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/requests/$approved/token" -H "Authorization: Bearer $(tok)")
[ "$code" = 410 ] || fail "token pick-up after revocation got $code, want 410"
echo "revoked; introspection inactive; pick-up 410"

echo "--- OpenSSH: unknown key and exec are refused"
ssh-keygen -q -t ed25519 -N '' -f "$work/stranger" -C stranger@e2e
ssh_opts=(-p "$ssh_port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=5 -o IdentitiesOnly=yes)
if timeout 20 ssh "${ssh_opts[@]}" -i "$work/stranger" bob@127.0.0.1 true </dev/null >/dev/null 2>&1; then fail "an unknown key got in"; fi
stranger_fp=$(ssh-keygen -lf "$work/stranger.pub" | awk '{print $2}')
grep -q "$stranger_fp" "$work/serve.log" || fail "the refused key's fingerprint is not in the log"
if timeout 20 ssh "${ssh_opts[@]}" -i "$work/bob" bob@127.0.0.1 cat /etc/passwd </dev/null >"$work/exec.out" 2>&1; then fail "exec was allowed"; fi
grep -q root: "$work/exec.out" && fail "exec ran a command"
echo "unknown key $stranger_fp refused and logged; exec refused"

echo "--- OpenSSH client in tmux sees the queue, live"
# A pending request before connecting, and one more while connected.
submit() {
  curl -fsS -o /dev/null "$base/v1/requests" -H "Authorization: Bearer $(tok)" -H 'Content-Type: application/json' \
    -d "{\"template\":\"k8s-exec\",\"reason\":\"$1\"}" || fail "submit $1"
}
submit "e2e: before connecting"
tmux -L jitdesk-e2e new-session -d -x 100 -y 30 \
  "ssh ${ssh_opts[*]} -o BatchMode=no -i $work/bob -t anyname@127.0.0.1"
wait_screen() { # wait_screen WHAT PATTERN...: bounded wait until every pattern is on screen
  local what=$1; shift
  for _ in $(seq 1 75); do
    screen=$(tmux -L jitdesk-e2e capture-pane -p 2>/dev/null || true)
    local all=1
    for pat in "$@"; do grep -q -- "$pat" <<<"$screen" || all=""; done
    [ -n "$all" ] && return 0
    sleep 0.2
  done
  echo "$screen"
  fail "the SSH console did not show $what"
}
wait_screen "bob's queue with the pending request" "Bob Okafor (bob)" "Needs me (1)" "alice"
echo "$screen" | head -5
submit "e2e: while connected"
wait_screen "the new request without a key press" "Needs me (2)"
echo "new request appeared live: $(grep -o 'Needs me ([0-9]*)' <<<"$screen" | head -1)"

echo "--- graceful shutdown on SIGTERM, with the console open"
kill -TERM "$serve"
for _ in $(seq 1 100); do kill -0 "$serve" 2>/dev/null || break; sleep 0.1; done
kill -0 "$serve" 2>/dev/null && fail "serve did not stop within 10s of SIGTERM"
wait "$serve" || fail "serve exited non-zero after SIGTERM"
grep -q '"shutting down"' "$work/serve.log" || fail "no shutdown in the log"
grep -q "$(cut -c1-40 <<<"$access")" "$work/serve.log" && fail "a token reached the server log"
echo "e2e-serve: ok"
