# tollgate in a container: `docker build -t tollgate .`, then
#   docker run --rm -e OURO_API_KEY -v "$PWD:/work" tollgate run --target https://staging.example.com
# The project folder (tollgate.yaml, scenarios/) is mounted at /work, the working directory.

# Build: the toolchain image named by Cargo.toml's rust-version or newer.
FROM rust:1.88-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY schemas ./schemas
RUN cargo build --release --locked --bin tollgate

# Run: a small image with CA certificates, as a user without privileges.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 tollgate
COPY --from=build /src/target/release/tollgate /usr/local/bin/tollgate
USER tollgate
WORKDIR /work
ENTRYPOINT ["tollgate"]
CMD ["run"]
