"""`kij tour`: every lesson in order under its heading, and --pause really waits."""

import os
import pty
import select
import signal
import subprocess
import tempfile
import time

from conftest import no_traceback, wait_until

LESSONS = ["repl-diff", "state", "frames", "magics", "swap", "which"]


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
                 "tour done"]:
        assert fact in shown, fact
    assert no_traceback(err)


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
        assert len(kij.connection_files()) == 8  # every lesson's kernels, launched up front
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "press Enter" not in err and no_traceback(err)
    kij.assert_clean()
