"""
The wheel: built from the repository, installed into a fresh virtualenv,
and C{twistd -n fxim} started from an empty folder with nothing of the
repository on the path.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from fxim.test import ROOT
from fxim import __version__
from fxim.testing import freePort



def _run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)


def _cleanEnv() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FXIM_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _installAndRun(work: str) -> dict:
    """
    Build, install, start, probe and stop; return what was seen.
    """
    seen: dict = {}
    wheels = os.path.join(work, "wheels")
    # With the wheel package installed, build offline; else build isolation
    # fetches setuptools and wheel from the index as any user's pip would.
    import importlib.util
    offline = ["--no-build-isolation"] if importlib.util.find_spec("wheel") else []
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *offline,
              "--disable-pip-version-check", "-q", "-w", wheels, ROOT])
    seen["wheel"] = (r.returncode, r.stderr[-2000:])
    found = glob.glob(os.path.join(wheels, f"fxim-{__version__}-*.whl"))
    if r.returncode or not found:
        return seen
    seen["wheelName"] = os.path.basename(found[0])
    venv = os.path.join(work, "venv")
    # The runtime dependencies come from this machine's site-packages (no
    # network in CI); `pip check` proves they satisfy the wheel's metadata.
    _run([sys.executable, "-m", "venv", "--system-site-packages", venv])
    bin_ = os.path.join(venv, "bin")
    env = _cleanEnv()
    # --force-reinstall: where run-tests.sh installed fxim into the system
    # site-packages, pip would otherwise call the wheel already satisfied.
    r = _run([os.path.join(bin_, "pip"), "install", "--no-deps", "--no-index", "-q",
              "--force-reinstall", "--disable-pip-version-check", found[0]], env=env)
    seen["install"] = (r.returncode, r.stderr[-2000:])
    r = _run([os.path.join(bin_, "pip"), "check"], env=env)
    seen["check"] = (r.returncode, r.stdout[-2000:])
    empty = os.path.join(work, "empty")
    os.makedirs(empty)
    r = _run([os.path.join(bin_, "python"), "-c", "import fxim; print(fxim.__file__)"],
             env=env, cwd=empty)
    seen["fximFile"] = r.stdout.strip()
    # The twistd console script is Twisted's (in the system site-packages
    # here); this is what it runs, with the virtualenv's interpreter.
    twistd = [os.path.join(bin_, "python"), "-c",
              "from twisted.scripts.twistd import run; run()"]
    r = _run(twistd + ["fxim", "--version"], env=env, cwd=empty)
    seen["version"] = r.stdout.strip()
    ports = [freePort() for _ in range(3)]
    log = open(os.path.join(work, "node.log"), "w")
    node = subprocess.Popen(
        twistd + ["-n", "--pidfile=", "fxim",
         "--tcp", f"tcp:{ports[0]}:interface=127.0.0.1",
         "--ws", f"tcp:{ports[1]}:interface=127.0.0.1",
         "--http", f"tcp:{ports[2]}:interface=127.0.0.1"],
        env=env, cwd=empty, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports[2]}/ready",
                                            timeout=5) as response:
                    seen["ready"] = (response.status, json.loads(response.read()))
                    break
            except OSError:
                time.sleep(0.3)
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
        log.close()
    with open(os.path.join(work, "node.log")) as f:
        seen["log"] = f.read()
    seen["dataDir"] = sorted(os.listdir(os.path.join(empty, "fxim-data")))
    return seen


class WheelTests(TestCase):
    """
    C{pip install fxim-*.whl}, then C{twistd -n fxim} from an empty folder.
    """

    timeout = 900

    async def test_wheel(self):
        if not shutil.which("twistd") and not os.path.exists(sys.executable):
            raise self.skipTest("no Python to build with")
        work = tempfile.mkdtemp(prefix="fxim-wheel-")
        self.addCleanup(shutil.rmtree, work, True)
        seen = await deferToThread(_installAndRun, work)
        self.assertEqual(seen["wheel"][0], 0, seen["wheel"][1])
        self.assertEqual(seen["install"][0], 0, seen["install"][1])
        self.assertEqual(seen["check"][0], 0, seen["check"][1])
        self.assertTrue(seen["fximFile"].startswith(os.path.join(work, "venv")), seen["fximFile"])
        self.assertIn(f"fxim {__version__}", seen["version"])
        self.assertEqual(seen.get("ready", (None,))[0], 200, seen["log"][-3000:])
        self.assertIn("fxim.messages", seen["log"])
        self.assertIn("fxim.sqlite3", seen["dataDir"])
        self.assertNotIn("Traceback", seen["log"])
