"""
End-to-end tests of the device cap and of presence left behind by closed
connections, against real C{twistd fxim} nodes on the embedded default and
on PostgreSQL + Redis.
"""

import uuid

from twisted.internet import reactor
from twisted.internet.defer import DeferredList
from twisted.trial.unittest import TestCase

from fxim import crypto
from fxim.client import RequestFailed, login
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.protocol.client import CLIENT as clientcodecs
from fxim.wire.frame import Frame, encodeFrame
from fxim.wire.requests import ConnectRequest, PullMessages
from fxim.wire.signals import Signal, SubSignal


def connectFrame(userId: str, token: str, cid: str) -> bytes:
    """
    A TCP CONNECT frame for (uid, cid) with a fresh password.
    """
    password = crypto.makePassword(token, int(reactor.seconds() * 1000))
    body = clientcodecs.encodeRequestTcp(ConnectRequest(userId, password, cid))
    return encodeFrame(Frame(Signal.CONNECT, 0, 0, body))


async def loginDevices(test, nodes, mobile, cids):
    """
    Log in device C{cids[i]} of C{mobile} on C{nodes[i]} and open a TCP
    client of C{test} to that node for it, one after the other.

    @return: C{(conn, creds, cid)} per device.
    """
    devices = []
    for node, cid in zip(nodes, cids):
        creds = await login(reactor, node.httpBase, mobile, LOGIN_CODE, cid)
        devices.append((await test.openClient(node, "tcp"), creds, cid))
    return devices


def connectAll(devices):
    """
    CONNECT every C{(conn, creds, cid)} of C{devices} at once.

    @return: a L{Deferred} firing with their C{DeferredList} results.
    """
    return withTimeout(DeferredList(
        [_ensure(conn.connect(creds.userId, creds.token, cid)) for conn, creds, cid in devices],
        consumeErrors=True), 60)


class PresenceLimitsMixin:
    """
    Device cap and ghost presence; mixed into one class per backend.
    """

    async def test_concurrentConnectsRespectMaxDevices(self):
        """
        Fifteen devices of one user CONNECTing at the same moment with
        C{--max-devices 3}: exactly three are accepted, the rest get
        CONNECT_ACK 6, and the three stay served.
        """
        node = await self.startNode(["--max-devices", "3"])
        devices = await loginDevices(
            self, [node] * 15, "13800000700", [f"dev-{i}-{uuid.uuid4().hex[:6]}" for i in range(15)])
        results = await connectAll(devices)
        accepted = [conn for (ok, _), (conn, _, _) in zip(results, devices) if ok]
        refused = [f.value.code for ok, f in results if not ok]
        self.assertEqual(len(accepted), 3, f"refusals: {refused}")
        self.assertEqual(set(refused), {SubSignal.CONNECTION_REFUSED_NOT_AUTHORIZED})
        for conn in accepted:
            self.assertEqual((await conn.request(PullMessages(0, 0))).head, 0)

    async def test_doubleConnectLeavesNoGhost(self):
        """
        Two CONNECT frames in one write: the connection is closed, and with
        C{--max-devices 1} another device of the user is accepted
        afterwards (the closed one is not left registered).
        """
        await self.assertDoubleConnectsLeaveNoDevice("13800000701", 1, "ws")

    async def test_doubleConnectRepeatedly(self):
        """
        Repeating the double CONNECT many times never leaves a device
        registered: the real device still gets in with C{--max-devices 1}.
        """
        await self.assertDoubleConnectsLeaveNoDevice("13800000702", 10, "tcp")

    async def assertDoubleConnectsLeaveNoDevice(self, mobile, times, transport):
        """
        On a node with C{--max-devices 1}, send two CONNECT frames in one
        write C{times} times (each connection is closed), then check that
        the user's other device gets in over C{transport}.
        """
        node = await self.startNode(["--max-devices", "1"])
        ghost = await login(reactor, node.httpBase, mobile, LOGIN_CODE, "ghost-dev")
        other = await login(reactor, node.httpBase, mobile, LOGIN_CODE, "real-dev")
        for _ in range(times):
            conn = await self.openClient(node, "tcp")
            frame = connectFrame(ghost.userId, ghost.token, "ghost-dev")
            conn.transport.write(frame + frame)
            await withTimeout(conn.closed)
        await sleep(1.0)
        real = await self.openClient(node, transport)
        ack = await real.connect(other.userId, other.token, "real-dev")
        self.assertEqual(ack.code, SubSignal.CONNECTION_ACCEPTED)


    async def test_maxSessionsPerUserEvictsOldest(self):
        """
        With C{--max-sessions-per-user 2} a third login logs the oldest
        device out: its open connection is closed and its token gets
        CONNECT_ACK 8; the two newest still CONNECT.
        """
        node = await self.startNode(["--max-sessions-per-user", "2"])
        mobile = "13800000704"
        first = await self.loginAndConnect(node, mobile, "tcp", clientId="first")
        await sleep(0.01)
        second = await login(reactor, node.httpBase, mobile, LOGIN_CODE, "second")
        await sleep(0.01)
        third = await login(reactor, node.httpBase, mobile, LOGIN_CODE, "third")
        await withTimeout(first.closed)
        again = await self.openClient(node, "tcp")
        with self.assertRaises(RequestFailed) as caught:
            await again.connect(first.credentials.userId, first.credentials.token, "first")
        self.assertEqual(caught.exception.code, SubSignal.CONNECTION_REFUSED_SESSION_NOT_EXIST)
        for creds, cid in ((second, "second"), (third, "third")):
            conn = await self.openClient(node, "ws")
            await conn.connect(creds.userId, creds.token, cid)


def _ensure(coroutine):
    from twisted.internet.defer import ensureDeferred
    return ensureDeferred(coroutine)


class EmbeddedPresenceLimitsTests(PresenceLimitsMixin, NodeTestMixin, TestCase):
    """
    On the embedded default.
    """


class ProductionPresenceLimitsTests(PresenceLimitsMixin, ProductionBackend, TestCase):
    """
    On PostgreSQL + Redis.
    """


class ClusterPresenceLimitsTests(ProductionBackend, TestCase):
    """
    Two nodes sharing PostgreSQL + Redis.
    """

    async def test_concurrentConnectsOnTwoNodes(self):
        """
        Devices of one user CONNECTing at once to two nodes: the cap holds
        across the cluster.
        """
        nodes = [await self.startNode(["--node-id", str(n), "--max-devices", "4"]) for n in (1, 2)]
        devices = await loginDevices(
            self, [nodes[i % 2] for i in range(16)], "13800000703", [f"dev-{i}" for i in range(16)])
        results = await connectAll(devices)
        accepted = [ok for ok, _ in results if ok]
        self.assertEqual(len(accepted), 4)
        for ok, f in results:
            if not ok:
                self.assertIsInstance(f.value, RequestFailed)
                self.assertEqual(f.value.code, SubSignal.CONNECTION_REFUSED_NOT_AUTHORIZED)
