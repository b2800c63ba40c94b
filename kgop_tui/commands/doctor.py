"""``kgop doctor``, ``kgop check-mounts`` and ``kgop bundle``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kgop_tui.errors import ExitCode
from kgop_tui.settings import Settings


def register(verbs: Any) -> None:
    doctor = verbs.add_parser(
        "doctor", help="check the host and the install; say what is wrong and what to do"
    )
    doctor.add_argument("--json", action="store_true", help="stable JSON (see README)")
    doctor.set_defaults(handler=cmd_doctor)
    mounts = verbs.add_parser(
        "check-mounts", help="refuse (exit 4) when a bind mount's source is missing or wrong"
    )
    mounts.add_argument("services", nargs="*", metavar="SERVICE", help="default: every service")
    mounts.set_defaults(handler=cmd_check_mounts)
    bundle = verbs.add_parser(
        "bundle", help="a support bundle (.tar.gz, 0600) with every secret redacted"
    )
    bundle.add_argument(
        "--output", type=Path, help="default KG_HOME/support/kg-bundle-<time>.tar.gz"
    )
    bundle.add_argument("--log-lines", type=int, default=2000, help="per service (default 2000)")
    bundle.set_defaults(handler=cmd_bundle)


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.diagnosis.doctor import Doctor

    report = Doctor(settings).run()
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print("\n".join(report.lines()))
    return ExitCode.FAILED if report.failed else ExitCode.OK


def cmd_check_mounts(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.checks import CheckState
    from kgop_tui.services.docker.compose import ComposeService
    from kgop_tui.services.docker.mounts import mount_checks, require_mounts

    compose = ComposeService(settings)
    require_mounts(compose, args.services or None)
    checks = mount_checks(compose, args.services or None)
    warned = [c for c in checks if c.state is CheckState.WARN]
    for check in warned:
        print(f"warning: {check.detail}")
    print(f"{len(checks)} bind mount(s) checked: none missing")
    return ExitCode.OK


def cmd_bundle(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.diagnosis.support_bundle import write_bundle

    result = write_bundle(settings, args.output, args.log_lines)
    print(
        f"Support bundle: {result.path} ({result.size >> 10} KiB, {len(result.files)} files); "
        f"redacted: {', '.join(result.redacted) or 'nothing found'}"
    )
    return ExitCode.OK
