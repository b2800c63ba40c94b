# The kg-operator image: Python 3.11 with kgop, compose v2 and the Postgres client tools.
#
#   docker build -t kg-operator:$(cat VERSION) --build-arg KG_VERSION=$(cat VERSION) .
#
# Compose v2 is the release below, for the build's architecture (amd64 or arm64), checked
# against the SHA-256 pinned here: a binary that does not match fails the build.
#
# Python dependencies come from requirements/runtime.lock (and build.lock), every file
# checked against its SHA-256 (pip --require-hashes): two builds of a version are the same.
#
# Offline builds (air-gapped sites, the test suite): put every wheel of the locks in
# build/wheels and a compose v2 binary at build/docker-compose, then add
#   --build-arg WHEELHOUSE=build/wheels --build-arg COMPOSE_BINARY=build/docker-compose
#   --build-arg COMPOSE_SHA256_<ARCH>=<its sha256>   (the binary is checked all the same)
# and, for a base image of your own, --build-arg BASE_IMAGE=...
# The default is a tag, which can name another image tomorrow: a published build pins the
# base by digest (--build-arg BASE_IMAGE=python:3.11-slim-bookworm@sha256:...; found with
# `docker buildx imagetools inspect python:3.11-slim-bookworm`); scripts/release.sh --push
# refuses without one.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG KG_VERSION=0.0.0
ARG WHEELHOUSE=""
# Empty: the index pip is configured with (its default, or the build machine's pip.conf
# passed as PIP_INDEX_URL).
ARG PIP_INDEX_URL=""
ARG COMPOSE_BINARY=""
ARG COMPOSE_VERSION=v2.30.3
ARG COMPOSE_SHA256_AMD64=fbb4853d3f2148b0f2f0916f8971c9e500784e4e4949324934fc0b7dc2ed5016
ARG COMPOSE_SHA256_ARM64=8fed7b79b8bd1cb0624142f7d723c3cc67ba747c77ed69abbdefdc77a6d416d1
# Set by BuildKit (docker buildx, --platform); the legacy builder leaves it empty and the
# base image's own architecture is used.
ARG TARGETARCH

# /opt/kgop/share holds this release's manifest and migrations: an upgrade to this image
# reads them from here before anything runs on it.
LABEL org.opencontainers.image.title="kg-operator" \
      org.opencontainers.image.description="kgop: operator of the self-hosted Knowledge Graph platform" \
      org.opencontainers.image.version="${KG_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV DEBIAN_FRONTEND=noninteractive \
    PATH=/opt/kgop/bin:$PATH \
    KGOP_COMPOSE_COMMAND=docker-compose \
    TERM=xterm-256color \
    COLORTERM=truecolor \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8

RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client tini ca-certificates \
 && if ! command -v python3 >/dev/null; then \
        apt-get install -y --no-install-recommends python3 python3-venv; fi \
 && rm -rf /var/lib/apt/lists/*

COPY . /src
RUN set -eu; \
    arch="${TARGETARCH:-$(dpkg --print-architecture)}"; \
    case "${arch}" in \
        amd64) asset=x86_64; sum="${COMPOSE_SHA256_AMD64}" ;; \
        arm64) asset=aarch64; sum="${COMPOSE_SHA256_ARM64}" ;; \
        *) echo "kg-operator: no compose binary pinned for ${arch} (amd64, arm64)" >&2; exit 1 ;; \
    esac; \
    if [ -n "${COMPOSE_BINARY}" ]; then \
        cp "/src/${COMPOSE_BINARY}" /usr/local/bin/docker-compose; \
    else \
        python3 -c "import urllib.request,sys; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])" \
            "https://github.com/docker/compose/releases/download/${COMPOSE_VERSION}/docker-compose-linux-${asset}" \
            /usr/local/bin/docker-compose; \
    fi; \
    if ! echo "${sum}  /usr/local/bin/docker-compose" | sha256sum -c - >/dev/null; then \
        echo "kg-operator: the compose binary for ${arch} does not match its pinned SHA-256" >&2; \
        exit 1; \
    fi; \
    chmod 0755 /usr/local/bin/docker-compose; \
    docker-compose version; \
    python3 -m venv /opt/kgop; \
    locks="-r /src/requirements/build.lock -r /src/requirements/runtime.lock"; \
    if [ -n "${WHEELHOUSE}" ]; then \
        source="--no-index --find-links /src/${WHEELHOUSE}"; \
    elif [ -n "${PIP_INDEX_URL}" ]; then \
        source="--index-url ${PIP_INDEX_URL}"; \
    else \
        unset PIP_INDEX_URL; source=""; \
    fi; \
    /opt/kgop/bin/pip install --no-cache-dir ${source} --require-hashes ${locks}; \
    /opt/kgop/bin/pip install --no-cache-dir ${source} --no-deps --no-build-isolation /src; \
    rm -rf /src; \
    kgop --version; \
    package="$(/opt/kgop/bin/python -c 'import kgop_tui, os; print(os.path.dirname(kgop_tui.__file__))')"; \
    mkdir -p /opt/kgop/share/sql; \
    cp "${package}/releases.toml" /opt/kgop/share/releases.toml; \
    cp -r "${package}/sql/." /opt/kgop/share/sql/

ENTRYPOINT ["/usr/bin/tini", "--"]
# The container's own job: `kgop recert` at start and then daily (KGOP_RECERT_EVERY seconds),
# so certificates renew by themselves; everything else comes in through `docker exec`.
ENV KGOP_RECERT_EVERY=86400
CMD ["sh", "-c", "while :; do kgop recert || echo \"kgop recert failed (exit $?); next try in ${KGOP_RECERT_EVERY} s\"; sleep \"${KGOP_RECERT_EVERY}\" & wait $!; done"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 CMD ["kgop", "--version"]
