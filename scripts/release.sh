#!/usr/bin/env bash
# release.sh — build (and push) the platform's images of one version: kg-api, kg-web and
# kg-operator, all tagged VERSION, with OCI labels (version, revision, created, source).
#
#   scripts/release.sh VERSION [--registry R] [--push] [--platform LIST] [--build-arg K=V]...
#                      [--base-image [ROLE=]NAME@sha256:DIGEST]... [--network MODE]
#
# Refuses (exit 2) before any build unless VERSION, kgop_tui/releases.toml and
# docs/RELEASES.md agree, and, with --push, unless the base image (--base-image or
# KG_BASE_IMAGE; ROLE= for one of api, web, operator) is pinned by digest. Multi-arch
# (--platform linux/amd64,linux/arm64) needs docker buildx and --push. Each pushed image's
# digest goes into the release's entry in kgop_tui/releases.toml (api and web before the
# operator is built, so its image ships them) and on stdout: REF, SIZE, DIGEST.
# Exit codes: 0 ok, 1 a build or push failed, 2 bad input, 3 Docker unreachable.

set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly DEFAULT_REGISTRY="ghcr.io/knowledge-graph"
readonly SOURCE_URL="https://github.com/knowledge-graph/kgop"

VERSION=""               # the release (argument)
REGISTRY=""              # image prefix (--registry, else KG_REGISTRY, else the default)
PUSH=0                   # 1 with --push
PLATFORMS=""             # --platform LIST
declare -a BUILD_ARGS=() # --build-arg K=V and --network, passed to every build
declare -A BASES=()      # role (or "all") → base image (--base-image, KG_BASE_IMAGE)
declare -A DIGESTS=()    # role → the registry's digest of the pushed image
readonly MANIFEST="${ROOT}/kgop_tui/releases.toml"
readonly DIGEST_RE='@sha256:[0-9a-f]{64}$'

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
  local code="$1"
  shift
  printf 'release.sh: %s\n' "$*" >&2
  exit "${code}"
}

log() { printf '[release] %s\n' "$*" >&2; }

#######################################
# Read the command line (exit 2 on anything unknown).
# Globals:
#   VERSION, REGISTRY, PUSH, PLATFORMS, BUILD_ARGS (written)
#######################################
parse_args() {
  while (($#)); do
    case "$1" in
      -h | --help)
        usage
        exit 0
        ;;
      --push) PUSH=1 ;;
      --registry | --platform | --build-arg | --network | --base-image)
        [[ $# -ge 2 && -n "$2" ]] || die 2 "$1 needs a value"
        case "$1" in
          --registry) REGISTRY="$2" ;;
          --platform) PLATFORMS="$2" ;;
          --build-arg)
            # BASE_IMAGE is the base of every image: checked like --base-image.
            if [[ "$2" == BASE_IMAGE=* ]]; then
              BASES[all]="${2#BASE_IMAGE=}"
            else
              BUILD_ARGS+=(--build-arg "$2")
            fi
            ;;
          --base-image) add_base "$2" ;;
          --network) BUILD_ARGS+=(--network "$2") ;;
        esac
        shift
        ;;
      -*) die 2 "unknown option $1 (see --help)" ;;
      *)
        [[ -z "${VERSION}" ]] || die 2 "one VERSION only (got ${VERSION} and $1)"
        VERSION="$1"
        ;;
    esac
    shift
  done
  [[ -n "${VERSION}" ]] || die 2 "VERSION is needed (see --help)"
  [[ -z "${KG_BASE_IMAGE:-}" || -n "${BASES[all]:-}" ]] || BASES[all]="${KG_BASE_IMAGE}"
  [[ "${VERSION}" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
    die 2 "${VERSION}: not a semantic version like 0.6.0"
  REGISTRY="${REGISTRY:-${KG_REGISTRY:-${DEFAULT_REGISTRY}}}"
  REGISTRY="${REGISTRY%/}"
  [[ "${REGISTRY}" =~ ^[a-z0-9]([a-z0-9.:-]*[a-z0-9])?(/[a-z0-9._-]+)*$ ]] ||
    die 2 "--registry ${REGISTRY}: not a registry path like ghcr.io/owner"
}

#######################################
# One --base-image: NAME@sha256:... for every image, or ROLE=NAME@sha256:... for one.
# Globals:
#   BASES (written)
#######################################
add_base() {
  case "$1" in
    api=* | web=* | operator=*) BASES["${1%%=*}"]="${1#*=}" ;;
    *=*) die 2 "--base-image $1: ROLE must be api, web or operator" ;;
    *) BASES[all]="$1" ;;
  esac
}

#######################################
# With --push, every image's base is pinned by digest, or exit 2: a tag
# (python:3.11-slim-bookworm) can name another image tomorrow, and the Dockerfiles'
# defaults are tags.
# Globals:
#   PUSH, BASES (read)
#######################################
check_bases() {
  ((PUSH)) || return 0
  local role base
  for role in api web operator; do
    base="${BASES[${role}]:-${BASES[all]:-}}"
    [[ -n "${base}" ]] ||
      die 2 "publishing needs the ${role} image's base pinned by digest: --base-image NAME@sha256:... (or KG_BASE_IMAGE)"
    [[ "${base}" =~ ${DIGEST_RE} ]] ||
      die 2 "the ${role} image's base ${base} is not pinned by digest (NAME@sha256:...)"
  done
}

#######################################
# The release's block of releases.toml: its fields, one per line.
# Outputs:
#   the lines between its [[release]] header and the next
#######################################
manifest_block() {
  awk -v want="version = \"${VERSION}\"" '
    /^\[\[release\]\]/ { if (found) exit; block = ""; next }
    { block = block $0 "\n" }
    $0 == want { found = 1 }
    END { if (found) printf "%s", block }
  ' "${MANIFEST}"
}

#######################################
# Write the digests found so far into the release's entry of releases.toml (one
# `digests = { ... }` line after its `images` line, replacing any earlier one).
# Globals:
#   VERSION, DIGESTS (read)
#######################################
record_digests() {
  local role line="" tmp
  for role in api web operator; do
    [[ -z "${DIGESTS[${role}]:-}" ]] || line+="${line:+, }${role} = \"${DIGESTS[${role}]}\""
  done
  [[ -n "${line}" ]] || return 0
  tmp="$(mktemp "${MANIFEST}.XXXXXX")"
  awk -v want="version = \"${VERSION}\"" -v digests="digests = { ${line} }" '
    /^\[\[release\]\]/ { inside = 0 }
    $0 == want { inside = 1 }
    inside && /^digests *=/ { next }
    { print }
    inside && /^images *=/ { print digests }
  ' "${MANIFEST}" >"${tmp}" || die 1 "cannot write the digests into ${MANIFEST}"
  mv "${tmp}" "${MANIFEST}" || die 1 "cannot write the digests into ${MANIFEST}"
}

#######################################
# VERSION, the manifest and docs/RELEASES.md agree, or exit 2 before anything is built.
# Globals:
#   VERSION (read)
# Outputs:
#   the release's last migration version (the api's schema)
#######################################
check_agreement() {
  local file_version block line schema=""
  file_version="$(head -n 1 "${ROOT}/VERSION")"
  [[ "${file_version}" == "${VERSION}" ]] ||
    die 2 "VERSION says ${file_version}, not ${VERSION}: set it (and the manifest) first"
  block="$(manifest_block)"
  [[ -n "${block}" ]] || die 2 "kgop_tui/releases.toml has no release ${VERSION}"
  while IFS= read -r line; do
    case "${line}" in
      images*)
        [[ "${line}" == "images = { api = \"${VERSION}\", web = \"${VERSION}\", operator = \"${VERSION}\" }" ]] ||
          die 2 "releases.toml ${VERSION}: every image must be tagged ${VERSION} (${line})"
        ;;
      migrations*)
        [[ "${line}" =~ \[\ *[0-9]+\ *,\ *([0-9]+)\ *\] ]] && schema="${BASH_REMATCH[1]}"
        ;;
    esac
  done <<<"${block}"
  [[ -n "${schema}" ]] || die 2 "releases.toml ${VERSION}: no migrations range"
  grep -qF "| ${VERSION} | " "${ROOT}/docs/RELEASES.md" ||
    die 2 "docs/RELEASES.md has no row for ${VERSION}: kgop releases --markdown > docs/RELEASES.md"
  printf '%s' "${schema}"
}

#######################################
# Build one image (and push it with --push, recording its digest).
# Globals:
#   REGISTRY, VERSION, PUSH, PLATFORMS, BUILD_ARGS, BASES (read); DIGESTS (written)
# Arguments:
#   role, context folder, extra build arguments...
# Outputs:
#   REF, SIZE (bytes, single-arch) and DIGEST (pushed), tab-separated
#######################################
build() {
  local role="$1" context="$2"
  shift 2
  local ref="${REGISTRY}/kg-${role}:${VERSION}" revision base digest="" size="-"
  revision="$(git -C "${ROOT}" rev-parse HEAD 2>/dev/null || printf unknown)"
  base="${BASES[${role}]:-${BASES[all]:-}}"
  local -a labels=(
    --label "org.opencontainers.image.version=${VERSION}"
    --label "org.opencontainers.image.revision=${revision}"
    --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    --label "org.opencontainers.image.source=${SOURCE_URL}"
    --label "org.opencontainers.image.title=kg-${role}"
  )
  local -a args=(-t "${ref}" "${labels[@]}" --build-arg "KG_VERSION=${VERSION}" "${BUILD_ARGS[@]}" "$@")
  [[ -z "${base}" ]] || args+=(--build-arg "BASE_IMAGE=${base}")
  if [[ "${PLATFORMS}" == *,* ]]; then
    local metadata
    metadata="$(mktemp)"
    log "${ref} for ${PLATFORMS} (buildx)"
    docker buildx build --platform "${PLATFORMS}" --push --metadata-file "${metadata}" \
      "${args[@]}" "${context}" || die 1 "building ${ref} failed"
    digest="$(grep -o '"containerimage.digest": *"sha256:[0-9a-f]*"' "${metadata}" | grep -o 'sha256:[0-9a-f]*')"
    rm -f "${metadata}"
  else
    [[ -z "${PLATFORMS}" ]] || args+=(--platform "${PLATFORMS}")
    log "${ref}"
    docker build -q "${args[@]}" "${context}" >/dev/null || die 1 "building ${ref} failed"
    size="$(docker image inspect -f '{{.Size}}' "${ref}")"
    if ((PUSH)); then
      local pushed
      pushed="$(docker push "${ref}")" || die 1 "pushing ${ref} failed"
      # The registry's answer: "VERSION: digest: sha256:... size: N".
      digest="$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' <<<"${pushed}" | tail -n 1)"
    fi
  fi
  if ((PUSH)); then
    [[ "@${digest}" =~ ${DIGEST_RE} ]] || die 1 "pushing ${ref}: the registry reported no digest"
    DIGESTS["${role}"]="${digest}"
    record_digests
  fi
  printf '%s\t%s\t%s\n' "${ref}" "${size}" "${digest:--}"
}

main() {
  parse_args "$@"
  local schema
  schema="$(check_agreement)"
  check_bases
  command -v docker >/dev/null || die 3 "docker is not installed"
  docker info >/dev/null 2>&1 || die 3 "cannot reach the Docker daemon at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
  if [[ "${PLATFORMS}" == *,* ]]; then
    ((PUSH)) || die 2 "a multi-arch build (--platform ${PLATFORMS}) is pushed as it is built: add --push"
    docker buildx version >/dev/null 2>&1 ||
      die 2 "--platform ${PLATFORMS} needs docker buildx; without it, build for this machine only"
  fi
  # api and web first: their digests are in the manifest the operator image ships.
  build api "${ROOT}/images/reference" --build-arg KG_ROLE=api --build-arg "KG_SCHEMA=${schema}"
  build web "${ROOT}/images/reference" --build-arg KG_ROLE=web --build-arg "KG_SCHEMA=${schema}"
  build operator "${ROOT}"
  log "release ${VERSION}: done$( ((PUSH)) && printf ', pushed to %s' "${REGISTRY}")"
}

main "$@"
