# -*- test-case-name: fxim.test.e2e.test_health -*-
"""
Readiness (C{GET /ready}), outage logging and start-up failure reports.

  - L{Readiness} runs named checks (the database, Redis) with a timeout;
    L{ReadyResource} answers 200 when all pass and 503 naming the failing
    ones otherwise.  C{/health} stays a liveness probe.
  - L{OutageLog} turns the errors of an unreachable dependency into one
    log line when the outage starts, one summary per interval while it
    lasts and one when it ends, instead of a traceback per request.
  - L{describeStartFailure} gives the one line a failed start prints.
"""

import errno
import re
import sqlite3
from typing import Any, Callable, Dict, List, Optional, Tuple

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import CannotListenError, ConnectError, ConnectionLost
from twisted.logger import Logger

from fxim.transport.http import JsonResource

_log = Logger()

#: Seconds one readiness check may take before it counts as failed.
CHECK_TIMEOUT = 3.0

#: Seconds between two summary lines of one ongoing outage.
OUTAGE_INTERVAL = 10.0


def redactUrl(url: Optional[str]) -> str:
    """
    C{url} with any password replaced by C{***}.
    """
    if not url:
        return ""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def outageKind(exception: BaseException) -> Optional[str]:
    """
    The dependency an exception says is unreachable (C{"database"},
    C{"redis"}, C{"disk"}), or L{None} for any other error (a bug, logged
    with its traceback).
    """
    module = type(exception).__module__ or ""
    name = type(exception).__name__
    if module.startswith("psycopg2") and name in ("OperationalError", "InterfaceError"):
        return "database"
    if module == "twisted.enterprise.adbapi" and name == "ConnectionLost":
        return "database"
    if module == "fxim.storage.pgasync" and name in ("Unavailable", "Interrupted"):
        # An asynchronous connection lost under a query (a message batch).
        return "database"
    if isinstance(exception, sqlite3.OperationalError):
        text = str(exception)
        if "disk" in text or "full" in text or "unable to open" in text:
            return "disk"
        return "database"
    if module.startswith("txredisapi") and name in ("ConnectionError", "TimeoutError"):
        return "redis"
    if isinstance(exception, OSError) and exception.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk"
    if isinstance(exception, (ConnectionLost, ConnectError)) and "redis" in module:
        return "redis"
    return None


class OutageLog:
    """
    Rate-limited logging of an unreachable dependency, per kind.

    @ivar counts: failures noted so far per kind (for tests and metrics).
    """

    def __init__(self, clock: Any, interval: float = OUTAGE_INTERVAL,
                 log: Logger = _log) -> None:
        self.clock = clock
        self.interval = interval
        self.log = log
        self.counts: Dict[str, int] = {}
        self._open: Dict[str, Tuple[float, float, int]] = {}  # start, last line, since it

    def failed(self, kind: str, error: BaseException, what: str = "") -> None:
        """
        Note one failure of C{kind}: logged at once if no outage of that
        kind is open, else counted and summarised once per interval.
        """
        now = self.clock.seconds()
        self.counts[kind] = self.counts.get(kind, 0) + 1
        from fxim import metrics
        metrics.DEPENDENCY_ERRORS.labels(kind).inc()
        if kind not in self._open:
            self._open[kind] = (now, now, 0)
            self.log.error("{kind} unavailable: {error}{what} (further failures are counted "
                           "and summarised every {interval:.0f} s)", kind=kind,
                           error=_oneLine(error), what=f" ({what})" if what else "",
                           interval=self.interval)
            return
        start, last, count = self._open[kind]
        count += 1
        if now - last >= self.interval:
            self.log.error("{kind} still unavailable after {seconds:.0f} s: {count} failed "
                           "operations in the last {since:.0f} s; last error: {error}",
                           kind=kind, seconds=now - start, count=count, since=now - last,
                           error=_oneLine(error))
            self._open[kind] = (start, now, 0)
        else:
            self._open[kind] = (start, last, count)

    def recovered(self, kind: str) -> None:
        """
        Close an open outage of C{kind} with one line.
        """
        if kind in self._open:
            start, _, count = self._open.pop(kind)
            self.log.info("{kind} available again after {seconds:.1f} s ({count} more failed "
                          "operations)", kind=kind, seconds=self.clock.seconds() - start,
                          count=count)

    def isOpen(self, kind: str) -> bool:
        return kind in self._open


def _oneLine(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:300]


class Readiness:
    """
    Named checks, each a no-argument callable returning a L{Deferred} (or
    coroutine) that fails when its dependency is unreachable.
    """

    def __init__(self, clock: Any, outages: Optional[OutageLog] = None) -> None:
        self.clock = clock
        self.outages = outages
        self.checks: List[Tuple[str, Callable[[], Any]]] = []

    def add(self, name: str, check: Callable[[], Any]) -> None:
        self.checks.append((name, check))

    async def run(self) -> Dict[str, str]:
        """
        @return: C{{name: "ok" or "error: …"}} of every check.
        """
        results: Dict[str, str] = {}
        for name, check in self.checks:
            d = maybeDeferred(check)
            d.addCallback(lambda r: Deferred.fromCoroutine(r) if hasattr(r, "send") else r)
            d.addTimeout(CHECK_TIMEOUT, self.clock)
            try:
                await d
            except Exception as e:
                results[name] = "error: " + _oneLine(e)
                if self.outages is not None:
                    self.outages.failed(name, e, "readiness check")
            else:
                results[name] = "ok"
                if self.outages is not None:
                    self.outages.recovered(name)
        return results


class ReadyResource(JsonResource):
    """
    C{GET /ready}: 200 C{{"ok":true,"checks":{…}}} when the database and
    Redis answer, else 503 with C{"ok":false} and the failing checks.
    """

    def __init__(self, readiness: Readiness) -> None:
        JsonResource.__init__(self)
        self.readiness = readiness

    async def handle(self, request):
        checks = await self.readiness.run()
        ok = all(v == "ok" for v in checks.values())
        return (200 if ok else 503), {"ok": ok, "checks": checks}


def databaseCheck(store: Any) -> Callable[[], Any]:
    """
    A check running C{SELECT 1} on the store's read pool (always passing
    for a store without one, the in-memory twin).
    """
    pool = getattr(store, "_readPool", None)

    def select(cursor: Any) -> Any:
        cursor.execute("SELECT 1")
        return cursor.fetchall()

    def check():
        if pool is None:
            return None
        # runInteraction: the SQLite read pool (InlineReader) has only that.
        return pool.runInteraction(select)
    return check


class StartFailure(Exception):
    """
    A start-up step failed for a reason the operator can fix; its text is
    the whole report.
    """


def describeStartFailure(error: BaseException, config: Any) -> Optional[str]:
    """
    The one line a failed start prints, or L{None} for an unexpected error
    (reported with its traceback: that is a bug).
    """
    if isinstance(error, StartFailure):
        return str(error)
    from fxim.transport.tls import TLSConfigError
    if isinstance(error, TLSConfigError):
        return f"{error}; fix the ssl: endpoint's files"
    kind = outageKind(error)
    if kind == "database" and config.database:
        return (f"cannot connect to PostgreSQL at {redactUrl(config.database)}: "
                f"{' '.join(str(error).split())}; check --database (or FXIM_DATABASE), the "
                "password and that the server is running")
    if kind in ("database", "disk"):
        return (f"cannot open the database in {config.dataDir}: {error}; check the folder's "
                "permissions and free space")
    if isinstance(error, (ConnectError, ConnectionRefusedError)) or kind == "redis":
        return (f"cannot connect to Redis at {redactUrl(config.redis)}: {_oneLine(error)}; "
                "check --redis (or FXIM_REDIS) and that Redis is running")
    if isinstance(error, PermissionError):
        return f"{error}; check file permissions"
    if isinstance(error, FileNotFoundError):
        return f"{error}"
    return None


def listenFailure(name: str, description: str, error: CannotListenError) -> StartFailure:
    """
    The L{StartFailure} of a port that cannot listen.
    """
    reason = getattr(error.socketError, "strerror", None) or str(error.socketError)
    return StartFailure(f"cannot listen for --{name} on {description}: {reason}; stop what "
                        f"uses the port or give another one with --{name}")
