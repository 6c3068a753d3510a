#!/usr/bin/env bash
# Schema-driven fuzzing of both services with schemathesis (PyPI), every check, against the real debug
# binaries: auth-service on its embedded store, solicitud-service on the Redis at 127.0.0.1:6379 (under
# a key prefix of its own, deleted at the end). Requests carry a real access token from a login.
# Exits non-zero on any finding: a 5xx, an undocumented status or header, a response that breaks its
# schema, schema-valid data refused for its shape (see hooks.py), schema-invalid data accepted, a 405
# without Allow, ... Bounded to a few minutes on a 2-core machine (ST_MAX_EXAMPLES per operation).
#
# Excluded from the main run: POST /auth/logout, /auth/logout-all, /admin/users/{id}/logout-all and
# /admin/users/{id}/password, which can revoke the token every other request carries (the admin's own
# sessions, when the id is 1). They are fuzzed afterwards, each on its own with a token of its own; the
# admin password reset last, as it may change the password every token comes from.
# ST_MAX_EXAMPLES (default 60) and ST_SEED override the bound and the (fixed) seed.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
here="$root/deploy-tests/schemathesis"
target=${CARGO_TARGET_DIR:-$root/target}
st_version=4.32.5
venv="$target/schemathesis-venv"
max_examples=${ST_MAX_EXAMPLES:-60}

if ! "$venv/bin/st" --version 2>/dev/null | grep -q "version $st_version\$"; then
  echo "schemathesis: installing schemathesis==$st_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$st_version"
fi

# The targets `cargo test --workspace` builds (the same features, so after the test suite nothing is
# compiled again; `-p auth-service -p solicitud-service` alone would rebuild much of the workspace).
cargo build -q --workspace --bins --tests

work=$(mktemp -d)
pids=()
prefix="schemathesis:$$:"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$venv/bin/python" "$here/redis_clean.py" "$prefix" || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secret() { "$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))'; }
auth_port=$(free_port)
sol_port=$(free_port)
jwt_secret=$(secret)
admin_password=$(secret)

# Both run in an empty directory, so a developer's .env is not read. Limits are raised so that the
# fuzzer's volume is not answered 429 throughout (429 stays documented and is still accepted).
common=(
  JWT_SECRET="$jwt_secret" APP_ENV=development LOG_FORMAT=json RUST_LOG=warn
  JWT_AUDIENCE=solicitud-transporte-api JWT_ISSUER=auth-service
)
(cd "$work" && exec env -i PATH="$PATH" "${common[@]}" AUTH_BIND_ADDR="127.0.0.1:$auth_port" \
  API_USER=api_user API_PASSWORD="$admin_password" API_USER_EMAIL=api_user@example.com \
  RATE_LIMIT_IP_PER_MINUTE=1000000 RATE_LIMIT_LOGIN_MAX_FAILURES=1000000 MFA_ENABLED=true \
  "$target/debug/auth-service" >"$work/auth.log" 2>&1) &
pids+=($!)
(cd "$work" && exec env -i PATH="$PATH" "${common[@]}" SOLICITUD_BIND_ADDR="127.0.0.1:$sol_port" \
  REDIS_URL=redis://127.0.0.1:6379 REDIS_KEY_PREFIX="$prefix" \
  "$target/debug/solicitud-service" >"$work/solicitud.log" 2>&1) &
pids+=($!)

wait_ready() {
  for _ in $(seq 1 100); do
    "$venv/bin/python" - "$1" <<'PY' && return 0
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1] + "/ready", timeout=1).status == 200 else 1)
except Exception:
    sys.exit(1)
PY
    sleep 0.2
  done
  echo "schemathesis: $1 did not become ready" >&2
  cat "$work"/*.log >&2
  return 1
}
auth="http://127.0.0.1:$auth_port"
sol="http://127.0.0.1:$sol_port"
wait_ready "$auth"
wait_ready "$sol"

token() {
  "$venv/bin/python" - "$auth" "$admin_password" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/auth/login", method="POST",
    data=json.dumps({"username": "api_user", "password": sys.argv[2]}).encode(),
    headers={"content-type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=30))["datos"]["accessToken"])
PY
}

export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks
st() {
  # From the scratch directory, so schemathesis's caches do not land in the repository.
  # One worker: with two, schemathesis's threads run hypothesis's `ast.parse` of its lambdas at the
  # same time, and CPython 3.11.7 (this machine's) can fail that with "SystemError: AST constructor
  # recursion depth mismatch" (a runtime error of the fuzzer, reported as a failed run).
  (cd "$work" && "$venv/bin/st" run --checks all --exclude-checks positive_data_acceptance \
    --max-examples "$max_examples" --seed "${ST_SEED:-20261129}" --generation-database none \
    --workers 1 --no-color --request-timeout 30 --warnings off "$@")
}

status=0
echo "schemathesis: auth-service (all but logout and logout-all)"
st "$auth/openapi.json" -H "Authorization: Bearer $(token)" \
  --exclude-path /auth/logout --exclude-path /auth/logout-all \
  --exclude-path '/admin/users/{id}/logout-all' --exclude-path '/admin/users/{id}/password' || status=1
echo "schemathesis: solicitud-service"
st "$sol/openapi.json" -H "Authorization: Bearer $(token)" || status=1
# Each with a token of its own: a successful logout revokes the token its later cases carry (they are
# then 401, which is documented), and logout-all every session of the user.
for path in /auth/logout /auth/logout-all '/admin/users/{id}/logout-all' '/admin/users/{id}/password'; do
  echo "schemathesis: auth-service $path (it revokes this token)"
  st "$auth/openapi.json" -H "Authorization: Bearer $(token)" --include-path "$path" || status=1
done

# What the fuzzing reached, so a run where every request was refused (a dead token, say) shows.
for svc in "$auth" "$sol"; do
  echo "schemathesis: 2xx answers of $svc by route:"
  "$venv/bin/python" - "$svc" <<'PY'
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=5).read().decode()
for line in text.splitlines():
    m = re.match(r'http_requests_total\{.*method="(\w+)",route="([^"]+)",.*status="(2\d\d)"\} (\d+)', line)
    if m and m.group(2) not in ("/metrics", "/openapi.json", "/ready"):
        print(f"  {m.group(1):6} {m.group(2):28} {m.group(3)} x{m.group(4)}")
PY
done

if grep -q '"level":"ERROR"' "$work"/*.log; then
  echo "schemathesis: a service logged an error:" >&2
  grep '"level":"ERROR"' "$work"/*.log >&2
  status=1
fi
[ "$status" -eq 0 ] && echo "schemathesis: no findings"
exit "$status"
