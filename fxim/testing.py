# -*- test-case-name: fxim.test.test_e2e_spine -*-
"""
Public test helpers for fxim and for plugin authors.

L{ServerProcess} runs a real C{twistd -n fxim} node in a child process on
free 127.0.0.1 ports, for end-to-end tests and benchmarks; plugin authors
use it to test their drop-ins against a real server.
"""

import os
import random
import signal
import socket
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.logger import Logger

_log = Logger()

#: The repository (or site-packages) folder holding the C{fxim} package.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def freePort() -> int:
    """
    @return: a TCP port on 127.0.0.1 that was free a moment ago.

    Chosen below the kernel's ephemeral range, so the outgoing connections
    of concurrent tests (which take ephemeral ports) cannot grab it
    between this check and the node's C{listen}.
    """
    low, high = _listenRange()
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listenRange() -> Tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeralLow = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeralLow = 32768
    return 10000, max(10001, ephemeralLow - 1)


class _Output(protocol.ProcessProtocol):
    def __init__(self, path: str) -> None:
        self._file = open(path, "ab")
        self.ended: Deferred = Deferred()
        self.status = None

    def outReceived(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()

    errReceived = outReceived

    def processEnded(self, reason) -> None:
        self._file.close()
        self.status = reason.value
        self.ended.callback(reason.value)


class ServerProcess:
    """
    A C{twistd -n fxim} child process.

    @ivar tcpPort: the binary protocol port.
    @ivar wsPort: the WebSocket port.
    @ivar httpPort: the HTTP API port.
    @ivar dataDir: its C{--data-dir}.
    @ivar logPath: its combined stdout/stderr.

    @param tcpEndpoint: the C{--tcp} endpoint, with C{{port}} standing for
        the chosen free port (e.g. an C{ssl:} one).
    @param wsEndpoint: the C{--ws} endpoint, likewise.
    @param httpEndpoint: the C{--http} endpoint, likewise (an C{ssl:} one
        makes L{httpBase} C{https://}).
    """

    def __init__(self, reactor, args: Sequence[str] = (), dataDir: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, loginCode: Optional[str] = "556677",
                 pythonPath: Sequence[str] = (),
                 tcpEndpoint: str = "tcp:{port}:interface=127.0.0.1",
                 wsEndpoint: str = "tcp:{port}:interface=127.0.0.1",
                 httpEndpoint: str = "tcp:{port}:interface=127.0.0.1") -> None:
        self.reactor = reactor
        self.tcpPort, self.wsPort, self.httpPort = freePort(), freePort(), freePort()
        #: Whether L{cleanup} removes C{dataDir} (it made it).
        self.ownsDataDir = dataDir is None
        self.dataDir = dataDir or tempfile.mkdtemp(prefix="fxim-node-")
        self.logPath = os.path.join(self.dataDir, "node.log")
        self.args = list(args)
        self.loginCode = loginCode
        self.env = dict(env or {})
        self.pythonPath = list(pythonPath)
        self.tcpEndpoint = tcpEndpoint
        self.wsEndpoint = wsEndpoint
        self.httpEndpoint = httpEndpoint
        self._process = None
        self._output: Optional[_Output] = None
        self._started = False

    @property
    def httpBase(self) -> str:
        scheme = "https" if self.httpEndpoint.startswith("ssl:") else "http"
        return f"{scheme}://127.0.0.1:{self.httpPort}"

    #: The interpreter that runs the node (e.g. a PyPy).
    python: str = sys.executable

    def commandLine(self) -> List[str]:
        args = [self.python, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "--logfile=-", "fxim", "--data-dir", self.dataDir,
                "--tcp", self.tcpEndpoint.format(port=self.tcpPort),
                "--ws", self.wsEndpoint.format(port=self.wsPort),
                "--http", self.httpEndpoint.format(port=self.httpPort)]
        if self.loginCode is not None:
            args += ["--login-code", self.loginCode]
        return args + self.args

    async def start(self, timeout: float = 30.0, retries: int = 3) -> "ServerProcess":
        """
        Start the node and wait until all three ports accept connections.

        A first start that fails because a port was taken meanwhile is
        retried (up to C{retries} times) on new ports; a restart keeps its
        ports, since its clients reconnect to them.

        @raise RuntimeError: if it exits or is not ready within C{timeout}.
        """
        env = dict(os.environ)
        # Another interpreter (PyPy) cannot use this one's paths, which
        # trial's workers put in PYTHONPATH.
        inherited = [env.get("PYTHONPATH", "")] if self.python == sys.executable else []
        env["PYTHONPATH"] = os.pathsep.join([_ROOT] + self.pythonPath + inherited)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.env)
        self._output = _Output(self.logPath)
        argv = self.commandLine()
        self._process = self.reactor.spawnProcess(self._output, argv[0], argv, env=env, path=_ROOT)
        deadline = self.reactor.seconds() + timeout
        while True:
            if self._output.ended.called:
                if not self._started and "Address already in use" in self.log() and retries:
                    # Another test took a port between freePort and listen.
                    self.tcpPort, self.wsPort, self.httpPort = freePort(), freePort(), freePort()
                    return await self.start(timeout, retries - 1)
                raise RuntimeError(f"fxim exited during startup; log:\n{self.log()}")
            if self._listening():
                self._started = True
                return self
            if self.reactor.seconds() > deadline:
                await self.stop()
                raise RuntimeError(f"fxim not ready after {timeout}s; log:\n{self.log()}")
            await _sleep(self.reactor, 0.1)

    def _listening(self) -> bool:
        for port in (self.tcpPort, self.wsPort, self.httpPort):
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    return False
        return "ready" in self.log()

    def log(self) -> str:
        try:
            with open(self.logPath, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    @property
    def pid(self) -> Optional[int]:
        return None if self._process is None else self._process.pid

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """
        Send C{sig} (SIGKILL for a crash test) and wait for the exit.
        """
        if self._process is None or self._output.ended.called:
            return
        try:
            self._process.signalProcess({signal.SIGTERM: "TERM", signal.SIGKILL: "KILL"}.get(sig, sig))
        except Exception:
            pass
        timer = self.reactor.callLater(timeout, self._kill)
        await self._output.ended
        if timer.active():
            timer.cancel()

    async def cleanup(self) -> None:
        """
        Stop the node, then remove its data folder if this object created
        it (set C{FXIM_KEEP_NODE_DIRS=1} to keep them for debugging).
        """
        await self.stop()
        if self.ownsDataDir and not os.environ.get("FXIM_KEEP_NODE_DIRS"):
            import shutil
            shutil.rmtree(self.dataDir, ignore_errors=True)

    async def exitCode(self) -> Optional[int]:
        """
        Wait for the process to end.

        @return: its exit status (None if killed by a signal).
        """
        status = await self._output.ended
        return getattr(status, "exitCode", None)

    def _kill(self) -> None:
        try:
            self._process.signalProcess("KILL")
        except Exception:
            pass


def _sleep(reactor, seconds: float) -> Deferred:
    from twisted.internet.task import deferLater
    return deferLater(reactor, seconds, lambda: None)
