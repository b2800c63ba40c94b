#!/usr/bin/env bash
# kgop's test command.
#
# Run as root on a Debian bookworm machine, it provisions everything the suite needs and
# runs it: Debian packages, compose v2, a private Docker engine (own socket and data-root,
# stopped on exit even on failure), a base image from debootstrap, the Postgres server
# binaries the tests start throwaway clusters from with Apache AGE installed into them, a
# venv with the package and its test tools; then ruff, mypy --strict, shfmt, shellcheck and
# pytest with every tier. Re-runs reuse the caches (venv, compose, base image, AGE's build,
# the platform's wheels and web bundle, the engine's images).
#
# The platform's own api and web images of every release the manifest lists are built from
# its release archives (KGOP_UPSTREAM_DIR, default ../shared/upstream beside the checkout) with
# scripts/platform-images.sh: PyPI, the npm registry and Node.js >= 20.19.
#
#   scripts/test.sh                  everything: what CI runs (root)
#   scripts/test.sh --fast           static checks, unit and TUI tests; no engines, no root
#   scripts/test.sh [--fast] -- ARG  extra pytest arguments, e.g. -- -k status -x
#
# AGE's source: KGOP_AGE_SOURCE (a file or an https URL) with its KGOP_AGE_SHA256; by
# default the 1.6.0 tarball for PG 15 in ../shared/upstream/age beside the checkout.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly CACHE="${KGOP_TEST_CACHE:-/var/cache/kgop-test}"
readonly STATE="${KGOP_TEST_STATE:-/var/lib/kgop-test}"
readonly RUN_DIR="${KGOP_TEST_RUN:-/run/kgop-test}"
readonly ENGINE_SOCK="${RUN_DIR}/docker.sock"
readonly BASE_IMAGE="${KGOP_BASE_IMAGE:-kgop-base:bookworm}"

#######################################
# The Debian mirror this machine's apt uses: the first http(s) URI ending in /debian of its
# sources (deb822 .sources files, else sources.list); KGOP_DEBIAN_MIRROR overrides.
# Outputs:
#   the URI, or nothing when apt names none
#######################################
apt_mirror() {
  if [[ -n "${KGOP_DEBIAN_MIRROR:-}" ]]; then
    printf '%s\n' "${KGOP_DEBIAN_MIRROR}"
    return 0
  fi
  local -a files=()
  local file
  for file in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    [[ -r "${file}" ]] && files+=("${file}")
  done
  ((${#files[@]})) || return 0
  awk '/^(URIs:|deb )/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { sub(/\/$/, "", $i); print $i; exit } }' "${files[@]}"
}
DEBIAN_MIRROR="$(apt_mirror)"
readonly DEBIAN_MIRROR
readonly PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
readonly AGE_SOURCE="${KGOP_AGE_SOURCE:-${ROOT}/../shared/upstream/age/age-PG15-1.6.0.tar.gz}"
readonly AGE_SHA256="${KGOP_AGE_SHA256:-68a2b7e396697ac271e0c9af7ae1a0ff65fe8afb61b772cc3412a6e912cad304}"
# The Postgres major of images/postgres and of the host clusters AGE is installed into.
readonly PG_MAJOR=15
# Where images/postgres/Dockerfile reads AGE's source (its build context's build/).
readonly AGE_TARBALL="${ROOT}/images/postgres/build/age.tar.gz"

# Globals set by the steps: the engine we started (start_engine, stop_engine), the venv
# (ensure_venv), --fast (main).
ENGINE_PID=""
VENV=""
FAST=0

log() { printf '[test %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  printf 'test.sh: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '3,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ---- provisioning ---------------------------------------------------------------------

#######################################
# The folder of the Postgres server binaries (initdb, pg_ctl).
# Outputs:
#   the folder; status 1 when there is none
#######################################
pg_bindir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "${dir}/initdb" ]] && {
      printf '%s\n' "${dir}"
      return 0
    }
  done
  return 1
}

#######################################
# Install the Debian packages the suite needs, when missing.
# Outputs:
#   progress on stderr
#######################################
ensure_packages() {
  local -a missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v shfmt >/dev/null || missing+=(shfmt)
  command -v tmux >/dev/null || missing+=(tmux)
  command -v pebble >/dev/null || missing+=(pebble)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v psql >/dev/null || missing+=(postgresql-client)
  command -v curl >/dev/null || missing+=(curl ca-certificates)
  command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
  command -v tesseract >/dev/null || missing+=(tesseract-ocr tesseract-ocr-eng)
  pg_bindir >/dev/null || missing+=("postgresql-${PG_MAJOR}")
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  if ((${#missing[@]} == 0)); then
    log "Debian packages: present"
    return 0
  fi
  log "Debian packages: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

#######################################
# Compose v2: Debian trixie's docker-compose binary, unpacked and cached.
# Globals:
#   CACHE, DEBIAN_MIRROR, PLUGIN_DIR (read)
# Outputs:
#   progress on stderr
#######################################
ensure_compose() {
  if docker compose version >/dev/null 2>&1; then
    log "compose: $(docker compose version --short)"
    return 0
  fi
  local cached="${CACHE}/docker-compose"
  if [[ ! -x "${cached}" ]]; then
    log "compose: fetching Debian trixie's docker-compose (compose v2)"
    local work
    work="$(mktemp -d)"
    mkdir -p "${work}/lists/partial" "${work}/cache/archives/partial"
    printf '%s\n' "Types: deb" "URIs: ${DEBIAN_MIRROR}" "Suites: trixie" "Components: main" \
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" >"${work}/trixie.sources"
    local -a apt_opts=(
      -o "Dir::Etc::sourcelist=${work}/trixie.sources" -o "Dir::Etc::sourceparts=/nonexistent"
      -o "Dir::State::Lists=${work}/lists" -o "Dir::Cache=${work}/cache"
      -o "APT::Sandbox::User=root"
    )
    apt-get "${apt_opts[@]}" update -qq
    (cd "${work}" && apt-get "${apt_opts[@]}" download docker-compose >/dev/null)
    dpkg -x "${work}"/docker-compose_*.deb "${work}/root"
    mkdir -p "${CACHE}"
    install -m 0755 "${work}/root/usr/libexec/docker/cli-plugins/docker-compose" "${cached}"
    rm -rf "${work}"
  fi
  mkdir -p "${PLUGIN_DIR}"
  install -m 0755 "${cached}" "${PLUGIN_DIR}/docker-compose"
  docker compose version >/dev/null || die "compose v2 did not install"
  log "compose: $(docker compose version --short) (installed)"
}

#######################################
# Stop the engine this run started (the EXIT trap).
# Globals:
#   ENGINE_PID (read, cleared)
#######################################
stop_engine() {
  [[ -n "${ENGINE_PID}" ]] || return 0
  log "engine: stopping"
  kill "${ENGINE_PID}" 2>/dev/null || true
  local i
  for ((i = 0; i < 150; i++)); do
    kill -0 "${ENGINE_PID}" 2>/dev/null || break
    sleep 0.2
  done
  kill -9 "${ENGINE_PID}" 2>/dev/null || true
  ENGINE_PID=""
}

#######################################
# A private dockerd on its own socket and data-root, emptied of leftovers.
# Globals:
#   ENGINE_PID (written); DOCKER_HOST (exported)
# Outputs:
#   progress on stderr
#######################################
start_engine() {
  mkdir -p "${RUN_DIR}" "${STATE}/docker"
  local stale
  if [[ -f "${RUN_DIR}/dockerd.pid" ]]; then
    stale="$(cat "${RUN_DIR}/dockerd.pid")"
    if kill -0 "${stale}" 2>/dev/null; then
      log "engine: stopping a leftover engine (pid ${stale})"
      kill "${stale}" || true
      while kill -0 "${stale}" 2>/dev/null; do sleep 0.2; done
    fi
    rm -f "${RUN_DIR}/dockerd.pid"
  fi
  dockerd --host "unix://${ENGINE_SOCK}" --data-root "${STATE}/docker" \
    --exec-root "${RUN_DIR}/exec" --pidfile "${RUN_DIR}/dockerd.pid" \
    --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
    ${KGOP_TEST_ADDRESS_POOL:+--default-address-pool "${KGOP_TEST_ADDRESS_POOL}"} \
    >"${STATE}/dockerd.log" 2>&1 &
  ENGINE_PID=$!
  trap stop_engine EXIT
  trap 'exit 130' INT TERM
  export DOCKER_HOST="unix://${ENGINE_SOCK}"
  local i
  for ((i = 0; i < 300; i++)); do
    docker info >/dev/null 2>&1 && break
    kill -0 "${ENGINE_PID}" 2>/dev/null || {
      tail -20 "${STATE}/dockerd.log" >&2
      die "dockerd exited"
    }
    sleep 0.2
  done
  docker info >/dev/null 2>&1 || die "the Docker engine did not answer within 60 s (see ${STATE}/dockerd.log)"
  log "engine: $(docker version --format '{{.Server.Version}}') on ${ENGINE_SOCK}"
  # The engine is the suite's own: whatever an interrupted run left (stacks with restart
  # policies come back with the engine) goes, so every run starts from a clean engine.
  local -a leftovers
  mapfile -t leftovers < <(docker ps -aq)
  ((${#leftovers[@]} == 0)) || docker rm -f "${leftovers[@]}" >/dev/null
  docker network prune -f >/dev/null
  docker volume prune -f >/dev/null
}

#######################################
# The base image from debootstrap --variant=minbase, cached as a tarball.
# Globals:
#   BASE_IMAGE, CACHE, STATE (read)
# Outputs:
#   progress on stderr
#######################################
ensure_base_image() {
  if docker image inspect "${BASE_IMAGE}" >/dev/null 2>&1; then
    log "base image: ${BASE_IMAGE} present"
    return 0
  fi
  local tarball="${CACHE}/bookworm-minbase.tar"
  if [[ ! -s "${tarball}" ]]; then
    log "base image: debootstrap --variant=minbase bookworm (about a minute)"
    local rootfs
    rootfs="$(mktemp -d)"
    debootstrap --variant=minbase bookworm "${rootfs}" "${DEBIAN_MIRROR}" >"${STATE}/debootstrap.log" 2>&1 ||
      {
        tail -20 "${STATE}/debootstrap.log" >&2
        die "debootstrap failed"
      }
    mkdir -p "${CACHE}"
    tar -C "${rootfs}" -cf "${tarball}.part" .
    mv "${tarball}.part" "${tarball}"
    rm -rf "${rootfs}"
  fi
  docker import "${tarball}" "${BASE_IMAGE}" >/dev/null
  log "base image: ${BASE_IMAGE} imported"
}

#######################################
# AGE's source tarball into images/postgres' build context, its SHA-256 checked.
# Globals:
#   AGE_SOURCE, AGE_SHA256, AGE_TARBALL (read)
# Outputs:
#   progress on stderr
#######################################
stage_age_source() {
  mkdir -p "$(dirname "${AGE_TARBALL}")"
  if [[ -f "${AGE_TARBALL}" ]] && sha256sum <"${AGE_TARBALL}" | grep -q "^${AGE_SHA256} "; then
    log "AGE source: present (${AGE_SHA256:0:12})"
    return 0
  fi
  case "${AGE_SOURCE}" in
    https://*)
      log "AGE source: downloading ${AGE_SOURCE}"
      curl -fsSL --retry 3 -o "${AGE_TARBALL}.part" "${AGE_SOURCE}" || {
        rm -f "${AGE_TARBALL}.part"
        die "downloading AGE's source from ${AGE_SOURCE} failed"
      }
      ;;
    *://*) die "KGOP_AGE_SOURCE: a file or an https URL, not ${AGE_SOURCE}" ;;
    *)
      [[ -f "${AGE_SOURCE}" ]] ||
        die "AGE's source ${AGE_SOURCE} is missing (set KGOP_AGE_SOURCE and KGOP_AGE_SHA256)"
      log "AGE source: ${AGE_SOURCE}"
      cp "${AGE_SOURCE}" "${AGE_TARBALL}.part"
      ;;
  esac
  local sum
  sum="$(sha256sum <"${AGE_TARBALL}.part" | cut -d ' ' -f 1)"
  if [[ "${sum}" != "${AGE_SHA256}" ]]; then
    rm -f "${AGE_TARBALL}.part"
    die "AGE's source ${AGE_SOURCE} has SHA-256 ${sum}, not ${AGE_SHA256} (KGOP_AGE_SHA256)"
  fi
  mv "${AGE_TARBALL}.part" "${AGE_TARBALL}"
}

#######################################
# Apache AGE in the host's Postgres, for the clusters the tests start: built once, by
# images/postgres' build stage (whose layers the image build then reuses), its files kept
# in the cache and installed into the server's library and extension folders.
# Globals:
#   AGE_SHA256, BASE_IMAGE, CACHE, PG_MAJOR, ROOT (read)
# Outputs:
#   progress on stderr
#######################################
ensure_host_age() {
  local pg_config major
  pg_config="$(pg_bindir)/pg_config"
  [[ -x "${pg_config}" ]] || die "${pg_config} is missing (Debian's postgresql-client-${PG_MAJOR})"
  major="$("${pg_config}" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
  [[ "${major}" == "${PG_MAJOR}" ]] ||
    die "the host's Postgres is ${major}; AGE is built for ${PG_MAJOR} (install postgresql-${PG_MAJOR})"
  local built="${CACHE}/age-${AGE_SHA256:0:12}"
  if [[ ! -s "${built}/lib/age.so" ]]; then
    log "AGE: building (images/postgres, stage age-build; a minute or two)"
    local tag="kgop-age-build:${AGE_SHA256:0:12}" container
    docker build --network host --build-arg "BASE_IMAGE=${BASE_IMAGE}" \
      --build-arg "PG_MAJOR=${PG_MAJOR}" --build-arg "AGE_SHA256=${AGE_SHA256}" \
      --target age-build -t "${tag}" -q "${ROOT}/images/postgres" >/dev/null
    container="$(docker create "${tag}" true)"
    rm -rf "${built}.part"
    mkdir -p "${built}.part"
    docker cp "${container}:/age-install/." "${built}.part"
    docker rm "${container}" >/dev/null
    rm -rf "${built}"
    mv "${built}.part" "${built}"
  fi
  local lib ext file same=1
  lib="$("${pg_config}" --pkglibdir)"
  ext="$("${pg_config}" --sharedir)/extension"
  cmp -s "${built}/lib/age.so" "${lib}/age.so" || same=0
  for file in "${built}"/extension/*; do
    cmp -s "${file}" "${ext}/${file##*/}" || same=0
  done
  if ((same)); then
    log "AGE: present in ${lib}"
    return 0
  fi
  # install replaces each file (a new inode): a running server keeps the library it mapped.
  install -m 0755 "${built}/lib/age.so" "${lib}/age.so"
  for file in "${built}"/extension/*; do
    install -m 0644 "${file}" "${ext}/${file##*/}"
  done
  log "AGE: $(sed -nE "s/^default_version = '(.*)'/\1/p" "${built}/extension/age.control") installed into ${lib}"
}

#######################################
# Where the venv lives: keyed by pyproject.toml in the cache, else in the checkout.
# Globals:
#   CACHE, ROOT (read)
# Outputs:
#   the folder
#######################################
venv_dir() {
  local key
  key="$(cat "${ROOT}/pyproject.toml" "${ROOT}"/requirements/*.lock | sha256sum | cut -c1-12)"
  if mkdir -p "${CACHE}" 2>/dev/null && [[ -w "${CACHE}" ]]; then
    printf '%s\n' "${CACHE}/venv-${key}"
  else
    printf '%s\n' "${ROOT}/.venv"
  fi
}

#######################################
# The venv with kgop and its test tools; the checkout installed editable.
# Globals:
#   VENV (written)
# Outputs:
#   progress on stderr
#######################################
ensure_venv() {
  local venv
  venv="$(venv_dir)"
  if [[ ! -x "${venv}/bin/pytest" ]]; then
    log "venv: creating ${venv}"
    local pip_log
    pip_log="$(mktemp)"
    rm -rf "${venv}"
    python3 -m venv "${venv}"
    # Exactly the locked versions, each file checked against its hash.
    if ! "${venv}/bin/pip" install --disable-pip-version-check --require-hashes \
      -r "${ROOT}/requirements/build.lock" -r "${ROOT}/requirements/dev.lock" \
      >"${pip_log}" 2>&1; then
      tail -30 "${pip_log}" >&2
      rm -rf "${venv}"
      die "installing the Python dependencies failed (log: ${pip_log})"
    fi
    rm -f "${pip_log}"
  fi
  # The checkout may have moved since the venv was made (CI clones anew): point at it.
  "${venv}/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation \
    -e "${ROOT}" >/dev/null 2>&1
  VENV="${venv}"
  log "venv: ${venv}"
}

#######################################
# The compose v2 plugin binary on this host.
# Outputs:
#   its path; status 1 when there is none
#######################################
compose_binary() {
  local dir
  for dir in "${PLUGIN_DIR}" /usr/libexec/docker/cli-plugins /usr/lib/docker/cli-plugins \
    /usr/local/libexec/docker/cli-plugins "${HOME}/.docker/cli-plugins"; do
    [[ -x "${dir}/docker-compose" ]] && {
      printf '%s\n' "${dir}/docker-compose"
      return 0
    }
  done
  return 1
}

#######################################
# The images the end-to-end tests run, built offline: a wheelhouse and compose binary in
# build/, Debian packages from the mirror (docker build --network host).
# Globals:
#   VENV, ROOT, BASE_IMAGE (read); KGOP_TEST_VERSION (kgop's), KGOP_TEST_PLATFORM and
#   KGOP_TEST_PREVIOUS (the platform's newest release and the one before it) (exported)
# Outputs:
#   progress on stderr
#######################################
build_images() {
  local version
  version="$(cat "${ROOT}/VERSION")"
  log "images: wheelhouse (from the locks)"
  mkdir -p "${ROOT}/build"
  rm -f "${ROOT}"/build/wheels/kgop-*.whl
  "${VENV}/bin/pip" download -q --disable-pip-version-check --require-hashes \
    --dest "${ROOT}/build/wheels" -r "${ROOT}/requirements/build.lock" \
    -r "${ROOT}/requirements/runtime.lock" >"${STATE}/wheels.log" 2>&1 ||
    {
      tail -20 "${STATE}/wheels.log" >&2
      die "downloading the locked wheels failed"
    }
  install -m 0755 "$(compose_binary)" "${ROOT}/build/docker-compose"
  local -a common=(--network host --build-arg "BASE_IMAGE=${BASE_IMAGE}" -q)
  local arch sum
  arch="$(dpkg --print-architecture)"
  sum="$(sha256sum <"${ROOT}/build/docker-compose" | cut -d ' ' -f 1)"
  log "images: kg-operator:${version} (kgop's own version)"
  docker build "${common[@]}" -t "kg-operator:${version}" --build-arg "KG_VERSION=${version}" \
    --build-arg WHEELHOUSE=build/wheels --build-arg COMPOSE_BINARY=build/docker-compose \
    --build-arg "COMPOSE_SHA256_${arch^^}=${sum}" "${ROOT}" >/dev/null
  # The platform's releases (the manifest's, oldest first: version, last migration).
  local -a platform=()
  mapfile -t platform < <("${VENV}/bin/python" -c '
from kgop_tui.releases import load_manifest
for r in load_manifest().releases:
    print(r.version, r.migrations[1])
')
  local newest="${platform[-1]% *}" previous="${platform[-2]% *}" entry release schema role
  log "images: kg-postgres, kg-garage-standin, kg-nginx, the reference api and web"
  for role in api web; do
    # The reference stand-in, also at kgop's version (tests/integration/test_reference_image.py).
    docker build "${common[@]}" -t "kg-${role}:reference" -t "kg-${role}:${version}" \
      --build-arg "KG_ROLE=${role}" --build-arg "KG_VERSION=${version}" \
      "${ROOT}/images/reference" >/dev/null
  done
  docker build "${common[@]}" -t "kg-postgres:${PG_MAJOR}" --build-arg "PG_MAJOR=${PG_MAJOR}" \
    --build-arg "AGE_SHA256=${AGE_SHA256}" "${ROOT}/images/postgres" >/dev/null
  docker build "${common[@]}" -t kg-garage-standin:test "${ROOT}/images/garage-standin" >/dev/null
  docker build "${common[@]}" -t kg-nginx:test "${ROOT}/images/nginx" >/dev/null
  local archive
  for entry in "${platform[@]}"; do
    release="${entry% *}" schema="${entry#* }"
    # The platform's own api and web, built from its source: kg-api:RELEASE and kg-web:RELEASE
    # (also platform/kg-ROLE:RELEASE), what every install, upgrade and restore test runs.
    archive="$(platform_archive "${release}")"
    log "images: the platform's own api and web ${release} (scripts/platform-images.sh)"
    env BASE_IMAGE="${BASE_IMAGE}" KGOP_PLATFORM_CACHE="${CACHE}/platform" \
      PYTHON="${VENV}/bin/python" "${ROOT}/scripts/platform-images.sh" --tag-prefix platform \
      "${archive}" "${release}" >"${STATE}/platform-images.log" 2>&1 || {
      tail -20 "${STATE}/platform-images.log" >&2
      die "building the platform's api and web images failed (log: ${STATE}/platform-images.log)"
    }
    for role in api web; do
      docker tag "platform/kg-${role}:${release}" "kg-${role}:${release}"
    done
    # The reference stand-in as this release (reference/kg-api:RELEASE), for the tests that
    # need an api the platform's never is (never healthy, slow to start): relabelled, healthy
    # once the database records the release's last migration, the release's schema at
    # /app/schema as the platform's api image carries it.
    platform_schema "${release}"
    docker build -q -t "reference/kg-api:${release}" --build-arg IMAGE=kg-api:reference \
      --build-arg "RELEASE=${release}" --build-arg "SCHEMA=${schema}" \
      -f "${ROOT}/tests/images/reference-api/Dockerfile" "${STATE}/platform/${release}/schema" >/dev/null
  done
  export KGOP_TEST_PLATFORM_PREVIOUS="${previous}"
  export KGOP_TEST_VERSION="${version}" KGOP_TEST_PLATFORM="${newest}" KGOP_TEST_PREVIOUS="${previous}"
}

#######################################
# The schema/ folder of a platform release, from its source archive (KGOP_UPSTREAM_DIR, else
# shared/upstream beside the checkout or beside its main checkout), into STATE/platform.
# Globals:
#   ROOT, STATE (read)
# Arguments:
#   the platform version
#######################################
platform_schema() {
  local release="$1" dir archive
  dir="${STATE}/platform/${release}"
  [[ -f "${dir}/schema/00_baseline.sql" ]] && return 0
  archive="$(platform_archive "${release}")"
  rm -rf "${dir}"
  mkdir -p "${dir}"
  tar -xzf "${archive}" -C "${dir}" --strip-components=1 --wildcards '*/schema' '*/VERSION' ||
    die "cannot unpack ${archive}"
}

#######################################
# The source archive of a platform release: in KGOP_UPSTREAM_DIR, else shared/upstream beside
# the checkout or beside its main checkout.
# Globals:
#   ROOT (read)
# Arguments:
#   the platform version
# Outputs:
#   the archive's path on stdout
#######################################
platform_archive() {
  local release="$1" candidate archive="" main=""
  # A git worktree's .git is a file: "gitdir: MAIN/.git/worktrees/NAME".
  [[ ! -f "${ROOT}/.git" ]] || main="$(sed -n 's|^gitdir: \(.*\)/\.git/worktrees/.*|\1|p' "${ROOT}/.git")"
  for candidate in "${KGOP_UPSTREAM_DIR:-}" "${ROOT}/../shared/upstream" \
    "${main:+${main}/../shared/upstream}"; do
    archive="${candidate}/knowledge-graph-system/knowledge-graph-system-${release}.tar.gz"
    [[ -n "${candidate}" && -f "${archive}" ]] && break
  done
  [[ -f "${archive}" ]] || die "no archive of the platform at ${release} (set KGOP_UPSTREAM_DIR)"
  printf '%s\n' "${archive}"
}

# ---- checks and tests -------------------------------------------------------------------

#######################################
# ruff, mypy --strict, shfmt and shellcheck.
# Globals:
#   VENV, ROOT, FAST (read)
# Outputs:
#   their findings
#######################################
static_checks() {
  log "ruff"
  "${VENV}/bin/ruff" format --check "${ROOT}"
  "${VENV}/bin/ruff" check "${ROOT}"
  log "mypy --strict kgop_tui"
  (cd "${ROOT}" && "${VENV}/bin/mypy" --strict kgop_tui)
  log "shellcheck, shfmt"
  local -a scripts
  mapfile -t scripts < <(cd "${ROOT}" && git ls-files -co --exclude-standard -- '*.sh' .ci/run)
  if command -v shfmt >/dev/null; then
    (cd "${ROOT}" && shfmt -i 2 -ci -d "${scripts[@]}")
  elif [[ "${FAST}" == 0 ]]; then
    die "shfmt is missing"
  fi
  if command -v shellcheck >/dev/null; then
    (cd "${ROOT}" && shellcheck -x "${scripts[@]}")
  elif [[ "${FAST}" == 1 ]]; then
    log "shellcheck not installed: skipped in --fast mode"
  else
    die "shellcheck is missing"
  fi
}

#######################################
# pytest on the xdist workers; with --fast only the unit and TUI tiers.
# Globals:
#   VENV, ROOT, FAST (read)
# Arguments:
#   extra pytest arguments
# Outputs:
#   pytest's report
#######################################
run_pytest() {
  local -a markers=()
  [[ "${FAST}" == 1 ]] && markers=(-m "unit or tui")
  log "pytest ${markers[*]} $*"
  cd "${ROOT}"
  "${VENV}/bin/pytest" -ra --durations=15 -n "${KGOP_TEST_WORKERS:-2}" --dist loadfile "${markers[@]}" "$@"
}

#######################################
# Provision (unless --fast), check, build, test.
# Globals:
#   FAST (written)
# Arguments:
#   the command line
# Outputs:
#   progress and reports
#######################################
main() {
  local -a extra=()
  while (($#)); do
    case "$1" in
      --fast) FAST=1 ;;
      -h | --help)
        usage
        return 0
        ;;
      --)
        shift
        extra=("$@")
        break
        ;;
      *) die "unknown option $1 (see --help)" ;;
    esac
    shift
  done
  local started=${SECONDS}
  if [[ "${FAST}" == 0 ]]; then
    [[ ${EUID} -eq 0 ]] || die "the full run provisions a Docker engine: run it as root (or use --fast)"
    [[ -n "${DEBIAN_MIRROR}" ]] ||
      die "apt's sources name no Debian mirror: set KGOP_DEBIAN_MIRROR=http://.../debian"
    ensure_packages
    ensure_compose
    start_engine
    ensure_base_image
    stage_age_source
    ensure_host_age
    export KGOP_REQUIRE_ENGINES=1
    KGOP_PG_BINDIR="$(pg_bindir)"
    export KGOP_PG_BINDIR
  fi
  ensure_venv
  static_checks
  [[ "${FAST}" == 1 ]] || build_images
  local rc=0
  run_pytest "${extra[@]}" || rc=$?
  log "finished in $((SECONDS - started)) s (pytest exit ${rc})"
  return "${rc}"
}

main "$@"
