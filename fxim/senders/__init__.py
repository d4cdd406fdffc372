# -*- test-case-name: fxim.test.unit.test_senders -*-
"""
Login code senders: how a code reaches a person.

A sender provides L{ICodeSender}; it is made by an L{ICodeSenderPlugin}
found with C{getPlugins} in C{twisted/plugins/} (as handler plugins are)
and chosen with C{--code-sender NAME} (and C{--email-code-sender NAME}
for e-mail addresses).  fxim ships C{log} (development: the code goes to
the server log), C{http} (a signed JSON POST to a gateway: the adapter
point for SMS providers) and C{smtp} (e-mail).  See docs/plugins.md.
"""

from typing import Any, Dict, Optional

from twisted.plugin import IPlugin, getPlugins
from zope.interface import Attribute, Interface


class ICodeSender(Interface):
    """
    Delivers login codes.  Never logs the code (except the C{log} sender,
    whose job it is) nor puts it in an exception message.
    """

    def sendCode(address, code, kind):
        """
        Deliver C{code} to C{address}.

        @param address: a normalised identity (L{fxim.identity.Identity}
            C{value}: 11-digit mobile, E.164 number or lower-case e-mail).
        @param kind: C{"mobile"}, C{"phone"} or C{"email"}.
        @return: a L{Deferred} firing once the far side accepted it, or
            failing with L{SendFailed}.
        """


class ICodeSenderPlugin(IPlugin):
    """
    A named factory of L{ICodeSender}s (a Twisted plugin).
    """

    name = Attribute("The C{--code-sender} NAME (lower-case ASCII).")
    description = Attribute("One line for C{--help} and logs.")

    def build(config, reactor):
        """
        @param config: the node's L{fxim.config.Config} (the sender reads
            its own fields, and C{codeSenderOptions} for third-party
            C{--code-sender-option KEY=VALUE} settings).
        @param reactor: the reactor.
        @return: an L{ICodeSender}.
        @raise SenderConfigError: if a required setting is missing.
        """


class SendFailed(Exception):
    """
    A code could not be delivered.

    @ivar reason: text for the server log (no code in it).
    @ivar retryable: whether the failure may be transient (network error,
        5xx): the sender already retried it.
    """

    def __init__(self, reason: str, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class SenderConfigError(ValueError):
    """
    A sender is misconfigured (reported at startup).
    """


def findSenderPlugin(name: str, plugins: Optional[Any] = None) -> Any:
    """
    @return: the L{ICodeSenderPlugin} called C{name}.
    @raise SenderConfigError: if there is none.
    """
    known: Dict[str, Any] = {}
    for plugin in (getPlugins(ICodeSenderPlugin) if plugins is None else plugins):
        known.setdefault(plugin.name, plugin)
    if name not in known:
        raise SenderConfigError("unknown code sender %r (known: %s)"
                                % (name, ", ".join(sorted(known)) or "none"))
    return known[name]


class SenderPlugin:
    """
    A simple L{ICodeSenderPlugin}: C{SenderPlugin("name", "text", factory)}
    where C{factory(config, reactor)} makes the sender.
    """

    def __init__(self, name: str, description: str, factory: Any) -> None:
        self.name = name
        self.description = description
        self._factory = factory

    def build(self, config: Any, reactor: Any) -> Any:
        return self._factory(config, reactor)


def _declare():
    from zope.interface import classImplements
    classImplements(SenderPlugin, ICodeSenderPlugin)


_declare()


async def retrying(clock: Any, attempt: Any, attempts: int = 3, delay: float = 0.5) -> Any:
    """
    Run C{await attempt()} until it succeeds, at most C{attempts} times,
    waiting C{delay} then twice as long between tries; only a
    L{SendFailed} with C{retryable} set is tried again.
    """
    from twisted.internet.task import deferLater
    for n in range(attempts):
        try:
            return await attempt()
        except SendFailed as e:
            if not e.retryable or n == attempts - 1:
                raise
        await deferLater(clock, delay * (2 ** n), lambda: None)
