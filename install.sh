#!/usr/bin/env bash
# install.sh — guided bootstrap of the self-hosted Knowledge Graph platform.
#
# Interactive on a terminal when answers are missing; fully driven by flags otherwise.
# Every flag is validated before anything is checked or changed. A re-run keeps every
# secret already in .env and every line of it the script does not own, byte for byte; a
# re-run at another version than the installed one is refused (that is an upgrade).
# .env is read and written by kgop, in an operator container, never parsed here.
# Exit codes: 0 ok, 1 failed, 2 bad input, 3 Docker unreachable, 4 refused for safety.
# Needs bash >= 4 and docker with compose v2.
#
# The body is one function, main, called on the last line: a half-downloaded script never
# runs.

set -Eeuo pipefail

# ---- constants ------------------------------------------------------------------------------

readonly MIN_FREE_KB=$((2 * 1024 * 1024))
readonly MIN_MEMORY_KB=$((1024 * 1024))
readonly ACME_DIRECTORY="https://acme-v02.api.letsencrypt.org/directory"
# Strict character sets for what ends up in generated files and commands.
readonly EMAIL_PATTERN='^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$'
readonly UNSAFE_PATH_CHARS=$'["$`;\n\\]'

# ---- globals: every one the script has, set by the steps named --------------------------------

declare -A OPT=(
  [dir]="${HOME}/kg" [source]="" [source_sha256]="" [version]="" [hostname]="" [ssl]="" [ssl_cert]=""
  [ssl_key]="" [ssl_email]="" [admin_user]="" [admin_password_file]="" [ai_provider]=""
  [ai_model]="" [ai_key_file]="" [embedding]="" [macvlan_parent]="" [macvlan_subnet]=""
  [macvlan_gateway]="" [macvlan_ip]="" [adopt]="" [demo]=0 [dry_run]=0 [yes]=0
)                       # options (parse_args, interview); validated by validate
GIVEN=" "               # options given as flags or answers (parse_args, ask)
SOURCE=""               # where operator.sh, compose/ and sql/ come from (resolve_source)
KGOP_VERSION=""         # kgop's own version (the source's VERSION): the operator image's tag
RERUN=0                 # 1 when KG_HOME already has a .env (preflight)
declare -A OLD=()       # the existing .env's values that are not secrets (read_old_env)
STEP="validation"       # the step running, named when it fails (step, on_error)
LOG=""                  # the install log (main)
ADMIN_PASSWORD_SHOWN="" # a generated admin password, shown once (configure_platform)

#######################################
# The help text.
# Outputs:
#   the text on stdout
#######################################
usage() {
  cat <<'TEXT'
Usage: install.sh [OPTIONS]

  --dir DIR                 install directory, KG_HOME (default: ~/kg)
  --source DIR|URL          where operator.sh, compose/ and sql/ come from
                            (default: the folder holding install.sh); a URL is a .tar.gz
                            over https, and needs --source-sha256
  --source-sha256 HEX       the SHA-256 of the --source archive
  --version V               platform version to pin, semver (default: the newest release
                            of the source's manifest); a re-run must keep the installed one
                            (upgrades are operator.sh upgrade); V's schema comes from V's api
                            image (/app/schema)
  --hostname H              DNS name or IP address users reach the platform at (localhost)
  --ssl MODE                none | self-signed | manual | letsencrypt (default: none)
  --ssl-cert F --ssl-key F  certificate and key for --ssl manual
  --ssl-email E             contact address for --ssl letsencrypt
  --admin-user U            admin username (default: admin)
  --admin-password-file F   admin password; without it one is generated and shown once
  --ai-provider P           openai | anthropic | ollama | openrouter | llamacpp
  --ai-model M              model for the provider
  --ai-key-file F           the provider's API key
  --embedding PROFILE       embedding profile to activate: its id or its name
                            (`kgop configure embedding` lists them, e.g. 2 or "OpenAI Small")
  --macvlan-parent IF --macvlan-subnet CIDR --macvlan-gateway IP --macvlan-ip IP
                            a static LAN address for web (all four or none)
  --demo                    use the reference api/web images, built from the source
  --dry-run                 print the plan and change nothing
  --adopt DIR               take over a platform installed by its own install.sh in DIR
                            (standalone): its .env, volumes, garage.toml and ports kept; kgop's
                            files in --dir (default ~/kg, beside DIR); docs/adopt.md
  -y, --yes, --non-interactive   never ask; use defaults for what is not given
  -h, --help                this help
TEXT
}

# ---- small helpers ------------------------------------------------------------------------

#######################################
# Stop with a one-line error.
# Arguments:
#   exit code, message words
# Outputs:
#   the message on stderr; exits
#######################################
die() {
  local code="$1"
  shift
  printf 'install.sh: %s\n' "$*" >&2
  exit "${code}"
}
bad() { die 2 "$*"; }
say() { printf '%s\n' "$*"; }
is_tty() { [[ -t 0 && -t 1 ]]; }

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
fernet_key() { head -c 32 /dev/urandom | base64 | tr '+/' '-_'; }

#######################################
# Whether the argument is a dotted IPv4 address.
# Arguments:
#   address
# Outputs:
#   status 0 when it is
#######################################
valid_ipv4() {
  local ip="$1" part
  local -a parts
  [[ "${ip}" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  IFS=. read -r -a parts <<<"${ip}"
  for part in "${parts[@]}"; do ((10#${part} <= 255)) || return 1; done
}
#######################################
# Whether the argument is a DNS name or an IPv4/IPv6 address.
# Arguments:
#   name
# Outputs:
#   status 0 when it is
#######################################
valid_hostname() {
  local h="$1"
  valid_ipv4 "${h}" && return 0
  [[ "${h}" =~ ^[0-9a-fA-F:]+$ && "${h}" == *:*:* ]] && return 0
  ((${#h} <= 253)) || return 1
  [[ "${h}" =~ ^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$ ]]
}

# ---- options ------------------------------------------------------------------------------

#######################################
# Read the flags into OPT; an unknown flag or a missing value is exit 2.
# Globals:
#   OPT, GIVEN (written)
# Arguments:
#   the command line
#######################################
parse_args() {
  local flag key
  while (($#)); do
    flag="$1"
    case "${flag}" in
      -h | --help)
        usage
        exit 0
        ;;
      -y | --yes | --non-interactive) OPT[yes]=1 ;;
      --demo) OPT[demo]=1 ;;
      --dry-run) OPT[dry_run]=1 ;;
      --adopt | --dir | --source | --source-sha256 | --version | --hostname | --ssl | --ssl-cert | --ssl-key | --ssl-email | \
        --admin-user | --admin-password-file | --ai-provider | --ai-model | --ai-key-file | \
        --embedding | --macvlan-parent | --macvlan-subnet | --macvlan-gateway | --macvlan-ip)
        [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || bad "${flag} needs a value (see --help)"
        key="${flag#--}"
        key="${key//-/_}"
        OPT[${key}]="$2"
        GIVEN+="${key} "
        shift
        ;;
      *) bad "unknown option ${flag} (see --help)" ;;
    esac
    shift
  done
}

given() { [[ "${GIVEN}" == *" $1 "* ]]; }

#######################################
# Exit 2 unless a flag's file exists and can be read.
# Arguments:
#   flag, path
#######################################
readable_file() {
  [[ -f "$2" && -r "$2" ]] || bad "$1 $2: no such readable file"
}

#######################################
# Check every option before anything is looked at or changed (exit 2).
# Globals:
#   OPT (read)
#######################################
validate() {
  local v
  [[ "${OPT[dir]}" == /* || "${OPT[dir]}" == ~* || "${OPT[dir]}" == .* || "${OPT[dir]}" =~ ^[A-Za-z0-9_] ]] ||
    bad "--dir ${OPT[dir]}: not a usable path"
  [[ ! "${OPT[dir]}" =~ ${UNSAFE_PATH_CHARS} ]] ||
    bad "--dir: the path may not hold a quote, \$, backtick, ';', backslash or newline"
  if [[ "${OPT[source]}" =~ ^[A-Za-z][A-Za-z0-9+.-]*:// ]]; then
    [[ "${OPT[source]}" == https://* ]] || bad "--source ${OPT[source]}: only https:// URLs (or a folder)"
    [[ "${OPT[source_sha256]}" =~ ^[0-9a-fA-F]{64}$ ]] ||
      bad "--source ${OPT[source]}: a URL needs --source-sha256 with the archive's SHA-256 (64 hex digits)"
  elif [[ -n "${OPT[source_sha256]}" ]]; then
    bad "--source-sha256 goes with an https --source URL"
  fi
  [[ -z "${OPT[version]}" || "${OPT[version]}" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
    bad "--version ${OPT[version]}: not a semantic version like 0.17.1"
  [[ -z "${OPT[hostname]}" ]] || valid_hostname "${OPT[hostname]}" ||
    bad "--hostname ${OPT[hostname]}: not a valid DNS name or IP address"
  case "${OPT[ssl]}" in
    "" | none | self-signed | manual | letsencrypt) ;;
    *) bad "--ssl ${OPT[ssl]}: use none, self-signed, manual or letsencrypt" ;;
  esac
  if [[ "${OPT[ssl]}" == manual ]]; then
    [[ -n "${OPT[ssl_cert]}" && -n "${OPT[ssl_key]}" ]] || bad "--ssl manual needs --ssl-cert and --ssl-key"
    readable_file --ssl-cert "${OPT[ssl_cert]}"
    readable_file --ssl-key "${OPT[ssl_key]}"
  elif [[ -n "${OPT[ssl_cert]}${OPT[ssl_key]}" ]]; then
    bad "--ssl-cert and --ssl-key go with --ssl manual"
  fi
  if [[ "${OPT[ssl]}" == letsencrypt ]]; then
    [[ "${OPT[ssl_email]}" =~ ${EMAIL_PATTERN} ]] ||
      bad "--ssl letsencrypt needs --ssl-email with a valid address"
    if [[ "${OPT[hostname]}" == localhost || -z "${OPT[hostname]}" ]] || valid_ipv4 "${OPT[hostname]}"; then
      bad "--ssl letsencrypt needs --hostname with a public DNS name"
    fi
  elif [[ -n "${OPT[ssl_email]}" ]]; then
    [[ "${OPT[ssl_email]}" =~ ${EMAIL_PATTERN} ]] ||
      bad "--ssl-email ${OPT[ssl_email]}: not an e-mail address"
  fi
  [[ -z "${OPT[admin_user]}" || "${OPT[admin_user]}" =~ ^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$ ]] ||
    bad "--admin-user ${OPT[admin_user]}: use letters, digits, . _ - @ (at most 64)"
  if [[ -n "${OPT[admin_password_file]}" ]]; then
    readable_file --admin-password-file "${OPT[admin_password_file]}"
    v="$(head -n 1 "${OPT[admin_password_file]}")"
    ((${#v} >= 12)) || bad "--admin-password-file: the password has fewer than 12 characters"
    [[ "${v,,}" != "${OPT[admin_user]:-admin}" ]] || bad "--admin-password-file: the password is the username"
  fi
  case "${OPT[ai_provider]}" in
    "" | openai | anthropic | ollama | openrouter | llamacpp) ;;
    *) bad "--ai-provider ${OPT[ai_provider]}: use openai, anthropic, ollama, openrouter or llamacpp" ;;
  esac
  [[ -z "${OPT[ai_model]}" || -n "${OPT[ai_provider]}" ]] || bad "--ai-model needs --ai-provider"
  [[ -z "${OPT[ai_model]}" || "${OPT[ai_model]}" =~ ^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$ ]] ||
    bad "--ai-model ${OPT[ai_model]}: not a model name"
  if [[ -n "${OPT[ai_key_file]}" ]]; then
    [[ -n "${OPT[ai_provider]}" ]] || bad "--ai-key-file needs --ai-provider"
    readable_file --ai-key-file "${OPT[ai_key_file]}"
  fi
  [[ -z "${OPT[embedding]}" || "${OPT[embedding]}" =~ ^[A-Za-z0-9][A-Za-z0-9\ ._()-]{0,99}$ ]] ||
    bad "--embedding ${OPT[embedding]}: not a profile id or name"
  validate_macvlan
}

#######################################
# The four macvlan flags: all or none, each well formed (exit 2).
# Globals:
#   OPT (read)
#######################################
validate_macvlan() {
  local count=0 k
  for k in macvlan_parent macvlan_subnet macvlan_gateway macvlan_ip; do
    [[ -n "${OPT[${k}]}" ]] && count=$((count + 1))
  done
  ((count == 0)) && return 0
  ((count == 4)) || bad "--macvlan-parent, --macvlan-subnet, --macvlan-gateway and --macvlan-ip go together (all or none)"
  [[ "${OPT[macvlan_parent]}" =~ ^[A-Za-z0-9_.:-]{1,15}$ ]] || bad "--macvlan-parent ${OPT[macvlan_parent]}: not an interface name"
  local bits="${OPT[macvlan_subnet]#*/}"
  if [[ "${OPT[macvlan_subnet]}" != */* || ! "${bits}" =~ ^[0-9]+$ ]] || ((bits > 32)) ||
    ! valid_ipv4 "${OPT[macvlan_subnet]%/*}"; then
    bad "--macvlan-subnet ${OPT[macvlan_subnet]}: not an IPv4 CIDR like 192.168.1.0/24"
  fi
  valid_ipv4 "${OPT[macvlan_gateway]}" || bad "--macvlan-gateway ${OPT[macvlan_gateway]}: not an IPv4 address"
  valid_ipv4 "${OPT[macvlan_ip]}" || bad "--macvlan-ip ${OPT[macvlan_ip]}: not an IPv4 address"
}

# ---- questions (terminal only) ------------------------------------------------------------

#######################################
# Ask for one option on the terminal unless it was given.
# Globals:
#   OPT, GIVEN (written)
# Arguments:
#   key, question, default
# Outputs:
#   the question on stdout
#######################################
ask() {
  local key="$1" question="$2" default="$3" answer
  given "${key}" && return 0
  read -r -p "${question} [${default}]: " answer </dev/tty
  OPT[${key}]="${answer:-${default}}"
  GIVEN+="${key} "
}

#######################################
# The guided questions, on a terminal without --yes; validated again after.
# Globals:
#   OPT (read, written)
# Outputs:
#   questions on stdout
#######################################
interview() {
  ((OPT[yes] == 0)) && is_tty || return 0
  say "Knowledge Graph platform — guided install (Enter keeps the default)."
  ask dir "Install directory" "${OPT[dir]}"
  ask hostname "Hostname users reach the platform at" "localhost"
  ask ssl "TLS: none, self-signed, manual or letsencrypt" "none"
  if [[ "${OPT[ssl]}" == manual ]]; then
    ask ssl_cert "Certificate file (PEM)" ""
    ask ssl_key "Key file (PEM)" ""
  elif [[ "${OPT[ssl]}" == letsencrypt ]]; then
    ask ssl_email "Contact e-mail for Let's Encrypt" ""
  fi
  ask admin_user "Admin username" "admin"
  ask ai_provider "AI provider (openai, anthropic, ollama, openrouter, llamacpp; empty: later)" ""
  if [[ -n "${OPT[ai_provider]}" ]]; then
    ask ai_model "Model (empty: the provider's default)" ""
    ask ai_key_file "File holding the API key (empty: later)" ""
  fi
  validate
}

# ---- source, preflight --------------------------------------------------------------------

#######################################
# Find (or download and unpack) the source folder; the version from it.
# Globals:
#   OPT (read, written), SOURCE (written)
#######################################
resolve_source() {
  local src="${OPT[source]}"
  if [[ -z "${src}" ]]; then
    src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  elif [[ "${src}" == https://* ]]; then
    command -v curl >/dev/null || bad "--source ${src}: downloading needs curl; give a folder instead"
    SOURCE="$(mktemp -d)"
    curl -fsSL --proto '=https' --tlsv1.2 -o "${SOURCE}/source.tar.gz" "${src}" ||
      die 1 "--source ${src}: could not download it"
    local sum
    sum="$(sha256sum "${SOURCE}/source.tar.gz" | cut -d ' ' -f 1)"
    [[ "${sum}" == "${OPT[source_sha256],,}" ]] ||
      die 4 "--source ${src}: its SHA-256 is ${sum}, not the --source-sha256 given; nothing was installed"
    mkdir "${SOURCE}/tree"
    tar -xzf "${SOURCE}/source.tar.gz" -C "${SOURCE}/tree" --strip-components=1 --no-same-owner ||
      die 1 "--source ${src}: could not unpack it"
    src="${SOURCE}/tree"
  fi
  [[ -f "${src}/operator.sh" && -f "${src}/compose/compose.yml" ]] ||
    bad "--source ${src}: no operator.sh and compose/compose.yml there"
  SOURCE="$(cd "${src}" && pwd)"
  [[ -d "${SOURCE}/sql/migrations" || -d "${SOURCE}/kgop_tui/sql/migrations" ]] ||
    bad "--source ${src}: no sql/migrations there"
  [[ -f "${SOURCE}/VERSION" ]] || bad "--source ${src}: no VERSION file (kgop's version) there"
  KGOP_VERSION="$(head -n 1 "${SOURCE}/VERSION")"
  if [[ -z "${OPT[version]}" ]]; then
    OPT[version]="$(newest_release)"
    [[ -n "${OPT[version]}" ]] || bad "--version is needed: ${SOURCE} has no release manifest"
  fi
}

#######################################
# The newest platform release in the source's manifest (kgop_tui/releases.toml, oldest first).
# Globals:
#   SOURCE (read)
# Outputs:
#   the version, or nothing
#######################################
newest_release() {
  local manifest="${SOURCE}/kgop_tui/releases.toml"
  [[ -f "${manifest}" ]] || manifest="${SOURCE}/releases.toml"
  [[ -f "${manifest}" ]] || return 0
  sed -n 's/^version = "\([^"]*\)"$/\1/p' "${manifest}" | tail -n 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

#######################################
# Check the host without changing it: bash, docker, compose, disk, memory, ports.
# Globals:
#   OPT (read), RERUN (written)
#######################################
preflight() {
  local free_kb mem_kb line port
  ((BASH_VERSINFO[0] >= 4)) || die 1 "bash 4 or newer is needed (this is ${BASH_VERSION})"
  command -v docker >/dev/null || die 3 "docker is not installed. Hint: install Docker Engine with the compose plugin"
  docker info >/dev/null 2>&1 || die 3 "cannot reach the Docker daemon at ${DOCKER_HOST:-unix:///var/run/docker.sock}. Hint: start Docker, or check you may use its socket"
  docker compose version >/dev/null 2>&1 || die 3 "docker compose v2 is missing. Hint: install the docker-compose-plugin package"
  local probe="${OPT[dir]}"
  while [[ ! -d "${probe}" ]]; do probe="$(dirname "${probe}")"; done
  free_kb="$(df -Pk "${probe}" | tail -n 1 | tr -s ' ' | cut -d ' ' -f 4)"
  ((free_kb > MIN_FREE_KB)) || die 1 "less than 2 GB free under ${probe}"
  mem_kb=0
  while read -r line; do
    [[ "${line}" == MemAvailable:* ]] && mem_kb="$(tr -dc 0-9 <<<"${line}")"
  done </proc/meminfo
  ((mem_kb == 0 || mem_kb > MIN_MEMORY_KB)) || die 1 "less than 1 GB of memory available"
  if [[ -f "${OPT[dir]}/.env" ]]; then
    RERUN=1
  else
    for port in "${KG_POSTGRES_PORT:-5432}" "${KG_API_PORT:-8000}" "${KG_WEB_PORT:-3000}" \
      "${KG_GARAGE_S3_PORT:-3900}" "${KG_GARAGE_ADMIN_PORT:-3903}"; do
      port_in_use "${port}" && die 4 "port ${port} on 127.0.0.1 is already in use. Hint: free it, or set its KG_*_PORT variable"
    done
  fi
  return 0
}

# ---- images -------------------------------------------------------------------------------

#######################################
# The default image of a role, read from the compose files of the source: compose.yml and
# its overlays are the one place the defaults are written.
# Globals:
#   SOURCE, OPT (read)
# Arguments:
#   role (postgres, garage, nginx, operator, api, web)
# Outputs:
#   the image reference, at --version when compose tags it with KG_VERSION, under
#   KG_REGISTRY when compose prefixes it with that
#######################################
default_image() {
  local role="$1" file line
  local pattern='\$\{KG_'"${role^^}"'_IMAGE:-(\$\{KG_REGISTRY:-([^}]*)\})?([^$}]*)(\$\{KG_VERSION)?'
  for file in "${SOURCE}"/compose/compose*.yml; do
    while IFS= read -r line; do
      if [[ "${line}" =~ ${pattern} ]]; then
        # KG_REGISTRY, when set, is the one prefix of the platform's own images.
        [[ -z "${BASH_REMATCH[1]}" ]] || printf '%s' "${KG_REGISTRY:-${BASH_REMATCH[2]}}"
        printf '%s' "${BASH_REMATCH[3]}"
        [[ -z "${BASH_REMATCH[4]}" ]] || printf '%s' "${OPT[version]}"
        return 0
      fi
    done <"${file}"
  done
  die 1 "no default image for ${role} in ${SOURCE}/compose"
}

#######################################
# The image of a role: KG_<ROLE>_IMAGE, the demo build, else compose's default.
# Globals:
#   OPT (read)
# Arguments:
#   role
# Outputs:
#   the image reference
#######################################
image() {
  local role="$1" var="KG_${1^^}_IMAGE"
  if [[ -n "${!var:-}" ]]; then
    printf '%s' "${!var}"
  elif ((OPT[demo])) && [[ "${role}" == operator ]]; then
    printf 'kg-operator:%s' "${KGOP_VERSION}" # kgop's own version, not the platform's
  elif ((OPT[demo])) && [[ "${role}" == api || "${role}" == web ]]; then
    # A tag of its own: kg-api:VERSION may be the platform's own image built here
    # (scripts/platform-images.sh), which does not run on the demo's schema.
    printf 'kg-%s:%s-demo' "${role}" "${OPT[version]}"
  else
    default_image "${role}"
  fi
}

#######################################
# With --demo, build the reference api/web and the operator when missing.
# Globals:
#   OPT, SOURCE (read)
# Outputs:
#   progress on stdout
#######################################
ensure_demo_images() {
  ((OPT[demo])) || return 0
  local role base="${KG_BASE_IMAGE:-debian:bookworm-slim}"
  for role in api web; do
    docker image inspect "$(image "${role}")" >/dev/null 2>&1 && continue
    say "Building the reference ${role} image..."
    docker build -q -t "$(image "${role}")" --build-arg "KG_ROLE=${role}" \
      --build-arg "KG_VERSION=${OPT[version]}" --build-arg "BASE_IMAGE=${base}" \
      "${SOURCE}/images/reference" >/dev/null
  done
}

#######################################
# The operator image, which reads and writes .env: built with --demo when missing, else
# pulled (a missing image is exit 3 with the reference named).
# Globals:
#   OPT, SOURCE (read)
# Outputs:
#   progress on stdout
#######################################
ensure_operator_image() {
  docker image inspect "$(image operator)" >/dev/null 2>&1 && return 0
  if ((OPT[demo])); then
    say "Building the operator image..."
    docker build -q -t "$(image operator)" --build-arg "KG_VERSION=${KGOP_VERSION}" "${SOURCE}" >/dev/null
  else
    docker pull -q "$(image operator)" >/dev/null ||
      die 3 "cannot pull $(image operator). Hint: check the registry is reachable, or set KG_OPERATOR_IMAGE"
  fi
}

#######################################
# Run a command in a throwaway operator container, with the folders of its path arguments mounted.
# Arguments:
#   the command
# Outputs:
#   its output
#######################################
in_operator() {
  local -a mounts=()
  local -A seen=()
  local path dir
  for path in "$@"; do
    [[ "${path}" == /* ]] || continue
    dir="$(dirname "${path}")"
    [[ -d "${dir}" && -z "${seen[${dir}]:-}" ]] || continue
    seen[${dir}]=1
    mounts+=(-v "${dir}:${dir}")
  done
  docker run --rm --network none --user "$(id -u):$(id -g)" "${mounts[@]}" "$(image operator)" "$@"
}

#######################################
# kgop env ACTION (kgop's reader and atomic writer of .env) in an operator container.
# Globals:
#   OPT (read)
# Arguments:
#   action (get or apply)
# Outputs:
#   its output; stdin passed through
#######################################
env_tool() {
  docker run --rm -i --network none --user "$(id -u):$(id -g)" -v "${OPT[dir]}:${OPT[dir]}" \
    "$(image operator)" kgop --home "${OPT[dir]}" env "$@"
}

# ---- .env ---------------------------------------------------------------------------------

#######################################
# The existing .env's values that are not secrets, into OLD (read by kgop, not here).
# Globals:
#   OPT (read), OLD (written)
#######################################
read_old_env() {
  [[ -f "${OPT[dir]}/.env" ]] || return 0
  local values err entry
  values="$(mktemp)"
  if ! err="$(env_tool get 2>&1 >"${values}")"; then
    rm -f "${values}"
    [[ "${err}" == kgop:* ]] || die 1 "cannot read ${OPT[dir]}/.env with $(image operator): ${err##*$'\n'}"
    die 2 "the existing ${OPT[dir]}/.env: ${err#kgop: }"
  fi
  while IFS= read -r -d '' entry; do
    OLD[${entry%%=*}]="${entry#*=}"
  done <"${values}"
  rm -f "${values}"
  given hostname || OPT[hostname]="${OLD[KG_HOSTNAME]:-${OPT[hostname]}}"
  given ssl_email || OPT[ssl_email]="${OLD[KG_SSL_EMAIL]:-${OPT[ssl_email]}}"
}

#######################################
# On a re-run, the version must be the installed one: another is an upgrade (exit 4).
# Globals:
#   OPT, OLD (read)
#######################################
check_version() {
  local installed="${OLD[KG_VERSION]:-}"
  [[ -n "${installed}" && "${OPT[version]}" != "${installed}" ]] || return 0
  die 4 "${OPT[dir]} runs version ${installed}, not ${OPT[version]}; nothing was changed. Hint: ${OPT[dir]}/operator.sh upgrade --to ${OPT[version]} (backup, health gate, rollback), or re-run with --version ${installed}"
}

#######################################
# COMPOSE_FILE for the chosen TLS mode and macvlan.
# Globals:
#   OPT, OLD (read)
# Outputs:
#   the colon-separated list
#######################################
compose_files() {
  local files="compose/compose.yml"
  local tls=0
  [[ "$(ssl_mode)" != none ]] && tls=1 && files+=":compose/compose.ssl.yml"
  # On the LAN address sits the TLS front when there is one, else web (docs/macvlan.md).
  if [[ -n "${OPT[macvlan_parent]}" ]]; then
    if ((tls)); then files+=":compose/compose.macvlan-tls.yml"; else files+=":compose/compose.macvlan.yml"; fi
  fi
  printf '%s' "${files}"
}

ssl_mode() { printf '%s' "${OPT[ssl]:-${OLD[KG_SSL_MODE]:-none}}"; }

#######################################
# Where users reach web (scheme, host, port): the platform's EXTERNAL_URL (its
# operator/lib/headless-init.sh derives it the same way), from which compose gives web its
# OAuth redirect URI (EXTERNAL_URL/callback). With TLS the front's HTTPS port; on a macvlan
# address without TLS, web's own port 80; else web's loopback port.
# Globals:
#   OPT, OLD (read)
# Outputs:
#   the URL
#######################################
external_url() {
  local host="${OPT[hostname]:-localhost}" port
  [[ "${host}" != *:* ]] || host="[${host}]" # an IPv6 address
  if [[ "$(ssl_mode)" != none ]]; then
    port="${KG_HTTPS_PORT:-${OLD[KG_HTTPS_PORT]:-443}}"
    [[ "${port}" == 443 ]] && port="" || port=":${port}"
    printf 'https://%s%s' "${host}" "${port}"
  elif [[ -n "${OPT[macvlan_parent]:-${OLD[KG_MACVLAN_PARENT]:-}}" ]]; then
    [[ "${OPT[hostname]:-localhost}" != localhost ]] ||
      host="${OPT[macvlan_ip]:-${OLD[KG_MACVLAN_IP]:-localhost}}"
    printf 'http://%s' "${host}"
  else
    printf 'http://%s:%s' "${host}" "${KG_WEB_PORT:-${OLD[KG_WEB_PORT]:-3000}}"
  fi
}

#######################################
# The Docker engine's socket on this host: DOCKER_HOST's when it names one, else the default.
# Outputs:
#   the path
#######################################
docker_socket() {
  local socket="/var/run/docker.sock"
  [[ "${DOCKER_HOST:-}" != unix://* ]] || socket="${DOCKER_HOST#unix://}"
  printf '%s' "${socket}"
}

#######################################
# A directive for a setting: a flag given now wins, else the existing value, else the default.
# Arguments:
#   key, value, flag name (empty: the value always wins)
# Outputs:
#   the directive
#######################################
setting() {
  local key="$1" value="$2" flag="${3-}"
  if [[ $# -lt 3 ]] || given "${flag}"; then
    printf 'set %s=%s\n' "${key}" "${value}"
  elif [[ -n "${value}" ]]; then
    printf 'default %s=%s\n' "${key}" "${value}"
  fi
}

#######################################
# The directives that make .env (see `kgop env --help`): what install.sh owns. Secrets are
# generated by kgop when missing, never here; every other line stays as it is.
# Globals:
#   OPT, OLD (read)
# Outputs:
#   the directives
#######################################
env_directives() {
  local role var
  printf 'header Knowledge Graph platform — written by install.sh; a re-run keeps every line it does not own.\n'
  printf 'header Mode 0600: this file holds the keys to the data. Back it up somewhere safe.\n'
  if [[ -n "${COMPOSE_PROJECT_NAME:-}" ]]; then
    setting COMPOSE_PROJECT_NAME "${COMPOSE_PROJECT_NAME}"
  else
    setting COMPOSE_PROJECT_NAME kg keep
  fi
  if given ssl || [[ -n "${OPT[macvlan_parent]}" ]]; then
    setting COMPOSE_FILE "$(compose_files)"
  else
    setting COMPOSE_FILE "$(compose_files)" keep
  fi
  setting KG_HOME "${OPT[dir]}"
  setting KG_VERSION "${OPT[version]}"
  [[ -z "${KG_REGISTRY:-}" ]] || setting KG_REGISTRY "${KG_REGISTRY}"
  setting KG_HOSTNAME "${OPT[hostname]:-localhost}" hostname
  setting KG_SSL_MODE "$(ssl_mode)" ssl
  [[ -z "${OPT[ssl_email]}" ]] || setting KG_SSL_EMAIL "${OPT[ssl_email]}" # for `kgop recert`
  for role in operator api web postgres garage nginx; do
    var="KG_${role^^}_IMAGE"
    # A pin moves only when asked to (KG_<ROLE>_IMAGE, --demo); upgrades move the rest.
    if [[ -n "${!var:-}" ]] || { ((OPT[demo])) && [[ "${role}" =~ ^(operator|api|web)$ ]]; }; then
      setting "${var}" "$(image "${role}")"
    else
      setting "${var}" "$(image "${role}")" keep
    fi
  done
  if [[ -n "${KG_DOCKER_SOCKET:-}" ]]; then
    setting KG_DOCKER_SOCKET "${KG_DOCKER_SOCKET}"
  else
    setting KG_DOCKER_SOCKET "$(docker_socket)" keep
  fi
  for role in POSTGRES API WEB GARAGE_S3 GARAGE_ADMIN HTTP HTTPS; do
    var="KG_${role}_PORT"
    [[ -z "${!var:-}" ]] || setting "${var}" "${!var}"
  done
  if [[ -n "${OPT[macvlan_parent]}" ]]; then
    setting KG_MACVLAN_PARENT "${OPT[macvlan_parent]}"
    setting KG_MACVLAN_SUBNET "${OPT[macvlan_subnet]}"
    setting KG_MACVLAN_GATEWAY "${OPT[macvlan_gateway]}"
    setting KG_MACVLAN_IP "${OPT[macvlan_ip]}"
  fi
  # The platform's names and defaults (its docker/docker-compose.yml, .env.example); an
  # install that has them keeps its own (earlier installs: POSTGRES_USER=kg).
  setting POSTGRES_USER admin keep
  setting POSTGRES_DB knowledge_graph keep
  # Earlier installs created the bucket knowledge-graph: a re-run keeps them on it.
  if ((RERUN)); then
    setting GARAGE_BUCKET knowledge-graph keep
  else
    setting GARAGE_BUCKET kg-storage keep
  fi
  if given hostname || given ssl || [[ -n "${OPT[macvlan_parent]}" ]]; then
    setting EXTERNAL_URL "$(external_url)"
  else
    setting EXTERNAL_URL "$(external_url)" keep
  fi
  printf 'secret POSTGRES_PASSWORD hex:24\nsecret ENCRYPTION_KEY fernet\n'
  # What the platform's api needs besides (its operator/lib/init-secrets.sh:266-332): the
  # key that signs its OAuth tokens (32 random bytes, hex) and the token that lets its
  # services read the stored keys (32 random bytes, urlsafe base64: a Fernet key's format).
  printf 'secret OAUTH_SIGNING_KEY hex:32\nsecret INTERNAL_KEY_SERVICE_SECRET fernet\n'
  printf 'secret GARAGE_RPC_SECRET hex:32\nsecret GARAGE_ADMIN_TOKEN hex:32\n'
  printf 'secret KG_SESSION_SECRET hex:32\n'
  # The key that signs backups: 32 random bytes in urlsafe base64, a Fernet key's format.
  printf 'secret KG_BACKUP_KEY fernet\n'
}

#######################################
# Write .env: kgop applies the directives atomically (0600), under KG_HOME/.env.lock.
# Globals:
#   OPT (read)
#######################################
write_env() {
  env_directives | env_tool apply
}

# ---- TLS ----------------------------------------------------------------------------------

#######################################
# The nginx configuration for the TLS front.
# Globals:
#   OPT (read)
# Outputs:
#   the file's text
#######################################
nginx_conf() {
  local hsts=""
  # HSTS only with a certificate browsers trust: on a self-signed one it would lock users out.
  [[ "$(ssl_mode)" == self-signed ]] ||
    hsts='add_header Strict-Transport-Security "max-age=63072000" always;'
  cat <<CONF
# Generated by install.sh for --ssl $(ssl_mode); hostname ${OPT[hostname]:-localhost}.
# TLS settings: Mozilla's "intermediate" profile (without DHE, which needs a dhparam file).
server_tokens off;
server {
    listen 80;
    server_name ${OPT[hostname]:-localhost};
    location /.well-known/acme-challenge/ { root /var/www/acme; }
    location / { return 301 https://\$host\$request_uri; }
}
server {
    listen 443 ssl;
    server_name ${OPT[hostname]:-localhost};
    ssl_certificate     /etc/nginx/certs/kg.crt;
    ssl_certificate_key /etc/nginx/certs/kg.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:KgTLS:10m;
    ssl_session_tickets off;
    ${hsts}
    client_max_body_size 100m;
    proxy_set_header Host \$host;
    proxy_set_header X-Real-IP \$remote_addr;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto https;
    location /api/ { proxy_pass http://api:8000/; }
    location / { proxy_pass http://web:80; }
}
CONF
}

#######################################
# Certificates for the chosen mode, and the nginx configuration.
# Globals:
#   OPT (read)
# Outputs:
#   progress on stdout
#######################################
setup_tls() {
  local mode certs="${OPT[dir]}/certs"
  mode="$(ssl_mode)"
  [[ "${mode}" == none ]] && return 0
  case "${mode}" in
    self-signed)
      if [[ -s "${certs}/kg.crt" ]] && in_operator kgop certs check --cert "${certs}/kg.crt" \
        --key "${certs}/kg.key" >/dev/null 2>&1; then
        say "  keeping the existing certificate"
      else
        in_operator kgop certs self-signed --hostname "${OPT[hostname]:-localhost}" \
          --cert "${certs}/kg.crt" --key "${certs}/kg.key" >/dev/null
      fi
      ;;
    manual)
      install -m 0644 "${OPT[ssl_cert]}" "${certs}/kg.crt"
      install -m 0600 "${OPT[ssl_key]}" "${certs}/kg.key"
      ;;
    letsencrypt)
      # nginx needs a certificate to start; the ACME one replaces this after `start`.
      [[ -s "${certs}/kg.crt" ]] || in_operator kgop certs self-signed \
        --hostname "${OPT[hostname]}" --cert "${certs}/kg.crt" --key "${certs}/kg.key" >/dev/null
      ;;
  esac
  local tmp
  tmp="$(mktemp "${OPT[dir]}/nginx/kg.conf.XXXXXX")"
  nginx_conf >"${tmp}"
  chmod 644 "${tmp}"
  mv -f "${tmp}" "${OPT[dir]}/nginx/kg.conf"
}

# ---- steps --------------------------------------------------------------------------------

#######################################
# The run's log in the install's logs/: a new file of its own (mktemp: O_EXCL, 0600), never
# one a link points at. From here on everything said goes to the terminal and the log; fd 3
# keeps the terminal (for what must not be logged).
# Globals:
#   OPT (read), LOG (written)
# Arguments:
#   what runs (install, adopt): the start of the file's name
#######################################
open_log() {
  LOG="$(mktemp --suffix=.log "${OPT[dir]}/logs/$1-$(date -u +%Y%m%dT%H%M%SZ)-XXXXXX")"
  exec 3>&1
  exec > >(tee -a "${LOG}") 2>&1
}

#######################################
# The ERR trap: name the step that failed and the log.
# Globals:
#   STEP, LOG (read)
# Arguments:
#   exit code
# Outputs:
#   the message on stderr; exits 1
#######################################
on_error() {
  local code="$1"
  trap - ERR
  printf 'install.sh: the step "%s" failed (exit %s); the log is %s\n' "${STEP}" "${code}" \
    "${LOG:-not started}" >&2
  exit 1
}

#######################################
# Start a step: remember its name, print a heading.
# Globals:
#   STEP (written)
# Arguments:
#   title
# Outputs:
#   the heading
#######################################
step() {
  STEP="$1"
  printf '\n== %s\n' "$1"
}

shim() { "${OPT[dir]}/operator.sh" "$@"; }

#######################################
# Lay down operator.sh, compose/, the migrations and the folders of KG_HOME.
# Globals:
#   OPT, SOURCE (read)
#######################################
install_files() {
  local dir="${OPT[dir]}"
  mkdir -p "${dir}/compose" "${dir}/sql/migrations" "${dir}/nginx/acme" "${dir}/logs" \
    "${dir}/certs" "${dir}/backups" "${dir}/garage"
  # umask 077 made everything private; KG_HOME is 0750, and nginx reads its folder.
  chmod 0750 "${dir}"
  chmod 0700 "${dir}/certs" "${dir}/backups"
  chmod 0755 "${dir}/nginx" "${dir}/nginx/acme"
  install -m 0755 "${SOURCE}/operator.sh" "${dir}/operator.sh"
  install -m 0644 "${SOURCE}"/compose/*.yml "${dir}/compose/"
  release_migrations
}

#######################################
# The schema of the version installed: the platform's, from its api image (/app/schema, as
# the platform's api/Dockerfile lays it out: 00_baseline.sql, migrations/ with archived/,
# migrations-warm/) into KG_HOME/sql; with --demo, or when the api image carries none (a
# stand-in), kgop's packaged (demo) schema (00_baseline.sql, migrations/, migrations-warm/)
# its operator image ships, else the source folder's.
# Globals:
#   OPT, SOURCE (read)
#######################################
release_migrations() {
  local dir="${OPT[dir]}" sql="${SOURCE}/sql/migrations" share=/opt/kgop/share/sql
  local api
  api="$(image api)"
  if ((OPT[demo])); then
    say "schema: kgop's packaged (demo) schema"
  elif docker image inspect "${api}" >/dev/null 2>&1 || docker pull -q "${api}" >/dev/null 2>&1; then
    if docker run --rm --network none --user "$(id -u):$(id -g)" -v "${dir}/sql:/out" \
      --entrypoint sh "${api}" -c 'test -f /app/schema/00_baseline.sql && cp -R /app/schema/. /out/' 2>/dev/null; then
      say "schema: the platform's ${OPT[version]}, from ${api} (/app/schema)"
      return 0
    fi
    say "schema: ${api} carries none at /app/schema; kgop's packaged schema"
  fi
  if docker run --rm --network none --user "$(id -u):$(id -g)" -v "${dir}/sql:/out" \
    --entrypoint sh "$(image operator)" -c "test -d ${share}/migrations && cp -R ${share}/migrations/. /out/migrations/ && { test ! -d ${share}/migrations-warm || cp -R ${share}/migrations-warm /out/; } && { test ! -f ${share}/00_baseline.sql || cp ${share}/00_baseline.sql /out/; }"; then
    return 0
  fi
  # kgop's packaged schema does not depend on the platform version: the source's is the same.
  [[ -d "${sql}" ]] || sql="${SOURCE}/kgop_tui/sql/migrations"
  cp -R "${sql}/." "${dir}/sql/migrations/"
  [[ ! -d "${sql%/*}/migrations-warm" ]] || cp -R "${sql%/*}/migrations-warm" "${dir}/sql/"
  [[ ! -f "${sql%/*}/00_baseline.sql" ]] || cp "${sql%/*}/00_baseline.sql" "${dir}/sql/"
}

#######################################
# Migrations, the admin, the AI provider and key, the embedding profile.
# Globals:
#   OPT (read), ADMIN_PASSWORD_SHOWN (written)
# Outputs:
#   progress on stdout
#######################################
configure_platform() {
  local user="${OPT[admin_user]:-admin}" status password
  shim migrate up
  status="$(shim configure status --json)"
  if [[ -n "${OPT[admin_password_file]}" ]]; then
    head -n 1 "${OPT[admin_password_file]}" | shim admin --username "${user}" --password-stdin
  elif [[ "${status}" != *"\"username\": \"${user}\""* ]]; then
    password="$(head -c 15 /dev/urandom | base64 | tr '+/' '-_')"
    printf '%s\n' "${password}" | shim admin --username "${user}" --password-stdin
    ADMIN_PASSWORD_SHOWN="${password}"
  else
    say "admin user '${user}' exists; its password is unchanged"
  fi
  if [[ -n "${OPT[ai_provider]}" ]]; then
    local -a model=()
    [[ -n "${OPT[ai_model]}" ]] && model=(--model "${OPT[ai_model]}")
    shim ai-provider "${OPT[ai_provider]}" "${model[@]}"
    [[ -z "${OPT[ai_key_file]}" ]] || shim api-key "${OPT[ai_provider]}" --key-stdin <"${OPT[ai_key_file]}"
  fi
  [[ -z "${OPT[embedding]}" ]] || shim embedding "${OPT[embedding]}"
  # kg-web's OAuth redirect: EXTERNAL_URL/callback, as the platform's own init registers it
  # (operator/lib/headless-init.sh:754-780): with the localhost dev callback only when users
  # reach web on localhost, never on a public name.
  local url="${OLD[EXTERNAL_URL]:-}"
  if given hostname || given ssl || [[ -n "${OPT[macvlan_parent]}" || -z "${url}" ]]; then
    url="$(external_url)"
  fi
  local -a uris=("${url}/callback")
  case "${url}" in
    *://localhost* | *://127.0.0.1*) [[ "${url}" == http://localhost:3000 ]] || uris+=(http://localhost:3000/callback) ;;
  esac
  shim configure oauth kg-web --redirect-uri "${uris[@]}" >/dev/null
  say "  kg-web's OAuth redirect: ${uris[0]}"
  # A generated admin password is the platform's production mode: its init then turns open
  # self-registration off (headless-init.sh:744-752). Only on the first install: a re-run
  # keeps whatever the operator chose since.
  if ((!RERUN)) && [[ -z "${OPT[admin_password_file]}" ]]; then
    shim configure platform-config registration_enabled false >/dev/null
    say "  open self-registration: off (kgop configure platform-config registration_enabled)"
  fi
}

#######################################
# With --ssl letsencrypt: obtain the certificate over ACME http-01 and reload nginx.
# Globals:
#   OPT (read)
# Outputs:
#   progress on stdout
#######################################
acme_certificate() {
  [[ "$(ssl_mode)" == letsencrypt ]] || return 0
  local certs="${OPT[dir]}/certs" state
  local days
  state="$(in_operator kgop certs check --cert "${certs}/kg.crt" --key "${certs}/kg.key" --json)"
  days="${state#*\"days_left\": }"
  days="${days%%,*}"
  if [[ "${state}" == *'"self_signed": false'* && "${days}" =~ ^[0-9]+$ ]] && ((days > 30)); then
    say "  keeping the ACME certificate"
    return 0
  fi
  local -a run=(docker run --rm --network host -v "${OPT[dir]}:${OPT[dir]}") ca=()
  if [[ -n "${KG_ACME_CA_BUNDLE:-}" ]]; then
    local bundle
    bundle="$(realpath "${KG_ACME_CA_BUNDLE}")"
    run+=(-v "${bundle}:${bundle}:ro")
    ca=(--ca-bundle "${bundle}")
  fi
  "${run[@]}" "$(image operator)" kgop certs acme --hostname "${OPT[hostname]}" \
    --email "${OPT[ssl_email]}" --webroot "${OPT[dir]}/nginx/acme" \
    --cert "${certs}/kg.crt" --key "${certs}/kg.key" \
    --directory "${KG_ACME_DIRECTORY:-${ACME_DIRECTORY}}" "${ca[@]}"
  (cd "${OPT[dir]}" && docker compose exec -T nginx nginx -s reload)
  say "  certificate issued for ${OPT[hostname]}; nginx reloaded"
}

#######################################
# A secret into a file of KG_HOME only its owner reads, atomically: a temporary file beside
# it (mktemp: O_EXCL, mode 0600), then renamed over the name (as the nginx conf is written).
# Arguments:
#   the path, the secret
#######################################
write_private() {
  local tmp
  tmp="$(mktemp "$1.XXXXXX")"
  printf '%s\n' "$2" >"${tmp}"
  mv -f "${tmp}" "$1"
}

#######################################
# Where everything is; a generated admin password on the terminal only, else in a 0600 file.
# Globals:
#   OPT, OLD, LOG, ADMIN_PASSWORD_SHOWN (read)
# Outputs:
#   the summary on stdout (the password on fd 3 when it is a terminal)
#######################################
summary() {
  local web="http://127.0.0.1:${KG_WEB_PORT:-${OLD[KG_WEB_PORT]:-3000}}"
  [[ "$(ssl_mode)" != none ]] && web="https://${OPT[hostname]:-localhost}"
  say ""
  say "The Knowledge Graph platform ${OPT[version]} is running."
  say "  web:        ${web}"
  say "  api:        http://127.0.0.1:${KG_API_PORT:-${OLD[KG_API_PORT]:-8000}} (loopback)"
  say "  install:    ${OPT[dir]}   secrets: ${OPT[dir]}/.env (0600 — back it up)"
  say "  log:        ${LOG}"
  if [[ -n "${ADMIN_PASSWORD_SHOWN}" && -t 3 ]]; then
    # To the terminal only, never into the log: this is the one time it is shown.
    printf '  admin:      %s / %s   (shown once: store it now)\n' "${OPT[admin_user]:-admin}" \
      "${ADMIN_PASSWORD_SHOWN}" >&3
  elif [[ -n "${ADMIN_PASSWORD_SHOWN}" ]]; then
    # Output redirected (install.sh --yes > provision.log): a file only its owner reads.
    write_private "${OPT[dir]}/admin-password" "${ADMIN_PASSWORD_SHOWN}"
    say "  admin:      ${OPT[admin_user]:-admin} / the password is in ${OPT[dir]}/admin-password"
    say "              (0600: store it elsewhere, then delete the file)"
  else
    say "  admin:      ${OPT[admin_user]:-admin} (password as you set it)"
  fi
  say "Next: ${OPT[dir]}/operator.sh  (the operator TUI)   ${OPT[dir]}/operator.sh --help"
}

#######################################
# --dry-run: the plan, with nothing changed.
# Globals:
#   OPT (read)
# Outputs:
#   the plan on stdout
#######################################
print_plan() {
  say "install.sh --dry-run: nothing will be changed. The plan:"
  say "  1. files into ${OPT[dir]} from ${SOURCE} (version ${OPT[version]})"
  if [[ -f "${OPT[dir]}/.env" ]]; then
    say "  2. .env exists: keep every secret, update settings"
  else
    say "  2. .env: new secrets (Postgres, ENCRYPTION_KEY, OAUTH_SIGNING_KEY, INTERNAL_KEY_SERVICE_SECRET, Garage), mode 0600"
  fi
  say "  3. TLS: $(ssl_mode) for ${OPT[hostname]:-localhost}; users reach web at $(external_url)"
  say "  4. start postgres, the operator ($(image operator)) and garage (garage/garage.toml written when missing)"
  say "  5. admin '${OPT[admin_user]:-admin}'${OPT[ai_provider]:+, AI provider ${OPT[ai_provider]}}${OPT[embedding]:+, embedding ${OPT[embedding]}}"
  say "  6. migrations, object store, api ($(image api)) and web, health wait"
}

#######################################
# Validate, ask, check, then the steps in order.
# Globals:
#   all of them
# Arguments:
#   the command line
# Outputs:
#   progress on stdout, the log file
#######################################
main() {
  umask 077
  parse_args "$@"
  validate
  [[ -n "${OPT[adopt]}" ]] || interview
  [[ "${OPT[dir]}" == /* ]] || OPT[dir]="$(pwd)/${OPT[dir]}"
  OPT[dir]="${OPT[dir]%/}"
  if [[ -n "${OPT[adopt]}" ]]; then
    resolve_source
    [[ -f "${SOURCE}/install.d/adopt.sh" ]] || bad "--adopt: ${SOURCE}/install.d/adopt.sh is missing"
    # shellcheck source=install.d/adopt.sh
    source "${SOURCE}/install.d/adopt.sh"
    adopt_main
    return 0
  fi
  resolve_source
  if ((OPT[dry_run])) && [[ ! -f "${OPT[dir]}/.env" ]]; then
    print_plan
    return 0
  fi
  preflight
  ensure_operator_image
  read_old_env
  check_version
  if ((OPT[dry_run])); then
    print_plan
    return 0
  fi
  ensure_demo_images
  if [[ "${OPT[ssl]}" == manual ]]; then
    in_operator kgop certs check --cert "$(realpath "${OPT[ssl_cert]}")" \
      --key "$(realpath "${OPT[ssl_key]}")" >/dev/null || die 2 "--ssl-cert/--ssl-key rejected (see above)"
  fi
  trap 'on_error $?' ERR
  step "files"
  install_files
  open_log install
  ((RERUN)) && say "An install exists in ${OPT[dir]}: re-run mode, every secret is kept."
  step ".env"
  write_env
  step "TLS"
  setup_tls
  step "infrastructure"
  shim start-infra
  step "configuration"
  configure_platform
  step "start"
  shim start
  step "certificate"
  acme_certificate
  STEP="summary"
  summary
}

# Sourced (by tests), it only defines the functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
