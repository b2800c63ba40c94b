"""``kgop env get|apply``: the one reader and writer of ``KG_HOME/.env``, for install.sh.

install.sh runs these in an operator container with KG_HOME mounted, so it never parses or
writes ``.env`` itself. ``apply`` reads directives on stdin, one per line:

    header TEXT       a comment line, written only when .env is new
    set KEY=VALUE     set KEY (the value verbatim, up to the end of the line)
    default KEY=VALUE set KEY only when .env does not have it
    secret KEY KIND   generate KEY when .env does not have it (KIND: hex:N bytes, fernet)

Every line of .env that no directive names stays byte for byte, in order; so does a line
whose value does not change. Secrets are generated here, so they are never in install.sh's
argv or environment. ``get`` prints the values that are not secrets, ``KEY=VALUE`` each
followed by a NUL byte (values may hold any character but NUL).
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from typing import Any

from kgop_tui.errors import ExitCode, UsageError
from kgop_tui.settings import Settings, is_secret_name

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def register(verbs: Any) -> None:
    env = verbs.add_parser("env", help="read or update KG_HOME/.env (install.sh uses this)")
    sub = env.add_subparsers(dest="env_verb", metavar="ACTION", required=True)
    get = sub.add_parser("get", help="the values that are not secrets, NUL-terminated")
    get.set_defaults(handler=cmd_env_get)
    apply = sub.add_parser("apply", help="apply set/default/secret directives from stdin")
    apply.set_defaults(handler=cmd_env_apply)


def _generate(kind: str, where: str) -> str:
    from kgop_tui.services.platform.secrets import generate_key

    if kind == "fernet":
        return generate_key()
    match = re.fullmatch(r"hex:([0-9]{1,3})", kind)
    if match and 8 <= int(match.group(1)) <= 128:
        return secrets.token_hex(int(match.group(1)))
    raise UsageError(f"{where}: unknown secret kind {kind!r}", hint="hex:N (8-128) or fernet")


def parse_directives(text: str, existing: set[str]) -> tuple[list[str], dict[str, str]]:
    """(header lines, updates) from directive lines, given the keys .env has now."""
    header: list[str] = []
    updates: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"directive line {number}"
        verb, _, rest = line.partition(" ")
        if not line.strip():
            continue
        if verb == "header":
            header.append("# " + rest)
            continue
        if verb in ("set", "default"):
            key, sep, value = rest.partition("=")
        elif verb == "secret":
            key, _, kind = rest.partition(" ")
            sep, value = "=", ""
        else:
            raise UsageError(f"{where}: unknown directive {verb!r}", hint="set, default, secret")
        if not sep or not _KEY.fullmatch(key):
            raise UsageError(f"{where}: expected {verb} KEY=VALUE", hint="see `kgop env --help`")
        if verb == "set":
            updates[key] = value
        elif key not in existing and key not in updates:
            updates[key] = value if verb == "default" else _generate(kind.strip(), where)
    return header, updates


def cmd_env_get(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.settings import read_env_file

    values = read_env_file(settings.kg_home / ".env")
    out = "".join(
        f"{key}={entry.value}\0" for key, entry in values.items() if not is_secret_name(key)
    )
    sys.stdout.write(out)
    return ExitCode.OK


def cmd_env_apply(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.files import env_lock, update_env_file, write_secret_file
    from kgop_tui.settings import read_env_file

    path = settings.kg_home / ".env"
    text = sys.stdin.read()
    with env_lock(settings.kg_home):
        existing = read_env_file(path)  # refuses a malformed .env before anything changes
        header, updates = parse_directives(text, set(existing))
        if header and not path.exists():
            write_secret_file(path, ("\n".join(header) + "\n").encode("utf-8"))
        changed = update_env_file(path, updates)
    print(f"{path}: {'updated' if changed else 'unchanged'}", file=sys.stderr)
    return ExitCode.OK
