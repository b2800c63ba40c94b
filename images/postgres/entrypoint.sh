#!/usr/bin/env bash
# First start: initdb with password authentication, create the user and database.
set -euo pipefail
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=${POSTGRES_USER}}"
if [[ ! -s "${PGDATA}/PG_VERSION" ]]; then
  [[ -n "${POSTGRES_PASSWORD:-}" ]] || { echo "POSTGRES_PASSWORD is required" >&2; exit 1; }
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
  pg_ctl -D "${PGDATA}" -m fast -w stop >/dev/null
  echo "kg-postgres: initialised ${POSTGRES_DB} for ${POSTGRES_USER}"
fi
exec postgres -D "${PGDATA}" -c listen_addresses='*'
