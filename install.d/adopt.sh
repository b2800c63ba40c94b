# shellcheck shell=bash
# install.sh --adopt DIR: take over a platform installed by the platform's own install.sh
# (standalone mode), keeping its .env, volumes, garage.toml, certificates and ports.
# Sourced by install.sh (which defines OPT, SOURCE, die, bad, say, step, open_log, setting,
# docker_socket, image, env_tool, install_files, ensure_operator_image); docs/adopt.md says
# what is kept, what changes and how to go back. The platform's layout is its install.sh (download_files:1718-1799,
# generate_secrets:1811-1870, start_containers:2394-2470) and its docker/docker-compose*.yml.

# The platform's fixed container names (docker/docker-compose.yml:container_name,
# docker-compose.standalone.yml, install.sh:2439-2446 for the operator run outside compose),
# in the order they are stopped (the operator first: it serves no one, so the downtime starts
# with web and api); started again in the reverse order.
readonly ADOPT_CONTAINERS=(kg-operator kg-web kg-api knowledge-graph-garage knowledge-graph-postgres)
# What a standalone install folder holds (install.sh:1730-1797, 1842-1868).
readonly ADOPT_FILES=(.env .operator.conf docker-compose.yml docker-compose.ghcr.yml
  docker-compose.standalone.yml config/garage.toml schema/00_baseline.sql)

ADOPT_STOPPED=() # the containers adoption stopped, in stop order (adopt_stop)
ADOPT_CREATED=() # what adoption wrote into KG_HOME (adopt_files), removed on rollback

# shellcheck source=install.d/adopt-inspect.sh
source "${SOURCE}/install.d/adopt-inspect.sh"

#######################################
# The .env directives of an adoption (kgop env apply): kgop's own values; every line of the
# platform's .env is left as it is (no directive names POSTGRES_*, ENCRYPTION_KEY, ...).
# Globals:
#   ADOPT, OPT (read)
# Outputs:
#   the directives
#######################################
adopt_env_directives() {
  local role var
  setting COMPOSE_PROJECT_NAME "${ADOPT[kgop_project]}"
  setting COMPOSE_FILE compose/compose.yml:compose/compose.adopted.yml
  setting KG_HOME "${OPT[dir]}"
  setting KG_VERSION "${ADOPT[version]}"
  setting KG_ADOPTED_FROM "${ADOPT[dir]}"
  setting KG_HOSTNAME localhost
  setting KG_SSL_MODE none
  for role in operator api web postgres garage; do
    var="KG_${role^^}_IMAGE"
    if [[ -n "${!var:-}" ]]; then
      setting "${var}" "${!var}"
    elif [[ "${role}" == operator ]]; then
      setting "${var}" "$(image operator)"
    else
      setting "${var}" "${ADOPT[img_${role}]}"
    fi
  done
  setting KG_DOCKER_SOCKET "${KG_DOCKER_SOCKET:-$(docker_socket)}"
  setting KG_ADOPT_POSTGRES_VOLUME "${ADOPT[vol_postgres]}"
  setting KG_ADOPT_GARAGE_META_VOLUME "${ADOPT[vol_garage_meta]}"
  setting KG_ADOPT_GARAGE_DATA_VOLUME "${ADOPT[vol_garage_data]}"
  setting KG_ADOPT_GARAGE_CONFIG "${ADOPT[dir]}/config/garage.toml"
  setting KG_POSTGRES_PORT "$(adopt_port "${ADOPT[pub_postgres]}" 5432)"
  setting KG_GARAGE_S3_PORT "$(adopt_port "${ADOPT[pub_s3]}" 3900)"
  setting KG_GARAGE_ADMIN_PORT "$(adopt_port "${ADOPT[pub_admin]}" 3903)"
  setting KG_API_PORT "$(adopt_port "${ADOPT[pub_api]}" 8000)"
  setting KG_WEB_PORT "$(adopt_port "${ADOPT[pub_web]}" 3000)"
  setting KG_ADOPT_API_PUBLISH "${ADOPT[pub_api]:-127.0.0.1:8000}"
  setting KG_ADOPT_WEB_PUBLISH "${ADOPT[pub_web]:-127.0.0.1:3000}"
  setting EXTERNAL_URL "http://localhost:$(adopt_port "${ADOPT[pub_web]}" 3000)"
  # The platform's defaults (docker-compose.yml, init-secrets.sh): kept when .env has them.
  setting POSTGRES_USER admin keep
  setting POSTGRES_DB knowledge_graph keep
  setting GARAGE_BUCKET kg-storage keep
  # kgop's own secrets; the platform's are in .env already and stay as they are.
  printf 'secret GARAGE_ADMIN_TOKEN hex:32\nsecret KG_SESSION_SECRET hex:32\n'
  printf 'secret KG_BACKUP_KEY fernet\n'
}

#######################################
# KG_HOME: kgop's files, and .env as a byte-for-byte copy of the platform's (mode 0600)
# with kgop's lines added by kgop's own locked, atomic writer.
# Globals:
#   ADOPT, OPT (read), ADOPT_CREATED (written)
#######################################
adopt_files() {
  local dir="${OPT[dir]}" entry
  for entry in operator.sh compose sql nginx logs certs backups garage .env .env.lock; do
    [[ -e "${dir}/${entry}" ]] || ADOPT_CREATED+=("${dir}/${entry}")
  done
  [[ -d "${dir}" ]] || ADOPT_CREATED+=("${dir}")
  OPT[version]="${ADOPT[version]}"
  KG_API_IMAGE="${KG_API_IMAGE:-${ADOPT[img_api]}}" install_files
  cp -p "${ADOPT[dir]}/.env" "${dir}/.env"
  chmod 0600 "${dir}/.env"
  adopt_env_directives | env_tool apply
}

#######################################
# A kgop backup of the platform's database while the platform still runs (no downtime for
# it): a one-off operator container on the platform's network, KG_HOME mounted at its path,
# reaching the platform's postgres by its container name.
# Globals:
#   ADOPT, OPT (read)
# Outputs:
#   kgop's line about the backup
#######################################
adopt_backup() {
  docker run --rm --network "${ADOPT[network]}" -e "KG_HOME=${OPT[dir]}" \
    -e POSTGRES_HOST=knowledge-graph-postgres -e POSTGRES_PORT=5432 \
    -v "${OPT[dir]}:${OPT[dir]}" -w "${OPT[dir]}" "$(image operator)" kgop backup
}

#######################################
# Stop the platform's running containers (never remove them), postgres last.
# Globals:
#   ADOPT_STATE (read), ADOPT_STOPPED (written)
#######################################
adopt_stop() {
  local name
  for name in "${ADOPT_CONTAINERS[@]}" "${!ADOPT_STATE[@]}"; do
    [[ "${ADOPT_STATE[${name}]:-}" == *" true" ]] || continue
    [[ " ${ADOPT_STOPPED[*]} " == *" ${name} "* ]] && continue
    docker stop -t 30 "${ADOPT_STATE[${name}]%% *}" >/dev/null
    ADOPT_STOPPED+=("${name}")
    say "  stopped ${name}"
  done
}

#######################################
# On failure: kgop's containers and network removed (no volume: the volumes are the
# platform's), KG_HOME's new files removed (backups/ and logs/ kept), the
# platform's containers started again by id, in the reverse order they were stopped.
# Globals:
#   ADOPT_STOPPED, ADOPT_STATE, ADOPT_CREATED, OPT (read)
# Outputs:
#   what it did, on stderr
#######################################
adopt_rollback() {
  local i name path
  printf 'install.sh: adoption failed in the step "%s"; restoring the platform as it was\n' "${STEP}" >&2
  # By the label compose gives what it creates under kgop's project name, never by the
  # compose files (they might resolve to another project's).
  local -a ids
  mapfile -t ids < <(docker ps -aq --filter "label=com.docker.compose.project=${ADOPT[kgop_project]}")
  ((${#ids[@]} == 0)) || docker rm -f "${ids[@]}" >/dev/null 2>&1 || true
  mapfile -t ids < <(docker network ls -q --filter "label=com.docker.compose.project=${ADOPT[kgop_project]}")
  ((${#ids[@]} == 0)) || docker network rm "${ids[@]}" >/dev/null 2>&1 || true
  for ((i = ${#ADOPT_STOPPED[@]} - 1; i >= 0; i--)); do
    name="${ADOPT_STOPPED[i]}"
    if docker start "${ADOPT_STATE[${name}]%% *}" >/dev/null 2>&1; then
      printf '  started %s again\n' "${name}" >&2
    else
      printf '  could NOT start %s again: docker start %s\n' "${name}" "${name}" >&2
    fi
  done
  for path in "${ADOPT_CREATED[@]}"; do
    case "${path}" in
      */backups | */logs) continue ;;
      "${OPT[dir]}") continue ;; # it holds backups/ and logs/
    esac
    rm -rf -- "${path}"
  done
  printf 'install.sh: the platform runs as before; %s untouched. Kept: %s/backups, %s/logs\n' \
    "${ADOPT[dir]}" "${OPT[dir]}" "${OPT[dir]}" >&2
}

#######################################
# The ERR trap of an adoption: roll back, exit 1.
#######################################
adopt_on_error() {
  local code="$1"
  trap - ERR
  set +e
  printf 'install.sh: the step "%s" failed (exit %s); the log is %s\n' "${STEP}" "${code}" "${LOG:-not started}" >&2
  adopt_rollback
  exit 1
}

#######################################
# KG_HOME (--dir, default ~/kg) must be a folder of its own: not DIR, and neither it nor a
# folder above it may hold a compose file. compose looks for one in the working directory
# and then upwards, and where it finds one it takes that folder's .env, not KG_HOME's: in
# DIR/kgop every `docker compose` of kgop would act on the platform's project.
# Globals:
#   OPT (read)
# Arguments:
#   DIR
#######################################
adopt_check_home() {
  local home="${OPT[dir]}" probe name
  [[ "${home}" != "$1" ]] ||
    bad "--dir ${home}: that is the platform's folder; kgop keeps its files apart (e.g. --dir ${1%/*}/kg)"
  probe="${home}"
  while [[ -n "${probe}" ]]; do
    for name in compose.yaml compose.yml docker-compose.yaml docker-compose.yml; do
      [[ ! -f "${probe}/${name}" ]] ||
        bad "--dir ${home}: ${probe}/${name} is above it, and docker compose would run that project from there. Hint: a folder beside the platform's, e.g. --dir ${1%/*}/kg"
    done
    probe="${probe%/*}"
  done
}

#######################################
# --adopt DIR: recognise, plan (--dry-run stops there), then take over.
# Globals:
#   OPT, ADOPT (read and written)
# Outputs:
#   the plan and progress on stdout
#######################################
adopt_main() {
  local dir="${OPT[adopt]}"
  [[ "${dir}" == /* ]] || dir="$(pwd)/${dir}"
  dir="${dir%/}"
  adopt_recognise "${dir}"
  adopt_check_home "${dir}"
  [[ ! -f "${OPT[dir]}/.env" ]] ||
    die 4 "${OPT[dir]}/.env exists: an install is there already (adopted before?); nothing was changed. Hint: ${OPT[dir]}/operator.sh status, or another --dir"
  command -v docker >/dev/null || die 3 "docker is not installed"
  docker info >/dev/null 2>&1 || die 3 "cannot reach the Docker daemon at ${DOCKER_HOST:-unix:///var/run/docker.sock}. Hint: start Docker"
  adopt_inspect
  adopt_record
  adopt_plan
  if [[ "${OPT[dry_run]}" == 1 ]]; then
    say "--dry-run: nothing was changed."
    return 0
  fi
  ensure_operator_image
  trap 'adopt_on_error $?' ERR
  step "files"
  adopt_files
  open_log adopt
  step "backup"
  adopt_backup
  step "stop the platform's containers"
  adopt_stop
  step "infrastructure"
  shim start-infra
  step "start"
  shim start
  trap - ERR
  STEP="summary"
  say ""
  say "Adopted: the platform ${ADOPT[version]} now runs as the compose project ${ADOPT[kgop_project]}."
  say "  kgop:       ${OPT[dir]}/operator.sh   (status, logs, configure status, backup, upgrade)"
  say "  api:        port $(adopt_port "${ADOPT[pub_api]}" 8000)   web: port $(adopt_port "${ADOPT[pub_web]}" 3000)"
  say "  the platform's containers (${ADOPT_STOPPED[*]:-none}) are stopped, not removed: docs/adopt.md says how to go back"
  say "  log:        ${LOG}"
}
