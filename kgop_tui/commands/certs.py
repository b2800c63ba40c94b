"""``kgop certs check|self-signed``: what install.sh and recert use for TLS files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kgop_tui.errors import ExitCode, OperationFailed, UsageError
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

    recert = verbs.add_parser(
        "recert", help="report the TLS certificate's expiry; renew it when due, reload nginx"
    )
    recert.add_argument(
        "--days", type=int, default=30, help="renew when fewer days are left (default 30)"
    )
    recert.add_argument("--force", action="store_true", help="renew now, whatever the expiry")
    recert.add_argument("--email", help="ACME contact (default KG_SSL_EMAIL in .env)")
    recert.add_argument("--directory", help="ACME directory (default KG_ACME_DIRECTORY or LE)")
    recert.add_argument("--ca-bundle", help="CA file for the ACME server's TLS")
    recert.add_argument("--json", action="store_true")
    recert.set_defaults(handler=cmd_recert)


def cmd_certs(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.tls.certs import inspect, self_signed

    if args.certs_verb == "self-signed":
        self_signed(args.hostname, args.cert, args.key, args.days)
    elif args.certs_verb == "acme":
        from kgop_tui.services.tls.acme import LETS_ENCRYPT, issue_certificate

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


def reload_nginx(settings: Settings) -> str:
    from kgop_tui.services.docker.docker_engine import DockerService

    docker = DockerService(settings)
    try:
        reloaded = docker.reload_nginx()
    finally:
        docker.close()
    if reloaded:
        return "nginx reloaded"
    return "nginx is not running; it reads the new certificate when it starts"


def cmd_recert(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.tls.certs import CertificateInfo, inspect, self_signed
    from kgop_tui.settings import read_env_file

    env_path = settings.kg_home / ".env"
    env = {k: e.value for k, e in read_env_file(env_path).items()} if env_path.exists() else {}
    mode = env.get("KG_SSL_MODE", "none")
    certs = settings.kg_home / "certs"
    cert, key = certs / "kg.crt", certs / "kg.key"
    if mode == "none" or not cert.exists():
        print("No TLS certificate here (KG_SSL_MODE=none): nothing to renew.")
        return ExitCode.OK
    try:
        before: CertificateInfo | None = inspect(cert, key)
        problem = ""
    except UsageError as exc:  # expired, not yet valid, unreadable, key mismatch: renew it
        before, problem = None, exc.message
    due = args.force or before is None or before.days_left < args.days
    action = "kept"
    reload = ""
    if due:
        names = before.names if before else []
        hostname = env.get("KG_HOSTNAME") or (names[0] if names else "localhost")
        if mode == "self-signed":
            self_signed(hostname, cert, key)
        elif mode == "letsencrypt":
            from kgop_tui.services.tls.acme import LETS_ENCRYPT, issue_certificate

            email = args.email or env.get("KG_SSL_EMAIL")
            if not email:
                raise UsageError(
                    "ACME renewal needs a contact e-mail",
                    hint="pass --email, or set KG_SSL_EMAIL in .env",
                )
            issue_certificate(
                args.directory or env.get("KG_ACME_DIRECTORY") or LETS_ENCRYPT,
                hostname,
                email,
                settings.kg_home / "nginx" / "acme",
                cert,
                key,
                args.ca_bundle or env.get("KG_ACME_CA_BUNDLE"),
            )
        else:
            state = problem or f"it expires in {before.days_left if before else 0} days"
            raise OperationFailed(
                f"The certificate is yours to renew (KG_SSL_MODE={mode}); {state}",
                hint=f"replace {cert} and {key}, then run `kgop recert` to reload nginx",
            )
        action = "renewed"
        reload = reload_nginx(settings)
    after = inspect(cert, key)
    if args.json:
        print(
            json.dumps(
                {
                    "mode": mode,
                    "action": action,
                    "names": after.names,
                    "not_after": after.not_after.isoformat(),
                    "days_left": after.days_left,
                    "previous_not_after": before.not_after.isoformat() if before else None,
                    "previous_problem": problem or None,
                    "sha256": after.fingerprint,
                    "nginx": reload or None,
                }
            )
        )
    else:
        print(
            f"{cert} ({mode}): {action}; valid until {after.not_after:%Y-%m-%d} "
            f"({after.days_left} days)" + (f"; {reload}" if reload else "")
        )
    return ExitCode.OK
