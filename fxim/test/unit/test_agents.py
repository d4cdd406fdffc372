"""
Tests for L{fxim.agents}: the HTTP adapters against a real local HTTP
server (plain chunks and SSE, success, failure halfway, read timeout), the
in-process plugin agent, URL parsing, and the service's order of frames
(f:true before the stored answer), limits and cancellation.
"""

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from fxim.agents import IAgentPlugin
from fxim.agents.http import AgentError, OpenAIChatAgent, StreamAgent
from fxim.agents.service import (
    BUSY_NOTICE, ERROR_NOTICE, AgentService, AgentSpecError, buildAgent, parseAgentSpec,
)
from fxim.config import Config
from fxim.model import Conversation, Message, MessageContent
from fxim.test.agentserver import CHUNKS, AgentServer
from fxim.test.e2e import sleep
from fxim.test.unit import RecordingBus
from fxim.testing import buildMemoryNode
from fxim.wire.extensions import StreamChunk
from fxim.wire.requests import MessageNotify


async def collect(iterator):
    return [chunk async for chunk in iterator]


class HttpAdapterTests(TestCase):

    async def server(self):
        server = await AgentServer().start()
        self.addCleanup(server.stop)
        return server

    async def test_streamChunks(self):
        """
        The /stream adapter posts question and userid and yields the text
        as it arrives (several chunks, UTF-8 intact).
        """
        server = await self.server()
        chunks = await collect(StreamAgent(reactor, server.url + "/stream").stream("hi", "u1"))
        self.assertEqual("".join(chunks), "".join(CHUNKS))
        self.assertGreater(len(chunks), 1)
        self.assertEqual(server.requests[0]["body"], {"question": "hi", "userid": "u1"})

    async def test_streamFailsHalfway(self):
        server = await self.server()
        got = []
        with self.assertRaises(AgentError):
            async for chunk in StreamAgent(reactor, server.url + "/stream").stream("fail", "u"):
                got.append(chunk)
        self.assertEqual("".join(got), "".join(CHUNKS[:2]))

    async def test_openAISse(self):
        """
        The OpenAI adapter sends a streaming chat completion and yields the
        deltas up to [DONE].
        """
        server = await self.server()
        agent = OpenAIChatAgent(reactor, server.url + "/v1", "tiny-model")
        chunks = await collect(agent.stream("hi", "u2"))
        self.assertEqual(chunks, CHUNKS)
        body = server.requests[0]["body"]
        self.assertEqual((body["model"], body["stream"], body["user"], body["messages"]),
                         ("tiny-model", True, "u2", [{"role": "user", "content": "hi"}]))

    async def test_openAIFailsHalfway(self):
        server = await self.server()
        with self.assertRaises(AgentError):
            await collect(OpenAIChatAgent(reactor, server.url + "/v1", "m").stream("fail", "u"))

    async def test_httpError(self):
        server = await self.server()
        with self.assertRaises(AgentError):
            await collect(StreamAgent(reactor, server.url + "/nothing").stream("hi", "u"))

    def test_specs(self):
        self.assertEqual(parseAgentSpec("AI=http://h:1/stream"), ("AI", "http://h:1/stream"))
        for bad in ("AI", "=http://h", "AI=ftp://h", "A I=http://h"):
            self.assertRaises(AgentSpecError, parseAgentSpec, bad)
        self.assertEqual(buildAgent(reactor, "http://h:8000").url, "http://h:8000/stream")
        agent = buildAgent(reactor, "openai+http://h:1/v1?model=qwen")
        self.assertEqual((agent.url, agent.model), ("http://h:1/v1/chat/completions", "qwen"))
        self.assertRaises(AgentSpecError, buildAgent, reactor, "openai+http://h:1/v1")
        self.assertRaises(AgentSpecError, buildAgent, reactor, "plugin:nope", plugins=[])


@implementer(IAgentPlugin)
class EchoPlugin:
    """
    An in-process agent: an async generator.
    """

    name = "echo"

    def __init__(self):
        self.gate = None

    async def stream(self, question, userid):
        for word in question.split():
            if self.gate is not None:
                await self.gate
            yield word + " "
        if question == "boom":
            raise RuntimeError("boom")


class ServiceTests(TestCase):

    async def setUpService(self, agent, **kw):
        self.bus = RecordingBus()
        node = await buildMemoryNode(Config(), reactor, bus=self.bus)
        self.addCleanup(lambda: ensureDeferred(node.close()))
        self.store, self.messages = node.server.store, node.server.messages
        # The unit under test, with the agent and limits of each test.
        self.service = AgentService({"AI": agent}, self.messages, self.store, self.bus, reactor,
                                    **kw)
        await self.service.start()
        self.messages.onStored.append(self.service.onStored)
        user, _ = await self.store.getOrCreateByMobile("13800000400", 0)
        self.user = user.userId
        await self.service.befriend(self.user)

    async def ask(self, text):
        await self.messages.send(self.user, "dev", Message(
            Conversation(0, "AI", 0), "", MessageContent(1, text)))

    async def waitAnswered(self, n=1):
        for _ in range(200):
            if self.service.answered >= n:
                return
            await sleep(0.02)
        self.fail("not answered")

    def frames(self):
        return [p for userId, p in self.bus.pushes if isinstance(p, StreamChunk)]

    async def test_pluginAgentOrder(self):
        """
        SAI start frame, one frame per chunk, f:true, then the stored
        answer's MN -- in that order; the answer is in the user's history.
        """
        await self.setUpService(EchoPlugin())
        self.assertIsNotNone(await self.store.getUser("AI"))
        self.assertIsNotNone(await self.store.getFriend(self.user, "AI"))
        await self.ask("hello there")
        await self.waitAnswered()
        kinds = [("SAI", p.delta, p.final) if isinstance(p, StreamChunk) else ("MN",)
                 for userId, p in self.bus.pushes
                 if userId == self.user and isinstance(p, (StreamChunk, MessageNotify))]
        # The question's own MN (to the user's other devices) comes first.
        self.assertEqual(kinds[1:], [("SAI", "", False), ("SAI", "hello ", False),
                                     ("SAI", "there ", False), ("SAI", "", True), ("MN",)])
        self.assertEqual(len({p.streamId for p in self.frames()}), 1)
        self.assertEqual({p.target for p in self.frames()}, {"AI"})
        history = await self.messages.history(self.user, Conversation(0, "AI", 0), 0, 10)
        self.assertEqual([m.content.searchableContent for m in history.messages],
                         ["hello there ", "hello there"])
        self.assertEqual(history.messages[0].fromUser, "AI")

    async def test_failureEndsWithFinalAndNotice(self):
        await self.setUpService(EchoPlugin())
        await self.ask("boom")
        await self.waitAnswered()
        self.assertTrue(self.frames()[-1].final)
        history = await self.messages.history(self.user, Conversation(0, "AI", 0), 0, 10)
        self.assertEqual(history.messages[0].content.searchableContent,
                         "boom \n\n" + ERROR_NOTICE)
        self.assertEqual(self.service.failed, 1)

    async def test_readTimeout(self):
        plugin = EchoPlugin()
        plugin.gate = Deferred()
        await self.setUpService(plugin, readTimeout=0.2)
        await self.ask("never answered")
        await self.waitAnswered()
        self.assertTrue(self.frames()[-1].final)
        history = await self.messages.history(self.user, Conversation(0, "AI", 0), 0, 10)
        self.assertEqual(history.messages[0].content.searchableContent, ERROR_NOTICE)

    async def test_perUserLimit(self):
        """
        A second question while the first is being answered gets the busy
        notice at once; the first is answered normally.
        """
        plugin = EchoPlugin()
        plugin.gate = Deferred()
        await self.setUpService(plugin, perUser=1)
        await self.ask("first question")
        await sleep(0.05)
        await self.ask("second")
        await self.waitAnswered(1)
        history = await self.messages.history(self.user, Conversation(0, "AI", 0), 0, 10)
        self.assertEqual(history.messages[0].content.searchableContent, BUSY_NOTICE)
        plugin.gate.callback(None)
        await self.waitAnswered(2)

    async def test_stopCancels(self):
        """
        Stopping the service ends a stream in flight with f:true and a
        stored notice.
        """
        plugin = EchoPlugin()
        plugin.gate = Deferred()
        await self.setUpService(plugin)
        await self.ask("hanging")
        await sleep(0.05)
        await self.service.stop()
        self.assertTrue(self.frames()[-1].final)
        history = await self.messages.history(self.user, Conversation(0, "AI", 0), 0, 10)
        self.assertEqual(history.messages[0].content.searchableContent, ERROR_NOTICE)

    async def test_notForwarded(self):
        """
        Non-text messages, messages to other users and the agent's own
        messages are not forwarded.
        """
        await self.setUpService(EchoPlugin())
        await self.messages.send(self.user, "dev", Message(
            Conversation(0, "AI", 0), "", MessageContent(3, "[图片]")))
        await sleep(0.1)
        self.assertEqual(self.frames(), [])
