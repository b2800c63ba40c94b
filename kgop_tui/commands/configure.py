"""``kgop configure admin|ai-provider|embedding|api-key|status|rotate-key|forget-secrets``.

Scriptable with flags; on a terminal, missing input is asked for (questionary). Without a
terminal nothing is ever asked: missing input is exit 2 naming what is missing. Secrets
come from stdin or a file, never from argv.
"""

from __future__ import annotations

import argparse
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
        Provider,
    )
    from kgop_tui.services.config import ConfigService

DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-5",
    "ollama": "llama3.1",
    "openrouter": "openai/gpt-4o-mini",
}
PROVIDERS = list(DEFAULT_MODELS)  # the values of models.Provider
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
    ai.add_argument("--max-tokens", type=int, default=4096, metavar="N")
    ai.set_defaults(handler=cmd_ai_provider)

    emb = sub.add_parser("embedding", help="list embedding profiles, or make one active")
    emb.add_argument("profile", nargs="?", metavar="PROFILE")
    emb.add_argument("--device", choices=DEVICES)
    emb.add_argument("--json", action="store_true")
    emb.set_defaults(handler=cmd_embedding)

    key = sub.add_parser("api-key", help="store, list or delete provider API keys")
    key.add_argument("provider", nargs="?", choices=PROVIDERS, metavar="PROVIDER")
    source = key.add_mutually_exclusive_group()
    source.add_argument("--key-stdin", action="store_true", help="read the key from stdin")
    source.add_argument("--key-file", type=Path, metavar="F", help="read the key from a file")
    key.add_argument("--no-validate", action="store_true", help="skip the online check")
    key.add_argument("--list", action="store_true", help="list stored keys (masked)")
    key.add_argument("--delete", action="store_true", help="delete the provider's key")
    key.add_argument("--json", action="store_true")
    key.set_defaults(handler=cmd_api_key)

    status = sub.add_parser("status", help="admins, provider, embedding, keys (masked)")
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
    from kgop_tui.services.config import ConfigService
    from kgop_tui.services.database import DatabaseTarget

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
    created = asyncio.run(service(settings).set_admin(username, password))
    print(f"{'Created' if created else 'Updated'} admin user {username!r}.")
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
    setting = _validated(chosen, model or DEFAULT_MODELS[chosen.value], args.max_tokens)
    asyncio.run(service(settings).set_ai_provider(setting))
    print(
        f"AI provider: {setting.provider.value}, model {setting.model}, "
        f"max tokens {setting.max_tokens}."
    )
    return ExitCode.OK


def _validated(provider: Provider, model: str, max_tokens: int) -> AiProviderSetting:
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
        ("*" if p.active else "", p.name, p.provider, p.model, str(p.dimensions), p.device.value)
        for p in profiles
    ]
    return table(("", "PROFILE", "PROVIDER", "MODEL", "DIMENSIONS", "DEVICE"), rows)


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
    print(f"Embedding profile: {profile.name} ({profile.model}, {profile.device.value}).")
    return ExitCode.OK


def _read_key(args: argparse.Namespace, provider: Provider) -> str:
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

        return str(_ask(questionary.password(f"{provider.value} API key:")))
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
        raise UsageError("The provider is missing", hint=f"give one of: {', '.join(PROVIDERS)}")
    from kgop_tui.models import Provider, ValidationStatus

    provider = Provider(args.provider)
    if args.delete:
        deleted = asyncio.run(svc.delete_api_key(provider))
        print(f"Deleted the {provider.value} key." if deleted else f"No {provider.value} key.")
        return ExitCode.OK
    key = _read_key(args, provider)
    stored = asyncio.run(svc.add_api_key(provider, key, validate=not args.no_validate))
    note = {
        ValidationStatus.VALID: "accepted by the provider",
        ValidationStatus.UNTESTED: "not checked online"
        + ("" if args.no_validate else " (the provider could not be reached)"),
    }.get(stored.validation_status, stored.validation_status.value)
    print(f"Stored the {provider.value} key {stored.key_hint}, encrypted; {note}.")
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
            "This deletes every stored secret (provider API keys)",
            hint="run it with --yes if the old ENCRYPTION_KEY is lost for good",
        )
    count = asyncio.run(service(settings).forget_secrets())
    print(f"Deleted {count} secret(s); enter them again with `kgop configure api-key`.")
    return ExitCode.OK
