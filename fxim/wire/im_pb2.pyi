# The protobuf classes of im.proto are built at import time from a
# serialized descriptor (see im_pb2.py), so their names are not visible to
# type checkers: every attribute is Any.
from typing import Any

def __getattr__(name: str) -> Any: ...
