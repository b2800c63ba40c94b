"""Images of an upgrade: what .env pins, retagging to a release, and an image store that
knows what is here, what a registry can give, pulls, and fetches a release's manifest and
migrations out of its operator image (``/opt/kgop/share``)."""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kgop_tui.errors import ConfigInvalid, OperationFailed, RefusedForSafety
from kgop_tui.releases import ROLES, Manifest, load_manifest
from kgop_tui.services.upgrade.state import UpgradeFiles

IMAGE_SHARE = "/opt/kgop/share"
API_SCHEMA = "/app/schema"
"""Where the platform's api image carries the schema of its version."""
_DEFAULT = re.compile(
    r"\$\{KG_(?P<role>[A-Z]+)_IMAGE:-(?:\$\{KG_REGISTRY:-(?P<registry>[^}]*)\})?"
    r"(?P<ref>[^$}]*)(?P<versioned>\$\{KG_VERSION)?"
)


def split_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/kg-api:0.5.0@sha256:…`` → (repository, tag, digest); None when absent."""
    name, _, digest = ref.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest or None
    return name, None, digest or None


def without_digest(ref: str) -> str:
    """The reference a container or a task reports for ``ref``: its digest left out."""
    return ref.partition("@")[0]


def retag(ref: str, tag: str, digest: str | None = None) -> str:
    """``registry:5000/kg-api:0.5.0`` → ``registry:5000/kg-api:TAG``, ``@DIGEST`` when given.

    A digest pinned in ``ref`` names the image of its own tag: it is kept when the tag stays
    and ``digest`` is None, and dropped when the tag changes (it would name another image)."""
    repository, old_tag, old_digest = split_ref(ref)
    if digest is None and old_tag == tag:
        digest = old_digest
    return f"{repository}:{tag}" + (f"@{digest}" if digest else "")


def image_variable(role: str) -> str:
    return f"KG_{role.upper()}_IMAGE"


def default_images(compose_file: Path, version: str, registry: str | None = None) -> dict[str, str]:
    """Each role's default image at ``version``, as compose.yml declares it: the one place the
    defaults are written (``${KG_API_IMAGE:-${KG_REGISTRY:-ghcr.io/...}/kg-api:${KG_VERSION}}``);
    ``registry`` is KG_REGISTRY, when set."""
    try:
        text = compose_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigInvalid(
            f"Cannot read {compose_file} ({exc.strerror})", hint="install.sh puts it there"
        ) from None
    found = {}
    for match in _DEFAULT.finditer(text):
        prefix = (registry or match["registry"] or "") if match["registry"] is not None else ""
        ref = prefix + match["ref"] + (version if match["versioned"] else "")
        found[match["role"].lower()] = ref
    return found


def pinned_images(
    env: Mapping[str, str | None], version: str, compose_file: Path
) -> dict[str, str]:
    """Each role's image as .env pins it (KG_<ROLE>_IMAGE, else compose's default at
    ``version``)."""
    pinned = {role: env.get(image_variable(role)) for role in ROLES}
    if all(pinned.values()):
        return {role: str(ref) for role, ref in pinned.items()}
    defaults = default_images(compose_file, version, env.get("KG_REGISTRY"))
    return {role: pinned[role] or defaults[role] for role in ROLES}


def _extract_plain_files(archive: tarfile.TarFile, target: Path) -> None:
    """Folders and regular files only, inside ``target`` (no links, devices or ``..``)."""
    root = target.resolve()
    for member in archive.getmembers():
        path = (root / member.name).resolve()
        if path != root and root not in path.parents:
            continue
        if member.isdir():
            path.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            path.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is not None:
                path.write_bytes(source.read())


class ImageStore:
    """The engine's images, as an upgrade needs them."""

    def __init__(self, docker: Any, files: UpgradeFiles, log: Callable[[str], None]) -> None:
        self.docker = docker
        self.files = files
        self.log = log

    def present(self, ref: str) -> bool:
        """``ref`` is here; with a digest, the image of that digest (whatever the tag holds)."""
        import docker

        repository, _, digest = split_ref(ref)
        client = self.docker.client()
        with self.docker.translate_errors():
            try:
                client.images.get(f"{repository}@{digest}" if digest else ref)
                return True
            except docker.errors.ImageNotFound:
                return False

    def pullable(self, ref: str) -> str | None:
        """None when the registry knows ``ref``; otherwise why not."""
        import docker

        repository, _, digest = split_ref(ref)
        client = self.docker.client()
        try:
            client.images.get_registry_data(f"{repository}@{digest}" if digest else ref)
            return None
        except docker.errors.APIError as exc:
            return str(exc.explanation or exc).splitlines()[0][:200]
        except Exception as exc:  # transport errors: the registry is unreachable
            return str(exc).splitlines()[0][:200] or type(exc).__name__

    def pull(self, ref: str) -> None:
        """Pull ``ref``; by digest when it carries one, then checked against it."""
        client = self.docker.client()
        repository, tag, digest = split_ref(ref)
        self.log(f"pulling {ref}")
        with self.docker.translate_errors():
            client.images.pull(repository, tag=digest or tag)
        if digest is not None:
            self.verify_digest(ref)

    def verify_digest(self, ref: str) -> None:
        """The image here for ``ref`` has ``ref``'s digest among its RepoDigests, and its
        tag points at it (``docker pull`` by digest leaves the tag where it was)."""
        import docker

        repository, tag, digest = split_ref(ref)
        if digest is None:
            return
        client = self.docker.client()
        with self.docker.translate_errors():
            try:
                image = client.images.get(f"{repository}@{digest}")
            except docker.errors.ImageNotFound:
                image = None
            if image is not None and tag is not None:
                image.tag(repository, tag)
        found = [str(d) for d in (image.attrs.get("RepoDigests") or [] if image else [])]
        if f"{repository}@{digest}" not in found:
            raise RefusedForSafety(
                f"The image {repository}:{tag} here is not the release's {digest[:19]}…",
                hint="the registry serves another build under that tag; ask its publisher, "
                "or pin the image you trust in .env",
            )

    def _ensure(self, ref: str, what: str) -> None:
        if self.present(ref):
            self.verify_digest(ref)
        else:
            why = self.pullable(ref)
            if why is not None:
                raise OperationFailed(
                    f"The {what} image {ref} is not here and cannot be pulled ({why})",
                    hint=f"load it (`docker load`) or check the registry and "
                    f"KG_{what.upper()}_IMAGE",
                )
            self.pull(ref)

    def _copy_out(self, ref: str, path: str) -> bytes | None:
        """The tar stream of ``path`` in image ``ref`` (a container is created, never
        started); None when the image has no such path."""
        import docker

        client = self.docker.client()
        with self.docker.translate_errors():
            container = client.containers.create(ref, command=["true"], entrypoint=[])
            try:
                try:
                    stream, _ = container.get_archive(path)
                except docker.errors.NotFound:
                    return None
                return b"".join(stream)
            finally:
                container.remove(force=True)

    def _unpack(self, data: bytes, target: Path) -> None:
        """Unpack into ``target`` whole or not at all (a folder renamed into place)."""
        partial = target.with_name(f".{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            _extract_plain_files(archive, partial)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(partial, target)

    def fetch_release(self, operator_ref: str, version: str) -> tuple[Manifest, Path]:
        """The manifest and migrations of the operator image ``operator_ref``."""
        self._ensure(operator_ref, "operator")
        data = self._copy_out(operator_ref, IMAGE_SHARE)
        if data is None:
            raise OperationFailed(
                f"The operator image {operator_ref} has no release manifest ({IMAGE_SHARE})",
                hint="it predates guided upgrades; upgrade by re-running install.sh",
            )
        target = self.files.release(version)
        self._unpack(data, target)
        share = target / Path(IMAGE_SHARE).name
        return load_manifest(share / "releases.toml"), share / "sql" / "migrations"

    def fetch_schema(self, api_ref: str, version: str) -> Path | None:
        """The platform's schema of ``version`` from its api image, where the platform's
        ``api/Dockerfile`` puts it (``/app/schema``: ``00_baseline.sql``, ``migrations/``,
        ``migrations-warm/``); its ``migrations`` folder, or None when the image has none."""
        self._ensure(api_ref, "api")
        data = self._copy_out(api_ref, API_SCHEMA)
        if data is None:
            return None
        target = self.files.release(version) / "platform"
        self._unpack(data, target)
        (target / "VERSION").write_text(version + "\n", encoding="utf-8")
        self.log(f"schema of {version} read from {api_ref} ({API_SCHEMA})")
        return target / Path(API_SCHEMA).name / "migrations"
