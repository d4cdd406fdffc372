# -*- test-case-name: fxim.test.unit.test_webpassword -*-
"""
The CONNECT password as the web clients really send it: the usertoken
zero-padded to a multiple of 4 bytes by their word-array-to-bytes helper
(see C{docs/auth.md}), checked through L{AuthService.verifyConnect} for
every kind of (uid, cid) the server accepts.

L{webPassword} is the Python twin of that client computation;
L{fxim.test.e2e.test_webpassword} runs the real thing (Node and crypto-js)
against a real node.
"""

import hashlib
import hmac
import struct

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fxim import crypto
from fxim.services.auth import MAX_CLIENT_ID, MAX_CLIENT_ID_BYTES
from fxim.test.unit.test_auth import HMAC_KEY, makeService

#: The hour the web client always sends (prefix C{69 94 f9 00}).
WEB_HOUR = 16356457

_UID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def zeroPadded(data: bytes, unit: int = 4) -> bytes:
    """
    C{data} followed by zeros up to a multiple of C{unit} bytes: what the
    web client's helper hands back for the Base64-decoded usertoken.
    """
    return data + bytes(-len(data) % unit)


def passwordCarrying(payload: bytes, secret: str, hour: int = WEB_HOUR) -> str:
    """
    A CONNECT password whose encrypted payload (after the hour prefix) is
    C{payload}.
    """
    return crypto.b64encode(crypto.aesWrap(payload, crypto.convertUserKey(secret), hour))


def webPassword(token: str) -> str:
    """
    The web client's CONNECT password for C{token}: the usertoken bytes
    zero-padded to a multiple of 4, behind the client's future hour.
    """
    usertoken, secret, _ = crypto.splitToken(token)
    return passwordCarrying(zeroPadded(usertoken), secret)


def legacyUserToken(tok: crypto.UserToken, key: bytes) -> bytes:
    """
    A usertoken in the layout fxim issued before version 2 (version 1, no
    padding: C{51 + len(uid) + len(cid)} bytes), as tokens already handed
    out carry it.
    """
    userId, cid = tok.userId.encode("utf-8"), tok.cid.encode("utf-8")
    body = (struct.pack(">BqqB", 1, tok.issuedAt, tok.expiresAt, len(userId))
            + userId + bytes([len(cid)]) + cid)
    return body + hmac.new(key, body, hashlib.sha256).digest()


def _asciiOfLength(n: int) -> st.SearchStrategy:
    return st.text(alphabet=_UID_CHARS, min_size=n, max_size=n)


#: Any printable character: no surrogates (no UTF-8 form), no controls.
_chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="|")

#: uids: ASCII of every accepted length (1-64 bytes), or any text that fits.
userIds = st.one_of(
    st.integers(min_value=1, max_value=64).flatmap(_asciiOfLength),
    st.text(_chars, min_size=1, max_size=64).filter(
        lambda u: len(u.encode("utf-8")) <= 64))

#: cids: ASCII of every accepted length (1-128), or any text the login takes.
cids = st.one_of(
    st.integers(min_value=1, max_value=MAX_CLIENT_ID).flatmap(_asciiOfLength),
    st.text(_chars, min_size=1, max_size=MAX_CLIENT_ID).filter(
        lambda c: c.strip() and len(c.encode("utf-8")) <= MAX_CLIENT_ID_BYTES))


class WebPasswordTests(SynchronousTestCase):
    """
    L{AuthService.verifyConnect} on web-style passwords: accepted as the
    client pads them, refused (5) when anything but up to 7 zero bytes
    follows the usertoken or any bit of it changes.
    """

    def device(self, userId, cid):
        """
        A fresh service with user C{uid} logged in on device C{cid}.

        @return: the token.
        """
        auth = makeService(self)
        self.successResultOf(auth.createUser(userId=userId))
        return self.successResultOf(auth.mintToken(userId, cid))

    def verdict(self, userId, cid, password):
        """
        @return: C{0} if the CONNECT is accepted, else its refusal code.
        """
        d = self.auth.verifyConnect(userId, password, cid)
        failures = []
        d.addErrback(lambda f: failures.append(f.value.code))
        self.successResultOf(d)
        return failures[0] if failures else 0

    @given(userIds, cids)
    def test_webPaddedAccepted(self, userId, cid):
        """
        The password the web client computes is accepted for every uid and
        cid; the usertoken fxim issues is a multiple of 8 bytes, so the
        client's padding adds nothing.
        """
        token = self.device(userId, cid)
        usertoken = crypto.splitToken(token)[0]
        self.assertEqual(len(usertoken) % 8, 0)
        self.assertEqual(zeroPadded(usertoken), usertoken)
        self.assertEqual(self.verdict(userId, cid, webPassword(token)), 0)

    @given(userIds, cids, st.integers(min_value=0, max_value=7))
    def test_upToSevenZerosAccepted(self, userId, cid, zeros):
        """
        Up to 7 zero bytes after the usertoken are accepted (a client that
        pads to 8 bytes).
        """
        token = self.device(userId, cid)
        usertoken, secret, _ = crypto.splitToken(token)
        password = passwordCarrying(usertoken + bytes(zeros), secret)
        self.assertEqual(self.verdict(userId, cid, password), 0)

    @given(userIds, cids, st.integers(min_value=0, max_value=7))
    def test_legacyUserTokenAccepted(self, userId, cid, zeros):
        """
        A token issued before the padded layout (version 1, any length)
        keeps working, exactly or with the web client's padding.
        """
        self.device(userId, cid)
        session = self.store.sessions[(userId, cid)]
        legacy = legacyUserToken(crypto.UserToken(
            userId, cid, session.createdAt, session.expiresAt), HMAC_KEY)
        token = crypto.makeToken(legacy, session.secret, session.dbSecret,
                                 session.createdAt)
        self.assertEqual(self.verdict(userId, cid, webPassword(token)), 0)
        self.assertEqual(self.verdict(userId, cid, passwordCarrying(
            legacy + bytes(zeros), session.secret)), 0)

    @given(userIds, cids, st.integers(min_value=8, max_value=64),
           st.booleans())
    def test_eightZerosRefused(self, userId, cid, zeros, legacy):
        """
        Eight or more zero bytes after the usertoken are refused with 5.
        """
        token = self.device(userId, cid)
        usertoken, secret, _ = crypto.splitToken(token)
        if legacy:
            session = self.store.sessions[(userId, cid)]
            usertoken = legacyUserToken(crypto.UserToken(
                userId, cid, session.createdAt, session.expiresAt), HMAC_KEY)
        password = passwordCarrying(usertoken + bytes(zeros), secret)
        self.assertEqual(self.verdict(userId, cid, password), 5)

    @given(userIds, cids, st.binary(min_size=1, max_size=7), st.data())
    def test_nonZeroTrailingRefused(self, userId, cid, trailing, data):
        """
        Trailing bytes that are not all zero are refused with 5.
        """
        index = data.draw(st.integers(min_value=0, max_value=len(trailing) - 1))
        value = data.draw(st.integers(min_value=1, max_value=255))
        trailing = trailing[:index] + bytes([value]) + trailing[index + 1:]
        token = self.device(userId, cid)
        usertoken, secret, _ = crypto.splitToken(token)
        password = passwordCarrying(usertoken + trailing, secret)
        self.assertEqual(self.verdict(userId, cid, password), 5)

    @given(userIds, cids, st.integers(min_value=0), st.integers(min_value=0, max_value=7),
           st.integers(min_value=0, max_value=7))
    def test_flippedBitRefused(self, userId, cid, index, bit, zeros):
        """
        Flipping any bit of the usertoken or of the zeros after it is
        refused with 5.
        """
        token = self.device(userId, cid)
        usertoken, secret, _ = crypto.splitToken(token)
        payload = bytearray(usertoken + bytes(zeros))
        payload[index % len(payload)] ^= 1 << bit
        password = passwordCarrying(bytes(payload), secret)
        self.assertEqual(self.verdict(userId, cid, password), 5)

    @given(userIds, cids, st.integers(min_value=0), st.integers(min_value=0, max_value=7))
    def test_flippedCiphertextBitRefused(self, userId, cid, index, bit):
        """
        Flipping any bit of the web password's ciphertext is refused with
        5.
        """
        token = self.device(userId, cid)
        raw = bytearray(crypto.b64decode(webPassword(token)))
        raw[index % len(raw)] ^= 1 << bit
        self.assertEqual(self.verdict(userId, cid, crypto.b64encode(bytes(raw))), 5)

    def test_realFailingCase(self):
        """
        The case the web client met: an 8-character uid and a 36-character
        UUID device id.  The old layout made that usertoken 95 bytes, which
        the client sends as 96; the new one is 96 bytes from the start, and
        both are accepted.
        """
        userId, cid = "Xb3kQ9aZ", "8d785094-0928-4a3d-89af-1117f66c7829"
        token = self.device(userId, cid)
        self.assertEqual(len(crypto.splitToken(token)[0]), 96)
        self.assertEqual(self.verdict(userId, cid, webPassword(token)), 0)
        session = self.store.sessions[(userId, cid)]
        legacy = legacyUserToken(crypto.UserToken(
            userId, cid, session.createdAt, session.expiresAt), HMAC_KEY)
        self.assertEqual(len(legacy), 95)
        self.assertEqual(len(zeroPadded(legacy)), 96)
        self.assertEqual(self.verdict(userId, cid, passwordCarrying(
            zeroPadded(legacy), session.secret)), 0)


class ClientIdLimitTests(SynchronousTestCase):
    """
    Device ids and uids must fit the usertoken: at most 255 (cid) or 64
    (uid) UTF-8 bytes, and have a UTF-8 form at all.
    """

    def setUp(self):
        makeService(self)

    def restCode(self, d):
        failures = []
        d.addErrback(lambda f: failures.append(f.value.code))
        self.successResultOf(d)
        return failures[0] if failures else 0

    def test_byteLimit(self):
        """
        A 128-character clientId whose UTF-8 form is over 255 bytes is
        refused with 1 at login and when minting (it used to fail signing,
        a server error); one of exactly 255 bytes logs in and connects.
        """
        for cid in ["设" * 86, "设" * 128, "😀" * 64]:
            self.assertEqual(self.restCode(self.auth.login(
                "13800000000", self.sendCode(), cid)), 1, cid)
        self.successResultOf(self.auth.createUser(userId="alice"))
        self.assertEqual(self.restCode(self.auth.mintToken("alice", "设" * 86)), 1)
        cid = "设" * 85
        userId, token, _ = self.successResultOf(self.auth.login(
            "13800000000", self.sendCode(), cid))
        self.successResultOf(self.auth.verifyConnect(userId, webPassword(token), cid))

    def test_loneSurrogate(self):
        """
        A clientId or uid with a lone surrogate (valid JSON, no UTF-8
        form) is refused with 1, not a server error.
        """
        self.assertEqual(self.restCode(self.auth.login(
            "13800000000", self.sendCode(), "dev-\ud800")), 1)
        self.assertEqual(self.restCode(self.auth.createUser(userId="u\udc00")), 1)
        self.successResultOf(self.auth.createUser(userId="alice"))
        self.assertEqual(self.restCode(self.auth.mintToken("alice", "\udfff")), 1)

    def sendCode(self):
        self.clock.advance(61)
        self.successResultOf(self.auth.sendCode("13800000000"))
        return self.sms.lastCode("13800000000")
