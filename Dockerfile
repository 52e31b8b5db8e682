# A Kith community hub in a container: `kith run --hub`, its home in a volume.
#
#   docker build -t kith .
#   docker volume create kith-hub
#   docker run --rm -v kith-hub:/var/lib/kith kith join 'kith:…' --name "Library hub"
#   docker run -d --name kith-hub -v kith-hub:/var/lib/kith -p 4001:4001 kith
#   docker exec kith-hub kith status      # the hub's peer id and addresses
#
# Where Docker Hub cannot be reached, contrib/docker/local-images.sh makes both base images
# and the build takes --build-arg RUST_IMAGE=… --build-arg RUNTIME_IMAGE=… (see that script).
ARG RUST_IMAGE=rust:1.88-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --locked --profile dist -p kith-cli --bin kith \
    && cp target/dist/kith /kith

FROM ${RUNTIME_IMAGE}
# The hub runs as its own unprivileged user; its home (key, config, entries) is the volume.
RUN mkdir -p /var/lib/kith && chown 10001:10001 /var/lib/kith && chmod 0700 /var/lib/kith
COPY --from=build /kith /usr/local/bin/kith
USER 10001:10001
ENV KITH_HOME=/var/lib/kith
VOLUME ["/var/lib/kith"]
# libp2p (TCP). The local API stays on the container's 127.0.0.1: publish only 4001.
EXPOSE 4001
# `kith status` asks the running node through its local API: it fails when the node is down
# or does not answer.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 CMD ["kith", "status"]
ENTRYPOINT ["kith"]
CMD ["run", "--hub", "--no-mdns", "--log-format", "json"]
