"""`kij tour`: every lesson in order under its heading, and --pause really waits."""

import os
import pty
import re
import select
import signal
import subprocess
import tempfile
import time

from conftest import ANSI, no_traceback, no_traceback_through_kij, wait_until

from kij.lessons import comms, control, frames, magics, repl_diff, server, state, swap, which

LESSONS = ["repl-diff", "state", "frames", "magics", "swap", "kernels", "control", "comms", "which", "server"]
# kij kernels computes its takeaway from the run (counts of methods and lines): its fixed part.
KERNELS_TAKEAWAY = "leaves the sockets, signing, busy/idle and the rest to ipykernel"
TAKEAWAYS = [repl_diff.TAKEAWAY, state.TAKEAWAY, frames.TAKEAWAY, magics.TAKEAWAY, swap.TAKEAWAY, KERNELS_TAKEAWAY,
             control.TAKEAWAY, comms.TAKEAWAY, which.TAKEAWAY, server.TAKEAWAY]
PROMPT = re.compile(r"-- more \(\d+/\d+ lines\): press Enter --|press Enter for kij \S+ …")


def plain_text(screen: str) -> str:
    """What a terminal showed, without its escape sequences and carriage returns."""
    return ANSI.sub("", screen).replace("\r", "")


def once(takeaway: str, shown: str) -> int:
    """How many times a takeaway was printed (wrapped anywhere: compare without spaces)."""
    return re.sub(r"\s+", "", shown).count(re.sub(r"\s+", "", takeaway))


def test_tour_on_a_terminal_pauses_between_lessons_and_pages_long_ones(kij):
    """Everything on one pseudo-terminal of 30 rows, as in a workshop: --pause waits for
    Enter before each next lesson (at each prompt the next lesson's heading has not been
    printed yet: it comes only after Enter), and shows a long lesson a screenful at a
    time (never more than 29 lines between two waits). One whole tour, checked for
    every lesson in order, each takeaway once, and the facts each lesson must show."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(kij.command("tour", "--pause"), env={**kij.env, "LINES": "30", "COLUMNS": "80"},
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    screen, answered, pages = "", 0, []
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            if not select.select([master], [], [], 1)[0]:
                continue
            try:
                screen += os.read(master, 65536).decode(errors="replace")
            except OSError:
                break
            prompts = list(re.finditer(PROMPT, screen))
            while len(prompts) > answered:
                prompt = prompts[answered]
                pages.append(prompt.group())
                if prompt.group().startswith("press Enter"):  # between lessons: the next waits
                    before = plain_text(screen[:prompt.start()])
                    lesson = sum(p.startswith("press Enter") for p in pages)
                    assert prompt.group() == f"press Enter for kij {LESSONS[lesson]} …", pages
                    assert f"{lesson}/{len(LESSONS)} · kij {LESSONS[lesson - 1]}" in before
                    assert f"{lesson + 1}/{len(LESSONS)} · kij" not in before  # still waiting
                answered += 1
                os.write(master, b"\n")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 0, screen[-3000:]
    kij.assert_clean()
    assert sum(p.startswith("-- more") for p in pages) >= 3  # repl-diff, frames, which are long
    assert sum(p.startswith("press Enter") for p in pages) == len(LESSONS) - 1
    chunks = re.split(PROMPT, screen)
    # rows each chunk moved the screen down: its newlines, less the spinner's cursor-ups
    rows = [c.count("\n") - sum(int(n or 1) for n in re.findall(r"\x1b\[(\d*)A", c)) for c in chunks]
    assert max(rows) <= 30, rows  # the Enter echoed after a prompt, then at most 29 lines
    shown = plain_text(re.sub(PROMPT, "", screen))  # a page may end mid-sentence
    assert "tour done" in shown and not re.search(r"(?:^|\r)kij: ", shown, re.M)  # no error line (cli.error_line)
    assert no_traceback_through_kij(shown)  # repl-diff shows the learner's snippet's tracebacks
    positions = [shown.index(f"{n}/{len(LESSONS)} · kij {name}") for n, name in enumerate(LESSONS, 1)]
    assert positions == sorted(positions)
    for fact in ["Out[2]: 40", "84", "<IDS|MSG>", "Invalid Signature", "kernels 👏 hold 👏 state", "2^10 = 1024", "Rule: Check sys.executable first",
                 "tour done", "Launching all 13 kernels they need (9 × python3, 2 × bash, kij-echo, kij-native)",
                 "echo_update", "Who does each job", "On control the reply took", "v1.kernel.websocket.jupyter.org",
                 "kij server: its kernel is booted by a jupyter_server of its own", "Left out, to run alone: kij parallel"]:
        assert fact in " ".join(shown.split()), fact  # wherever the terminal wrapped it
    assert [once(t, shown) for t in TAKEAWAYS] == [1] * len(TAKEAWAYS)
    assert len(re.findall(r"\[0\] +\d+ B (delimiter|topic)", shown)) == 1  # one message's frames: kij frames has all


def test_tour_without_a_terminal_does_not_wait_and_ctrl_c_cleans_up(kij):
    """stdin is /dev/null, so --pause must not wait: lesson 2 starts on its own. Then
    Ctrl-C mid-tour, and a second Ctrl-C while the 13 kernels launched up front shut
    down: exit 130, and every one of them is gone. What it wrote to a file is tidy: no
    spaces at the ends of lines, never two blank lines in a row."""
    out, err = tempfile.TemporaryFile(mode="w+"), tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(kij.command("tour", "--pause"), env=kij.env, text=True,
                            stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def written(file) -> str:
        file.seek(0)
        return file.read()

    try:
        wait_until(lambda: f"2/{len(LESSONS)} · kij state" in written(out), timeout=120,
                   what="the tour to move on to lesson 2")
        assert len(kij.connection_files()) == 13  # every lesson's kernels, launched up front
        proc.send_signal(signal.SIGINT)
        wait_until(lambda: "stopping 13 kernels kij started" in written(err) or proc.poll() is not None,
                   timeout=60, what="kij to say it is stopping the kernels")
        proc.send_signal(signal.SIGINT)  # held back while kernels shut down: none is left
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    said = written(err)
    assert proc.returncode == 130, said
    assert "press Enter" not in said and no_traceback(said)
    assert "stopping 13 kernels kij started" in said
    kij.assert_clean()
    shown = written(out)
    shown = shown[:shown.rfind("\n") + 1]  # the lines written whole before Ctrl-C
    assert shown.index(f"1/{len(LESSONS)} · kij repl-diff") < shown.index(f"2/{len(LESSONS)} · kij state")
    assert "\n\n\n" not in shown and not shown.startswith("\n")
    assert not re.search(r"[ \t]$", shown, re.M)


def test_tour_into_head_ends_quietly(kij):
    """`kij tour | head -n 4`: head leaves after lesson 1's first lines; the tour's next
    write finds the pipe closed and ends with 0, quietly, all 13 kernels shut down."""
    tour = subprocess.Popen(kij.command("tour"), env=kij.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.run(["head", "-n", "4"], stdin=tour.stdout, capture_output=True, text=True, timeout=120)
    tour.stdout.close()
    err = tour.stderr.read().decode()
    tour.wait(timeout=120)
    assert head.stdout.startswith("kij tour — 10 lessons."), head.stdout
    assert tour.returncode == 0 and err == "", err
    kij.assert_clean()
