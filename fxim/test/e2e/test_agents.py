"""
End-to-end tests of streaming AI agents: a real C{twistd fxim} with
C{--agent} pointing at a local stand-in agent server (a real HTTP server in
the test process), on both backends, driven like the newer web client.
"""

from twisted.trial.unittest import TestCase

from fxim.agents.service import ERROR_NOTICE
from fxim.test.agentserver import CHUNKS, AgentServer
from fxim.test.e2e import NodeTestMixin, ProductionBackend, settle
from fxim.test.newerweb import NewerWebClient
from fxim.wire.extensions import StreamChunk

AGENT = "AIAGENT1"
OPENAI_AGENT = "AIMODEL1"


class AgentsMixin:

    async def setUpAgents(self):
        self.agentServer = await AgentServer().start()
        self.addCleanup(self.agentServer.stop)
        node = await self.startNode([
            "--agent", f"{AGENT}={self.agentServer.url}/stream",
            "--agent", f"{OPENAI_AGENT}=openai+{self.agentServer.url}/v1?model=tiny",
            "--agent-read-timeout", "10"])
        self.addCleanup(settle)
        return node

    async def ask(self, web, agent, question, localId):
        ack = await web.send("MS", {
            "conversationType": 0, "target": agent, "line": 0, "from": web.userId,
            "content": {"type": 1, "searchableContent": question, "mentionedType": 0,
                        "mentionedTargets": []},
            "messageId": localId, "direction": 0, "status": 0, "localMessageId": localId,
            "timestamp": 0, "tos": ""})
        self.assertTrue(ack["messageId"])

    def answerIndex(self, web, agent):
        for index, event in enumerate(web.events):
            if event[0] == "MSG" and event[1]["from"] == agent:
                return index
        return None

    async def converse(self, agent, question, expectedAnswer, expectedDeltas):
        node = await self.setUpAgents()
        web = NewerWebClient(await self.loginAndConnect(node, "13800000500", "ws"))
        phone = await self.loginAndConnect(node, "13800000500", "tcp")
        phoneFrames = []
        phone.onPush(lambda p: phoneFrames.append(p) if isinstance(p, StreamChunk) else None)
        friends = await web.send("FP", {"version": 0})
        self.assertIn(agent, [f["friendUid"] for f in friends])
        await self.ask(web, agent, question, "590093806636892170")
        await web.waitFor(lambda: self.answerIndex(web, agent) is not None, 30,
                          what="the stored answer")
        frames = [e[1] for e in web.events if e[0] == "SAI"]
        self.assertEqual([f["d"] for f in frames], [""] + expectedDeltas + [""])
        self.assertEqual([f["f"] for f in frames], [False] * (len(frames) - 1) + [True])
        self.assertEqual({f["t"] for f in frames}, {agent})
        self.assertEqual(len({f["i"] for f in frames}), 1)
        finalIndex = web.events.index(("SAI", frames[-1]))
        self.assertLess(finalIndex, self.answerIndex(web, agent))
        answer = web.events[self.answerIndex(web, agent)][1]
        self.assertEqual(answer["content"]["searchableContent"], expectedAnswer)
        self.assertEqual(answer["target"], web.userId)
        history = await web.send("LRM", {"beforeUid": 0, "count": 20, "conversation": {
            "type": 0, "conversationType": 0, "target": agent, "line": 0}})
        self.assertEqual([m["content"]["searchableContent"]
                          for m in history["messageResponseList"]], [expectedAnswer, question])
        # Every device of the asker gets the frames.
        await web.waitFor(lambda: len(phoneFrames) == len(frames), what="TCP SAI frames")
        self.assertEqual([(f.delta, f.final) for f in phoneFrames],
                         [(f["d"], f["f"]) for f in frames])
        return web

    async def test_streamedAnswer(self):
        """
        Chunks stream as SAI frames in order, f:true comes before the
        stored answer's MN, and the answer is in history.
        """
        await self.converse(AGENT, "你好", "".join(CHUNKS), CHUNKS)
        self.assertEqual([(r["question"], r["body"]["userid"] != "")
                          for r in self.agentServer.requests], [("你好", True)])

    async def test_agentFailsHalfway(self):
        """
        An agent that breaks off after two chunks: the stream still ends
        with f:true, then the partial text and an error notice are stored.
        """
        await self.converse(AGENT, "fail please", "".join(CHUNKS[:2]) + "\n\n" + ERROR_NOTICE,
                            CHUNKS[:2])

    async def test_openAICompatibleAgent(self):
        await self.converse(OPENAI_AGENT, "hi model", "".join(CHUNKS), CHUNKS)


class AgentsEmbeddedTests(AgentsMixin, NodeTestMixin, TestCase):
    pass


class AgentsProductionTests(AgentsMixin, ProductionBackend, TestCase):
    pass
