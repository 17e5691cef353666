#!/usr/bin/env bash
# The console as a person drives it: `jitdesk demo` in an 80x24 tmux pane;
# filter to a Sign and Approve request, review it, type the signature,
# confirm, read the token off the screen and check it with `jitdesk verify`.
# Only send-keys and capture-pane: no test hooks.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d -t jitdesk-console.XXXXXX)
sock=jitdesk-console-e2e
cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "e2e-console: FAIL: $*" >&2; tmux -L "$sock" capture-pane -p >&2 2>/dev/null || true; exit 1; }
screen() { tmux -L "$sock" capture-pane -p; }
# wait_for TEXT: poll the screen (bounded: 30 s, for a loaded machine)
# until TEXT shows.
wait_for() {
  local s
  for _ in $(seq 1 300); do
    s=$(screen)
    [[ "$s" == *"$1"* ]] && return 0
    sleep 0.1
  done
  fail "screen never showed: $1"
}
# wait_selected TEXT: poll (bounded) until the highlighted row holds TEXT.
# A filter's rows arrive after its keystrokes, so a row visible before
# them proves nothing about what enter will open.
wait_selected() {
  for _ in $(seq 1 300); do
    screen | grep '^›' | grep -qF "$1" && return 0
    sleep 0.1
  done
  fail "the highlighted row never held: $1"
}
keys() { tmux -L "$sock" send-keys "$@"; }

go build -o "$work/jitdesk" ./cmd/jitdesk
db="$work/demo.db"
tmux -L "$sock" new-session -d -x 80 -y 24 "$work/jitdesk demo --db $db --no-trickle --quiet"
wait_for "Needs me"
keys /; keys -l "Prod DB"; keys Enter
wait_for "filter: Prod DB"
wait_selected "Prod DB write"
keys Enter
wait_for "Requester"
screen | head -3 | grep -qF "Prod DB write" || fail "enter opened another request than the highlighted Prod DB write"
keys a
wait_for "Sign to approve"
keys Tab; keys -l "Alex Rivera"; keys Enter
wait_for "Approve this access?"
keys y
wait_for "valid — signed by kid"
# The token is the block of base64url lines after the grant line.
token=$(screen | awk '/^grant /{on=1; next} on && /^$/ {if (started) exit; next} on && /^[A-Za-z0-9_.-]+$/ {started=1; printf "%s", $0}')
[ "$(tr -cd . <<<"$token" | wc -c)" = 2 ] || fail "could not read a token off the screen: $token"
verified=$("$work/jitdesk" --db "$db" verify "$token") || fail "jitdesk verify refused the token read off the screen"
echo "${verified%%$'\n'*}"
keys q
echo "e2e-console: ok"
