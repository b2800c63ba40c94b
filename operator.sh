#!/usr/bin/env bash
# operator.sh — the host side of the Knowledge Graph platform's operator.
#
# A thin shim: a few verbs run here with docker compose; everything else runs as `kgop`
# inside the operator container (docker exec). Needs bash and docker (with compose v2).
# Exit codes: 0 ok, 1 failed, 2 bad usage, 3 Docker unreachable, 4 refused for safety.
set -euo pipefail

KG_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly KG_HOME

usage() {
  cat <<'TEXT'
Usage: ./operator.sh [VERB] [ARGS...]   (no verb: the TUI on a terminal, else status and help)

Host verbs (run here with docker compose):
  start-infra             postgres, garage and the operator container, waited healthy
  stop | update           stop every service (data kept) | pull the pinned images
  teardown [--volumes]    remove the containers; --volumes deletes the data too (asks, or
                          --yes); .env and its secrets are never deleted
  logs [SERVICE] [-f]     compose logs (on a terminal, without escape sequences)
  restart SERVICE | status
  deploy-swarm [--resolve-image always|changed|never]   the platform as a Swarm stack
  serve [--port P] [--max-sessions N] [--allow-actions]
                          the TUI in a browser on the host's loopback (port 8422), read-only
                          unless --allow-actions; open the URL it prints (it holds a token)

Delegated verbs (run as `kgop VERB` in the operator container):
  start, upgrade [--to V], doctor, bundle, migrate, backup, restore, recert, releases,
  garage, configure, status --json, admin, ai-provider, embedding, api-key, shell, tui

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

# The value of KEY in .env, read as kgop reads it (kgop_tui/settings.py, parse_env_text):
# `export ` and spaces around the key dropped, a quoted value up to its closing quote, an
# unquoted one up to a ` #` comment, trailing spaces dropped. Without grep or sed.
env_value() {
  local line value="" re="^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=[[:space:]]*(.*)$"
  [[ -f "${KG_HOME}/.env" ]] || return 0
  while IFS= read -r line || [[ -n "${line}" ]]; do
    [[ "${line}" =~ ${re} ]] || continue
    value="${BASH_REMATCH[2]}"
    if [[ "${value}" =~ ^\"([^\"]*)\" || "${value}" =~ ^\'([^\']*)\' ]]; then
      value="${BASH_REMATCH[1]}"
    else
      value="${value%%[[:space:]]#*}" && value="${value%"${value##*[![:space:]]}"}"
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

# Exit with CODE, first saying why in one line if Docker itself is the cause, then OUTPUT
# (held back by captured).
fail() {
  diagnose
  (($# < 2)) || printf '%s\n' "$2" >&2
  exit "$1"
}

# Run a command; when it fails, fail with its exit code.
checked() { "$@" || fail $?; }

# The same for short commands, whose output is held back until we know they succeeded.
captured() {
  local out
  out="$("$@" 2>&1)" || fail $? "${out}"
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
  elif socket_moved "${name}" "${started}"; then
    note "The Docker engine restarted since the operator container started: it still holds the old socket. Recreating it..."
    if is_stack; then docker service update --quiet --force "$(project_name)_operator"; else
      compose up -d --force-recreate --no-deps operator
    fi >/dev/null 2>&1 || die 1 "could not recreate the operator container. Hint: ./operator.sh start-infra"
  fi
}

delegate() {
  # Decided here, not in a subshell: -it only when stdin and stdout are both terminals.
  local -a flags=(-e "COLORTERM=${COLORTERM:-}")
  if [[ -t 0 && -t 1 ]]; then flags+=(-it); elif [[ ! -t 0 ]]; then flags+=(-i); fi
  [[ -n "${TERM:-}" ]] && flags+=(-e "TERM=${TERM}")
  ensure_operator
  docker exec "${flags[@]}" "$(operator_name)" kgop "$@"
}

# The operator cannot replace itself mid-upgrade: once no upgrade runs, it moves to the
# image .env pins (its container recreated, or on a Swarm stack its service updated), and
# is left alone otherwise (nothing else of its configuration changes with an upgrade).
then_refresh() {
  local code=0 name pinned service current
  delegate "$@" || code=$?
  name="$(operator_name)"
  if docker exec "${name}" kgop upgrade --idle >/dev/null 2>&1; then
    if is_stack; then
      service="$(project_name)_operator"
      current="$(docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "${service}" 2>/dev/null || true)"
      pinned="$(docker exec "${name}" kgop stack image operator 2>/dev/null)" &&
        [[ "${current%%@*}" != "${pinned}" ]] &&
        { docker service update --quiet --image "${pinned}" "${service}" >/dev/null 2>&1 ||
          note "could not move ${service} to ${pinned}. Hint: docker service update --image ${pinned} ${service}"; }
    else # compose recreates it only when its image or configuration changed
      compose up -d --no-deps operator >/dev/null 2>&1 ||
        note "could not recreate the operator container. Hint: ./operator.sh start-infra"
    fi
  fi
  ((code == 0)) || fail "${code}"
}

# Before any `up`, in a one-off operator container: garage.toml written when missing (garage
# exits without it), then every bind-mount source checked (Docker would make a missing one a
# directory). kgop's one-line error is passed on with its exit code (4: refused).
preflight_mounts() {
  local out
  out="$(compose run --rm --no-deps -T --entrypoint sh operator \
    -c 'kgop garage config >/dev/null && kgop check-mounts' 2>&1)" ||
    fail $? "$([[ "${out}" == *"kgop: "* ]] && printf 'kgop: %s' "${out##*kgop: }" || printf '%s' "${out}")"
}

# The image compose gives the operator: the images of the operator and of what it depends on
# (postgres), without postgres's. From compose's own listing, not read out of its JSON.
operator_image() {
  comm -23 <(compose config --images operator | sort) <(compose config --images postgres | sort)
}

# A one-off container of the operator's image (OPTIONS -- COMMAND): KG_HOME and the Docker
# socket as compose mounts them, but plain docker (compose would add the project's network,
# whose name a Swarm stack's own network takes).
operator_run() {
  local image sock at
  image="$(operator_image || true)"
  [[ -n "${image}" ]] || die 2 "cannot read the compose files. Hint: run docker compose config in ${KG_HOME}"
  sock="$(env_value KG_DOCKER_SOCKET)"
  for ((at = 1; at <= $#; at++)); do [[ "${!at}" == -- ]] && break; done
  docker run --rm -e "KG_HOME=${KG_HOME}" -v "${KG_HOME}:${KG_HOME}" -w "${KG_HOME}" \
    -v "${sock:-/var/run/docker.sock}:/var/run/docker.sock" "${@:1:at-1}" "${image}" "${@:at+1}"
}

# The platform as a Swarm stack: kgop, in a one-off operator container, checks the options
# (passed on to `docker stack deploy`) and the bind mounts, and renders the stack file;
# `docker stack deploy` reads it from the pipe (it holds .env's secrets).
cmd_deploy_swarm() {
  local doc
  [[ "$(docker info -f '{{.Swarm.ControlAvailable}}' 2>/dev/null)" == true ]] ||
    die 4 "this Docker engine is not a Swarm manager. Hint: docker swarm init --advertise-addr ADDRESS (docs/swarm.md)"
  note "Checking bind mounts and rendering the stack..."
  doc="$(operator_run --entrypoint sh -- -c 'kgop stack render --check "$@" && kgop garage config >/dev/null &&
    kgop check-mounts >&2 && kgop stack render "$@"' sh "$@")" || exit $?
  note "Deploying the stack $(project_name)..."
  printf '%s\n' "${doc}" | docker stack deploy "$@" -c - "$(project_name)"
  note "Deployed. Next: ./operator.sh start (migrations, object store, health of api and web)."
}

cmd_start_infra() {
  note "Checking bind mounts..."
  preflight_mounts
  note "Starting postgres, the operator and garage..."
  compose up -d postgres operator garage || die 1 "docker compose up failed (see above)"
  # kgop's wait (services/docker/health.py), in the operator, which compose starts once postgres is healthy.
  docker exec "$(operator_name)" kgop wait --timeout "${KG_HEALTH_DEADLINE:-180}" postgres garage operator
}

cmd_teardown() {
  local -a down=(down --remove-orphans)
  local yes=0 arg answer done="Containers removed; data volumes and .env are kept."
  for arg in "$@"; do
    case "${arg}" in
      --volumes) down+=(--volumes) done="Containers and data removed; .env (with its secrets) is kept in ${KG_HOME}." ;;
      --yes) yes=1 ;;
      *) die 2 "teardown: unknown option ${arg}. Hint: ./operator.sh teardown [--volumes] [--yes]" ;;
    esac
  done
  if [[ "${down[*]}" == *--volumes* ]] && ((!yes)); then
    [[ -t 0 ]] || die 4 "teardown --volumes deletes the database and object store; refused without --yes"
    read -r -p "Delete the containers AND all platform data (database, object store)? [y/N] " answer
    [[ "${answer}" == [yY]* ]] || die 4 "teardown cancelled; nothing was deleted"
  fi
  compose "${down[@]}"
  note "${done}"
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
  # Log text may not act on the terminal: see strip_escapes.
  if [[ -t 1 ]]; then compose logs "${args[@]}" | strip_escapes; else compose logs "${args[@]}"; fi
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

# kgop serve (it reads the options) in a one-off operator container on the host's network:
# it listens on the host's loopback only and has no address on the compose network. The URL
# it prints holds the login token: shown here, never kept by the engine's log driver.
cmd_serve() {
  SERVE_NAME="$(operator_name)-serve-$$"
  trap remove_serving EXIT
  operator_run --name "${SERVE_NAME}" --network host --log-driver none -- kgop serve --host-network "$@"
}

main() {
  local verb="${1:-}"
  (($# == 0)) || shift
  case "${verb}" in
    -h | --help | help) usage && return ;;
    --version) printf 'operator.sh for Knowledge Graph %s\n' "$(env_value KG_VERSION)" && return ;;
  esac
  require_docker
  # On a Swarm stack the compose verbs would act on containers the stack does not have.
  if [[ "${verb}" =~ ^(status|logs|restart|stop|teardown|update|start-infra)$ ]] && is_stack; then
    [[ "${verb}" =~ ^(status|logs|restart)$ ]] ||
      die 4 "${verb} is a compose verb; $(project_name) is a Swarm stack. Hint: docker stack rm $(project_name) removes it, docker service scale stops a service (docs/swarm.md)"
    checked delegate "${verb}" "$@"
    return
  fi
  case "${verb}" in
    "") if [[ -t 0 && -t 1 ]]; then then_refresh; else captured compose ps && printf '\n' && usage; fi ;;
    start-infra) diagnose && cmd_start_infra ;;
    stop) captured compose stop ;;
    teardown) diagnose && cmd_teardown "$@" ;;
    update) captured compose pull ;;
    serve) checked cmd_serve "$@" ;;
    deploy-swarm) diagnose && cmd_deploy_swarm "$@" ;;
    logs) checked cmd_logs "$@" ;;
    restart) if (($# > 0)); then captured compose restart "$@"; else die 2 "restart needs a service. Hint: ./operator.sh restart api"; fi ;;
    status) if (($# > 0)); then checked delegate status "$@"; else captured compose ps; fi ;;
    upgrade) then_refresh upgrade "$@" ;;
    admin) checked delegate configure admin "$@" ;;
    ai-provider | embedding | api-key) checked delegate configure "${verb}" "$@" ;;
    shell) ensure_operator && docker exec -it "$(operator_name)" bash ;;
    *) checked delegate "${verb}" "$@" ;;
  esac
}

# Sourced (by tests), it only defines the functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
