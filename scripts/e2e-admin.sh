#!/usr/bin/env bash
# Administration end to end, against the real binary serving HTTP and SSH on
# loopback: offboarding (disabling an approver, removing an SSH key) ends
# their live OpenSSH console sessions and their power to decide; intake
# secret rotation with and without overlap, checked with Node's
# jsonwebtoken over HTTP; a template update while requests are pending
# (each request is decided on its own version); and policy files
# (apply --dry-run, apply, a no-op re-apply, export | apply).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d -t jitdesk-admin.XXXXXX)
sock=jitdesk-admin-e2e
pids=()
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "e2e-admin: FAIL: $*" >&2; [ -f "$work/serve.log" ] && tail -20 "$work/serve.log" >&2; exit 1; }
json() { node -e 'const v=JSON.parse(require("fs").readFileSync(0)); const r=new Function("v","return "+process.argv[1])(v); console.log(typeof r==="object"?JSON.stringify(r):r)' "$1"; }

go build -o "$work/jitdesk" ./cmd/jitdesk
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port); ssh_port=$(free_port)
issuer="http://127.0.0.1:$http_port"
base=$issuer
jd() { "$work/jitdesk" --db "$work/j.db" "$@"; }

jd --issuer "$issuer" init >/dev/null
app=$(jd --json app add payments --audience https://payments.example.com)
app_id=$(json v.id <<<"$app")
secret0=$(json v.secret <<<"$app")
for who in bob carol; do ssh-keygen -q -t ed25519 -N '' -f "$work/$who" -C "$who@e2e"; done
jd approver add bob --name "Bob Okafor" --ssh-key "$work/bob.pub" >/dev/null
jd approver add carol --name "Carol Jensen" --ssh-key "$work/carol.pub" >/dev/null
jd approver add dana --name "Dana Whitfield" >/dev/null
jd template add k8s-exec --app payments --title "K8s exec" --type approve \
  --approver bob --approver carol --approver dana --ttl 30m >/dev/null

"$work/jitdesk" --db "$work/j.db" serve --http "127.0.0.1:$http_port" --ssh "127.0.0.1:$ssh_port" \
  --host-key "$work/host_key" --quiet >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$base/healthz" | grep -q ok || fail "server did not become healthy"

echo "--- offboarding ends live SSH console sessions"
r0=$(jd request create --template k8s-exec --requester alice --reason "e2e: before offboarding")
# remain-on-exit keeps a pane whose ssh ended, with its last screen and exit status.
printf 'set -g remain-on-exit on\n' >"$work/tmux.conf"
ssh_opts=(-p "$ssh_port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
  -o ConnectTimeout=5 -o IdentitiesOnly=yes)
for who in bob carol; do
  tmux -L "$sock" -f "$work/tmux.conf" new-session -d -s "$who" -x 100 -y 30 \
    "ssh ${ssh_opts[*]} -i $work/$who -t 127.0.0.1"
done
pane() { tmux -L "$sock" capture-pane -p -t "$1" 2>/dev/null || true; }
dead() { tmux -L "$sock" display-message -p -t "$1" '#{pane_dead}' 2>/dev/null || echo gone; }
# wait_pane SESSION TEXT: bounded wait until the session's pane shows TEXT.
wait_pane() {
  for _ in $(seq 1 100); do
    [[ "$(pane "$1")" == *"$2"* ]] && return 0
    sleep 0.1
  done
  pane "$1" >&2
  fail "$1's SSH console never showed: $2"
}
wait_pane bob "Bob Okafor (bob)"
wait_pane bob "Needs me (1)"
wait_pane carol "Carol Jensen (carol)"
wait_pane carol "Needs me (1)"
now_ms() { date +%s%3N; }
# ends T0 SESSION TEXT: bounded wait until the session's ssh exited with TEXT
# on its last screen; prints how long it took.
ends() {
  local t0=$1 who=$2 text=$3
  for _ in $(seq 1 100); do
    [ "$(dead "$who")" = 1 ] && break
    sleep 0.05
  done
  [ "$(dead "$who")" = 1 ] || { pane "$who" >&2; fail "$who's SSH session is still open"; }
  [[ "$(pane "$who")" == *"$text"* ]] || { pane "$who" >&2; fail "$who's session ended without saying: $text"; }
  echo "$who's session ended $(($(now_ms) - t0)) ms after the command started (ssh exit status $(tmux -L "$sock" display-message -p -t "$who" '#{pane_dead_status}')): $(grep -m1 "$text" <<<"$(pane "$who")")"
}
# refused KEY: a new SSH connection with this key is refused at authentication.
refused() {
  local out
  out=$(timeout 20 ssh "${ssh_opts[@]}" -o BatchMode=yes -T -i "$1" 127.0.0.1 </dev/null 2>&1) && fail "ssh with $1 got in"
  grep -q "Permission denied (publickey)" <<<"$out" || fail "ssh with $1 was not refused at authentication: $out"
}

t0=$(now_ms)
jd approver disable bob >/dev/null
ends "$t0" bob "disabled"
[ "$(dead carol)" = 0 ] || fail "disabling bob ended carol's session too"
if jd approve "$r0" --as bob >/dev/null 2>"$work/approve.err"; then fail "disabled bob approved $r0"; fi
grep -q "disabled" "$work/approve.err" || fail "bob's approval was refused without saying why: $(cat "$work/approve.err")"
[ "$(jd --json request show "$r0" | json v.status)" = pending ] || fail "$r0 is no longer pending after the refused approval"
echo "approve --as bob refused: $(cat "$work/approve.err")"
refused "$work/bob"
echo "a new SSH connection with bob's key is refused"
# carol's session lives on, and stays live: a new request shows up in it.
jd request create --template k8s-exec --requester frank --reason "e2e: after bob left" >/dev/null
wait_pane carol "Needs me (2)"
[ "$(dead carol)" = 0 ] || fail "disabling bob ended carol's session too"
echo "carol's session is still open and live"

t0=$(now_ms)
jd approver key remove carol "$work/carol.pub" >/dev/null
ends "$t0" carol "no longer belongs to an approver"
refused "$work/carol"
echo "a new SSH connection with carol's removed key is refused"

echo "--- intake secret rotation, over HTTP with jsonwebtoken"
mkdir -p "$work/npm"
(cd "$work/npm" && timeout 300 npm install --no-audit --no-fund --silent jsonwebtoken@9.0.3 >/dev/null 2>&1) || fail "npm install jsonwebtoken"
# post SECRET [APP TEMPLATE]: submit a request with a fresh intake token
# signed with SECRET exactly as printed; prints the HTTP status.
post() {
  local tok app=${2:-$app_id} template=${3:-k8s-exec}
  tok=$(NODE_PATH="$work/npm/node_modules" node -e '
const jwt=require("jsonwebtoken");
console.log(jwt.sign({}, process.argv[1], {algorithm:"HS256", issuer:process.argv[2], audience:process.argv[3],
  subject:"alice", jwtid:require("crypto").randomUUID(), expiresIn:"2m"}))' "$1" "$app" "$issuer")
  curl -s -o "$work/post.json" -w '%{http_code}' -X POST "$base/v1/requests" -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' -d "{\"template\":\"$template\",\"reason\":\"e2e: intake\"}"
}
expect_post() { # expect_post SECRET-NAME SECRET CODE
  local code
  code=$(post "$2")
  [ "$code" = "$3" ] || fail "POST /v1/requests signed with $1 got $code, want $3: $(cat "$work/post.json")"
  echo "signed with $1: $code"
}
expect_post "the first secret" "$secret0" 201
rot1=$(jd --json app secret rotate payments --overlap 1m)
secret1=$(json v.secret <<<"$rot1")
[ "$secret1" != "$secret0" ] || fail "rotation printed the same secret"
echo "rotated with --overlap 1m: the previous secret works until $(json v.previous_secret_until <<<"$rot1")"
expect_post "the new secret" "$secret1" 201
expect_post "the old secret, inside the overlap" "$secret0" 201
secret2=$(jd --json app secret rotate payments --overlap 0 | json v.secret)
echo "rotated again with --overlap 0"
expect_post "the newest secret" "$secret2" 201
expect_post "the secret just replaced without overlap" "$secret1" 401
expect_post "the first secret" "$secret0" 401
grep -qF -e "$secret0" -e "$secret1" -e "$secret2" "$work/serve.log" && fail "a secret reached the server log"

echo "--- a template update while a request is pending"
r1=$(jd request create --template k8s-exec --requester erin --reason "e2e: made under version 1")
jd template update k8s-exec --quorum 2 >/dev/null
versions=$(jd --json template show k8s-exec --versions)
[ "$(json v.length <<<"$versions")" = 2 ] || fail "template show --versions after one update: $versions"
jd template show k8s-exec --versions
[ "$(jd --json request show "$r1" | json '[v.template_version, v.quorum].join()')" = 1,1 ] || fail "$r1 moved off version 1 (quorum 1)"
jd approve "$r1" --as carol >/dev/null
[ "$(jd --json request show "$r1" | json v.status)" = approved ] || fail "$r1 (version 1, quorum 1) is not approved after one approval"
echo "$r1 (version 1) approved by one approval"
r2=$(jd request create --template k8s-exec --requester erin --reason "e2e: made under version 2")
[ "$(jd --json request show "$r2" | json '[v.template_version, v.quorum].join()')" = 2,2 ] || fail "$r2 is not on version 2 (quorum 2)"
partial=$(jd approve "$r2" --as carol 2>&1 >/dev/null)
[[ "$partial" == *"1 more approval"* ]] || fail "carol's approval of $r2 did not say one more is needed: $partial"
show=$(jd --json request show "$r2")
[ "$(json v.status <<<"$show")" = pending ] || fail "$r2 (version 2, quorum 2) is $(json v.status <<<"$show") after one approval"
[ "$(json v.approvals <<<"$show")" = 1 ] || fail "$r2 shows $(json v.approvals <<<"$show") approvals, want 1"
jd approve "$r2" --as dana >/dev/null
[ "$(jd --json request show "$r2" | json v.status)" = approved ] || fail "$r2 is not approved after two approvals"
echo "$r2 (version 2) stayed pending after one approval, approved after the second"

echo "--- policy files: apply --dry-run, apply, apply again, export | apply"
cat >"$work/policy.yaml" <<'EOF'
version: 1
applications:
  billing:
    audience: https://billing.example.com
approvers:
  erin:
    name: Erin Novak
    groups:
      - dba
templates:
  billing-db-read:
    app: billing
    title: Billing DB read
    type: approve
    groups:
      - dba
    default_ttl: 30m
EOF
jd export >"$work/before.yaml"
jd apply -f "$work/policy.yaml" --dry-run >"$work/plan.txt" || fail "apply --dry-run: $(cat "$work/plan.txt")"
grep -q 'create application "billing"' "$work/plan.txt" || fail "the dry-run plan does not create billing: $(cat "$work/plan.txt")"
grep -q 'create template "billing-db-read"' "$work/plan.txt" || fail "the dry-run plan does not create the template: $(cat "$work/plan.txt")"
grep -q "3 to create" "$work/plan.txt" || fail "the dry-run plan does not count 3 creations: $(cat "$work/plan.txt")"
jd export | diff -u "$work/before.yaml" - >&2 || fail "apply --dry-run changed the state"
echo "dry run: $(grep '^Plan:' "$work/plan.txt"); nothing written"
jd apply -f "$work/policy.yaml" >"$work/apply.txt" || fail "apply: $(cat "$work/apply.txt")"
grep -q "Applied" "$work/apply.txt" || fail "apply did not say it applied: $(cat "$work/apply.txt")"
jd --json app list | grep -q '"billing"' || fail "billing is not in app list after apply"
jd --json approver list | grep -q '"erin"' || fail "erin is not in approver list after apply"
# The new application's secret is printed once after the plan, and it works.
billing_secret=$(grep -o 'jds_[A-Za-z0-9_-]*' "$work/apply.txt" | head -1)
[ -n "$billing_secret" ] || fail "apply printed no secret for the new application"
billing_id=$(jd --json app list | json 'v.find(a=>a.name==="billing").id')
code=$(post "$billing_secret" "$billing_id" billing-db-read)
[ "$code" = 201 ] || fail "the applied application's printed secret got $code: $(cat "$work/post.json")"
echo "applied; billing's printed secret submits a request: 201"
[ "$(jd apply -f "$work/policy.yaml")" = "No changes." ] || fail "a second apply of the same file changed something"
sed -i 's/default_ttl: 30m/default_ttl: 45m/' "$work/policy.yaml"
jd apply -f "$work/policy.yaml" --dry-run >"$work/plan2.txt"
grep -q 'update template "billing-db-read"' "$work/plan2.txt" && grep -q "1 to update" "$work/plan2.txt" ||
  fail "changing default_ttl does not plan one update: $(cat "$work/plan2.txt")"
jd apply -f "$work/policy.yaml" >/dev/null
jd export | grep -q "default_ttl: 45m" || fail "the updated default_ttl is not exported"
[ "$(jd --json template show billing-db-read --versions | json v.length)" = 2 ] || fail "the applied update did not make version 2"
echo "an edited file plans and applies one update (version 2)"
out=$(jd export | jd apply -f -)
[ "$out" = "No changes." ] || fail "export | apply -f - planned changes: $out"
echo "export | apply -f -: $out"
echo "e2e-admin: ok"
