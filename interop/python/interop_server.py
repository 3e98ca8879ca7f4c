"""A grpc.testing.TestService server on grpcio (gRPC C-core), for `cargo xtask interop`.

It serves what grpcio can express of the interop cases' server side: EmptyCall; UnaryCall
with response_size, response_status, response_compressed and the echo metadata
(x-grpc-test-echo-initial, x-grpc-test-echo-trailing-bin); StreamingOutputCall with
interval_us and per-message compression; StreamingInputCall; FullDuplexCall and
HalfDuplexCall with echo metadata and response_status. It cannot tell whether a request
arrived compressed, so it ignores expect_compressed (no client_compressed_* cases), and it
has no CacheableUnaryCall.

    python interop_server.py --port N [--use_tls [--tls_cert_file F --tls_key_file F]]

Prints `listening on 127.0.0.1:PORT` once it accepts connections (--port 0 picks a port).
"""

import argparse
import sys
import time
from concurrent import futures

import grpc

from interop_stubs import CERT_FILE, KEY_FILE, empty_pb2, flag, messages_pb2, test_pb2_grpc

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def echo_metadata(context):
    """Echoes the two test headers: one in the initial metadata, one in the trailers."""
    metadata = dict(context.invocation_metadata())
    if ECHO_INITIAL in metadata:
        context.send_initial_metadata(((ECHO_INITIAL, metadata[ECHO_INITIAL]),))
    if ECHO_TRAILING in metadata:
        context.set_trailing_metadata(((ECHO_TRAILING, metadata[ECHO_TRAILING]),))


def check_status(request, context):
    """Ends the call with request.response_status when it asks for a non-OK code."""
    if request.HasField("response_status") and request.response_status.code != 0:
        code = STATUS_CODES.get(request.response_status.code, grpc.StatusCode.UNKNOWN)
        context.abort(code, request.response_status.message)


def payload(size):
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=b"\0" * size)


def stream_responses(requests, context):
    """FullDuplexCall / HalfDuplexCall: one response per ResponseParameters of each request."""
    for request in requests:
        check_status(request, context)
        for params in request.response_parameters:
            if params.interval_us:
                time.sleep(params.interval_us / 1e6)
            yield messages_pb2.StreamingOutputCallResponse(payload=payload(params.size))


class TestService(test_pb2_grpc.TestServiceServicer):
    def EmptyCall(self, request, context):
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        echo_metadata(context)
        check_status(request, context)
        if request.response_compressed.value:
            context.set_compression(grpc.Compression.Gzip)
        return messages_pb2.SimpleResponse(payload=payload(request.response_size))

    def StreamingOutputCall(self, request, context):
        check_status(request, context)
        compressed = [params.compressed.value for params in request.response_parameters]
        if any(compressed):
            context.set_compression(grpc.Compression.Gzip)
        for params, compress in zip(request.response_parameters, compressed):
            if params.interval_us:
                time.sleep(params.interval_us / 1e6)
            if any(compressed) and not compress:
                context.disable_next_message_compression()
            yield messages_pb2.StreamingOutputCallResponse(payload=payload(params.size))

    def StreamingInputCall(self, request_iterator, context):
        size = sum(len(request.payload.body) for request in request_iterator)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=size)

    def FullDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        yield from stream_responses(request_iterator, context)

    def HalfDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        requests = list(request_iterator)
        yield from stream_responses(requests, context)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=10000)
    parser.add_argument("--use_tls", type=flag, nargs="?", const=True, default=False)
    parser.add_argument("--tls_cert_file", default=CERT_FILE)
    parser.add_argument("--tls_key_file", default=KEY_FILE)
    args = parser.parse_args()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    test_pb2_grpc.add_TestServiceServicer_to_server(TestService(), server)
    address = f"127.0.0.1:{args.port}"
    if args.use_tls:
        with open(args.tls_key_file, "rb") as key, open(args.tls_cert_file, "rb") as cert:
            credentials = grpc.ssl_server_credentials(((key.read(), cert.read()),))
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        sys.exit(f"cannot listen on {address}")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(0)


if __name__ == "__main__":
    main()
