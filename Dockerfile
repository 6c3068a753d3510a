# One image per service: docker build --build-arg SERVICE=auth-service .
# Stage 1 builds the dependencies alone (cached while only our code changes), then our crates.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY shared/Cargo.toml shared/Cargo.toml
COPY auth-service/Cargo.toml auth-service/Cargo.toml
COPY solicitud-service/Cargo.toml solicitud-service/Cargo.toml
RUN for c in shared auth-service solicitud-service; do mkdir -p $c/src && echo 'fn main() {}' > $c/src/main.rs && touch $c/src/lib.rs; done \
 && cargo build --release --locked -p auth-service -p solicitud-service || true
COPY . .
RUN touch shared/src/lib.rs auth-service/src/lib.rs auth-service/src/main.rs solicitud-service/src/lib.rs solicitud-service/src/main.rs \
 && cargo build --release --locked -p auth-service -p solicitud-service

# Stage 2: a small runtime image, non-root.
FROM debian:bookworm-slim
ARG SERVICE=auth-service
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home app
COPY --from=build /src/target/release/${SERVICE} /usr/local/bin/service
USER 10001
ENTRYPOINT ["/usr/local/bin/service"]
