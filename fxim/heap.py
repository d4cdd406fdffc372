# -*- test-case-name: fxim.test.unit.test_heap -*-
"""
The cyclic garbage collector's settings for a running node.

Handling one message allocates a few hundred short-lived containers
(records, Deferreds, frames); reference counting frees nearly all of them
at once, but CPython's default young-generation threshold (700
allocations) still starts a collection every couple of messages, and each
collection walks every young object alive at that moment.  A higher
threshold lets most of them die first; freezing what startup made
(modules, plugins, configuration, prepared statements) keeps the older
collections from walking it again.
"""

import gc

#: Allocations between young collections once the node is ready.
YOUNG_THRESHOLD = 20000


def settle() -> None:
    """
    Once the node is ready: collect, freeze what is left (it lives as long
    as the process), and raise the young-generation threshold to at least
    L{YOUNG_THRESHOLD}.
    """
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
