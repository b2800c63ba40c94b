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


class PrivateEngine:
    """A dockerd of its own (socket, data root, exec root), started and stopped by a test;
    ``flags`` are added to its command line (``--live-restore``)."""

    def __init__(self, name: str, flags: list[str]) -> None:
        dockerd = shutil.which("dockerd")
        if dockerd is None or os.geteuid() != 0:
            require_or_skip("a second Docker engine needs dockerd and root")
        self.command = [str(dockerd)]
        self.run = Path("/run") / name
        self.data = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/var/lib"))
        self.run.mkdir(parents=True)
        self.socket = self.run / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.flags = flags
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.run / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            [*self.command, "--host", self.host, "--data-root", str(self.data),
             "--exec-root", str(self.run / "exec"), "--pidfile", str(self.run / "dockerd.pid"),
             "--storage-driver=overlay2", "--iptables=false", "--ip6tables=false",
             "--bridge=none", *self.flags],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        env = {**os.environ, "DOCKER_HOST": self.host}
        while subprocess.run(["docker", "info"], capture_output=True, env=env).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the test engine did not start; see {self.run}/dockerd.log")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)
        self.process = None

    def remove(self) -> None:
        self.stop()
        subprocess.run(["umount", "-R", str(self.data)], capture_output=True)
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.run, ignore_errors=True)


def start_swarm_engine(
    base: DockerEngine, images: list[str] | None = None
) -> Iterator[DockerEngine]:
    """A second private engine in Swarm mode, with the base image (and ``images``) copied
    from ``base``; stopped and removed afterwards. Swarm stays off the shared test engine:
    turning it on there disturbs the compose tests running beside it."""
    slot, lock = claim_slot()
    address = f"127.0.0.1{slot}"
    engine = PrivateEngine(f"kgop-swarm-{uuid.uuid4().hex[:6]}", [])
    host = engine.host
    try:
        engine.start()
        copy_images(base, host, [base.base_image, *(images or [])])
        _docker(host, "swarm", "init", "--advertise-addr", address, "--listen-addr",
                f"{address}:2377", "--data-path-port", str(4790 + slot))  # fmt: skip
        yield DockerEngine(host=host, base_image=base.base_image)
    finally:
        subprocess.run(
            ["docker", "swarm", "leave", "--force"], capture_output=True, timeout=120,
            env={**os.environ, "DOCKER_HOST": host},
        )  # fmt: skip
        engine.remove()
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
