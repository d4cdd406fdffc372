# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
Regenerate C{fxim/wire/im_pb2.py} from C{fxim/wire/im.proto}.

Run C{python -m fxim.wire.regen} with the pinned generator installed
(C{pip install .[dev]}: grpcio-tools, whose protoc matches the pinned
protobuf runtime).  The output is committed, so installing fxim never needs
protoc.
"""

import os
import sys


def main() -> int:
    from grpc_tools import protoc  # type: ignore[import-untyped]

    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    return protoc.main(
        ["protoc", "-I" + root, "--python_out=" + root,
         os.path.join(root, "fxim", "wire", "im.proto")]
    )


if __name__ == "__main__":
    sys.exit(main())
