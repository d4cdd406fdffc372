"""
C{python -m fxim.client}: the C{fxim-chat} command-line client.
"""

from fxim.client.cli import main

main()
