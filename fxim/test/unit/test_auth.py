# -*- test-case-name: fxim.test.unit.test_auth -*-
"""
Tests for L{fxim.services.auth} and L{fxim.sms}.
"""

import base64
import os
import random
import stat
from typing import Any, Dict

import attr
from twisted.internet import task
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from fxim import crypto
from fxim.model import UserStatus
from fxim.services.auth import (
    AuthError, AuthService, ConnectRefused, LoginResult, NoSuchUser,
    UserExists, isMobile, loadAdminSecret, loadOrCreateKey,
)
from fxim.sms import LogSmsSender, MemorySmsSender
from fxim.storage.memory import MemoryStore

HMAC_KEY = b"K" * 8 + os.urandom(24)
MOBILE = "13800000000"
OTHER = "15912345678"
CID = "04710539-6441-485a-b264-4b09b58eba3d"
CID2 = "android-device-2"
#: 2023-11-14, in seconds.
START = 1700000000.0
WEB_HOUR = 16356457


def makeService(testCase, **kwargs):
    """
    An L{AuthService} over a L{MemoryStore}, a L{task.Clock} and a
    L{MemorySmsSender}, stored on C{testCase}.
    """
    testCase.clock = task.Clock()
    testCase.clock.advance(START)
    testCase.store = MemoryStore()
    testCase.sms = MemorySmsSender()
    kwargs.setdefault("random", random.Random(42))
    testCase.auth = AuthService(testCase.store, testCase.clock, HMAC_KEY,
                                testCase.sms, **kwargs)
    return testCase.auth


class _Base(SynchronousTestCase):

    serviceArgs: Dict[str, Any] = {}

    def setUp(self):
        makeService(self, **self.serviceArgs)

    def now(self):
        return int(self.clock.seconds() * 1000)

    def restCode(self, d):
        return self.failureResultOf(d, AuthError).value.code

    def refusal(self, d):
        return self.failureResultOf(d, ConnectRefused).value.code

    def sendCode(self, mobile=MOBILE):
        self.successResultOf(self.auth.sendCode(mobile))
        return self.sms.lastCode(mobile)

    def login(self, mobile=MOBILE, cid=CID):
        code = self.sendCode(mobile)
        return self.successResultOf(self.auth.login(mobile, code, cid))


class SendCodeTests(_Base):
    """
    Tests for L{AuthService.sendCode}.
    """

    def test_badMobile(self):
        """
        Anything but an 11-digit mobile starting with 13-19, a valid E.164
        number or an e-mail address is refused with code 1, and nothing is
        sent.
        """
        for mobile in ["", "12345678901", "1380000000", "138000000000",
                       "1380000000a", "\uff11" * 11, "1\u0663800000000",
                       "+1234", "+49abc", "a@b", "a@@b.cn", None, 13800000000]:
            self.assertEqual(self.restCode(self.auth.sendCode(mobile)), 1,
                             mobile)
        self.assertEqual(self.sms.sent, [])

    def test_isMobile(self):
        """
        L{isMobile} accepts 13x to 19x numbers.
        """
        for prefix in "3456789":
            self.assertTrue(isMobile("1" + prefix + "012345678"))

    def test_sends(self):
        """
        A 6-digit code is handed to the sender and stored with a 5 minute
        expiry.
        """
        code = self.sendCode()
        self.assertEqual(len(code), 6)
        self.assertTrue(code.isdigit())
        state = self.store.codes[MOBILE]
        self.assertEqual((state.code, state.expiresAt, state.attempts),
                         (code, self.now() + 300000, 0))

    def test_codeLength(self):
        """
        The code length is configurable from 4 to 6.
        """
        makeService(self, codeLength=4)
        self.assertEqual(len(self.sendCode()), 4)
        self.assertRaises(ValueError, makeService, self, codeLength=3)
        self.assertRaises(ValueError, makeService, self, codeLength=7)

    def test_resendTooSoon(self):
        """
        A second code within 60 s is refused with 3; after 60 s it is sent.
        """
        self.sendCode()
        self.clock.advance(59.9)
        self.assertEqual(self.restCode(self.auth.sendCode(MOBILE)), 3)
        self.assertEqual(len(self.sms.sent), 1)
        self.clock.advance(0.1)
        self.sendCode()
        self.assertEqual(len(self.sms.sent), 2)

    def test_otherMobileNotLimited(self):
        """
        The resend limit is per mobile.
        """
        self.sendCode(MOBILE)
        self.sendCode(OTHER)
        self.assertEqual(len(self.sms.sent), 2)

    def test_dailyLimit(self):
        """
        At most 10 codes are sent per mobile in 24 hours.
        """
        for _ in range(10):
            self.sendCode()
            self.clock.advance(60)
        self.assertEqual(self.restCode(self.auth.sendCode(MOBILE)), 3)
        self.clock.advance(86400 - 600 - 1)
        self.assertEqual(self.restCode(self.auth.sendCode(MOBILE)), 3)
        self.clock.advance(1)
        self.sendCode()
        self.assertEqual(len(self.sms.sent), 11)

    def test_smsFailure(self):
        """
        A sender failure is code 4, logged.
        """
        self.sms.failing = True
        self.assertEqual(self.restCode(self.auth.sendCode(MOBILE)), 4)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_newCodeReplaces(self):
        """
        A new code replaces the previous one.
        """
        old = self.sendCode()
        self.clock.advance(60)
        new = self.sendCode()
        if old != new:
            self.assertEqual(self.restCode(self.auth.login(MOBILE, old, CID)),
                             6)
        self.successResultOf(self.auth.login(MOBILE, new, CID))


class LoginTests(_Base):
    """
    Tests for L{AuthService.login}.
    """

    def test_newUser(self):
        """
        A first login creates the user and a session, and returns a token
        whose parts are a signed usertoken, the session secret and dbSecret.
        """
        result = self.login()
        self.assertIsInstance(result, LoginResult)
        userId, token, register = result
        self.assertTrue(register)
        user = self.store.users[userId]
        self.assertEqual((user.mobile, user.name), (MOBILE, MOBILE))
        session = self.store.sessions[(userId, CID)]
        usertoken, secret, dbSecret = crypto.splitToken(token)
        self.assertEqual((secret, dbSecret),
                         (session.secret, session.dbSecret))
        self.assertEqual(len(secret), 16)
        self.assertTrue(secret.isalnum() and secret.isascii())
        tok = crypto.verifyUserToken(usertoken, HMAC_KEY, self.now())
        self.assertEqual(tok, crypto.UserToken(userId, CID, self.now(),
                                               self.now() + 30 * 86400000))
        self.assertEqual(session.expiresAt, tok.expiresAt)

    def test_existingUser(self):
        """
        A later login finds the same user, C{register} false.
        """
        userId, _, _ = self.login()
        self.clock.advance(60)
        uid2, _, register = self.login()
        self.assertEqual((uid2, register), (userId, False))

    def test_tokenTtl(self):
        """
        The token lifetime is configurable.
        """
        makeService(self, tokenTtl=3600)
        userId, token, _ = self.login()
        self.assertEqual(self.store.sessions[(userId, CID)].expiresAt,
                         self.now() + 3600000)

    def test_wrongCode(self):
        """
        A wrong code is 6.
        """
        code = self.sendCode()
        wrong = "000000" if code != "000000" else "111111"
        self.assertEqual(self.restCode(self.auth.login(MOBILE, wrong, CID)), 6)
        self.assertEqual(self.store.users, {})

    def test_noCodeSent(self):
        """
        Logging in when no code was sent is 6, and records nothing.
        """
        self.assertEqual(self.restCode(self.auth.login(MOBILE, "123456", CID)),
                         6)
        self.assertEqual(self.store.codes, {})

    def test_nonStringCode(self):
        """
        A code that is not a string is 6.
        """
        self.sendCode()
        self.assertEqual(self.restCode(self.auth.login(MOBILE, None, CID)), 6)

    def test_expiredCode(self):
        """
        A code is 5 (expired) 5 minutes after it was sent.
        """
        code = self.sendCode()
        self.clock.advance(299.999)
        self.clock.advance(0.001)
        self.assertEqual(self.restCode(self.auth.login(MOBILE, code, CID)), 5)

    def test_codeUsedOnce(self):
        """
        A code logs in once; reusing it is 5.
        """
        code = self.sendCode()
        self.successResultOf(self.auth.login(MOBILE, code, CID))
        self.assertEqual(self.restCode(self.auth.login(MOBILE, code, CID2)), 5)

    def test_badMobile(self):
        """
        A bad mobile is 1.
        """
        self.assertEqual(self.restCode(self.auth.login("123", "1", CID)), 1)

    def test_badClientId(self):
        """
        An empty, too long or C{|}-holding clientId is refused with 1.
        """
        code = self.sendCode()
        for cid in ["", "  ", None, 5, "x" * 129, "a|b"]:
            self.assertEqual(self.restCode(self.auth.login(MOBILE, code, cid)),
                             1, cid)
        self.successResultOf(self.auth.login(MOBILE, code, CID))

    def test_bruteForce(self):
        """
        After 5 wrong codes, the 6th attempt is refused with 3 even with the
        right code, until a new code is sent.
        """
        code = self.sendCode()
        wrong = "%06d" % ((int(code) + 1) % 1000000,)
        for _ in range(5):
            self.assertEqual(
                self.restCode(self.auth.login(MOBILE, wrong, CID)), 6)
        self.assertEqual(self.restCode(self.auth.login(MOBILE, code, CID)), 3)
        self.assertEqual(self.restCode(self.auth.login(MOBILE, wrong, CID)), 3)
        self.assertEqual(self.store.users, {})
        self.clock.advance(60)
        code = self.sendCode()
        self.successResultOf(self.auth.login(MOBILE, code, CID))

    def test_bruteForceLimitConfigurable(self):
        """
        The number of wrong attempts is configurable.
        """
        makeService(self, maxAttempts=2)
        code = self.sendCode()
        wrong = "%06d" % ((int(code) + 1) % 1000000,)
        self.assertEqual(self.restCode(self.auth.login(MOBILE, wrong, CID)), 6)
        self.assertEqual(self.restCode(self.auth.login(MOBILE, wrong, CID)), 6)
        self.assertEqual(self.restCode(self.auth.login(MOBILE, code, CID)), 3)

    def test_expiredNotCounted(self):
        """
        Attempts against an expired code are 5 and not counted.
        """
        self.sendCode()
        self.clock.advance(300)
        for _ in range(10):
            self.assertEqual(
                self.restCode(self.auth.login(MOBILE, "1", CID)), 5)
        self.assertEqual(self.store.codes[MOBILE].attempts, 0)

    def test_newSessionReplaces(self):
        """
        Logging in again on a device replaces its session: the old token's
        passwords stop working.
        """
        userId, old, _ = self.login()
        self.clock.advance(60)
        _, new, _ = self.login()
        self.assertNotEqual(crypto.splitToken(old)[1],
                            crypto.splitToken(new)[1])
        self.assertEqual(len(self.store.sessions), 1)
        oldPassword = crypto.makePassword(old, self.now())
        self.assertEqual(self.refusal(
            self.auth.verifyConnect(userId, oldPassword, CID)), 5)
        self.successResultOf(self.auth.verifyConnect(
            userId, crypto.makePassword(new, self.now()), CID))

    def test_twoDevices(self):
        """
        Each device has its own session.
        """
        userId, _, _ = self.login(cid=CID)
        self.clock.advance(60)
        self.login(cid=CID2)
        sessions = self.successResultOf(self.auth.listSessions(userId))
        self.assertEqual(sorted(s.cid for s in sessions), sorted([CID, CID2]))


class SessionCapTests(_Base):
    """
    C{maxSessionsPerUser}: a login beyond it logs the oldest session out.
    """

    def test_oldestEvicted(self):
        """
        With a cap of 2, a third device's login deletes the oldest session
        and asks C{onRevoked} to close that device; logging in again on a
        device that has a session evicts nothing.
        """
        revoked = []

        async def onRevoked(userId, cid):
            revoked.append((userId, cid))
        self.auth.onRevoked = onRevoked
        self.auth.maxSessionsPerUser = 2
        userId = self.login(cid="first").userId
        self.clock.advance(61)
        self.login(cid="second")
        self.clock.advance(61)
        self.login(cid="second")
        self.assertEqual(revoked, [])
        self.clock.advance(61)
        self.login(cid="third")
        self.assertEqual(sorted(cid for (u, cid) in self.store.sessions if u == userId),
                         ["second", "third"])
        self.assertEqual(revoked, [(userId, "first")])

    def test_noCap(self):
        """
        A cap of 0 keeps every session.
        """
        self.auth.maxSessionsPerUser = 0
        for i in range(5):
            self.clock.advance(61)
            self.login(cid="d%d" % i)
        self.assertEqual(len(self.store.sessions), 5)


class FixedCodeTests(_Base):
    """
    Tests for the fixed login code (C{--login-code}).
    """

    serviceArgs = {"loginCode": "556677"}

    def test_anyMobile(self):
        """
        Every mobile logs in with the fixed code, without a code sent.
        """
        for mobile in [MOBILE, OTHER]:
            userId, token, register = self.successResultOf(
                self.auth.login(mobile, "556677", CID))
            self.assertTrue(register)

    def test_sentCodeStillWorks(self):
        """
        A sent code works too.
        """
        self.login()

    def test_bruteForce(self):
        """
        Wrong guesses are counted even with no code sent; once the limit is
        reached even the fixed code is refused until a code is sent.
        """
        for _ in range(5):
            self.assertEqual(
                self.restCode(self.auth.login(MOBILE, "000000", CID)), 6)
        self.assertEqual(
            self.restCode(self.auth.login(MOBILE, "556677", CID)), 3)
        self.sendCode()
        self.successResultOf(self.auth.login(MOBILE, "556677", CID))

    def test_warning(self):
        """
        Configuring a fixed code logs a warning, without the code.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        makeService(self, loginCode="556677")
        self.assertTrue(any("fixed login code" in e.get("log_format", "")
                            for e in events))
        self.assertFalse(any("556677" in repr(e) for e in events))


class ConnectTests(_Base):
    """
    Tests for L{AuthService.verifyConnect}, in the order of
    docs/protocol.md
    """

    def setUp(self):
        _Base.setUp(self)
        self.userId, self.token, _ = self.login()
        self.password = crypto.makePassword(self.token, self.now())

    def connect(self, userName=None, password=None, cid=CID):
        return self.auth.verifyConnect(
            self.userId if userName is None else userName,
            self.password if password is None else password, cid)

    def test_accepted(self):
        """
        The password made from the login token is accepted and the session
        returned.
        """
        session = self.successResultOf(self.connect())
        self.assertEqual(session, self.store.sessions[(self.userId, CID)])

    def test_replay(self):
        """
        A password stays valid while its session exists.
        """
        self.successResultOf(self.connect())
        self.clock.advance(3600)
        self.successResultOf(self.connect())

    def test_emptyClientIdentifier(self):
        """
        An empty clientIdentifier is 3, checked first.
        """
        self.assertEqual(self.refusal(self.connect(cid="")), 3)
        self.assertEqual(self.refusal(self.auth.verifyConnect("", "", "")), 3)
        self.assertEqual(self.refusal(self.auth.verifyConnect(
            None, None, None)), 3)

    def test_emptyUserName(self):
        """
        An empty userName is 5.
        """
        self.assertEqual(self.refusal(self.auth.verifyConnect("", "", CID)), 5)

    def test_blocked(self):
        """
        A blocked user is 3, before the password is looked at; unblocked,
        the same password works again.
        """
        self.successResultOf(self.auth.setBlocked(self.userId, True))
        self.assertEqual(self.refusal(self.connect()), 3)
        self.assertEqual(self.refusal(self.auth.verifyConnect(
            self.userId, "", CID)), 3)
        self.successResultOf(self.auth.setBlocked(self.userId, False))
        self.successResultOf(self.connect())

    def test_missingPassword(self):
        """
        A missing password is 5, before the session is looked up.
        """
        self.assertEqual(self.refusal(self.connect(password="")), 5)
        self.assertEqual(self.refusal(self.auth.verifyConnect(
            self.userId, "", "unknown-device")), 5)
        self.assertEqual(self.refusal(self.auth.verifyConnect(
            self.userId, 12, CID)), 5)

    def test_noSession(self):
        """
        No session for (userName, clientIdentifier), or no such user, is 8.
        """
        self.assertEqual(self.refusal(self.connect(cid=CID2)), 8)
        self.assertEqual(self.refusal(self.connect(userName="nobody")), 8)

    def test_badPassword(self):
        """
        A password that does not open is 5.
        """
        for password in ["garbage", "AAAA", base64.b64encode(b"x" * 32)
                         .decode(), self.password[:-4]]:
            self.assertEqual(self.refusal(self.connect(password=password)), 5)

    def test_badSignature(self):
        """
        A password carrying a usertoken not signed with the server key is 5.
        """
        secret = self.store.sessions[(self.userId, CID)].secret
        now = self.now()
        forged = crypto.signUserToken(
            crypto.UserToken(self.userId, CID, now, now + 10 ** 9), b"x" * 32)
        password = crypto.b64encode(crypto.aesWrap(
            forged, crypto.convertUserKey(secret), crypto.hourOf(now)))
        self.assertEqual(self.refusal(self.connect(password=password)), 5)

    def test_otherDevicesToken(self):
        """
        A password carrying another device's usertoken is 5, even when
        encrypted with this device's secret.
        """
        self.clock.advance(60)
        _, token2, _ = self.login(cid=CID2)
        usertoken2 = crypto.splitToken(token2)[0]
        secret = self.store.sessions[(self.userId, CID)].secret
        password = crypto.b64encode(crypto.aesWrap(
            usertoken2, crypto.convertUserKey(secret),
            crypto.hourOf(self.now())))
        self.assertEqual(self.refusal(self.connect(password=password)), 5)

    def test_otherUsersToken(self):
        """
        A password carrying another user's usertoken is 5.
        """
        self.clock.advance(60)
        otherUid, otherToken, _ = self.login(mobile=OTHER)
        secret = self.store.sessions[(self.userId, CID)].secret
        password = crypto.b64encode(crypto.aesWrap(
            crypto.splitToken(otherToken)[0], crypto.convertUserKey(secret),
            crypto.hourOf(self.now())))
        self.assertEqual(self.refusal(self.connect(password=password)), 5)

    def test_webFutureHour(self):
        """
        The web client's password with its bogus future hour is accepted,
        and stays accepted days later.
        """
        password = crypto.makePassword(self.token, self.now(), hour=WEB_HOUR)
        secret = self.store.sessions[(self.userId, CID)].secret
        key = crypto.convertUserKey(secret)
        self.assertEqual(
            crypto.AES.new(key, crypto.AES.MODE_CBC, iv=key).decrypt(
                crypto.b64decode(password))[:4], bytes.fromhex("6994f900"))
        self.successResultOf(self.connect(password=password))
        self.clock.advance(10 * 86400)
        self.successResultOf(self.connect(password=password))

    def test_oldPassword(self):
        """
        A password whose hour is more than 24 hours old is 5; a fresh one
        from the same token works.
        """
        self.clock.advance(24 * 3600)
        self.successResultOf(self.connect())
        self.clock.advance(3600)
        self.assertEqual(self.refusal(self.connect()), 5)
        self.successResultOf(self.connect(
            password=crypto.makePassword(self.token, self.now())))

    def test_expiredToken(self):
        """
        Once the token expires (30 days), CONNECT is 5.
        """
        self.clock.advance(30 * 86400 - 1)
        self.successResultOf(self.connect(
            password=crypto.makePassword(self.token, self.now())))
        self.clock.advance(1)
        self.assertEqual(self.refusal(self.connect(
            password=crypto.makePassword(self.token, self.now()))), 5)

    def test_expiredSession(self):
        """
        An expired session is 5 even if the usertoken is still valid.
        """
        key = (self.userId, CID)
        self.store.sessions[key] = attr.evolve(
            self.store.sessions[key], expiresAt=self.now() + 1000)
        self.clock.advance(1)
        self.assertEqual(self.refusal(self.connect()), 5)

    def test_logout(self):
        """
        After logout, the same password is refused with 8.
        """
        self.assertTrue(self.successResultOf(self.auth.logout(self.userId, CID)))
        self.assertEqual(self.refusal(self.connect()), 8)
        self.assertFalse(self.successResultOf(self.auth.logout(self.userId, CID)))

    def test_revoke(self):
        """
        Revoking every session of a user refuses all its devices with 8.
        """
        self.clock.advance(60)
        _, token2, _ = self.login(cid=CID2)
        password2 = crypto.makePassword(token2, self.now())
        self.assertEqual(
            self.successResultOf(self.auth.revokeSessions(self.userId)), 2)
        self.assertEqual(self.refusal(self.connect()), 8)
        self.assertEqual(self.refusal(self.connect(password=password2,
                                                   cid=CID2)), 8)
        self.assertEqual(
            self.successResultOf(self.auth.revokeSessions(self.userId)), 0)

    def test_revokeOne(self):
        """
        Revoking one device's session leaves the others.
        """
        self.clock.advance(60)
        _, token2, _ = self.login(cid=CID2)
        self.assertEqual(self.successResultOf(
            self.auth.revokeSessions(self.userId, CID2)), 1)
        self.successResultOf(self.connect(
            password=crypto.makePassword(self.token, self.now())))
        self.assertEqual(self.successResultOf(
            self.auth.revokeSessions(self.userId, CID2)), 0)


class AdminTests(_Base):
    """
    Tests for the admin helpers of L{AuthService}.
    """

    def test_createUser(self):
        """
        L{AuthService.createUser} creates a user; a duplicate is
        L{UserExists}; a bad mobile is 1.
        """
        user = self.successResultOf(
            self.auth.createUser(MOBILE, "Alice", userId="alice"))
        self.assertEqual((user.userId, user.displayName), ("alice", "Alice"))
        self.assertEqual(self.successResultOf(self.auth.getUser("alice")),
                         user)
        self.failureResultOf(self.auth.createUser(OTHER, userId="alice"),
                             UserExists)
        self.failureResultOf(self.auth.createUser(MOBILE), UserExists)
        self.assertEqual(self.restCode(self.auth.createUser("42")), 1)
        self.assertEqual(self.restCode(self.auth.createUser(OTHER, userId="")),
                         1)

    def test_mintToken(self):
        """
        A minted token works for CONNECT.
        """
        user = self.successResultOf(self.auth.createUser(MOBILE))
        token = self.successResultOf(self.auth.mintToken(user.userId, CID))
        self.successResultOf(self.auth.verifyConnect(
            user.userId, crypto.makePassword(token, self.now()), CID))
        self.failureResultOf(self.auth.mintToken("nobody", CID), NoSuchUser)
        self.assertEqual(self.restCode(self.auth.mintToken(user.userId, "")), 1)

    def test_setBlocked(self):
        """
        Blocking sets the status to BLOCKED, unblocking to NORMAL; an
        unknown user is L{NoSuchUser}.
        """
        user = self.successResultOf(self.auth.createUser(MOBILE))
        blocked = self.successResultOf(self.auth.setBlocked(user.userId, True))
        self.assertEqual(blocked.status, UserStatus.BLOCKED)
        unblocked = self.successResultOf(self.auth.setBlocked(user.userId, False))
        self.assertEqual(unblocked.status, UserStatus.NORMAL)
        self.failureResultOf(self.auth.setBlocked("nobody", True), NoSuchUser)

    def test_unblockKeepsMuted(self):
        """
        Unblocking a user that is not blocked changes nothing.
        """
        user = self.successResultOf(self.auth.createUser(MOBILE))
        self.store.users[user.userId] = attr.evolve(user, status=1)
        self.assertEqual(self.successResultOf(
            self.auth.setBlocked(user.userId, False)).status, 1)

    def test_shortKey(self):
        """
        An HMAC key under 16 bytes is refused.
        """
        self.assertRaises(ValueError, AuthService, self.store, self.clock,
                          b"short", self.sms)


class KeyFileTests(SynchronousTestCase):
    """
    Tests for L{loadOrCreateKey} and L{loadAdminSecret}.
    """

    def test_create(self):
        """
        A missing key file is created (with its folder) holding 32 random
        bytes, mode 0600; later loads read the same key.
        """
        path = os.path.join(self.mktemp(), "data", "hmac.key")
        key = loadOrCreateKey(path)
        self.assertEqual(len(key), 32)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(loadOrCreateKey(path), key)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), key)

    def test_short(self):
        """
        A key file with fewer than 16 bytes is refused.
        """
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"short")
        self.assertRaises(ValueError, loadOrCreateKey, path)

    def test_adminSecret(self):
        """
        The admin secret is the file's stripped text; empty is refused.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("  s3cret-admin\n")
        self.assertEqual(loadAdminSecret(path), "s3cret-admin")
        with open(path, "w") as f:
            f.write("\n")
        self.assertRaises(ValueError, loadAdminSecret, path)


class LogTests(_Base):
    """
    Secrets never reach the log.
    """

    def setUp(self):
        _Base.setUp(self)
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def test_noSecretsLogged(self):
        """
        Sending a code, logging in, connecting, minting and failing leave
        no code, key, secret, token or password in any log event.
        """
        code = self.sendCode()
        userId, token, _ = self.successResultOf(
            self.auth.login(MOBILE, code, CID))
        password = crypto.makePassword(token, self.now())
        self.successResultOf(self.auth.verifyConnect(userId, password, CID))
        self.refusal(self.auth.verifyConnect(userId, password + "x", CID))
        minted = self.successResultOf(self.auth.mintToken(userId, CID2))
        self.sms.failing = True
        self.clock.advance(60)
        self.restCode(self.auth.sendCode(MOBILE))
        self.flushLoggedErrors(RuntimeError)
        session = self.store.sessions[(userId, CID)]
        text = "\n".join(repr(e) for e in self.events)
        self.assertTrue(self.events)
        for secret in [code, token, password, minted, session.secret,
                       session.dbSecret, HMAC_KEY.hex(), repr(HMAC_KEY),
                       crypto.b64encode(HMAC_KEY)]:
            self.assertNotIn(secret, text)

    def test_logSmsSender(self):
        """
        L{LogSmsSender} logs the code: its whole job.
        """
        self.successResultOf(LogSmsSender().sendCode(MOBILE, "123456"))
        [event] = [e for e in self.events if e.get("code") == "123456"]
        self.assertEqual(event["mobile"], MOBILE)
