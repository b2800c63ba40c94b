"""``kgop certs check|self-signed``: what install.sh and recert use for TLS files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kgop_tui.errors import ExitCode
from kgop_tui.settings import Settings


def register(verbs: Any) -> None:
    certs = verbs.add_parser("certs", help="check a certificate and key, or make a self-signed one")
    sub = certs.add_subparsers(dest="certs_verb", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="parse, match the key, and check the dates")
    check.add_argument("--cert", type=Path, required=True)
    check.add_argument("--key", type=Path)
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=cmd_certs)
    make = sub.add_parser("self-signed", help="a self-signed certificate with SANs")
    make.add_argument("--hostname", required=True)
    make.add_argument("--cert", type=Path, required=True)
    make.add_argument("--key", type=Path, required=True)
    make.add_argument("--days", type=int, default=825)
    make.set_defaults(handler=cmd_certs)
    acme = sub.add_parser("acme", help="obtain a certificate over ACME (http-01)")
    acme.add_argument("--hostname", required=True)
    acme.add_argument("--email", required=True)
    acme.add_argument("--webroot", type=Path, required=True, help="served at /.well-known/")
    acme.add_argument("--cert", type=Path, required=True)
    acme.add_argument("--key", type=Path, required=True)
    acme.add_argument("--directory", default=None, help="ACME directory (default Let's Encrypt)")
    acme.add_argument("--ca-bundle", default=None, help="CA file for the ACME server's TLS")
    acme.set_defaults(handler=cmd_certs)


def cmd_certs(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.certs import inspect, self_signed

    if args.certs_verb == "self-signed":
        self_signed(args.hostname, args.cert, args.key, args.days)
    elif args.certs_verb == "acme":
        from kgop_tui.services.acme import LETS_ENCRYPT, issue_certificate

        issue_certificate(
            args.directory or LETS_ENCRYPT,
            args.hostname,
            args.email,
            args.webroot,
            args.cert,
            args.key,
            args.ca_bundle,
        )
    info = inspect(args.cert, args.key)
    if getattr(args, "json", False):
        print(
            json.dumps(
                {
                    "subject": info.subject,
                    "issuer": info.issuer,
                    "self_signed": info.self_signed,
                    "names": info.names,
                    "not_after": info.not_after.isoformat(),
                    "days_left": info.days_left,
                    "sha256": info.fingerprint,
                }
            )
        )
    else:
        print(
            f"{args.cert}: {info.subject}, names {', '.join(info.names) or '-'}, "
            f"valid until {info.not_after:%Y-%m-%d} ({info.days_left} days)"
        )
    return ExitCode.OK
