#!/usr/bin/env bash
# platform-images.sh — build the Knowledge Graph platform's own api and web images from a
# release's source, offline except for PyPI and the npm registry:
#
#   scripts/platform-images.sh [--api] [--web] [--tag-prefix P] [--no-cache] SOURCE VERSION
#
#   SOURCE   the release's source: a `git archive` tarball (.tar.gz, one top folder) or a
#            checkout of the platform at its tag (aaronsb/knowledge-graph-system)
#   VERSION  the platform version it is (the images' tag and label)
#   --api       build kg-api:VERSION (P/kg-api:VERSION with --tag-prefix P) (images/platform-api:
#               the api with the hash-locked dependencies of requirements/platform-api.lock,
#               its schema at /app/schema)
#   --web       build kg-web:VERSION (images/platform-web: web/ built with `npm ci && npm run
#               build`, served by Debian's nginx on 80 with the platform's nginx.conf and its
#               entrypoint, which writes config.js from VITE_* at start)
#   neither     both
#   --no-cache  build every image layer anew (docker build --no-cache)
#
# Environment: BASE_IMAGE (default debian:bookworm-slim), KGOP_PLATFORM_CACHE (the wheelhouse,
# the web's node_modules per package-lock.json, the built web bundles; default
# ~/.cache/kgop-platform), PYTHON (for pip download, default python3), DOCKER_HOST. The web
# bundle is built with the machine's Node.js (>= 20.19, what the platform's Vite 7 needs;
# Debian bookworm's is 18). Exit codes: 0 built, 2 bad usage, 1 a build failed.

set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
CACHE="${KGOP_PLATFORM_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/kgop-platform}"
PYTHON="${PYTHON:-python3}"
PREFIX=""
WANT_API=0
WANT_WEB=0
NO_CACHE=()

die() {
  printf 'platform-images: %s\n' "$1" >&2
  [[ -z "${2:-}" ]] || printf '  hint: %s\n' "$2" >&2
  exit "${3:-1}"
}

log() { printf 'platform-images: %s\n' "$*" >&2; }

usage() {
  sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

#######################################
# The release's tree in a cache folder (a tarball is extracted once, by its SHA-256).
# Arguments: SOURCE. Outputs: the tree's path on stdout.
#######################################
source_tree() {
  local source="$1"
  if [[ -d "${source}" ]]; then
    [[ -d "${source}/api" && -d "${source}/schema" ]] ||
      die "${source} is not the platform's source tree (no api/ and schema/)" "" 2
    printf '%s\n' "$(cd "${source}" && pwd)"
    return
  fi
  [[ -f "${source}" ]] || die "${source}: no such file or folder" "" 2
  local sum tree
  sum="$(sha256sum <"${source}" | cut -c1-12)"
  tree="${CACHE}/src-${sum}"
  if [[ ! -d "${tree}/api" ]]; then
    rm -rf "${tree}.part"
    mkdir -p "${tree}.part"
    tar -xzf "${source}" -C "${tree}.part" --strip-components=1 ||
      die "${source} is not a readable .tar.gz" "" 2
    [[ -d "${tree}.part/api" && -d "${tree}.part/schema" ]] ||
      die "${source} does not hold the platform's source (no api/ and schema/)" "" 2
    rm -rf "${tree}"
    mv "${tree}.part" "${tree}"
  fi
  printf '%s\n' "${tree}"
}

#######################################
# Every wheel of requirements/platform-api.lock, checked against its hash, in the cache.
# Outputs: the wheelhouse's path on stdout.
#######################################
wheelhouse() {
  local lock="${ROOT}/requirements/platform-api.lock" key dir
  key="$(sha256sum <"${lock}" | cut -c1-12)"
  dir="${CACHE}/wheels-${key}"
  if [[ ! -f "${dir}/.complete" ]]; then
    log "downloading the api's locked wheels"
    rm -rf "${dir}"
    mkdir -p "${dir}"
    "${PYTHON}" -m pip download -q --disable-pip-version-check --require-hashes \
      --only-binary=:all: --dest "${dir}" -r "${lock}" >"${dir}.log" 2>&1 || {
      tail -5 "${dir}.log" >&2
      die "downloading the api's wheels failed (log: ${dir}.log)" "is PyPI reachable?"
    }
    touch "${dir}/.complete"
  fi
  printf '%s\n' "${dir}"
}

build_api() {
  local tree="$1" version="$2" context wheels
  wheels="$(wheelhouse)"
  context="$(mktemp -d)"
  # shellcheck disable=SC2064  # the path is fixed now
  trap "rm -rf '${context}'" RETURN
  mkdir -p "${context}/platform"
  cp -R "${tree}/api" "${tree}/schema" "${context}/platform/"
  cp -R "${wheels}" "${context}/wheels"
  cp "${ROOT}/requirements/platform-api.lock" "${ROOT}/images/platform-api/Dockerfile" "${context}/"
  log "building ${PREFIX:+${PREFIX}/}kg-api:${version}"
  docker build -q "${NO_CACHE[@]}" --network host --build-arg "BASE_IMAGE=${BASE_IMAGE}" \
    --build-arg "KG_VERSION=${version}" -t "${PREFIX:+${PREFIX}/}kg-api:${version}" "${context}" >/dev/null ||
    die "building ${PREFIX:+${PREFIX}/}kg-api:${version} failed"
}

#######################################
# The web's dependencies (`npm ci`) once per package-lock.json, Node.js version and machine,
# in the cache: the releases share one lock, so each further release's bundle is only
# `npm run build`. Arguments: the release's web/ folder. Outputs: the node_modules' path.
#######################################
node_modules() {
  local web="$1" key dir
  key="$({ sha256sum <"${web}/package-lock.json" && node --version && uname -m; } |
    sha256sum | cut -c1-12)"
  dir="${CACHE}/node_modules-${key}"
  if [[ ! -f "${dir}/.complete" ]]; then
    local work
    work="$(mktemp -d)"
    cp "${web}/package.json" "${web}/package-lock.json" "${work}/"
    log "installing the web's dependencies (npm ci)"
    (cd "${work}" && npm ci --no-audit --no-fund --loglevel=error >"${work}/npm.log" 2>&1) || {
      tail -20 "${work}/npm.log" >&2
      die "npm ci failed for the platform's web" "is the npm registry reachable?"
    }
    touch "${work}/node_modules/.complete"
    rm -rf "${dir}"
    mv "${work}/node_modules" "${dir}"
    rm -rf "${work}"
  fi
  printf '%s\n' "${dir}"
}

#######################################
# web/ built once per source tree with the machine's Node.js, into the cache.
# Outputs: the bundle's path (dist/) on stdout.
#######################################
web_bundle() {
  local tree="$1" key dist
  key="$(cd "${tree}/web" && find . -path ./node_modules -prune -o -type f -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
  dist="${CACHE}/web-${key}"
  if [[ ! -f "${dist}/index.html" ]]; then
    command -v npm >/dev/null || die "npm is missing" "install Node.js >= 20.19 with npm"
    local node
    node="$(node --version)"
    [[ "${node}" =~ ^v(2[1-9]|[3-9][0-9])\. || "${node}" =~ ^v20\.(19|[2-9][0-9])\. ]] ||
      die "Node.js ${node} is too old for the platform's web (Vite 7 needs >= 20.19)" \
        "install a newer Node.js"
    local work modules
    modules="$(node_modules "${tree}/web")"
    work="$(mktemp -d)"
    cp -R "${tree}/web/." "${work}/"
    # A copy, not a link: the build writes into node_modules (tsc -b's build info).
    rm -rf "${work}/node_modules"
    cp -a --reflink=auto "${modules}" "${work}/node_modules"
    log "building the web bundle (npm run build)"
    (cd "${work}" && npm run build >"${work}/npm.log" 2>&1) || {
      tail -20 "${work}/npm.log" >&2
      die "building the web bundle failed"
    }
    rm -rf "${dist}"
    mkdir -p "${CACHE}"
    mv "${work}/dist" "${dist}"
    rm -rf "${work}"
  fi
  printf '%s\n' "${dist}"
}

build_web() {
  local tree="$1" version="$2" context dist
  dist="$(web_bundle "${tree}")"
  context="$(mktemp -d)"
  # shellcheck disable=SC2064  # the path is fixed now
  trap "rm -rf '${context}'" RETURN
  mkdir -p "${context}/platform"
  cp -R "${dist}" "${context}/dist"
  cp "${tree}/web/nginx.conf" "${tree}/web/nginx.main.conf" "${tree}/web/docker-entrypoint.sh" \
    "${context}/platform/"
  cp "${ROOT}/images/platform-web/Dockerfile" "${context}/"
  log "building ${PREFIX:+${PREFIX}/}kg-web:${version}"
  docker build -q "${NO_CACHE[@]}" --network host --build-arg "BASE_IMAGE=${BASE_IMAGE}" \
    --build-arg "KG_VERSION=${version}" -t "${PREFIX:+${PREFIX}/}kg-web:${version}" "${context}" >/dev/null ||
    die "building ${PREFIX:+${PREFIX}/}kg-web:${version} failed"
}

main() {
  local -a args=()
  while (($#)); do
    case "$1" in
      --api) WANT_API=1 ;;
      --no-cache) NO_CACHE=(--no-cache) ;;
      --web) WANT_WEB=1 ;;
      --tag-prefix)
        [[ -n "${2:-}" ]] || die "--tag-prefix needs a value" "" 2
        PREFIX="$2"
        shift
        ;;
      -h | --help)
        usage
        return 0
        ;;
      -*) die "unknown option $1" "see --help" 2 ;;
      *) args+=("$1") ;;
    esac
    shift
  done
  ((${#args[@]} == 2)) || die "expected SOURCE and VERSION" "see --help" 2
  [[ "${args[1]}" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-.][0-9A-Za-z.-]+)?$ ]] ||
    die "${args[1]} is not a version like 0.17.1" "" 2
  if ((!WANT_API && !WANT_WEB)); then WANT_API=1 WANT_WEB=1; fi
  mkdir -p "${CACHE}"
  local tree
  tree="$(source_tree "${args[0]}")"
  ((!WANT_API)) || build_api "${tree}" "${args[1]}"
  ((!WANT_WEB)) || build_web "${tree}" "${args[1]}"
}

main "$@"
