# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
L{CommandRegistry}: the commands and notifications one node (or one
client) speaks, an instance built from the built-in ones plus the plugins'
-- never a module global that registration mutates.
"""

from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Type

from fxim.protocol import groups, media, messages, newer, session, social
from fxim.protocol.command import (
    Command, JsonCommand, Notification, PluginPushNotification, checkPluginName, jsonCommand,
)
from fxim.wire.requests import JsonRequest
from fxim.wire.signals import PLUGIN_SUBSIGNALS, Signal, SubSignal

__all__ = ["CommandRegistry", "BUILTIN"]

Key = Tuple[int, int]

_PUBLISH = int(Signal.PUBLISH)


class CommandRegistry:
    """
    Commands by (signal, subsignal) and by request type, notifications by
    push type and by (signal, subsignal), and the WebSocket names of plugin
    subsignals.  Immutable: L{extended} makes a new one.
    """

    def __init__(self, commands: Iterable[Type[Command]] = (),
                 notifications: Iterable[Type[Notification]] = ()) -> None:
        self._commands: Dict[Key, Type[Command]] = {}
        #: (signal, subsignal) -> command, read-only: what L{lookup}
        #: answers, for the wire objects' per-request read.
        self.byKey: Mapping[Key, Type[Command]] = self._commands
        self._byRequest: Dict[type, Type[Command]] = {JsonRequest: JsonCommand}
        self._notifications: Dict[type, Type[Notification]] = {}
        #: push type -> notification, read-only: what L{notificationFor}
        #: answers, for the wire objects' per-push read.
        self.byPush: Mapping[type, Type[Notification]] = self._notifications
        self._notificationsAt: Dict[Key, Type[Notification]] = {}
        #: plugin subsignal names -> ordinals, and back
        self.pluginOrdinals: Dict[str, int] = {}
        self.pluginNames: Dict[int, str] = {}
        for command in commands:
            self._add(command)
        for notification in notifications:
            self._notifications[notification.push] = notification
            self._notificationsAt[(notification.signal, notification.subsignal)] = notification

    def _add(self, command: Type[Command]) -> None:
        key = (int(command.signal), int(command.subsignal))
        if command.subsignal in PLUGIN_SUBSIGNALS:
            self._name(command.name, int(command.subsignal))
        self._commands[key] = command
        if command.request is not None and command.request is not JsonRequest:
            self._byRequest[command.request] = command

    def _name(self, name: str, ordinal: int) -> None:
        """
        Give a plugin subsignal ordinal its WebSocket name.

        @raise ValueError: if the name or ordinal is taken by another.
        """
        checkPluginName(ordinal, name)
        if (self.pluginOrdinals.get(name, ordinal) != ordinal
                or self.pluginNames.get(ordinal, name) != name):
            raise ValueError(f"subsignal {name!r}/{ordinal} already registered differently")
        self.pluginOrdinals[name] = ordinal
        self.pluginNames[ordinal] = name

    def extended(self, commands: Iterable[Type[Command]] = (),
                 notifications: Iterable[Type[Notification]] = ()) -> "CommandRegistry":
        """
        A new registry with C{commands} and C{notifications} added (a command
        replaces any other for its key).

        @raise ValueError: if a plugin name clashes with another.
        """
        return CommandRegistry(list(self._commands.values()) + list(commands),
                               list(self._notifications.values()) + list(notifications))

    def withPluginNames(self, names: Mapping[str, int]) -> "CommandRegistry":
        """
        A new registry that also knows these plugin subsignals, as generated
        JSON commands (for a client that talks to plugins by name).
        """
        return self.extended([jsonCommand(ordinal, name) for name, ordinal in names.items()])

    # -- commands --------------------------------------------------------------

    def lookup(self, signal: int, subsignal: int) -> Optional[Type[Command]]:
        """
        The command for (signal, subsignal), or L{None}.
        """
        return self._commands.get((signal, subsignal))

    def commands(self) -> Iterable[Type[Command]]:
        """
        Every command, in key order.
        """
        return [self._commands[key] for key in sorted(self._commands)]

    def forRequest(self, request: Any) -> Type[Command]:
        """
        The command a typed request is sent with (client side); a
        L{JsonRequest} maps to L{JsonCommand}, whose subsignal the caller
        gives.

        @raise TypeError: if C{request} is no command's request.
        """
        try:
            return self._byRequest[type(request)]
        except KeyError:
            raise TypeError(f"not a request: {type(request).__name__}") from None

    def replyCommand(self, subsignal: int) -> Optional[Type[Command]]:
        """
        Client side: the PUBLISH command a PUB_ACK of C{subsignal} answers
        (any plugin ordinal answers as JSON).
        """
        command = self._commands.get((_PUBLISH, subsignal))
        if command is None and subsignal in PLUGIN_SUBSIGNALS:
            return JsonCommand
        return command

    # -- notifications ---------------------------------------------------------

    def notificationFor(self, push: Any) -> Type[Notification]:
        """
        The notification that encodes C{push}.

        @raise TypeError: for a push type no notification declares.
        """
        try:
            return self._notifications[type(push)]
        except KeyError:
            raise TypeError(f"no push codec for {type(push).__name__}") from None

    def notificationAt(self, signal: int, subsignal: int) -> Optional[Type[Notification]]:
        """
        Client side: the notification a server push of (signal, subsignal)
        carries, or L{None}.
        """
        if signal == _PUBLISH and subsignal in PLUGIN_SUBSIGNALS:
            return self._notifications.get(PluginPushNotification.push, PluginPushNotification)
        return self._notificationsAt.get((signal, subsignal))

    def notifications(self) -> Iterable[Type[Notification]]:
        """
        Every notification.
        """
        return list(self._notifications.values())

    # -- names -----------------------------------------------------------------

    def subSignalName(self, ordinal: int) -> str:
        """
        The WebSocket name of a subsignal ordinal (C{"NONE"} for unknown ones).
        """
        try:
            return SubSignal(ordinal).name
        except ValueError:
            return self.pluginNames.get(ordinal, "NONE")


#: The built-in commands and notifications (immutable; extend it with
#: L{CommandRegistry.extended}).
BUILTIN = CommandRegistry(
    session.COMMANDS + messages.COMMANDS + social.COMMANDS + groups.COMMANDS + media.COMMANDS
    + newer.COMMANDS,
    messages.NOTIFICATIONS + social.NOTIFICATIONS + newer.NOTIFICATIONS
    + (PluginPushNotification,))
