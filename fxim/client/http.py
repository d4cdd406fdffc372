# -*- test-case-name: fxim.test.e2e.test_client -*-
"""
The HTTP half of the client: C{/send_code} and C{/login}.
"""

import json
from typing import Any, Optional

import attr
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from fxim.errors import ErrorCode, SignalError


@attr.s(frozen=True, auto_attribs=True)
class Credentials:
    """
    What a login yields: the user id, the token and the device id it is
    bound to.
    """

    userId: str
    token: str
    clientId: str
    register: bool = False


class LoginError(Exception):
    """
    The login API answered with a non-zero RestCode.

    @ivar code: the RestCode.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


async def postJson(reactor: Any, url: str, body: Any, headers: Optional[dict] = None,
                   tls: Any = None) -> Any:
    """
    POST C{body} as JSON and return the decoded JSON answer.

    @param tls: a L{fxim.client.tls.ClientTLS} deciding whom C{https://}
        URLs trust (default: the platform's authorities).
    """
    allHeaders = {b"Content-Type": [b"application/json;charset=UTF-8"]}
    for k, v in (headers or {}).items():
        allHeaders[k.encode()] = [v.encode()]
    from twisted.web.client import FileBodyProducer
    from io import BytesIO
    agent = Agent(reactor) if tls is None else Agent(reactor, contextFactory=tls.httpPolicy())
    response = await agent.request(b"POST", url.encode(), Headers(allHeaders),
                                   FileBodyProducer(BytesIO(json.dumps(body).encode())))
    return json.loads(await readBody(response))


async def sendCode(reactor: Any, httpBase: str, mobile: str, tls: Any = None) -> None:
    """
    Ask the server to send a login code to C{mobile}.

    @raise LoginError: on a refusal.
    """
    answer = await postJson(reactor, httpBase.rstrip("/") + "/send_code", {"mobile": mobile},
                            tls=tls)
    if answer.get("code") != 0:
        raise LoginError(answer.get("code"), answer.get("message", ""))


async def login(reactor: Any, httpBase: str, mobile: str, code: str, clientId: str,
                tls: Any = None) -> Credentials:
    """
    Log in with an SMS code; C{clientId} names this device.

    @raise LoginError: on a refusal.
    """
    answer = await postJson(reactor, httpBase.rstrip("/") + "/login",
                            {"mobile": mobile, "code": code, "clientId": clientId}, tls=tls)
    if answer.get("code") != 0:
        raise LoginError(answer.get("code"), answer.get("message", ""))
    result = answer["result"]
    return Credentials(result["userId"], result["token"], clientId, bool(result.get("register")))


__all__ = ["Credentials", "LoginError", "login", "sendCode", "postJson", "ErrorCode", "SignalError"]
