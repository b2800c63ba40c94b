# shellcheck shell=bash
# install.sh --adopt: what the platform's install is and what adopting it means — reading
# its files and what Docker says runs (recognise, inspect, record), and the plan printed
# before anything changes. Sourced by install.d/adopt.sh; nothing here changes anything.

declare -A ADOPT=()       # facts about the install (adopt_recognise, adopt_inspect)
declare -A ADOPT_STATE=() # container → its id and state before adoption (adopt_record)

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
