# Build: docker build -t modelgate .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p modelgate-server && strip target/release/modelgate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data modelgate && mkdir -p /data && chown modelgate /data
COPY --from=build /src/target/release/modelgate /usr/local/bin/modelgate
USER modelgate
WORKDIR /data
ENV MODELGATE_DATA_DIR=/data MODELGATE_HOST=0.0.0.0 MODELGATE_PORT=8000
EXPOSE 8000
HEALTHCHECK CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000"]
ENTRYPOINT ["modelgate"]
CMD ["serve"]
