# One Dockerfile for both services:
#   docker build --build-arg SERVICE=auth-service      -t auth-service .
#   docker build --build-arg SERVICE=solicitud-service -t solicitud-service .
# (docker-compose.yml does this for you.)
#
# The build stages do not depend on SERVICE, so both images share them: one compilation serves both.
# Dependencies are compiled in a layer of their own that only changes with Cargo.toml / Cargo.lock,
# so a change to our code recompiles our three crates, not the ~230 they depend on.

# The toolchain must be at least every locked crate's rust-version; build and run on the same Debian
# release so the binary's glibc matches.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
# Where the runtime image takes its binary from: `build` (stage 2, compiled here in release mode: the
# default) or `prebuilt` (stage 2b: `.prebuilt/<service>` in the build context, compiled on a Debian
# ${DEBIAN_RELEASE} host). CI uses `prebuilt` with the binaries its test stage built, so a run compiles
# the workspace no extra time for its images (deploy-tests/compose/run.sh).
ARG BINARIES=build

# --- 1. The workspace's skeleton: every Cargo.toml and Cargo.lock, with a stand-in for each crate's
#        library, binaries and build script (`src/lib.rs`, `src/main.rs`, `src/bin/**`, `build.rs`,
#        and any `path = "*.rs"` / `build = "*.rs"` a manifest names). It covers every workspace
#        member (shared, auth-service, solicitud-service, deploy-tests, and any added later) without
#        listing them. Test, bench and example targets are dropped from these copies of the manifests:
#        cargo refuses a declared one whose file is missing, and none is built here. The output is
#        identical, and so cached, until a manifest or the lock file changes.
#        deploy-tests/tests/compose.rs runs this step on the workspace and builds the result.
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS skeleton
WORKDIR /src
COPY . .
RUN set -eu; \
    stubs=$(for manifest in $(find . -name Cargo.toml -not -path './target/*'); do \
        dir=$(dirname "$manifest"); \
        awk '/^\[\[(test|bench|example)\]\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' "$manifest" > "$manifest.skeleton"; \
        mv "$manifest.skeleton" "$manifest"; \
        for target in $(sed -n 's/^ *\(path\|build\) *= *"\([^"]*\.rs\)".*/\2/p' "$manifest"); do echo "$dir/$target"; done; \
        for target in src/lib.rs src/main.rs build.rs; do if [ -f "$dir/$target" ]; then echo "$dir/$target"; fi; done; \
        if [ -d "$dir/src/bin" ]; then find "$dir/src/bin" -name '*.rs'; fi; \
    done); \
    find . -type f ! -name Cargo.toml ! -name Cargo.lock -delete; \
    for f in $stubs; do \
        mkdir -p "$(dirname "$f")"; \
        case "$f" in */src/lib.rs) : > "$f" ;; *) echo 'fn main() {}' > "$f" ;; esac; \
    done

# --- 2. Build: the dependencies alone first (cached), then our code.
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY --from=skeleton /src/ ./
RUN cargo build --release --locked -p auth-service -p solicitud-service
COPY . .
# Our sources are made newer than the stand-ins' build so cargo recompiles our crates (COPY keeps the
# files' original times, which may well be older).
RUN find . -name '*.rs' -not -path './target/*' -exec touch {} + \
 && cargo build --release --locked -p auth-service -p solicitud-service

# --- 2b. Or binaries compiled outside (BINARIES=prebuilt). Only the stage BINARIES names is built.
FROM scratch AS prebuilt
COPY .prebuilt/ /src/target/release/

FROM ${BINARIES} AS binaries

# --- 3. The runtime image: Debian slim, curl for the health check, a non-root user, one binary.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin app
# Declared after the shared layers above so they are built once for both services.
ARG SERVICE=auth-service
RUN case "$SERVICE" in \
        auth-service) echo 8001 ;; \
        solicitud-service) echo 8002 ;; \
        *) echo "SERVICE must be auth-service or solicitud-service, not '$SERVICE'" >&2; exit 1 ;; \
    esac > /etc/service-port
COPY --from=binaries /src/target/release/${SERVICE} /usr/local/bin/${SERVICE}
RUN ln -s "${SERVICE}" /usr/local/bin/service
# The services read .env from their working directory when present; this one holds none (.dockerignore
# keeps .env out of the image). Configuration comes from the environment (docker-compose.yml: env_file).
WORKDIR /app
ENV APP_ENV=production \
    LOG_FORMAT=json
USER 10001:10001
# For `docker run`; docker-compose.yml sets its own. /ready is 200 only when the store answers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(cat /etc/service-port)/ready" || exit 1
# SIGTERM (Docker's default stop signal) drains in-flight requests for up to 30 s.
ENTRYPOINT ["/usr/local/bin/service"]
