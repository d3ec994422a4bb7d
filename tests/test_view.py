"""`kij view` and `kij frames --html` on real captures: the page holds exactly the
capture's messages, needs nothing from the network, and the terminal's counts are
the capture's. Bad input is one line and exit 2; a cut-off trace draws what is whole.

The captures come from real kernels: one `kij frames --save` run (module-scoped),
and a tap trace written while two jupyter_client clients used a kij-tap kernel.
(The browser's side of the page is tests/test_view_browser.py.)
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import KijRunner, no_traceback
from kij import trace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_view import replicated  # noqa: E402  (the benchmark's way of making a long real trace)

DATA = re.compile(r'<script type="application/json" id="kij-capture">(.*?)</script>', re.S)


def page_data(text: str) -> dict:
    """The capture data embedded in a page."""
    found = DATA.search(text)
    assert found, "no embedded capture in the page"
    return json.loads(found.group(1))


def external_references(text: str) -> list[str]:
    """Anything in the page that would make the browser fetch: src/href/url() that is
    not a data: URI or an in-page #anchor, and any import or fetch."""
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', text) + re.findall(r"url\(([^)]*)\)", text)
    bad = [r for r in refs if not r.startswith(("data:", "#"))]
    bad += re.findall(r"\b(?:fetch|XMLHttpRequest|importScripts|WebSocket)\s*\(", text)
    return bad


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One real `kij frames` run: its --save capture and its --html page."""
    where = tmp_path_factory.mktemp("frames")
    kij = KijRunner(where)
    run = kij.run("frames", "--save", str(where / "capture.json"), "--html", str(where / "frames.html"))
    assert run.returncode == 0, run.stderr
    return where / "capture.json", where / "frames.html", run


def test_frames_html_writes_the_page_beside_the_usual_output(saved):
    capture, page, run = saved
    assert "kij frames" in run.stdout  # the usual output is still there
    data = page_data(page.read_text())
    cap = trace.load(capture)
    assert len(data["messages"]) == len(cap.messages)
    assert [m["s"] for m in data["messages"]] == [r.seq for r in cap.messages]


def test_view_draws_every_message_in_one_self_contained_page(saved, kij, tmp_path):
    capture, _, _ = saved
    out = tmp_path / "page.html"
    run = kij.run("view", str(capture), "-o", str(out))
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert text.lstrip().lower().startswith("<!doctype html")
    assert external_references(text) == []
    cap = trace.load(capture)
    data = page_data(text)
    assert len(data["messages"]) == len(cap.messages)
    assert Counter(m["c"] for m in data["messages"]) == Counter(r.channel for r in cap.messages)
    # the signatures as kij checked them, the forged one included
    assert [m.get("v") for m in data["messages"]] == [r.signature_valid for r in cap.messages]
    assert any(r.signature_valid is False for r in cap.messages)
    # the terminal's counts are the capture's
    assert f"{len(cap.messages)} messages from {capture}" in run.stdout
    for channel, n in Counter(r.channel for r in cap.messages).items():
        assert f"{channel} {n}" in run.stdout
    assert str(out) in run.stdout


def test_view_json_facts_are_the_captures(saved, kij, tmp_path):
    capture, _, _ = saved
    run = kij.run("view", str(capture), "-o", str(tmp_path / "p.html"), "--json")
    assert run.returncode == 0, run.stderr
    facts = json.loads(run.stdout)
    cap = trace.load(capture)
    ids = {r.msg_id for r in cap.messages if r.msg_id}
    assert facts["messages"] == len(cap.messages)
    assert facts["replies_tied"] == sum(1 for r in cap.messages if r.parent_msg_id in ids)
    assert facts["marked"] == {"forged": 1, "replayed": 1}
    assert facts["page_bytes"] == (tmp_path / "p.html").stat().st_size


def test_default_page_goes_beside_the_capture(saved, kij, tmp_path):
    capture, _, _ = saved
    copy = tmp_path / "mine.json"
    copy.write_text(capture.read_text())
    run = kij.run("view", str(copy))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "mine.html").exists()


def test_a_truncated_trace_draws_what_is_whole_and_says_what_was_dropped(saved, kij, tmp_path):
    cap = trace.load(saved[0])
    jsonl = tmp_path / "trace.jsonl"
    trace.save(cap, jsonl)
    lines = jsonl.read_text().rstrip("\n").split("\n")  # a head line, then one line per record
    lines.insert(5, "this line is not a record")
    cut = "\n".join(lines)
    jsonl.write_text(cut[: len(cut) - 40])  # the last record cut off mid-line, as a killed writer leaves it
    run = kij.run("view", str(jsonl), "-o", str(tmp_path / "p.html"))
    assert run.returncode == 0, run.stderr
    assert "dropped 2 line(s)" in run.stdout
    assert "line 6: not JSON" in run.stdout
    assert f"line {len(lines)}: not JSON" in run.stdout
    data = page_data((tmp_path / "p.html").read_text())
    assert len(data["messages"]) == len(cap.messages) - 1
    assert data["dropped"] == ["line 6: not JSON (25 characters)", data["dropped"][1]]


def test_strict_load_still_refuses_a_truncated_trace(saved, tmp_path):
    """kij frames --load keeps its strictness: only kij view draws around bad lines."""
    jsonl = tmp_path / "t.jsonl"
    trace.save(trace.load(saved[0]), jsonl)
    jsonl.write_text(jsonl.read_text()[:-30])
    with pytest.raises(Exception, match="is not JSON"):
        trace.load(jsonl)


def bad_inputs(tmp_path: Path, capture: Path) -> list[tuple[list[str], str]]:
    text = tmp_path / "notes.txt"
    text.write_text("hello\nworld\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    no_messages = tmp_path / "none.json"
    no_messages.write_text(json.dumps({"format": "kij-frames/1", "messages": []}))
    only_cut = tmp_path / "cut.jsonl"
    only_cut.write_text('{"seq": 0, "channel": "shell", "direction": "to_ke')
    return [
        ([str(text)], "nothing to draw — line 1: not JSON"),
        ([str(empty)], "is not a kij frames capture"),
        ([str(no_messages)], "no messages in it"),
        ([str(only_cut)], "nothing to draw — line 1: not JSON"),
        ([str(tmp_path / "missing.json")], "no such capture file"),
        ([str(tmp_path)], "is a directory"),
        ([str(capture), "-o", str(tmp_path / "no" / "such" / "p.html")], "no such directory"),
        ([str(capture), "-o", str(capture)], "would overwrite the capture itself"),
    ]


def test_bad_input_is_one_line_and_exit_2(saved, kij, tmp_path):
    for args, expected in bad_inputs(tmp_path, saved[0]):
        run = kij.run("view", *args)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert expected in run.stderr, (args, run.stderr)
        assert no_traceback(run.stderr) and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert run.stdout == ""


def test_open_without_a_desktop_says_where_the_file_is(saved, kij, tmp_path):
    out = tmp_path / "p.html"
    env = {k: "" for k in ("DISPLAY", "WAYLAND_DISPLAY")}
    run = kij.run("view", str(saved[0]), "-o", str(out), "--open", env=env)
    assert run.returncode == 0, run.stderr
    assert f"no desktop browser here (no display); open {out} in a browser" in " ".join(run.stdout.split())


def test_open_hands_the_page_to_the_desktops_browser(saved, kij, tmp_path):
    """$BROWSER is the first browser Python's webbrowser module tries: a script that
    writes down the address it was given stands in for the desktop's browser."""
    got = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {got}\n')
    browser.chmod(0o755)
    out = tmp_path / "p.html"
    run = kij.run("view", str(saved[0]), "-o", str(out), "--open",
                  env={"DISPLAY": ":99", "BROWSER": str(browser)})
    assert run.returncode == 0, run.stderr
    assert got.read_text() == out.resolve().as_uri()
    assert "opened" in run.stdout


def test_repr_html_is_the_page_in_a_sandboxed_iframe(saved):
    cap = trace.load(saved[0])
    out = cap._repr_html_()
    assert out.startswith("<iframe") and 'sandbox="allow-scripts"' in out
    srcdoc = html_lib.unescape(re.search(r'srcdoc="([^"]*)"', out).group(1))
    assert len(page_data(srcdoc)["messages"]) == len(cap.messages)


def test_a_thousand_messages_make_a_page_under_a_megabyte(saved, tmp_path):
    from kij.views import html

    page = html.page(replicated(trace.load(saved[0]), 1000))
    assert len(page_data(page)["messages"]) == 1000
    assert len(page.encode("utf-8")) <= 1_000_000


def test_long_strings_are_cut_and_say_so(saved):
    from kij.views import html

    cap = trace.load(saved[0])
    rec = next(r for r in cap.messages if r.msg_type == "stream")
    rec.content = {**rec.content, "text": "x" * 50_000}
    frame = next(f for f in rec.frames if f.role == "content")  # the bytes say the same as the decoded JSON
    frame.text = json.dumps(rec.content)
    frame.length = len(frame.text.encode())
    data = page_data(html.page(cap))
    text = next(m for m in data["messages"] if m["s"] == rec.seq)["ct"]["text"]
    assert text.startswith("x" * html.LONG_TEXT) and text.endswith("(48000 more characters not kept in this page)")


def test_script_data_cannot_close_its_script_element(saved):
    from kij.views import html

    cap = trace.load(saved[0])
    rec = next(r for r in cap.messages if r.msg_type == "stream")
    rec.content = {**rec.content, "text": "</script><script>alert(1)</script>"}
    page = html.page(cap)
    assert page.count("</script>") == 2  # the data's and the renderer's own
    assert any(m.get("ct", {}).get("text", "").startswith("</script>") for m in page_data(page)["messages"])


def test_the_view_fits_80_columns(saved, kij, tmp_path):
    run = kij.run("view", str(saved[0]), "-o", str(tmp_path / "p.html"), env={"COLUMNS": "80"})
    assert run.returncode == 0
    assert max(len(line) for line in run.stdout.splitlines()) <= 80


def test_the_compact_render_is_short(saved, tmp_path):
    from rich.console import Console

    from kij.lessons import view as lesson
    from kij.views import view

    result = lesson.run(str(saved[0]), str(tmp_path / "p.html"))
    console = Console(record=True, width=80)
    console.print(view.render(result, compact=True))
    assert len(console.export_text().splitlines()) <= 20
    assert os.path.exists(result.page)


def test_frames_html_is_checked_before_a_kernel_boots(kij, tmp_path):
    run = kij.run("frames", "--html", str(tmp_path / "no" / "such" / "p.html"))
    assert run.returncode == 2 and "no such directory" in run.stderr
    assert no_traceback(run.stderr) and run.stdout == ""


def test_frames_load_html_draws_a_saved_capture(saved, kij, tmp_path):
    run = kij.run("frames", "--load", str(saved[0]), "--html", str(tmp_path / "p.html"))
    assert run.returncode == 0, run.stderr
    assert len(page_data((tmp_path / "p.html").read_text())["messages"]) == len(trace.load(saved[0]).messages)
