# syntax=docker/dockerfile:1
# Dockerfile -- avatar-api in a small Debian 12 image.
#
#   docker build -f Dockerfile --no-cache -t avatar-api .
#   docker run --rm -p 8080:8080 avatar-api
#
# The build stage builds from source and runs the whole test suite, so no
# image is made from a tree that fails "make check".  tests/docker.sh runs
# this stage's configure/make RUN on a copy of the tree (with .dockerignore
# applied), so the image cannot drift from the real build: keep the build
# commands in that one RUN.

FROM debian:bookworm AS build
# scripts/quickstart.sh's build and test packages (curl: tests/smoke-run.sh).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential autoconf automake pkg-config \
      libmicrohttpd-dev libjansson-dev zlib1g-dev check curl \
 && rm -rf /var/lib/apt/lists/*
# tests/docker.sh skips itself inside this make check (no recursion).
ENV AVATAR_API_IN_DOCKER_BUILD=1
WORKDIR /src
COPY . .
RUN autoreconf -fi \
 && ./configure --prefix=/usr --with-systemdsystemunitdir=no \
 && make -j"$(nproc)" \
 && make check VERBOSE=1 \
 && make install DESTDIR=/out

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 zlib1g \
 && rm -rf /var/lib/apt/lists/*
# The binary, /usr/share/avatar-api/users.json (its default --data), the
# man page and docs.
COPY --from=build /out/usr/ /usr/
# Any unprivileged id will do; the server writes nothing.
USER 65532:65532
EXPOSE 8080
# SIGTERM stops gracefully (exit 0), also as PID 1.
STOPSIGNAL SIGTERM
# --healthcheck reads the same M1_DOMAIN/M1_PORT as the server: change the
# port with "-e M1_PORT=..." rather than a --port flag, or this probes 8080.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/bin/avatar-api", "--healthcheck"]
ENTRYPOINT ["/usr/bin/avatar-api"]
