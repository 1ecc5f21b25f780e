# deploy/etcd.Dockerfile - an etcd member for the compose topology: Debian's etcd-server package on
# debian:bookworm-slim. Build context is deploy/ (docker-compose.yaml does this):
#   docker build -f deploy/etcd.Dockerfile -t hybridstore-etcd:latest deploy
#
# Why the Debian package and not quay.io/coreos/etcd:v3.4.x: it is the exact etcd our tests and
# `make run` use (3.4.23, whose JSON gateway, zero
# values omitted, quota and NOSPACE behaviour and leader-loss timings we checked), it gets Debian security
# updates with the rest of the images, and every image then shares one base layer and one
# registry. The quay.io image would be a different 3.4 patch release built by a different vendor.
# (etcd 3.4 refuses to start on arm64 unless ETCD_UNSUPPORTED_ARCH=arm64 is set; amd64 needs
# nothing.)
#
# All flags come from the compose file's `command:`, so this image carries no cluster identity.

ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

# The package's postinst would start the SysV service; policy-rc.d = 101 forbids that inside an
# image build (the official Debian images ship the same file; writing it keeps this independent).
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
 && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server \
 && rm -rf /var/lib/apt/lists/*

# The package creates the `etcd` system user. /var/lib/etcd is the named volume's mount point;
# Docker copies this owner and mode into an empty volume, so etcd never runs as root.
RUN install -d -o etcd -g etcd -m 0700 /var/lib/etcd

COPY hs-healthcheck.sh /usr/local/bin/hs-healthcheck
RUN chmod 0755 /usr/local/bin/hs-healthcheck

USER etcd
WORKDIR /var/lib/etcd
EXPOSE 2379 2380
ENTRYPOINT ["/usr/bin/etcd"]
