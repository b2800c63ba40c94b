"""``kgop configure admin|ai-provider|embedding|api-key|platform-config|oauth|status|
rotate-key|forget-secrets``.

Each verb writes the platform's own tables as the platform's operator does
(``operator/configure.py``) and its api reads them (see :mod:`kgop_tui.services.platform.config`).
Scriptable with flags; on a terminal, missing input is asked for (questionary). Without a
terminal nothing is ever asked: missing input is exit 2 naming what is missing. Secrets
come from stdin or a file, never from argv.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgop_tui.errors import ExitCode, RefusedForSafety, UsageError
from kgop_tui.render import emit, render_config_status, render_keys, table
from kgop_tui.settings import Settings
from kgop_tui.terminal import has_terminal

if TYPE_CHECKING:
    from kgop_tui.models import (
        AiProviderSetting,
        EmbeddingProfile,
        OAuthClient,
        Provider,
    )
    from kgop_tui.services.platform.config import ConfigService

DEFAULT_MODELS = {  # the platform operator's defaults (operator/configure.py:190-195)
    "openai": "gpt-4o",
    "anthropic": "claude-sonnet-4-20250514",
    "ollama": "mistral:7b-instruct",
    "openrouter": "openai/gpt-4o",
}
PROVIDERS = [*DEFAULT_MODELS, "llamacpp"]  # the values of models.Provider
KEY_PROVIDERS = [*PROVIDERS, "garage"]  # what `api-key` stores (garage: ACCESS:SECRET)
DEVICES = ["cpu", "cuda", "mps"]  # the values of models.Device


def register(verbs: Any) -> None:
    configure = verbs.add_parser("configure", help="platform configuration")
    sub = configure.add_subparsers(dest="configure_verb", metavar="WHAT", required=True)

    admin = sub.add_parser("admin", help="create the admin user or change its password")
    admin.add_argument("--username", help="default: admin")
    admin.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    admin.set_defaults(handler=cmd_admin)

    ai = sub.add_parser("ai-provider", help="the AI provider and model for extraction")
    ai.add_argument("provider", nargs="?", choices=PROVIDERS, metavar="PROVIDER")
    ai.add_argument("--model", help="default: the provider's recommended model")
    ai.add_argument("--max-tokens", type=int, metavar="N", help="default: keep the stored value")
    ai.set_defaults(handler=cmd_ai_provider)

    emb = sub.add_parser("embedding", help="list embedding profiles, or make one active")
    emb.add_argument("profile", nargs="?", metavar="PROFILE", help="an id or a stored name")
    emb.add_argument("--device", choices=DEVICES)
    emb.add_argument("--json", action="store_true")
    emb.set_defaults(handler=cmd_embedding)

    key = sub.add_parser(
        "api-key", help="store, list or delete provider API keys (and Garage's ACCESS:SECRET)"
    )
    key.add_argument("provider", nargs="?", choices=KEY_PROVIDERS, metavar="PROVIDER")
    source = key.add_mutually_exclusive_group()
    source.add_argument("--key-stdin", action="store_true", help="read the key from stdin")
    source.add_argument("--key-file", type=Path, metavar="F", help="read the key from a file")
    key.add_argument("--no-validate", action="store_true", help="skip the online check")
    key.add_argument("--list", action="store_true", help="list stored keys (masked)")
    key.add_argument("--delete", action="store_true", help="delete the provider's key")
    key.add_argument("--json", action="store_true")
    key.set_defaults(handler=cmd_api_key)

    flags = sub.add_parser("platform-config", help="the platform's flags (kg_api.platform_config)")
    flags.add_argument("key", nargs="?", metavar="KEY")
    flags.add_argument("value", nargs="?", metavar="VALUE", help="set KEY to VALUE")
    flags.add_argument("--list", action="store_true", help="every flag and its value")
    flags.add_argument("--json", action="store_true")
    flags.set_defaults(handler=cmd_platform_config)

    oauth = sub.add_parser("oauth", help="the redirect URIs of an OAuth client (e.g. kg-web)")
    oauth.add_argument("client", nargs="?", metavar="CLIENT")
    oauth.add_argument("--redirect-uri", nargs="+", metavar="URL", help="replace its URIs")
    oauth.add_argument("--list", action="store_true", help="every client and its URIs")
    oauth.add_argument("--json", action="store_true")
    oauth.set_defaults(handler=cmd_oauth)

    status = sub.add_parser(
        "status", help="admins, provider, embedding, keys (masked), flags, OAuth clients"
    )
    status.add_argument("--json", action="store_true", help="stable JSON output")
    status.set_defaults(handler=cmd_status)

    rotate = sub.add_parser("rotate-key", help="new ENCRYPTION_KEY; re-encrypt stored secrets")
    rotate.set_defaults(handler=cmd_rotate_key)

    forget = sub.add_parser(
        "forget-secrets", help="delete secrets that no key can read (the key is lost)"
    )
    forget.add_argument("--yes", action="store_true", help="confirm the deletion")
    forget.set_defaults(handler=cmd_forget_secrets)


def service(settings: Settings) -> ConfigService:
    from kgop_tui.services.database.connection import DatabaseTarget
    from kgop_tui.services.platform.config import ConfigService

    return ConfigService(DatabaseTarget.from_settings(settings), settings)


def _ask(question: Any) -> Any:
    answer = question.ask()
    if answer is None:  # Ctrl-C or Esc in the prompt
        raise KeyboardInterrupt
    return answer


def read_stdin_secret(what: str, flag: str) -> str:
    text = sys.stdin.read()
    value = text[:-1] if text.endswith("\n") else text
    value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise UsageError(f"No {what} on stdin", hint=f"pipe it in: `echo ... | kgop ... {flag}`")
    return value


def cmd_admin(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    username = args.username
    if args.password_stdin:
        password = read_stdin_secret("password", "--password-stdin")
    elif has_terminal():
        import questionary

        username = username or _ask(questionary.text("Admin username:", default="admin"))
        password = _ask(questionary.password(f"Password for {username} (12+ characters):"))
        if _ask(questionary.password("Type it again:")) != password:
            raise UsageError("The two passwords differ", hint="run the command again")
    else:
        raise UsageError(
            "The admin password is missing (no terminal to ask it on)",
            hint="pipe it in with --password-stdin",
        )
    username = username or "admin"
    created, role = asyncio.run(service(settings).set_admin(username, password))
    if created:
        print(f"Created admin user {username!r} (role admin, group admins).")
    else:
        print(f"Set the password of {username!r} (role {role}, unchanged).")
    return ExitCode.OK


def cmd_ai_provider(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    provider, model = args.provider, args.model
    if provider is None:
        if not has_terminal():
            raise UsageError("The provider is missing", hint=f"give one of: {', '.join(PROVIDERS)}")
        import questionary

        provider = _ask(questionary.select("AI provider:", choices=PROVIDERS))
        model = model or _ask(questionary.text("Model:", default=DEFAULT_MODELS[provider]))
    from kgop_tui.models import Provider

    chosen = Provider(provider)
    model = model or DEFAULT_MODELS.get(chosen.value)
    if not model:
        raise UsageError(f"{chosen.value} has no default model", hint="give one with --model M")
    setting = _validated(chosen, model, args.max_tokens)
    svc = service(settings)
    warning = asyncio.run(svc.set_ai_provider(setting))
    if warning:
        print(f"Warning: {warning}; stored all the same.", file=sys.stderr)
    active = asyncio.run(svc.ai_provider())
    tokens = active.max_tokens if active else None
    print(
        f"AI provider: {setting.provider.value}, model {setting.model}, "
        f"max tokens {tokens if tokens is not None else 'the platform default'}."
    )
    return ExitCode.OK


def _validated(provider: Provider, model: str, max_tokens: int | None) -> AiProviderSetting:
    from pydantic import ValidationError

    from kgop_tui.models import AiProviderSetting

    try:
        return AiProviderSetting(provider=provider, model=model, max_tokens=max_tokens)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]).replace("_", "-")
        raise UsageError(f"--{field} is invalid: {error['msg']}", hint="see --help") from None


def render_profiles(profiles: list[EmbeddingProfile]) -> str:
    rows = [
        (str(p.id), p.name, p.provider, p.model, str(p.dimensions), p.device or "-",
         "yes" if p.active else "")
        for p in profiles
    ]  # fmt: skip
    return table(("ID", "NAME", "PROVIDER", "MODEL", "DIMENSIONS", "DEVICE", "ACTIVE"), rows)


def cmd_embedding(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    svc = service(settings)
    if args.profile is None:
        profiles = asyncio.run(svc.embeddings())
        emit(profiles, args.json, lambda: render_profiles(profiles))
        return ExitCode.OK
    from kgop_tui.models import Device

    device = Device(args.device) if args.device else None
    profile = asyncio.run(svc.set_embedding(args.profile, device))
    print(
        f"Embedding profile: [{profile.id}] {profile.name} ({profile.provider} / "
        f"{profile.model}, {profile.dimensions} dimensions, device {profile.device or '-'})."
    )
    return ExitCode.OK


def _read_key(args: argparse.Namespace, provider: str) -> str:
    if args.key_stdin:
        return read_stdin_secret("key", "--key-stdin")
    if args.key_file:
        try:
            return Path(args.key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(
                f"Cannot read --key-file {args.key_file}: {exc.strerror}",
                hint="check the path and its permissions",
            ) from None
    if has_terminal():
        import questionary

        what = "Garage ACCESS_KEY_ID:SECRET_ACCESS_KEY" if provider == "garage" else "API key"
        return str(_ask(questionary.password(f"{provider} {what}:")))
    raise UsageError(
        "The API key is missing (no terminal to ask it on)",
        hint="give it on stdin with --key-stdin, or in a file with --key-file F",
    )


def cmd_api_key(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    svc = service(settings)
    if args.list:
        keys = asyncio.run(svc.api_keys())
        emit(keys, args.json, lambda: render_keys(keys))
        return ExitCode.OK
    if args.provider is None:
        raise UsageError("The provider is missing", hint=f"give one of: {', '.join(KEY_PROVIDERS)}")
    from kgop_tui.models import Provider, ValidationStatus

    name = args.provider
    if args.delete:
        deleted = asyncio.run(svc.delete_api_key(name))
        print(f"Deleted the {name} key." if deleted else f"No {name} key.")
        return ExitCode.OK
    key = _read_key(args, name)
    if name == "garage":
        stored = asyncio.run(svc.store_garage_credentials(key))
        print(f"Stored the Garage credentials {stored.masked_key}, encrypted.")
        return ExitCode.OK
    provider = Provider(name)
    stored = asyncio.run(svc.add_api_key(provider, key, validate=not args.no_validate))
    note = {
        ValidationStatus.VALID: "accepted by the provider",
        ValidationStatus.UNTESTED: "not checked online"
        + ("" if args.no_validate else " (the provider could not be reached)"),
    }.get(stored.validation_status, stored.validation_status.value)
    print(f"Stored the {provider.value} key {stored.masked_key}, encrypted; {note}.")
    return ExitCode.OK


def cmd_platform_config(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    svc = service(settings)
    if args.list or args.key is None:
        if args.value is not None:
            raise UsageError("--list takes no KEY or VALUE", hint="see --help")
        flags = asyncio.run(svc.platform_config())
        if args.json:
            print(json.dumps(flags, indent=2))
        else:
            print(table(("KEY", "VALUE"), list(flags.items())) if flags else "No flags.")
        return ExitCode.OK
    if args.value is None:
        value = asyncio.run(svc.get_platform_config(args.key))
        if value is None:
            raise UsageError(
                f"No platform setting {args.key!r}",
                hint="see `kgop configure platform-config --list`",
            )
        print(json.dumps({args.key: value}, indent=2) if args.json else value)
        return ExitCode.OK
    new = asyncio.run(svc.set_platform_config(args.key, args.value))
    if new:
        print(
            f"Warning: {args.key!r} was not a platform setting; created it (check the "
            "spelling: `kgop configure platform-config --list`).",
            file=sys.stderr,
        )
    print(f"{args.key} = {args.value}")
    return ExitCode.OK


def render_clients(clients: list[OAuthClient]) -> str:
    rows = [(c.client_id, c.client_type, ", ".join(c.redirect_uris) or "-") for c in clients]
    return table(("CLIENT", "TYPE", "REDIRECT URIS"), rows) if rows else "No OAuth clients."


def cmd_oauth(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    svc = service(settings)
    if args.list or args.client is None:
        clients = asyncio.run(svc.oauth_clients())
        emit(clients, args.json, lambda: render_clients(clients))
        return ExitCode.OK
    if not args.redirect_uri:
        found = [c for c in asyncio.run(svc.oauth_clients()) if c.client_id == args.client]
        if not found:
            raise UsageError(f"No OAuth client {args.client!r}", hint="see --list")
        emit(found[0], args.json, lambda: render_clients(found))
        return ExitCode.OK
    client = asyncio.run(svc.set_redirect_uris(args.client, args.redirect_uri))
    print(f"{client.client_id}: redirect URIs {', '.join(client.redirect_uris)}.")
    return ExitCode.OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    status = asyncio.run(service(settings).status())
    emit(status, args.json, lambda: render_config_status(status))
    return ExitCode.OK


def cmd_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from kgop_tui.services.upgrade import UpgradeFiles, hold_lock

    # The upgrade lock: no rotation during an upgrade or a restore, and none starts meanwhile.
    with hold_lock(UpgradeFiles.of(settings)):
        report = asyncio.run(service(settings).rotate_key())
    if report.finished_interrupted:
        print("Finished an interrupted key rotation first.")
    print(
        f"New ENCRYPTION_KEY {report.fingerprint} in .env; {report.reencrypted} stored "
        f"secret(s) re-encrypted. The previous key is kept in .env as ENCRYPTION_KEYS_PREVIOUS "
        f"({report.retired} retired key(s)): backups taken before today need it to restore."
    )
    return ExitCode.OK


def cmd_forget_secrets(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    if not args.yes:
        raise RefusedForSafety(
            "This deletes every stored secret (provider API keys, Garage's credentials)",
            hint="run it with --yes if the old ENCRYPTION_KEY is lost for good",
        )
    count = asyncio.run(service(settings).forget_secrets())
    print(f"Deleted {count} secret(s); enter them again with `kgop configure api-key`.")
    return ExitCode.OK
