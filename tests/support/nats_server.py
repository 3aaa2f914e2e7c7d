"""A real nats-server (JetStream) on a free port that a test can stop and start again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.ports import PortTaken, free_port, wait_for_port

NATS_BINARY = Path(sys.executable).parent / "nats-server"


class NatsServer:
    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.store_dir = store_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False
        self.log_path = store_dir / "nats.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart, keeping its JetStream store and port). A first start whose port
        another process took meanwhile starts again on another port."""
        assert self._process is None, "already running"
        first = not self._started
        for attempt in range(3):
            try:
                self._spawn()
                break
            except (PortTaken, RuntimeError):
                self.stop()
                if not first or attempt == 2:
                    raise
                self.port = free_port()
        self._started = True

    def _spawn(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [
                str(NATS_BINARY),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store_dir),
                "-l",
                str(self.log_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, pid=self._process.pid)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None
