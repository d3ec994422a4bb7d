"""Robustness: the native kernel survives malformed multipart messages and never runs an unbelieved one.

One kij-native kernel for the whole module. Hypothesis throws broken messages at its
shell, control and stdin sockets over real zmq — truncated, re-signed wrongly,
oversized (megabytes in any signed frame), replayed (a signature already used, on
any channel, interleaved with valid traffic) — and after each example we check, by
waiting on real replies, that the process is alive, the heartbeat echoes, the next
valid request is answered, and that no marker file was created by code riding in a
message the kernel should have rejected. On stdin, a forged or replayed input_reply
must never become the value input() returns. Signing uses jupyter_client's Session,
the reference.
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
from kij.sniffer import address

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
    sockets = raw_dealers(context, info, channels=("control",))
    identity = uuid.uuid4().hex.encode()  # shell and stdin share it, so input_request finds our stdin
    for channel in ("shell", "stdin"):
        sockets[channel] = context.socket(zmq.DEALER)
        sockets[channel].linger = 0
        sockets[channel].identity = identity
        sockets[channel].connect(address(info, channel))
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
        self.sockets[channel].send_multipart(frames)
        return self.reply_to(msg_id, channel)

    def reply_to(self, msg_id: str, channel: str = "shell") -> dict:
        """The reply to msg_id on channel (skipping replies to other requests)."""
        socket = self.sockets[channel]
        while socket.poll(REPLY_TIMEOUT_MS):
            reply = self.session.deserialize(self.session.feed_identities(socket.recv_multipart())[1])
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
        raise AssertionError(f"no reply to {msg_id} on {channel} within {REPLY_TIMEOUT_MS} ms")

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


def oversized_signed_frame(frames, data):
    """Megabytes in the signature or any signed part (the signature no longer matches)."""
    i = frames.index(DELIM) + 1 + data.draw(st.integers(0, 4))
    size = data.draw(st.sampled_from([1 << 20, 8 << 20, 16 << 20]))
    return [*frames[:i], frames[i] + b"x" * size, *frames[i + 1 :]]


def signature_of_another_message(frames, data):
    """A real signature, from a message the kernel has not seen — on this message's parts."""
    session = Session(key=KEY_HOLDER["key"], signature_scheme="hmac-sha256")
    other = session.serialize(session.msg("kernel_info_request", {}))
    i = frames.index(DELIM) + 1
    return [*frames[:i], other[other.index(DELIM) + 1], *frames[i + 1 :]]


def extra_identities(frames, data):
    # routing identities are never the delimiter itself (Hypothesis also tries this
    # module's constants, and a drop_delimiter'd message plus an "identity" b"<IDS|MSG>"
    # would be a valid message again)
    identity = st.binary(min_size=1, max_size=16).filter(lambda b: b != DELIM)
    return [*data.draw(st.lists(identity, max_size=3)), *frames]


KEY_HOLDER: dict = {}  # the module kernel's key, for breakers that need a genuine signature

BREAKERS = [drop_delimiter, flip_signature_byte, empty_signature, drop_signature,
            truncate, corrupt_a_part, oversized_content, oversized_signed_frame, signature_of_another_message]


@pytest.mark.parametrize("channel", ["shell", "control", "stdin"])
@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda b: b.__name__)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_broken_messages_are_never_run_and_never_crash(kernel, data, channel, breaker):
    KEY_HOLDER["key"] = kernel.info["key"]
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
@given(frames=st.lists(st.binary(max_size=200), min_size=1, max_size=8),
       channel=st.sampled_from(["shell", "control", "stdin"]))
def test_random_frames_never_crash(kernel, frames, channel):
    kernel.sockets[channel].send_multipart(frames)
    kernel.assert_healthy()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.binary(max_size=100), min_size=4, max_size=4),
       channel=st.sampled_from(["shell", "control", "stdin"]))
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


def counting_execute(kernel) -> tuple[str, list[bytes], object]:
    """A valid execute_request that appends one 'x' to its own counter file each time it runs."""
    counter = kernel.markers / uuid.uuid4().hex
    msg_id, frames = kernel.frames("execute_request", {"code": f"open({str(counter)!r}, 'a').write('x')"})
    return msg_id, frames, counter


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_duplicate_signatures_interleaved_with_valid_traffic(kernel, data):
    """Replays of answered requests — on any channel, with other routing identities — between
    fresh valid ones: every fresh one runs exactly once and is answered, no replay runs."""
    sent = []
    for _ in range(data.draw(st.integers(2, 5))):
        msg_id, frames, counter = counting_execute(kernel)
        kernel.sockets["shell"].send_multipart(frames)
        sent.append((frames, counter))
        replays = data.draw(st.lists(st.tuples(st.integers(0, len(sent) - 1),
                                               st.sampled_from(["shell", "control", "stdin"]),
                                               st.booleans()), max_size=4))
        assert kernel.reply_to(msg_id)["content"]["status"] == "ok"  # it ran: its signature is used
        for index, channel, new_identity in replays:
            replay = sent[index][0]
            if new_identity:
                replay = [uuid.uuid4().bytes, *replay]
            kernel.sockets[channel].send_multipart(replay)
    kernel.assert_healthy()
    assert [counter.read_text() for _, counter in sent] == ["x"] * len(sent)


def ask_for_input(kernel) -> tuple[str, object]:
    """Run a cell that writes what input() returned to a file; return its msg_id once input_request came."""
    result = kernel.markers / uuid.uuid4().hex
    msg_id, frames = kernel.frames("execute_request", {
        "code": f"open({str(result)!r}, 'w').write(input('? '))", "allow_stdin": True})
    kernel.sockets["shell"].send_multipart(frames)
    stdin = kernel.sockets["stdin"]
    while stdin.poll(REPLY_TIMEOUT_MS):
        request = kernel.session.deserialize(kernel.session.feed_identities(stdin.recv_multipart())[1])
        if request["msg_type"] == "input_request" and request["parent_header"]["msg_id"] == msg_id:
            return msg_id, result
    raise AssertionError("no input_request on stdin")


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda b: b.__name__)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_forged_input_reply_never_answers_input(kernel, data, breaker):
    KEY_HOLDER["key"] = kernel.info["key"]
    msg_id, result = ask_for_input(kernel)
    _, forged = kernel.frames("input_reply", {"value": "forged"})
    broken = breaker(forged, data)
    assume(broken != forged)
    kernel.sockets["stdin"].send_multipart(broken or [b""])
    if kernel.__dict__.get("last_input_reply"):
        kernel.sockets["stdin"].send_multipart(kernel.last_input_reply)  # a replay of a used one
    _, genuine = kernel.frames("input_reply", {"value": "genuine"})
    kernel.sockets["stdin"].send_multipart(genuine)
    kernel.last_input_reply = genuine
    assert kernel.reply_to(msg_id)["content"]["status"] == "ok"
    assert result.read_text() == "genuine"
    kernel.assert_healthy()
