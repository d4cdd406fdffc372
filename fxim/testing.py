# -*- test-case-name: fxim.test.e2e.test_spine -*-
"""
Public test helpers for fxim and for plugin authors.

  - L{buildMemoryNode} / L{memoryNode}: a whole node in memory (memory
    store and directory, the local bus, a L{MemoryReactorClock}) with the
    real services wired exactly as C{twistd fxim} wires them, and the
    handler plugins behind a real dispatcher;
  - L{FakeConnection}: an L{IConnection} that records what it is sent;
  - L{connectedPair}: fxim's real TCP server protocol and the SDK's client
    protocol (L{fxim.client}) joined in memory by L{twisted.test.iosim},
    for in-process end-to-end unit tests;
  - L{ServerProcess}: a real C{twistd -n fxim} node in a child process on
    free 127.0.0.1 ports, for end-to-end tests and benchmarks; plugin
    authors use it to test their drop-ins against a real server.
"""

import os
import random
import shutil
import signal
import socket
import sys
import tempfile
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import attr
from twisted.internet import protocol
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, ensureDeferred, maybeDeferred
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.test.iosim import IOPump, connectedServerAndClient
from zope.interface import implementer

from fxim.api import FximAPI, apiFor
from fxim.config import Config
from fxim.dispatch import Dispatcher, HandlerRegistry, Outcome
from fxim.interfaces import IConnection

_log = Logger()

#: The login code of a node built by L{buildMemoryNode} (unless its config
#: names another).
LOGIN_CODE = "556677"


@implementer(IConnection)
class FakeConnection:
    """
    An L{IConnection} that records what it is sent.

    @ivar pushes: the push objects, in order (C{sendPush}).
    @ivar replies: the replies of requests run with L{MemoryNode.request}.
    @ivar disconnected: whether C{disconnect} was called.
    @ivar idleTimeout: the last C{setIdleTimeout} value.
    """

    def __init__(self, userId: Optional[str] = None, cid: Optional[str] = None,
                 transportName: str = "tcp", peer: str = "fake") -> None:
        self.userId = userId
        self.cid = cid
        self.transportName = transportName
        self.peer = peer
        self.pushes: List[Any] = []
        self.replies: List[Any] = []
        self.disconnected = False
        self.idleTimeout: Optional[float] = None

    def sendPush(self, push: Any) -> None:
        self.pushes.append(push)

    def disconnect(self) -> None:
        self.disconnected = True

    def setIdleTimeout(self, seconds: float) -> None:
        self.idleTimeout = seconds


@attr.s(auto_attribs=True)
class MemoryNode:
    """
    A node built by L{buildMemoryNode}.

    @ivar config: its L{Config}.
    @ivar clock: its reactor (a L{MemoryReactorClock} unless one was given):
        advance it to run timers.
    @ivar server: the L{fxim.node.Node}, as handlers see it in
        C{context.node}.
    @ivar site: its HTTP site (not listening).
    @ivar registry: the L{HandlerRegistry} of its handler plugins.
    @ivar dispatcher: the L{Dispatcher} its transports would use.
    """

    config: Config
    clock: Any
    server: Any
    site: Any
    registry: HandlerRegistry
    dispatcher: Dispatcher
    closers: List[Callable[[], Any]] = attr.ib(factory=list, repr=False)

    @property
    def api(self) -> FximAPI:
        """
        The node's L{FximAPI}, as handlers see it in C{context.api}.
        """
        return apiFor(self.server)

    async def login(self, mobile: str = "13800000001", cid: str = "phone") -> Tuple[str, str]:
        """
        Log a device in over the HTTP login flow's service (creating the
        user on first use).

        @return: C{(userId, token)}.
        """
        result = await self.server.auth.login(mobile, self.config.loginCode, cid)
        return result.userId, result.token

    async def bind(self, connection: Any, userId: str, cid: str) -> None:
        """
        Attach C{connection} as device C{(uid, cid)}, as an accepted CONNECT
        does (the directory, the bus and the device hooks learn it).
        """
        await self.server.sessions.bind(connection, userId, cid)

    def request(self, connection: Any, signal: int, subsignal: int, payload: Any,
                messageId: int = 1) -> "Deferred[Outcome]":
        """
        Run one request through the dispatcher as a transport would
        (C{payload}: the TCP body or the WebSocket content, per
        C{connection.transportName}); its reply is also appended to
        C{connection.replies} when it has one.
        """
        from fxim.protocol.wire import TcpWire, WsWire
        from fxim.wire.envelope import Envelope
        from fxim.wire.frame import Frame
        commands = self.dispatcher.commands
        if connection.transportName == "tcp":
            incoming = TcpWire(commands).incoming(Frame(signal, subsignal, messageId, payload))
        else:
            incoming = WsWire(commands).incoming(Envelope(signal, subsignal, messageId, payload))
        d = self.dispatcher.dispatch(connection, incoming)

        def record(outcome: Outcome) -> Outcome:
            if outcome.reply is not None and hasattr(connection, "replies"):
                connection.replies.append(outcome.reply)
            return outcome
        return d.addCallback(record)

    def tcpFactory(self) -> Any:
        """
        @return: a L{fxim.transport.tcp.FrameFactory} serving this node, as
            C{twistd fxim}'s TCP listener does.
        """
        from fxim.transport.tcp import FrameFactory
        config = self.config
        return FrameFactory(self.dispatcher, self.clock, config.maxFrameSize, config.tcpIdle,
                            onLost=self.server.sessions.connectionLost,
                            preAuthMaxLength=config.preAuthMaxFrame,
                            connectTimeout=config.connectTimeout)

    async def close(self) -> None:
        """
        Close the node's connections, then stop what it started, last
        started first.
        """
        for closer in reversed(self.closers):
            await maybeDeferred(closer)
        self.closers = []


async def buildMemoryNode(config: Optional[Config] = None, reactor: Any = None,
                          plugins: Optional[Iterable[Any]] = None, store: Any = None,
                          directory: Any = None, bus: Any = None) -> MemoryNode:
    """
    Build a node in memory with the production wiring
    (L{fxim.node.buildNode}), its timed services started.

    @param config: its configuration (default: C{Config()} with the login
        code L{LOGIN_CODE}); its C{dataDir} is replaced with a fresh
        temporary folder (for the HMAC key file), removed by
        L{MemoryNode.close}.
    @param reactor: its reactor (default: a new L{MemoryReactorClock}).
    @param plugins: its handler plugins (default: every installed one but
        those C{config.disabledPlugins} names).
    @param store: its store (default: a new
        L{fxim.storage.memory.MemoryStore}).
    @param directory: its L{fxim.interfaces.IDirectory} (default: a new
        L{fxim.directory.memory.MemoryDirectory}).
    @param bus: its delivery bus (default: a L{fxim.bus.local.LocalBus}
        over the node's connections; pass a recording one to look at
        deliveries instead of connections).
    """
    from fxim.bus.local import LocalBus, LocalConnections
    from fxim.directory.memory import MemoryDirectory
    from fxim.node import Presence, buildNode
    from fxim.storage.memory import MemoryStore
    if config is None:
        config = Config(loginCode=LOGIN_CODE)
    if reactor is None:
        reactor = MemoryReactorClock()
    dataDir = tempfile.mkdtemp(prefix="fxim-memory-node-")
    config = attr.evolve(config, dataDir=dataDir)
    connections = LocalConnections()
    presence = Presence(MemoryDirectory() if directory is None else directory, connections,
                        LocalBus(connections) if bus is None else bus)
    server, services, site = buildNode(
        config, reactor, MemoryStore() if store is None else store, presence)
    closers: List[Callable[[], Any]] = [lambda: shutil.rmtree(dataDir, ignore_errors=True)]
    # Started in order and stopped in reverse, as fxim.node.NodeService does.
    for service in services:
        service.startService()
        closers.append(service.stopService)
        await service.whenStarted()  # type: ignore[attr-defined]
    closers.append(server.sessions.disconnectAll)
    registry = HandlerRegistry.fromPlugins(
        None if plugins is None else list(plugins), disabled=config.disabledPlugins)
    dispatcher = Dispatcher(registry, server, reactor, config.requestRate, config.requestBurst)
    return MemoryNode(config, reactor, server, site, registry, dispatcher, closers)


def memoryNode(config: Optional[Config] = None, reactor: Any = None, **kwargs: Any) -> MemoryNode:
    """
    L{buildMemoryNode}, for synchronous tests: with in-memory parts the
    node is built before this returns.

    @raise RuntimeError: if the build waited on something (a configuration
        that reaches outside the process).
    """
    result: List[Any] = []
    ensureDeferred(buildMemoryNode(config, reactor, **kwargs)).addBoth(result.append)
    if not result:
        raise RuntimeError("the node did not build synchronously")
    if isinstance(result[0], Failure):
        result[0].raiseException()
    node: MemoryNode = result[0]
    return node


def autobahnOnClock(case: Any, clock: Any) -> None:
    """
    Run Autobahn's timers (txaio's C{call_later}: handshake and closing
    timeouts, its batched timers) on C{clock} until C{case} ends.

    A test driving WebSockets in memory otherwise leaves them on the
    global reactor, where the next real-reactor test finds them and fails
    with "Reactor was unclean".
    """
    from txaio import tx
    previous = tx.config.loop
    tx.config.loop = clock

    def restore() -> None:
        tx.config.loop = previous
    case.addCleanup(restore)


def connectedPair(node: MemoryNode,
                  peer: Tuple[str, int] = ("127.0.0.1", 40000)) -> Tuple[Any, Any, IOPump]:
    """
    Join the SDK's TCP client protocol to C{node}'s real TCP server
    protocol in memory.

    Requests complete when the pump moves the bytes::

        client, server, pump = connectedPair(node)
        d = ensureDeferred(client.connect(uid, token, "phone"))
        pump.flush()
        ack = self.successResultOf(d)

    @return: C{(client, serverProtocol, pump)}: a
        L{fxim.client.connection.ClientConnection}, the node's
        L{fxim.transport.tcp.FrameProtocol} and the L{IOPump} (C{flush()}
        it after each request).
    """
    from fxim.client.connection import _TcpProtocol
    factory = node.tcpFactory()
    address = IPv4Address("TCP", *peer)
    return connectedServerAndClient(lambda: factory.buildProtocol(address),
                                    lambda: _TcpProtocol(node.clock), greet=True)

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
        self._process: Any = None
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
        return self._portsListen() and "ready" in self.log()

    def _portsListen(self) -> bool:
        """
        Whether the node's TCP, WebSocket and HTTP ports accept connections.
        """
        for port in (self.tcpPort, self.wsPort, self.httpPort):
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", port)) != 0:
                    return False
        return True

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
        output = self._output
        if self._process is None or output is None or output.ended.called:
            return
        names: Dict[int, Any] = {signal.SIGTERM: "TERM", signal.SIGKILL: "KILL"}
        try:
            self._process.signalProcess(names.get(sig, sig))
        except Exception:
            pass
        timer = self.reactor.callLater(timeout, self._kill)
        await output.ended
        if timer.active():
            timer.cancel()

    async def cleanup(self) -> None:
        """
        Stop the node, then remove its data folder if this object created
        it (set C{FXIM_KEEP_NODE_DIRS=1} to keep them for debugging).
        """
        await self.stop()
        if self.ownsDataDir and not os.environ.get("FXIM_KEEP_NODE_DIRS"):
            shutil.rmtree(self.dataDir, ignore_errors=True)

    async def exitCode(self) -> Optional[int]:
        """
        Wait for the process to end.

        @return: its exit status (None if killed by a signal).
        """
        assert self._output is not None, "not started"
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
