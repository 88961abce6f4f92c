#!/usr/bin/env bash
# `make schemathesis`: property-based tests of the live API against its own OpenAPI document.
#
# Starts the real gsm-server on 127.0.0.1:0 (SQLite in a fresh temp dir, one org and its owner
# user from `gsm-server init`), and runs Schemathesis against /api/v1/openapi.json: org routes
# with the org's owner key, user routes and the Discord link with the owner's access token,
# logout with a session of its own and org deletion on a second org, so no call pulls the ground
# from under the others.
# No answer may be a 5xx, and every answer must match the document.
# Schemathesis lives in a Python venv (GSM_VENV, default /var/tmp/gsm-venv), made on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV="${GSM_VENV:-/var/tmp/gsm-venv}"
# Test cases per operation; the whole run stays well under two minutes on two cores.
MAX_EXAMPLES="${GSM_SCHEMATHESIS_EXAMPLES:-25}"
# A fixed seed keeps `make test` repeatable; set another to explore further.
SEED="${GSM_SCHEMATHESIS_SEED:-1}"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --locked -q -p gsm-server
SERVER="${CARGO_TARGET_DIR:-$PWD/target}/debug/gsm-server"

DATA=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$DATA"
}
trap cleanup EXIT

OWNER_EMAIL=owner@schemathesis.test
export GSM_SCHEMATHESIS_PASSWORD=schemathesis-owner-password
"$SERVER" init --data-dir "$DATA/server" --org schemathesis --email "$OWNER_EMAIL" \
    --password-env GSM_SCHEMATHESIS_PASSWORD > "$DATA/org.json"
json() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$DATA/org.json" "$1"; }
export GSM_SCHEMATHESIS_ORG GSM_SCHEMATHESIS_KEY
GSM_SCHEMATHESIS_ORG=$(json org)
GSM_SCHEMATHESIS_KEY=$(json api_key)

NO_COLOR=1 RUST_LOG=warn,gsm_server::app=info "$SERVER" serve --data-dir "$DATA/server" \
    --listen 127.0.0.1:0 > "$DATA/server.log" 2>&1 &
server_pid=$!
# The server logs the address it bound; poll for it (and for readiness), never sleep blindly.
base=
for _ in $(seq 1 200); do
    addr=$(sed -n 's/.*gsm-server listening.*addr=\([0-9.:]*\).*/\1/p' "$DATA/server.log" | head -n 1)
    if [ -n "$addr" ] && curl -fsS "http://$addr/readyz" >/dev/null 2>&1; then base="http://$addr"; break; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$DATA/server.log" >&2; exit 1; }
    sleep 0.05
done
[ -n "$base" ] || { echo "gsm-server did not become ready" >&2; cat "$DATA/server.log" >&2; exit 1; }

# Every org route gets the real org, and the id routes a real host and job (random ones only
# ever answer 404).
api() { curl -fsS -H "Authorization: Bearer $GSM_SCHEMATHESIS_KEY" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
export GSM_SCHEMATHESIS_HOST GSM_SCHEMATHESIS_JOB
GSM_SCHEMATHESIS_HOST=$(api -d '{"name": "fuzzed"}' "$base/api/v1/orgs/$GSM_SCHEMATHESIS_ORG/hosts" | field '["host"]["id"]')
GSM_SCHEMATHESIS_JOB=$(api -d "{\"host\": \"$GSM_SCHEMATHESIS_HOST\", \"kind\": {\"type\": \"command\", \"program\": \"/bin/true\"}}" \
    "$base/api/v1/orgs/$GSM_SCHEMATHESIS_ORG/jobs" | field '["id"]')
# The owner's access tokens: one for user routes, one session for logout alone.
login() { curl -fsS -H 'Content-Type: application/json' \
    -d "{\"email\": \"$OWNER_EMAIL\", \"password\": \"$GSM_SCHEMATHESIS_PASSWORD\"}" \
    "$base/api/v1/auth/login" | field '["access_token"]'; }
export GSM_SCHEMATHESIS_TOKEN GSM_SCHEMATHESIS_LOGOUT_TOKEN GSM_SCHEMATHESIS_DOOMED_ORG
GSM_SCHEMATHESIS_TOKEN=$(login)
GSM_SCHEMATHESIS_LOGOUT_TOKEN=$(login)
user() { curl -fsS -H "Authorization: Bearer $GSM_SCHEMATHESIS_TOKEN" -H 'Content-Type: application/json' "$@"; }
GSM_SCHEMATHESIS_DOOMED_ORG=$(user -d '{"name": "doomed"}' "$base/api/v1/orgs" | field '["id"]')
export GSM_SCHEMATHESIS_USER GSM_SCHEMATHESIS_INVITE GSM_SCHEMATHESIS_KEY_ID
GSM_SCHEMATHESIS_USER=$(user "$base/api/v1/me" | field '["user"]["id"]')
GSM_SCHEMATHESIS_INVITE=$(api -d '{"email": "invitee@schemathesis.test", "role": "viewer"}' \
    "$base/api/v1/orgs/$GSM_SCHEMATHESIS_ORG/invites" | field '["invite"]["id"]')
GSM_SCHEMATHESIS_KEY_ID=$(api -d '{"name": "revocable", "role": "viewer"}' \
    "$base/api/v1/orgs/$GSM_SCHEMATHESIS_ORG/api-keys" | field '["api_key"]["id"]')
cat > "$DATA/schemathesis.toml" <<'EOF'
[headers]
Authorization = "Bearer ${GSM_SCHEMATHESIS_KEY}"

[parameters]
"path.org" = "${GSM_SCHEMATHESIS_ORG}"
"path.host" = "${GSM_SCHEMATHESIS_HOST}"
"path.job" = "${GSM_SCHEMATHESIS_JOB}"
"path.user" = "${GSM_SCHEMATHESIS_USER}"
"path.invite" = "${GSM_SCHEMATHESIS_INVITE}"
"path.key" = "${GSM_SCHEMATHESIS_KEY_ID}"

[[operations]]
include-path-regex = "^/api/v1/(me|orgs|invites/accept)$"
headers = { Authorization = "Bearer ${GSM_SCHEMATHESIS_TOKEN}" }

# Linking a Discord account is for a member signed in as themselves (an API key gets 403).
[[operations]]
include-path-regex = "/discord/link$"
headers = { Authorization = "Bearer ${GSM_SCHEMATHESIS_TOKEN}" }

[[operations]]
include-name = "POST /api/v1/auth/logout"
headers = { Authorization = "Bearer ${GSM_SCHEMATHESIS_LOGOUT_TOKEN}" }

[[operations]]
include-name = "DELETE /api/v1/orgs/{org}"
headers = { Authorization = "Bearer ${GSM_SCHEMATHESIS_TOKEN}" }
parameters = { "path.org" = "${GSM_SCHEMATHESIS_DOOMED_ORG}" }
EOF

# Run inside the temp dir: Schemathesis keeps a cache in its working directory.
status=0
(cd "$DATA" && "$VENV/bin/schemathesis" --config-file schemathesis.toml run "$base/api/v1/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 1 \
    --generation-database none --no-color --report-dir report) || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- gsm-server log ---" >&2
    grep -v ' INFO ' "$DATA/server.log" >&2 || true
fi
exit "$status"
