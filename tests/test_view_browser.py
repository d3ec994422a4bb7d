"""`kij view`'s page in a real browser (Debian's chromium through Playwright): it loads
from file:// with no console error and no request, draws one element per message,
shows a message's frames on click and on Enter, filters, pages 5,000 messages through
a handful of elements, and draws lanes it learns from the data.

Screenshots are kept under each test's tmp dir and the latest copied to
/work/notes/shots/ (or $KIJ_SHOTS) for a person to look at.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest
from jupyter_client import BlockingKernelClient
from playwright.sync_api import expect

from conftest import CHROMIUM_ARGS, KijRunner, chromium_path
from kij import trace
from kij.views import html

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_view import replicated  # noqa: E402

CHROMIUM = chromium_path()
SHOTS = Path(os.environ.get("KIJ_SHOTS", "/work/notes/shots"))
pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium here: .ci/run installs Debian's chromium")]


def keep(shot: Path) -> None:
    """Copy a screenshot where the lead looks (when that directory can be made)."""
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SHOTS / shot.name)
    except OSError:
        pass


@pytest.fixture(scope="module")
def capture_file(tmp_path_factory) -> Path:
    """One real `kij frames --save` capture."""
    where = tmp_path_factory.mktemp("view-frames")
    run = KijRunner(where).run("frames", "--save", str(where / "capture.json"))
    assert run.returncode == 0, run.stderr
    return where / "capture.json"


@pytest.fixture(scope="module")
def capture(capture_file) -> trace.Capture:
    return trace.load(capture_file)


@pytest.fixture(scope="module")
def page_file(capture_file, tmp_path_factory) -> Path:
    """`kij view` of that capture, as a user runs it."""
    out = tmp_path_factory.mktemp("view-page") / "frames.html"
    run = KijRunner(out.parent).run("view", str(capture_file), "-o", str(out))
    assert run.returncode == 0, run.stderr
    return out


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Opened:
    """A page opened from file://, with every request and console error it made."""

    def __init__(self, browser, path: Path, viewport=None):
        self.url = path.as_uri()
        self.requests, self.errors = [], []
        self.page = browser.new_page(viewport=viewport or {"width": 1300, "height": 1300})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready]", timeout=60_000)

    def messages(self):
        return self.page.locator(".message")

    def shot(self, where: Path, name: str) -> Path:
        path = where / name
        self.page.screenshot(path=str(path), full_page=False)
        assert path.stat().st_size > 5_000
        keep(path)
        return path

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def opened(browser, page_file):
    page = Opened(browser, page_file)
    yield page
    page.close()


def test_loads_with_no_console_error_and_no_network_request(opened, capture, tmp_path):
    assert opened.errors == []
    assert [u for u in opened.requests if u != opened.url and not u.startswith("data:")] == []
    # one element per message (31 rows fit this window, so none is paged out)
    assert opened.messages().count() == len(capture.messages)
    assert opened.page.locator("body").get_attribute("data-total") == str(len(capture.messages))
    verdicts = Counter(r.signature_valid for r in capture.messages)
    assert (f"signatures: {verdicts[True]} valid ✓, {verdicts[False]} invalid ✗, {verdicts[None]} unsigned –"
            in opened.page.locator("#facts").inner_text())
    opened.shot(tmp_path, "view-overview.png")


def test_each_message_element_carries_its_msg_id_and_channel(opened, capture):
    got = opened.page.eval_on_selector_all(
        ".message", "els => els.map(e => [+e.dataset.seq, e.dataset.msgId, e.dataset.channel])")
    assert sorted(map(tuple, got)) == [(r.seq, r.msg_id or "", r.channel) for r in capture.messages]


def test_clicking_a_message_shows_its_frames_and_decoded_json(opened, capture, tmp_path):
    reply = next(r for r in capture.messages if r.msg_type == "execute_reply")
    assert opened.page.locator("#detail").is_hidden()
    opened.page.locator(f".message[data-seq='{reply.seq}']").click()
    detail = opened.page.locator("#detail")
    assert detail.is_visible()
    rows = detail.locator("table tr")
    assert rows.count() == len(reply.frames) + 1  # and the heading row
    for k, frame in enumerate(reply.frames):
        cells = rows.nth(k + 1).locator("td")
        assert cells.nth(1).inner_text() == frame.role
        assert cells.nth(2).inner_text() == str(frame.length)
    text = detail.inner_text()
    assert f'"status": "{reply.content["status"]}"' in text
    request = next(r for r in capture.messages if r.msg_id == reply.parent_msg_id)
    assert f"#{request.seq} execute_request" in text  # tied to the request it answers
    # the request's thread lights up: the request itself is marked as the parent
    assert "parent" in opened.page.locator(f".message[data-seq='{request.seq}']").get_attribute("class")
    opened.shot(tmp_path, "view-detail.png")


def test_the_filter_hides_what_it_should(opened, capture, tmp_path):
    counts = Counter(r.channel for r in capture.messages)
    opened.page.locator("#channels input[value='iopub']").uncheck()
    assert opened.page.locator(".message[data-channel='iopub']").count() == 0
    assert opened.messages().count() == len(capture.messages) - counts["iopub"]
    assert opened.page.locator("#count").inner_text() == \
        f"showing {len(capture.messages) - counts['iopub']} of {len(capture.messages)} messages"
    requests = [r for r in capture.messages if r.msg_type == "execute_request"]
    opened.page.select_option("#type-filter", "execute_request")
    shown = opened.page.eval_on_selector_all(".message", "els => els.map(e => +e.dataset.seq)")
    assert sorted(shown) == [r.seq for r in requests]
    opened.shot(tmp_path, "view-filtered.png")


def test_arrow_keys_and_enter_walk_the_messages(opened, capture):
    page = opened.page
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    third = capture.messages[2]
    assert page.locator(".message.cursor").get_attribute("data-seq") == str(third.seq)
    page.keyboard.press("Enter")
    assert page.locator("#detail h2").inner_text().startswith(f"#{third.seq} ")
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    assert page.locator("#detail h2").inner_text().startswith(f"#{capture.messages[-1].seq} ")
    page.keyboard.press("Escape")
    assert page.locator("#detail").is_hidden()


def test_large_type_and_print(opened, capture, tmp_path):
    page = opened.page
    page.locator("#large-toggle").check()
    height = page.locator(".message").first.bounding_box()["height"]
    assert height >= 40
    opened.shot(tmp_path, "view-large.png")
    page.locator("#large-toggle").uncheck()
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert opened.messages().count() == len(capture.messages)
    assert page.locator("#controls").is_hidden()
    assert page.locator("#legend dl").is_visible()  # on paper, the legend is open
    opened.shot(tmp_path, "view-print.png")


def test_five_thousand_messages_are_paged_through_a_few_elements(browser, capture, tmp_path):
    big = replicated(capture, 5000)
    path = tmp_path / "big.html"
    path.write_text(html.page(big))
    opened = Opened(browser, path, {"width": 1300, "height": 900})
    try:
        assert opened.errors == []
        page = opened.page
        assert page.locator("body").get_attribute("data-total") == "5000"
        in_dom = opened.messages().count()
        assert 10 < in_dom < 100  # what is counted: the rows in sight (and a few either side), not all 5,000
        page.keyboard.press("End")
        page.locator(".message[data-seq='4999']").wait_for(timeout=10_000)
        n = sum(1 for r in big.messages if r.msg_type == "execute_request")
        # filtered while scrolled to the far end: rows are drawn at once, in the same task
        # (they once were not until a later scroll event: a blank view after filtering)
        drawn = page.evaluate("""() => { const sel = document.getElementById('type-filter');
            sel.value = 'execute_request'; sel.dispatchEvent(new Event('change'));
            return document.querySelectorAll('.message').length; }""")
        assert drawn > 10
        page.select_option("#type-filter", "")
        page.select_option("#type-filter", "execute_request")
        expect(page.locator("#count")).to_have_text(f"showing {n} of 5000 messages", timeout=10_000)
        types = page.locator(".message .type").all_inner_texts()
        assert types and set(types) == {"execute_request"}
        opened.shot(tmp_path, "view-5000.png")
    finally:
        opened.close()


def test_lanes_come_from_the_data(browser, capture, tmp_path):
    """Channels kij does not know (an ipyparallel cluster's, say) get lanes of their own,
    and records on the websocket leg put a server lane between client and sockets.
    The records are the real capture's, relabelled."""
    records = [dataclasses.replace(r) for r in capture.messages]
    for r in records[:4]:
        r.channel = "mux"
    for r in records[4:10]:
        r.leg = "websocket"
    path = tmp_path / "lanes.html"
    path.write_text(html.page(dataclasses.replace(capture, messages=records)))
    opened = Opened(browser, path)
    try:
        names = opened.page.locator(".lane-name").all_inner_texts()
        assert names[0] == "client" and names[1] == "server" and names[-1] == "kernel"
        assert "mux" in names and names.index("mux") > names.index("hb")
        assert opened.page.locator(".message[data-channel='mux']").count() == 4
        opened.shot(tmp_path, "view-lanes.png")
    finally:
        opened.close()


@pytest.fixture(scope="module")
def tap_trace(tmp_path_factory):
    """A tap trace of two jupyter_client clients, each with its own session, using
    one kij-tap kernel (python3 behind the proxy)."""
    from test_tap import Sandbox, start, stop

    with Sandbox(tmp_path_factory.mktemp("tap")) as sandbox:
        km, kc = start()
        second = BlockingKernelClient(connection_file=km.connection_file)
        second.load_connection_file()
        second.start_channels()
        try:
            second.wait_for_ready(timeout=60)
            for client, code in ((kc, "a = 1"), (second, "print(a)")):
                reply = client.execute_interactive(code, timeout=30, output_hook=lambda m: None)
                assert reply["content"]["status"] == "ok"
        finally:
            second.stop_channels()
            stop(km, kc)
        sandbox.assert_clean()
        return sandbox.trace


def test_a_tap_trace_of_two_clients_draws_two_client_lanes(browser, tap_trace, tmp_path):
    cap = trace.load(tap_trace)
    sessions = {r.header["session"] for r in cap.messages if r.direction == "to_kernel" and r.header}
    assert len(sessions) == 2
    out = tmp_path / "tap.html"
    run = KijRunner(tmp_path).run("view", str(tap_trace), "-o", str(out))
    assert run.returncode == 0, run.stderr
    opened = Opened(browser, out, {"width": 1300, "height": 900})
    try:
        assert opened.errors == []
        names = opened.page.locator(".lane-name").all_inner_texts()
        assert sorted(n for n in names if n.startswith("client ")) == sorted(f"client {s[:6]}" for s in sessions)
        assert "kij-tap trace" in opened.page.locator("#facts").inner_text()
        opened.shot(tmp_path, "view-tap.png")
    finally:
        opened.close()


def test_a_real_kij_server_capture_draws_the_browser_sessions_as_its_clients(browser, tmp_path):
    """A real `kij server --save`: the websocket leg runs between the client lanes and
    the server lane, and the client lanes are exactly the sessions that sent through the
    websocket — not the server's own session, whose requests to the kernel start at the
    server lane (they once took the first client lane)."""
    saved = tmp_path / "server.jsonl"
    kij = KijRunner(tmp_path)
    run = kij.run("server", "--save", str(saved))
    assert run.returncode == 0, run.stderr
    cap = trace.load(saved)
    browsers = {r.header["session"] for r in cap.messages
                if r.leg == "websocket" and r.direction == "to_kernel" and r.header}
    servers = {r.header["session"] for r in cap.messages
               if r.leg == "zmq" and r.direction == "to_kernel" and r.header} - browsers
    assert browsers and servers  # both kinds of sender are in the capture
    out = tmp_path / "server.html"
    assert kij.run("view", str(saved), "-o", str(out)).returncode == 0
    opened = Opened(browser, out, {"width": 1300, "height": 1100})
    try:
        assert opened.errors == []
        names = opened.page.locator(".lane-name").all_inner_texts()
        assert "server" in names and names[-1] == "kernel"
        clients = [n for n in names if n.startswith("client")]
        shown = [n.removeprefix("client ") for n in clients if n != "client"]
        assert all(any(s.startswith(c) for s in browsers) for c in shown), (clients, browsers)
        assert not any(any(s.startswith(c) for s in servers) for c in shown), (clients, servers)
        opened.shot(tmp_path, "view-server.png")
    finally:
        opened.close()
