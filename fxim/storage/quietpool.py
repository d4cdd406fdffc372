# -*- test-case-name: fxim.test.e2e.test_health -*-
"""
A quieter C{adbapi} connection for outages.

When the database goes away, Twisted's C{adbapi.Connection.rollback} logs
two tracebacks ("Rollback failed") for every transaction that fails, on
top of the error fxim already reports once per outage interval
(L{fxim.health.OutageLog}).  L{QuietConnection} drops the broken
connection the same way but without the tracebacks; the transaction's own
error still reaches the caller.  Other rollback errors are logged as
before.
"""

from __future__ import annotations

from twisted.enterprise import adbapi
from twisted.logger import Logger

_log = Logger()


class QuietConnection(adbapi.Connection):
    """
    An C{adbapi.Connection} whose failed rollback on a lost connection is
    silent (set as a pool's C{connectionFactory}).
    """

    def rollback(self) -> None:
        if not self._pool.reconnect:
            self._connection.rollback()
            return
        try:
            self._connection.rollback()
            cursor = self._connection.cursor()
            cursor.execute(self._pool.good_sql)
            cursor.close()
            self._connection.commit()
            return
        except BaseException as e:
            from fxim.health import outageKind
            if outageKind(e) is None:
                _log.failure("Rollback failed")
        # The connection is broken: the next transaction opens a new one.
        self._pool.disconnect(self._connection)
