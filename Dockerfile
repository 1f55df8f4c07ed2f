# Container image for pcscf, scscf and the lab hss (one image, three programs).
#   docker build -t ims-core:dev .
# Build stage: the Debian -dev packages scripts/deps.sh installs for the build, then `make`
# (the same target as a developer's build, warnings are errors).
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc make libc6-dev pkg-config \
      libsofia-sip-ua-dev libmicrohttpd-dev libjansson-dev libyaml-dev libssl-dev libxml2-dev \
      libfreediameter-dev libmnl-dev libsqlite3-dev \
      libhiredis-dev libnghttp2-dev libjemalloc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY common/ common/
COPY diameter/ diameter/
COPY cscf/ cscf/
# No .git in the build context: the version comes from this argument.
ARG VERSION=0.1.0
RUN make -j"$(nproc)" VERSION="$VERSION" build/pcscf build/scscf build/hss

# Runtime stage: only the shared libraries the programs load, and freeDiameter's dictionary
# extensions (dict_nasreq, dict_dcca, dict_dcca_3gpp are loaded at start-up).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libsofia-sip-ua0 libmicrohttpd12 libjansson4 libyaml-0-2 libssl3 libxml2 libmnl0 libsqlite3-0 \
      libfdcore6 libfdproto6 freediameter-extensions \
      libhiredis0.14 libnghttp2-14 libjemalloc2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ims \
 && useradd --system --uid 10001 --gid ims --home-dir /opt/ims --shell /usr/sbin/nologin ims \
 && mkdir -p /opt/ims/run /var/lib/ims \
 && chown ims:ims /opt/ims/run /var/lib/ims
COPY --from=build /src/build/pcscf /src/build/scscf /src/build/hss /usr/local/bin/
# The lab configs: `docker run ims-core:dev hss -c config/hss.yaml` works as `make run` does
# (relative paths such as config/subscribers.yaml and run/hss.db are under /opt/ims).
COPY config/ /opt/ims/config/
WORKDIR /opt/ims
USER 10001:10001
# SIP (pcscf 5060, scscf 6060; UDP and TCP), Diameter (hss 3868, scscf 3869), REST (8081-8083)
EXPOSE 5060/udp 5060/tcp 6060/udp 6060/tcp 3868/tcp 3869/tcp 8081/tcp 8082/tcp 8083/tcp
CMD ["pcscf", "--help"]
