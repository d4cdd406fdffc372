# -*- test-case-name: fxim.test.unit.test_agents -*-
"""
Streaming AI agents: ordinary user ids whose 1:1 text messages are
forwarded to an answering service, the answer streamed back to the asker
as SAI frames and then stored as a message from the agent.

An agent is anything providing L{IAgent}: C{stream(question, userid)}
returns an async iterator of text chunks.  fxim ships two over HTTP
(L{fxim.agents.http}): the 飞享 agent service's C{POST /stream} (plain
text chunks) and OpenAI-compatible streaming chat completions (SSE).  A
Twisted plugin providing L{IAgentPlugin} can provide one in process.
"""

from zope.interface import Attribute, Interface


class IAgent(Interface):
    """
    Something that answers questions as a stream of text.
    """

    def stream(question, userid):
        """
        @param question: the user's text.
        @param userid: the asking user's uid (agents keep per-user context).
        @return: an async iterator of C{str} chunks; it raises on failure.
            Closing it early (C{aclose}) must release what it holds.
        """


class IAgentPlugin(IAgent):
    """
    An in-process agent found with C{getPlugins(IAgentPlugin)} in a
    C{twisted/plugins/} drop-in, chosen with C{--agent UID=plugin:NAME}.
    """

    name = Attribute("C{str}: the NAME in C{plugin:NAME}.")
