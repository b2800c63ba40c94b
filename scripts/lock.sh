#!/usr/bin/env bash
# lock.sh — refresh requirements/*.lock from pyproject.toml: every runtime, test, lint and
# build dependency pinned, with the SHA-256 of every file of that version (any platform:
# the operator image is built for amd64 and arm64). The Dockerfile and scripts/test.sh
# install from these with pip --require-hashes; tests/unit/test_lock.py fails when they
# and pyproject.toml disagree.
#
#   scripts/lock.sh        (needs network access to PyPI; uses uv, installed on first use)

set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly PYTHON_VERSION=3.11

main() {
  local uv
  uv="$(command -v uv || true)"
  if [[ -z "${uv}" ]]; then
    local tools="${XDG_CACHE_HOME:-${HOME}/.cache}/kgop-lock-tools"
    [[ -x "${tools}/bin/uv" ]] || { python3 -m venv "${tools}" && "${tools}/bin/pip" install -q uv; }
    uv="${tools}/bin/uv"
  fi
  cd "${ROOT}"
  local -a common=(--universal --generate-hashes --python-version "${PYTHON_VERSION}" --quiet)
  "${uv}" pip compile pyproject.toml "${common[@]}" -o requirements/runtime.lock
  "${uv}" pip compile pyproject.toml --extra test --extra lint "${common[@]}" -o requirements/dev.lock
  "${uv}" pip compile requirements/build.in "${common[@]}" -o requirements/build.lock
  "${uv}" pip compile requirements/platform-api.in "${common[@]}" -o requirements/platform-api.lock
  printf 'lock.sh: requirements/runtime.lock, dev.lock, build.lock and platform-api.lock refreshed\n' >&2
}

main "$@"
