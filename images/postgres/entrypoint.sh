#!/usr/bin/env bash
# First start: initdb with password authentication, create the user and database, run
# /docker-entrypoint-initdb.d/*.sql and *.sh once (where the platform's baseline goes).
set -euo pipefail
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=${POSTGRES_USER}}"
if [[ -n "${POSTGRES_PASSWORD_FILE:-}" ]]; then
  POSTGRES_PASSWORD="$(<"${POSTGRES_PASSWORD_FILE}")"
fi
if [[ ! -s "${PGDATA}/PG_VERSION" ]]; then
  if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    echo "Error: the database is uninitialized and no superuser password is set (POSTGRES_PASSWORD)" >&2
    exit 1
  fi
  pwfile="$(mktemp)"
  printf '%s' "${POSTGRES_PASSWORD}" >"${pwfile}"
  initdb -D "${PGDATA}" -U "${POSTGRES_USER}" --pwfile="${pwfile}" -E UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "${pwfile}"
  printf "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n" >>"${PGDATA}/pg_hba.conf"
  pg_ctl -D "${PGDATA}" -o "-c listen_addresses=''" -w start >/dev/null
  if [[ "${POSTGRES_DB}" != "postgres" ]]; then
    createdb -U "${POSTGRES_USER}" "${POSTGRES_DB}"
  fi
  for init in /docker-entrypoint-initdb.d/*; do
    case "${init}" in
      *.sql)
        echo "kg-postgres: running ${init}"
        psql -v ON_ERROR_STOP=1 -X -q -U "${POSTGRES_USER}" -d "${POSTGRES_DB}" -f "${init}"
        ;;
      *.sh)
        echo "kg-postgres: running ${init}"
        bash "${init}"
        ;;
      *) [[ ! -e "${init}" ]] || echo "kg-postgres: ignoring ${init}" ;;
    esac
  done
  pg_ctl -D "${PGDATA}" -m fast -w stop >/dev/null
  echo "kg-postgres: initialised ${POSTGRES_DB} for ${POSTGRES_USER}"
fi
exec postgres -D "${PGDATA}" -c listen_addresses='*'
