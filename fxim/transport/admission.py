# -*- test-case-name: fxim.test.unit.test_admission -*-
"""
Connection admission shared by every listener of a node (TCP, WebSocket
and HTTP): a total cap and a per-IP cap on open connections, and raising
the process's file-descriptor limit at start.

Without caps a client (or a botnet behind one address) can open idle
connections until the node runs out of file descriptors, and then no one
can connect.  Over a cap a connection is accepted and closed at once
(before any TLS handshake or HTTP parsing), and a summary line is logged
at most once per L{ConnectionCaps.logInterval} seconds.
"""

from typing import TYPE_CHECKING, Any, Dict, Optional, cast

from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

_log = Logger()

#: File descriptors kept back from the connection cap for storage, Redis,
#: logs and listening sockets.
FD_RESERVE = 128


class ConnectionCaps:
    """
    Counts the open connections of a node by peer address.

    @ivar maxTotal: the most connections open at once (0 = no cap).
    @ivar maxPerIp: the most connections from one IP address (0 = no cap).
    @ivar total: the connections open now.
    @ivar refused: connections refused since the last summary line.
    """

    logInterval = 10.0

    def __init__(self, clock: Any, maxTotal: int = 0, maxPerIp: int = 0) -> None:
        self.clock = clock
        self.maxTotal = maxTotal
        self.maxPerIp = maxPerIp
        self.total = 0
        self.refused = 0
        self._byHost: Dict[str, int] = {}
        self._lastLog: Optional[float] = None

    def admit(self, host: Optional[str]) -> bool:
        """
        Count a new connection from C{host} if the caps allow it.

        @param host: the peer's IP address, or L{None} when it has none
            (UNIX sockets: only the total cap applies).
        @return: whether it was admitted (and must be L{release}d).
        """
        if self.maxTotal and self.total >= self.maxTotal:
            self._refuse("total", host)
            return False
        if host is not None and self.maxPerIp and self._byHost.get(host, 0) >= self.maxPerIp:
            self._refuse("per-IP", host)
            return False
        self.total += 1
        if host is not None:
            self._byHost[host] = self._byHost.get(host, 0) + 1
        return True

    def release(self, host: Optional[str]) -> None:
        """
        Forget a connection L{admit} counted.
        """
        self.total -= 1
        if host is not None:
            left = self._byHost.get(host, 0) - 1
            if left > 0:
                self._byHost[host] = left
            else:
                self._byHost.pop(host, None)

    def openFrom(self, host: str) -> int:
        """
        @return: the connections open now from C{host}.
        """
        return self._byHost.get(host, 0)

    def _refuse(self, which: str, host: Optional[str]) -> None:
        # One line per interval: a flood must not turn into a log flood.
        self.refused += 1
        now = self.clock.seconds()
        if self._lastLog is None or now - self._lastLog >= self.logInterval:
            _log.warn("refusing connections over the {which} cap ({refused} refused since the "
                      "last report; last from {host}; {total} open)", which=which,
                      refused=self.refused, host=host or "?", total=self.total)
            self._lastLog = now
            self.refused = 0


class _Refusal(Protocol):
    """
    Closes its connection as soon as it is made.
    """

    def connectionMade(self) -> None:
        # A listener's transport: TCP, or TLS over it; both abort.
        cast(ITCPTransport, self.transport).abortConnection()


class _CountedWrapper(ProtocolWrapper):
    host: Optional[str] = None


if TYPE_CHECKING:
    _WrappingFactory = WrappingFactory[_CountedWrapper]
else:
    # Older Twisted (the PyPy venv's) has no generic WrappingFactory.
    _WrappingFactory = WrappingFactory


class CappedFactory(_WrappingFactory):
    """
    Wraps a listener's factory so that its connections count against
    shared L{ConnectionCaps}.
    """

    protocol = _CountedWrapper
    noisy = False

    def __init__(self, wrappedFactory: Any, caps: ConnectionCaps) -> None:
        super().__init__(wrappedFactory)
        self.caps = caps

    def buildProtocol(self, addr: Any) -> Any:
        host = getattr(addr, "host", None)
        if not self.caps.admit(host):
            return _Refusal()
        try:
            wrapper = super().buildProtocol(addr)
        except BaseException:
            self.caps.release(host)
            raise
        wrapper.host = host
        return wrapper

    def unregisterProtocol(self, p: Any) -> None:
        super().unregisterProtocol(p)
        self.caps.release(p.host)

    def __getattr__(self, name: str) -> Any:
        # Code that holds the listener's factory (tests, autobahn's own
        # lookups) still finds the wrapped factory's attributes.
        if name == "wrappedFactory":
            raise AttributeError(name)
        return getattr(self.wrappedFactory, name)


def raiseFileLimit(resource: Any = None) -> Optional[int]:
    """
    Raise the soft C{RLIMIT_NOFILE} to the hard limit, where allowed.

    @param resource: the C{resource} module (a twin in tests).
    @return: the soft limit now in force, or L{None} where the platform
        has no such limit.
    """
    if resource is None:
        try:
            import resource  # type: ignore[no-redef]
        except ImportError:
            return None
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1024 * 1024)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError) as e:
            _log.info("could not raise the file limit from {soft} to {wanted}: {error}",
                      soft=soft, wanted=wanted, error=str(e))
    return soft


def effectiveTotalCap(configured: int, fileLimit: Optional[int]) -> int:
    """
    The total connection cap to enforce: the configured one, lowered so
    that the node keeps L{FD_RESERVE} descriptors for itself.

    @param configured: C{--max-connections} (0 = only the file limit).
    @param fileLimit: the soft file limit, or L{None} if unknown.
    """
    if fileLimit is None:
        return configured
    room = max(fileLimit - FD_RESERVE, 1)
    return room if configured == 0 else min(configured, room)
