"""Loads the Python stubs of the interop protos (package grpc.testing).

`cargo xtask install-peers` generates them with grpc_tools.protoc into
target/peers/python-stubs/grpc/testing/ (override with GRPC_INTEROP_STUBS=DIR). The generated
modules import each other as `grpc.testing.*`, which would live inside grpcio's own `grpc`
package, so the stubs directory is added to that package's search path.
"""

import os

import grpc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STUBS = os.environ.get("GRPC_INTEROP_STUBS") or os.path.join(
    REPO, "target", "peers", "python-stubs"
)
if not os.path.isfile(os.path.join(STUBS, "grpc", "testing", "test_pb2_grpc.py")):
    raise SystemExit(
        f"no interop stubs in {STUBS}: run `cargo xtask install-peers` first"
    )
grpc.__path__.append(os.path.join(STUBS, "grpc"))

from grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc  # noqa: E402

# The repository's test TLS files (crates/grpc-transport/tests/data/README.md): server.pem is
# valid for localhost and 127.0.0.1 and signed by ca.pem.
TEST_DATA = os.path.join(REPO, "crates", "grpc-transport", "tests", "data")
CA_FILE = os.path.join(TEST_DATA, "ca.pem")
CERT_FILE = os.path.join(TEST_DATA, "server.pem")
KEY_FILE = os.path.join(TEST_DATA, "server.key")


def flag(text):
    """A boolean flag value in the reference programs' styles (`--use_tls`, `--use_tls=true`)."""
    value = str(text).lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


__all__ = ["empty_pb2", "messages_pb2", "test_pb2_grpc", "flag"]
