"""
A real local HTTP server for end-to-end tests, standing in for a Matrix
push gateway (Sygnal) or a webhook consumer: it records every request and
answers what the test scripted.
"""

import json
from typing import Any, Callable, List, Optional

import attr
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site

from fxim.test.e2e import sleep


@attr.s(auto_attribs=True)
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class _Recorder(Resource):
    isLeaf = True

    def __init__(self, receiver: "HttpReceiver") -> None:
        Resource.__init__(self)
        self.receiver = receiver

    def render_POST(self, request):
        body = request.content.read()
        headers = {k.decode("latin-1").lower(): v[0].decode("latin-1")
                   for k, v in request.requestHeaders.getAllRawHeaders()}
        item = Received(request.path.decode("utf-8"), headers, body)
        status, answer = self.receiver.answer(item)
        if status is None:
            # Never answer (a hung far side); the caller's timeout fires.
            from twisted.web.server import NOT_DONE_YET
            return NOT_DONE_YET
        if status == 200:
            self.receiver.requests.append(item)
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(answer).encode("utf-8")


class HttpReceiver:
    """
    Listens on a free 127.0.0.1 port; C{requests} holds what it answered
    with 200.

    @ivar answer: C{answer(Received) -> (status, json body)}; default 200
        with C{{"rejected": []}} (what Sygnal answers); status None never
        answers.
    """

    def __init__(self, answer: Optional[Callable] = None, port: int = 0) -> None:
        self.requests: List[Received] = []
        self.answer: Callable[[Any], Any] = answer or (lambda item: (200, {"rejected": []}))
        self._wantedPort = port
        self.port: Any = None

    def start(self) -> "HttpReceiver":
        # Site's channel type does not meet listenTCP's protocol bound in Twisted's annotations.
        site = Site(_Recorder(self))
        self.port = reactor.listenTCP(self._wantedPort, site, interface="127.0.0.1")  # type: ignore[arg-type]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port.getHost().port}"

    def stop(self):
        return self.port.stopListening()

    async def waitFor(self, count: int, seconds: float = 20.0) -> List[Received]:
        """
        Wait until at least C{count} requests were recorded.
        """
        deadline = reactor.seconds() + seconds
        while len(self.requests) < count:
            if reactor.seconds() > deadline:
                raise AssertionError(f"{len(self.requests)} request(s) received, {count} expected")
            await sleep(0.05)
        return self.requests
