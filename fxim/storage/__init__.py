# -*- test-case-name: fxim.test.test_storage -*-
"""
Storage: the six store interfaces of L{fxim.interfaces} implemented in
memory (L{fxim.storage.memory.MemoryStore}), on SQLite and on PostgreSQL.
"""
