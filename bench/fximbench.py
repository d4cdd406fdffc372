#!/usr/bin/env python
"""
fxim load generator and benchmarks.

    python bench/fximbench.py [scenario ...] [--backend embedded|postgres]
        [--json bench/results/latest.json] [--quick]

Scenarios: codec pairs pairs-ws steady idle fanout storm reports single (the default), pypy
(needs a PyPy) and nodes (needs --backend postgres).  Every
scenario starts its own server(s) on 127.0.0.1, measures a baseline in the
same run where one exists, prints a table and adds its figures to the JSON
file.  See bench/README.md and docs/performance.md.

CPU split on this 2-core box: the server under test (fxim node, relay or
bare server) is pinned to CPU 0; this orchestrator (and its HTTP login
threads) and the load-generator worker processes (bench/loadgen.py) are
pinned to CPU 1.  PostgreSQL and Redis (--backend postgres) are pinned to
CPU 1 too (every core in the cluster part of the nodes scenario): unpinned,
they ran on the server's core at times, and the same run gave figures 2x
apart.
"""

import argparse
import http.client
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

SERVER_CPU, CLIENT_CPU = {0}, {1}
#: Whether PostgreSQL and Redis run on CLIENT_CPU (set once found).
BACKENDS_PINNED = [False]


def backendsWhere():
    """
    Where PostgreSQL and Redis ran, for a table's title.
    """
    return "on CPU 1 with the load" if BACKENDS_PINNED[0] else "unpinned"
LOGIN_CODE = "556677"
#: Server options for every benchmark node: the per-connection request
#: rate limiter and the idle timeouts are lifted so that they measure the
#: server, not its limits.
NODE_ARGS = ["--request-rate", "10000000", "--request-burst", "10000000",
             "--tcp-idle", "1200", "--ws-idle", "1200", "--max-devices", "100",
             # i10a: one client address opens thousands of connections here.
             "--max-connections-per-ip", "0", "--max-connections", "0"]

#: --python: the interpreter of the nodes under test.
NODE_PYTHON = sys.executable

#: --listen-backlog: listen(2) backlog of the node's TCP and WS ports (None:
#: the endpoint default, 50).
LISTEN_BACKLOG = None

#: A scenario during which processes other than the benchmark's used more
#: than this share of one CPU was contended (L{Contention}).
CONTENDED_SHARE = 0.10

SCENARIOS = ["codec", "pairs", "pairs-ws", "steady", "idle", "fanout", "storm",
             # i13: receipts
             "reports",
             # i17: latency, interpreters, nodes
             "single", "pypy", "nodes",
             # perf-cache: send-check cache
             "sendchecks"]
#: Run when none is named: pypy needs a PyPy, nodes needs --backend postgres.
DEFAULT_SCENARIOS = ["codec", "pairs", "pairs-ws", "steady", "idle", "fanout", "storm", "reports",
                     "single"]


# -- helpers -------------------------------------------------------------------

def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values))) - 1))
    return sorted_values[i]


def latencyStats(us):
    """
    Microsecond samples to a dict of milliseconds.
    """
    s = sorted(us)
    return {"n": len(s), "p50_ms": pct(s, 50) / 1000, "p90_ms": pct(s, 90) / 1000,
            "p99_ms": pct(s, 99) / 1000, "max_ms": (s[-1] / 1000) if s else float("nan")}


def table(title, header, rows):
    widths = [max(len(str(h)), *(len(fmt(r[i])) for r in rows)) for i, h in enumerate(header)]
    line = "-+-".join("-" * w for w in widths)
    print()
    print(f"== {title}")
    print(" | ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print(line)
    for r in rows:
        print(" | ".join(fmt(v).ljust(w) for v, w in zip(r, widths)))
    sys.stdout.flush()


def fmt(v):
    if isinstance(v, float):
        if v != v:
            return "-"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    return str(v)


def procStatus(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rssKiB(pid):
    return procStatus(pid, "VmRSS")


def cpuTime(pid):
    """
    User + system CPU seconds of a process so far.
    """
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / tick


def cpuTimeWithChildren(pid):
    """
    L{cpuTime} plus the CPU of the process's children that it has waited
    for (exited PostgreSQL backends).
    """
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in parts[11:15]) / os.sysconf("SC_CLK_TCK")


def listenerPid(port):
    """
    The process listening on TCP C{port} (found through /proc: the socket's
    inode in /proc/net/tcp*, then the process holding it; the eldest if
    several do), or L{None}.
    """
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    holders = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                holders.append(int(pid))
        except OSError:
            continue
    return min(holders) if holders else None


def childPids(parent):
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                    out.append(int(pid))
        except OSError:
            continue
    return out


class Backends:
    """
    The CPU of the PostgreSQL server (the postmaster, its live children
    and those it reaped) and of redis-server serving C{--backend postgres},
    found by the ports of C{FXIM_TEST_POSTGRES_DSN} and
    C{FXIM_TEST_REDIS_URL}.  Whatever else uses them in the meantime is
    counted too.
    """

    def __init__(self):
        from urllib.parse import urlparse
        from fxim.test import e2e
        self.postgres = listenerPid(urlparse(e2e.POSTGRES).port or 5432)
        self.redis = listenerPid(urlparse(e2e.REDIS).port or 6379)
        if self.postgres is None or self.redis is None:
            raise RuntimeError(f"PostgreSQL (pid {self.postgres}) or Redis (pid {self.redis}) not "
                               "found by port in /proc: cannot count the backends' CPU")

    def pin(self, cpus):
        """
        Run PostgreSQL (the postmaster, its backends, and those it forks
        later) and every thread of Redis on C{cpus}.

        @return: whether every process could be pinned.
        """
        ok = True
        for pid in [self.postgres, self.redis] + childPids(self.postgres):
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    os.sched_setaffinity(int(task), cpus)
            except OSError:
                ok = False
        return ok

    def cpu(self):
        """
        @return: (PostgreSQL CPU seconds, Redis CPU seconds) so far.
        """
        pg = cpuTimeWithChildren(self.postgres)
        for child in childPids(self.postgres):
            try:
                pg += cpuTime(child)
            except OSError:
                pass  # exited meanwhile: the postmaster's children time has it
        return pg, cpuTime(self.redis)


def _processTree():
    """
    @return: pid -> parent pid, of every process.
    """
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return parents


class Contention:
    """
    How much CPU processes other than the benchmark's used while a scenario
    ran: all busy time of the machine (C{/proc/stat}) minus the CPU of the
    benchmark's own processes -- this one and every process below it (the
    nodes, relays and load workers, alive or already reaped) and, with
    C{--backend postgres}, the PostgreSQL and Redis servers serving it.
    Unlike the load average, the benchmark's own load does not count.
    """

    def __init__(self, roots):
        self.roots = list(roots)
        self.tick = os.sysconf("SC_CLK_TCK")
        self.t0, self.busy0 = time.time(), self._busy()
        self.own0, self.live0 = self._own()

    @staticmethod
    def _busy():
        with open("/proc/stat") as f:
            user, nice, system, idle, iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
        return user + nice + system + irq + softirq + steal

    def _own(self):
        """
        @return: (CPU ticks of the roots with their reaped children, {live
            descendant: its CPU ticks with its reaped children}).
        """
        parents = _processTree()
        children = {}
        for pid, parent in parents.items():
            children.setdefault(parent, []).append(pid)
        roots, live, stack = 0.0, {}, []
        for root in self.roots:
            try:
                roots += cpuTimeWithChildren(root) * self.tick
            except OSError:
                continue
            stack.extend(children.get(root, ()))
        while stack:
            pid = stack.pop()
            try:
                live[pid] = cpuTimeWithChildren(pid) * self.tick
            except OSError:
                continue
            stack.extend(children.get(pid, ()))
        return roots, live

    def stop(self):
        """
        @return: the share of one CPU the other processes used.
        """
        own1, live1 = self._own()
        own = own1 - self.own0
        # A process alive at both ends: its part; born meanwhile: all of it;
        # reaped meanwhile: its parent's children time has its whole life,
        # so take off what it had used before.
        own += sum(ticks - self.live0.get(pid, 0) for pid, ticks in live1.items())
        own -= sum(ticks for pid, ticks in self.live0.items() if pid not in live1)
        wall = time.time() - self.t0
        return max(0.0, (self._busy() - self.busy0 - own) / self.tick / max(wall, 1e-6))


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def waitPort(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} not ready")


def pinServer():
    os.sched_setaffinity(0, SERVER_CPU)


# -- servers -------------------------------------------------------------------

class Node:
    """
    A C{twistd -n fxim} node on CPU 0 (command line from
    L{fxim.testing.ServerProcess}).
    """

    def __init__(self, backend, dataDir=None, extra=(), dsn=None, python=None, redisPrefix=None,
                 cpus=None):
        from fxim.testing import ServerProcess
        self.backend = backend
        self.dsn = None
        args = list(NODE_ARGS) + list(extra)
        if backend == "postgres":
            from fxim.test import e2e
            if not (e2e.POSTGRES and e2e.REDIS):
                raise SystemExit("--backend postgres needs FXIM_TEST_POSTGRES_DSN and "
                                 "FXIM_TEST_REDIS_URL (source .ci/services.sh)")
            # a shared dsn (several nodes of one cluster) is dropped by its creator
            self.ownsDb = dsn is None
            self.dsn = dsn or e2e.createDatabase()
            args += ["--database", self.dsn, "--redis", e2e.REDIS,
                     "--redis-prefix", redisPrefix or f"fximbench:{uuid.uuid4().hex[:8]}:"]
        self.cpus = cpus or SERVER_CPU
        self.sp = ServerProcess(None, args, dataDir=dataDir)
        self.sp.python = python or NODE_PYTHON
        if LISTEN_BACKLOG:
            # The endpoint options given last win over ServerProcess's.
            self.sp.args += ["--tcp", f"tcp:{self.sp.tcpPort}:interface=127.0.0.1:backlog={LISTEN_BACKLOG}",
                             "--ws", f"tcp:{self.sp.wsPort}:interface=127.0.0.1:backlog={LISTEN_BACKLOG}"]
        self.proc = None

    def __getattr__(self, name):
        return getattr(self.sp, name)

    def start(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        self.logFile = open(self.sp.logPath, "ab")
        cpus = getattr(self, "cpus", SERVER_CPU)
        self.proc = subprocess.Popen(self.sp.commandLine(), env=env, cwd=ROOT, stdout=self.logFile,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("fxim exited during startup:\n" + self.sp.log()[-3000:])
            try:
                if self.sp._listening():
                    return self
            except OSError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("fxim not ready:\n" + self.sp.log()[-3000:])
            time.sleep(0.1)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, dropDb=True):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logFile.close()
        if dropDb and self.dsn and getattr(self, "ownsDb", True):
            from fxim.test import e2e
            try:
                e2e.dropDatabase(self.dsn)
            except Exception as e:
                print("could not drop", self.dsn, e)


class Script:
    """
    One of the baseline servers of bench/ on CPU 0.
    """

    def __init__(self, *args):
        self.port = freePort()
        argv = [sys.executable, os.path.join(HERE, args[0])] + list(args[1:]) + [str(self.port)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, preexec_fn=pinServer)
        self.proc.stdout.readline()
        waitPort(self.port, self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


# -- logins ----------------------------------------------------------------------

def mobile(n):
    return "139%08d" % n


def loginMany(httpBase, items, concurrency=50):
    """
    Log in C{items} (mobile, clientId) over HTTP with C{concurrency}
    keep-alive connections.

    @return: (credentials dicts in order, logins per second).
    """
    host, port = httpBase.split("//")[1].split(":")
    out = [None] * len(items)
    nextIndex = iter(range(len(items)))
    lock = threading.Lock()
    errors = []

    def lane():
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            with lock:
                i = next(nextIndex, None)
            if i is None:
                break
            mob, cid = items[i]
            body = json.dumps({"mobile": mob, "code": LOGIN_CODE, "clientId": cid})
            for _attempt in range(3):
                try:
                    conn.request("POST", "/login", body, {"Content-Type": "application/json"})
                    answer = json.loads(conn.getresponse().read())
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=60)
            else:
                errors.append(i)
                continue
            if answer.get("code") != 0:
                errors.append(answer)
                continue
            r = answer["result"]
            out[i] = {"uid": r["userId"], "token": r["token"], "cid": cid}
        conn.close()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=lane) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} logins failed, e.g. {errors[0]}")
    return out, len(items) / elapsed


# -- workers ----------------------------------------------------------------------

class Worker:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "loadgen.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    @property
    def pid(self):
        return self.proc.pid

    def send(self, cmd, **kw):
        kw["cmd"] = cmd
        self.proc.stdin.write(json.dumps(kw).encode() + b"\n")
        self.proc.stdin.flush()

    def recv(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("worker died")
        r = json.loads(line)
        if not r.pop("ok"):
            raise RuntimeError("worker failed:\n" + r["error"])
        return r

    def call(self, cmd, **kw):
        self.send(cmd, **kw)
        return self.recv()

    def stop(self):
        try:
            self.send("exit")
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


def callAll(workers, cmd, perWorker=None, **kw):
    """
    Send C{cmd} to every worker (with per-worker arguments), then collect.
    """
    for i, w in enumerate(workers):
        args = dict(kw)
        if perWorker is not None:
            args.update(perWorker[i])
        w.send(cmd, **args)
    return [w.recv() for w in workers]


def split(items, n):
    return [items[i::n] for i in range(n)]


class Usage:
    """
    CPU used by the server (one pid, or a list: every node of a cluster)
    and by the load generators over an interval.
    """

    def __init__(self, serverPid, clientPids):
        self.serverPids = list(serverPid) if isinstance(serverPid, (list, tuple)) else [serverPid]
        self.clientPids = list(clientPids) + [os.getpid()]
        self.t0 = time.perf_counter()
        self.s0 = sum(cpuTime(p) for p in self.serverPids)
        self.c0 = [cpuTime(p) for p in self.clientPids]

    def stop(self):
        wall = time.perf_counter() - self.t0
        server = sum(cpuTime(p) for p in self.serverPids) - self.s0
        client = sum(cpuTime(p) - c for p, c in zip(self.clientPids, self.c0))
        self.figures = {"wall_s": wall, "server_cpu_s": server, "server_cpu_pct": 100 * server / wall,
                        "client_cpu_s": client, "client_cpu_pct": 100 * client / wall}
        return self.figures


# -- scenarios ----------------------------------------------------------------------

def scenario_codec(opts, results):
    import json as _json
    import struct
    from fxim.model import Conversation, Message, MessageContent
    from fxim.protocol.client import CLIENT as clientcodecs
    from fxim.protocol.registry import BUILTIN
    from fxim.wire.envelope import decodeEnvelope, encodeEnvelope
    from fxim.wire.frame import FrameDecoder, HEADER, encodeFrame, Frame
    from fxim.wire.requests import SendMessage, SendResult

    def request(pad):
        return SendMessage(Message(Conversation(0, "u" * 10, 0), "",
                                   MessageContent(type=1, searchableContent="x" * pad)))
    pad = 0
    while len(encodeFrame(Frame(9, 18, 1, clientcodecs.encodeRequestTcp(request(pad))))) < 200:
        pad += 1
    req = request(pad)
    tcpFrame = encodeFrame(Frame(9, 18, 1, clientcodecs.encodeRequestTcp(req)))
    wsPad = 0
    while True:
        text = clientcodecs.encodeRequestEnvelope(request(wsPad), 1)
        if len(text.encode()) >= 200:
            break
        wsPad += 1
    codec = BUILTIN.lookup(9, 18)
    result = SendResult(123456789012345, 1700000000000)
    n = 20000 if opts.quick else 100000

    def timeit(f):
        best = 0
        for _ in range(3):
            t0 = time.perf_counter()
            f(n)
            best = max(best, n / (time.perf_counter() - t0))
        return best

    def fximTcp(n):
        dec = FrameDecoder()
        for _ in range(n):
            for fr in dec.feed(tcpFrame):
                _ = codec.decodeTcp(fr.body)
                encodeFrame(codec.replyTcp(fr.messageId, 0, result))

    unpack, pack = HEADER.unpack_from, HEADER.pack
    ackBody = bytes(1) + struct.pack(">qq", result.messageUid, result.timestamp)

    def bareTcp(n):
        for _ in range(n):
            m, v, s, ln, sub, mid = unpack(tcpFrame, 0)
            _ = tcpFrame[10:10 + ln]
            pack(0xF8, 2, 10, 17, sub, mid) + ackBody

    def fximWs(n):
        for _ in range(n):
            env = decodeEnvelope(text)
            _ = codec.decodeWs(env.content)
            encodeEnvelope(codec.replyWs(env.messageId, 0, result))

    loads, dumps = _json.loads, _json.dumps

    def bareWs(n):
        for _ in range(n):
            o = loads(text)
            dumps({"content": '{"messageUid":123456789012345,"timestamp":1700000000000}',
                   "messageId": o["messageId"], "signal": "PUB_ACK", "subSignal": "MS"},
                  ensure_ascii=False, separators=(",", ":"))

    rows, out = [], {}
    for name, f, base, baseName, size in (
            ("tcp", fximTcp, bareTcp, "struct.unpack+pack", len(tcpFrame)),
            ("ws", fximWs, bareWs, "json.loads+dumps", len(text.encode()))):
        a, b = timeit(f), timeit(base)
        out[name] = {"frame_bytes": size, "fxim_per_s": a, "baseline_per_s": b, "baseline": baseName,
                     "ratio": a / b, "fxim_us_per_frame": 1e6 / a}
        rows.append((f"MS {name} ({size} B)", a, 1e6 / a, baseName, b, f"{a / b:.3f}"))
    table("codec: MS frames decoded + replied per second (one core, in-process)",
          ["path", "fxim frames/s", "us/frame", "baseline", "baseline/s", "ratio"], rows)
    results["codec"] = out


def pairsLogins(node, n, tag):
    items = []
    for i in range(n):
        items.append((mobile(100000 + i * 2), f"{tag}-s{i}"))
        items.append((mobile(100001 + i * 2), f"{tag}-r{i}"))
    creds, rate = loginMany(node.httpBase, items)
    return [{"s": creds[2 * i], "r": creds[2 * i + 1]} for i in range(n)], rate


def setupPairs(workers, port, mode, pairs, transport="tcp"):
    """
    @return: the size of the MS frames (TCP) or texts (WS) to be sent.
    """
    rs = callAll(workers, "pairs_setup", [{"pairs": p} for p in split(pairs, len(workers))],
                 port=port, mode=mode, transport=transport)
    for r in rs:
        if r["failed"]:
            raise RuntimeError(f"{r['failed']} pairs failed to connect: {r['error']}")
    return max(r["msBytes"] for r in rs)


def runPairs(workers, port, mode, pairs, count, window, timeLimit, serverPid, profile=None,
             afterPull=False, transport="tcp", backends=None):
    """
    Warm up, then drive C{pairs} (closed loop, C{window} in flight) on
    C{transport}; with C{backends} (a L{Backends}), also count the CPU
    PostgreSQL and Redis used over the measured interval.
    """
    setupPairs(workers, port, mode, pairs, transport)
    # Warm up both ends (first-use costs, caches, SQLite pages).
    callAll(workers, "pairs_go", count=20, window=min(window, 4), timeLimit=30)
    callAll(workers, "pairs_close")
    msBytes = setupPairs(workers, port, mode, pairs, transport)
    prof = startProfile(serverPid, profile) if profile else None
    backends0 = backends.cpu() if backends else None
    usage = Usage(serverPid, [w.pid for w in workers])
    rssPids = serverPid if isinstance(serverPid, (list, tuple)) else [serverPid]
    rss0 = sum(rssKiB(p) for p in rssPids)
    rs = callAll(workers, "pairs_go", count=count, window=window, timeLimit=timeLimit,
                 afterPull=afterPull)
    cpu = usage.stop()
    if backends:
        pg, redis = (b - a for a, b in zip(backends0, backends.cpu()))
        cpu.update(postgres_cpu_s=pg, redis_cpu_s=redis)
    stopProfile(prof)
    callAll(workers, "pairs_close")
    lat = [x for r in rs for x in r.pop("lat")]
    delivered = sum(r["delivered"] for r in rs)
    elapsed = max(r["elapsed"] for r in rs)
    out = {"mode": mode, "transport": transport, "pairs": len(pairs), "window": window,
           "per_sender": count, "ms_bytes": msBytes,
           "delivered": delivered, "expected": sum(r["expected"] for r in rs),
           "duplicates": sum(r["dups"] for r in rs), "missing": sum(r["missing"] for r in rs),
           "uid_mismatch": sum(r.get("uidMismatch", 0) for r in rs), "errors": sum(r["bad"] for r in rs),
           "pulls": sum(r["pulls"] for r in rs),
           "seconds": elapsed, "msgs_per_s": delivered / elapsed, **latencyStats(lat), **cpu,
           "server_rss_growth_kib": sum(rssKiB(p) for p in rssPids) - rss0}
    out["msgs_per_server_cpu_s"] = delivered / cpu["server_cpu_s"] if cpu["server_cpu_s"] else float("nan")
    if backends:
        out["msgs_per_server_and_backends_cpu_s"] = delivered / (
            cpu["server_cpu_s"] + cpu["postgres_cpu_s"] + cpu["redis_cpu_s"])
    out["exactly_once"] = exactlyOnce(out)
    return out


def exactlyOnce(r):
    """
    Whether a pairs run delivered every message exactly once: all acked
    and pulled, no duplicate, none lost, each under its acked uid.
    """
    return (r["delivered"] == r["expected"] and not r["duplicates"] and not r["missing"]
            and not r["uid_mismatch"] and not r["errors"])


def checkedLine(runs):
    """
    Print (and @return) the exactly-once verdict of every run of a scenario.
    """
    ok = all(r["exactly_once"] for r in runs.values())
    print("exactly once (every message delivered, 0 dups, 0 lost, uids match): "
          + ", ".join(f"{name} {'OK' if r['exactly_once'] else 'FAILED'}" for name, r in runs.items()))
    return ok


#: Issue 17's goals, printed beside the figures.
#: Goal 1: steady 1,000 msgs/s, p99 in ms at most (per backend).
GOAL_STEADY_P99_MS = {"embedded": 1.5, "postgres": 5.0}
#: Goal 2: msgs per server-CPU-second at 100 pairs, embedded (per transport) ...
GOAL_PAIRS = {"tcp": 14500, "ws": 10000}
#: ... and PostgreSQL + Redis at least this fraction of embedded.
GOAL_POSTGRES_RATIO = 0.7
#: Goal 3: deliveries per second to a group of this many online members.
GOAL_FANOUT, FANOUT_MEMBERS = 40000, 2000


def goal(what, figure, target, atMost=False):
    """
    Print one goal line, figure beside target; @return: it as a dict.
    """
    met = figure <= target if atMost else figure >= target  # NaN: not met
    print(f"{what} {'<=' if atMost else '>='} {fmt(float(target))}: {fmt(float(figure))} -> "
          + ("met" if met else "NOT met"))
    return {"what": what, "target": target, "figure": figure, "met": met}


def pairsScenario(opts, transport):
    """
    100 sender/receiver pairs on C{transport} (tcp or ws): fxim, then (with
    C{--backend postgres}) an embedded node in the same run, then the bare
    relay of that transport, the same pairs driven by the same workers;
    prints the table, the exactly-once verdict and the goal lines.

    @return: the scenario's figures.
    """
    n, window = 100, 8
    count = 60 if opts.quick else 300
    postgres = opts.backend == "postgres"
    backends = Backends() if postgres else None
    relayName = "bare relay" if transport == "tcp" else "bare Autobahn relay"
    runs = {}
    workers = [Worker() for _ in range(2)]
    try:
        for backend in (("postgres", "embedded") if postgres else ("embedded",)):
            node = Node(backend).start()
            try:
                pairs, loginRate = pairsLogins(node, n, "pairs-" + transport)
                runs["fxim " + backend] = runPairs(
                    workers, node.tcpPort if transport == "tcp" else node.wsPort, "fxim", pairs,
                    count, window, 120, node.pid,
                    opts.profile if backend == opts.backend else None,
                    transport=transport, backends=backends if backend == "postgres" else None)
            finally:
                node.stop()
        relay = Script("relay.py", transport)
        try:
            runs[relayName] = runPairs(workers, relay.port, "relay", pairs, count, window, 120,
                                       relay.pid, transport=transport)
        finally:
            relay.stop()
    finally:
        for w in workers:
            w.stop()
    fx, base, embedded = runs["fxim " + opts.backend], runs[relayName], runs["fxim embedded"]
    rows = []
    for name, r in runs.items():
        row = (name, r["msgs_per_s"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"],
               f"{r['delivered']}/{r['expected']}", r["duplicates"], r["missing"] + r["uid_mismatch"],
               f"{r['server_cpu_pct']:.0f}%", f"{r['client_cpu_pct']:.0f}%", r["msgs_per_server_cpu_s"])
        if postgres:
            row += (r.get("msgs_per_server_and_backends_cpu_s", ""),)
        rows.append(row)

    def ratioRow(name, a, b):
        row = (name, a["msgs_per_s"] / b["msgs_per_s"], a["p50_ms"] / b["p50_ms"],
               a["p90_ms"] / b["p90_ms"], a["p99_ms"] / b["p99_ms"], a["max_ms"] / b["max_ms"],
               "", "", "", "", "", a["msgs_per_server_cpu_s"] / b["msgs_per_server_cpu_s"])
        if postgres:
            row += (a["msgs_per_server_and_backends_cpu_s"] / b["msgs_per_server_cpu_s"]
                    if "msgs_per_server_and_backends_cpu_s" in a else "",)
        rows.append(row)
    ratioRow("fxim / relay", fx, base)
    if postgres:
        ratioRow("postgres / embedded", fx, embedded)
    header = ["server", "msgs/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "delivered", "dups", "lost",
              "server CPU", "client CPU", "msgs/server-CPU-s"]
    if postgres:
        header.append("msgs/CPU-s incl. PostgreSQL+Redis")
    unit = "MS frames" if transport == "tcp" else "MS JSON texts"
    table(f"pairs{'' if transport == 'tcp' else '-ws'}: {n} {transport.upper()} sender/receiver pairs, "
          f"window {window}, {count} msgs/sender, {fx['ms_bytes']}-byte {unit}; every message stored, "
          f"MN-notified, MP-pulled; server on CPU 0, 2 load workers + orchestrator on CPU 1"
          + (f"; PostgreSQL and Redis {backendsWhere()}" if postgres else ""), header, rows)
    ok = checkedLine(runs)
    goals = [goal(f"goal 2, {transport.upper()} embedded: msgs/server-CPU-s",
                  embedded["msgs_per_server_cpu_s"], GOAL_PAIRS[transport])]
    if postgres:
        ratio = fx["msgs_per_server_cpu_s"] / embedded["msgs_per_server_cpu_s"]
        goals.append(goal(f"goal 2, {transport.upper()} PostgreSQL+Redis / embedded (node CPU)", ratio,
                          GOAL_POSTGRES_RATIO))
        goals.append(goal(f"goal 2, {transport.upper()} PostgreSQL+Redis / embedded (node + "
                          "PostgreSQL + Redis CPU)",
                          fx["msgs_per_server_and_backends_cpu_s"] / embedded["msgs_per_server_cpu_s"],
                          GOAL_POSTGRES_RATIO))
    out = {"backend": opts.backend, "transport": transport, "fxim": fx, "relay": base,
           "ratio_msgs_per_s": fx["msgs_per_s"] / base["msgs_per_s"],
           "ratio_per_server_cpu": fx["msgs_per_server_cpu_s"] / base["msgs_per_server_cpu_s"],
           "logins_per_s": loginRate, "exactly_once": ok, "goals": goals,
           "cpu_split": "server CPU 0; 2 workers + orchestrator CPU 1"}
    if postgres:
        out["embedded"] = embedded
        out["ratio_postgres_embedded"] = fx["msgs_per_server_cpu_s"] / embedded["msgs_per_server_cpu_s"]
    return out


def scenario_pairs(opts, results):
    results["pairs"] = pairsScenario(opts, "tcp")


def scenario_pairs_ws(opts, results):
    results["pairs-ws"] = pairsScenario(opts, "ws")


def startProfile(pid, path):
    exe = shutil.which("py-spy")
    if not exe:
        print("py-spy not found; no profile")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "-o", path, "--format",
                             "raw" if path.endswith(".txt") else "flamegraph", "--rate", "250",
                             "--gil"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stopProfile(proc):
    if proc is not None:
        proc.send_signal(2)
        proc.wait(30)


#: Pages an embedded node's commit of one 1:1 message appends to the WAL
#: (strace: about 19 pwrite64 calls, a frame header and a page each).
DISK_PAGES = 10


def diskFloor(rate, seconds):
    """
    C{bench/diskfloor.py} on the server's CPU, in the node's temp dir.

    @return: its summary dict.
    """
    out = subprocess.run([sys.executable, os.path.join(HERE, "diskfloor.py"), "--rate", str(rate),
                          "--seconds", str(seconds), "--pages", str(DISK_PAGES),
                          "--dir", tempfile.gettempdir()],
                         capture_output=True, text=True, check=True, preexec_fn=pinServer)
    return json.loads(out.stdout)


def scenario_steady(opts, results):
    rate, duration = 1000, (5 if opts.quick else 10)
    n = 20
    w = Worker()
    try:
        node = Node(opts.backend).start()
        try:
            pairs, _ = pairsLogins(node, n, "steady")
            w.call("pairs_setup", pairs=pairs, port=node.tcpPort, mode="fxim")
            w.call("steady_go", rate=200, duration=1)  # warm-up
            usage = Usage(node.pid, [w.pid])
            r = w.call("steady_go", rate=rate, duration=duration)
            cpu = usage.stop()
            w.call("pairs_close")
        finally:
            node.stop()
        relay = Script("relay.py")
        try:
            w.call("pairs_setup", pairs=pairs, port=relay.port, mode="relay")
            w.call("steady_go", rate=200, duration=1)
            usageB = Usage(relay.pid, [w.pid])
            b = w.call("steady_go", rate=rate, duration=duration)
            cpuB = usageB.stop()
            w.call("pairs_close")
        finally:
            relay.stop()
    finally:
        w.stop()
    disk = diskFloor(rate, duration) if opts.backend == "embedded" else None
    fx, base = latencyStats(r.pop("lat")), latencyStats(b.pop("lat"))
    rows = []
    for name, s, raw, c in (("fxim " + opts.backend, fx, r, cpu), ("bare relay", base, b, cpuB)):
        rows.append((name, f"{raw['delivered']}/{raw['expected']}", raw["dups"],
                     raw.get("missing", 0) + raw.get("uidMismatch", 0), s["p50_ms"], s["p90_ms"],
                     s["p99_ms"], s["max_ms"], f"{c['server_cpu_pct']:.0f}%",
                     raw["sendLatenessP99us"] / 1000))
    rows.append(("fxim / relay", "", "", "", fx["p50_ms"] / base["p50_ms"], fx["p90_ms"] / base["p90_ms"],
                 fx["p99_ms"] / base["p99_ms"], fx["max_ms"] / base["max_ms"], "", ""))
    if disk is not None:
        rows.append((f"disk alone: {DISK_PAGES} pages + fdatasync", f"{disk['n']} commits", "", "",
                     disk["p50_ms"], "", disk["p99_ms"], disk["max_ms"], "", ""))
    table(f"steady: {rate} msgs/s for {duration} s over {n} TCP pairs (send -> MN -> MP pulled)",
          ["server", "delivered", "dups", "lost", "p50 ms", "p90 ms", "p99 ms", "max ms", "server CPU",
           "sender lateness p99 ms"], rows)
    if disk is not None:
        print(f"disk floor (bench/diskfloor.py, same rate, CPU 0): {100 * disk['over_1_5ms']:.2f}% of "
              f"commits took over 1.5 ms and {100 * disk['over_10ms']:.2f}% over 10 ms on this disk "
              f"with no database; a message is acked only after its commit")
    runs = {}
    for name, raw in (("fxim " + opts.backend, r), ("bare relay", b)):
        runs[name] = {"exactly_once": raw["delivered"] == raw["expected"] and not raw["dups"]
                      and not raw["missing"] and not raw["uidMismatch"] and not raw["bad"]}
    ok = checkedLine(runs)
    goals = [goal(f"goal 1, steady {rate} msgs/s on {opts.backend}: p99 ms", fx["p99_ms"],
                  GOAL_STEADY_P99_MS[opts.backend], atMost=True)]
    results["steady"] = {"backend": opts.backend, "rate": rate, "duration_s": duration,
                         "fxim": {**fx, **{k: v for k, v in r.items()}, **cpu},
                         "relay": {**base, **b, **cpuB}, "disk": disk,
                         "ratio_p99": fx["p99_ms"] / base["p99_ms"], "exactly_once": ok, "goals": goals}


def idlePhase(workers, pid, port, transport, kind, creds, settle=3.0):
    """
    Connect every credential's device; @return: figures.
    """
    time.sleep(1)
    rss0 = rssKiB(pid)
    rs = callAll(workers, "idle_connect", [{"creds": c} for c in split(creds, len(workers))],
                 port=port, transport=transport, kind=kind, concurrency=50)
    seconds = max(r["seconds"] for r in rs)
    connected = sum(r["connected"] for r in rs)
    time.sleep(settle)
    rss1 = rssKiB(pid)
    callAll(workers, "close_all")
    failed = sum(r["failed"] for r in rs)
    err = next((r["error"] for r in rs if r["error"]), None)
    return {"connections": connected, "failed": failed, "error": err, "seconds": seconds,
            "connects_per_s": connected / seconds, "rss_before_kib": rss0, "rss_after_kib": rss1,
            "kib_per_connection": (rss1 - rss0) / max(connected, 1)}


def scenario_idle(opts, results):
    k = 2000 if opts.quick else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    workers = [Worker() for _ in range(2)]
    out = {"connections": k}
    dataDir = tempfile.mkdtemp(prefix="fximbench-idle-")
    try:
        node = Node(opts.backend, dataDir=dataDir).start()
        try:
            items = [(mobile(200000 + i), f"idle-{i}") for i in range(k)]
            creds, loginRate = loginMany(node.httpBase, items, 50)
            out["logins_per_s"] = loginRate
            out["login_concurrency"] = 50
            out["fxim_tcp"] = idlePhase(workers, node.pid, node.tcpPort, "tcp", "fxim", creds)
        finally:
            node.stop(dropDb=False)
        # A fresh process for WS (same data: the sessions persist).
        node = Node(opts.backend, dataDir=dataDir, dsn=node.dsn)
        node.start()
        try:
            out["fxim_ws"] = idlePhase(workers, node.pid, node.wsPort, "ws", "fxim", creds)
        finally:
            node.stop()
        for kind in ("tcp", "ws"):
            srv = Script("bare.py", kind)
            try:
                out[f"bare_{kind}"] = idlePhase(workers, srv.pid, srv.port, kind, "bare", creds)
            finally:
                srv.stop()
    finally:
        for w in workers:
            w.stop()
        shutil.rmtree(dataDir, ignore_errors=True)
    rows = []
    for name, key, base in (("fxim TCP (authenticated)", "fxim_tcp", "bare_tcp"),
                            ("bare Twisted Protocol", "bare_tcp", None),
                            ("fxim WS (authenticated)", "fxim_ws", "bare_ws"),
                            ("bare Autobahn WS", "bare_ws", None)):
        r = out[key]
        ratio = f"{r['kib_per_connection'] / out[base]['kib_per_connection']:.2f}" if base else ""
        rows.append((name, f"{r['connections']}/{k}", r["kib_per_connection"], ratio,
                     r["connects_per_s"], r["rss_before_kib"] / 1024, r["rss_after_kib"] / 1024))
    table(f"idle: {k} idle connections per server; logins {out['logins_per_s']:.0f}/s "
          f"(HTTP, 50 concurrent)",
          ["server", "connected", "KiB/conn", "ratio", "connects/s", "RSS before MiB",
           "RSS after MiB"], rows)
    results["idle"] = out


def fanoutRun(workers, port, pid, mode, creds, messages, window):
    """
    One fan-out run: every credential's device connected (fxim: logged
    in, then the group of them all created by the first; relay: joined the
    relay's group, the first as its sender), then C{messages} MS from the
    first, C{window} in flight, until every other device has them all.
    """
    rs = callAll(workers, "fanout_setup", [{"creds": c, "hasSender": i == 0}
                                           for i, c in enumerate(split(creds, len(workers)))],
                 port=port, mode=mode)
    if sum(r["connected"] for r in rs) != len(creds):
        raise RuntimeError(f"fanout: {sum(r['failed'] for r in rs)} devices failed to connect: "
                           + str(next(r["error"] for r in rs if r["error"])))
    group = "fan"
    if mode == "fxim":
        group = workers[0].call("fanout_group", members=[c["uid"] for c in creds])["group"]
        callAll(workers, "fanout_settle", timeLimit=30)  # the group-created notices pulled
    callAll(workers, "fanout_expect", messages=messages)
    usage = Usage(pid, [w.pid for w in workers])
    t0 = workers[0].call("fanout_send", group=group, messages=messages, window=window)["t0"]
    rs = callAll(workers, "fanout_wait", timeLimit=120)
    cpu = usage.stop()
    callAll(workers, "fanout_close")
    receivers = len(creds) - 1  # the sender's own device is not notified of its own messages
    deliveries = sum(r["deliveries"] for r in rs)
    seconds = max(r["last"] for r in rs) - t0
    seen = {}
    for r in rs:
        for seq, us in r["uids"].items():
            seen.setdefault(int(seq), set()).update(us)
    acked = {int(seq): u for seq, u in rs[0]["sent"]["uids"].items()}
    # every member pulled seq under the uid its MS was acked with (the relay has none)
    mismatch = sum(1 for seq, us in seen.items() if us != ({acked.get(seq)} if mode == "fxim" else {0}))
    out = {"mode": mode, "members": len(creds), "messages": messages, "window": window,
           "deliveries": deliveries, "expected": messages * receivers,
           "duplicates": sum(r["dups"] for r in rs), "uid_mismatch": mismatch,
           "receivers_complete": sum(r["complete"] for r in rs), "seconds": seconds,
           "deliveries_per_s": deliveries / seconds if seconds > 0 else float("nan"),
           "pulls": sum(r["pulls"] for r in rs), **cpu}
    out["exactly_once"] = (deliveries == out["expected"] and not out["duplicates"] and not mismatch
                           and out["receivers_complete"] == receivers and len(acked) == messages)
    return out


def scenario_fanout(opts, results):
    """
    Goal 3: one sender, a group of 2,000 members all online on TCP; deliveries (message x member device notified and pulled) per
    second, beside the bare relay fanning the same frames out to as many
    connections (one frame in, one forwarded per member), the same devices
    driven by the same workers.
    """
    m = FANOUT_MEMBERS
    messages = 5 if opts.quick else 20
    window = 4
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the node and the relay inherit it
    runs = {}
    workers = [Worker() for _ in range(2)]
    try:
        node = Node(opts.backend, extra=["--max-group-size", str(m)]).start()
        try:
            items = [(mobile(300000 + i), f"fan-{i}") for i in range(m)]
            creds, loginRate = loginMany(node.httpBase, items)
            runs["fxim " + opts.backend] = fanoutRun(workers, node.tcpPort, node.pid, "fxim", creds,
                                                     messages, window)
        finally:
            node.stop()
        relay = Script("relay.py")
        try:
            runs["bare relay"] = fanoutRun(workers, relay.port, relay.pid, "relay", creds, messages,
                                           window)
        finally:
            relay.stop()
    finally:
        for w in workers:
            w.stop()
    fx, base = runs["fxim " + opts.backend], runs["bare relay"]
    rows = [(name, f"{r['deliveries']}/{r['expected']}", r["duplicates"],
             r["expected"] - r["deliveries"] + r["uid_mismatch"], r["seconds"], r["deliveries_per_s"],
             r["pulls"], f"{r['server_cpu_pct']:.0f}%", f"{r['client_cpu_pct']:.0f}%")
            for name, r in runs.items()]
    rows.append(("fxim / relay", "", "", "", fx["seconds"] / base["seconds"],
                 fx["deliveries_per_s"] / base["deliveries_per_s"], "", "", ""))
    table(f"fanout: 1 sender, a group of {m} members all online (TCP), {messages} 200-byte "
          f"messages, window {window}; logins {loginRate:.0f}/s",
          ["server", "deliveries", "dups", "lost", "seconds", "deliveries/s", "pulls", "server CPU",
           "client CPU"], rows)
    ok = checkedLine(runs)
    goals = [goal(f"goal 3, fan-out to {m:,} online members: deliveries/s", fx["deliveries_per_s"],
                  GOAL_FANOUT)]
    results.setdefault("fanout", {})[opts.backend] = {
        "backend": opts.backend, **fx, "relay": base, "logins_per_s": loginRate,
        "ratio_deliveries_per_s": fx["deliveries_per_s"] / base["deliveries_per_s"],
        "exactly_once": ok, "goals": goals}


def scenario_storm(opts, results):
    k = 1000 if opts.quick else 5000
    per, jitter = 3, 2.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    workers = [Worker() for _ in range(2)]
    try:
        node = Node(opts.backend).start()
        try:
            items = [(mobile(400000 + i), f"storm-{i}") for i in range(k)]
            items += [(mobile(490000 + i), f"storm-sender-{i}") for i in range(20)]
            creds, loginRate = loginMany(node.httpBase, items)
            clients, senders = creds[:k], creds[k:]
            rs = callAll(workers, "storm_setup", [{"creds": c} for c in split(clients, 2)],
                         port=node.tcpPort)
            callAll(workers, "storm_drop")
            time.sleep(2)
            backlog = workers[0].call("backlog", port=node.tcpPort, senders=senders,
                                      targets=[c["uid"] for c in clients], perTarget=per, window=8)
            usage = Usage(node.pid, [w.pid for w in workers])
            t0 = time.time()
            rs = callAll(workers, "storm_reconnect", jitter=jitter, expectPer=per, timeLimit=180)
            cpu = usage.stop()
            callAll(workers, "close_all")
        finally:
            node.stop()
    finally:
        for w in workers:
            w.stop()
    current = sum(r["current"] for r in rs)
    failed = sum(r["failed"] for r in rs)
    end = max(r["end"] for r in rs)
    clat = latencyStats([round(x * 1e6) for r in rs for x in r["connectLat"]])
    short = sum(r.get("short", 0) for r in rs)
    out = {"backend": opts.backend, "clients": k, "backlog_per_client": per, "jitter_s": jitter,
           "current": current, "failed": failed, "short": short,
           "messages_pulled": sum(r["messages"] for r in rs),
           "error": next((r["err"] for r in rs if r["err"]), None),
           "seconds_until_all_current": end - t0, "connect_latency": clat,
           "backlog_send": backlog, "backlog_msgs_per_s": backlog["sent"] / backlog["seconds"], **cpu}
    table(f"storm: {k} TCP clients drop, {per} msgs each sent meanwhile, all reconnect "
          f"(uniform jitter 0-{jitter:g} s) and pull",
          ["server", "current", "all current after s", "CONNECT p50 ms", "p99 ms", "max ms",
           "backlog stored msgs/s (offline receivers)", "server CPU"],
          [("fxim " + opts.backend, f"{current}/{k}" + (f" ({failed} failed)" if failed else ""),
            end - t0, clat["p50_ms"], clat["p99_ms"], clat["max_ms"], out["backlog_msgs_per_s"],
            f"{cpu['server_cpu_pct']:.0f}%")])
    results["storm"] = out


# i13: receipts
def scenario_reports(opts, results):
    """
    MDR/MRR stored and notified per second beside MS per second, in one run
    (bench/reports.py, one in-process SDK driver).
    """
    args = [sys.executable, os.path.join(HERE, "reports.py"), "--backend", opts.backend,
            "--pairs", "10" if opts.quick else "20", "--count", "100" if opts.quick else "300"]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError("reports.py failed:\n" + done.stdout[-2000:] + done.stderr[-2000:])
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [(kind, figures[f"{kind}_stored_per_s" if kind != "ms" else "ms_acked_per_s"],
             figures[f"{kind}_notified_per_s" if kind != "ms" else "ms_pulled_per_s"])
            for kind in ("ms", "mdr", "mrr")]
    table(f"reports: {figures['pairs']} TCP pairs x {figures['count']}, window 8 "
          "(MS: acked / pulled; MDR, MRR: acked / owner notified and pulled)",
          ["request", "stored/s", "notified/s"], rows)
    results["reports"] = figures


def scenario_single(opts, results):
    """
    One message at a time: one TCP pair, each MS sent only once the
    previous message was acked, notified (MN) and pulled (MP).  This is
    the per-message round trip with nothing queued: on a connection without
    C{TCP_NODELAY} it is the delayed-ACK floor (~40 ms).
    """
    count = 100 if opts.quick else 300
    w = Worker()
    try:
        node = Node(opts.backend).start()
        try:
            pairs, _ = pairsLogins(node, 1, "single")
            fx = runPairs([w], node.tcpPort, "fxim", pairs, count, 1, 120, node.pid,
                          afterPull=True)
        finally:
            node.stop()
        relay = Script("relay.py")
        try:
            base = runPairs([w], relay.port, "relay", pairs, count, 1, 120, relay.pid,
                            afterPull=True)
        finally:
            relay.stop()
    finally:
        w.stop()
    rows = []
    for name, r in (("fxim " + opts.backend, fx), ("bare relay", base)):
        rows.append((name, f"{r['delivered']}/{r['expected']}", r["duplicates"],
                     r["missing"] + r["uid_mismatch"], r["p50_ms"], r["p90_ms"], r["p99_ms"],
                     r["max_ms"]))
    rows.append(("fxim / relay", "", "", "", fx["p50_ms"] / base["p50_ms"],
                 fx["p90_ms"] / base["p90_ms"], fx["p99_ms"] / base["p99_ms"],
                 fx["max_ms"] / base["max_ms"]))
    table(f"single: one message at a time over one TCP pair ({count} msgs, window 1): "
          f"send -> MN -> MP pulled",
          ["server", "delivered", "dups", "lost", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows)
    ok = checkedLine({"fxim " + opts.backend: fx, "bare relay": base})
    results["single"] = {"backend": opts.backend, "fxim": fx, "relay": base,
                         "ratio_p50": fx["p50_ms"] / base["p50_ms"], "exactly_once": ok}


def interpreterName(python):
    return subprocess.run([python, "-c", "import sys, platform; print(sys.implementation.name, "
                           "platform.python_version())"], capture_output=True, text=True,
                          timeout=60).stdout.strip() or python


def scenario_pypy(opts, results):
    """
    The same 1:1 pairs load (TCP) on a CPython node and on a PyPy node, one
    after the other in this run: msgs per server-CPU-second and the
    PyPy/CPython ratio, and the node's RSS after each of several rounds
    (after a warm-up round: PyPy's JIT and both stores' caches) to show
    whether memory stays flat under load.
    """
    from fxim.test.e2e.test_pypy import findPyPy
    pypy = opts.pypy or findPyPy()
    if not pypy:
        raise SystemExit("pypy scenario: no PyPy (apt-get install pypy3 pypy3-venv; bash .ci/pypy-env.sh)")
    n, window = 100, 8
    count = 60 if opts.quick else 300
    rounds = opts.rounds or (2 if opts.quick else 4)
    out = {}
    workers = [Worker() for _ in range(2)]
    try:
        interpreters = [("cpython", opts.python or sys.executable), ("pypy", pypy)]
        for label, python in interpreters:
            node = Node(opts.backend, python=python).start()
            try:
                pairs, _ = pairsLogins(node, n, label)
                runPairs(workers, node.tcpPort, "fxim", pairs, count, window, 180, node.pid)  # warm-up
                rss = [rssKiB(node.pid)]
                runs = []
                for _ in range(rounds):
                    runs.append(runPairs(workers, node.tcpPort, "fxim", pairs, count, window, 180,
                                         node.pid))
                    rss.append(rssKiB(node.pid))
                msgs = sum(r["delivered"] for r in runs)
                # growth over the second half of the rounds: past the JIT's warm-up
                half = rounds // 2
                late = sum(r["delivered"] for r in runs[half:])
                out[label] = {
                    "interpreter": interpreterName(python), "python": python, "runs": runs,
                    "rss_kib": rss, "delivered": msgs,
                    "duplicates": sum(r["duplicates"] for r in runs),
                    "lost": sum(r["missing"] + r["uid_mismatch"] for r in runs),
                    "expected": sum(r["expected"] for r in runs),
                    "msgs_per_s": sorted(r["msgs_per_s"] for r in runs)[len(runs) // 2],
                    "msgs_per_server_cpu_s": msgs / sum(r["server_cpu_s"] for r in runs),
                    "rss_growth_b_per_msg": (rss[-1] - rss[half]) * 1024 / late if late else float("nan"),
                }
            finally:
                node.stop()
    finally:
        for w in workers:
            w.stop()
    rows = []
    for label in ("cpython", "pypy"):
        r = out[label]
        rows.append((r["interpreter"], f"{r['delivered']}/{r['expected']}", r["duplicates"], r["lost"],
                     r["msgs_per_s"], r["msgs_per_server_cpu_s"],
                     " -> ".join(f"{k / 1024:.0f}" for k in r["rss_kib"]), r["rss_growth_b_per_msg"]))
    ratio = out["pypy"]["msgs_per_server_cpu_s"] / out["cpython"]["msgs_per_server_cpu_s"]
    rows.append(("pypy / cpython", "", "", "", out["pypy"]["msgs_per_s"] / out["cpython"]["msgs_per_s"],
                 ratio, "", ""))
    table(f"pypy: {n} TCP pairs, window {window}, {rounds} rounds of {count} msgs/sender after a "
          f"warm-up round, on {opts.backend}",
          ["node", "delivered", "dups", "lost", "msgs/s (median round)", "msgs/server-CPU-s",
           "RSS MiB per round", "RSS growth B/msg (late rounds)"], rows)
    ok = checkedLine({label: {"exactly_once": all(r["exactly_once"] for r in out[label]["runs"])}
                      for label in ("cpython", "pypy")})
    results["pypy"] = {"backend": opts.backend, **out, "ratio_per_server_cpu": ratio, "exactly_once": ok}


def scenario_sendchecks(opts, results):
    """
    The 1:1 pairs load (TCP) on a node with the send-check cache (the
    default) and on one with C{--send-check-cache 0}, in this run: msgs per
    server-CPU-second and their ratio.
    """
    n, window = 100, 8
    count = 60 if opts.quick else 300
    out = {}
    workers = [Worker() for _ in range(2)]
    try:
        for label, extra in (("cache on", ()), ("cache off", ("--send-check-cache", "0"))):
            node = Node(opts.backend, extra=extra).start()
            try:
                pairs, _ = pairsLogins(node, n, "sc%d" % (len(out),))
                out[label] = runPairs(workers, node.tcpPort, "fxim", pairs, count, window, 120,
                                      node.pid)
            finally:
                node.stop()
    finally:
        for w in workers:
            w.stop()
    rows = [(label, r["msgs_per_s"], r["p50_ms"], r["p99_ms"], f"{r['delivered']}/{r['expected']}",
             r["duplicates"], r["missing"] + r["uid_mismatch"], f"{r['server_cpu_pct']:.0f}%",
             r["msgs_per_server_cpu_s"]) for label, r in out.items()]
    on, off = out["cache on"], out["cache off"]
    ratio = on["msgs_per_server_cpu_s"] / off["msgs_per_server_cpu_s"]
    rows.append(("on / off", on["msgs_per_s"] / off["msgs_per_s"], "", "", "", "", "", "", ratio))
    table(f"sendchecks: {n} TCP pairs, window {window}, {count} msgs/sender, on {opts.backend}, "
          f"send-check cache on vs off",
          ["node", "msgs/s", "p50 ms", "p99 ms", "delivered", "dups", "lost", "server CPU",
           "msgs/server-CPU-s"], rows)
    ok = checkedLine(out)
    results["sendchecks"] = {"backend": opts.backend, "on": on, "off": off,
                             "ratio_per_server_cpu": ratio, "exactly_once": ok}


def scenario_nodes(opts, results):
    """
    Several nodes per machine sharing PostgreSQL + Redis: the pairs load on
    one node (CPU 0), then on C{--nodes} nodes of one cluster (node k on
    CPU k mod the CPU count; the load workers then share the CPUs), every
    pair's sender on one node and its receiver on the next, so that every
    message crosses nodes through Redis.  Same users, same database, same
    run.  msgs per node-CPU-second sums the CPU of every node.
    """
    if opts.backend != "postgres":
        raise SystemExit("the nodes scenario needs --backend postgres (nodes share PostgreSQL + Redis)")
    from fxim.test import e2e
    n, window = 100, 8
    count = 60 if opts.quick else 300
    k = opts.nodes
    ncpu = os.cpu_count() or 1
    dsn = e2e.createDatabase()
    prefix = f"fximbench:{uuid.uuid4().hex[:8]}:"
    out = {}
    workers = [Worker() for _ in range(2)]
    try:
        # one node: the baseline (clients on CPU 1 as in pairs)
        node = Node("postgres", dsn=dsn, redisPrefix=prefix, extra=["--node-id", "1"]).start()
        try:
            pairs, _ = pairsLogins(node, n, "nodes")
            out["one"] = runPairs(workers, node.tcpPort, "fxim", pairs, count, window, 180, node.pid)
        finally:
            node.stop()
        # Tokens must verify on every node: one signing key for the cluster.
        key = os.path.join(node.dataDir, "hmac.key")
        nodes = []
        backends = Backends()
        backends.pin(set(range(ncpu)))  # the nodes take every core
        try:
            for i in range(k):
                nodes.append(Node("postgres", dsn=dsn, redisPrefix=prefix, cpus={i % ncpu},
                                  extra=["--node-id", str(i + 1), "--hmac-key-file", key]).start())
            for w in workers:
                os.sched_setaffinity(w.pid, set(range(ncpu)))
            spread = [dict(p, sport=nodes[i % k].tcpPort, rport=nodes[(i + 1) % k].tcpPort)
                      for i, p in enumerate(pairs)]
            out["cluster"] = runPairs(workers, nodes[0].tcpPort, "fxim", spread, count, window, 180,
                                      [x.pid for x in nodes])
        finally:
            for x in nodes:
                x.stop()
            for w in workers:
                os.sched_setaffinity(w.pid, CLIENT_CPU)
            if BACKENDS_PINNED[0]:
                backends.pin(CLIENT_CPU)
    finally:
        for w in workers:
            w.stop()
        e2e.dropDatabase(dsn)
    rows = []
    for name, r in (("1 node (CPU 0)", out["one"]), (f"{k} nodes (one per CPU), cross-node pairs",
                                                     out["cluster"])):
        rows.append((name, r["msgs_per_s"], r["p50_ms"], r["p99_ms"], f"{r['delivered']}/{r['expected']}",
                     r["duplicates"], r["missing"] + r["uid_mismatch"], f"{r['server_cpu_pct']:.0f}%",
                     f"{r['client_cpu_pct']:.0f}%", r["msgs_per_server_cpu_s"]))
    rows.append((f"{k} / 1", out["cluster"]["msgs_per_s"] / out["one"]["msgs_per_s"],
                 out["cluster"]["p50_ms"] / out["one"]["p50_ms"],
                 out["cluster"]["p99_ms"] / out["one"]["p99_ms"], "", "", "", "", "",
                 out["cluster"]["msgs_per_server_cpu_s"] / out["one"]["msgs_per_server_cpu_s"]))
    table(f"nodes: {n} TCP pairs, window {window}, {count} msgs/sender on PostgreSQL + Redis: one node "
          f"vs {k} nodes sharing them (PostgreSQL and Redis {backendsWhere()} for one node, on "
          f"every CPU for {k})",
          ["nodes", "msgs/s", "p50 ms", "p99 ms", "delivered", "dups", "lost", "nodes' CPU",
           "client CPU", "msgs/node-CPU-s"], rows)
    ok = checkedLine({"1 node": out["one"], f"{k} nodes": out["cluster"]})
    results["nodes"] = {"backend": "postgres", "nodes": k, **out, "exactly_once": ok,
                        "ratio_msgs_per_s": out["cluster"]["msgs_per_s"] / out["one"]["msgs_per_s"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="scenario",
                        help="any of " + " ".join(SCENARIOS) + " (default: "
                             + " ".join(DEFAULT_SCENARIOS) + ")")
    parser.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "latest.json"))
    parser.add_argument("--quick", action="store_true", help="a ~2-3-minute smoke run")
    parser.add_argument("--profile", metavar="OUT",
                        help="py-spy record the node during pairs (OUT.svg flamegraph or OUT.txt raw)")
    parser.add_argument("--listen-backlog", type=int, metavar="N",
                        help="listen backlog of the node's TCP and WS ports (default: the "
                             "endpoint default, 50)")
    # i17: interpreters
    parser.add_argument("--python", metavar="PATH",
                        help="interpreter of the nodes under test (default: this one), e.g. a "
                             "PyPy venv's bin/python")
    parser.add_argument("--pypy", metavar="PATH",
                        help="the PyPy of the pypy scenario (default: $FXIM_TEST_PYPY, the "
                             ".ci/pypy-env.sh venv, or pypy3)")
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="measured rounds per interpreter in the pypy scenario (default 4, "
                             "quick 2): more rounds show whether RSS levels off")
    parser.add_argument("--nodes", type=int, default=2, metavar="N",
                        help="nodes of the cluster in the nodes scenario (default 2: one per core)")
    opts = parser.parse_args()
    global NODE_PYTHON
    if opts.python:
        NODE_PYTHON = opts.python
    global LISTEN_BACKLOG
    LISTEN_BACKLOG = opts.listen_backlog
    scenarios = opts.scenarios or DEFAULT_SCENARIOS
    for name in scenarios:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}; choose from {' '.join(SCENARIOS)}")
    try:
        os.sched_setaffinity(0, CLIENT_CPU)
    except OSError:
        pass
    results = {}
    if os.path.exists(opts.json):
        try:
            with open(opts.json) as f:
                results = json.load(f)
        except ValueError:
            results = {}
    results["meta"] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "python": platform.python_version(),
                       "cpus": os.cpu_count(), "quick": opts.quick, "backend": opts.backend,
                       "cpu_split": "server under test pinned to CPU 0; load workers and "
                                    "orchestrator pinned to CPU 1",
                       "git_head": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                                 capture_output=True, text=True).stdout.strip(),
                       "node_args": NODE_ARGS, "node_python": NODE_PYTHON, "listen_backlog": opts.listen_backlog, "command": " ".join(sys.argv)}
    print(f"fximbench: {', '.join(scenarios)} on {opts.backend}{' (quick)' if opts.quick else ''}; "
          f"server on CPU 0, load generators on CPU 1")
    roots = [os.getpid()]
    if opts.backend == "postgres":
        backends = Backends()
        roots += [backends.postgres, backends.redis]
        # Off the server's core: with the load generators.
        results["meta"]["backends_pinned"] = BACKENDS_PINNED[0] = backends.pin(CLIENT_CPU)
    for name in scenarios:
        t0, load0 = time.time(), os.getloadavg()[0]
        others = Contention(roots)
        globals()["scenario_" + name.replace("-", "_")](opts, results)
        share = others.stop()
        load1 = os.getloadavg()[0]
        results["meta"].setdefault("loadavg_1min", {})[name] = [load0, load1]
        results["meta"].setdefault("other_cpu_share", {})[name] = share
        contended = share > CONTENDED_SHARE
        results["meta"].setdefault("contended", {})[name] = contended
        print(f"({name} took {time.time() - t0:.0f} s; 1-min load average {load0:.1f} before, "
              f"{load1:.1f} after (this benchmark's own load included); other processes used "
              f"{100 * share:.1f}% of a CPU: "
              + ("CONTENDED, read the figures as lower bounds)" if contended else "quiet)"))
        os.makedirs(os.path.dirname(os.path.abspath(opts.json)), exist_ok=True)
        with open(opts.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True, default=str)
    print(f"\nfigures written to {opts.json}")


if __name__ == "__main__":
    main()
