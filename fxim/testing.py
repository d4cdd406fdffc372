# -*- test-case-name: fxim.test.test_e2e_spine -*-
"""
Public test helpers for fxim and for plugin authors.

L{ServerProcess} runs a real C{twistd -n fxim} node in a child process on
free 127.0.0.1 ports, for end-to-end tests and benchmarks; plugin authors
use it to test their drop-ins against a real server.
"""

import os
import signal
import socket
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.logger import Logger

_log = Logger()

#: The repository (or site-packages) folder holding the C{fxim} package.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def freePort() -> int:
    """
    @return: a TCP port on 127.0.0.1 that was free a moment ago.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    """

    def __init__(self, reactor, args: Sequence[str] = (), dataDir: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, loginCode: Optional[str] = "556677",
                 pythonPath: Sequence[str] = (),
                 tcpEndpoint: str = "tcp:{port}:interface=127.0.0.1") -> None:
        self.reactor = reactor
        self.tcpPort, self.wsPort, self.httpPort = freePort(), freePort(), freePort()
        self.dataDir = dataDir or tempfile.mkdtemp(prefix="fxim-node-")
        self.logPath = os.path.join(self.dataDir, "node.log")
        self.args = list(args)
        self.loginCode = loginCode
        self.env = dict(env or {})
        self.pythonPath = list(pythonPath)
        self.tcpEndpoint = tcpEndpoint
        self._process = None
        self._output: Optional[_Output] = None

    @property
    def httpBase(self) -> str:
        return f"http://127.0.0.1:{self.httpPort}"

    def commandLine(self) -> List[str]:
        args = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "--logfile=-", "fxim", "--data-dir", self.dataDir,
                "--tcp", self.tcpEndpoint.format(port=self.tcpPort),
                "--ws", f"tcp:{self.wsPort}:interface=127.0.0.1",
                "--http", f"tcp:{self.httpPort}:interface=127.0.0.1"]
        if self.loginCode is not None:
            args += ["--login-code", self.loginCode]
        return args + self.args

    async def start(self, timeout: float = 30.0) -> "ServerProcess":
        """
        Start the node and wait until all three ports accept connections.

        @raise RuntimeError: if it exits or is not ready within C{timeout}.
        """
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([_ROOT] + self.pythonPath + [env.get("PYTHONPATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.env)
        self._output = _Output(self.logPath)
        argv = self.commandLine()
        self._process = self.reactor.spawnProcess(self._output, argv[0], argv, env=env, path=_ROOT)
        deadline = self.reactor.seconds() + timeout
        while True:
            if self._output.ended.called:
                raise RuntimeError(f"fxim exited during startup; log:\n{self.log()}")
            if self._listening():
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

    def _kill(self) -> None:
        try:
            self._process.signalProcess("KILL")
        except Exception:
            pass


def _sleep(reactor, seconds: float) -> Deferred:
    from twisted.internet.task import deferLater
    return deferLater(reactor, seconds, lambda: None)
