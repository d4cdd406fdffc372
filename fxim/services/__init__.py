# -*- test-case-name: fxim.test.unit.test_auth -*-
"""
Services: the transport-independent logic behind handlers and HTTP
resources (L{fxim.services.auth} for accounts, tokens, login and CONNECT).
"""
