"""Robustness: the native kernel survives malformed multipart messages and never runs an unbelieved one.

One kij-native kernel for the whole module. Hypothesis throws broken messages at its
shell and control sockets over real zmq; after each example we check, by waiting on
real replies, that the process is alive, the heartbeat echoes, the next valid request
is answered, and that no marker file was created by code riding in a message the
kernel should have rejected. Signing uses jupyter_client's Session, the reference.
"""

from __future__ import annotations

import uuid

import pytest
import zmq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session

from conftest import raw_dealers

DELIM = b"<IDS|MSG>"
REPLY_TIMEOUT_MS = 5000


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    runtime = tmp_path_factory.mktemp("runtime")
    patch = pytest.MonkeyPatch()
    patch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    km = KernelManager(kernel_name="kij-native")
    km.start_kernel()
    info = km.get_connection_info(session=False)
    context = zmq.Context()
    sockets = raw_dealers(context, info)
    try:
        yield Wire(km, info, context, sockets, tmp_path_factory.mktemp("markers"))
    finally:
        for socket in sockets.values():
            socket.close()
        context.term()
        km.shutdown_kernel()
        patch.undo()
        assert list(runtime.iterdir()) == [], "connection file left behind"


class Wire:
    """Raw sockets onto the kernel, plus the session that signs like a real client."""

    def __init__(self, km, info, context, sockets, markers):
        self.km, self.info, self.context, self.sockets, self.markers = km, info, context, sockets, markers
        self.session = Session(key=info["key"], signature_scheme=info["signature_scheme"])

    def frames(self, msg_type: str, content: dict) -> tuple[str, list[bytes]]:
        msg = self.session.msg(msg_type, content)
        return msg["header"]["msg_id"], self.session.serialize(msg)

    def marker_code(self) -> tuple[str, object]:
        marker = self.markers / uuid.uuid4().hex
        return f"open({str(marker)!r}, 'w').close()", marker

    def request(self, channel: str, msg_type: str, content: dict) -> dict:
        """Send a valid request and wait for the reply to it (earlier rubbish on the socket is behind it)."""
        msg_id, frames = self.frames(msg_type, content)
        socket = self.sockets[channel]
        socket.send_multipart(frames)
        while socket.poll(REPLY_TIMEOUT_MS):
            reply = self.session.deserialize(self.session.feed_identities(socket.recv_multipart())[1])
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
        raise AssertionError(f"no {msg_type} reply on {channel} within {REPLY_TIMEOUT_MS} ms")

    def heartbeat_answers(self) -> bool:
        with self.context.socket(zmq.REQ) as hb:
            hb.linger = 0
            hb.connect(f"tcp://{self.info['ip']}:{self.info['hb_port']}")
            hb.send(b"ping")
            return bool(hb.poll(REPLY_TIMEOUT_MS)) and hb.recv() == b"ping"

    def assert_healthy(self) -> None:
        assert self.km.is_alive(), "the kernel process died"
        assert self.heartbeat_answers(), "the heartbeat stopped answering"
        for channel in ("shell", "control"):
            assert self.request(channel, "kernel_info_request", {})["content"]["status"] == "ok"


# ---------------------------------------------------------------- ways to break a message

def drop_delimiter(frames, data):
    return [f for f in frames if f != DELIM]


def flip_signature_byte(frames, data):
    i = frames.index(DELIM) + 1
    signature = bytearray(frames[i])
    position = data.draw(st.integers(0, len(signature) - 1))
    signature[position] ^= data.draw(st.integers(1, 255))
    return [*frames[:i], bytes(signature), *frames[i + 1 :]]


def empty_signature(frames, data):
    i = frames.index(DELIM) + 1
    return [*frames[:i], b"", *frames[i + 1 :]]


def drop_signature(frames, data):
    i = frames.index(DELIM) + 1
    return [*frames[:i], *frames[i + 1 :]]


def truncate(frames, data):
    return frames[: data.draw(st.integers(0, len(frames) - 1))]


def corrupt_a_part(frames, data):
    i = frames.index(DELIM) + 2 + data.draw(st.integers(0, 3))  # header, parent, metadata or content
    return [*frames[:i], data.draw(st.binary(max_size=64)), *frames[i + 1 :]]


def oversized_content(frames, data):
    i = frames.index(DELIM) + 5
    return [*frames[:i], frames[i] + b" " * 2_000_000, *frames[i + 1 :]]


def extra_identities(frames, data):
    # routing identities are never the delimiter itself (Hypothesis also tries this
    # module's constants, and a drop_delimiter'd message plus an "identity" b"<IDS|MSG>"
    # would be a valid message again)
    identity = st.binary(min_size=1, max_size=16).filter(lambda b: b != DELIM)
    return [*data.draw(st.lists(identity, max_size=3)), *frames]


BREAKERS = [drop_delimiter, flip_signature_byte, empty_signature, drop_signature,
            truncate, corrupt_a_part, oversized_content]


@pytest.mark.parametrize("channel", ["shell", "control"])
@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda b: b.__name__)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_broken_messages_are_never_run_and_never_crash(kernel, data, channel, breaker):
    code, marker = kernel.marker_code()
    _, valid = kernel.frames("execute_request", {"code": code, "silent": False})
    frames = breaker(valid, data)
    assume(frames != valid)  # e.g. a "corrupted" part that happens to equal the original
    if data.draw(st.booleans()):
        frames = extra_identities(frames, data)
    kernel.sockets[channel].send_multipart(frames or [b""])
    kernel.assert_healthy()
    assert not marker.exists(), f"the kernel ran a message it should have rejected ({breaker.__name__})"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(st.binary(max_size=200), min_size=1, max_size=8), channel=st.sampled_from(["shell", "control"]))
def test_random_frames_never_crash(kernel, frames, channel):
    kernel.sockets[channel].send_multipart(frames)
    kernel.assert_healthy()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.binary(max_size=100), min_size=4, max_size=4), channel=st.sampled_from(["shell", "control"]))
def test_correctly_signed_rubbish_never_crashes(kernel, parts, channel):
    """Signed with the real key, so it passes the HMAC check: parsing must still hold up."""
    frames = [DELIM, kernel.session.sign(parts), *parts]
    kernel.sockets[channel].send_multipart(frames)
    kernel.assert_healthy()


@pytest.mark.parametrize("content", [{"code": 5}, {"code": None}, {"cursor_pos": "x"}, {}])
@pytest.mark.parametrize("msg_type", ["execute_request", "complete_request", "inspect_request",
                                      "is_complete_request", "history_request", "no_such_request"])
def test_signed_requests_with_wrong_field_types_never_crash(kernel, msg_type, content):
    _, frames = kernel.frames(msg_type, content)
    kernel.sockets["shell"].send_multipart(frames)
    kernel.assert_healthy()


def test_a_replayed_message_is_refused(kernel):
    counter = kernel.markers / "counter"
    _, frames = kernel.frames("execute_request", {"code": f"open({str(counter)!r}, 'a').write('x')"})
    kernel.sockets["shell"].send_multipart(frames)
    kernel.assert_healthy()
    kernel.sockets["shell"].send_multipart(frames)  # the very same bytes, signature included
    kernel.assert_healthy()
    assert counter.read_text() == "x", "the replayed execute_request ran a second time"


def test_a_forged_signature_is_refused(kernel):
    code, marker = kernel.marker_code()
    forger = Session(key=b"not-the-key", signature_scheme=kernel.info["signature_scheme"])
    kernel.sockets["shell"].send_multipart(forger.serialize(forger.msg("execute_request", {"code": code})))
    kernel.assert_healthy()
    assert not marker.exists()
    code, marker = kernel.marker_code()  # and the same code, properly signed, does run
    kernel.request("shell", "execute_request", {"code": code})
    assert marker.exists()
