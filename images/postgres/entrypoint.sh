#!/usr/bin/env bash
# The official postgres image's start-up, for an image that runs as postgres: on the first
# start (no PG_VERSION in PGDATA) initdb with password authentication, create the user's
# database, run /docker-entrypoint-initdb.d/* once on a socket-only temporary server started
# with the same server options, then exec the command (CMD: postgres -c
# shared_preload_libraries=age, as apache/age). See docs/stand-ins.md.
set -Eeuo pipefail

#######################################
# VAR or VAR_FILE (the file's content), never both; the official image's rule.
# Arguments:
#   the variable's name, its default
#######################################
file_env() {
  local var="$1" default="${2:-}"
  local file_var="${var}_FILE"
  if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
    printf 'error: both %s and %s are set (but are exclusive)\n' "${var}" "${file_var}" >&2
    exit 1
  fi
  local value="${default}"
  if [[ -n "${!var:-}" ]]; then
    value="${!var}"
  elif [[ -n "${!file_var:-}" ]]; then
    value="$(<"${!file_var}")"
  fi
  export "${var}=${value}"
  unset "${file_var}"
}

#######################################
# Run one init file as the official image does: *.sh executed (or sourced when not
# executable), *.sql and *.sql.gz through psql in POSTGRES_DB with ON_ERROR_STOP.
# Arguments:
#   the file
#######################################
run_init_file() {
  local init="$1"
  local -a psql=(psql -v ON_ERROR_STOP=1 -X -q --no-password -U "${POSTGRES_USER}" -d "${POSTGRES_DB}")
  case "${init}" in
    *.sh)
      echo "kg-postgres: running ${init}"
      if [[ -x "${init}" ]]; then
        "${init}"
      else
        # shellcheck disable=SC1090 # whatever the user mounts
        . "${init}"
      fi
      ;;
    *.sql)
      echo "kg-postgres: running ${init}"
      "${psql[@]}" -f "${init}"
      ;;
    *.sql.gz)
      echo "kg-postgres: running ${init}"
      gzip -dc "${init}" | "${psql[@]}"
      ;;
    *) [[ ! -e "${init}" ]] || echo "kg-postgres: ignoring ${init}" ;;
  esac
}

#######################################
# First start: the cluster, the database, the init scripts.
# Arguments:
#   the server's options (the command after "postgres")
#######################################
initialise() {
  if [[ -z "${POSTGRES_PASSWORD}" ]]; then
    # The first line is the official image's own, so that logs read the same.
    {
      echo "Error: Database is uninitialized and superuser password is not specified."
      echo "       Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value."
    } >&2
    exit 1
  fi
  local pwfile
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD}" >"${pwfile}"
  initdb -D "${PGDATA}" -U "${POSTGRES_USER}" --pwfile="${pwfile}" -E UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "${pwfile}"
  printf 'host all all all scram-sha-256\n' >>"${PGDATA}/pg_hba.conf"
  # Socket only while the init scripts run: nothing outside sees a half-made database.
  local options
  options="$(printf '%q ' "$@" -c "listen_addresses=" -p "${PGPORT:-5432}")"
  pg_ctl -D "${PGDATA}" -o "${options}" -w start >/dev/null
  if [[ "${POSTGRES_DB}" != "postgres" ]]; then
    createdb -U "${POSTGRES_USER}" "${POSTGRES_DB}"
  fi
  local init
  for init in /docker-entrypoint-initdb.d/*; do
    run_init_file "${init}"
  done
  pg_ctl -D "${PGDATA}" -m fast -w stop >/dev/null
  echo "kg-postgres: initialised ${POSTGRES_DB} for ${POSTGRES_USER}; ready for start up"
}

main() {
  # Options alone are the server's, as in the official image.
  if [[ "${1:-}" == -* ]]; then
    set -- postgres "$@"
  fi
  if [[ "${1:-}" == postgres ]]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "${POSTGRES_USER}"
    if [[ -s "${PGDATA}/PG_VERSION" ]]; then
      echo "kg-postgres: ${PGDATA} holds a database; initialisation skipped"
    else
      initialise "${@:2}"
    fi
  fi
  exec "$@"
}

main "$@"
