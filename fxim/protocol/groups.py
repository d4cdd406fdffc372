# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
The group commands: GC, GPGI, GPGM, GAM, GKM, GQ, GD, GMI.
"""

from typing import Any, Callable, Dict, Tuple, Type, cast

from fxim.model import GroupInfo
from fxim.protocol.command import Command, listResponses
from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import (
    contentToJson, contentToPb, groupInfoFromJson, groupInfoFromPb, groupInfoToJson,
    groupInfoToPb, groupMemberFromJson, groupMemberFromPb, groupMemberToJson, groupMemberToPb,
    jint, jint32, jints32, jlist, jobj, jstr, jstrs,
    optionalContentFromJson, optionalContentFromPb, parsePb, ps, pss,
)
from fxim.wire.requests import (
    AddGroupMembers, CreateGroup, DismissGroup, GroupCreated, GroupInfoList,
    GroupMemberList, KickGroupMembers, ModifyGroupInfo, PullGroupInfo, PullGroupMembers,
    QuitGroup,
)
from fxim.wire.signals import SubSignal


def _groupOpFromWs(o: Dict[str, Any]) -> Tuple[Tuple[int, ...], Any]:
    return (jints32(o.get("lines"), "lines"),
            optionalContentFromJson(o.get("notifyContent")))


def _groupOpToWs(d: Dict[str, Any], r: Any) -> Dict[str, Any]:
    if r.toLines:
        d["lines"] = list(r.toLines)
    if r.notifyContent is not None:
        d["notifyContent"] = contentToJson(r.notifyContent)
    return d


def _notify(msg: Any, content: Any) -> None:
    if content is not None:
        contentToPb(content, msg.notify_content)


def _groupToTcp(cls: Any, **extra: Callable[[Any], Any]) -> Callable[[Any], bytes]:
    def encode(r: Any) -> bytes:
        m = cls(group_id=r.groupId, to_line=r.toLines,
                **{k: f(r) for k, f in extra.items()})
        _notify(m, r.notifyContent)
        return m.SerializeToString()
    return encode


def _members(o: Dict[str, Any]) -> Tuple[Any, ...]:
    return tuple(groupMemberFromJson(x) for x in jlist(o.get("groupMembers"), "groupMembers", []))


# -- GC ------------------------------------------------------------------------

def _gcFromTcp(body: bytes) -> CreateGroup:
    m = parsePb(pb.CreateGroupRequest, body)
    g = m.group
    return CreateGroup(groupInfoFromPb(g.group_info),
                       tuple(groupMemberFromPb(x) for x in g.members),
                       tuple(m.to_line), optionalContentFromPb(m))


def _gcFromWs(content: Any) -> CreateGroup:
    o = jobj(content)
    info = groupInfoFromJson(o.get("groupInfo") if o.get("groupInfo") is not None else {})
    # Upstream forces the group type to 0 on WebSocket.
    info = GroupInfo(info.targetId, info.name, info.portrait, info.owner, 0,
                     info.memberCount, info.extra, info.updateDt, info.memberUpdateDt)
    return CreateGroup(info, _members(o), jints32(o.get("lines"), "lines"),
                       optionalContentFromJson(o.get("notifyContent")))


def _gcToTcp(r: CreateGroup) -> bytes:
    m = pb.CreateGroupRequest()
    groupInfoToPb(r.info, m.group.group_info)
    for member in r.members:
        groupMemberToPb(member, m.group.members.add())
    m.to_line.extend(r.toLines)
    _notify(m, r.notifyContent)
    return m.SerializeToString()


class CreateGroupCommand(Command):
    """
    GC: create a group; TCP answers the group id, WebSocket a WsResult.
    """

    subsignal = int(SubSignal.GC)
    request = CreateGroup
    response = GroupCreated
    requestFromTcp = staticmethod(_gcFromTcp)
    requestFromWs = staticmethod(_gcFromWs)
    responseToTcp = staticmethod(lambda r: r.groupId.encode("utf-8"))
    requestToTcp = staticmethod(_gcToTcp)
    requestToWs = staticmethod(lambda r: _groupOpToWs({
        "groupInfo": groupInfoToJson(r.info),
        "groupMembers": [groupMemberToJson(x) for x in r.members]}, r))
    responseFromTcp = staticmethod(lambda body: GroupCreated(bytes(body).decode("utf-8")))


# -- pulls ---------------------------------------------------------------------

class PullGroupInfoCommand(Command):
    """
    GPGI: groups' info by id.
    """

    subsignal = int(SubSignal.GPGI)
    request = PullGroupInfo
    response = GroupInfoList
    wsEmpty = "[]"
    requestFromTcp = staticmethod(lambda body: PullGroupInfo(tuple(
        ps(r.uid) for r in parsePb(pb.PullUserRequest, body).request)))
    requestFromWs = staticmethod(lambda c: PullGroupInfo(jstrs(jlist(c, "GPGI content", []))))
    requestToTcp = staticmethod(lambda r: pb.PullUserRequest(request=[
        pb.UserRequest(uid=g) for g in r.groupIds]).SerializeToString())
    requestToWs = staticmethod(lambda r: list(r.groupIds))
    responseToTcp, responseToWs, responseFromTcp, responseFromWs = listResponses(
        pb.PullGroupInfoResult, "info", "groups", GroupInfoList, groupInfoToPb,
        groupInfoFromPb, groupInfoToJson, groupInfoFromJson)


class PullGroupMembersCommand(Command):
    """
    GPGM: a group's members updated after a version.
    """

    subsignal = int(SubSignal.GPGM)
    request = PullGroupMembers
    response = GroupMemberList
    wsEmpty = "[]"
    requestFromTcp = staticmethod(lambda body: (lambda m: PullGroupMembers(ps(m.target), m.head))(
        parsePb(pb.PullGroupMemberRequest, body)))
    requestFromWs = staticmethod(lambda c: (lambda o: PullGroupMembers(
        jstr(o.get("groupId")), jint(o.get("version"))))(jobj(c)))
    requestToTcp = staticmethod(lambda r: pb.PullGroupMemberRequest(
        target=r.groupId, head=r.head).SerializeToString())
    requestToWs = staticmethod(lambda r: {"groupId": r.groupId, "version": r.head})
    responseToTcp, responseToWs, responseFromTcp, responseFromWs = listResponses(
        pb.PullGroupMemberResult, "member", "members", GroupMemberList, groupMemberToPb,
        groupMemberFromPb, groupMemberToJson, groupMemberFromJson)


# -- member and info changes (code only) ---------------------------------------

def _gamFromTcp(body: bytes) -> AddGroupMembers:
    m = parsePb(pb.AddGroupMemberRequest, body)
    return AddGroupMembers(ps(m.group_id), tuple(groupMemberFromPb(x) for x in m.added_member),
                           tuple(m.to_line), optionalContentFromPb(m))


def _gamToTcp(r: AddGroupMembers) -> bytes:
    m = pb.AddGroupMemberRequest(group_id=r.groupId, to_line=r.toLines)
    for member in r.members:
        groupMemberToPb(member, m.added_member.add())
    _notify(m, r.notifyContent)
    return m.SerializeToString()


class AddGroupMembersCommand(Command):
    """
    GAM: add members.
    """

    subsignal = int(SubSignal.GAM)
    request = AddGroupMembers
    requestFromTcp = staticmethod(_gamFromTcp)
    requestFromWs = staticmethod(lambda c: (lambda o: AddGroupMembers(
        jstr(o.get("groupId")), _members(o), *_groupOpFromWs(o)))(jobj(c)))
    requestToTcp = staticmethod(_gamToTcp)
    requestToWs = staticmethod(lambda r: _groupOpToWs({
        "groupId": r.groupId, "groupMembers": [groupMemberToJson(x) for x in r.members]}, r))


class KickGroupMembersCommand(Command):
    """
    GKM: remove members.
    """

    subsignal = int(SubSignal.GKM)
    request = KickGroupMembers
    requestFromTcp = staticmethod(lambda body: (lambda m: KickGroupMembers(
        ps(m.group_id), pss(m.removed_member), tuple(m.to_line), optionalContentFromPb(m)))(
            parsePb(pb.RemoveGroupMemberRequest, body)))
    requestFromWs = staticmethod(lambda c: (lambda o: KickGroupMembers(
        jstr(o.get("groupId")), jstrs(o.get("memberIds"), "memberIds"),
        *_groupOpFromWs(o)))(jobj(c)))
    requestToTcp = staticmethod(_groupToTcp(pb.RemoveGroupMemberRequest,
                                            removed_member=lambda r: r.memberIds))
    requestToWs = staticmethod(lambda r: _groupOpToWs({"groupId": r.groupId,
                                                       "memberIds": list(r.memberIds)}, r))


def _groupChange(subsignal: int, request: Any, message: Any, doc: str) -> Type[Command]:
    """
    The command of a code-only change of one group whose request is only
    (groupId, toLines, notifyContent): GQ and GD.
    """
    return cast(Type[Command], type(request.__name__ + "Command", (Command,), {
        "__doc__": doc, "__module__": __name__, "subsignal": int(subsignal), "request": request,
        "requestFromTcp": staticmethod(lambda body: (lambda m: request(
            ps(m.group_id), tuple(m.to_line), optionalContentFromPb(m)))(parsePb(message, body))),
        "requestFromWs": staticmethod(lambda c: (lambda o: request(
            jstr(o.get("groupId")), *_groupOpFromWs(o)))(jobj(c))),
        "requestToTcp": staticmethod(_groupToTcp(message)),
        "requestToWs": staticmethod(lambda r: _groupOpToWs({"groupId": r.groupId}, r)),
    }))


#: GQ: leave a group.
QuitGroupCommand = _groupChange(SubSignal.GQ, QuitGroup, pb.QuitGroupRequest,
                                "GQ: leave a group.")

#: GD: dismiss a group.
DismissGroupCommand = _groupChange(SubSignal.GD, DismissGroup, pb.DismissGroupRequest,
                                   "GD: dismiss a group.")


class ModifyGroupInfoCommand(Command):
    """
    GMI: change a group's info field.
    """

    subsignal = int(SubSignal.GMI)
    request = ModifyGroupInfo
    requestFromTcp = staticmethod(lambda body: (lambda m: ModifyGroupInfo(
        ps(m.group_id), m.type, ps(m.value), tuple(m.to_line), optionalContentFromPb(m)))(
            parsePb(pb.ModifyGroupInfoRequest, body)))
    requestFromWs = staticmethod(lambda c: (lambda o: ModifyGroupInfo(
        jstr(o.get("groupId")), jint32(o.get("type")), jstr(o.get("value")),
        *_groupOpFromWs(o)))(jobj(c)))
    requestToTcp = staticmethod(_groupToTcp(pb.ModifyGroupInfoRequest, type=lambda r: r.type,
                                            value=lambda r: r.value))
    requestToWs = staticmethod(lambda r: _groupOpToWs({"groupId": r.groupId, "type": r.type,
                                                       "value": r.value}, r))


COMMANDS = (CreateGroupCommand, PullGroupInfoCommand, PullGroupMembersCommand,
            AddGroupMembersCommand, KickGroupMembersCommand, QuitGroupCommand,
            DismissGroupCommand, ModifyGroupInfoCommand)
