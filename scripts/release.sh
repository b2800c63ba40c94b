#!/usr/bin/env bash
# release.sh — build (and push) kgop's own operator image of one kgop version:
# kg-operator:VERSION, with OCI labels (version, revision, created, source). The platform's
# api, web and postgres images are the platform's own (ghcr.io/aaronsb/knowledge-graph-system,
# see docs/RELEASES.md): kgop neither builds nor publishes them.
#
#   scripts/release.sh VERSION [--registry R] [--push] [--platform LIST] [--build-arg K=V]...
#                      [--base-image [operator=]NAME@sha256:DIGEST] [--network MODE]
#
# Refuses (exit 2) before any build unless VERSION (the file), kgop_tui/releases.toml (its
# newest release is operated by VERSION) and docs/RELEASES.md agree, and, with --push,
# unless the base image (--base-image or KG_BASE_IMAGE) is pinned by digest. Multi-arch
# (--platform linux/amd64,linux/arm64) needs docker buildx and --push. The pushed image's
# digest goes into every release of kgop_tui/releases.toml that VERSION operates, and on
# stdout: REF, SIZE, DIGEST.
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
    operator=*) BASES["${1%%=*}"]="${1#*=}" ;;
    *=*) die 2 "--base-image $1: ROLE must be operator (kgop builds no other image)" ;;
    *) BASES[all]="$1" ;;
  esac
}

#######################################
# With --push, the operator image's base is pinned by digest, or exit 2: a tag
# (python:3.11-slim-bookworm) can name another image tomorrow, and the Dockerfile's
# default is a tag.
# Globals:
#   PUSH, BASES (read)
#######################################
check_bases() {
  ((PUSH)) || return 0
  local base="${BASES[operator]:-${BASES[all]:-}}"
  [[ -n "${base}" ]] ||
    die 2 "publishing needs the operator image's base pinned by digest: --base-image NAME@sha256:... (or KG_BASE_IMAGE)"
  [[ "${base}" =~ ${DIGEST_RE} ]] ||
    die 2 "the operator image's base ${base} is not pinned by digest (NAME@sha256:...)"
}

#######################################
# Write the operator's digest into every release of releases.toml that VERSION operates.
# Globals:
#   VERSION (read)
# Arguments:
#   the digest (sha256:...)
#######################################
record_digests() {
  local digest="$1" tmp
  tmp="$(mktemp "${MANIFEST}.XXXXXX")"
  # Block by block: in each release whose images name operator = VERSION, the digests line
  # gets operator = DIGEST (other roles' digests kept), right after the images line.
  awk -v op="operator = \"${VERSION}\"" -v digest="${digest}" '
    function flush(   i, line, others, kept) {
      if (!mine) { for (i = 1; i <= n; i++) print lines[i]; n = 0; return }
      others = ""
      for (i = 1; i <= n; i++) {
        line = lines[i]
        if (line ~ /^digests *=/) {
          gsub(/^digests *= *\{ */, "", line); gsub(/ *\} *$/, "", line)
          gsub(/(^|, *)operator *= *"[^"]*"/, "", line); gsub(/^, */, "", line)
          others = line
        }
      }
      for (i = 1; i <= n; i++) {
        if (lines[i] ~ /^digests *=/) continue
        print lines[i]
        if (lines[i] ~ /^images *=/) {
          kept = others == "" ? "" : others ", "
          print "digests = { " kept "operator = \"" digest "\" }"
        }
      }
      n = 0; mine = 0
    }
    /^\[\[release\]\]/ { flush() }
    { lines[++n] = $0 }
    /^images *=/ && index($0, op) { mine = 1 }
    END { flush() }
  ' "${MANIFEST}" >"${tmp}" || die 1 "cannot write the digest into ${MANIFEST}"
  mv "${tmp}" "${MANIFEST}" || die 1 "cannot write the digest into ${MANIFEST}"
}

#######################################
# VERSION, the manifest and docs/RELEASES.md agree, or exit 2 before anything is built.
# Globals:
#   VERSION (read)
#######################################
check_agreement() {
  local file_version newest
  file_version="$(head -n 1 "${ROOT}/VERSION")"
  [[ "${file_version}" == "${VERSION}" ]] ||
    die 2 "VERSION says ${file_version}, not ${VERSION}: set it (and the manifest) first"
  newest="$(grep -E '^images *=' "${MANIFEST}" | tail -n 1)"
  [[ -n "${newest}" ]] || die 2 "kgop_tui/releases.toml lists no release"
  [[ "${newest}" == *"operator = \"${VERSION}\""* ]] ||
    die 2 "releases.toml: the newest release is not operated by ${VERSION} (${newest})"
  grep -qF "| ${VERSION} | " "${ROOT}/docs/RELEASES.md" ||
    die 2 "docs/RELEASES.md does not name ${VERSION}: kgop releases --markdown > docs/RELEASES.md"
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
    record_digests "${digest}"
  fi
  printf '%s\t%s\t%s\n' "${ref}" "${size}" "${digest:--}"
}

main() {
  parse_args "$@"
  check_agreement
  check_bases
  command -v docker >/dev/null || die 3 "docker is not installed"
  docker info >/dev/null 2>&1 || die 3 "cannot reach the Docker daemon at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
  if [[ "${PLATFORMS}" == *,* ]]; then
    ((PUSH)) || die 2 "a multi-arch build (--platform ${PLATFORMS}) is pushed as it is built: add --push"
    docker buildx version >/dev/null 2>&1 ||
      die 2 "--platform ${PLATFORMS} needs docker buildx; without it, build for this machine only"
  fi
  # api and web first: their digests are in the manifest the operator image ships.
  build operator "${ROOT}"
  log "release ${VERSION}: done$( ((PUSH)) && printf ', pushed to %s' "${REGISTRY}")"
}

main "$@"
