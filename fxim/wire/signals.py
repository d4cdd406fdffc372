# -*- test-case-name: fxim.test.unit.test_frame -*-
"""
Signal and SubSignal: Java enum ordinals of universe_push, which are the wire
values (append only: never renumber).
"""

from enum import IntEnum


class Signal(IntEnum):
    NONE = 0
    SUB = 1
    AUTH = 2
    PING = 3
    PUSH = 4
    CONTACT = 5
    CONNECT = 6
    CONNECT_ACK = 7
    DISCONNECT = 8
    PUBLISH = 9
    PUB_ACK = 10


class SubSignal(IntEnum):
    NONE = 0
    CONNECTION_ACCEPTED = 1
    CONNECTION_REFUSED_UNACCEPTABLE_PROTOCOL_VERSION = 2
    CONNECTION_REFUSED_IDENTIFIER_REJECTED = 3
    CONNECTION_REFUSED_SERVER_UNAVAILABLE = 4
    CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD = 5
    CONNECTION_REFUSED_NOT_AUTHORIZED = 6
    CONNECTION_REFUSED_UNEXPECT_NODE = 7
    CONNECTION_REFUSED_SESSION_NOT_EXIST = 8
    US = 9
    FAR = 10
    UPUI = 11
    FRN = 12
    FRUS = 13
    FRP = 14
    FHR = 15
    FP = 16
    MN = 17
    MS = 18
    MP = 19
    FN = 20
    GC = 21
    GPGI = 22
    GPGM = 23
    GAM = 24
    GKM = 25
    GQ = 26
    GMI = 27
    MMI = 28
    GQNUT = 29
    MR = 30
    RMN = 31
    LRM = 32
    GD = 33
    GMURL = 34
    FALS = 35
    MRN = 36
    MRP = 37
    MRR = 38
    MDR = 39
    SAI = 40
    # i13: settings sync.  The newer clients' server has 44 subsignals
    # (0-43); which of 41-43 is which is not known from any client source,
    # so this enum is the one table to change if a client shows otherwise.
    UG = 41
    UP = 42
    UN = 43


#: Subsignal ordinals reserved for third-party plugins.
PLUGIN_SUBSIGNALS = range(64, 128)

#: Subsignals only the server sends; a client sending one gets NOT_IMPLEMENT.
SERVER_ONLY_SUBSIGNALS = frozenset(
    {SubSignal.NONE, SubSignal.MN, SubSignal.RMN, SubSignal.FN, SubSignal.FRN,
     SubSignal.MRN, SubSignal.SAI, SubSignal.UN}
)
