#!/usr/bin/env bash
# Makes the two base images the Dockerfile starts from, for a machine that cannot reach
# Docker Hub (CI here reaches only Debian's and the language registries):
#   kith-local/debian:bookworm   Debian bookworm, minbase, by debootstrap from Debian's mirror
#   kith-local/rust:bookworm     the same with gcc, libc6-dev, this machine's Rust toolchain and
#                                its CA bundle (cargo reaches crates.io as this machine does)
# Then: docker build --build-arg RUST_IMAGE=kith-local/rust:bookworm \
#                    --build-arg RUNTIME_IMAGE=kith-local/debian:bookworm -t kith .
# Needs root, debootstrap and a running Docker daemon. Images already there are kept.
set -euo pipefail

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /tmp/kith-images.XXXXXX)
trap 'umount "$work/builder/proc" 2>/dev/null || true; rm -rf "$work"' EXIT

have() { docker image inspect "$1" >/dev/null 2>&1; }

if ! have kith-local/debian:bookworm || ! have kith-local/rust:bookworm; then
    debootstrap --variant=minbase bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log"; exit 1; }
    rm -rf "$work/base/var/lib/apt/lists/"* "$work/base/var/cache/apt/"*.bin "$work/base/var/cache/apt/archives/"*.deb
fi

if ! have kith-local/debian:bookworm; then
    tar -C "$work/base" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' - kith-local/debian:bookworm
fi

if ! have kith-local/rust:bookworm; then
    toolchain=$(rustc --print sysroot)
    cp -a "$work/base" "$work/builder"
    mount --bind /proc "$work/builder/proc"
    chroot "$work/builder" /bin/sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev && apt-get clean && rm -rf /var/lib/apt/lists/*' \
        >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; exit 1; }
    umount "$work/builder/proc"
    mkdir -p "$work/builder/usr/local/rust"
    cp -a "$toolchain/bin" "$toolchain/lib" "$work/builder/usr/local/rust/"
    mkdir -p "$work/builder/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$work/builder/etc/ssl/certs/ca-certificates.crt"
    tar -C "$work/builder" -c . | docker import \
        --change 'ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV CARGO_HOME=/usr/local/cargo' \
        --change 'CMD ["/bin/bash"]' - kith-local/rust:bookworm
fi
docker image ls 'kith-local/*'
