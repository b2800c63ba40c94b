"""A private Docker engine in Swarm mode for the tests, next to the compose tests' engine.

Its own data root, exec root and socket; the base image copied over from the test engine;
``docker swarm init`` on an address of its own. Afterwards the swarm is left and the
engine stopped, so nothing of it stays active.

Two of these may run at once (the xdist workers): a Swarm manager listens on 2377 and 7946
of its address and its overlays' VXLAN sockets use one UDP port, so each engine claims a
slot (a lock file) and takes that slot's loopback address (127.0.0.1N) and data path port.

What works on these machines (iptables off): overlay networks, service DNS and task IPs;
not the virtual IPs nor published ports, so the tests reach services from containers on
the overlay network.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engines import DockerEngine, require_or_skip


def _docker(host: str, *args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, timeout=300,
        env={**os.environ, "DOCKER_HOST": host},
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"docker {' '.join(args)}: {done.stderr.decode(errors='replace')[-400:]}")
    return done.stdout


def copy_images(source: DockerEngine, host: str, images: list[str]) -> None:
    """``docker save | docker load`` from the test engine (layers shared between the images
    travel once), streamed."""
    saving = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE, env=source.env())
    loading = subprocess.run(
        ["docker", "load", "-q"], stdin=saving.stdout, capture_output=True, timeout=600,
        env={**os.environ, "DOCKER_HOST": host},
    )  # fmt: skip
    if saving.stdout is not None:
        saving.stdout.close()
    if saving.wait(600) != 0 or loading.returncode != 0:
        pytest.fail(f"copying {images} to the Swarm engine: {loading.stderr.decode()[-300:]}")


SLOTS = 8


def claim_slot() -> tuple[int, int]:
    """A slot no other Swarm engine of these tests holds: (slot, the lock's descriptor)."""
    while True:
        for slot in range(SLOTS):
            fd = os.open(f"/run/kgop-swarm-slot-{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return slot, fd
        time.sleep(1)


def start_swarm_engine(
    base: DockerEngine, images: list[str] | None = None
) -> Iterator[DockerEngine]:
    """A second private engine in Swarm mode, with the base image (and ``images``) copied
    from ``base``; stopped and removed afterwards. Swarm stays off the shared test engine:
    turning it on there disturbs the compose tests running beside it."""
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        require_or_skip("a second Docker engine needs dockerd and root")
        return
    slot, lock = claim_slot()
    address = f"127.0.0.1{slot}"
    name = f"kgop-swarm-{uuid.uuid4().hex[:6]}"
    run = Path("/run") / name
    data = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/var/lib"))
    run.mkdir(parents=True)
    host = f"unix://{run}/docker.sock"
    log = (run / "dockerd.log").open("wb")
    engine = subprocess.Popen(
        [dockerd, "--host", host, "--data-root", str(data), "--exec-root", str(run / "exec"),
         "--pidfile", str(run / "dockerd.pid"), "--storage-driver=overlay2",
         "--iptables=false", "--ip6tables=false", "--bridge=none"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (
            subprocess.run(
                ["docker", "info"], capture_output=True, env={**os.environ, "DOCKER_HOST": host}
            ).returncode
            != 0
        ):
            if engine.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Swarm test engine did not start; see {run}/dockerd.log")
            time.sleep(0.2)
        copy_images(base, host, [base.base_image, *(images or [])])
        _docker(host, "swarm", "init", "--advertise-addr", address, "--listen-addr",
                f"{address}:2377", "--data-path-port", str(4790 + slot))  # fmt: skip
        yield DockerEngine(host=host, base_image=base.base_image)
    finally:
        subprocess.run(
            ["docker", "swarm", "leave", "--force"], capture_output=True, timeout=120,
            env={**os.environ, "DOCKER_HOST": host},
        )  # fmt: skip
        engine.send_signal(signal.SIGTERM)
        try:
            engine.wait(60)
        except subprocess.TimeoutExpired:
            engine.kill()
            engine.wait(30)
        log.close()
        subprocess.run(["umount", "-R", str(data)], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(run, ignore_errors=True)
        os.close(lock)  # the slot is free again


def wait_converged(engine: DockerEngine, service: str, replicas: int, limit: float = 90) -> None:
    """Until ``docker service ls`` says REPLICAS n/n for the service."""
    deadline = time.monotonic() + limit
    while True:
        out = _docker(engine.host, "service", "ls", "--filter", f"name={service}",
                      "--format", "{{.Name}} {{.Replicas}}").decode()  # fmt: skip
        if f"{service} {replicas}/{replicas}" in out.splitlines():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{service} did not converge to {replicas} replicas: {out.strip()}")
        time.sleep(0.3)
