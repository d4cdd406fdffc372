# -*- test-case-name: fxim.test.unit.test_limits -*-
"""
L{Limits}: the configured limits over one L{fxim.limits.counters.ICounters}.

  - C{send_code} per client IP and per mobile, C{login} per client IP and
    per mobile: over the limit the HTTP answer is RestCode 3;
  - messages per user (all devices, all nodes): over the limit MS is
    answered C{OVER_FREQUENCY}.

A limit of 0 is off.  Counting fails open: if Redis cannot be reached the
request is allowed and the failure logged.
"""

from typing import Any, Optional

from twisted.logger import Logger
from twisted.web.resource import Resource

from fxim.errors import ErrorCode, SignalError
from fxim.limits.clientip import requestAddress
from fxim.transport.http import HttpError, JsonResource, MAX_BODY, readJsonObject

_log = Logger()


class Limits:

    def __init__(self, counters: Any, *, window: float = 600.0, sendCodePerIp: int = 0,
                 sendCodePerAccount: int = 0, loginPerIp: int = 0, loginPerAccount: int = 0,
                 sendPerUser: int = 0, sendWindow: float = 60.0, trusted=()) -> None:
        self.counters = counters
        self.window = window
        self.perIp = {"send_code": sendCodePerIp, "login": loginPerIp}
        self.perAccount = {"send_code": sendCodePerAccount, "login": loginPerAccount}
        self.sendPerUser = sendPerUser
        self.sendWindow = sendWindow
        self.trusted = list(trusted)
        #: Requests refused per limit name, since start.
        self.refused: dict = {}

    async def _over(self, name: str, key: str, limit: int, window: float) -> bool:
        if not limit:
            return False
        try:
            count = await self.counters.hit(name, key, window)
        except Exception:
            _log.failure("counting {name} failed: allowing", name=name)
            return False
        if count > limit:
            self.refused[name] = self.refused.get(name, 0) + 1
            return True
        return False

    async def httpRefusal(self, route: str, ip: str, account: Optional[str]) -> Optional[str]:
        """
        @return: why the request is refused, or None.
        """
        if await self._over(route + ".ip", ip, self.perIp[route], self.window):
            _log.info("{route} from {ip}: per-IP limit reached", route=route, ip=ip)
            return "too many requests from this address"
        if account and await self._over(route + ".account", account, self.perAccount[route],
                                        self.window):
            _log.info("{route} for {account}: per-account limit reached", route=route,
                      account=account)
            return "too many requests for this account"
        return None

    async def beforeSend(self, userId: str, cid: str, message):
        """
        The per-user send limit, as a before-send hook.
        """
        if await self._over("send", userId, self.sendPerUser, self.sendWindow):
            raise SignalError(ErrorCode.OVER_FREQUENCY, "per-user send limit")
        return message


class LimitedResource(JsonResource):
    """
    Wraps C{/send_code} or C{/login}: counts the request by client IP and
    by its C{mobile}, answers RestCode 3 over a limit, else hands it on.
    """

    methods = (b"POST",)

    def __init__(self, inner: Resource, limits: Limits, route: str) -> None:
        Resource.__init__(self)
        self.inner = inner
        self.limits = limits
        self.route = route
        # The wrapped route's body limit holds (fxim.transport.httplimits).
        self.maxBodySize = getattr(inner, "maxBodySize", MAX_BODY)

    def render(self, request):
        if request.method != b"POST":
            return self.inner.render(request)
        return JsonResource.render(self, request)

    async def handle(self, request):
        ip = requestAddress(request, self.limits.trusted)
        account = None
        if request.content is not None:
            try:
                body = readJsonObject(request)
            except HttpError:
                body = {}  # the wrapped route answers the malformed body
            request.content.seek(0)
            mobile = body.get("mobile")
            account = mobile if isinstance(mobile, str) and len(mobile) <= 320 else None
        why = await self.limits.httpRefusal(self.route, ip, account)
        if why is not None:
            return 200, {"code": 3, "message": why}
        # Let the wrapped resource answer (it writes and finishes itself).
        await self.inner._respond(request)
        return None, None

    async def _respond(self, request):
        try:
            status, body = await self.handle(request)
        except Exception:
            _log.failure("Error answering {path}", path=request.path.decode("latin-1"))
            status, body = self.serverError
        if status is None:
            return
        from fxim.transport.http import writeJson
        writeJson(request, status, body)
