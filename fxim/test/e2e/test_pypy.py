# -*- test-case-name: fxim.test.e2e.test_pypy -*-
"""
End-to-end: a real C{twistd fxim} node running under PyPy, driven from
this (CPython) test process over real TCP and HTTP: login, CONNECT, MS,
MN, MP.  On the embedded default (SQLite) this is the regression test for
"cannot commit transaction - SQL statements in progress" (PyPy frees an
unfinished implicit cursor only at its next GC); on PostgreSQL + Redis it
runs through psycopg2cffi.

The interpreter: C{$FXIM_TEST_PYPY}, else the venv that C{.ci/pypy-env.sh}
makes (C{${FXIM_PYPY_ENV:-/var/tmp/fxim-pypy}/bin/python}).  The tests skip
only when no PyPy is installed at all; a PyPy without fxim's dependencies
fails, naming the script that installs them.
"""

import os
import shutil
import subprocess
from typing import Any, Optional, Sequence

from twisted.internet import reactor
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from fxim.test import ROOT
from fxim.client import Inbox
from fxim.model import Conversation, Message, MessageContent
from fxim.storage.dialect import POSTGRES
from fxim.storage.pgdriver import registerDriver
from fxim.test.e2e import NodeTestMixin, ProductionBackend, withTimeout
from fxim.testing import ServerProcess
from fxim.wire.requests import MessageNotify, PullMessages, SendMessage

_ROOT = ROOT

def findPyPy() -> Optional[str]:
    """
    @return: the PyPy to run nodes with, or L{None} if none is installed.
    """
    explicit = os.environ.get("FXIM_TEST_PYPY")
    if explicit:
        return explicit
    venv = os.path.join(os.environ.get("FXIM_PYPY_ENV", "/var/tmp/fxim-pypy"), "bin", "python")
    if os.access(venv, os.X_OK):
        return venv
    return shutil.which("pypy3")


PYPY = findPyPy()
PYPY_SKIP = None if PYPY else "pypy3 is not installed (Debian: apt-get install pypy3 pypy3-venv)"

#: Run by the PyPy: every install_requires of setup.cfg whose marker applies
#: there must be installed in a satisfying version (so a dependency added
#: later is caught here, not as a node that fails to start).
_CHECK = """
import configparser, sys, platform
from importlib import metadata
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
missing = []
for line in cfg["options"]["install_requires"].splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    r = Requirement(line)
    if r.marker is not None and not r.marker.evaluate():
        continue
    version = installed.get(canonicalize_name(r.name))
    if version is None:
        missing.append(line)
        continue
    if not r.specifier.contains(version, prereleases=True):
        missing.append(line + " (have " + version + ")")
if missing:
    sys.exit("missing: " + "; ".join(missing))
print(sys.implementation.name, platform.python_version())
"""


def _foreignEnv() -> dict:
    """
    This process's environment for another interpreter: without
    C{PYTHONPATH}, which trial's workers set to this CPython's own paths
    (PyPy's C{site} fails on them).
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def checkPyPy(python: str) -> str:
    """
    @return: C{python}'s version line.
    @raise AssertionError: if it is not a PyPy with fxim's dependencies.
    """
    result = subprocess.run([python, "-c", _CHECK, os.path.join(_ROOT, "setup.cfg")],
                            capture_output=True, text=True, timeout=120, env=_foreignEnv())
    if result.returncode != 0:
        raise AssertionError(f"{python} lacks fxim's dependencies; run bash .ci/pypy-env.sh "
                             f"(or set FXIM_TEST_PYPY):\n{result.stderr[-1500:]}")
    line = result.stdout.strip()
    if not line.startswith("pypy "):
        raise AssertionError(f"{python} is not PyPy: {line}")
    return line


def text(target: str, body: str) -> SendMessage:
    return SendMessage(Message(Conversation(0, target, 0), "", MessageContent(type=1, searchableContent=body)))


class PyPyNodeMixin(NodeTestMixin):
    """
    The flow, on whichever backend the class mixes in.
    """

    skip = PYPY_SKIP

    async def startNode(self, args: Sequence[str] = (), **kwargs: Any) -> ServerProcess:
        assert PYPY is not None  # else skipped
        checkPyPy(PYPY)
        node = ServerProcess(reactor, list(self.backendArgs()) + list(args), **kwargs)
        node.python = PYPY
        self.addCleanup(node.stop)
        await node.start(timeout=90.0)
        return node

    async def test_sendNotifyPull(self):
        """
        Log in, CONNECT two devices over TCP, send 50 MS one way: each is
        acked (committed), notified (MN) and pulled (MP) exactly once and
        intact; then an explicit MP from 0 returns all of them in order.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000020", "tcp")
        b = await self.loginAndConnect(node, "13800000021", "tcp")
        notified = []
        b.onPush(lambda push: notified.append(push) if isinstance(push, MessageNotify) else None)
        inbox = Inbox(b)
        messageUids = []
        for i in range(50):
            ack = await a.request(text(b.userId, f"pypy {i} 你好"))
            messageUids.append(ack.messageUid)
        got = await withTimeout(inbox.waitFor(50), 60)
        self.assertEqual([m.messageUid for m in got], messageUids)
        self.assertEqual([m.content.searchableContent for m in got], [f"pypy {i} 你好" for i in range(50)])
        self.assertEqual({m.fromUser for m in got}, {a.userId})
        self.assertTrue(notified, "no MN pushed")
        result = await b.request(PullMessages(0, 0))
        self.assertEqual([m.messageUid for m in result.messages][:50], messageUids)
        self.assertIn("PyPy", node.log() + self._implementation(node))

    def _implementation(self, node: ServerProcess) -> str:
        """
        The node's interpreter as its /proc entry names it.
        """
        try:
            with open(f"/proc/{node.pid}/cmdline", "rb") as f:
                exe = f.read().split(b"\0")[0].decode()
        except OSError:
            return ""
        return subprocess.run([exe, "-c", "import sys; print(sys.version)"], capture_output=True,
                              text=True, timeout=60, env=_foreignEnv()).stdout


class PyPyEmbeddedTests(PyPyNodeMixin, NodeTestMixin, TestCase):
    """
    On the embedded default (SQLite).
    """

    timeout = 240


class PyPyProductionTests(PyPyNodeMixin, ProductionBackend, TestCase):
    """
    On PostgreSQL (psycopg2cffi) + Redis.
    """

    timeout = 240
    skip = PYPY_SKIP or ProductionBackend.skip


class DriverTests(SynchronousTestCase):
    """
    The PostgreSQL driver choice (L{registerDriver}) and the retryable
    errors, on this interpreter and on the PyPy.
    """

    def test_cpython(self):
        """
        On CPython the driver is psycopg2 itself.
        """
        self.assertEqual(registerDriver(), "psycopg2")

    def test_retryableBySqlstate(self):
        """
        Deadlocks and serialization failures are retried, by class
        (psycopg2) or by SQLSTATE (psycopg2cffi has no C{psycopg2.errors});
        other errors are not.
        """
        import psycopg2
        import psycopg2.errors as errors

        class Coded(psycopg2.OperationalError):
            pgcode = "40P01"

        class Other(psycopg2.OperationalError):
            pgcode = "23505"
        self.assertTrue(POSTGRES.isRetryable(errors.DeadlockDetected()))
        self.assertTrue(POSTGRES.isRetryable(errors.SerializationFailure()))
        self.assertTrue(POSTGRES.isRetryable(Coded()))
        self.assertFalse(POSTGRES.isRetryable(Other()))
        self.assertFalse(POSTGRES.isRetryable(errors.UniqueViolation()))
        self.assertFalse(POSTGRES.isRetryable(ValueError()))

    def test_pypy(self):
        """
        Under PyPy C{import psycopg2} resolves to psycopg2cffi once
        registered, and a deadlock SQLSTATE is retryable there too.
        """
        if not PYPY:
            raise SkipTest(PYPY_SKIP)
        checkPyPy(PYPY)
        code = ("from fxim.storage.pgdriver import registerDriver\n"
                "print(registerDriver())\n"
                "import psycopg2\n"
                "from fxim.storage.dialect import POSTGRES\n"
                "class Coded(psycopg2.OperationalError):\n"
                "    pgcode = '40001'\n"
                "print(POSTGRES.isRetryable(Coded()), POSTGRES.isRetryable(psycopg2.IntegrityError()))\n")
        env = dict(os.environ, PYTHONPATH=_ROOT)
        result = subprocess.run([PYPY, "-c", code], capture_output=True, text=True, timeout=120,
                                env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split(), ["psycopg2cffi", "True", "False"])
