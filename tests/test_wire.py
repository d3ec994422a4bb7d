"""kij.wire against trusted references: hmac itself, and jupyter_client's Session."""

import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jupyter_client.session import Session
from jupyter_kernel_test.msgspec_v5 import validate_message

from kij import wire

KEY = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def reference_signature(key: bytes, parts: list[bytes]) -> bytes:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.hexdigest().encode()


@given(key=st.binary(min_size=1, max_size=64), parts=st.lists(st.binary(max_size=200), min_size=4, max_size=4))
def test_sign_is_hmac_sha256_over_the_four_parts(key, parts):
    assert wire.sign(key, parts) == reference_signature(key, parts)
    assert wire.verify(key, reference_signature(key, parts), parts)


def test_empty_key_means_no_signature():
    assert wire.sign("", [b"{}"] * 4) == b""


def test_unknown_scheme_is_refused():
    with pytest.raises(wire.WireError):
        wire.sign(KEY, [b"{}"] * 4, scheme="rot13")


def test_built_message_is_accepted_by_jupyter_client():
    msg = wire.build("execute_request", {"code": "1 + 1"}, key=KEY, session="s1")
    idents, rest = wire.split(msg.frames)
    assert idents == [] and rest[0] == msg.signature and len(msg.signature) == 64
    decoded = Session(key=KEY.encode()).deserialize(rest)  # raises on a bad signature
    assert decoded["header"]["msg_type"] == "execute_request"
    assert decoded["header"]["version"] == "5.3"
    assert decoded["content"] == {"code": "1 + 1"}
    assert decoded["header"]["msg_id"] == msg.msg_id


def test_built_request_follows_the_spec():
    content = {"code": "x", "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": True, "stop_on_error": True}
    msg = wire.parse(wire.build("execute_request", content, key=KEY, session="s").frames)
    validate_message({"header": msg.header, "parent_header": msg.parent_header,
                      "metadata": msg.metadata, "content": msg.content, "buffers": []})


def test_jupyter_client_message_is_parsed_and_verified():
    session = Session(key=KEY.encode())
    message = session.msg("stream", {"name": "stdout", "text": "hi\n"}, parent={"msg_id": "p1"})
    frames = [b"stream.stdout", *session.serialize(message, ident=None)]
    parsed = wire.parse(frames)
    assert parsed.identities == [b"stream.stdout"]
    assert parsed.msg_type == "stream" and parsed.content["text"] == "hi\n"
    assert parsed.parent_id == "p1"
    assert wire.verify(KEY, parsed.signature, parsed.signed_parts)
    assert not wire.verify("another key", parsed.signature, parsed.signed_parts)


def test_one_changed_signature_byte_fails_verification_and_jupyter_client():
    msg = wire.build("kernel_info_request", {}, key=KEY, session="s")
    forged = wire.with_signature_byte_changed(msg.frames)
    changed = [i for i, (a, b) in enumerate(zip(forged[1], msg.frames[1])) if a != b]
    assert changed == [0]
    assert forged[2:] == msg.frames[2:]
    parsed = wire.parse(forged)
    assert not wire.verify(KEY, parsed.signature, parsed.signed_parts)
    with pytest.raises(ValueError, match="Invalid Signature"):
        Session(key=KEY.encode()).deserialize(forged[1:])


def test_buffers_are_not_signed():
    msg = wire.build("comm_msg", {"data": {}}, key=KEY, session="s")
    parsed = wire.parse([*msg.frames, b"\x00\x01binary"])
    assert parsed.buffers == [b"\x00\x01binary"]
    assert wire.verify(KEY, parsed.signature, parsed.signed_parts)


@pytest.mark.parametrize("frames, problem", [
    ([b"a", b"b"], "delimiter"),
    ([wire.DELIMITER, b"sig", b"{}"], "frames after the delimiter"),
    ([wire.DELIMITER, b"sig", b"not json", b"{}", b"{}", b"{}"], "JSON"),
    ([wire.DELIMITER, b"sig", b"[1]", b"{}", b"{}", b"{}"], "object"),
])
def test_frames_that_are_not_a_message(frames, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.parse(frames)


def test_pack_is_compact_utf8_json():
    assert wire.pack({"text": "é"}) == json.dumps({"text": "é"}, ensure_ascii=False).encode()


def test_a_connection_files_text_key_signs_as_its_bytes_do():
    """key_bytes is the one place a connection file's text key becomes HMAC's bytes."""
    parts = [b"{}"] * 4
    assert wire.key_bytes(KEY) == KEY.encode() == wire.key_bytes(KEY.encode())
    assert wire.sign(KEY, parts) == reference_signature(KEY.encode(), parts)
    assert wire.sign(KEY, parts) == Session(key=wire.key_bytes(KEY)).sign(parts)


def test_is_utf8_refuses_what_pack_cannot_carry():
    """A command-line argument with bytes that are not UTF-8 arrives as lone surrogates."""
    import os

    not_utf8 = os.fsdecode(b"print('\xff')")
    assert wire.is_utf8("print('π')") and not wire.is_utf8(not_utf8)
    with pytest.raises(UnicodeEncodeError):
        wire.pack({"code": not_utf8})


def test_extra_header_fields_are_signed_and_accepted_by_jupyter_client():
    """JEP 91's subshell_id travels in the header, so the signature must cover it."""
    msg = wire.build("execute_request", {"code": "6 * 7"}, key=KEY, session="s1", header={"subshell_id": "sub-1"})
    _, rest = wire.split(msg.frames)
    decoded = Session(key=KEY.encode()).deserialize(rest)  # raises on a bad signature
    assert decoded["header"]["subshell_id"] == "sub-1" == msg.header["subshell_id"]
    assert decoded["header"]["msg_type"] == "execute_request" and decoded["header"]["msg_id"] == msg.msg_id
