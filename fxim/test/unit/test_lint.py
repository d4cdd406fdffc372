"""
Static checks in the suite: ruff (ruff.toml) and mypy with mypy-zope
(setup.cfg C{[mypy]}) over the repository, as C{tox -e lint} runs them, and
every C{test-case-name} header naming a test module that exists.
"""

from fxim.test import ROOT
import importlib.util
import os
import re
import subprocess
import sys
from typing import Iterator, List, Tuple

from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase


# Where the headers are looked for: the package, the in-tree plugins and the
# benchmarks (they name the test modules of the code they measure).
_HEADER_TREES = ("fxim", os.path.join("twisted", "plugins"), "bench")
_HEADER = re.compile(r"-\*-\s*test-case-name:\s*(.*?)\s*-\*-")


def _tool(*args: str) -> Tuple[int, str]:
    """
    Run C{python -m <args>} from the repository root.

    @return: its exit code and its output (stdout and stderr).
    """
    r = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=900)
    return r.returncode, r.stdout + r.stderr


def _pythonFiles() -> Iterator[str]:
    """
    @return: the paths, relative to the repository root, of the Python files
        of L{_HEADER_TREES}.
    """
    for tree in _HEADER_TREES:
        for folder, dirs, files in os.walk(os.path.join(ROOT, tree)):
            dirs[:] = [d for d in dirs if not d.startswith((".", "_trial_temp", "__pycache__"))]
            for name in files:
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(folder, name), ROOT)


def headerNames(text: str) -> List[str]:
    """
    @return: the module names of the C{test-case-name} header in the first
        two lines of C{text} (Emacs reads it there), or C{[]}.
    """
    for line in text.splitlines()[:2]:
        m = _HEADER.search(line)
        if m:
            return [name.strip() for name in m.group(1).split(",") if name.strip()]
    return []


class StaticCheckTests(TestCase):
    """
    ruff and mypy report nothing.
    """

    @inlineCallbacks
    def test_ruff(self):
        """
        C{python -m ruff check} passes.
        """
        code, output = yield deferToThread(_tool, "ruff", "check")
        self.assertEqual(code, 0, output)

    test_ruff.timeout = 900  # type: ignore[attr-defined]

    @inlineCallbacks
    def test_mypy(self):
        """
        C{python -m mypy} (with the mypy-zope plugin) passes.
        """
        code, output = yield deferToThread(_tool, "mypy")
        self.assertEqual(code, 0, output)

    test_mypy.timeout = 900  # type: ignore[attr-defined]


class TestCaseNameTests(TestCase):
    """
    Every C{test-case-name} header names an importable module, so
    C{trial --testmodule} and editors run the tests of a file.
    """

    def test_headerNames(self):
        """
        L{headerNames} reads the comma-separated names of the first two lines.
        """
        self.assertEqual(headerNames("# -*- test-case-name: a.b, a.c -*-\nx = 1\n"),
                         ["a.b", "a.c"])
        self.assertEqual(headerNames("#!/usr/bin/env python3\n# -*- test-case-name: a -*-\n"),
                         ["a"])
        self.assertEqual(headerNames("x = 1\ny = 2\n# -*- test-case-name: a -*-\n"), [])

    def test_headersNameModules(self):
        """
        Each name in each header is a module that can be imported.
        """
        missing = []
        checked = 0
        for path in _pythonFiles():
            with open(os.path.join(ROOT, path), encoding="utf-8") as f:
                names = headerNames(f.read(2000))
            for name in names:
                checked += 1
                try:
                    found = importlib.util.find_spec(name) is not None
                except ImportError:
                    found = False
                if not found:
                    missing.append(f"{path}: {name}")
        self.assertGreater(checked, 0)
        self.assertEqual(missing, [])
