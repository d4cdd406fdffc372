# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
The user and friend commands (US, UPUI, MMI, FAR, FALS, FHR, FRP, FRUS,
FP) and pushes (FN, FRN).
"""

from typing import Any, Callable, Type, cast

from fxim.protocol.command import (
    Command, VersionCommand, flatCommand, int64Notification, listResponses,
)
from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import (
    friendFromJson, friendFromPb, friendRequestFromJson, friendRequestFromPb,
    friendRequestToJson, friendRequestToPb, friendToJson, friendToPb, jint, jint32,
    jlist, jobj, jsonRecords, jstr, jstrs, parsePb, pb_, ps,
    userFromJson, userFromPb, userToJson, userToPb, dumps,
)
from fxim.wire.requests import (
    AddFriend, FriendList, FriendNotify, FriendRequestList, FriendRequestNotify,
    HandleFriendRequest, ModifyMyInfo, PullFriendRequests, PullFriends, PullUsers,
    PullUsersResult, SearchUsers, SetFriendAlias, SyncFriendRequestUnread, UserList,
)
from fxim.wire.signals import SubSignal


# -- users ---------------------------------------------------------------------

class SearchUsersCommand(Command):
    """
    US: search users by keyword.
    """

    subsignal = int(SubSignal.US)
    request = SearchUsers
    response = UserList
    wsEmpty = "[]"
    requestFromTcp = staticmethod(lambda body: (lambda m: SearchUsers(ps(m.keyword), m.fuzzy, m.page))(
        parsePb(pb.SearchUserRequest, body)))
    requestFromWs = staticmethod(lambda c: (lambda o: SearchUsers(
        jstr(o.get("keyword")), jint32(o.get("fuzzy")), jint32(o.get("page"))))(jobj(c)))
    requestToTcp = staticmethod(lambda r: pb_(pb.SearchUserRequest, keyword=r.keyword,
                                              fuzzy=r.fuzzy, page=r.page))
    requestToWs = staticmethod(lambda r: {"keyword": r.keyword, "fuzzy": r.fuzzy, "page": r.page})
    responseToTcp, responseToWs, responseFromTcp, responseFromWs = listResponses(
        pb.SearchUserResult, "entry", "users", UserList, userToPb, userFromPb, userToJson,
        userFromJson)


def _pullUsersToTcp(r: Any) -> bytes:
    msg = pb.PullUserResult()
    add = msg.result.add
    for user, code in r.entries:
        entry = add()
        if code == 1:
            entry.user.uid = user.userId
        else:
            userToPb(user, entry.user)
        entry.code = code
    return msg.SerializeToString()


class PullUsersCommand(Command):
    """
    UPUI: users by uid (WebSocket drops the update times and unchanged
    entries).
    """

    subsignal = int(SubSignal.UPUI)
    request = PullUsers
    response = PullUsersResult
    wsEmpty = "[]"
    requestFromTcp = staticmethod(lambda body: PullUsers(tuple(
        (ps(r.uid), r.update_dt) for r in parsePb(pb.PullUserRequest, body).request)))
    requestFromWs = staticmethod(lambda c: PullUsers(
        tuple((userId, 0) for userId in jstrs(jlist(c, "UPUI content", [])))))
    responseToTcp = staticmethod(_pullUsersToTcp)
    responseToWs = staticmethod(
        lambda r: dumps([userToJson(user) for user, code in r.entries if code == 0]))
    requestToTcp = staticmethod(lambda r: pb_(pb.PullUserRequest, request=[
        pb.UserRequest(uid=userId, update_dt=dt) for userId, dt in r.requests]))
    requestToWs = staticmethod(lambda r: [userId for userId, _ in r.requests])
    responseFromTcp = staticmethod(lambda body: PullUsersResult(tuple(
        (userFromPb(r.user), r.code) for r in parsePb(pb.PullUserResult, body).result)))
    responseFromWs = staticmethod(jsonRecords(PullUsersResult, lambda u: (userFromJson(u), 0)))


def _mmiFromWs(content: Any) -> ModifyMyInfo:
    items = content if type(content) is list else [jobj(content)]
    return ModifyMyInfo(tuple(
        (jint32(jobj(e, "MMI entry").get("type")), jstr(e.get("value"))) for e in items))


def _mmiToWs(r: ModifyMyInfo) -> Any:
    entries = [{"type": t, "value": v} for t, v in r.entries]
    return entries[0] if len(entries) == 1 else entries


class ModifyMyInfoCommand(Command):
    """
    MMI: change the caller's profile fields (code only).
    """

    subsignal = int(SubSignal.MMI)
    request = ModifyMyInfo
    requestFromTcp = staticmethod(lambda body: ModifyMyInfo(tuple(
        (e.type, ps(e.value)) for e in parsePb(pb.ModifyMyInfoRequest, body).entry)))
    requestFromWs = staticmethod(_mmiFromWs)
    requestToTcp = staticmethod(lambda r: pb_(pb.ModifyMyInfoRequest, entry=[
        pb.InfoEntry(type=t, value=v) for t, v in r.entries]))
    requestToWs = staticmethod(_mmiToWs)


# -- friends -------------------------------------------------------------------

def _friendText(subsignal: int, request: Any, text: Callable[[Any], str],
                doc: str) -> Type[Command]:
    """
    The command of a code-only (target uid, text) request carried in an
    C{AddFriendRequest} (C{reason}) or C{{"reason","targetUserId"}}: FAR
    and FALS.
    """
    return cast(Type[Command], type(request.__name__ + "Command", (Command,), {
        "__doc__": doc, "__module__": __name__, "subsignal": int(subsignal), "request": request,
        "requestFromTcp": staticmethod(lambda body: (lambda m: request(
            ps(m.target_uid), ps(m.reason)))(parsePb(pb.AddFriendRequest, body))),
        "requestFromWs": staticmethod(lambda c: (lambda o: request(
            jstr(o.get("targetUserId")), jstr(o.get("reason"))))(jobj(c))),
        "requestToTcp": staticmethod(lambda r: pb_(pb.AddFriendRequest, target_uid=r.targetUid,
                                                   reason=text(r))),
        "requestToWs": staticmethod(lambda r: {"reason": text(r), "targetUserId": r.targetUid}),
    }))


#: FAR: send a friend request (code only).
AddFriendCommand = _friendText(SubSignal.FAR, AddFriend, lambda r: r.reason,
                               "FAR: send a friend request (code only).")

#: FALS: set a friend's alias, carried as the request's C{reason} (code only).
SetFriendAliasCommand = _friendText(SubSignal.FALS, SetFriendAlias, lambda r: r.alias,
                                    "FALS: set a friend's alias (the C{reason} field; code only).")


#: FHR: accept or refuse a friend request (code only).
HandleFriendRequestCommand = flatCommand(
    "HandleFriendRequestCommand", SubSignal.FHR, HandleFriendRequest, pb.HandleFriendRequest,
    [("targetUid", "target_uid", ps, "targetUid", jstr),
     ("status", "status", int, "status", jint32)],
    ("targetUid", "status"), "FHR: accept or refuse a friend request (code only).")


def _frpFromWs(content: Any) -> PullFriendRequests:
    version = None if content is None else jobj(content).get("version")
    if version is None:
        return PullFriendRequests(0)
    return PullFriendRequests(max(0, jint(version) - 1000))


def _frpToWs(r: PullFriendRequests) -> Any:
    # The server subtracts 1000 from what the web client sends.
    return {"version": None if r.version <= 0 else str(r.version + 1000)}


class PullFriendRequestsCommand(VersionCommand):
    """
    FRP: friend requests updated after a version.
    """

    subsignal = int(SubSignal.FRP)
    request = PullFriendRequests
    response = FriendRequestList
    wsEmpty = "[]"
    requestFromWs = staticmethod(_frpFromWs)
    requestToWs = staticmethod(_frpToWs)
    responseToTcp, responseToWs, responseFromTcp, responseFromWs = listResponses(
        pb.GetFriendRequestResult, "entry", "requests", FriendRequestList, friendRequestToPb,
        friendRequestFromPb, friendRequestToJson, friendRequestFromJson)


class SyncFriendRequestUnreadCommand(VersionCommand):
    """
    FRUS: mark friend requests read up to a version (code only).
    """

    subsignal = int(SubSignal.FRUS)
    request = SyncFriendRequestUnread


class PullFriendsCommand(VersionCommand):
    """
    FP: friends updated after a version.
    """

    subsignal = int(SubSignal.FP)
    request = PullFriends
    response = FriendList
    wsEmpty = "[]"
    responseToTcp, responseToWs, responseFromTcp, responseFromWs = listResponses(
        pb.GetFriendsResult, "entry", "friends", FriendList, friendToPb, friendFromPb,
        friendToJson, friendFromJson)


# -- pushes --------------------------------------------------------------------

#: FN: the user's friend head moved.
FriendNotification = int64Notification(SubSignal.FN, FriendNotify, "head",
                                       "FN: the user's friend head moved.")

#: FRN: the user's friend-request version moved.
FriendRequestNotification = int64Notification(
    SubSignal.FRN, FriendRequestNotify, "version",
    "FRN: the user's friend-request version moved.")


COMMANDS = (SearchUsersCommand, PullUsersCommand, ModifyMyInfoCommand, AddFriendCommand,
            SetFriendAliasCommand, HandleFriendRequestCommand, PullFriendRequestsCommand,
            SyncFriendRequestUnreadCommand, PullFriendsCommand)
NOTIFICATIONS = (FriendNotification, FriendRequestNotification)
