# The Orrery server as an image: built in Rust's image, run on a slim Debian with only the
# binary. `docker compose up` (compose.yaml) runs three of them behind a proxy.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p orrery-api --bin orrery && cp target/release/orrery /orrery

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates bubblewrap \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/orrery orrery \
    && mkdir -p /var/lib/orrery && chown orrery /var/lib/orrery
COPY --from=build /orrery /usr/local/bin/orrery
USER orrery
ENV ORRERY_DATA_DIR=/var/lib/orrery ORRERY_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["orrery"]
CMD ["serve"]
