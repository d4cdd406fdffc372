# -*- test-case-name: fxim.test.unit.test_agents -*-
"""
Agents over HTTP, with C{twisted.web.client.Agent} and a streaming body
protocol (chunks are handed on as they arrive, never buffered whole):

  - L{StreamAgent}: the 飞享 agent service, C{POST <url> {"question",
    "userid"}} answered with raw C{text/plain} chunks;
  - L{OpenAIChatAgent}: OpenAI-compatible C{POST <base>/chat/completions}
    with C{"stream": true}, answered with server-sent events whose
    C{choices[0].delta.content} are the chunks, up to C{data: [DONE]}.

Connecting is bounded by C{connectTimeout}; the read timeout (between
chunks) is applied by L{fxim.agents.service}.
"""

import codecs
import json
from io import BytesIO
from typing import Any, AsyncGenerator, AsyncIterator, Optional, cast

from twisted.internet.defer import DeferredQueue
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, ResponseDone
from twisted.web.http_headers import Headers
from zope.interface import implementer

from fxim.agents import IAgent

_END = object()


class _Broken:
    def __init__(self, failure: Failure) -> None:
        self.failure = failure


class AgentError(Exception):
    """
    The agent answered with an error or broke off.
    """


class _ChunkReader(Protocol):
    """
    Puts each body chunk on a queue, then L{_END} or the failure.
    """

    def __init__(self, queue: DeferredQueue) -> None:
        self.queue = queue
        self.done = False

    def dataReceived(self, data: bytes) -> None:
        self.queue.put(data)

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self.done = True
        if reason is None or reason.check(ResponseDone):
            self.queue.put(_END)
        else:
            # Wrapped: a Failure handed to a waiting get() would errback it.
            self.queue.put(_Broken(reason))

    def abort(self) -> None:
        if not self.done and self.transport is not None:
            # A response body's transport is the response's producer.
            cast(IPushProducer, self.transport).stopProducing()


async def postStream(agent: Agent, url: str, body: dict,
                     headers: Optional[dict] = None) -> AsyncGenerator[str, None]:
    """
    POST C{body} as JSON and yield the response body as text, chunk by
    chunk (UTF-8 decoded incrementally, so a character split between
    chunks is kept whole).

    @raise AgentError: for a non-2xx status or a broken body.
    """
    allHeaders = {b"Content-Type": [b"application/json"]}
    for k, v in (headers or {}).items():
        allHeaders[k.encode("ascii")] = [v.encode("utf-8")]
    producer = FileBodyProducer(BytesIO(json.dumps(body, ensure_ascii=False).encode("utf-8")))
    response = await agent.request(b"POST", url.encode("utf-8"), Headers(allHeaders), producer)
    queue: DeferredQueue = DeferredQueue()
    reader = _ChunkReader(queue)
    response.deliverBody(reader)
    try:
        if not 200 <= response.code < 300:
            raise AgentError(f"agent answered HTTP {response.code}")
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            item = await queue.get()
            if item is _END:
                break
            if isinstance(item, _Broken):
                raise AgentError(f"agent stream broke off: {item.failure.getErrorMessage()}")
            text = decoder.decode(item)
            if text:
                yield text
        tail = decoder.decode(b"", True)
        if tail:
            yield tail
    finally:
        reader.abort()


def _agent(reactor: Any, connectTimeout: float) -> Agent:
    return Agent(reactor, connectTimeout=connectTimeout,
                 pool=HTTPConnectionPool(reactor, persistent=False))


@implementer(IAgent)
class StreamAgent:
    """
    The 飞享 agent service: C{POST <url>} with C{{"question","userid"}}.

    @param url: the endpoint (C{http://host:8000/stream}).
    """

    def __init__(self, reactor: Any, url: str, connectTimeout: float = 5.0) -> None:
        self.url = url
        self._agent = _agent(reactor, connectTimeout)

    def __repr__(self) -> str:
        return f"<StreamAgent {self.url}>"

    def stream(self, question: str, userid: str) -> AsyncIterator[str]:
        return postStream(self._agent, self.url, {"question": question, "userid": userid})


async def _sse(chunks: AsyncGenerator[str, None]) -> AsyncIterator[str]:
    """
    Server-sent events to the text of their chat completion deltas.
    """
    buffer = ""
    try:
        async for text in chunks:
            buffer += text
            while "\n" in buffer:
                line, buffer = buffer.split("\n", 1)
                line = line.rstrip("\r")
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                    delta = event["choices"][0].get("delta") or {}
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    raise AgentError(f"bad completion event: {data[:80]!r}") from None
                content = delta.get("content") if isinstance(delta, dict) else None
                if content:
                    yield str(content)
        raise AgentError("completion stream ended without [DONE]")
    finally:
        await chunks.aclose()


@implementer(IAgent)
class OpenAIChatAgent:
    """
    An OpenAI-compatible model server: C{POST <base>/chat/completions}.

    @param base: the API base URL (C{http://host:port/v1}).
    @param model: the model name sent.
    @param apiKey: a bearer token, or L{None}.
    """

    def __init__(self, reactor: Any, base: str, model: str, apiKey: Optional[str] = None,
                 connectTimeout: float = 5.0) -> None:
        self.url = base.rstrip("/") + "/chat/completions"
        self.model = model
        self._apiKey = apiKey
        self._agent = _agent(reactor, connectTimeout)

    def __repr__(self) -> str:
        return f"<OpenAIChatAgent {self.url} model={self.model}>"

    def stream(self, question: str, userid: str) -> AsyncIterator[str]:
        headers = {"Accept": "text/event-stream"}
        if self._apiKey:
            headers["Authorization"] = "Bearer " + self._apiKey
        body = {"model": self.model, "stream": True, "user": userid,
                "messages": [{"role": "user", "content": question}]}
        return _sse(postStream(self._agent, self.url, body, headers))
