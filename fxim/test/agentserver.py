"""
A stand-in agent service for tests: a real HTTP server on 127.0.0.1
speaking the 飞享 agent contract (C{POST /stream {"question","userid"}},
raw C{text/plain} chunks) and OpenAI-compatible streaming chat completions
(C{POST /v1/chat/completions}, server-sent events).

Behaviour by question:
  - C{"fail..."}: two chunks, then the connection is aborted mid-body;
  - C{"slow..."}: one chunk, then nothing (for read timeouts);
  - anything else: C{CHUNKS} with a short pause between them.
"""

import json
from typing import Any, List, Optional

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

CHUNKS = ["你好，", "我是", "智能助手。", "\n第二行", " done"]


class _Stream(Resource):
    isLeaf = True

    def __init__(self, owner: "AgentServer", sse: bool) -> None:
        Resource.__init__(self)
        self.owner = owner
        self.sse = sse

    def render_POST(self, request: Any) -> Any:
        body = json.loads(request.content.read().decode("utf-8"))
        if self.sse:
            question = body["messages"][-1]["content"]
            userid = body.get("user", "")
        else:
            question, userid = body["question"], body.get("userid", "default")
        self.owner.requests.append({"question": question, "userid": userid, "body": body})
        request.setHeader(b"Content-Type", b"text/event-stream" if self.sse
                          else b"text/plain; charset=utf-8")
        if question.startswith("fail"):
            chunks, end = CHUNKS[:2], "abort"
        elif question.startswith("slow"):
            chunks, end = CHUNKS[:1], "hang"
        else:
            chunks, end = list(CHUNKS), "finish"
        self._next(request, chunks, end)
        return NOT_DONE_YET

    def _write(self, request: Any, text: str) -> None:
        if self.sse:
            event = {"choices": [{"index": 0, "delta": {"content": text}}]}
            request.write(b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n")
        else:
            request.write(text.encode("utf-8"))

    def _next(self, request: Any, chunks: List[str], end: str) -> None:
        if request._disconnected:
            return
        if chunks:
            self._write(request, chunks.pop(0))
            reactor.callLater(self.owner.pause, self._next, request, chunks, end)
        elif end == "finish":
            if self.sse:
                request.write(b"data: [DONE]\n\n")
            request.finish()
        elif end == "abort":
            request.transport.abortConnection()
        # "hang": never answer again


class AgentServer:
    """
    @ivar requests: every request received (question, userid, body).
    """

    def __init__(self, pause: float = 0.05) -> None:
        self.pause = pause
        self.requests: List[dict] = []
        root = Resource()
        root.putChild(b"stream", _Stream(self, False))
        v1 = Resource()
        root.putChild(b"v1", v1)
        chat = Resource()
        v1.putChild(b"chat", chat)
        chat.putChild(b"completions", _Stream(self, True))
        self.site = Site(root)
        self.port: Optional[IListeningPort] = None

    async def start(self) -> "AgentServer":
        self.port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(self.site)
        return self

    @property
    def url(self) -> str:
        assert self.port is not None, "not started"
        address = self.port.getHost()
        assert isinstance(address, IPv4Address)
        return f"http://127.0.0.1:{address.port}"

    def stop(self):
        return self.port.stopListening()
