# -*- test-case-name: fxim.test.unit.test_auth -*-
"""
Accounts, SMS login codes, tokens, CONNECT verification and sessions.

L{AuthService} is the one place that issues tokens and checks CONNECT
passwords; see C{docs/auth.md}.  Nothing here logs a secret: not the HMAC
key, session secrets, tokens, passwords nor login codes.
"""

import errno
import hmac
import os
import re
import secrets
import string
from enum import IntEnum
from typing import Awaitable, Callable, Dict, List, Optional

import attr
from twisted.internet.defer import Deferred, DeferredLock, fail
from twisted.logger import Logger

from fxim import crypto
from fxim.identity import InvalidIdentity, parseIdentity
from fxim.model import Session, UserStatus
from fxim.storage.records import CodeState

_log = Logger()

#: What C{/send_code} accepts (11 digits, second 3-9), ASCII digits only.
MOBILE_RE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)

#: Characters of session secrets and dbSecrets: printable, no C{|}.
SECRET_ALPHABET = string.ascii_letters + string.digits

#: Length of a session secret: clients use its first 16 characters as key.
SECRET_LENGTH = 16

#: Length of a dbSecret (opaque to clients).
DB_SECRET_LENGTH = 24

#: Longest accepted clientId, in characters.
MAX_CLIENT_ID = 128

#: Longest accepted clientId in UTF-8 bytes: the usertoken stores its
#: length in one byte (a non-ASCII clientId of 128 characters can need 512).
MAX_CLIENT_ID_BYTES = 255

#: Size of a generated HMAC key, and the smallest one accepted from a file.
HMAC_KEY_SIZE = 32
MIN_HMAC_KEY_SIZE = 16

_DAY_MS = 86400 * 1000


class RestCode(IntEnum):
    """
    The C{code} of HTTP login API answers (upstream C{RestResult}).
    C{INVALID_MOBILE} also covers any other invalid parameter.
    """

    SUCCESS = 0
    INVALID_MOBILE = 1
    INVALID_PARAMETER = 1
    TOO_FREQUENT = 3
    SERVER_ERROR = 4
    CODE_EXPIRED = 5
    CODE_INCORRECT = 6
    CONFIG_ERROR = 7
    SESSION_EXPIRED = 8
    SESSION_NOT_VERIFIED = 9
    SESSION_NOT_SCANNED = 10
    #: i12: the account is blocked by an administrator: no token.
    USER_BLOCKED = 11


class ConnectCode(IntEnum):
    """
    CONNECT_ACK refusal subsignals used by L{AuthService.verifyConnect}.
    """

    IDENTIFIER_REJECTED = 3
    BAD_USER_NAME_OR_PASSWORD = 5
    SESSION_NOT_EXIST = 8


class AuthError(Exception):
    """
    A login API request is refused.

    @ivar code: the L{RestCode} for the answer's C{code}.
    @ivar message: text for the answer's C{message} (no secret in it).
    """

    def __init__(self, code: RestCode, message: str) -> None:
        super().__init__(code, message)
        self.code = RestCode(code)
        self.message = message

    def __str__(self) -> str:
        return "%d: %s" % (self.code, self.message)


class ConnectRefused(Exception):
    """
    A CONNECT is refused.

    @ivar code: the CONNECT_ACK subsignal (a L{ConnectCode}: 3, 5 or 8).
    @ivar reason: text for the server log only.
    """

    def __init__(self, code: ConnectCode, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = ConnectCode(code)
        self.reason = reason

    def __str__(self) -> str:
        return "%s: %s" % (self.code.name, self.reason)


class NoSuchUser(LookupError):
    """
    An admin operation names a user that does not exist.
    """


class UserExists(ValueError):
    """
    An admin create names a uid or mobile that already exists.
    """


@attr.s(frozen=True, slots=True, auto_attribs=True)
class LoginResult:
    """
    The outcome of L{AuthService.login} (also a 3-tuple: C{uid, token,
    register = result}).

    @ivar userId: the user id.
    @ivar token: the token to hand the client.
    @ivar register: whether the user was created by this login.
    """

    userId: str
    token: str
    register: bool

    def __iter__(self):
        return iter((self.userId, self.token, self.register))


def isMobile(mobile) -> bool:
    """
    Whether C{mobile} is an 11-digit Chinese mobile number.
    """
    return isinstance(mobile, str) and MOBILE_RE.fullmatch(mobile) is not None


def _deferred(f):
    """
    Run the C{async def} C{f} as a L{Deferred}.
    """
    def wrapper(*args, **kwargs):
        return Deferred.fromCoroutine(f(*args, **kwargs))
    wrapper.__name__ = f.__name__
    wrapper.__doc__ = f.__doc__
    return wrapper


class AuthService:
    """
    Login codes, users, sessions and tokens.

    Times are ms since the epoch, read from C{clock}.

    @ivar hmacKey: the usertoken signing key (never logged).
    """

    def __init__(self, store, clock, hmacKey: bytes, sms, *,
                 loginCode: Optional[str] = None, codeLength: int = 6,
                 codeTtl: float = 300.0, resendInterval: float = 60.0,
                 maxSendsPerDay: int = 10, maxAttempts: int = 5,
                 tokenTtl: float = 30 * 86400.0, random=None, emails=None,
                 maxSessionsPerUser: int = 0, onRevoked=None) -> None:
        """
        @param store: provides L{fxim.interfaces.IUserStore},
            L{fxim.interfaces.ISessionStore} and
            L{fxim.interfaces.ILoginCodeStore}.
        @param clock: an L{twisted.internet.interfaces.IReactorTime}.
        @param hmacKey: at least 16 bytes (see L{loadOrCreateKey}).
        @param sms: an L{fxim.interfaces.ISmsSender}.
        @param loginCode: a fixed code every mobile can log in with (demos
            and tests), or L{None}.
        @param codeLength: digits of a sent code, 4 to 6.
        @param codeTtl: seconds a sent code stays valid.
        @param resendInterval: seconds between two sends to one mobile.
        @param maxSendsPerDay: sends per mobile per 24 hours.
        @param maxAttempts: wrong codes accepted per sent code; the next
            attempt, even right, is refused until a new code is sent.
        @param tokenTtl: seconds a token and its session stay valid.
        @param random: a L{random.Random}-like source (C{choice}); default
            L{secrets.SystemRandom}.
        @param emails: the L{fxim.storage.adminstore.IAdminStore} holding
            e-mail logins (default: the one beside C{store}).
        """
        if len(hmacKey) < MIN_HMAC_KEY_SIZE:
            raise ValueError("the HMAC key must have at least %d bytes"
                             % (MIN_HMAC_KEY_SIZE,))
        if not 4 <= codeLength <= 6:
            raise ValueError("codeLength must be 4 to 6")
        if maxAttempts < 1 or maxSendsPerDay < 1:
            raise ValueError("maxAttempts and maxSendsPerDay must be positive")
        if loginCode is not None and not loginCode:
            raise ValueError("an empty fixed login code")
        self._store = store
        if emails is None:
            from fxim.storage.adminstore import adminStoreFor
            emails = adminStoreFor(store)
        self._emails = emails
        self._clock = clock
        self.hmacKey = bytes(hmacKey)
        self._sms = sms
        self._loginCode = loginCode
        self.codeLength = codeLength
        self.codeTtl = int(codeTtl * 1000)
        self.resendInterval = int(resendInterval * 1000)
        self.maxSendsPerDay = maxSendsPerDay
        self.maxAttempts = maxAttempts
        self.tokenTtl = int(tokenTtl * 1000)
        #: Most sessions kept per user; a login beyond evicts the oldest
        #: (0: no cap); the node passes C{--max-sessions-per-user}.
        self.maxSessionsPerUser = maxSessionsPerUser
        #: C{async onRevoked(uid, cid)} closes live connections of revoked
        #: or blocked devices (the node's session service; None in unit tests).
        self.onRevoked = onRevoked
        # i14: push targets die with their session.
        #: C{async f(uid, cid)} called after a device logged out or was
        #: revoked (C{cid} None: every device of the user).
        self.sessionEnded: List[Callable[[str, Optional[str]], Awaitable[object]]] = []
        #: C{async f(uid, cid)} called after a device logged in.
        self.loggedIn: List[Callable[[str, str], Awaitable[object]]] = []
        self._random = random if random is not None else secrets.SystemRandom()
        self._locks: Dict[object, DeferredLock] = {}
        if loginCode is not None:
            _log.warn("A fixed login code is configured: every mobile can "
                      "log in with it. Use this for demos and tests only.")

    def now(self) -> int:
        """
        @return: the clock's time in ms.
        """
        return int(self._clock.seconds() * 1000)

    def _randomString(self, alphabet: str, length: int) -> str:
        return "".join(self._random.choice(alphabet) for _ in range(length))

    def _serialized(self, key, f):
        """
        Run the coroutine function C{f} with no other one of the same
        C{key} running (per-mobile code bookkeeping on this node).
        """
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = DeferredLock()

        def release(result):
            if not lock.locked and not lock.waiting:
                self._locks.pop(key, None)
            return result
        return lock.run(lambda: Deferred.fromCoroutine(f())).addBoth(release)

    # -- SMS codes ------------------------------------------------------------

    def sendCode(self, mobile) -> Deferred:
        """
        Send a new login code to C{mobile}, replacing any previous one and
        resetting its wrong attempts.

        @return: L{Deferred} firing with L{None}, or failing with
            L{AuthError}: 1 bad mobile, 3 too frequent (less than
            C{resendInterval} since the last send, or C{maxSendsPerDay}
            sends in the current 24 hours), 4 the SMS could not be sent.
        """
        try:
            identity = parseIdentity(mobile)
        except InvalidIdentity as e:
            return fail(AuthError(RestCode.INVALID_MOBILE, str(e)))
        return self._serialized(identity.value, lambda: self._sendCode(identity))

    async def _sendCode(self, identity):
        mobile = identity.value
        now = self.now()
        state = await self._store.getCodeState(mobile)
        dayStart, sentToday = now, 0
        if state is not None:
            if now - state.lastSentAt < self.resendInterval:
                raise AuthError(RestCode.TOO_FREQUENT,
                                "please wait before requesting another code")
            if now - state.dayStart < _DAY_MS:
                dayStart, sentToday = state.dayStart, state.sentToday
            if sentToday >= self.maxSendsPerDay:
                raise AuthError(RestCode.TOO_FREQUENT,
                                "too many codes requested today")
        code = self._randomString(string.digits, self.codeLength)
        await self._store.putCodeState(mobile, CodeState(
            code=code, expiresAt=now + self.codeTtl, attempts=0,
            lastSentAt=now, dayStart=dayStart, sentToday=sentToday + 1))
        from fxim import metrics
        try:
            await self._sms.sendCode(mobile, code, identity.kind)
        except Exception as e:
            from fxim.senders import SendFailed
            metrics.CODE_SENDS.labels(identity.kind, "failed").inc()
            if isinstance(e, SendFailed):
                # Expected (gateway down, address refused): one line.
                _log.warn("Could not send a login code to {mobile}: {reason}",
                          mobile=mobile, reason=e.reason)
            else:
                _log.failure("Could not send a login code to {mobile}",
                             mobile=mobile)
            # The failed send does not make the person wait before trying
            # again (it still counts against the daily limit).
            await self._store.putCodeState(mobile, CodeState(
                code="", expiresAt=0, attempts=0,
                lastSentAt=state.lastSentAt if state is not None else 0,
                dayStart=dayStart, sentToday=sentToday + 1))
            raise AuthError(RestCode.SERVER_ERROR,
                            "could not deliver the login code, please try again later")
        metrics.CODE_SENDS.labels(identity.kind, "ok").inc()
        _log.info("Login code sent to {mobile}", mobile=mobile)

    # -- proving an address (i10b: contact change) -------------------------

    def sendVerificationCode(self, address) -> Deferred:
        """
        Send a code to C{address} (a mobile or e-mail the caller already
        validated) to prove it is the caller's, with the same store, limits
        and sender as login codes (a code proves possession of the address
        either way).

        @return: L{Deferred}; fails with L{AuthError} 1 (not a mobile or
            e-mail), 3 (too frequent) or 4.
        """
        try:
            identity = parseIdentity(address)
        except InvalidIdentity as e:
            return fail(AuthError(RestCode.INVALID_MOBILE, str(e)))
        return self._serialized(identity.value, lambda: self._sendCode(identity))

    def checkVerificationCode(self, address, code) -> Deferred:
        """
        Check (and use up) a code sent to C{address}.

        @return: L{Deferred}; fails with L{AuthError} 3 (too many wrong
            attempts), 5 (expired) or 6 (wrong).
        """
        if not isinstance(code, str):
            return fail(AuthError(RestCode.CODE_INCORRECT, "wrong code"))
        try:
            address = parseIdentity(address).value
        except InvalidIdentity as e:
            return fail(AuthError(RestCode.INVALID_MOBILE, str(e)))
        return self._serialized(address, lambda: self._checkCode(address, code))

    # -- login --------------------------------------------------------------

    def login(self, mobile, code, clientId) -> Deferred:
        """
        Log a device in with an SMS code: create the user if new, create a
        new session for (uid, clientId) replacing any previous one, and
        issue a token.

        @return: L{Deferred} firing with a L{LoginResult} C{(uid, token,
            register)}, or failing with L{AuthError}: 1 bad mobile or
            clientId, 3 too many wrong attempts (until a new code is sent),
            5 code expired, 6 code incorrect.
        """
        try:
            identity = parseIdentity(mobile)
        except InvalidIdentity as e:
            return fail(AuthError(RestCode.INVALID_MOBILE, str(e)))
        mobile = identity.value
        if not _validClientId(clientId):
            return fail(AuthError(RestCode.INVALID_PARAMETER,
                                   "invalid clientId"))
        if not isinstance(code, str):
            return fail(AuthError(RestCode.CODE_INCORRECT, "wrong code"))
        d = self._serialized(mobile, lambda: self._checkCode(mobile, code))
        d.addCallback(lambda _: Deferred.fromCoroutine(
            self._login(identity, clientId)))
        return d

    async def _checkCode(self, mobile, code):
        now = self.now()
        state = await self._store.getCodeState(mobile)
        if state is not None and state.attempts >= self.maxAttempts:
            raise AuthError(RestCode.TOO_FREQUENT,
                            "too many wrong codes, request a new code")
        if self._loginCode is not None and _equal(code, self._loginCode):
            return
        live = state is not None and state.code and now < state.expiresAt
        if live and _equal(code, state.code):
            # A code is used once.
            await self._store.putCodeState(mobile, attr.evolve(
                state, expiresAt=now))
            return
        if live or self._loginCode is not None:
            # Something could be guessed: count the attempt.
            if state is None:
                state = CodeState(code="", expiresAt=0, attempts=0,
                                  lastSentAt=0, dayStart=0, sentToday=0)
            await self._store.putCodeState(mobile, attr.evolve(
                state, attempts=state.attempts + 1))
        if not live and state is not None and state.code:
            raise AuthError(RestCode.CODE_EXPIRED, "code expired")
        raise AuthError(RestCode.CODE_INCORRECT, "wrong code")

    async def _login(self, identity, clientId):
        if identity.isPhone:
            user, created = await self._store.getOrCreateByMobile(
                identity.value, self.now())
        else:
            user, created = await self._emails.getOrCreateByEmail(
                identity.value, self.now())
        if user.status == UserStatus.BLOCKED:
            _log.info("Refused a login of blocked user {uid}", uid=user.userId)
            raise AuthError(RestCode.USER_BLOCKED, "this account is blocked")
        token = await self._issue(user.userId, clientId)
        # Logins only: tokens an operator mints (admin API) are not capped.
        await self._evictOldSessions(user.userId, clientId)
        _log.info("User {uid} logged in on device {cid} (new user: {new})",
                  uid=user.userId, cid=clientId, new=created)
        for hook in self.loggedIn:
            try:
                await hook(user.userId, clientId)
            except Exception:
                _log.failure("A login hook failed for {uid}", uid=user.userId)
        return LoginResult(user.userId, token, bool(created))

    async def _issue(self, userId, cid):
        now = self.now()
        expiresAt = now + self.tokenTtl
        session = Session(
            userId=userId, cid=cid,
            secret=self._randomString(SECRET_ALPHABET, SECRET_LENGTH),
            dbSecret=self._randomString(SECRET_ALPHABET, DB_SECRET_LENGTH),
            createdAt=now, expiresAt=expiresAt)
        await self._store.createSession(session)
        usertoken = crypto.signUserToken(
            crypto.UserToken(userId, cid, now, expiresAt), self.hmacKey)
        return crypto.makeToken(usertoken, session.secret, session.dbSecret,
                                now)

    async def _evictOldSessions(self, userId, keep):
        """
        Keep at most L{maxSessionsPerUser} sessions of C{uid}: the oldest
        ones beyond (never C{keep}, the one just issued) are deleted and
        their devices disconnected, as a logout would.  Concurrent logins
        each trim after writing, so the cap holds once they are done.
        """
        cap = self.maxSessionsPerUser
        if not cap:
            return
        sessions = await self._store.listSessions(userId)
        if len(sessions) <= cap:
            return
        others = sorted((s for s in sessions if s.cid != keep),
                        key=lambda s: (s.createdAt, s.cid))
        for old in others[:len(sessions) - cap]:
            if await self._store.deleteSession(userId, old.cid):
                _log.info("User {uid} has more than {cap} sessions: logged out "
                          "the oldest, device {cid}", uid=userId, cap=cap, cid=old.cid)
                await self._revoked(userId, old.cid)

    # -- CONNECT --------------------------------------------------------------

    @_deferred
    async def verifyConnect(self, userName, password, clientIdentifier):
        """
        Check a CONNECT, in the order docs/auth.md gives.

        @return: L{Deferred} firing with the device's
            L{fxim.model.Session}, or failing with L{ConnectRefused}: 3 empty
            clientIdentifier; 5 empty userName; 3 blocked user; 5 missing
            password; 8 no user or no session for (userName,
            clientIdentifier); 5 the password does not open with the session
            secret, or its usertoken is not validly signed for this user
            and device; 5 the usertoken or the session expired.
        """
        if not isinstance(clientIdentifier, str) or not clientIdentifier:
            raise ConnectRefused(ConnectCode.IDENTIFIER_REJECTED,
                                 "empty clientIdentifier")
        if not isinstance(userName, str) or not userName:
            raise ConnectRefused(ConnectCode.BAD_USER_NAME_OR_PASSWORD,
                                 "empty userName")
        user = await self._store.getUser(userName)
        if user is not None and user.status == UserStatus.BLOCKED:
            raise ConnectRefused(ConnectCode.IDENTIFIER_REJECTED,
                                 "user blocked")
        if not isinstance(password, str) or not password:
            raise ConnectRefused(ConnectCode.BAD_USER_NAME_OR_PASSWORD,
                                 "missing password")
        session = await self._store.getSession(userName, clientIdentifier)
        if user is None or session is None or session.userId != userName:
            raise ConnectRefused(ConnectCode.SESSION_NOT_EXIST,
                                 "no session for this user and device")
        now = self.now()
        try:
            usertoken = crypto.openPassword(password, session.secret, now)
            # The web client pads the usertoken with zeros (docs/auth.md).
            tok = crypto.verifyUserToken(usertoken, self.hmacKey, now,
                                         crypto.MAX_TRAILING_ZEROS)
        except crypto.TokenExpired:
            raise ConnectRefused(ConnectCode.BAD_USER_NAME_OR_PASSWORD,
                                 "token expired") from None
        except crypto.CryptoError as e:
            raise ConnectRefused(ConnectCode.BAD_USER_NAME_OR_PASSWORD,
                                 "bad password (%s)" % (e,)) from None
        if tok.userId != userName or tok.cid != clientIdentifier:
            raise ConnectRefused(ConnectCode.BAD_USER_NAME_OR_PASSWORD,
                                 "token of another user or device")
        if now >= session.expiresAt:
            raise ConnectRefused(ConnectCode.BAD_USER_NAME_OR_PASSWORD,
                                 "session expired")
        return session

    # i14: the login token as an HTTP credential (POST /push/register).
    @_deferred
    async def verifyToken(self, token):
        """
        Identify the device a login token was issued to.

        @return: L{Deferred} firing with its live L{fxim.model.Session}, or
            failing with L{AuthError}: 1 malformed token, 8 the session was
            logged out, revoked, replaced by a newer login or expired, or
            the user is blocked.
        """
        if not isinstance(token, str) or not token:
            raise AuthError(RestCode.INVALID_PARAMETER, "token must be a string")
        now = self.now()
        try:
            usertoken, secret, _ = crypto.splitToken(token)
            tok = crypto.verifyUserToken(usertoken, self.hmacKey, now)
        except crypto.TokenExpired:
            raise AuthError(RestCode.SESSION_EXPIRED, "token expired") from None
        except crypto.CryptoError:
            raise AuthError(RestCode.INVALID_PARAMETER, "malformed token") from None
        session = await self._store.getSession(tok.userId, tok.cid)
        if (session is None or not _equal(session.secret, secret)
                or now >= session.expiresAt):
            raise AuthError(RestCode.SESSION_EXPIRED, "no live session for this token")
        user = await self._store.getUser(tok.userId)
        if user is None or user.status == UserStatus.BLOCKED:
            raise AuthError(RestCode.SESSION_EXPIRED, "user blocked")
        return session

    # -- sessions -------------------------------------------------------------

    def logout(self, userId, cid) -> Deferred:
        """
        Delete the session of (uid, cid): its token and passwords stop
        working (CONNECT gets 8).

        @return: L{Deferred} firing with C{True} if there was one.
        """
        d = self._store.deleteSession(userId, cid)
        if self.sessionEnded:
            d.addCallback(lambda deleted: Deferred.fromCoroutine(
                self._ended(userId, cid)).addCallback(lambda _: deleted))
        return d

    async def _ended(self, userId, cid):
        for hook in self.sessionEnded:
            try:
                await hook(userId, cid)
            except Exception:
                _log.failure("A session-ended hook failed for {uid}", uid=userId)

    @_deferred
    async def revokeSessions(self, userId, cid=None):
        """
        Delete the session of (uid, cid), or every session of C{uid}.

        @return: L{Deferred} firing with the number deleted.
        """
        if cid is not None:
            deleted = 1 if await self._store.deleteSession(userId, cid) else 0
            await self._revoked(userId, cid)
            return deleted
        count = 0
        for session in await self._store.listSessions(userId):
            if await self._store.deleteSession(userId, session.cid):
                count += 1
        if count:
            _log.info("Revoked {count} session(s) of user {uid}",
                      count=count, uid=userId)
        await self._revoked(userId, None)
        return count

    async def _revoked(self, userId, cid):
        """
        Close the live connections of a revoked or blocked device (all of
        the user's when C{cid} is None), through L{onRevoked}.
        """
        await self._ended(userId, cid)
        if self.onRevoked is not None:
            try:
                await self.onRevoked(userId, cid)
            except Exception:
                _log.failure("Closing connections of {uid} failed", uid=userId)

    def listSessions(self, userId) -> Deferred:
        """
        @return: L{Deferred} firing with the user's L{fxim.model.Session}s
            (they hold secrets: never show C{secret} or C{dbSecret}).
        """
        return self._store.listSessions(userId)

    # -- admin ----------------------------------------------------------------

    @_deferred
    async def createUser(self, mobile="", displayName="", userId=None):
        """
        Create a user.

        @param mobile: a login identity (Chinese mobile, E.164 number or
            e-mail address, normalised here), or C{""}.
        @return: L{Deferred} firing with the L{fxim.model.User}, or failing
            with L{AuthError} (1: bad mobile or uid) or L{UserExists}.
        """
        identity = None
        if mobile:
            try:
                identity = parseIdentity(mobile)
            except InvalidIdentity as e:
                raise AuthError(RestCode.INVALID_MOBILE, str(e)) from None
        if userId is not None and (not isinstance(userId, str) or not userId
                                or not 0 < _utf8Length(userId) <= 64):
            raise AuthError(RestCode.INVALID_PARAMETER, "invalid uid")
        phone = identity.value if identity is not None and identity.isPhone else ""
        email = identity.value if identity is not None and not identity.isPhone else ""
        if email and await self._emails.getUserByEmail(email) is not None:
            raise UserExists("uid or e-mail already exists")
        name = displayName or (email.split("@", 1)[0] if email else "")
        try:
            user = await self._store.createUser(phone, name, self.now(), userId=userId)
        except KeyError:
            raise UserExists("uid or mobile already exists") from None
        if email:
            try:
                await self._emails.setLoginEmail(user.userId, email)
            except KeyError:
                await self._emails.deleteUser(user.userId, False)
                raise UserExists("uid or e-mail already exists") from None
            user = await self._store.updateUser(user.userId, {"email": email}, self.now())
        _log.info("Created user {uid}", uid=user.userId)
        return user

    def getUser(self, userId) -> Deferred:
        """
        @return: L{Deferred} firing with the L{fxim.model.User} or L{None}.
        """
        return self._store.getUser(userId)

    @_deferred
    async def setBlocked(self, userId, blocked):
        """
        Block or unblock a user.  A blocked user's CONNECT is refused (3);
        its sessions are kept, so unblocking restores them.  Connections
        already open are closed through L{onRevoked}.

        @return: L{Deferred} firing with the updated L{fxim.model.User}, or
            failing with L{NoSuchUser}.
        """
        user = await self._store.getUser(userId)
        if user is None:
            raise NoSuchUser(userId)
        if blocked:
            status = UserStatus.BLOCKED
        elif user.status == UserStatus.BLOCKED:
            status = UserStatus.NORMAL
        else:
            return user
        user = await self._store.updateUser(userId, {"status": int(status)},
                                            self.now())
        if user is None:
            raise NoSuchUser(userId)
        _log.info("User {uid} {what}", uid=userId,
                  what="blocked" if blocked else "unblocked")
        if blocked:
            await self._revoked(userId, None)
        return user

    @_deferred
    async def mintToken(self, userId, cid):
        """
        Issue a token for an existing user's device without a code (admin),
        replacing any session of (uid, cid).

        @return: L{Deferred} firing with the token, or failing with
            L{NoSuchUser} or L{AuthError} (1: bad clientId).
        """
        if not _validClientId(cid):
            raise AuthError(RestCode.INVALID_PARAMETER, "invalid clientId")
        if await self._store.getUser(userId) is None:
            raise NoSuchUser(userId)
        token = await self._issue(userId, cid)
        _log.info("Minted a token for user {uid} on device {cid}",
                  uid=userId, cid=cid)
        return token


def _utf8Length(text: str) -> int:
    """
    @return: the length of C{text} in UTF-8, or -1 if it has no UTF-8 form
        (a lone surrogate, which JSON can carry).
    """
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return -1


def _validClientId(cid) -> bool:
    """
    Whether C{cid} can be a device's clientId: a non-blank string of at
    most L{MAX_CLIENT_ID} characters, without C{|}, that fits the
    usertoken's one-byte cid length (at most
    L{MAX_CLIENT_ID_BYTES} UTF-8 bytes).
    """
    return (isinstance(cid, str) and bool(cid.strip())
            and len(cid) <= MAX_CLIENT_ID and "|" not in cid
            and 0 < _utf8Length(cid) <= MAX_CLIENT_ID_BYTES)


def _equal(a: str, b: str) -> bool:
    """
    Constant-time comparison of two codes.
    """
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def loadOrCreateKey(path) -> bytes:
    """
    Read the HMAC key from C{path}, or create it there with
    L{HMAC_KEY_SIZE} random bytes and mode 0600 if it does not exist.

    @param path: a file path (C{str} or L{twisted.python.filepath.FilePath}).
    @raise ValueError: if the file holds fewer than L{MIN_HMAC_KEY_SIZE}
        bytes.
    """
    path = getattr(path, "path", path)
    try:
        with open(path, "rb") as f:
            key = f.read()
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        key = secrets.token_bytes(HMAC_KEY_SIZE)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
            return loadOrCreateKey(path)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        _log.info("Generated a new secret key in {path}", path=path)
        return key
    if len(key) < MIN_HMAC_KEY_SIZE:
        raise ValueError("the HMAC key file %s holds fewer than %d bytes"
                         % (path, MIN_HMAC_KEY_SIZE))
    return key


def loadAdminSecret(path) -> str:
    """
    Read the admin API secret: the file's text without surrounding
    whitespace.

    @raise ValueError: if it is empty.
    """
    path = getattr(path, "path", path)
    with open(path, "r", encoding="utf-8") as f:
        secret = f.read().strip()
    if not secret:
        raise ValueError("the admin secret file %s is empty" % (path,))
    return secret
