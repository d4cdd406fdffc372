# -*- test-case-name: fxim.test.unit.test_agents -*-
"""
L{AgentService}: forwards 1:1 text messages sent to an agent uid to that
agent, off the request path, and streams the answer back.

For each question (the message is stored and acked as usual first):
  1. SAI C{{"i":id,"d":"","f":false,"t":agent}} to every device of the
     asker (the web client creates its placeholder);
  2. one SAI frame per chunk, in order;
  3. SAI C{{"i":id,"d":"","f":true,"t":agent}} -- always, also when the
     agent fails, times out or the node stops;
  4. only then the whole answer is stored as a 1:1 message from the agent
     to the asker and announced with MN (so C{f:true} comes before it).
     After a failure the stored message is what arrived, followed by
     L{ERROR_NOTICE}.

Concurrency is bounded per node (questions beyond it wait their turn) and
per asker (a question beyond it is answered with L{BUSY_NOTICE} at once).
"""

import uuid
from typing import Any, Dict, List, Optional, Set
from urllib.parse import parse_qs, urlsplit, urlunsplit

from twisted.internet.defer import (
    CancelledError, Deferred, DeferredList, DeferredSemaphore, TimeoutError, ensureDeferred,
)
from twisted.logger import Logger

from fxim.model import (
    ContentType, Conversation, ConversationType, Friend, FriendState, Message, MessageContent,
    PersistFlag,
)
from fxim.wire.extensions import StreamChunk
from fxim.wire.requests import FriendNotify

_log = Logger()

ERROR_NOTICE = "（智能助手暂时无法回答，请稍后再试）"
BUSY_NOTICE = "（智能助手正在回答你的上一个问题，请稍后再问）"


class AgentSpecError(ValueError):
    """
    A C{--agent} value that cannot be used.
    """


def parseAgentSpec(spec: str):
    """
    C{UID=URL} to C{(uid, url)}.

    @raise AgentSpecError: if malformed.
    """
    userId, sep, url = spec.partition("=")
    userId, url = userId.strip(), url.strip()
    if not sep or not userId or not url:
        raise AgentSpecError(f"--agent wants UID=URL, got {spec!r}")
    if not (userId.isascii() and userId.isprintable()) or " " in userId:
        raise AgentSpecError(f"bad agent uid {userId!r}")
    if not url.startswith(("http://", "https://", "openai+http://", "openai+https://",
                           "plugin:")):
        raise AgentSpecError(f"agent URL must be http(s)://, openai+http(s):// or "
                             f"plugin:NAME, got {url!r}")
    return userId, url


def buildAgent(reactor: Any, url: str, connectTimeout: float = 5.0, plugins=None):
    """
    The L{fxim.agents.IAgent} a URL names:
      - C{http(s)://host:port/path}: the 飞享 C{/stream} service (a URL
        with no path gets C{/stream});
      - C{openai+http(s)://host:port/v1?model=NAME[&key_file=PATH]}: an
        OpenAI-compatible server;
      - C{plugin:NAME}: the L{fxim.agents.IAgentPlugin} called NAME.

    @raise AgentSpecError: for an unknown plugin or a missing model.
    """
    from fxim.agents.http import OpenAIChatAgent, StreamAgent
    if url.startswith("plugin:"):
        from twisted.plugin import getPlugins

        from fxim.agents import IAgentPlugin
        name = url[len("plugin:"):]
        found = [p for p in (plugins if plugins is not None else getPlugins(IAgentPlugin))
                 if getattr(p, "name", None) == name]
        if not found:
            raise AgentSpecError(f"no agent plugin named {name!r}")
        return found[0]
    if url.startswith("openai+"):
        parts = urlsplit(url[len("openai+"):])
        query = parse_qs(parts.query)
        model = (query.get("model") or [""])[0]
        if not model:
            raise AgentSpecError("an openai+ agent URL needs ?model=NAME")
        key = None
        keyFile = (query.get("key_file") or [""])[0]
        if keyFile:
            with open(keyFile, encoding="utf-8") as f:
                key = f.read().strip()
        base = urlunsplit(parts._replace(query="", fragment=""))
        return OpenAIChatAgent(reactor, base, model, key, connectTimeout)
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        url = urlunsplit(parts._replace(path="/stream"))
    return StreamAgent(reactor, url, connectTimeout)


class AgentService:
    """
    @param agents: agent uid -> L{fxim.agents.IAgent}.
    @param messages: the L{fxim.services.messaging.MessagingService}.
    @param store: the node's store (users, friends).
    @param bus: the L{fxim.interfaces.IDeliveryBus}.
    @param maxConcurrent: questions answered at once on this node.
    @param perUser: questions of one asker answered at once.
    @param readTimeout: seconds to wait for the next chunk.
    """

    def __init__(self, agents: Dict[str, Any], messages, store, bus, reactor,
                 maxConcurrent: int = 16, perUser: int = 1,
                 readTimeout: float = 60.0) -> None:
        self.agents = dict(agents)
        self.messages = messages
        self.store = store
        self.bus = bus
        self.reactor = reactor
        self.perUser = perUser
        self.readTimeout = readTimeout
        self._slots = DeferredSemaphore(max(1, maxConcurrent))
        self._active: Dict[str, int] = {}
        self._running: Set[Deferred] = set()
        self._stopping = False
        #: Questions answered (completed or failed) so far.
        self.answered = 0
        self.failed = 0

    def now(self) -> int:
        return int(self.reactor.seconds() * 1000)

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """
        Make sure every agent exists as a user.
        """
        for userId in sorted(self.agents):
            if await self.store.getUser(userId) is None:
                try:
                    await self.store.createUser("", f"AI {userId}", self.now(), userId)
                    _log.info("created the user of agent {uid}", uid=userId)
                except KeyError:
                    pass  # another node created it meanwhile
        if self.agents:
            _log.info("agents: {agents}", agents=", ".join(
                f"{userId} -> {agent!r}" for userId, agent in sorted(self.agents.items())))

    async def stop(self) -> None:
        """
        Cancel the streams in flight; each still ends with f:true and a
        stored notice.
        """
        self._stopping = True
        running = list(self._running)
        for d in running:
            d.cancel()
        if running:
            await DeferredList(running, consumeErrors=True)

    # -- how the agent shows up ---------------------------------------------------

    async def befriend(self, userId: str, cid: Optional[str] = None) -> None:
        """
        Make every agent a friend of C{uid} (and C{uid} one of every agent)
        if it is not yet: called at CONNECT, before the heads are read, so
        the client's first FP lists the agents and its chat can be opened.
        A user who deleted or blocked an agent is left alone.  The user's
        other devices get FN; device C{cid} (connecting) reads it in its
        CONNECT_ACK heads instead.
        """
        if userId in self.agents:
            return
        for agentUid in sorted(self.agents):
            if await self.store.getFriend(userId, agentUid) is not None:
                continue
            now = self.now()
            await self.store.putFriend(userId, Friend(agentUid, int(FriendState.NORMAL), now))
            await self.store.putFriend(agentUid, Friend(userId, int(FriendState.NORMAL), now))
            d = ensureDeferred(self.bus.deliver(userId, FriendNotify(now), cid))
            d.addErrback(lambda f: _log.failure("FN to {uid} failed", f, uid=userId))

    # -- questions ---------------------------------------------------------------

    def onStored(self, senderUid: str, message: Message) -> None:
        """
        Called by the messaging service after a message is stored and acked.
        """
        conversation = message.conversation
        if (conversation.type != ConversationType.PRIVATE
                or conversation.target not in self.agents
                or message.content.type != ContentType.TEXT
                or senderUid in self.agents or self._stopping):
            return
        question = message.content.searchableContent
        if not question.strip():
            return
        # Off the request path: the MS ack goes out first.
        self.reactor.callLater(0, self._ask, senderUid, conversation.target, question)

    def _ask(self, user: str, agentUid: str, question: str) -> None:
        if self._active.get(user, 0) >= self.perUser:
            d = ensureDeferred(self._answer(user, agentUid, None, BUSY_NOTICE))
        else:
            self._active[user] = self._active.get(user, 0) + 1
            d = ensureDeferred(self._answer(user, agentUid, question, None))

            def done(result):
                left = self._active.get(user, 1) - 1
                if left:
                    self._active[user] = left
                else:
                    self._active.pop(user, None)
                return result
            d.addBoth(done)
        self._running.add(d)

        def forget(result: object) -> object:
            self._running.discard(d)
            return result
        d.addBoth(forget)
        d.addErrback(lambda f: _log.failure("answering {user} failed", f, user=user))

    async def _answer(self, user: str, agentUid: str, question: Optional[str],
                      notice: Optional[str]) -> None:
        streamId = str(uuid.uuid4())
        self._push(user, StreamChunk(streamId, "", False, agentUid))
        parts: List[str] = []
        failure = None
        if question is not None:
            try:
                await self._slots.acquire()
            except CancelledError:
                failure = "stopped"
            else:
                try:
                    await self._stream(agentUid, user, question, streamId, parts)
                except CancelledError:
                    failure = "node stopping"
                except TimeoutError:
                    failure = f"no chunk for {self.readTimeout:g} s"
                except Exception as e:
                    failure = f"{type(e).__name__}: {e}"
                finally:
                    self._slots.release()
        # f:true goes out (and is handed to the bus) before the answer's MN.
        await self._deliverNow(user, StreamChunk(streamId, "", True, agentUid))
        answer = "".join(parts)
        if failure is not None:
            self.failed += 1
            _log.info("agent {agent} failed answering {user}: {why}", agent=agentUid,
                      user=user, why=failure)
            answer = (answer + "\n\n" if answer else "") + ERROR_NOTICE
        elif notice is not None:
            answer = notice
        self.answered += 1
        if not answer:
            return
        content = MessageContent(ContentType.TEXT, searchableContent=answer,
                                 persistFlag=PersistFlag.PERSIST_AND_COUNT)
        await self.messages.publish(
            Message(Conversation(ConversationType.PRIVATE, user, 0), agentUid, content),
            [agentUid, user])

    async def _stream(self, agentUid: str, user: str, question: str, streamId: str,
                      parts: list) -> None:
        iterator = self.agents[agentUid].stream(question, user).__aiter__()

        async def nextChunk():
            return await iterator.__anext__()
        try:
            while True:
                d = ensureDeferred(nextChunk())
                d.addTimeout(self.readTimeout, self.reactor)
                try:
                    chunk = await d
                except StopAsyncIteration:
                    return
                if chunk:
                    parts.append(chunk)
                    self._push(user, StreamChunk(streamId, chunk, False, agentUid))
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    pass

    def _push(self, userId: str, push) -> None:
        d = ensureDeferred(self.bus.deliver(userId, push))
        d.addErrback(lambda f: _log.failure("SAI to {uid} failed", f, uid=userId))

    async def _deliverNow(self, userId: str, push) -> None:
        try:
            await self.bus.deliver(userId, push)
        except Exception:
            _log.failure("SAI to {uid} failed", uid=userId)

    def _deliver(self, userId: str, push) -> None:
        d = ensureDeferred(self.bus.deliver(userId, push))
        d.addErrback(lambda f: _log.failure("delivery to {uid} failed", f, uid=userId))
