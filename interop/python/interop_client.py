"""The interop test cases on grpcio (gRPC C-core), for `cargo xtask interop`.

The cases grpcio can express, as the interop spec describes them (grpc/doc/interop-test-
descriptions.md). Not here: cacheable_unary (no GET), client_compressed_streaming (no
per-message compression switch) and server_compressed_* (grpcio does not say whether a
response arrived compressed).

    python interop_client.py --server_host H --server_port N --test_case NAME
        [--use_tls [--use_test_ca] [--ca_file F] [--server_host_override NAME]]

Prints `PASS case`, `FAIL case: why` or `SKIP case: why`, and exits 1 if a case failed.
`--test_case all` runs every case.
"""

import argparse
import queue
import sys
import traceback

import grpc

from interop_stubs import CA_FILE, empty_pb2, flag, messages_pb2, test_pb2_grpc

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"


class Failure(Exception):
    pass


def check(condition, why):
    if not condition:
        raise Failure(why)


def payload(size):
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=b"\0" * size)


def check_body(response, size):
    got = len(response.payload.body)
    check(got == size, f"response payload of {got} bytes, expected {size}")


def expect_error(code, call, details=None):
    """Runs call(), which must fail with `code` (and `details`, if given)."""
    try:
        call()
    except grpc.RpcError as error:
        check(error.code() == code, f"status {error.code()} ({error.details()!r}), expected {code}")
        if details is not None:
            check(
                error.details() == details,
                f"status message {error.details()!r}, expected {details!r}",
            )
        return error
    raise Failure(f"call succeeded, expected {code}")


class Pipe:
    """A request iterator the test feeds one message at a time; close() ends it."""

    _CLOSE = object()

    def __init__(self):
        self._queue = queue.Queue()

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is self._CLOSE:
            raise StopIteration()
        return item

    def add(self, request):
        self._queue.put(request)

    def close(self):
        self._queue.put(self._CLOSE)


def empty_unary(stub, channel):
    response = stub.EmptyCall(empty_pb2.Empty())
    check(isinstance(response, empty_pb2.Empty), f"response {response!r} is not an Empty")


def large_unary(stub, channel):
    request = messages_pb2.SimpleRequest(
        response_type=messages_pb2.COMPRESSABLE, response_size=314159, payload=payload(271828)
    )
    check_body(stub.UnaryCall(request), 314159)


def client_compressed_unary(stub, channel):
    def request(expect_compressed):
        return messages_pb2.SimpleRequest(
            response_type=messages_pb2.COMPRESSABLE,
            response_size=314159,
            payload=payload(271828),
            expect_compressed=messages_pb2.BoolValue(value=expect_compressed),
        )

    # Probe: an uncompressed request that claims otherwise must be refused.
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, lambda: stub.UnaryCall(request(True)))
    check_body(stub.UnaryCall(request(True), compression=grpc.Compression.Gzip), 314159)
    check_body(stub.UnaryCall(request(False)), 314159)


def client_streaming(stub, channel):
    sizes = (27182, 8, 1828, 45904)
    requests = (messages_pb2.StreamingInputCallRequest(payload=payload(size)) for size in sizes)
    response = stub.StreamingInputCall(requests)
    got = response.aggregated_payload_size
    check(got == 74922, f"aggregated_payload_size {got}, expected 74922")


def server_streaming(stub, channel):
    sizes = (31415, 9, 2653, 58979)
    request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=size) for size in sizes],
    )
    responses = list(stub.StreamingOutputCall(request))
    check(len(responses) == len(sizes), f"{len(responses)} responses, expected {len(sizes)}")
    for response, size in zip(responses, sizes):
        check_body(response, size)


def ping_pong(stub, channel):
    pairs = ((31415, 27182), (9, 8), (2653, 1828), (58979, 45904))
    pipe = Pipe()
    responses = stub.FullDuplexCall(pipe)
    for response_size, request_size in pairs:
        pipe.add(
            messages_pb2.StreamingOutputCallRequest(
                response_type=messages_pb2.COMPRESSABLE,
                response_parameters=[messages_pb2.ResponseParameters(size=response_size)],
                payload=payload(request_size),
            )
        )
        check_body(next(responses), response_size)
    pipe.close()
    rest = list(responses)
    check(not rest, f"{len(rest)} responses after the last request")


def empty_stream(stub, channel):
    responses = list(stub.FullDuplexCall(iter(())))
    check(not responses, f"{len(responses)} responses to an empty stream")


def custom_metadata(stub, channel):
    initial = (ECHO_INITIAL, "test_initial_metadata_value")
    trailing = (ECHO_TRAILING, b"\xab\xab\xab")
    metadata = (initial, trailing)

    def check_echo(call):
        got_initial = dict(call.initial_metadata()).get(ECHO_INITIAL)
        check(got_initial == initial[1], f"initial metadata {ECHO_INITIAL}={got_initial!r}")
        got_trailing = dict(call.trailing_metadata()).get(ECHO_TRAILING)
        check(got_trailing == trailing[1], f"trailing metadata {ECHO_TRAILING}={got_trailing!r}")

    request = messages_pb2.SimpleRequest(
        response_type=messages_pb2.COMPRESSABLE, response_size=314159, payload=payload(271828)
    )
    response, call = stub.UnaryCall.with_call(request, metadata=metadata)
    check_body(response, 314159)
    check_echo(call)

    request = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=314159)],
        payload=payload(271828),
    )
    call = stub.FullDuplexCall(iter((request,)), metadata=metadata)
    responses = list(call)
    check(len(responses) == 1, f"{len(responses)} responses, expected 1")
    check_body(responses[0], 314159)
    check_echo(call)


def status_cases(stub, message):
    status = messages_pb2.EchoStatus(code=2, message=message)
    expect_error(
        grpc.StatusCode.UNKNOWN,
        lambda: stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status)),
        message,
    )
    request = messages_pb2.StreamingOutputCallRequest(response_status=status)
    expect_error(
        grpc.StatusCode.UNKNOWN, lambda: list(stub.FullDuplexCall(iter((request,)))), message
    )


def status_code_and_message(stub, channel):
    status_cases(stub, "test status message")


def special_status_message(stub, channel):
    # Unary only, as the spec has it.
    status = messages_pb2.EchoStatus(code=2, message=SPECIAL_MESSAGE)
    expect_error(
        grpc.StatusCode.UNKNOWN,
        lambda: stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status)),
        SPECIAL_MESSAGE,
    )


def unimplemented_method(stub, channel):
    expect_error(grpc.StatusCode.UNIMPLEMENTED, lambda: stub.UnimplementedCall(empty_pb2.Empty()))


def unimplemented_service(stub, channel):
    other = test_pb2_grpc.UnimplementedServiceStub(channel)
    expect_error(
        grpc.StatusCode.UNIMPLEMENTED, lambda: other.UnimplementedCall(empty_pb2.Empty())
    )


def cancel_after_begin(stub, channel):
    pipe = Pipe()
    future = stub.StreamingInputCall.future(pipe)
    future.cancel()
    pipe.close()
    check(future.cancelled(), "the call was not cancelled")
    check(future.code() == grpc.StatusCode.CANCELLED, f"status {future.code()}, expected CANCELLED")


def cancel_after_first_response(stub, channel):
    pipe = Pipe()
    responses = stub.FullDuplexCall(pipe)
    pipe.add(
        messages_pb2.StreamingOutputCallRequest(
            response_type=messages_pb2.COMPRESSABLE,
            response_parameters=[messages_pb2.ResponseParameters(size=31415)],
            payload=payload(27182),
        )
    )
    check_body(next(responses), 31415)
    responses.cancel()
    pipe.close()
    expect_error(grpc.StatusCode.CANCELLED, lambda: next(responses))


def timeout_on_sleeping_server(stub, channel):
    pipe = Pipe()
    responses = stub.FullDuplexCall(pipe, timeout=0.001)
    pipe.add(messages_pb2.StreamingOutputCallRequest(payload=payload(27182)))
    try:
        expect_error(grpc.StatusCode.DEADLINE_EXCEEDED, lambda: next(responses))
    finally:
        pipe.close()


CASES = {
    case.__name__: case
    for case in (
        empty_unary,
        large_unary,
        client_compressed_unary,
        client_streaming,
        server_streaming,
        ping_pong,
        empty_stream,
        custom_metadata,
        status_code_and_message,
        special_status_message,
        unimplemented_method,
        unimplemented_service,
        cancel_after_begin,
        cancel_after_first_response,
        timeout_on_sleeping_server,
    )
}
NOT_EXPRESSIBLE = {
    "cacheable_unary": "grpcio cannot send a GET",
    "client_compressed_streaming": "grpcio cannot compress one message of a stream and not the next",
    "server_compressed_unary": "grpcio does not say whether a response was compressed",
    "server_compressed_streaming": "grpcio does not say whether a response was compressed",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server_host", default="localhost")
    parser.add_argument("--server_port", type=int, default=10000)
    parser.add_argument("--server_host_override", default="")
    parser.add_argument("--test_case", default="large_unary")
    parser.add_argument("--use_tls", type=flag, nargs="?", const=True, default=False)
    parser.add_argument("--use_test_ca", type=flag, nargs="?", const=True, default=False)
    parser.add_argument("--ca_file", default="")
    args = parser.parse_args()

    target = f"{args.server_host}:{args.server_port}"
    if args.use_tls:
        root = None
        if args.use_test_ca:
            with open(args.ca_file or CA_FILE, "rb") as file:
                root = file.read()
        options = []
        if args.server_host_override:
            options.append(("grpc.ssl_target_name_override", args.server_host_override))
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root), options)
    else:
        channel = grpc.insecure_channel(target)
    stub = test_pb2_grpc.TestServiceStub(channel)

    names = list(CASES) if args.test_case == "all" else [args.test_case]
    failed = False
    with channel:
        for name in names:
            case = CASES.get(name)
            if case is None and name in NOT_EXPRESSIBLE:
                print(f"SKIP {name}: {NOT_EXPRESSIBLE[name]}", flush=True)
                continue
            if case is None:
                print(f"FAIL {name}: not an interop case this client knows", flush=True)
                failed = True
                continue
            try:
                case(stub, channel)
            except Failure as failure:
                print(f"FAIL {name}: {failure}", flush=True)
                failed = True
            except grpc.RpcError as error:
                print(f"FAIL {name}: {error.code()} {error.details()!r}", flush=True)
                failed = True
            except Exception as error:  # noqa: BLE001 - a broken case is a failed case
                traceback.print_exc()
                print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
                failed = True
            else:
                print(f"PASS {name}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
