# misp-load in a container: build with the repository root as context,
#   docker build -f examples/docker/misp-load.Dockerfile -t misp-load .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p misp-load

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/misp-load /usr/local/bin/misp-load
WORKDIR /etc/misp-load
ENTRYPOINT ["misp-load"]
CMD ["--config", "/etc/misp-load/config.yml", "--watch", "300"]
