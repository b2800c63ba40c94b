#!/usr/bin/env bash
# operator.sh — the host side of the Knowledge Graph platform's operator.
#
# A thin shim: a few verbs run here with docker compose; everything else runs as `kgop`
# inside the operator container (docker exec). Needs bash and docker (with compose v2).
# Exit codes: 0 ok, 1 failed, 2 bad usage, 3 Docker unreachable, 4 refused for safety.
set -euo pipefail

KG_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly KG_HOME
readonly HEALTH_DEADLINE="${KG_HEALTH_DEADLINE:-180}"

usage() {
  cat <<'TEXT'
Usage: ./operator.sh [VERB] [ARGS...]

Without a verb: the operator TUI on a terminal; otherwise the status and this help.

Host verbs (run here with docker compose):
  start-infra             start postgres, garage and the operator container, wait healthy
  stop                    stop every service (data is kept)
  teardown [--volumes]    remove the containers; --volumes also deletes the data (asks,
                          or --yes); .env and its secrets are never deleted
  update                  pull the images of the pinned version (KG_VERSION in .env)
  logs [SERVICE] [-f]     compose logs (on a terminal, without escape sequences)
  restart SERVICE         restart one service
  status                  docker compose ps
  deploy-swarm [--resolve-image always|changed|never]
                          deploy the platform as a Docker Swarm stack (docs/swarm.md); then
                          start, status, logs and restart work on its services
  serve [--port P] [--max-sessions N] [--allow-actions]
                          the TUI in a browser on the host's loopback (port 8422), read-only
                          unless --allow-actions; open the URL it prints (it holds a token);
                          from another machine: ssh -L P:127.0.0.1:P

Delegated verbs (run as `kgop` in the operator container):
  start                   migrations, object store, api and web, health wait
  upgrade [--to V]        guided upgrade with backup and automatic rollback; it goes on if
                          the session drops (upgrade --status); then the operator container
                          moves to the new image
  doctor [--json]         what is wrong with this host and install, and what to do
  bundle [--output F]     a support bundle (.tar.gz) with every secret redacted
  migrate, backup, restore, recert, releases, garage, configure, status --json, ...
  admin [--username U] [--password-stdin]       = kgop configure admin
  ai-provider | embedding | api-key ...         = kgop configure ...
  shell                   a shell in the operator container
  tui                     the TUI (the default on a terminal)

Options: -h, --help   this help    --version   versions
TEXT
}

die() {
  local code="$1"
  shift
  printf 'operator.sh: %s\n' "$*" >&2
  exit "${code}"
}

note() { printf '%s\n' "$*" >&2; }

# The value of KEY in .env (plain KEY=VALUE lines, optional quotes), without grep or sed.
env_value() {
  local key="$1" line value=""
  [[ -f "${KG_HOME}/.env" ]] || return 0
  while IFS= read -r line || [[ -n "${line}" ]]; do
    line="${line#export }"
    if [[ "${line}" == "${key}="* ]]; then
      value="${line#"${key}"=}"
      value="${value%\"}" value="${value#\"}" value="${value%\'}" value="${value#\'}"
    fi
  done <"${KG_HOME}/.env"
  printf '%s' "${value}"
}

# Cheap checks up front; the costly ones (daemon, compose) only explain a failure.
require_docker() {
  command -v docker >/dev/null 2>&1 ||
    die 3 "docker is not installed. Hint: install Docker Engine and its compose plugin"
  [[ -f "${KG_HOME}/.env" ]] || die 2 "no .env in ${KG_HOME}. Hint: run install.sh first"
}

diagnose() {
  docker info >/dev/null 2>&1 ||
    die 3 "cannot reach the Docker daemon at ${DOCKER_HOST:-unix:///var/run/docker.sock}. Hint: start Docker, or check you may use its socket"
  docker compose version >/dev/null 2>&1 ||
    die 3 "docker compose v2 is missing. Hint: install the docker-compose-plugin package"
}

# Run a command; when it fails, say why in one line if Docker itself is the cause.
checked() {
  local code=0
  "$@" || code=$?
  ((code == 0)) || {
    diagnose
    exit "${code}"
  }
}

# The same for short commands, whose output is held back until we know they succeeded.
captured() {
  local out code=0
  out="$("$@" 2>&1)" || code=$?
  if ((code != 0)); then
    diagnose
    printf '%s\n' "${out}" >&2
    exit "${code}"
  fi
  [[ -z "${out}" ]] || printf '%s\n' "${out}"
}

compose() { (cd "${KG_HOME}" && docker compose "$@"); }

project_name() {
  local project
  project="$(env_value COMPOSE_PROJECT_NAME)"
  printf '%s' "${project:-kg}"
}

# Whether the project is deployed as a Swarm stack (docs/swarm.md).
is_stack() {
  [[ -n "$(docker service ls -q --filter "label=com.docker.stack.namespace=$(project_name)" 2>/dev/null)" ]]
}

# The operator's container: compose's, or on a Swarm stack its service's task on this node.
operator_name() {
  local name task
  name="$(project_name)-operator"
  if ! docker inspect "${name}" >/dev/null 2>&1; then
    task="$(docker ps -q --filter "label=com.docker.swarm.service.name=$(project_name)_operator" 2>/dev/null)"
    [[ -n "${task}" ]] && name="${task%%$'\n'*}"
  fi
  printf '%s' "${name}"
}

# Wait until every named service's container is healthy (or running, if it has no check).
# The host's own minimal wait, for start-infra (kgop may not run yet); kgop's is services/health.py.
wait_healthy() {
  local deadline=$((SECONDS + HEALTH_DEADLINE)) service id state
  for service in "$@"; do
    while :; do
      id="$(compose ps -q "${service}" 2>/dev/null || true)"
      state=""
      [[ -n "${id}" ]] && state="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "${id}" 2>/dev/null || true)"
      [[ "${state}" == healthy || "${state}" == running ]] && break
      ((SECONDS < deadline)) || die 1 "${service} is not healthy after ${HEALTH_DEADLINE}s (state: ${state:-missing}). Hint: ./operator.sh logs ${service}"
      sleep 1
    done
    note "  ${service}: ${state}"
  done
}

# A daemon restarted with live-restore keeps containers running, but the socket file the
# operator bind-mounted is the old, deleted one. Cheap first: only a socket made after the
# container started can be another file; then nothing answers on the container's one (a
# proxied socket differs too, but answers).
socket_moved() {
  local sock made started
  sock="$(env_value KG_DOCKER_SOCKET)"
  made="$(stat -Lc %Y "${sock:-/var/run/docker.sock}" 2>/dev/null)" || return 1
  started="$(date -d "$2" +%s 2>/dev/null)" || return 1
  ((made > started)) || return 1
  ! docker exec "$1" python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("/var/run/docker.sock")' >/dev/null 2>&1
}

ensure_operator() {
  local name running started
  name="$(operator_name)"
  read -r running started < <(docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' "${name}" 2>/dev/null) || diagnose
  if [[ "${running}" != true ]]; then
    is_stack && die 1 "the stack's operator service has no running task on this node. Hint: run operator.sh on the manager that runs it (docker service ps $(project_name)_operator)"
    note "Starting the operator container (${name})..."
    compose up -d operator >/dev/null 2>&1 || die 1 "could not start the operator container. Hint: ./operator.sh start-infra"
    wait_healthy operator >/dev/null 2>&1 || true
  elif socket_moved "${name}" "${started}"; then
    note "The Docker engine restarted since the operator container started: it still holds the old socket. Recreating it..."
    if is_stack; then
      docker service update --quiet --force "$(project_name)_operator" >/dev/null 2>&1
    else
      compose up -d --force-recreate --no-deps operator >/dev/null 2>&1 && wait_healthy operator >/dev/null 2>&1
    fi || die 1 "could not recreate the operator container. Hint: ./operator.sh start-infra"
  fi
}

delegate() {
  # Decided here, not in a subshell: -it only when stdin and stdout are both terminals.
  local -a flags=()
  if [[ -t 0 && -t 1 ]]; then
    flags=(-it)
  elif [[ ! -t 0 ]]; then
    flags=(-i)
  fi
  [[ -n "${TERM:-}" ]] && flags+=(-e "TERM=${TERM}")
  flags+=(-e "COLORTERM=${COLORTERM:-}")
  ensure_operator
  local code=0
  docker exec "${flags[@]}" "$(operator_name)" kgop "$@" || code=$?
  return "${code}"
}

# The image compose runs the operator from (`config --images operator` would add its
# dependencies' images; compose's canonical JSON names each service's own, 6 spaces in).
operator_image() {
  local line inside=0
  while IFS= read -r line; do
    if [[ "${line}" == '    "operator": {' ]]; then
      inside=1
    elif ((inside)) && [[ "${line}" =~ ^\ {6}\"image\":\ \"([^\"]+)\" ]]; then
      printf '%s' "${BASH_REMATCH[1]}"
      return 0
    elif ((inside)) && [[ "${line}" == '    }'* ]]; then
      return 1
    fi
  done < <(compose config --format json operator 2>/dev/null)
  return 1
}

# Whether the operator container runs the image .env pins (compared by image ID: a tag
# pulled again counts as another image).
operator_current() {
  local pinned want have
  pinned="$(operator_image)" || return 1
  want="$(docker image inspect -f '{{.Id}}' "${pinned}" 2>/dev/null)" || return 1
  have="$(docker inspect -f '{{.Image}}' "$1" 2>/dev/null)" || return 1
  [[ -n "${want}" && "${want}" == "${have}" ]]
}

# The operator cannot replace itself mid-upgrade: once no upgrade runs, it moves to the
# image .env pins (its container recreated, or on a Swarm stack its service updated), and
# is left alone otherwise (nothing else of its configuration changes with an upgrade).
then_refresh() {
  local code=0 name pinned service current
  delegate "$@" || code=$?
  name="$(operator_name)"
  if is_stack; then
    service="$(project_name)_operator"
    current="$(docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "${service}" 2>/dev/null)"
    pinned="$(operator_image)" && [[ "${current%%@*}" != "${pinned}" ]] &&
      docker exec "${name}" kgop upgrade --idle >/dev/null 2>&1 &&
      { docker service update --quiet --image "${pinned}" "${service}" >/dev/null 2>&1 ||
        note "could not move ${service} to ${pinned}. Hint: docker service update --image ${pinned} ${service}"; }
  elif ! operator_current "${name}" &&
    docker exec "${name}" kgop upgrade --idle >/dev/null 2>&1; then
    compose up -d --no-deps operator >/dev/null 2>&1 ||
      note "could not recreate the operator container. Hint: ./operator.sh start-infra"
  fi
  ((code == 0)) || {
    diagnose
    exit "${code}"
  }
}

# Before any `up`, in a one-off operator container: garage.toml written when missing (garage
# exits without it), then every bind-mount source checked (Docker would make a missing one a
# directory). kgop's one-line error is passed on with its exit code (4: refused).
preflight_mounts() {
  local out code=0
  out="$(compose run --rm --no-deps -T --entrypoint sh operator \
    -c 'kgop garage config >/dev/null && kgop check-mounts' 2>&1)" || code=$?
  ((code == 0)) && return 0
  diagnose
  if [[ "${out}" == *"kgop: "* ]]; then
    printf '%s\n' "kgop: ${out##*kgop: }" >&2
  else
    printf '%s\n' "${out}" >&2
  fi
  exit "${code}"
}

# A one-off container of the operator's image (OPTIONS -- COMMAND): KG_HOME and the Docker
# socket as compose mounts them, but plain docker (compose would add the project's network).
operator_run() {
  local image sock
  local -a options=()
  while (($# > 0)) && [[ "$1" != -- ]]; do
    options+=("$1")
    shift
  done
  shift
  image="$(operator_image)" ||
    die 2 "cannot read the compose files. Hint: run docker compose config in ${KG_HOME}"
  sock="$(env_value KG_DOCKER_SOCKET)"
  docker run --rm -e "KG_HOME=${KG_HOME}" -v "${KG_HOME}:${KG_HOME}" -w "${KG_HOME}" \
    -v "${sock:-/var/run/docker.sock}:/var/run/docker.sock" "${options[@]}" "${image}" "$@"
}

# The platform as a Swarm stack: the bind mounts checked and the stack file rendered by the
# operator image (one-off, plain docker: compose would create a bridge network of the
# stack's name), then `docker stack deploy` reads it from the pipe (it holds .env's secrets).
cmd_deploy_swarm() {
  local resolve=always doc
  while (($# > 0)); do
    case "$1" in
      --resolve-image)
        resolve="${2:-}"
        shift 2 || true
        ;;
      *) die 2 "deploy-swarm: unknown option $1. Hint: ./operator.sh deploy-swarm [--resolve-image always|changed|never]" ;;
    esac
  done
  [[ "${resolve}" =~ ^(always|changed|never)$ ]] ||
    die 2 "deploy-swarm: --resolve-image is always, changed or never. Hint: never for images only on this host"
  [[ "$(docker info -f '{{.Swarm.ControlAvailable}}' 2>/dev/null)" == true ]] ||
    die 4 "this Docker engine is not a Swarm manager. Hint: docker swarm init --advertise-addr ADDRESS (docs/swarm.md)"
  note "Checking bind mounts and rendering the stack..."
  doc="$(operator_run --entrypoint sh -- \
    -c 'kgop garage config >/dev/null && kgop check-mounts >&2 && kgop stack render')" || exit $?
  note "Deploying the stack $(project_name)..."
  printf '%s\n' "${doc}" | docker stack deploy --resolve-image "${resolve}" -c - "$(project_name)"
  note "Deployed. Next: ./operator.sh start (migrations, object store, health of api and web)."
}

cmd_start_infra() {
  note "Checking bind mounts..."
  preflight_mounts
  note "Starting postgres, the operator and garage..."
  compose up -d postgres operator garage || die 1 "docker compose up failed (see above)"
  wait_healthy postgres garage operator
}

cmd_teardown() {
  local volumes=0 yes=0 arg answer
  for arg in "$@"; do
    case "${arg}" in
      --volumes) volumes=1 ;;
      --yes) yes=1 ;;
      *) die 2 "teardown: unknown option ${arg}. Hint: ./operator.sh teardown [--volumes] [--yes]" ;;
    esac
  done
  if ((volumes && !yes)); then
    [[ -t 0 ]] || die 4 "teardown --volumes deletes the database and object store; refused without --yes"
    read -r -p "Delete the containers AND all platform data (database, object store)? [y/N] " answer
    [[ "${answer}" == [yY]* ]] || die 4 "teardown cancelled; nothing was deleted"
  fi
  if ((volumes)); then
    compose down --remove-orphans --volumes
    note "Containers and data removed; .env (with its secrets) is kept in ${KG_HOME}."
  else
    compose down --remove-orphans
    note "Containers removed; data volumes and .env are kept."
  fi
}

cmd_logs() {
  local -a args=(--tail "${KG_LOG_TAIL:-200}")
  local arg
  for arg in "$@"; do
    case "${arg}" in
      -f | --follow) args+=(--follow) ;;
      -*) die 2 "logs: unknown option ${arg}. Hint: ./operator.sh logs [SERVICE] [-f]" ;;
      *) args+=("${arg}") ;;
    esac
  done
  if [[ -t 1 ]]; then # log text may not act on the terminal: see strip_escapes
    compose logs "${args[@]}" | strip_escapes
  else
    compose logs "${args[@]}"
  fi
}

# What `kgop logs` removes (kgop_tui/text.py), by bytes (UTF-8 C2 9B is the 8-bit CSI):
# CSI, OSC and DCS/SOS/PM/APC sequences whole, the short ESC ones, then any other C1
# control, the other C0 controls but tab and newline, and DEL.
strip_escapes() {
  LC_ALL=C sed -E -e $'s/(\e\\[|\xc2\x9b)[0-?]*[ -/]*[@-~]//g' \
    -e $'s/(\e\\]|\xc2\x9d)[^\a\e\xc2]*(\a|\e\\\\|\xc2\x9c)?//g' \
    -e $'s/(\e[PX^_]|\xc2[\x90\x98\x9e\x9f])[^\e\xc2]*(\e\\\\|\xc2\x9c)?//g' \
    -e $'s/\e[ -/]*[0-~]?//g; s/\xc2[\x80-\x9f]//g; s/[\x01-\x08\x0b-\x1f\x7f]//g'
}

# The serving container, gone before the shim exits (a lost SSH session, kill): when docker
# run's own --rm is already removing it, `docker rm -f` returns at once ("in progress").
remove_serving() {
  local tries=50
  docker rm -f "${SERVE_NAME}" >/dev/null 2>&1 || true
  while ((tries-- > 0)) && docker inspect "${SERVE_NAME}" >/dev/null 2>&1; do sleep 0.2; done
}

# kgop serve in a one-off operator container on the host's network: it listens on the host's
# loopback only and has no address on the compose network. kgop reads the options. The URL it
# prints holds the login token: shown here, never kept by the engine's log driver.
cmd_serve() {
  SERVE_NAME="$(operator_name)-serve-$$"
  trap remove_serving EXIT
  operator_run --name "${SERVE_NAME}" --network host --log-driver none -- \
    kgop serve --host-network "$@"
}

cmd_version() {
  printf 'operator.sh for Knowledge Graph %s\n' "$(env_value KG_VERSION)"
}

main() {
  local verb="${1:-}"
  case "${verb}" in
    -h | --help | help)
      usage
      return 0
      ;;
    --version)
      cmd_version
      return 0
      ;;
  esac
  require_docker
  [[ $# -gt 0 ]] && shift
  # On a Swarm stack the compose verbs would act on containers the stack does not have.
  case "${verb}" in
    status | logs | restart)
      if is_stack; then
        checked delegate "${verb}" "$@"
        return
      fi
      ;;
    stop | teardown | update | start-infra)
      is_stack && die 4 "${verb} is a compose verb; $(project_name) is a Swarm stack. Hint: docker stack rm $(project_name) removes it, docker service scale stops a service (docs/swarm.md)"
      ;;
  esac
  case "${verb}" in
    "")
      if [[ -t 0 && -t 1 ]]; then
        then_refresh
      else
        captured compose ps
        printf '\n'
        usage
      fi
      ;;
    start-infra)
      diagnose
      cmd_start_infra
      ;;
    stop) captured compose stop ;;
    teardown)
      diagnose
      cmd_teardown "$@"
      ;;
    update) captured compose pull ;;
    serve) checked cmd_serve "$@" ;;
    deploy-swarm)
      diagnose
      cmd_deploy_swarm "$@"
      ;;
    logs) checked cmd_logs "$@" ;;
    restart)
      [[ $# -ge 1 ]] || die 2 "restart needs a service. Hint: ./operator.sh restart api"
      captured compose restart "$@"
      ;;
    status)
      if [[ $# -gt 0 ]]; then checked delegate status "$@"; else captured compose ps; fi
      ;;
    upgrade) then_refresh upgrade "$@" ;;
    admin) checked delegate configure admin "$@" ;;
    ai-provider | embedding | api-key) checked delegate configure "${verb}" "$@" ;;
    shell)
      ensure_operator
      docker exec -it "$(operator_name)" bash
      ;;
    *) checked delegate "${verb}" "$@" ;;
  esac
}

main "$@"
