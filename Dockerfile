FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/notify-bridge /usr/local/bin/notify-bridge
COPY config /etc/notify-bridge
# The default journal is sqlite://notify-bridge.db in the working directory.
RUN mkdir -p /var/lib/notify-bridge && chown nobody /var/lib/notify-bridge
WORKDIR /var/lib/notify-bridge
USER nobody
ENTRYPOINT ["notify-bridge"]
CMD ["run", "--config", "/etc/notify-bridge/notify-bridge.example.toml"]
