"""
The fxim protocol as declarations: one L{command.Command} class per
subsignal a client sends and one L{command.Notification} per push the
server sends, each with both transports' encodings for the server and the
client side (L{session}, L{messages}, L{social}, L{groups}, L{media},
L{newer}); L{registry.CommandRegistry} instances gathering them with the
plugins' commands; the wire objects L{wire.TcpWire} and L{wire.WsWire}
that each transport factory owns; L{client.ClientWire} for clients; and
L{neutral}, the transport-neutral form of a push between nodes.  See
C{docs/commands.md}.
"""
