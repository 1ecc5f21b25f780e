# deploy/nginx.Dockerfile - the load balancer in front of the gateways: Debian's nginx-light on
# debian:bookworm-slim with deploy/nginx.conf baked in. Build context is deploy/:
#   docker build -f deploy/nginx.Dockerfile -t hybridstore-nginx:latest deploy
#
# Why not the official `nginx` image: this is the same nginx build (1.22.1, Debian) that `make run`
# starts and that tests/deploy/check_compose.sh runs `nginx -t` with, so the configuration we check
# is the configuration that runs; the official image is a different (mainline) version with its
# own file layout. It also keeps one base image and one vendor of security updates for every image.

ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

# policy-rc.d = 101: the package's postinst must not try to start nginx during the build.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
 && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light \
 && rm -rf /var/lib/apt/lists/*

# nginx runs entirely as www-data (it listens on 8000, so it needs no root to bind). Everything it
# writes (pid, request/response temp files) lives under /var/cache/nginx, owned by www-data.
RUN install -d -o www-data -g www-data -m 0750 /var/cache/nginx

COPY nginx.conf /etc/nginx/hybridstore.conf
COPY hs-healthcheck.sh /usr/local/bin/hs-healthcheck
# No `nginx -t` here: it resolves the upstream names (gateway1..3), which exist only at run time.
# tests/deploy/check_compose.sh checks the syntax with the names replaced.
RUN chmod 0644 /etc/nginx/hybridstore.conf && chmod 0755 /usr/local/bin/hs-healthcheck

USER www-data
EXPOSE 8000
# Foreground, so Docker sees the master process; SIGQUIT is nginx's graceful stop.
STOPSIGNAL SIGQUIT
ENTRYPOINT ["nginx", "-c", "/etc/nginx/hybridstore.conf", "-g", "daemon off;"]
