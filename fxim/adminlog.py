# -*- test-case-name: fxim.test.e2e.test_configfile -*-
"""
The audit line of an admin action: C{admin action=<action> target=<target>
from=<peer>}, logged at info by every admin route (never with a secret, a
token or a code).
"""

from typing import Any, Optional

from twisted.logger import Logger

_log = Logger(namespace="fxim.admin")


def logAdminAction(action: str, target: str, request: Any = None, peer: Optional[str] = None,
                   **details: Any) -> None:
    """
    Log one admin action.

    @param action: what was done (C{user.create}, C{user.block},
        C{sessions.revoke}, C{token.mint}, ...).
    @param target: whom it was done to (a uid, C{uid/cid}).
    @param request: the HTTP request, for the caller's address.
    @param peer: the caller's address, when there is no request at hand.
    @param details: further non-secret fields (counts, flags).
    """
    if peer is None and request is not None:
        address = request.getClientAddress()
        peer = getattr(address, "host", None) or str(address)
    extra = "".join(f" {k}={v}" for k, v in sorted(details.items()))
    _log.info("admin action={action} target={target} from={peer}{extra}", action=action,
              target=target, peer=peer or "-", extra=extra, adminAction=action,
              adminTarget=target)
