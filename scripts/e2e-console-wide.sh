#!/usr/bin/env bash
# The wide console never misleads: at 120x40 the queue and the review sit
# side by side, and after every move of the list (keys or mouse wheel) the
# review on the right is the highlighted request's. Approving from there
# approves exactly that request and nothing else. At 80x24 the hint line
# still shows ? and the screen's primary action.
# Only send-keys and capture-pane: no test hooks.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d -t jitdesk-console-wide.XXXXXX)
# One tmux server per terminal size: a new session right after kill-server
# can reach the dying server ("server exited unexpectedly").
wide=jitdesk-console-wide-e2e narrow=jitdesk-console-narrow-e2e
sock=$wide
cleanup() { for s in "$wide" "$narrow"; do tmux -L "$s" kill-server 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
screen() { tmux -L "$sock" capture-pane -p 2>/dev/null || true; }
fail() { echo "e2e-console-wide: FAIL: $*" >&2; screen >&2; exit 1; }
keys() { tmux -L "$sock" send-keys "$@"; }
# wait_for TEXT: poll the screen (bounded) until TEXT shows.
wait_for() {
  local s
  for _ in $(seq 1 100); do
    s=$(screen)
    [[ "$s" == *"$1"* ]] && return 0
    sleep 0.1
  done
  fail "screen never showed: $1"
}

go build -o "$work/jitdesk" ./cmd/jitdesk
db="$work/j.db"
jd() { "$work/jitdesk" --db "$db" "$@"; }

jd init >/dev/null
jd app add payments --audience https://payments.example.com >/dev/null
jd approver add bob --name "Bob Okafor" >/dev/null
jd approver add carol --name "Carol Jensen" >/dev/null
jd template add k8s-exec --app payments --title "K8s exec" --type approve --approver bob --approver carol >/dev/null
# More requests than the 120x40 list shows at once (about 34 rows), so the
# wheel scrolls the list, each by a distinct requester.
n=45
for i in $(seq -w 1 $n); do
  jd request create --template k8s-exec --requester "user$i" --reason "e2e: debug pods for user$i" >/dev/null
done
# The model of the list: pending requests oldest first, as the queue shows them.
mapfile -t names < <(jd --json request list --status pending --limit 500 | node -e 'for (const r of JSON.parse(require("fs").readFileSync(0))) console.log(r.requester)')
mapfile -t ids < <(jd --json request list --status pending --limit 500 | node -e 'for (const r of JSON.parse(require("fs").readFileSync(0))) console.log(r.id)')
[ "${#names[@]}" = $n ] && [ "${#ids[@]}" = $n ] || fail "request list shows ${#names[@]} pending requests, want $n"

# read_screen: the highlighted row's requester (left pane) and the request
# id and requester the review shows (right pane).
hl="" did="" dreq=""
read_screen() {
  s=$(screen)
  hl=$(awk -F'│' '{print $1}' <<<"$s" | awk '$1 == "›" {print $3; exit}')
  did=$(awk -F'│' 'NF > 1 {print $2}' <<<"$s" | awk '$1 == "Request" {print $2; exit}')
  dreq=$(awk -F'│' 'NF > 1 {print $2}' <<<"$s" | awk '$1 == "Requester" {print $2; exit}')
}
# expect_at I WHAT: bounded wait until row I is highlighted and the review
# beside it shows request I.
expect_at() {
  local i=$1 what=$2
  for _ in $(seq 1 100); do
    read_screen
    [ "$hl" = "${names[$i]}" ] && [ "$did" = "${ids[$i]}" ] && [ "$dreq" = "${names[$i]}" ] && return 0
    sleep 0.1
  done
  fail "after $what: want row $i (${names[$i]} ${ids[$i]}) highlighted and reviewed; the list highlights '$hl', the review shows '$did' for '$dreq'"
}
pos=0
clampto() { pos=$(( $1 < 0 ? 0 : ($1 > n - 1 ? n - 1 : $1) )); }
step() { # step KEY|wheel-up|wheel-down|wheel-right
  case $1 in
    wheel-down) tmux -L "$sock" send-keys -l $'\e[<65;10;12M'; clampto $((pos + 3)) ;;
    wheel-up) tmux -L "$sock" send-keys -l $'\e[<64;10;12M'; clampto $((pos - 3)) ;;
    # Over the review the wheel scrolls the review, never the list.
    wheel-right) tmux -L "$sock" send-keys -l $'\e[<65;80;12M' ;;
    j | Down) keys "$1"; clampto $((pos + 1)) ;;
    k | Up) keys "$1"; clampto $((pos - 1)) ;;
  esac
  expect_at "$pos" "$1"
}

echo "--- 120x40: the review beside the list follows every move"
tmux -L "$sock" new-session -d -x 120 -y 40 "$work/jitdesk --db $db console --as bob --quiet"
wait_for "Needs me ($n)"
keys Enter
wait_for "Recent requests by"
read_screen
[ -n "$did" ] || fail "no review beside the list at 120x40"
expect_at 0 "opening the first request"
moves=(j j Down k Up j wheel-down wheel-down wheel-up j)
# Wheel down past the rows visible at once, then back up.
for _ in $(seq 1 14); do moves+=(wheel-down); done
# After wheel-right, j proves the wheel over the review moved nothing (events
# arrive in order).
moves+=(k wheel-up wheel-up wheel-up j wheel-right j)
for m in "${moves[@]}"; do step "$m"; done
echo "${#moves[@]} moves (j/k/down/up and the wheel): the review always showed the highlighted request (now row $pos, ${names[$pos]})"

echo "--- approve the highlighted request from the wide view"
target=${ids[$pos]} target_name=${names[$pos]}
keys a
wait_for "Approve this access?"
read_screen
[ "$hl" = "$target_name" ] || fail "the confirm is up but the list highlights '$hl', want $target_name"
s=$(screen)
grep -q "Request  *$target" <<<"$s" || fail "the confirm does not name request $target"
grep -q "$target_name gets K8s exec" <<<"$s" || fail "the confirm does not say who gets access"
keys y
wait_for "Access token for $target_name"
status_of() { jd --json request show "$1" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).status)'; }
[ "$(status_of "$target")" = approved ] || fail "request $target ($target_name) is $(status_of "$target"), want approved"
reviews=$(jd --json request show "$target" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).reviews.map(r=>r.approver+":"+r.decision).join(" "))')
[ "$reviews" = "bob:approve" ] || fail "request $target has reviews '$reviews', want one approval by bob"
pending=$(jd --json request list --status pending --limit 500 | node -e 'const a=JSON.parse(require("fs").readFileSync(0)); console.log(a.map(r=>r.id).sort().join(" "))')
want=$(for id in "${ids[@]}"; do [ "$id" = "$target" ] || echo "$id"; done | sort | tr '\n' ' ')
[ "$pending " = "$want" ] || fail "pending after approving $target: $pending; want every other request: $want"
approved=$(jd --json request list --status approved | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).map(r=>r.id).join(" "))')
[ "$approved" = "$target" ] || fail "approved requests: '$approved', want only $target"
echo "approved $target ($target_name) through the console; the other $((n - 1)) are still pending"
keys q
sock=$narrow

echo "--- 80x24: the hint line keeps ? and the primary action"
# last_line_has TEXT...: bounded wait until the bottom line shows every TEXT.
last_line_has() {
  local line
  for _ in $(seq 1 100); do
    line=$(screen | tail -1)
    local all=1
    for t in "$@"; do [[ "$line" == *"$t"* ]] || all=""; done
    [ -n "$all" ] && return 0
    sleep 0.1
  done
  fail "the 80x24 hint line '$line' lacks one of: $*"
}
# The default command (no "console") opens the same console.
tmux -L "$sock" new-session -d -x 80 -y 24 "$work/jitdesk --db $db --as bob --quiet"
wait_for "Needs me ($((n - 1)))"
last_line_has "enter review" "? help"
keys Enter
wait_for "Recent requests by"
last_line_has "a approve" "? help"
# No split at 80 columns: the review has the whole width.
screen | grep -q '│' && fail "80x24 shows the split view"
keys a
wait_for "Approve this access?"
last_line_has "y approve" "? help"
keys n
wait_for "Not approved: nothing was recorded"
[ "$(jd --json request list --status approved | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).length)')" = 1 ] ||
  fail "cancelling the confirm at 80x24 recorded an approval"
keys q
echo "e2e-console-wide: ok"
