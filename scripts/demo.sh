#!/usr/bin/env bash
# `make demo`: build gsm, start a server on SQLite with a local enrolled agent and a simulated
# 7 Days to Die server configured as its game, run a first job, and print how to use it. Ctrl-C stops everything. State lives in .demo/ (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${GSM_DEMO_PORT:-8080}"
SIM_PORT="${GSM_DEMO_SIM_PORT:-8081}"
BASE="http://127.0.0.1:${PORT}"
DEMO_DIR="$PWD/.demo"
ROOT=/tmp/gsm-demo          # the working-directory root examples/policies/demo.toml allows
POLICY="$PWD/.demo/policy.toml"        # a copy of examples/policies/demo.toml, see below

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
json_field() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p"; }

for tool in cargo curl; do
    command -v "$tool" >/dev/null || { echo "make demo needs $tool on PATH" >&2; exit 1; }
done

# The dashboard first: gsm-server embeds web/dist when it compiles.
if command -v npm >/dev/null; then
    say "building the dashboard (make web)"
    make --no-print-directory web
else
    echo "npm is missing: building gsm without the dashboard (install Node.js 20+ and rerun for it)" >&2
fi

say "building gsm-server, gsm-agent and gsm-sim-7dtd"
cargo build --locked -q -p gsm-server -p gsm-agent -p gsm-sim-7dtd
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
SERVER="$TARGET_DIR/debug/gsm-server"
AGENT="$TARGET_DIR/debug/gsm-agent"
SIM="$TARGET_DIR/debug/gsm-sim-7dtd"

mkdir -p "$DEMO_DIR" "$ROOT"
# The agent trusts only a policy that no one but root or its own user could have changed, and a
# checkout made under umask 002 is group-writable: run a private copy.
chmod 755 "$DEMO_DIR"
install -m 644 examples/policies/demo.toml "$POLICY"
if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then
    echo "something already answers on $BASE; stop it or set GSM_DEMO_PORT" >&2
    exit 1
fi

OWNER_EMAIL=demo@gsm.example
OWNER_PASSWORD_FILE="$DEMO_DIR/owner-password"
if [ ! -f "$DEMO_DIR/org.json" ]; then
    say "creating the demo org and its owner user"
    (umask 077; echo "demo-$RANDOM-$RANDOM-$RANDOM" > "$OWNER_PASSWORD_FILE")
    "$SERVER" init --data-dir "$DEMO_DIR/server" --org demo --email "$OWNER_EMAIL" \
        --password-file "$OWNER_PASSWORD_FILE" > "$DEMO_DIR/org.json"
fi
ORG=$(json_field org < "$DEMO_DIR/org.json")
KEY=$(json_field api_key < "$DEMO_DIR/org.json")

pids=()
cleanup() {
    trap - INT TERM EXIT
    echo
    say "stopping"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

say "starting gsm-server on $BASE (SQLite in $DEMO_DIR/server)"
"$SERVER" serve --data-dir "$DEMO_DIR/server" --listen "127.0.0.1:$PORT" > "$DEMO_DIR/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$DEMO_DIR/server.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$BASE/readyz" >/dev/null || { echo "server did not become ready; see $DEMO_DIR/server.log" >&2; exit 1; }

api() { curl -fsS -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' "$@"; }

if [ ! -f "$DEMO_DIR/agent/credential.json" ]; then
    say "creating host 'local' and enrolling the local agent"
    HOST_JSON=$(api -X POST "$BASE/api/v1/orgs/$ORG/hosts" -d '{"name":"local"}')
    TOKEN=$(echo "$HOST_JSON" | json_field join_token)
    "$AGENT" enroll --server "$BASE" --token "$TOKEN" --state-dir "$DEMO_DIR/agent" >/dev/null
fi
HOST=$(json_field host < "$DEMO_DIR/agent/credential.json")

# The game's console password lives on the agent's host only; the server is told where to read it.
PASSWORD_FILE="$DEMO_DIR/7dtd-password"
[ -f "$PASSWORD_FILE" ] || (umask 077; echo "demo-$RANDOM$RANDOM" > "$PASSWORD_FILE")
say "starting gsm-sim-7dtd, a simulated 7 Days to Die console, on 127.0.0.1:$SIM_PORT"
"$SIM" --listen "127.0.0.1:$SIM_PORT" --password "$(cat "$PASSWORD_FILE")" --script-speed 2 > "$DEMO_DIR/sim.log" 2>&1 &
pids+=($!)
say "configuring it as the host's game 'main'"
api -X PUT "$BASE/api/v1/orgs/$ORG/hosts/$HOST/games/main" -d "{\"game\":\"7dtd\",\"settings\":{\"console\":{\"address\":\"127.0.0.1\",\"port\":$SIM_PORT,\"password\":{\"file\":\"$PASSWORD_FILE\"}},\"restart\":{\"warnings_secs\":[10,5]}}}" >/dev/null

say "starting gsm-agent with the demo policy ($POLICY)"
"$AGENT" run --state-dir "$DEMO_DIR/agent" --policy "$POLICY" > "$DEMO_DIR/agent.log" 2>&1 &
pids+=($!)

say "running a first job: /bin/echo 'hello from gsm'"
JOB_JSON=$(api -X POST "$BASE/api/v1/orgs/$ORG/jobs" \
    -d "{\"host\":\"$HOST\",\"kind\":{\"type\":\"command\",\"program\":\"/bin/echo\",\"args\":[\"hello from gsm\"]}}")
JOB=$(echo "$JOB_JSON" | sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
STATE=""
for _ in $(seq 1 100); do
    STATE=$(api "$BASE/api/v1/orgs/$ORG/jobs/$JOB" | json_field state)
    case "$STATE" in succeeded|failed|timed_out|cancelled|lost|rejected) break ;; esac
    sleep 0.1
done
echo "job $JOB: $STATE"
api "$BASE/api/v1/orgs/$ORG/jobs/$JOB/logs" | sed -n 's/.*"data":"\([^"]*\)".*/\1/p' | base64 -d 2>/dev/null || true

cat <<EOF

gsm is running.
  dashboard   $BASE/   (sign in as $OWNER_EMAIL, password: $(cat "$OWNER_PASSWORD_FILE" 2>/dev/null || echo "none: delete .demo to make one"))
  server      $BASE   (log: $DEMO_DIR/server.log)
  org         $ORG
  API key     $KEY
  host        $HOST   (agent log: $DEMO_DIR/agent.log)

Create a job (the demo policy allows /bin/echo, /bin/true, /bin/sleep and /usr/bin/env):

  curl -sS -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' \\
    -X POST $BASE/api/v1/orgs/$ORG/jobs \\
    -d '{"host":"$HOST","kind":{"type":"command","program":"/bin/echo","args":["hi"]}}'

Then read it:   curl -sS -H 'Authorization: Bearer $KEY' $BASE/api/v1/orgs/$ORG/jobs

The host runs a simulated 7 Days to Die server (log: $DEMO_DIR/sim.log); players join, chat and
leave on a script. Its live status and the players seen:

  curl -sS -H 'Authorization: Bearer $KEY' $BASE/api/v1/orgs/$ORG/hosts/$HOST

Events from the game's log (filters: host, kind, player, since, until):

  curl -sS -H 'Authorization: Bearer $KEY' '$BASE/api/v1/orgs/$ORG/events?limit=20'
  curl -sS -H 'Authorization: Bearer $KEY' '$BASE/api/v1/orgs/$ORG/events?kind=chat'

A game job (say, kick, ban, save, shutdown, command, restart):

  curl -sS -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' \\
    -X POST $BASE/api/v1/orgs/$ORG/jobs \\
    -d '{"host":"$HOST","kind":{"type":"game","game":"main","action":"say","args":{"message":"hello"}}}'

Open the dashboard at $BASE/ to see the host, run jobs and follow their output live.
Press Ctrl-C to stop.
EOF
wait
