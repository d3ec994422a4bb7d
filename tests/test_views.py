"""Every view, drawn from results of real runs at 60, 80 and 120 columns (the tour's
whole stdout also at 20).

The results come from real kernels, once per module: one `kij tour` run (its six
lessons, kernels booted side by side), one `kij check` step run on its solution, a
frames capture saved and followed the way `kij tap --follow` replays a recording,
and `kij tap`'s status of this machine. Each view returns a renderable; here it is
drawn into `Console(record=True)` — the CLI prints the same renderable — and the
lines a learner must see are asserted, along with two things no width may break:
no line is wider than the terminal, and no word of kij's sentences is cut in two.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len
from rich.console import Console

from kij import trace
from kij.lessons import check as check_lesson
from kij.lessons import tap as tap_lesson
from kij.lessons import tour as tour_lesson
from kij.lessons.magics import MagicsResult
from kij.lessons.repl_diff import ReplDiffResult
from kij.lessons.state import StateResult
from kij.lessons.swap import SwapResult
from kij.lessons.which import WhichResult
from kij.trace import Capture
from kij.views import check as check_view
from kij.views import frames as frames_view
from kij.views import magics as magics_view
from kij.views import repl_diff as repl_diff_view
from kij.views import state as state_view
from kij.views import swap as swap_view
from kij.views import tap as tap_view
from kij.views import tour as tour_view
from kij.views import which as which_view

pytestmark = pytest.mark.timeout(300)

WIDTHS = [60, 80, 120]


def drawn(renderable, width: int) -> str:
    """What the CLI would print at this width, as plain text."""
    con = Console(record=True, width=width, file=io.StringIO(), color_system=None)
    con.print(renderable)
    return con.export_text()


def assert_fits(text: str, width: int) -> None:
    wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not wide, f"lines wider than {width} columns: {wide}"


def assert_words_whole(text: str, *sentences: str) -> None:
    """Every word of each sentence appears whole in the drawing: wrapped between
    words, never cut inside one. (Words longer than the terminal can only be folded.)"""
    tokens = set(text.split())
    for sentence in sentences:
        for word in sentence.split():
            assert word in tokens, f"{word!r} (from {sentence[:40]!r}…) is cut or missing:\n{text}"


def page(stops, kind, view, width: int):
    """A lesson's result from the tour, drawn by its view at width (never wider)."""
    result = stops[kind]
    text = drawn(view.render(result), width)
    assert_fits(text, width)
    return result, text


@pytest.fixture(scope="module")
def stops():
    """One real tour: every lesson's result, by its type (and the tour's plan)."""
    plans = []
    result = tour_lesson.run(lambda *args: None, lambda stop: None, timeout=60, launching=plans.append)
    by_type = {type(stop.result): stop.result for stop in result.stops}
    by_type[tour_lesson.TourResult] = result
    by_type[tour_lesson.PlannedStop] = plans[0]
    return by_type


@pytest.fixture(scope="module")
def checked():
    """`kij check 2` on the shipped solution: a real script, really checked."""
    return check_lesson.run("2")


@pytest.fixture(scope="module")
def followed(stops, tmp_path_factory):
    """The tour's frames capture saved, then followed as `kij tap --follow FILE` replays it."""
    path = tmp_path_factory.mktemp("views") / "capture.jsonl"
    trace.save(stops[Capture], str(path))
    return list(tap_lesson.follow(str(path)))


@pytest.mark.parametrize("width", WIDTHS)
def test_frames(stops, width):
    cap = stops[Capture]
    for compact in (False, True):
        text = drawn(frames_view.render(cap, compact=compact), width)
        assert_fits(text, width)
        assert "kij frames — every socket" in text
        assert "<IDS|MSG>" in text and "execute_request" in text and "execute_reply" in text
        assert "signature ✓" in text
        assert_words_whole(text, cap.takeaway, frames_view.LEGEND,
                           *(act.outcome for act in cap.acts if len(act.outcome) < 400))
        assert ("every frame of every message, and --save/--load: kij frames" in text) == compact
    frames_drawn = drawn(frames_view.render(cap), width).count("delimiter")
    assert frames_drawn > drawn(frames_view.render_compact(cap), width).count("delimiter") >= 1


@pytest.mark.parametrize("width", WIDTHS)
def test_state(stops, width):
    result, text = page(stops, StateResult, state_view, width)
    assert_words_whole(text, result.takeaway, "are two independent clients; B attached through the connection file.")
    assert "84" in text and "42" in text and "NameError" in text
    # the restart is drawn where the data says it happened, before the first cell after it
    restarted = next(step for step in result.steps if step.restarted)
    lines = text.splitlines()
    restart_at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("restart"))
    assert restart_at < next(i for i, line in enumerate(lines) if restarted.label in line)
    assert str(result.pid_after_restart) in lines[restart_at]
    assert ("empty namespace" in text) == (width >= state_view.TABLE_MIN_WIDTH)


@pytest.mark.parametrize("width", WIDTHS)
def test_repl_diff(stops, width):
    result, text = page(stops, ReplDiffResult, repl_diff_view, width)
    assert "what each layer adds" in text
    for who in result.interpreters:
        assert who.name.split(" (")[0] in text
    assert_words_whole(text, result.takeaway)


@pytest.mark.parametrize("width", WIDTHS)
def test_magics(stops, width):
    result, text = page(stops, MagicsResult, magics_view, width)
    assert "%clap" in text and "%%shout" in text
    assert "outputs that matter are equal in both shells" in text
    assert_words_whole(text, result.takeaway)
    assert ("same?" in text) == (width >= magics_view.TABLE_MIN_WIDTH)


@pytest.mark.parametrize("width", WIDTHS)
def test_swap(stops, width):
    result, text = page(stops, SwapResult, swap_view, width)
    for answer in result.answers:
        assert f"kernel = {answer.kernel}" in text
        if not answer.skipped:
            assert answer.implementation in text and str(answer.pid) in text
    assert_words_whole(text, result.takeaway)


@pytest.mark.parametrize("width", WIDTHS)
def test_which(stops, width):
    result, text = page(stops, WhichResult, which_view, width)
    assert "sys.executable unchanged; `which python3` moved" in text
    assert_words_whole(text, result.takeaway, result.rule)
    two_columns = width >= which_view.TABLE_MIN_WIDTH
    assert ("asked inside the kernel" in text) == two_columns


@pytest.mark.parametrize("width", WIDTHS)
def test_tour(stops, width):
    result = stops[tour_lesson.TourResult]
    text = drawn(tour_view.summary(result), width)
    assert_fits(text, width)
    assert f"{result.kernels_launched} kernels" in text
    for stop in result.stops:  # a lesson's name and its time are never split
        assert re.search(rf"{re.escape(stop.command)}\u00a0[\d.]+\u00a0s", text)
        assert stop.takeaway.split()[0] in drawn(tour_view.lesson(stop), width)
    plan = tour_lesson.PlannedStop(result.stops[0].command, "", [("python3", None)], lambda: None)
    assert "1/9 · kij repl-diff" in drawn(tour_view.announce(1, 9, plan), width)


def test_every_part_of_the_tour_fits_20_columns(stops):
    """All the tour prints on stdout — what it launches, each heading, each lesson's view,
    the summary — drawn 20 columns wide, never wider (folded where a word is longer)."""
    result, plan = stops[tour_lesson.TourResult], stops[tour_lesson.PlannedStop]
    parts = [tour_view.launching(plan), *(tour_view.announce(n, len(plan), step) for n, step in enumerate(plan, 1)),
             *(tour_view.lesson(stop) for stop in result.stops), tour_view.summary(result)]
    assert len(parts) == 2 + 2 * len(result.stops)
    for part in parts:
        assert_fits(drawn(part, 20), 20)


@pytest.mark.parametrize("width", WIDTHS)
def test_check(checked, width):
    text = drawn(check_view.render(checked), width)
    assert_fits(text, width)
    assert checked.passed and "✓ step 02 — " in text and "passes" in text
    for check in checked.checks:
        assert check.name in text
    nxt = checked.next_step
    assert_words_whole(text, f"next: step {nxt.number:02d} — {nxt.title}: {nxt.needs}")
    assert f"kij check {nxt.number} --file mine.py" in text
    track = drawn(check_view.render(check_lesson.steps()), width)
    assert_fits(track, width)
    assert "The build track: a Jupyter kernel in 7 steps" in track
    assert_words_whole(track, *(step.needs for step in check_lesson.steps().steps))
    assert check_view.checking(checked.step, "heartbeat") == f"checking step 02 — {checked.step.title}: heartbeat …"


@pytest.mark.parametrize("width", WIDTHS)
def test_tap_follow_replays_a_recording(stops, followed, width):
    draw = tap_view.Follower(frames=width == 120)
    text = "".join(drawn(draw(event), width) for event in followed)
    assert_fits(text, width)
    assert text.startswith("kij tap --follow — your frontend's wire, live")
    assert "replaying a recording" in text and "end of the trace: its tap exited" in text
    assert_words_whole(text, "this trace's tap has exited: nothing below is happening now")
    records = [e.record for e in followed if e.kind == "record"]
    assert len(records) == len(stops[Capture].messages)
    request = next(r for r in records if r.msg_type == "execute_request")
    assert re.search(rf"#{request.seq}\s+→ shell\s+✓ execute_request", text)
    assert (text.count("delimiter") > 0) == (width == 120)  # --frames draws every frame


@pytest.mark.parametrize("width", WIDTHS)
def test_tap_status(width):
    text = drawn(tap_view.render_status(tap_lesson.status()), width)
    assert_fits(text, width)
    assert "kij tap — the real wire of any frontend" in text and "traces go to" in text
    assert "kij tap --follow: the newest live one" in text


def test_no_view_prints():
    """Views return what to draw; kij.cli is the only module that prints."""
    from pathlib import Path

    views = Path(frames_view.__file__).parent
    for path in views.glob("*.py"):
        code = path.read_text()
        assert not re.search(r"\bprint\(|console\(|\.status\(|sys\.std(out|err)|\binput\(", code), path.name
