"""Benchmark log following: ``kgop logs -f`` vs a raw read of the Engine API.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.logs [LINES]

A container writes LINES (default 1,000,000) realistic log lines. The same logs are then
read three ways in one run, each until the last line arrives:
- raw: the Engine API logs endpoint (follow, timestamps) on a plain socket, read in
  64 KiB chunks, only counting newlines: the engine's own limit;
- kgop: ``kgop logs -f SERVICE`` in a subprocess, its output counted the same way, with
  its peak RSS;
- sdk: docker-py's own ``logs(stream=True, follow=True)`` on the first 200,000 lines, for
  reference.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker as docker_sdk

from bench.common import bench_project, docker, run_service

LINE = "%.0f 2026-11-26T10:00:00Z INFO api request handled path=/v1/graph/query status=200 ms=12"


def wait_written(client: docker_sdk.DockerClient, cid: str, lines: int) -> None:
    while True:
        tail = client.api.logs(cid, tail=1).decode().strip()
        if tail == "DONE":
            return
        time.sleep(0.5)


def raw_read(client: docker_sdk.DockerClient, cid: str, lines: int) -> float:
    """The logs endpoint over a plain socket, 64 KiB reads, counting newlines only."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    path = f"/v{client.api.api_version}/containers/{cid}/logs"
    query = "stdout=1&stderr=1&follow=1&timestamps=1&tail=all"
    started = time.perf_counter()
    if host.startswith("unix://"):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(host.removeprefix("unix://"))
    else:
        hostname, _, port = host.removeprefix("tcp://").partition(":")
        sock = socket.create_connection((hostname, int(port or 2375)))
    sock.sendall(f"GET {path}?{query} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1 << 16)
    seen = head.partition(b"\r\n\r\n")[2].count(b"\n")
    while seen < lines + 1:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        seen += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    sock.close()
    return elapsed


def sdk_read(client: docker_sdk.DockerClient, cid: str, lines: int) -> float:
    stream = client.api.logs(cid, stream=True, follow=True, timestamps=True)
    started = time.perf_counter()
    seen = 0
    for frame in stream:
        seen += frame.count(b"\n")
        if seen >= lines:
            break
    elapsed = time.perf_counter() - started
    stream.close()
    return elapsed


def kgop_follow(home: Path, lines: int) -> tuple[float, int]:
    env = {**os.environ, "KG_HOME": str(home)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kgop_tui.cli", "logs", "-f", "writer"],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    seen = 0
    while seen < lines + 1:
        chunk = proc.stdout.read1(1 << 16)
        if not chunk:
            break
        seen += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    proc.terminate()
    proc.wait()
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if seen < lines + 1:
        raise SystemExit(f"kgop delivered only {seen} lines")
    return elapsed, peak_kb


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    client = docker_sdk.from_env(timeout=60)
    with tempfile.TemporaryDirectory() as tmp, bench_project(Path(tmp)) as (project, net):
        cid = run_service(project, net, "writer", "sh", "-c",
                          f"seq -f '{LINE}' 1 {lines}; echo DONE; sleep infinity")  # fmt: skip
        written = time.perf_counter()
        wait_written(client, cid, lines)
        print(f"logs: container wrote {lines:,} lines in {time.perf_counter() - written:.1f} s")
        raw_s = raw_read(client, cid, lines)
        kgop_s, peak_kb = kgop_follow(Path(tmp), lines)
        sdk_lines = min(lines, 200_000)
        sdk_s = sdk_read(client, cid, sdk_lines)
        docker("rm", "-f", cid)
    raw_rate, kgop_rate, sdk_rate = lines / raw_s, lines / kgop_s, sdk_lines / sdk_s
    print(f"  raw Engine API read (engine's limit): {raw_rate:>12,.0f} lines/s ({raw_s:.2f} s)")
    print(f"  kgop logs -f (process, to a pipe):    {kgop_rate:>12,.0f} lines/s ({kgop_s:.2f} s)")
    print(f"  docker-py logs(stream=True) for ref:  {sdk_rate:>12,.0f} lines/s")
    print(f"  kgop / raw: {kgop_rate / raw_rate:.2f}x")
    print(f"  kgop peak RSS: {peak_kb / 1024:.1f} MB")


if __name__ == "__main__":
    main()
