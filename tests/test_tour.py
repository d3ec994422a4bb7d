"""`kij tour`: every lesson in order under its heading, and --pause really waits."""

import os
import pty
import re
import select
import signal
import subprocess
import tempfile
import time

from conftest import no_traceback, wait_until

from kij.lessons import comms, control, frames, magics, repl_diff, server, state, swap, which

LESSONS = ["repl-diff", "state", "frames", "magics", "swap", "kernels", "control", "comms", "which", "server"]
# kij kernels computes its takeaway from the run (counts of methods and lines): its fixed part.
KERNELS_TAKEAWAY = "leaves the sockets, signing, busy/idle and the rest to ipykernel"
TAKEAWAYS = [repl_diff.TAKEAWAY, state.TAKEAWAY, frames.TAKEAWAY, magics.TAKEAWAY, swap.TAKEAWAY, KERNELS_TAKEAWAY,
             control.TAKEAWAY, comms.TAKEAWAY, which.TAKEAWAY, server.TAKEAWAY]
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def once(takeaway: str, shown: str) -> int:
    """How many times a takeaway was printed (wrapped anywhere: compare without spaces)."""
    return re.sub(r"\s+", "", shown).count(re.sub(r"\s+", "", takeaway))


def test_tour_pauses_between_lessons_on_a_terminal(kij):
    """stdin is a pseudo-terminal, so --pause waits: at each prompt the next lesson's
    heading has not been printed yet — it only comes after we press Enter."""
    master, slave = pty.openpty()
    out = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(kij.command("tour", "--pause"), env=kij.env, text=True,
                            stdin=slave, stdout=out, stderr=subprocess.PIPE)
    os.close(slave)
    prompts, err = 0, ""
    try:
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if not select.select([proc.stderr], [], [], 1)[0]:
                continue
            chunk = os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
            err += chunk
            while err.count("press Enter") > prompts:
                prompts += 1
                out.seek(0)
                shown = out.read()
                next_lesson = LESSONS[prompts]
                assert f"press Enter for kij {next_lesson}" in err
                assert f"{prompts}/{len(LESSONS)} · kij" in shown
                assert f"{prompts + 1}/{len(LESSONS)} · kij {next_lesson}" not in shown  # still waiting
                os.write(master, b"\n")
        proc.wait(timeout=60)
        err += proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    kij.assert_clean()
    assert proc.returncode == 0, err
    assert prompts == len(LESSONS) - 1
    out.seek(0)
    shown = out.read()
    positions = [shown.index(f"{n}/{len(LESSONS)} · kij {name}") for n, name in enumerate(LESSONS, 1)]
    assert positions == sorted(positions)
    for fact in ["Out[2]: 40", "84", "<IDS|MSG>", "Invalid Signature", "kernels 👏 hold 👏 state", "2^10 = 1024", "Rule: Check sys.executable first",
                 "tour done", "Launching all 13 kernels they need (9 × python3, 2 × bash, kij-echo, kij-native)",
                 "echo_update", "Who does each job", "On control the reply took", "v1.kernel.websocket.jupyter.org",
                 "kij server: its kernel is booted by a jupyter_server of its own", "Left out, to run alone: kij parallel"]:
        assert fact in " ".join(shown.split()), fact  # wherever the terminal wrapped it
    assert no_traceback(err)
    assert [once(t, shown) for t in TAKEAWAYS] == [1] * len(TAKEAWAYS)
    assert len(re.findall(r"\[0\] +\d+ B (delimiter|topic)", shown)) == 1  # one message's frames: kij frames has all
    assert "\n\n\n" not in shown and not shown.startswith("\n")
    assert not re.search(r"[ \t]$", shown, re.M)


def test_tour_pages_long_lessons_on_a_terminal(kij):
    """Everything on one pseudo-terminal of 30 rows: --pause shows a long lesson a
    screenful at a time (never more than 29 lines between two waits for Enter)."""
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
            prompts = re.findall(r"-- more \(\d+/\d+ lines\): press Enter --|press Enter for kij", screen)
            while len(prompts) > answered:
                pages.append(prompts[answered])
                answered += 1
                os.write(master, b"\n")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 0, screen[-3000:]
    assert sum(p.startswith("-- more") for p in pages) >= 3  # repl-diff, frames, which are long
    assert sum(p.startswith("press Enter") for p in pages) == len(LESSONS) - 1
    chunks = re.split(r"-- more \(\d+/\d+ lines\): press Enter --|press Enter for kij \S+ …", screen)
    # rows each chunk moved the screen down: its newlines, less the spinner's cursor-ups
    rows = [c.count("\n") - sum(int(n or 1) for n in re.findall(r"\x1b\[(\d*)A", c)) for c in chunks]
    assert max(rows) <= 30, rows  # the Enter echoed after a prompt, then at most 29 lines
    plain = ANSI.sub("", screen)
    assert "tour done" in plain and not re.search(r"(?:^|\r)kij: ", plain, re.M)  # no error line (cli.error_line)
    kij.assert_clean()


def test_tour_without_a_terminal_does_not_wait_and_ctrl_c_cleans_up(kij):
    """stdin is /dev/null, so --pause must not wait: lesson 2 starts on its own. Then
    Ctrl-C mid-tour: exit 130, and every kernel launched up front is gone."""
    out = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(kij.command("tour", "--pause"), env=kij.env, text=True,
                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
    try:
        def second_lesson_started():
            out.seek(0)
            return f"2/{len(LESSONS)} · kij state" in out.read()

        wait_until(second_lesson_started, timeout=120, what="the tour to move on to lesson 2")
        assert len(kij.connection_files()) == 13  # every lesson's kernels, launched up front
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "press Enter" not in err and no_traceback(err)
    assert "stopping 13 kernels kij started" in err
    kij.assert_clean()


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
