"""
A test's own PostgreSQL and Redis servers (on 127.0.0.1, free ports), so
the test can stop and restart them to cause a real outage.  The shared
servers of C{.ci/services.sh} must not be stopped by one test.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import time
from typing import List, Optional

from fxim.testing import freePort


def _pgBin() -> Optional[str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


PG_BIN = _pgBin()
REDIS_SERVER = shutil.which("redis-server")
SKIP_PG = None if PG_BIN else "PostgreSQL binaries (initdb) not installed"
SKIP_REDIS = None if REDIS_SERVER else "redis-server not installed"


def _pgTool(name: str) -> str:
    assert PG_BIN is not None, SKIP_PG
    return os.path.join(PG_BIN, name)


def _runAs() -> List[str]:
    # PostgreSQL refuses to run as root.
    if os.getuid() == 0:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"]
    return []


class OwnPostgres:
    """
    A throwaway PostgreSQL cluster with user C{fxim} and password
    C{password}, database C{fxim}.
    """

    def __init__(self, password: str = "s3cret-pw") -> None:
        self.password = password
        self.port = freePort()
        self.root = tempfile.mkdtemp(prefix="fxim-ownpg-")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        pwfile = os.path.join(self.root, "pw")
        with open(pwfile, "w") as f:
            f.write(password)
        if os.getuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-U", "fxim", "--auth=scram-sha-256",
                  f"--pwfile={pwfile}", "-E", "UTF8")
        self.start()
        env = dict(os.environ, PGPASSWORD=password)
        subprocess.run(_runAs() + [_pgTool("createdb"), "-h", "127.0.0.1",
                                   "-p", str(self.port), "-U", "fxim", "fxim"],
                       check=True, env=env, capture_output=True)

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(_runAs() + [_pgTool(tool)] + list(args), check=True,
                       capture_output=True)

    def dsn(self, password: Optional[str] = None) -> str:
        return (f"postgresql://fxim:{self.password if password is None else password}"
                f"@127.0.0.1:{self.port}/fxim")

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.root, "log"), "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


class OwnRedis:
    """
    A throwaway Redis server without persistence.
    """

    def __init__(self) -> None:
        self.port = freePort()
        self.root = tempfile.mkdtemp(prefix="fxim-ownredis-")
        self.process: Optional[subprocess.Popen] = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None, SKIP_REDIS
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.root],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                out = subprocess.run(["redis-cli", "-p", str(self.port), "ping"],
                                     capture_output=True, text=True, timeout=5).stdout
            except subprocess.TimeoutExpired:
                out = ""
            if "PONG" in out:
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
