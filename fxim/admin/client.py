# -*- test-case-name: fxim.test.e2e.test_admin -*-
"""
A small client of the admin API (used by C{fxim-admin} and the tests).
"""

import json
from io import BytesIO
from typing import Any, Optional, Tuple
from urllib.parse import quote, urlencode

from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers


class AdminApiError(Exception):
    """
    The admin API refused a request.

    @ivar status: the HTTP status.
    @ivar code: the answer's C{code}.
    """

    def __init__(self, status: int, code: Any, message: str) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return "HTTP %d (code %s): %s" % (self.status, self.code, self.message)


def path(*segments: str) -> str:
    """
    @return: C{/seg/seg}, each segment percent-encoded.
    """
    return "".join("/" + quote(str(s), safe="") for s in segments)


class AdminClient:
    """
    @param base: the node's HTTP base URL (C{http://127.0.0.1:8081}).
    @param secret: the admin secret (L{None}: send no Authorization).
    """

    def __init__(self, reactor: Any, base: str, secret: Optional[str],
                 prefix: str = "/admin") -> None:
        self.reactor = reactor
        self.base = base.rstrip("/")
        self.secret = secret
        self.prefix = prefix
        self.agent = Agent(reactor)

    async def raw(self, method: str, route: str, body: Any = None, query: Optional[dict] = None,
                  headers: Optional[dict] = None, prefix: Optional[str] = None
                  ) -> Tuple[int, Any, Any]:
        """
        @param body: a JSON-able value, or C{bytes} sent as they are.
        @return: C{(status, decoded JSON or None, response headers)}.
        """
        url = self.base + (self.prefix if prefix is None else prefix) + route
        if query:
            url += "?" + urlencode(query)
        allHeaders = {b"accept": [b"application/json"]}
        if self.secret is not None:
            allHeaders[b"authorization"] = [b"Bearer " + self.secret.encode("utf-8")]
        for k, v in (headers or {}).items():
            allHeaders[k.lower().encode()] = [v.encode()]
        producer = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            allHeaders[b"content-type"] = [b"application/json"]
            producer = FileBodyProducer(BytesIO(data))
        response = await self.agent.request(method.encode("ascii"), url.encode("utf-8"),
                                            Headers(allHeaders), producer)
        data = await readBody(response)
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        return response.code, decoded, response.headers

    async def call(self, method: str, route: str, body: Any = None,
                   query: Optional[dict] = None, prefix: Optional[str] = None) -> Any:
        """
        @return: the answer's C{result}.
        @raise AdminApiError: for any error answer.
        """
        status, answer, _ = await self.raw(method, route, body, query, prefix=prefix)
        if status >= 300 or not isinstance(answer, dict) or answer.get("code") != 0:
            answer = answer if isinstance(answer, dict) else {}
            raise AdminApiError(status, answer.get("code"), answer.get("message", ""))
        return answer.get("result")
