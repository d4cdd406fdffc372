"""
A throwaway C{redis-server} a test can stop and start again (to drill a
Redis restart), on a free port of 127.0.0.1, without persistence (a
restart comes back empty, as a crashed Redis without AOF does).
"""

import os
import shutil
import subprocess
import tempfile
import time
from typing import Optional

from fxim.testing import freePort

REDIS_SERVER = shutil.which("redis-server")
SKIP = None if REDIS_SERVER else "redis-server is not installed"


class RedisServer:
    """
    @ivar port: its TCP port (kept across restarts).
    @ivar url: the C{redis://} URL.
    """

    def __init__(self) -> None:
        self.port = freePort()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = tempfile.mkdtemp(prefix="fxim-redis-")
        self._process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 10.0) -> None:
        """
        Start it and wait until it answers PING.
        """
        assert REDIS_SERVER is not None, "redis-server not installed"
        self._process = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.folder,
             "--logfile", os.path.join(self.folder, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def _ping(self) -> bool:
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """
        Kill it (SIGKILL: connections are cut, nothing is saved).
        """
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self._process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
