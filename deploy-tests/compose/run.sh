#!/usr/bin/env bash
# docker-compose.yml for real, as an operator runs it, checked end to end (deploy-tests/tests/compose_stack.rs):
#
#   1. a Docker Engine: ../shared/tools/compose-engine.sh (installs and starts one, with local stand-ins
#      for the Docker Hub images, on machines that cannot reach Docker Hub); skipped when `docker info`
#      already answers;
#   2. a copy of the repository (what git tracks, plus untracked files it does not ignore), so nothing
#      is written into the checkout; there, `sh deploy/new-env.sh` writes a .env with fresh secrets and
#      prints the admin password, exactly as docs/operating.md tells an operator;
#   3. whatever an interrupted run of the same project left (containers, the Redis volume with keys
#      sealed under another .env) removed; then docs/operating.md's `docker compose up --build -d`, and
#      the checks;
#   4. always, even when a check fails: `docker compose down -v`, the copy removed, and the engine
#      stopped if this script started it.
#
# COMPOSE_PREBUILT=<dir> (CI sets it to the debug build its test stage made): the images take
# <dir>/auth-service and <dir>/solicitud-service (stripped of their debug information), compiled on
# this Debian bookworm host, instead of compiling the workspace again inside the image (the
# Dockerfile's BINARIES=prebuilt, through a docker-compose.override.yml written into the copy, which
# `docker compose up` reads by itself). Everything else is the same: the runtime stage, the compose
# file, the checks.
#
# Needs root (the engine), openssl and curl (the TLS check). Takes 5-10 minutes the first time on two
# cores (the image build compiles the workspace in release mode), a few minutes after.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
engine=${COMPOSE_ENGINE_SCRIPT:-$repo/../shared/tools/compose-engine.sh}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-solicitud-ci}
log() { printf 'compose-ci: %s\n' "$*" >&2; }
t0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t0 ))s"; }

work=$(mktemp -d /tmp/compose-ci.XXXXXX)
stack="$work/stack"
started_engine=

cleanup() {
    status=$?
    if [ -f "$stack/docker-compose.yml" ] && command -v docker >/dev/null 2>&1; then
        if [ "$status" -ne 0 ]; then
            log "failed; the last log lines of each service:"
            (cd "$stack" && docker compose ps -a && docker compose logs --no-color --tail 30) >&2 || true
        fi
        (cd "$stack" && docker compose -f docker-compose.yml -f docker-compose.tls.yml down -v --remove-orphans) >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    if [ -n "$started_engine" ]; then
        bash "$engine" stop || true
    fi
    log "done in $(elapsed), status $status"
}
trap cleanup EXIT

if docker info >/dev/null 2>&1; then
    log "a Docker Engine already answers; using it"
else
    [ -f "$engine" ] || { log "no Docker Engine and no $engine to start one"; exit 1; }
    started_engine=1
    bash "$engine" "$repo"
fi

mkdir -p "$stack"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$stack"
cd "$stack"
rm -f .env
password=$(sh deploy/new-env.sh | sed -n 's/.*with the password: //p')
[ -n "$password" ] || { log "new-env.sh printed no admin password"; exit 1; }

if [ -n "${COMPOSE_PREBUILT:-}" ]; then
    mkdir -p .prebuilt
    for service in auth-service solicitud-service; do
        [ -x "$COMPOSE_PREBUILT/$service" ] || { log "COMPOSE_PREBUILT has no $service binary"; exit 1; }
        strip -o ".prebuilt/$service" "$COMPOSE_PREBUILT/$service"
    done
    cat > docker-compose.override.yml <<'EOF'
services:
  auth-service:
    build:
      args:
        BINARIES: prebuilt
  solicitud-service:
    build:
      args:
        BINARIES: prebuilt
EOF
    log "the images take the binaries in $COMPOSE_PREBUILT"
fi

# A run that was killed before its cleanup (a machine restarted mid-run) leaves its containers and its
# Redis volume behind under the same project name; that Redis still holds signing keys sealed with the
# old .env's KEY_ENCRYPTION_KEY, which the new auth-service rightly refuses to start with. Start clean.
leftovers=$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME";
            docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
if [ -n "$leftovers" ]; then
    log "removing what an interrupted run of project $COMPOSE_PROJECT_NAME left (containers, volumes)"
    docker compose -f docker-compose.yml -f docker-compose.tls.yml down -v --remove-orphans >/dev/null 2>&1 || true
    docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | xargs -r docker volume rm >/dev/null
fi

log "[$(elapsed)] docker compose up --build -d"
docker compose up --build -d
log "[$(elapsed)] up; running the checks"

COMPOSE_STACK_DIR="$stack" COMPOSE_ADMIN_PASSWORD="$password" \
    cargo test --manifest-path "$repo/Cargo.toml" -p deploy-tests --test compose_stack -- \
    --ignored --nocapture --test-threads=1
