"""
A Redis restart under a two-node cluster (real C{twistd fxim} nodes
sharing PostgreSQL and a C{redis-server} of this test's own, killed and
started again): no MN is lost for a device on the other node, for messages
sent during the outage and right after it.
"""

import uuid

from twisted.trial.unittest import TestCase

from fxim.test.e2e import ProductionBackend, createDatabase, dropDatabase, sleep
from fxim.test.redisserver import SKIP as NO_REDIS_SERVER, RedisServer
from fxim.test.e2e.test_social import Pushes, text, until
from fxim.wire.requests import MessageNotify, PullMessages


class RedisRestartTests(ProductionBackend, TestCase):
    """
    Nodes 1 and 2 on PostgreSQL and a private Redis.
    """

    skip = ProductionBackend.skip or NO_REDIS_SERVER
    timeout = 180

    def backendArgs(self):
        if not hasattr(self, "_dsn"):
            self._dsn = createDatabase()
            self.addCleanup(dropDatabase, self._dsn)
            self._prefix = f"fximtest:{uuid.uuid4().hex[:8]}:"
            self.redisServer = RedisServer()
            self.redisServer.start()
            self.addCleanup(self.redisServer.cleanup)
        return ["--database", self._dsn, "--redis", self.redisServer.url,
                "--redis-prefix", self._prefix]

    async def test_noMNLostAroundRestart(self):
        """
        B's devices (WS and TCP) on node 2 get an MN for every message A
        sends from node 1 before, during and right after Redis is killed
        and restarted (empty), and can pull them all.
        """
        nodes = [await self.startNode(["--node-id", str(n)]) for n in (1, 2)]
        a = await self.loginAndConnect(nodes[0], "13800000760", "tcp")
        bWs = await self.loginAndConnect(nodes[1], "13800000761", "ws")
        bTcp = await self.loginAndConnect(nodes[1], "13800000761", "tcp")
        pushes = [Pushes(bWs), Pushes(bTcp)]

        def seqs(p):
            return {push.head for push in p.of(MessageNotify)}

        await a.request(text(bWs.userId, "before"))
        try:
            await until(lambda: all(seqs(p) == {1} for p in pushes), 20)
        except AssertionError:
            self.fail(f"first MN: {[p.all for p in pushes]}\n{nodes[0].log()[-3000:]}\n{nodes[1].log()[-3000:]}")

        self.redisServer.stop()
        for i in range(5):
            await a.request(text(bWs.userId, f"during {i}"))
            await sleep(0.3)
        self.redisServer.start()
        for i in range(6):
            await a.request(text(bWs.userId, f"after {i}"))
            await sleep(0.1)
        expected = set(range(1, 13))
        try:
            await until(lambda: all(seqs(p) >= expected for p in pushes), 60)
        except AssertionError:
            self.fail(f"MNs missing: ws {sorted(expected - seqs(pushes[0]))}, "
                      f"tcp {sorted(expected - seqs(pushes[1]))}")
        for conn in (bWs, bTcp):
            pulled = await conn.request(PullMessages(0, 0))
            self.assertEqual(len(pulled.messages), 12)
        # After the restart the cluster works as before.
        await a.request(text(bWs.userId, "later"))
        await until(lambda: all(13 in seqs(p) for p in pushes), 20)
