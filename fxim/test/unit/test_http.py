# -*- test-case-name: fxim.test.unit.test_http -*-
"""
Tests for L{fxim.transport.http}: a whole in-process L{Site} fed raw HTTP
over a L{StringTransport} (the memory store answers at once, so every
request completes synchronously), and one real listening port.
"""

import json
import os
from typing import Optional

from twisted.internet.address import IPv4Address
from twisted.internet.defer import fail
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.static import Data

from fxim import crypto
from fxim.services.auth import AuthService
from fxim.test.unit.test_auth import CID, MOBILE, OTHER, makeService
from fxim.transport.http import RootResource, buildSite

ADMIN_SECRET = "admin-" + os.urandom(12).hex()


class Response:
    """
    A parsed HTTP response.
    """

    def __init__(self, raw):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower().decode()] = value.strip().decode()
        if self.headers.get("transfer-encoding") == "chunked":
            body, rest = b"", self.body
            while True:
                size, _, rest = rest.partition(b"\r\n")
                size = int(size, 16)
                if not size:
                    break
                body, rest = body + rest[:size], rest[size + 2:]
            self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def installTestAdmin(site, auth, store, clock, secret=ADMIN_SECRET, corsOrigins=()):
    """
    Put the node's admin API (L{fxim.admin.resource.AdminApi}) on C{site}
    over C{store}, as a node does when it has an admin secret
    (C{corsOrigins} as C{--admin-cors-origin}).
    """
    from types import SimpleNamespace

    from fxim.admin.build import installAdmin
    from fxim.storage.adminstore import adminStoreFor
    node = SimpleNamespace(auth=auth, store=store, reactor=clock,
                           now=lambda: int(clock.seconds() * 1000))
    installAdmin(node, adminStoreFor(store), site, secret,
                 SimpleNamespace(adminCorsOrigins=tuple(corsOrigins)))


class _SiteTestMixin:

    adminSecret: Optional[str] = ADMIN_SECRET

    def setUp(self):
        makeService(self)
        self.site = buildSite(self.auth, reactor=self.clock)
        if self.adminSecret:
            installTestAdmin(self.site, self.auth, self.store, self.clock,
                             self.adminSecret)
        self.site.doStart()
        self.addCleanup(self.site.doStop)

    def request(self, method, path, body=None, headers=None, raw=None):
        """
        Send one request through a fresh channel.

        @return: a L{Response}.
        """
        channel = self.site.buildProtocol(
            IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport(
            peerAddress=IPv4Address("TCP", "127.0.0.1", 40000),
            hostAddress=IPv4Address("TCP", "127.0.0.1", 8081))
        channel.makeConnection(transport)
        if raw is None and body is not None:
            raw = json.dumps(body).encode("utf-8")
        lines = [b"%s %s HTTP/1.1" % (method.encode(), path.encode()),
                 b"Host: localhost", b"Connection: close"]
        for name, value in (headers or {}).items():
            lines.append(("%s: %s" % (name, value)).encode("utf-8"))
        if raw is not None:
            lines.append(b"Content-Type: application/json;charset=UTF-8")
            lines.append(b"Content-Length: %d" % (len(raw),))
        channel.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n" + (raw or b""))
        value = transport.value()
        self.assertTrue(value, "no response")
        return Response(value)

    def admin(self, method, path, body=None, secret=None, raw=None):
        return self.request(method, "/admin/" + path, body, headers={
            "Authorization": "Bearer " + (secret or ADMIN_SECRET)}, raw=raw)

    def post(self, path, body):
        return self.request("POST", path, body)

    def login(self, mobile=MOBILE, cid=CID):
        self.assertEqual(self.post("/send_code", {"mobile": mobile})
                         .json()["code"], 0)
        code = self.sms.lastCode(mobile)
        return self.post("/login", {"mobile": mobile, "code": code,
                                    "clientId": cid}).json()

    def connect(self, userId, token, cid=CID):
        password = crypto.makePassword(token, int(self.clock.seconds() * 1000))
        return self.auth.verifyConnect(userId, password, cid)


class LoginApiTests(_SiteTestMixin, SynchronousTestCase):
    """
    Tests for C{/send_code}, C{/login} and C{/health}.
    """

    def test_health(self):
        """
        C{GET /health} answers C{{"ok":true}}.
        """
        response = self.request("GET", "/health")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json(), {"ok": True})
        self.assertEqual(response.headers["content-type"],
                         "application/json; charset=utf-8")

    def test_sendCode(self):
        """
        C{POST /send_code} sends a code and answers code 0 with C{result}
        true (the newer clients decode it as a bool), with CORS.
        """
        response = self.post("/send_code", {"mobile": MOBILE})
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json(),
                         {"code": 0, "message": "success", "result": True})
        self.assertEqual(response.headers["access-control-allow-origin"], "*")
        self.assertEqual(len(self.sms.sent), 1)

    def test_sendCodeErrors(self):
        """
        A bad mobile is code 1, a resend within 60 s is 3, both HTTP 200.
        """
        response = self.post("/send_code", {"mobile": "12345"})
        self.assertEqual((response.status, response.json()["code"]), (200, 1))
        self.assertEqual(self.post("/send_code", {}).json()["code"], 1)
        self.post("/send_code", {"mobile": MOBILE})
        response = self.post("/send_code", {"mobile": MOBILE})
        self.assertEqual((response.status, response.json()["code"]), (200, 3))
        self.assertTrue(response.json()["message"])

    def test_login(self):
        """
        C{POST /login} answers the upstream shape, with a token that works
        for CONNECT.
        """
        body = self.login()
        self.assertEqual((body["code"], body["message"]), (0, "success"))
        result = body["result"]
        self.assertEqual(sorted(result), ["register", "token", "userId"])
        self.assertIs(result["register"], True)
        session = self.successResultOf(self.connect(result["userId"],
                                                    result["token"]))
        self.assertEqual(session.cid, CID)
        self.clock.advance(60)
        self.assertIs(self.login()["result"]["register"], False)

    def test_numericCode(self):
        """
        A code sent as a JSON number is accepted.
        """
        self.post("/send_code", {"mobile": MOBILE})
        code = self.sms.lastCode(MOBILE)
        if code.startswith("0"):
            return
        body = self.post("/login", {"mobile": MOBILE, "code": int(code),
                                    "clientId": CID}).json()
        self.assertEqual(body["code"], 0)

    def test_loginErrors(self):
        """
        Wrong code 6, too many wrong attempts 3, expired 5, bad mobile 1,
        missing clientId 1: all HTTP 200.
        """
        self.post("/send_code", {"mobile": MOBILE})
        code = self.sms.lastCode(MOBILE)
        wrong = "%06d" % ((int(code) + 1) % 1000000,)

        def login(mobile=MOBILE, code=code, cid=CID):
            response = self.post("/login", {"mobile": mobile, "code": code,
                                            "clientId": cid})
            self.assertEqual(response.status, 200)
            return response.json()["code"]
        self.assertEqual(login(mobile="1"), 1)
        self.assertEqual(login(cid=""), 1)
        self.assertEqual(login(cid=None), 1)
        for _ in range(5):
            self.assertEqual(login(code=wrong), 6)
        self.assertEqual(login(), 3)
        self.clock.advance(60)
        self.post("/send_code", {"mobile": MOBILE})
        self.clock.advance(300)
        self.assertEqual(login(code=self.sms.lastCode(MOBILE)), 5)

    def test_malformed(self):
        """
        A body that is not a UTF-8 JSON object, or too large, is code 1
        with a clear message and no traceback.
        """
        for raw in [b"{", b"", b"[1,2]", b"\"x\"", b"\xff\xfe"]:
            for path in ["/login", "/send_code"]:
                response = self.request("POST", path, raw=raw)
                self.assertEqual(response.status, 200)
                body = response.json()
                self.assertEqual(body["code"], 1, raw[:20])
                self.assertIn(body["message"], [
                    "malformed request: the body must be a JSON object",
                    "request body too large"])
                self.assertNotIn(b"Traceback", response.body)

    def test_wrongTypes(self):
        """
        Fields of the wrong JSON type are refused, not crashed on.
        """
        for body in [{"mobile": 13800000000, "code": "1", "clientId": CID},
                     {"mobile": MOBILE, "code": [1], "clientId": CID},
                     {"mobile": MOBILE, "code": "1", "clientId": {"a": 1}}]:
            response = self.post("/login", body)
            self.assertIn(response.json()["code"], [1, 6])

    def test_methodNotAllowed(self):
        """
        C{GET /login} is HTTP 405 in JSON.
        """
        response = self.request("GET", "/login")
        self.assertEqual(response.status, 405)
        self.assertEqual(response.json()["code"], 405)

    def test_preflight(self):
        """
        An OPTIONS preflight is answered 204 with the CORS headers.
        """
        response = self.request("OPTIONS", "/login", headers={
            "Origin": "http://example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(response.status, 204)
        headers = response.headers
        self.assertEqual(headers["access-control-allow-origin"], "*")
        methods = [m.strip() for m in
                   headers["access-control-allow-methods"].split(",")]
        for m in ["POST", "GET", "PUT", "OPTIONS"]:
            self.assertIn(m, methods)
        allowed = headers["access-control-allow-headers"].lower()
        self.assertIn("content-type", allowed)
        self.assertIn("authorization", allowed)

    def test_notFound(self):
        """
        Unknown paths, and the root, are JSON 404s with CORS.
        """
        for path in ["/", "/nope", "/nope/deeper"]:
            response = self.request("GET", path)
            self.assertEqual(response.status, 404)
            self.assertEqual(response.json()["code"], 404)
            self.assertEqual(response.headers["access-control-allow-origin"],
                             "*")

    def test_serverError(self):
        """
        An unexpected error is logged and answered code 4, no traceback.
        """
        self.auth.login = lambda *a: fail(ZeroDivisionError("boom"))
        response = self.post("/login", {"mobile": MOBILE, "code": "1",
                                        "clientId": CID})
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json(),
                         {"code": 4, "message": "server error"})
        self.assertNotIn(b"boom", response.body)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class ChildrenTests(SynchronousTestCase):
    """
    Tests for L{buildSite}'s extra children.
    """

    def test_extraChildren(self):
        """
        Extra children are mounted; the root accepts more with putChild.
        """
        makeService(self)
        media = Resource()
        site = buildSite(self.auth, extraChildren={"media": media,
                                                   b"upload": Data(b"", "x")})
        self.assertIsInstance(site.resource, RootResource)
        self.assertIs(site.resource.children[b"media"], media)
        self.assertIn(b"upload", site.resource.children)
        site.resource.putChild(b"more", media)
        self.assertIs(site.resource.children[b"more"], media)


class AdminDisabledTests(_SiteTestMixin, SynchronousTestCase):
    """
    With no admin secret, C{/admin/} is refused entirely.
    """

    adminSecret = None

    def test_refused(self):
        """
        Every admin request is 403, whatever its credentials.
        """
        for method, path in [("GET", "users/u1"), ("POST", "users"),
                             ("POST", "tokens"), ("DELETE", "users/u1/sessions"),
                             ("GET", "")]:
            response = self.admin(method, path, {"uid": "u1"})
            self.assertEqual(response.status, 403)
            self.assertEqual(response.json()["code"], 403)
        self.assertEqual(self.store.users, {})


class AdminApiTests(_SiteTestMixin, SynchronousTestCase):
    """
    Tests for the admin API.
    """

    def test_unauthorized(self):
        """
        No, a wrong or a non-Bearer secret is 401.
        """
        for headers in [{}, {"Authorization": "Bearer wrong"},
                        {"Authorization": ADMIN_SECRET},
                        {"Authorization": "Bearer " + ADMIN_SECRET + "x"},
                        {"Authorization": "Bearer \u00e9"}]:
            response = self.request("GET", "/admin/users/u1", headers=headers)
            self.assertEqual(response.status, 401)
            self.assertIn("www-authenticate", response.headers)
        response = self.request("POST", "/admin/users", {"mobile": MOBILE})
        self.assertEqual(response.status, 401)
        self.assertEqual(self.store.users, {})

    def test_createAndGetUser(self):
        """
        C{POST /admin/users} creates (201), C{GET /admin/users/<uid>} reads.
        """
        response = self.admin("POST", "users", {"mobile": MOBILE,
                                                "displayName": "Alice",
                                                "uid": "alice"})
        self.assertEqual(response.status, 201)
        user = response.json()["result"]
        self.assertEqual((user["uid"], user["displayName"], user["mobile"]),
                         ("alice", "Alice", MOBILE))
        response = self.admin("GET", "users/alice")
        self.assertEqual(response.status, 200)
        got = response.json()["result"]
        self.assertEqual({k: got[k] for k in user}, user)
        self.assertEqual((got["groups"], got["sessions"]), ([], []))
        response = self.admin("GET", "users/alice/")
        self.assertEqual(response.status, 200)

    def test_createErrors(self):
        """
        A duplicate is 409, a bad mobile or malformed body 400.
        """
        self.admin("POST", "users", {"mobile": MOBILE, "uid": "alice"})
        self.assertEqual(self.admin("POST", "users", {"uid": "alice"}).status,
                         409)
        response = self.admin("POST", "users", {"mobile": "42"})
        self.assertEqual((response.status, response.json()["code"]), (400, 1))
        response = self.admin("POST", "users", {"mobile": 42})
        self.assertEqual(response.status, 400)
        response = self.request("POST", "/admin/users", raw=b"{", headers={
            "Authorization": "Bearer " + ADMIN_SECRET})
        self.assertEqual(response.status, 400)

    def test_unknownUser(self):
        """
        An unknown uid is 404.
        """
        for method, path in [("GET", "users/nobody"),
                             ("POST", "users/nobody/block")]:
            response = self.admin(method, path)
            self.assertEqual(response.status, 404)
        response = self.admin("POST", "tokens", {"uid": "nobody",
                                                 "clientId": CID})
        self.assertEqual(response.status, 404)

    def test_routing(self):
        """
        Unknown admin paths are 404, wrong methods 405.
        """
        self.assertEqual(self.admin("GET", "nothing").status, 404)
        self.assertEqual(self.admin("GET", "users/a/b/c/d").status, 404)
        self.assertEqual(self.admin("GET", "tokens").status, 405)
        self.assertEqual(self.admin("POST", "users/a").status, 405)
        self.assertEqual(self.admin("GET", "users/a/block").status, 405)
        self.assertEqual(self.admin("PUT", "users/a/sessions").status, 405)

    def test_blockUnblock(self):
        """
        Blocking refuses CONNECT with 3; unblocking restores it.
        """
        result = self.login()["result"]
        userId, token = result["userId"], result["token"]
        response = self.admin("POST", "users/%s/block" % (userId,))
        self.assertEqual(response.json()["result"]["status"], 2)
        self.assertEqual(self.failureResultOf(self.connect(userId, token))
                         .value.code, 3)
        response = self.admin("POST", "users/%s/unblock" % (userId,))
        self.assertEqual(response.json()["result"]["status"], 0)
        self.successResultOf(self.connect(userId, token))

    def test_mintToken(self):
        """
        C{POST /admin/tokens} mints a token that works for CONNECT.
        """
        userId = self.admin("POST", "users", {"mobile": MOBILE}).json()[
            "result"]["uid"]
        response = self.admin("POST", "tokens", {"uid": userId, "clientId": CID})
        self.assertEqual(response.status, 200)
        result = response.json()["result"]
        self.assertEqual((result["userId"], result["clientId"]), (userId, CID))
        self.successResultOf(self.connect(userId, result["token"]))
        for body in [{"uid": userId}, {"clientId": CID}, {"uid": userId,
                                                       "clientId": ""}]:
            self.assertEqual(self.admin("POST", "tokens", body).status, 400)

    def test_sessions(self):
        """
        Sessions are listed without secrets and revoked one or all.
        """
        result = self.login(cid=CID)["result"]
        userId, token = result["userId"], result["token"]
        self.clock.advance(60)
        token2 = self.login(cid="dev2")["result"]["token"]
        response = self.admin("GET", "users/%s/sessions" % (userId,))
        sessions = response.json()["result"]
        self.assertEqual(sorted(s["clientId"] for s in sessions),
                         sorted([CID, "dev2"]))
        for session in self.store.sessions.values():
            self.assertNotIn(session.secret, response.body.decode())
            self.assertNotIn(session.dbSecret, response.body.decode())
        response = self.admin("DELETE", "users/%s/sessions/dev2" % (userId,))
        self.assertEqual(response.json()["result"], {"revoked": 1})
        self.assertEqual(self.failureResultOf(
            self.connect(userId, token2, "dev2")).value.code, 8)
        self.successResultOf(self.connect(userId, token))
        response = self.admin("DELETE", "users/%s/sessions" % (userId,))
        self.assertEqual(response.json()["result"], {"revoked": 1})
        self.assertEqual(self.failureResultOf(
            self.connect(userId, token)).value.code, 8)

    def test_noSecretsLogged(self):
        """
        Login and admin use never log the admin secret, the HMAC key, the
        code or the token.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        body = self.login()
        code = self.sms.lastCode(MOBILE)
        userId = body["result"]["userId"]
        minted = self.admin("POST", "tokens", {"uid": userId, "clientId": "d2"}
                            ).json()["result"]["token"]
        self.admin("POST", "users", {"mobile": OTHER})
        self.admin("GET", "users/%s/sessions" % (userId,))
        self.admin("GET", "users/x", secret="wrong-" + ADMIN_SECRET)
        self.admin("POST", "users/%s/block" % (userId,))
        self.admin("DELETE", "users/%s/sessions/d2" % (userId,))
        self.assertTrue(events)
        # Admin actions are logged with their action and target.
        actions = [(e["adminAction"], e["adminTarget"]) for e in events if "adminAction" in e]
        self.assertIn(("users.block", userId), actions)
        self.assertIn(("tokens.mint", userId), actions)
        self.assertIn(("sessions.revoke", userId), actions)
        self.assertIn("users.create", [a for a, _ in actions])
        text = "\n".join(repr(e) for e in events)
        for secret in [ADMIN_SECRET, self.auth.hmacKey.hex(),
                       repr(self.auth.hmacKey), code, body["result"]["token"],
                       minted]:
            self.assertNotIn(secret, text)
        for session in self.store.sessions.values():
            self.assertNotIn(session.secret, text)


class RealPortTests(TestCase):
    """
    The site over a real listening port, with L{twisted.web.client.Agent}.
    """

    def setUp(self):
        from twisted.internet import reactor
        self.reactor = reactor
        makeService(self)
        self.auth = AuthService(self.store, reactor, self.auth.hmacKey,
                                self.sms)
        site = buildSite(self.auth)
        installTestAdmin(site, self.auth, self.store, reactor)
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.base = "http://127.0.0.1:%d" % (self.port.getHost().port,)

    async def fetch(self, method, path, body=None, headers=None):
        from io import BytesIO

        from twisted.web.client import Agent, FileBodyProducer, readBody
        from twisted.web.http_headers import Headers
        agent = Agent(self.reactor)
        producer = None
        if body is not None:
            producer = FileBodyProducer(BytesIO(json.dumps(body).encode()))
        allHeaders = Headers({b"content-type": [b"application/json"]})
        for name, value in (headers or {}).items():
            allHeaders.addRawHeader(name.encode(), value.encode())
        response = await agent.request(method.encode(),
                                       (self.base + path).encode(),
                                       allHeaders, producer)
        data = await readBody(response)
        return response, data

    async def test_loginFlow(self):
        """
        Preflight, send a code, log in and connect, over real HTTP.
        """
        response, _ = await self.fetch("OPTIONS", "/login", headers={
            "Origin": "http://example.com",
            "Access-Control-Request-Method": "POST"})
        self.assertEqual(response.code, 204)
        self.assertEqual(response.headers.getRawHeaders(
            b"access-control-allow-origin"), [b"*"])
        response, data = await self.fetch("POST", "/send_code",
                                          {"mobile": MOBILE})
        self.assertEqual(json.loads(data)["code"], 0)
        code = self.sms.lastCode(MOBILE)
        response, data = await self.fetch(
            "POST", "/login", {"mobile": MOBILE, "code": code,
                               "clientId": CID})
        result = json.loads(data)["result"]
        password = crypto.makePassword(result["token"],
                                       int(self.reactor.seconds() * 1000))
        session = await self.auth.verifyConnect(result["userId"], password,
                                                CID)
        self.assertEqual(session.userId, result["userId"])
        response, data = await self.fetch(
            "GET", "/admin/users/" + result["userId"],
            headers={"Authorization": "Bearer " + ADMIN_SECRET})
        self.assertEqual(json.loads(data)["result"]["mobile"], MOBILE)
