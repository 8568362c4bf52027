"""Running the emulator: in a background thread (tests, the CLI's embedded emulator) or in the
foreground (`ftops emulator`, `python -m reconciler.emulator`)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from reconciler.emulator.app import DEFAULT_ARM_PAGE_SIZE, Emulator

# Simulated seconds per real second. The quickstart (10 examples on gpt-4o-mini) spends about
# 1,000 simulated seconds in file processing, queue, data evaluation, training and model
# evaluation: about 3-4 seconds of wall time at this scale. Note that 15 simulated days (the idle
# deletion of fine-tuned deployments) are then 72 minutes of emulator uptime.
DEFAULT_TIME_SCALE = 300.0
DEFAULT_PORT = 8765
DEFAULT_STATE = Path(".ftops/emulator/state.sqlite")
STARTUP_TIMEOUT_SECONDS = 15.0


def _tracking_protocol(emulator: Emulator) -> type[asyncio.Protocol]:
    """h11 protocol that tells the emulator each connection's transport, so that a fault can
    close a socket without answering (what a dropped connection looks like to a client)."""

    class TrackingH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            _no_delay(transport)
            super().connection_made(transport)
            if self.client:
                emulator.transports[(str(self.client[0]), int(self.client[1]))] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client:
                emulator.transports.pop((str(self.client[0]), int(self.client[1])), None)
            super().connection_lost(exc)

    return TrackingH11Protocol


def _no_delay(transport: asyncio.Transport) -> None:
    """Send each response at once. asyncio sets TCP_NODELAY only on sockets made with
    IPPROTO_TCP, and ours (and uvicorn's) are made with proto 0: with Nagle on, the body
    waited for the client's delayed ACK, 40 ms on every reused connection."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _server(emulator: Emulator) -> uvicorn.Server:
    config = uvicorn.Config(
        emulator,
        http=_tracking_protocol(emulator),
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        date_header=False,  # the emulator sends its own, from the simulated clock
    )
    return uvicorn.Server(config)


@dataclass
class RunningEmulator:
    url: str
    emulator: Emulator
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for idle keep-alive connections
        self.thread.join(timeout=10)
        self.emulator.close()


def start_background(
    state: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    time_scale: float = DEFAULT_TIME_SCALE,
    faults: str | None = None,
    record_bodies: bool = False,
    arm_page_size: int = DEFAULT_ARM_PAGE_SIZE,
) -> RunningEmulator:
    """Serve in a daemon thread; return once the port accepts connections."""
    emulator = Emulator(
        Path(state),
        time_scale=time_scale,
        faults=faults,
        record_bodies=record_bodies,
        arm_page_size=arm_page_size,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = _server(emulator)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="ftops-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            emulator.close()
            raise RuntimeError("the emulator did not start")
        time.sleep(0.01)
    bound_host, bound_port = sock.getsockname()[:2]
    return RunningEmulator(f"http://{bound_host}:{bound_port}", emulator, server, thread)


def serve(
    host: str,
    port: int,
    state: Path,
    time_scale: float = DEFAULT_TIME_SCALE,
    faults: str | None = None,
    *,
    record_bodies: bool = False,
    arm_page_size: int = DEFAULT_ARM_PAGE_SIZE,
) -> None:
    """Serve in the foreground until interrupted. The port is bound first: the banner appears
    only once the emulator listens, and a busy port is a `PortInUse` before anything starts."""
    sock = _listen(host, port)
    emulator = Emulator(
        Path(state),
        time_scale=time_scale,
        faults=faults,
        record_bodies=record_bodies,
        arm_page_size=arm_page_size,
    )
    server = _server(emulator)
    server.config.host = host
    server.config.port = port
    sys.stderr.write(
        f"ftops emulator on http://{host}:{port} (state {state}, time scale {time_scale:g})\n"
    )
    try:
        server.run(sockets=[sock])
    finally:
        emulator.close()
        sock.close()


class PortInUse(OSError):
    """The address the emulator was asked to listen on is taken."""


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    return sock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument(
        "--state", type=Path, default=DEFAULT_STATE, help="SQLite state file (created if missing)"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help=f"simulated seconds per real second (default {DEFAULT_TIME_SCALE:g})",
    )
    parser.add_argument(
        "--faults",
        default=None,
        help="inject faults, e.g. '429=0.3,503=0.1,latency_ms=50;op=Files_Upload,drop=0.5;seed=7'",
    )
    parser.add_argument(
        "--record-bodies",
        action="store_true",
        help="keep request and response bodies in /_emulator/requests",
    )
    parser.add_argument(
        "--arm-page-size",
        type=int,
        default=DEFAULT_ARM_PAGE_SIZE,
        help="items per page of ARM lists (nextLink paging)",
    )


def run(args: Any) -> int:
    try:
        serve(
            args.host,
            args.port,
            args.state,
            args.time_scale,
            args.faults,
            record_bodies=getattr(args, "record_bodies", False),
            arm_page_size=getattr(args, "arm_page_size", DEFAULT_ARM_PAGE_SIZE),
        )
    except ValueError as exc:  # a bad --faults spec or --time-scale
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except PortInUse as exc:
        sys.stderr.write(f"error: {exc}\n  hint: another process uses it: pick one with --port\n")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reconciler.emulator", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
