"""
fxim (飞享 IM): an instant-messaging server framework on Twisted that speaks
the universe_push (飞享) wire protocol byte for byte.
"""

__version__ = "0.1.0"
