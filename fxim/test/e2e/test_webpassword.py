# -*- test-case-name: fxim.test.e2e.test_webpassword -*-
"""
The web clients' CONNECT password, computed by the real thing: Node runs
C{fxim/test/js/webpassword/webpassword.js}, which uses crypto-js 3.1.9-1
(the version the web clients lock) exactly as their C{aes.js} does, word
padding included (see C{docs/auth.md}); the CONNECT frames it prints are
sent over WebSocket to a real C{twistd fxim}, which must accept every one.

Needs C{node} and the project's npm packages (C{.ci/tools.sh} installs both
in CI; by hand: C{npm install} in C{fxim/test/js/webpassword}).
"""

import json
import os
import shutil
import tempfile
import uuid

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from fxim.test import TEST_DIR
from fxim import crypto
from fxim.client.http import login, postJson
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend, withTimeout

JS_DIR = os.path.join(TEST_DIR, "js", "webpassword")
SCRIPT = os.path.join(JS_DIR, "webpassword.js")
ADMIN_SECRET = "webpassword-admin-secret"

#: The web client's device id: a UUID from localStorage (36 characters).
UUID_CID = "8d785094-0928-4a3d-89af-1117f66c7829"


def cidOfLength(n: int) -> str:
    """
    An ASCII device id of C{n} characters, shaped like the real ones where
    a real one has that length: a UUID (36), the iOS client's 32 uppercase
    hex characters (32), otherwise hex digits and dashes.
    """
    if n == 36:
        return str(uuid.uuid4())
    if n == 32:
        return uuid.uuid4().hex.upper()
    return "-".join(uuid.uuid4().hex for _ in range(n // 33 + 1))[:n]


def nodeTool():
    """
    @return: the path of C{node}, failing the test with what to do if it or
        crypto-js is missing.
    """
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node is not installed (.ci/tools.sh installs it)")
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "crypto-js")):
        raise AssertionError(f"crypto-js is missing: run npm install in {JS_DIR}")
    return node


async def browserFrames(devices):
    """
    Run the web client's computation in Node.

    @param devices: a list of C{{"token", "userName", "clientIdentifier"}}.
    @return: the list of C{{"frame", "usertokenBytes"}} it printed.
    """
    node = nodeTool()
    path = os.path.join(tempfile.mkdtemp(prefix="fxim-webpassword-"), "devices.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(devices, f, ensure_ascii=False)
    out, err, code = await getProcessOutputAndValue(node, [SCRIPT, path], env=dict(os.environ),
                                                    path=JS_DIR, reactor=reactor)
    if code != 0:
        raise AssertionError(f"node failed ({code}): {err.decode('utf-8', 'replace')}")
    return json.loads(out.decode("utf-8"))


class _OneConnect(WebSocketClientProtocol):
    """
    Send one text frame on open; fire C{factory.answer} with the first
    frame received (parsed), then close.
    """

    def onOpen(self):
        self.sendMessage(self.factory.frame.encode("utf-8"), False)

    def onMessage(self, payload, isBinary):
        if not self.factory.answer.called:
            self.factory.answer.callback(json.loads(payload.decode("utf-8")))
            self.sendClose()

    def onClose(self, wasClean, code, reason):
        if not self.factory.answer.called:
            self.factory.answer.errback(AssertionError(f"closed without an answer: {reason}"))
        if not self.factory.closed.called:
            self.factory.closed.callback(None)


class _OneConnectFactory(WebSocketClientFactory):
    """
    Carries the frame L{_OneConnect} sends and the L{Deferred}s it fires.
    """

    frame: str
    answer: Deferred
    closed: Deferred


async def sendConnect(port: int, frame: str):
    """
    Open a WebSocket to C{port}, send C{frame}, and return the answer.
    """
    factory = _OneConnectFactory(f"ws://127.0.0.1:{port}/ws", reactor=reactor)
    factory.protocol = _OneConnect
    factory.frame = frame
    factory.answer, factory.closed = Deferred(), Deferred()
    await TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(factory)
    try:
        return await withTimeout(factory.answer, 30)
    finally:
        await withTimeout(factory.closed, 30)


class WebPasswordMixin:
    """
    CONNECT passwords made by crypto-js 3.1.9-1 as the web client makes
    them, against one real node.
    """

    timeout = 300

    async def test_browserPasswordsAccepted(self):
        """
        For the uid lengths the server issues (8 characters, 32 hex
        characters) and every cid length from 1 to 64, plus the 128
        character limit and non-ASCII ids up to 255 UTF-8 bytes, the web
        client's CONNECT is accepted; admin-made uids of 1, 64 and non-ASCII
        characters too.  The real failing case, an 8-character uid with a
        UUID device id, goes through C{/login} as the browser does.
        """
        nodeTool()
        secretPath = os.path.join(tempfile.mkdtemp(), "admin.secret")
        with open(secretPath, "w") as f:
            f.write(ADMIN_SECRET)
        node = await self.startNode(["--admin-secret-file", secretPath])
        auth = {"Authorization": "Bearer " + ADMIN_SECRET}

        async def mint(userId, cid):
            answer = await postJson(reactor, node.httpBase + "/admin/tokens",
                                    {"uid": userId, "clientId": cid}, auth)
            self.assertEqual(answer.get("code"), 0, (userId, cid, answer))
            return answer["result"]["token"]

        async def createUser(userId, mobile):
            answer = await postJson(reactor, node.httpBase + "/admin/users",
                                    {"uid": userId, "mobile": mobile}, auth)
            self.assertEqual(answer.get("code"), 0, (userId, answer))

        devices = []
        # The browser's own way in: /login with its UUID device id.
        for cid in [UUID_CID, cidOfLength(32), cidOfLength(37)]:
            creds = await login(reactor, node.httpBase, "13800000000", LOGIN_CODE, cid)
            devices.append({"token": creds.token, "userName": creds.userId, "clientIdentifier": cid})
        shortUid = devices[0]["userName"]
        self.assertEqual(len(shortUid), 8)
        longUid = uuid.uuid4().hex  # what the server issues past 2**30 users
        await createUser(longUid, "13800000001")
        cids = [cidOfLength(n) for n in range(1, 65)] + [cidOfLength(128)]
        cids += ["设备" * k for k in range(1, 9)] + ["é" * 127, "😀" * 63, "设" * 85]
        pairs = [(shortUid, cid) for cid in cids] + [(longUid, cid) for cid in cids]
        # Admin-created uids of other lengths, on a few device ids.
        for n, userId in enumerate(["a", "z" * 64, "用户名"]):
            await createUser(userId, f"1380000001{n}")
            pairs += [(userId, cid) for cid in [cidOfLength(1), cidOfLength(32), UUID_CID,
                                             cidOfLength(37), cidOfLength(64), "设备"]]
        limit = DeferredSemaphore(8)
        tokens = await gatherResults([limit.run(lambda u=u, c=c: Deferred.fromCoroutine(mint(u, c)))
                                      for u, c in pairs])
        devices += [{"token": t, "userName": u, "clientIdentifier": c}
                    for (u, c), t in zip(pairs, tokens)]

        made = await browserFrames(devices)
        self.assertEqual(len(made), len(devices))
        for device, item in zip(devices, made):
            content = json.loads(item["frame"])["content"]
            self.assertEqual((content["userName"], content["clientIdentifier"]),
                             (device["userName"], device["clientIdentifier"]))

        answers = await gatherResults([
            limit.run(lambda f=item["frame"]: Deferred.fromCoroutine(sendConnect(node.wsPort, f)))
            for item in made])
        refused = [(len(d["userName"]), len(d["clientIdentifier"]), a.get("subSignal"))
                   for d, a in zip(devices, answers)
                   if (a.get("signal"), a.get("subSignal")) != ("CONNECT_ACK", "CONNECTION_ACCEPTED")]
        self.assertEqual(refused, [], "refused (uid length, cid length, answer)")
        self.assertNotIn("CONNECT refused", node.log())
        # The client hands back the usertoken zero-padded to 4 bytes; fxim's
        # are a multiple of 8, so it added nothing.
        self.assertEqual([item["usertokenBytes"] for item in made],
                         [len(crypto.splitToken(d["token"])[0]) for d in devices])


class EmbeddedWebPasswordTests(WebPasswordMixin, NodeTestMixin, TestCase):
    """
    The web client's passwords on the embedded default (SQLite).
    """


class ProductionWebPasswordTests(WebPasswordMixin, ProductionBackend, TestCase):
    """
    The web client's passwords on PostgreSQL + Redis (the sessions of
    non-ASCII and 255-byte device ids are stored there).
    """
