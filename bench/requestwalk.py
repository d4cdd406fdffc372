#!/usr/bin/env python
# -*- test-case-name: fxim.test.e2e.test_messages -*-
"""
The request walk of one MS, measured: which fxim functions a 1:1 text
message runs through, from the bytes arriving on the sender's TCP
connection to the COMMIT, the PUB_ACK and the MN on the receiver's
connection, and then the receiver's MP pull and its reply.

    python bench/requestwalk.py            # the walk, then the counts
    python bench/requestwalk.py --json     # the same as JSON
    python bench/requestwalk.py -- ARGS    # extra `twistd fxim` arguments

It starts a real node (C{twistd -n fxim}, embedded SQLite, in a temp data
dir) whose interpreter runs with a profiler (C{sys.setprofile} and
C{threading.setprofile}, so the database threads too) that records calls
into functions defined under C{fxim/} while it is armed.  The driver logs
two users in over HTTP, connects both over TCP with the SDK, sends one
warm-up MS and pull (first-use imports and thread starts are not the
walk), then arms the profiler for two segments:

  1. MS: the sender's MS request, until its PUB_ACK and the receiver's MN
     have arrived;
  2. MP: the receiver's pull, until its reply has arrived.

Counting rule (docs/architecture.md, "The request walk: one MS"):

  - a step is one fxim function (a C{def}, method or lambda in a file
    under C{fxim/}) that runs in the segment; each function counts once
    per segment, at its first call (repeats -- one delivery per receiver,
    a coroutine resumed after an await -- are not new steps);
  - not counted: stdlib, Twisted and other libraries, code attrs
    generates (record constructors), comprehensions and generator
    expressions (part of their function), and C{@property} getters
    (trivial reads);
  - steps = MS segment + MP segment; files = distinct fxim files over both;
    also shown: the steps entering another file (their caller is in
    another file, or they are called from Twisted).

Idle connections do nothing in the segments (nothing else runs on the node
meanwhile: no HTTP, no timers fire), so every recorded call is the walk.
"""

import json
import os
import signal
import sys
import threading
import time
from typing import Any, Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FXIM = os.path.join(ROOT, "fxim") + os.sep
_INLINE = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})


# -- the node's side -----------------------------------------------------------

class Profiler:
    """
    Records the first call of every fxim frame while armed.

    @ivar calls: C{(code, caller code or None, thread name)} in call order.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.armed = False
        self.calls: List[Tuple[Any, Any, str]] = []
        self._seen: set = set()

    def _ours(self, code: Any) -> bool:
        return code.co_filename.startswith(self.prefix) and code.co_name not in _INLINE

    def profile(self, frame: Any, event: str, arg: Any) -> None:
        if not self.armed or event != "call":
            return
        code = frame.f_code
        if not self._ours(code) or frame in self._seen:
            return
        # A frame is seen again when its coroutine or generator resumes.
        self._seen.add(frame)
        caller = frame.f_back
        while caller is not None and not self._ours(caller.f_code):
            caller = caller.f_back
        self.calls.append((code, None if caller is None else caller.f_code,
                           threading.current_thread().name))

    def arm(self) -> None:
        self.calls, self._seen = [], set()
        self.armed = True

    def disarm(self) -> List[Tuple[Any, Any, str]]:
        self.armed = False
        calls, self.calls, self._seen = self.calls, [], set()
        return calls


def _propertyCodes() -> set:
    """
    The code objects of every C{@property} getter of the fxim modules
    loaded.
    """
    codes = set()
    for name, module in list(sys.modules.items()):
        if not (name == "fxim" or name.startswith("fxim.")) or module is None:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == name:
                for attribute in vars(value).values():
                    fget = getattr(attribute, "fget", None) if isinstance(attribute, property) else None
                    if fget is not None and hasattr(fget, "__code__"):
                        codes.add(fget.__code__)
    return codes


def _describe(code: Any) -> Dict[str, Any]:
    relative = os.path.relpath(code.co_filename, ROOT)
    return {"module": relative[:-3].replace(os.sep, "."), "file": relative,
            "function": code.co_qualname, "line": code.co_firstlineno}


def child(out: str, argv: List[str]) -> None:
    """
    Run C{twistd} with the profiler; SIGUSR1 arms it, SIGUSR2 appends the
    segment to C{out} (one JSON line) and disarms it.
    """
    profiler = Profiler(FXIM)

    def arm(*_: Any) -> None:
        profiler.arm()
        print("requestwalk: armed", flush=True)

    def dump(*_: Any) -> None:
        calls = profiler.disarm()
        properties = _propertyCodes()
        segment = [dict(_describe(code), caller=None if caller is None else _describe(caller),
                        thread=thread, property=code in properties)
                   for code, caller, thread in calls]
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps(segment) + "\n")
        print("requestwalk: written", flush=True)

    signal.signal(signal.SIGUSR1, arm)
    signal.signal(signal.SIGUSR2, dump)
    threading.setprofile(profiler.profile)
    sys.setprofile(profiler.profile)
    sys.argv = ["twistd"] + argv
    from twisted.scripts.twistd import run
    run()


# -- the driver ------------------------------------------------------------------

async def _until(reactor: Any, test: Any, timeout: float = 30.0) -> None:
    from twisted.internet.task import deferLater
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise RuntimeError("requestwalk: timed out")
        await deferLater(reactor, 0.02, lambda: None)


async def measure(reactor: Any, extraArgs: List[str]) -> List[List[Dict[str, Any]]]:
    """
    Start a profiled node, walk one MS and its pull.

    @return: the two segments' calls (MS, MP).
    """
    from twisted.internet.task import deferLater

    from fxim.client.connection import openConnection
    from fxim.client.http import login
    from fxim.model import Conversation, ConversationType, Message, MessageContent
    from fxim.testing import ServerProcess
    from fxim.wire.requests import MessageNotify, PullMessages, SendMessage

    class ProfiledNode(ServerProcess):
        def commandLine(self) -> List[str]:
            argv = super().commandLine()
            assert argv[1] == "-c"
            return [argv[0], os.path.abspath(__file__), "--child", self.tracePath] + argv[3:]

    node = ProfiledNode(reactor, extraArgs)
    node.tracePath = os.path.join(node.dataDir, "walk.jsonl")
    await node.start()
    try:
        connections = []
        for mobile, cid in (("13900000001", "walk-sender"), ("13900000002", "walk-receiver")):
            creds = await login(reactor, node.httpBase, mobile, node.loginCode, cid)
            conn = await openConnection(reactor, "tcp", "127.0.0.1", node.tcpPort)
            await conn.connect(creds.userId, creds.token, cid)
            connections.append(conn)
        sender, receiver = connections
        heads: List[int] = []
        receiver.onPush(lambda p: heads.append(p.head) if isinstance(p, MessageNotify) else None)

        def ms(localId: int) -> Any:
            return SendMessage(Message(Conversation(ConversationType.PRIVATE, receiver.userId),
                                       "", MessageContent(1, "walk"), localId=localId))

        async def walkOnce() -> None:
            count = len(heads)
            await sender.request(ms(int(time.time() * 1000)))
            await _until(reactor, lambda: len(heads) > count)

        async def segment(work: Any) -> None:
            # Let the previous request's tail (a Redis bus's device look-up
            # answered after the MN went out) finish outside the segment.
            await deferLater(reactor, 0.3, lambda: None)
            lines = node.log().count("requestwalk: written")
            os.kill(node.pid, signal.SIGUSR1)
            await _until(reactor, lambda: node.log().count("requestwalk: armed") > lines)
            await work()
            # Let whatever the reply scheduled run (nothing should).
            await deferLater(reactor, 0.3, lambda: None)
            os.kill(node.pid, signal.SIGUSR2)
            await _until(reactor, lambda: node.log().count("requestwalk: written") > lines)

        async def pull() -> None:
            await receiver.request(PullMessages(heads[-1] - 1, 0))

        # Warm-up: first-use imports, thread starts, caches.
        await walkOnce()
        await pull()
        await segment(walkOnce)
        await segment(pull)
        for conn in connections:
            conn.close()
            await conn.closed
        with open(node.tracePath, encoding="utf-8") as f:
            return [json.loads(line) for line in f]
    finally:
        await node.cleanup()


def steps(calls: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """
    The counted steps of one segment (see the module docstring).
    """
    seen, out = set(), []
    for call in calls:
        key = (call["file"], call["function"], call["line"])
        if call["property"] or key in seen:
            continue
        seen.add(key)
        out.append(call)
    return out


def _name(call: Dict[str, Any]) -> str:
    name = f"{call['module']}:{call['function']}"
    if "<lambda>" in call["function"]:
        name += f"@{call['line']}"
    return name


def _crossFile(step: Dict[str, Any]) -> bool:
    """
    Whether a step hands the request to another file (or is entered from
    Twisted).
    """
    return step["caller"] is None or step["caller"]["file"] != step["file"]


def report(segments: List[List[Dict[str, Any]]]) -> Dict[str, Any]:
    ms, mp = (steps(s) for s in segments)
    files = sorted({c["file"] for c in ms + mp})
    return {
        "ms": [dict(step=_name(c), caller=c["caller"] and _name(c["caller"]), thread=c["thread"])
               for c in ms],
        "mp": [dict(step=_name(c), caller=c["caller"] and _name(c["caller"]), thread=c["thread"])
               for c in mp],
        "steps": len(ms) + len(mp), "msSteps": len(ms), "mpSteps": len(mp),
        "files": len(files), "fileList": files,
        "crossFile": sum(1 for c in ms + mp if _crossFile(c)),
        "calls": sum(len(s) for s in segments),
    }


def _print(result: Dict[str, Any]) -> None:
    n = 0
    for title, key in (("MS: bytes -> commit -> PUB_ACK and MN", "ms"),
                       ("MP: the receiver's pull -> reply", "mp")):
        print(title)
        for step in result[key]:
            n += 1
            where = "" if step["thread"] == "MainThread" else f"   [thread {step['thread']}]"
            via = f"   <- {step['caller']}" if step["caller"] else "   <- (Twisted)"
            print(f"  {n:3d}. {step['step']}{via}{where}")
    print()
    print(f"steps: {result['steps']} (MS {result['msSteps']} + MP {result['mpSteps']});"
          f" files: {result['files']}; steps entering another file: {result['crossFile']};"
          f" calls recorded: {result['calls']}")
    for path in result["fileList"]:
        print(f"  {path}")


def main(argv: List[str]) -> None:
    if argv[:1] == ["--child"]:
        child(argv[1], argv[2:])
        return
    extra: List[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    unknown = [a for a in argv if a != "--json"]
    if unknown:
        # -h, --help, or anything else: the usage, not a run.
        print(__doc__.split("\n\n")[1])
        sys.exit(0 if set(unknown) <= {"-h", "--help"} else 2)
    sys.path.insert(0, ROOT)
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.task import react

    async def run(reactor: Any) -> None:
        result = report(await measure(reactor, extra))
        if "--json" in argv:
            print(json.dumps(result, indent=1))
        else:
            _print(result)

    react(lambda reactor: ensureDeferred(run(reactor)))


if __name__ == "__main__":
    main(sys.argv[1:])
