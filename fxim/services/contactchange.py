# -*- test-case-name: fxim.test.unit.test_social -*-
"""
Changing one's mobile or e-mail (MMI types 3 and 4) needs proof of the new
address, or anybody could claim an unregistered number and be waiting in
that account when its owner first logs in (an account pre-hijack).

The flow, compatible with the clients' MMI body (a type and one string):

  1. MMI C{{type 3, value "<new mobile>"}}: nothing changes; a code is
     sent to the new mobile (as C{/send_code} would) and the request
     answers C{AUTH_FAILURE} (verification needed).
  2. MMI C{{type 3, value "<new mobile>:<code>"}}: the code is checked
     (and used up); if right, the mobile changes.  A wrong or expired code
     answers C{PASSWORD_INCORRECT}, too many attempts or sends
     C{OVER_FREQUENCY}, a mobile another user has C{INVALID_PARAMETER}
     (checked before any code is sent).

E-mail (type 4) works the same way with the e-mail address; clearing the
e-mail (an empty value) needs no code.  See C{docs/security.md}.
"""

from typing import Optional, Tuple

from fxim.errors import ErrorCode, SignalError
from fxim.model import MyInfoType

#: The MMI types that name an address the user must prove.
VERIFIED_TYPES = (MyInfoType.MOBILE, MyInfoType.EMAIL)


def splitCode(value: str) -> Tuple[str, Optional[str]]:
    """
    @return: C{(address, code)} of an MMI value C{"<address>:<code>"}, or
        C{(value, None)} without a code.  The code is the digits after the
        last C{:}.
    """
    address, sep, code = (value or "").rpartition(":")
    if sep and code.strip().isdigit():
        return address, code.strip()
    return value or "", None


class ContactVerifier:
    """
    Sends and checks the codes of a contact change, through the login code
    machinery of L{fxim.services.auth.AuthService}.
    """

    def __init__(self, auth) -> None:
        self.auth = auth

    async def prove(self, address: str, code: Optional[str]) -> None:
        """
        Succeed if C{code} is the live code sent to C{address}; without a
        code, send one and refuse.

        @raise SignalError: C{AUTH_FAILURE} code sent, C{PASSWORD_INCORRECT}
            wrong or expired code, C{OVER_FREQUENCY} too frequent,
            C{SERVER_ERROR} the code could not be sent.
        """
        from fxim.services.auth import AuthError, RestCode
        try:
            if code is None:
                await self.auth.sendVerificationCode(address)
            else:
                await self.auth.checkVerificationCode(address, code)
                return
        except AuthError as e:
            if e.code == RestCode.TOO_FREQUENT:
                raise SignalError(ErrorCode.OVER_FREQUENCY, str(e)) from None
            if e.code in (RestCode.CODE_INCORRECT, RestCode.CODE_EXPIRED):
                raise SignalError(ErrorCode.PASSWORD_INCORRECT, "wrong or expired code") from None
            if e.code == RestCode.INVALID_MOBILE:
                raise SignalError(ErrorCode.INVALID_PARAMETER, str(e)) from None
            raise SignalError(ErrorCode.SERVER_ERROR, "could not send the code") from None
        raise SignalError(ErrorCode.AUTH_FAILURE,
                          "a code was sent to the new address: send it with the change")
