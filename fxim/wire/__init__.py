"""
The sans-IO wire layer: nothing here imports from C{twisted.internet}.

  - L{fxim.wire.signals}: Signal and SubSignal ordinals;
  - L{fxim.wire.frame}: the 10-byte TCP header and an incremental decoder;
  - L{fxim.wire.envelope}: the WebSocket JSON envelope;
  - L{fxim.wire.requests}: typed requests, responses and pushes;
  - L{fxim.wire.codecs_convert}: the converters the commands share.

The commands (one class per subsignal, both transports, both sides) are
in L{fxim.protocol}.
"""
