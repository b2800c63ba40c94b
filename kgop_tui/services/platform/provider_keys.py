"""Provider API keys: format checks, masking, and an optional online check.

The online check asks the provider's API whether it accepts the key, with a short
timeout. Only a clear rejection (401/403) means "invalid"; a network failure, a timeout or
any other answer means "untested" — offline sites must never see a good key called bad.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from kgop_tui.errors import UsageError
from kgop_tui.models import Provider, ValidationStatus


@dataclass(frozen=True)
class KeyRule:
    pattern: str
    description: str
    check_url: str | None
    header: str


RULES: dict[Provider, KeyRule] = {
    Provider.OPENAI: KeyRule(
        r"sk-[A-Za-z0-9_-]{20,200}",
        "an OpenAI key starts with 'sk-' followed by at least 20 letters, digits, - or _",
        "https://api.openai.com/v1/models",
        "Authorization: Bearer",
    ),
    Provider.ANTHROPIC: KeyRule(
        r"sk-ant-[A-Za-z0-9_-]{20,200}",
        "an Anthropic key starts with 'sk-ant-' followed by at least 20 characters",
        "https://api.anthropic.com/v1/models",
        "x-api-key:",
    ),
    Provider.OPENROUTER: KeyRule(
        r"sk-or-[A-Za-z0-9_-]{20,200}",
        "an OpenRouter key starts with 'sk-or-' followed by at least 20 characters",
        "https://openrouter.ai/api/v1/key",
        "Authorization: Bearer",
    ),
    Provider.OLLAMA: KeyRule(
        r"[!-~]{8,200}",
        "an Ollama token is 8 to 200 printable characters without spaces",
        None,
        "Authorization: Bearer",
    ),
    Provider.LLAMACPP: KeyRule(
        r"[!-~]{8,200}",
        "a llama.cpp server token is 8 to 200 printable characters without spaces",
        None,
        "Authorization: Bearer",
    ),
}


PROVIDER_NAMES = {
    Provider.OPENAI: "an OpenAI",
    Provider.ANTHROPIC: "an Anthropic",
    Provider.OLLAMA: "an Ollama",
    Provider.OPENROUTER: "an OpenRouter",
    Provider.LLAMACPP: "a llama.cpp",
}

GARAGE = "garage"
"""The api's Garage credentials: ``system_api_keys`` provider ``garage``, ``ACCESS:SECRET``
(``api/app/lib/garage/base.py:31-75``, split at the first ':')."""
_GARAGE = re.compile(r"GK[0-9a-fA-F]{24}:[0-9a-fA-F]{64}")


def check_garage(credentials: str) -> str:
    """Garage's ``ACCESS_KEY_ID:SECRET_ACCESS_KEY`` (``GK`` + 24 hex, ':', 64 hex)."""
    credentials = credentials.strip()
    if not _GARAGE.fullmatch(credentials):
        raise UsageError(
            "That is not Garage credentials: give ACCESS_KEY_ID:SECRET_ACCESS_KEY "
            "(GK followed by 24 hex digits, a colon, then 64 hex digits)",
            hint="`garage key info --show-secret KEY` shows both; `kgop garage init` stores "
            "them by itself",
        )
    return credentials


def mask_garage(credentials: str) -> str:
    """The access key id's start only: never any of the secret."""
    access = credentials.partition(":")[0]
    return f"{access[:6]}…:…"


def check_format(provider: Provider, key: str) -> str:
    """The key without surrounding whitespace, or UsageError explaining the format."""
    key = key.strip()
    if not key:
        raise UsageError("The API key is empty", hint="give the key on stdin or in a file")
    rule = RULES[provider]
    if not re.fullmatch(rule.pattern, key):
        raise UsageError(
            f"That does not look like {PROVIDER_NAMES[provider]} key: {rule.description}",
            hint="check you pasted the whole key, for the right provider",
        )
    return key


def mask(key: str) -> str:
    """``sk-proj-…4f2a``: the public prefix and the last four characters only."""
    prefix = re.match(r"(sk-(?:ant-|or-)?)", key)
    head = prefix.group(1) if prefix else ""
    tail = key[-4:] if len(key) >= 16 else ""
    return f"{head}…{tail}"


def check_url(provider: Provider) -> str | None:
    override = os.environ.get(f"KGOP_{provider.value.upper()}_CHECK_URL")
    return override or RULES[provider].check_url


def validate_online(provider: Provider, key: str, timeout: float = 3.0) -> ValidationStatus:
    """Ask the provider whether it accepts the key."""
    url = check_url(provider)
    if url is None:
        return ValidationStatus.UNTESTED
    name, _, scheme = RULES[provider].header.partition(":")
    value = f"{scheme.strip()} {key}".strip()
    request = urllib.request.Request(url, headers={name: value, "User-Agent": "kgop"})
    if provider is Provider.ANTHROPIC:
        request.add_header("anthropic-version", "2023-06-01")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return ValidationStatus.VALID if response.status == 200 else ValidationStatus.UNTESTED
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return ValidationStatus.INVALID
        return ValidationStatus.UNTESTED
    except (urllib.error.URLError, OSError, ValueError):
        return ValidationStatus.UNTESTED
