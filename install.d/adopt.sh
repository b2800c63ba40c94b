# shellcheck shell=bash
# install.sh --adopt DIR: take over a platform installed by the platform's own install.sh
# (standalone mode), keeping its .env, volumes, garage.toml, certificates and ports.
# Sourced by install.sh (which defines OPT, SOURCE, die, bad, say, step, image, env_tool,
# install_files, ensure_operator_image); docs/adopt.md says what is kept, what changes and
# how to go back. The platform's layout is its install.sh (download_files:1718-1799,
# generate_secrets:1811-1870, start_containers:2394-2470) and its docker/docker-compose*.yml.

# The platform's fixed container names (docker/docker-compose.yml:container_name,
# docker-compose.standalone.yml, install.sh:2439-2446 for the operator run outside compose),
# in the order they are stopped (the operator first: it serves no one, so the downtime starts
# with web and api); started again in the reverse order.
readonly ADOPT_CONTAINERS=(kg-operator kg-web kg-api knowledge-graph-garage knowledge-graph-postgres)
# What a standalone install folder holds (install.sh:1730-1797, 1842-1868).
readonly ADOPT_FILES=(.env .operator.conf docker-compose.yml docker-compose.ghcr.yml
  docker-compose.standalone.yml config/garage.toml schema/00_baseline.sql)

declare -A ADOPT=()       # facts about the install (adopt_recognise, adopt_inspect)
declare -A ADOPT_STATE=() # container → its id and state before adoption (adopt_record)
ADOPT_STOPPED=()          # the containers adoption stopped, in stop order (adopt_stop)
ADOPT_CREATED=()          # what adoption wrote into KG_HOME (adopt_files), removed on rollback

#######################################
# A KEY=VALUE file's value, the way its shell reader would see a plain assignment (no
# sourcing: the file is data here). Quotes around the whole value are taken off.
# Arguments:
#   file, key
# Outputs:
#   the value, or nothing
#######################################
adopt_conf_value() {
  local line value=""
  while IFS= read -r line || [[ -n "${line}" ]]; do
    [[ "${line}" == "$2="* ]] || continue
    value="${line#*=}"
  done <"$1"
  [[ "${value}" =~ ^\"(.*)\"$ || "${value}" =~ ^\'(.*)\'$ ]] && value="${BASH_REMATCH[1]}"
  printf '%s' "${value}"
}

#######################################
# Recognise DIR as the platform's standalone install by its files, or refuse (exit 2).
# Globals:
#   ADOPT (written)
# Arguments:
#   DIR
#######################################
adopt_recognise() {
  local dir="$1" file mode
  [[ -d "${dir}" ]] || bad "--adopt ${dir}: no such folder"
  for file in "${ADOPT_FILES[@]}"; do
    [[ -f "${dir}/${file}" ]] ||
      bad "--adopt ${dir}: not an install of the platform's install.sh (${file} is missing). Hint: give the folder holding its .env and docker-compose.yml"
  done
  mode="$(adopt_conf_value "${dir}/.operator.conf" OPERATOR_MODE)"
  [[ "${mode}" == standalone ]] ||
    bad "--adopt ${dir}: .operator.conf says OPERATOR_MODE=${mode:-(none)}, not standalone; only the platform's standalone installs can be adopted"
  # The installer rewrote ../schema/ and ../config/ (install.sh:1746-1755): an unrewritten
  # file is a git checkout's docker/ folder, which runs the dev chain, not this one.
  grep -Eq '(^|[^.])\./config/garage\.toml' "${dir}/docker-compose.yml" ||
    bad "--adopt ${dir}: docker-compose.yml does not mount ./config/garage.toml (a repository checkout?); only standalone installs can be adopted"
  ADOPT[dir]="${dir}"
  ADOPT[gpu]="$(adopt_conf_value "${dir}/.operator.conf" GPU_MODE)"
  ADOPT[ssl]="$(adopt_conf_value "${dir}/.operator.conf" SSL_MODE)"
  case "${ADOPT[gpu]:-cpu}" in
    cpu | "") ;;
    *) die 4 "--adopt ${dir}: GPU_MODE=${ADOPT[gpu]}; kgop has no GPU overlay yet, nothing was changed. Hint: docs/adopt.md (what is not adopted)" ;;
  esac
  if [[ -f "${dir}/docker-compose.ssl.yml" && "${ADOPT[ssl]:-offload}" != offload ]]; then
    die 4 "--adopt ${dir}: SSL_MODE=${ADOPT[ssl]} (docker-compose.ssl.yml); adopting its TLS front is not supported yet, nothing was changed. Hint: docs/adopt.md"
  fi
}

#######################################
# One container's facts as docker reports them.
# Arguments:
#   container, Go template
# Outputs:
#   the result, or nothing when there is no such container
#######################################
adopt_inspect_one() {
  docker container inspect --format "$2" "$1" 2>/dev/null || true
}

#######################################
# The name of the volume a container mounts at a path.
# Arguments:
#   container, mount point
# Outputs:
#   the volume's name, or nothing
#######################################
adopt_volume_at() {
  local name dest
  while read -r name dest; do
    [[ "${dest}" == "$2" ]] && printf '%s' "${name}" && return 0
  done < <(adopt_inspect_one "$1" '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{.Destination}}{{"\n"}}{{end}}{{end}}')
  return 0
}

#######################################
# Where a container publishes a port: "HOSTPORT" (every address) or "IP:HOSTPORT".
# Arguments:
#   container, port/proto
# Outputs:
#   the binding, or nothing
#######################################
adopt_publish() {
  local port ip host
  # shellcheck disable=SC2016 # a Go template, not shell
  local template='{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{$p}} {{.HostIp}} {{.HostPort}}{{"\n"}}{{end}}{{end}}'
  while read -r port ip host; do
    [[ "${port}" == "$2" ]] || continue
    if [[ -z "${host}" ]]; then # no HostIp: every address
      printf '%s' "${ip}"
    else
      printf '%s:%s' "${ip}" "${host}"
    fi
    return 0
  done < <(adopt_inspect_one "$1" "${template}")
  return 0
}

#######################################
# What the platform runs, read from Docker (never guessed): its compose project, the volumes
# at the platform's mount points, the images, the published ports, its version. Postgres's
# data is at /var/lib/postgresql: docker-compose.standalone.yml:15-18 means postgres_data
# there, but its `volumes: !reset` clears the list on compose >= 2.24, so on most hosts it is
# the anonymous volume of the image's own VOLUME /var/lib/postgresql (docs/adopt.md).
# Garage's are docker-compose.yml:107-108 (garage_data /data, garage_meta /meta).
# Globals:
#   ADOPT (written)
#######################################
adopt_inspect() {
  local pg=knowledge-graph-postgres garage=knowledge-graph-garage label
  [[ -n "$(adopt_inspect_one "${pg}" '{{.Id}}')" ]] ||
    die 1 "--adopt ${ADOPT[dir]}: there is no container ${pg}. Hint: start the platform with its ./operator.sh start first, so its volumes and images are known"
  [[ -n "$(adopt_inspect_one "${garage}" '{{.Id}}')" ]] ||
    die 1 "--adopt ${ADOPT[dir]}: there is no container ${garage}. Hint: start the platform with its ./operator.sh start first"
  ADOPT[project]="$(adopt_inspect_one "${pg}" '{{index .Config.Labels "com.docker.compose.project"}}')"
  # shellcheck disable=SC2016 # a Go template, not shell
  local networks='{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}'
  ADOPT[network]="$(adopt_inspect_one "${pg}" "${networks}")"
  ADOPT[network]="${ADOPT[network]%% *}"
  [[ -n "${ADOPT[project]}" ]] || die 1 "${pg} was not created by docker compose; kgop adopts what the platform's compose files made"
  ADOPT[vol_postgres]="$(adopt_volume_at "${pg}" /var/lib/postgresql)"
  ADOPT[vol_garage_data]="$(adopt_volume_at "${garage}" /data)"
  ADOPT[vol_garage_meta]="$(adopt_volume_at "${garage}" /meta)"
  [[ -n "${ADOPT[vol_postgres]}" ]] ||
    die 1 "${pg} mounts no volume at /var/lib/postgresql: its data is in the container itself, which kgop cannot carry over; nothing was changed. Hint: docs/adopt.md"
  [[ -n "${ADOPT[vol_garage_data]}" && -n "${ADOPT[vol_garage_meta]}" ]] ||
    die 1 "${garage} mounts no volumes at /data and /meta (config/garage.toml); kgop will not guess where the objects are"
  ADOPT[img_postgres]="$(adopt_inspect_one "${pg}" '{{.Config.Image}}')"
  ADOPT[img_garage]="$(adopt_inspect_one "${garage}" '{{.Config.Image}}')"
  ADOPT[img_api]="$(adopt_inspect_one kg-api '{{.Config.Image}}')"
  ADOPT[img_web]="$(adopt_inspect_one kg-web '{{.Config.Image}}')"
  : "${ADOPT[img_api]:=ghcr.io/aaronsb/knowledge-graph-system/kg-api:latest}"
  : "${ADOPT[img_web]:=ghcr.io/aaronsb/knowledge-graph-system/kg-web:latest}"
  ADOPT[pub_postgres]="$(adopt_publish "${pg}" 5432/tcp)"
  ADOPT[pub_s3]="$(adopt_publish "${garage}" 3900/tcp)"
  ADOPT[pub_admin]="$(adopt_publish "${garage}" 3903/tcp)"
  ADOPT[pub_api]="$(adopt_publish kg-api 8000/tcp)"
  ADOPT[pub_web]="$(adopt_publish kg-web 80/tcp)"
  label='{{index .Config.Labels "org.opencontainers.image.version"}}'
  if given version; then
    ADOPT[version]="${OPT[version]}"
  else
    ADOPT[version]="$(docker image inspect --format "${label}" "${ADOPT[img_api]}" 2>/dev/null || true)"
  fi
  [[ "${ADOPT[version]}" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] ||
    bad "--adopt: ${ADOPT[img_api]} does not say which platform version it is; give it with --version (e.g. 0.16.0)"
  ADOPT[kgop_project]="${COMPOSE_PROJECT_NAME:-${ADOPT[project]}-kgop}"
}

#######################################
# The platform's containers (the five names, and any other of its compose project), each
# with its id and whether it runs, before anything is touched.
# Globals:
#   ADOPT (read), ADOPT_STATE (written)
#######################################
adopt_record() {
  local name id state
  for name in "${ADOPT_CONTAINERS[@]}"; do
    id="$(adopt_inspect_one "${name}" '{{.Id}} {{.State.Running}}')"
    [[ -n "${id}" ]] || continue
    state="${id#* }"
    ADOPT_STATE[${name}]="${id%% *} ${state}"
  done
  while read -r name id state; do
    [[ -n "${name}" && -z "${ADOPT_STATE[${name}]:-}" ]] || continue
    [[ "${state}" == running ]] && state=true || state=false
    ADOPT_STATE[${name}]="${id} ${state}"
  done < <(docker ps -a --no-trunc --filter "label=com.docker.compose.project=${ADOPT[project]}" \
    --format '{{.Names}} {{.ID}} {{.State}}')
}

#######################################
# A published port for a kgop variable: the host port of a binding.
# Arguments:
#   binding (adopt_publish), default
#######################################
adopt_port() {
  local b="${1:-$2}"
  printf '%s' "${b##*:}"
}

#######################################
# The plan: kept, added, replaced, the expected downtime.
# Globals:
#   ADOPT, ADOPT_STATE, OPT (read)
# Outputs:
#   the plan on stdout
#######################################
adopt_plan() {
  local name running=()
  for name in "${ADOPT_CONTAINERS[@]}"; do
    [[ "${ADOPT_STATE[${name}]:-}" == *" true" ]] && running+=("${name}")
  done
  say "Adopting the platform ${ADOPT[version]} installed in ${ADOPT[dir]} (compose project ${ADOPT[project]})."
  say "Kept as it is:"
  say "  - ${ADOPT[dir]}: every file untouched (.env, .operator.conf, compose files, config/garage.toml, schema/, certs/)"
  say "  - .env: every line and value byte for byte, copied to ${OPT[dir]}/.env"
  say "  - volumes: ${ADOPT[vol_postgres]} (/var/lib/postgresql), ${ADOPT[vol_garage_meta]} (/meta), ${ADOPT[vol_garage_data]} (/data)"
  say "  - config/garage.toml mounted read-only as it is; Garage's key kg-api-key and bucket"
  say "  - images: ${ADOPT[img_postgres]}, ${ADOPT[img_garage]}, ${ADOPT[img_api]}, ${ADOPT[img_web]}"
  say "  - ports: postgres ${ADOPT[pub_postgres]:-none}, garage ${ADOPT[pub_s3]:-none}/${ADOPT[pub_admin]:-none}, api ${ADOPT[pub_api]:-8000}, web ${ADOPT[pub_web]:-3000}"
  say "  - the database: the platform's baseline and public.schema_migrations rows; no file applied twice"
  say "kgop adds:"
  say "  - ${OPT[dir]}: operator.sh, compose/, sql/ (the schema of ${ADOPT[img_api]}), backups/, logs/"
  say "  - .env lines: COMPOSE_PROJECT_NAME=${ADOPT[kgop_project]}, COMPOSE_FILE, KG_* settings, GARAGE_ADMIN_TOKEN, KG_SESSION_SECRET, KG_BACKUP_KEY"
  say "  - its bookkeeping in the schema kgop; a kgop backup of the database first, while the platform runs"
  say "kgop replaces:"
  say "  - the running containers ${running[*]:-(none are running)}: stopped, never removed (docker start brings them back)"
  say "  - by the compose project ${ADOPT[kgop_project]}: postgres, garage, ${ADOPT[kgop_project]}-operator, api, web"
  say "Expected downtime: from stopping kg-api until kgop's api is healthy (its containers starting: typically well under a minute)."
}

#######################################
# The .env directives of an adoption (kgop env apply): kgop's own values; every line of the
# platform's .env is left as it is (no directive names POSTGRES_*, ENCRYPTION_KEY, ...).
# Globals:
#   ADOPT, OPT (read)
# Outputs:
#   the directives
#######################################
adopt_env_directives() {
  local socket="/var/run/docker.sock" role var
  [[ "${DOCKER_HOST:-}" == unix://* ]] && socket="${DOCKER_HOST#unix://}"
  printf 'set COMPOSE_PROJECT_NAME=%s\n' "${ADOPT[kgop_project]}"
  printf 'set COMPOSE_FILE=compose/compose.yml:compose/compose.adopted.yml\n'
  printf 'set KG_HOME=%s\n' "${OPT[dir]}"
  printf 'set KG_VERSION=%s\n' "${ADOPT[version]}"
  printf 'set KG_ADOPTED_FROM=%s\n' "${ADOPT[dir]}"
  printf 'set KG_HOSTNAME=localhost\nset KG_SSL_MODE=none\n'
  for role in operator api web postgres garage; do
    var="KG_${role^^}_IMAGE"
    if [[ -n "${!var:-}" ]]; then
      printf 'set %s=%s\n' "${var}" "${!var}"
    elif [[ "${role}" == operator ]]; then
      printf 'set %s=%s\n' "${var}" "$(image operator)"
    else
      printf 'set %s=%s\n' "${var}" "${ADOPT[img_${role}]}"
    fi
  done
  printf 'set KG_DOCKER_SOCKET=%s\n' "${KG_DOCKER_SOCKET:-${socket}}"
  printf 'set KG_ADOPT_POSTGRES_VOLUME=%s\n' "${ADOPT[vol_postgres]}"
  printf 'set KG_ADOPT_GARAGE_META_VOLUME=%s\n' "${ADOPT[vol_garage_meta]}"
  printf 'set KG_ADOPT_GARAGE_DATA_VOLUME=%s\n' "${ADOPT[vol_garage_data]}"
  printf 'set KG_ADOPT_GARAGE_CONFIG=%s/config/garage.toml\n' "${ADOPT[dir]}"
  printf 'set KG_POSTGRES_PORT=%s\n' "$(adopt_port "${ADOPT[pub_postgres]}" 5432)"
  printf 'set KG_GARAGE_S3_PORT=%s\n' "$(adopt_port "${ADOPT[pub_s3]}" 3900)"
  printf 'set KG_GARAGE_ADMIN_PORT=%s\n' "$(adopt_port "${ADOPT[pub_admin]}" 3903)"
  printf 'set KG_API_PORT=%s\n' "$(adopt_port "${ADOPT[pub_api]}" 8000)"
  printf 'set KG_WEB_PORT=%s\n' "$(adopt_port "${ADOPT[pub_web]}" 3000)"
  printf 'set KG_ADOPT_API_PUBLISH=%s\n' "${ADOPT[pub_api]:-127.0.0.1:8000}"
  printf 'set KG_ADOPT_WEB_PUBLISH=%s\n' "${ADOPT[pub_web]:-127.0.0.1:3000}"
  printf 'set EXTERNAL_URL=http://localhost:%s\n' "$(adopt_port "${ADOPT[pub_web]}" 3000)"
  # The platform's defaults (docker-compose.yml, init-secrets.sh): kept when .env has them.
  printf 'default POSTGRES_USER=admin\ndefault POSTGRES_DB=knowledge_graph\n'
  printf 'default GARAGE_BUCKET=kg-storage\n'
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
  LOG="$(mktemp --suffix=.log "${OPT[dir]}/logs/adopt-$(date -u +%Y%m%dT%H%M%SZ)-XXXXXX")"
  exec 3>&1
  exec > >(tee -a "${LOG}") 2>&1
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
