# -*- test-case-name: fxim.test.e2e.test_push -*-
"""
C{/push/...}: push registration over HTTP, authenticated by the login
token (so a device can register before it connects):

  - C{POST /push/register {"token","clientId","platform","pushToken","appId","voipToken"}}
  - C{POST /push/unregister {"token","clientId"}}
  - C{POST /push/preferences {"token","clientId", "dnd" | "conversation"+"muted"}}

Answers are HTTP 200 with a RestCode, as the login API's: 0 success, 1
malformed, 8 the token's session is logged out, revoked, expired or of
another device.
"""

from twisted.web.resource import Resource

from fxim.push.service import PushRefused
from fxim.services.auth import AuthError, RestCode
from fxim.transport.http import JsonResource, RootResource, readJsonObject


class _PushAction(JsonResource):
    methods = (b"POST",)

    def __init__(self, auth, push, action: str) -> None:
        Resource.__init__(self)
        self._auth = auth
        self._push = push
        self._action = action

    async def handle(self, request):
        body = readJsonObject(request)
        try:
            session = await self._auth.verifyToken(body.get("token"))
            clientId = body.get("clientId")
            if clientId is not None and clientId != session.cid:
                raise AuthError(RestCode.SESSION_EXPIRED, "the token is not this clientId's")
            if self._action == "register":
                target = await self._push.register(session.userId, session.cid, body)
                result = {"userId": session.userId, "clientId": session.cid,
                          "platform": target.platform}
            elif self._action == "unregister":
                result = {"dropped": await self._push.unregister(session.userId, session.cid)}
            else:
                await self._push.setPreference(
                    session.userId, {k: v for k, v in body.items() if k in ("dnd", "conversation", "muted")})
                result = None
        except AuthError as e:
            return 200, {"code": int(e.code), "message": e.message}
        except PushRefused as e:
            return 200, {"code": int(RestCode.INVALID_PARAMETER), "message": str(e)}
        return 200, {"code": 0, "message": "success", "result": result}


def pushResource(auth, push) -> Resource:
    """
    @return: the C{/push} resource.
    """
    root = RootResource()
    for action in ("register", "unregister", "preferences"):
        root.putChild(action.encode("ascii"), _PushAction(auth, push, action))
    return root
