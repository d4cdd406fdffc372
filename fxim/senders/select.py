# -*- test-case-name: fxim.test.unit.test_senders -*-
"""
Choosing the sender for each kind of login identity.
"""

from typing import Any, Dict

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from fxim.senders import ICodeSender, findSenderPlugin

_log = Logger()


@implementer(ICodeSender)
class CodeSenderRouter:
    """
    Sends each code with the sender configured for its kind.

    @param byKind: C{{"phone": sender, "email": sender}}; C{"mobile"}
        (Chinese mobiles) uses the C{"phone"} one.
    """

    def __init__(self, byKind: Dict[str, ICodeSender]) -> None:
        self.byKind = dict(byKind)

    def sendCode(self, address: str, code: str, kind: str = "mobile") -> Deferred:
        return self.byKind["email" if kind == "email" else "phone"].sendCode(address, code, kind)


def senderNames(config: Any) -> Dict[str, str]:
    """
    @return: the plugin name chosen for phones and for e-mail addresses:
        e-mail goes to C{--email-code-sender}, else to C{smtp} when
        C{--smtp-host} is set, else to C{--code-sender}.
    """
    email = config.emailCodeSender or ("smtp" if config.smtpHost else config.codeSender)
    return {"phone": config.codeSender, "email": email}


def buildCodeSenders(config: Any, reactor: Any, plugins: Any = None) -> CodeSenderRouter:
    """
    Build the configured senders (each plugin once).

    @raise fxim.senders.SenderConfigError: unknown name or bad settings.
    """
    names = senderNames(config)
    built: Dict[str, Any] = {}
    for name in set(names.values()):
        built[name] = findSenderPlugin(name, plugins).build(config, reactor)
    _log.info("Login codes: phones via {phone}, e-mail via {email}", **names)
    return CodeSenderRouter({kind: built[name] for kind, name in names.items()})


def checkCodeSenders(config: Any, plugins: Any = None) -> None:
    """
    Build the configured senders once without a reactor, so a wrong name
    or a missing setting stops C{twistd} with a usage message.

    @raise twisted.python.usage.UsageError: naming the problem.
    """
    from twisted.python.usage import UsageError

    from fxim.senders import SenderConfigError
    try:
        for name in set(senderNames(config).values()):
            findSenderPlugin(name, plugins).build(config, None)
    except (SenderConfigError, OSError) as e:
        raise UsageError(str(e)) from None
