"""kij's typer app: one top-level function per command; its docstring is its help.

Each command parses its flags, runs its lesson and hands the result to `show` with
the lesson's view module: the view returns what to draw, and kij.cli prints it.
Checking what the flags mean is the lesson's job (its `check_flags`); only the
checks that need no lesson (a positive --timeout) live here, in the option.

kij.cli imports this module only once it knows a command will run, so `kij --help`
never pays for typer. `rich_markup_mode=None` keeps typer's help on its plain
formatter: the rich one imports rich.markdown and costs a second per `--help`.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperArgument, TyperCommand

from kij.cli import ABOUT, echo, print_json, spinner


class Command(TyperCommand):
    """typer's plain help without its Python type labels: an argument reads STEP,
    not `{STEP}` in the usage line and `STEP <str>` in the list."""

    def get_help(self, ctx) -> str:
        text = super().get_help(ctx)
        for param in self.params:
            if isinstance(param, TyperArgument):
                name = param.display_name_raw
                labelled = f"{name} {param.display_type_rich(ctx)}"  # padded, so the columns stay
                text = text.replace(f"{{{name}}}", name).replace(labelled, name.ljust(len(labelled)))
        return text


app = typer.Typer(add_completion=False, no_args_is_help=True, help=ABOUT, rich_markup_mode=None)


def positive(seconds: float) -> float:
    """--timeout must leave a cell some time to run (refused before anything boots)."""
    if seconds <= 0:
        raise typer.BadParameter(f"must be more than 0 seconds, not {seconds:g}")
    return seconds


JsonFlag = Annotated[bool, typer.Option("--json", help="Print the facts as one JSON document, no markup.")]
Timeout = Annotated[float, typer.Option(
    "--timeout", metavar="SECONDS", callback=positive,
    help="Seconds a cell may run before kij stops waiting (and interrupts a kernel it started).")]


def show(result, as_json: bool, view, render=None) -> None:
    """Print a lesson's result: JSON for programs, its view for people — a kij.views
    module, or its name (imported only now: a --json run never imports rich's tables),
    or one of its render functions."""
    if as_json:
        print_json(result)
    else:
        echo((render or view_module(view).render)(result))


def view_module(view):
    """A kij.views module, from its name or itself. By name it is imported only when
    something is drawn: a --json run then never imports rich (about 40 ms of CPU)."""
    return importlib.import_module(f"kij.views.{view}") if isinstance(view, str) else view


@app.command("repl-diff", cls=Command)
def repl_diff(
    code: Annotated[Optional[str], typer.Option("--code", "-c", metavar="SNIPPET",
                                                help="A snippet to feed instead of the default one.")] = None,
    file: Annotated[Optional[str], typer.Option("--file", "-f", metavar="FILE",
                                                help="A Python file to feed instead.")] = None,
    json: JsonFlag = False,
    timeout: Timeout = 30.0,
) -> None:
    """Same snippet, four interpreters: python3 as a script, the python3 REPL, terminal IPython, the kernel."""
    from kij.lessons import repl_diff as lesson
    view = "repl_diff"  # imported by show only when drawn

    show(lesson.run(lesson.snippet_from(code, file), timeout=timeout), json, view)


@app.command(cls=Command)
def state(json: JsonFlag = False, timeout: Timeout = 30.0) -> None:
    """State lives in the kernel, not in the cells: two clients, one kernel, a restart."""
    from kij.lessons import state as lesson
    view = "state"  # imported by show only when drawn

    show(lesson.run(timeout=timeout), json, view)


@app.command(cls=Command)
def frames(
    code: Annotated[Optional[str], typer.Option(
        "--code", "-c", metavar="CELL",
        help="The cell to send. Default: x = 6 * 7; print('the answer is', x); x")] = None,
    kernel: Annotated[str, typer.Option("--kernel", "-k", metavar="NAME", help="The kernelspec to boot.")] = "python3",
    existing: Annotated[Optional[str], typer.Option(
        "--existing", metavar="CONNECTION_FILE",
        help="Attach to a running kernel (e.g. JupyterLab's) instead: a connection file, or a kernel id / "
             "file name in Jupyter's runtime directory. kij says what it will run there first, never "
             "interrupts it and leaves it running.")] = None,
    save: Annotated[Optional[str], typer.Option(
        "--save", metavar="FILE", help="Also write the capture to FILE (.jsonl: JSON lines).")] = None,
    load: Annotated[Optional[str], typer.Option(
        "--load", metavar="FILE", help="Show a saved capture; no kernel is started.")] = None,
    html: Annotated[Optional[str], typer.Option(
        "--html", metavar="FILE", help="Also draw the capture as a sequence-diagram page (as kij view does).")] = None,
    json: JsonFlag = False,
    timeout: Timeout = 30.0,
) -> None:
    """Every socket, every frame, every signature: a cell's raw ZeroMQ messages, forgeries refused."""
    from kij import trace
    from kij.lessons import frames as lesson
    from kij.lessons.view import write_page
    view = "frames"  # imported only when drawn

    lesson.check_flags(code=code, existing=existing, save=save, load=load, html=html)
    with shown_if_it_fails(json, view):
        capture = lesson.load(load) if load else lesson.run(
            code=code, kernel_name=kernel, existing=existing, timeout=timeout,
            tell=lambda text: echo(view_module(view).notice(text), stderr=True))
    if save:
        trace.save(capture, save)
    if html:
        write_page(capture, html)
    show(capture, json, view)


@contextlib.contextmanager
def shown_if_it_fails(as_json: bool, view):
    """A lesson that fails part way (KijError carrying a capture): show the steps that
    did run, then let the error say what went wrong."""
    from kij.errors import KijError

    try:
        yield
    except KijError as exc:
        if getattr(exc, "capture", None) is not None:
            show(exc.capture, as_json, view)
        raise


@app.command(cls=Command)
def magics(json: JsonFlag = False, timeout: Timeout = 30.0) -> None:
    """Magics are just registered functions: %clap and %%shout in-process and in a kernel."""
    from kij.lessons import magics as lesson
    view = "magics"  # imported by show only when drawn

    show(lesson.run(timeout=timeout), json, view)


@app.command(cls=Command)
def swap(
    kernel: Annotated[Optional[list[str]], typer.Option(
        "--kernel", "-k", metavar="NAME",
        help="A kernelspec to drive (repeatable). Default: python3 and bash.")] = None,
    json: JsonFlag = False,
    timeout: Timeout = 30.0,
) -> None:
    """The kernel is swappable: one client function drives Python and Bash alike."""
    from kij.errors import KernelFault
    from kij.lessons import swap as lesson
    view = "swap"  # imported by show only when drawn

    result = lesson.run(kernel, timeout=timeout)
    show(result, json, view)
    if result.failed:  # shown with the others; stderr and the exit code say so too
        raise KernelFault("; ".join(a.error for a in result.answers if a.error and not a.skipped))


@app.command(cls=Command)
def kernels(json: JsonFlag = False, timeout: Timeout = 30.0) -> None:
    """Wrapper vs native: kij-echo, kij-native and bash side by side — who writes the messaging."""
    from kij.errors import KernelFault
    from kij.lessons import kernels as lesson
    view = "kernels"  # imported by show only when drawn

    result = lesson.run(timeout=timeout)
    show(result, json, view)
    if result.failed:  # shown with the others; stderr and the exit code say so too
        raise KernelFault("; ".join(k.answer.error for k in result.kernels
                                    if k.answer.error and not k.answer.skipped))


@app.command(cls=Command)
def control(
    save: Annotated[Optional[str], typer.Option(
        "--save", metavar="FILE",
        help="Also write the capture to FILE (.jsonl: JSON lines); kij frames --load shows it.")] = None,
    json: JsonFlag = False,
) -> None:
    """Beside execute: shell is a queue, control is not — interrupt, subshells, the debugger, CurveZMQ."""
    from kij import trace
    from kij.lessons import control as lesson
    view = "control"  # imported only when drawn

    lesson.check_flags(save=save)
    with shown_if_it_fails(json, "frames"):  # a fault carries exc.capture
        result = lesson.run()
    if save:
        trace.save(result.capture, save)
    show(result, json, view)


@app.command(cls=Command)
def comms(
    save: Annotated[Optional[str], typer.Option(
        "--save", metavar="FILE", help="Also write the capture to FILE (kij frames --load FILE reads it).")] = None,
    json: JsonFlag = False,
    timeout: Timeout = 30.0,
) -> None:
    """Comms, and the widgets that ride on them: comm_open/msg/close by hand, an IntSlider played from kij."""
    from kij.lessons import comms as lesson
    view = "comms"  # imported by show only when drawn

    lesson.check_flags(save=save)
    with shown_if_it_fails(json, view):
        result = lesson.run(timeout=timeout)
    if save:
        lesson.save(result, save)
    show(result, json, view)


@app.command(cls=Command)
def which(
    kernel: Annotated[str, typer.Option("--kernel", "-k", metavar="NAME",
                                        help="The Python kernelspec to ask.")] = "python3",
    json: JsonFlag = False,
    timeout: Timeout = 30.0,
) -> None:
    """Which Python is my kernel? sys.executable vs `!which python3`, and the PATH trap."""
    from kij.lessons import which as lesson
    view = "which"  # imported by show only when drawn

    show(lesson.run(kernel, timeout=timeout), json, view)


@app.command(cls=Command)
def tour(
    pause: Annotated[bool, typer.Option(
        "--pause", help="Wait for Enter between lessons and page long ones (only when stdin is a terminal).")] = False,
    timeout: Timeout = 30.0,
) -> None:
    """Every lesson in order, each with its takeaway; kernels boot ahead in the background."""
    from kij.lessons import tour as lesson
    from kij.views import tour as view

    waits = pause and sys.stdin.isatty()  # someone is there to press Enter
    screen = TourScreen(view, waits=waits, pages=waits and sys.stdout.isatty())
    echo(view.summary(lesson.run(screen.announce, screen.lesson, screen.between, timeout=timeout,
                                 launching=screen.launching)))


class TourScreen:
    """The tour's screen: prints each part the tour view draws as the lessons go. In
    workshop mode (--pause, someone at the keyboard) it waits for Enter before each
    next lesson; on a terminal it also pages each lesson, its heading included, a
    screenful at a time."""

    def __init__(self, view, waits: bool = False, pages: bool = False):
        self.view = view
        self.waits = waits
        self.pages = pages
        self.held = ""  # paged: what was drawn since the last page, not shown yet

    def _print(self, renderable) -> None:
        from kij.cli import drawn

        if self.pages:
            self.held += drawn(renderable)
        else:
            echo(renderable)

    def launching(self, plan) -> None:
        self._print(self.view.launching(plan))

    def announce(self, number: int, total: int, step) -> None:
        self._print(self.view.announce(number, total, step))

    def lesson(self, stop) -> None:
        self._print(self.view.lesson(stop))
        if self.pages:
            text, self.held = self.held, ""
            self.page(text, shutil.get_terminal_size().lines)

    def page(self, text: str, rows: int) -> None:
        """Print text a screenful (rows - 1 lines) at a time, waiting for Enter between."""
        lines = text.splitlines(keepends=True)
        size = max(rows - 1, 5)
        for start in range(0, len(lines), size):
            if start:
                echo(self.view.more(start, len(lines)), stderr=True, end="")
                input()
            sys.stdout.write("".join(lines[start:start + size]))
            sys.stdout.flush()

    def between(self, next_step) -> None:
        """Workshop mode: wait for Enter (the prompt goes to stderr, out of stdout's way)."""
        if self.waits:
            echo(self.view.next_prompt(next_step), stderr=True, end="")
            input()


@app.command(cls=Command)
def check(
    step: Annotated[Optional[str], typer.Argument(
        metavar="STEP", help="The step: 1-7, 03 or 03_sign_and_verify. Without it: list the steps.")] = None,
    file: Annotated[Optional[Path], typer.Option(
        "--file", "-f", metavar="FILE", help="Check your own script instead of demos/build/'s.")] = None,
    json: JsonFlag = False,
) -> None:
    """Build a kernel step by step: check a demos/build step and see what the next one needs."""
    from kij.lessons import check as lesson
    from kij.views import check as view

    lesson.check_flags(step, file)
    if step is None:  # the track itself; asking for the list is not a mistake (exit 0)
        return show(lesson.steps(), json, view)
    found = lesson.find_step(step)
    with spinner(view.checking(found)) as status:
        result = lesson.run(step, file, on_check=lambda check: status.update(view.checking(found, check)))
    show(result, json, view)
    if not result.passed:
        raise typer.Exit(1)


@app.command(cls=Command)
def tap(
    action: Annotated[Optional[str], typer.Argument(
        metavar="ACTION",
        help="install | uninstall a kij-tap-KERNEL kernelspec; prune: remove every finished trace; "
             "or, with --follow, the trace FILE to follow.")] = None,
    follow: Annotated[bool, typer.Option(
        "--follow", help="Show the newest trace (or FILE) live, like `kij frames`; Ctrl-C ends it.")] = False,
    kernel: Annotated[Optional[str], typer.Option(
        "--kernel", "-k", metavar="NAME", help="install/uninstall: the kernelspec to put behind the tap.")] = None,
    connection_file: Annotated[Optional[str], typer.Option(
        "--connection-file", metavar="FILE",
        help="--follow: the frontend's connection file; its key lets --follow check signatures itself.")] = None,
    frames: Annotated[bool, typer.Option("--frames", help="--follow: draw every frame of every message.")] = False,
    prefix: Annotated[Optional[str], typer.Option(
        "--prefix", metavar="DIR",
        help="install/uninstall: the environment prefix (default: this Python's, sys.prefix).")] = None,
    json: JsonFlag = False,
) -> None:
    """Your own frontend's wire: a proxy kernel relays and records JupyterLab's traffic; --follow shows it live.

    With no ACTION: which taps are installed and which traces they wrote."""
    from kij.lessons import tap as lesson
    from kij.views import tap as view

    lesson.check_flags(action, follow, kernel, connection_file, frames, prefix, json)
    if action == "install":
        return show(lesson.install(kernel, prefix), json, view, view.render_installed)
    if action == "uninstall":
        removed = lesson.uninstall(kernel, prefix)
        return show({"removed": removed}, json, view, lambda _: view.render_removed(removed))
    if action == "prune":
        pruned = lesson.prune(older_than_s=None)
        return show({"removed": pruned}, json, view, lambda _: view.render_pruned(pruned))
    if follow:
        draw = view.Follower(frames=frames)
        for event in lesson.follow(action, connection_file):
            echo(draw(event))
        return
    show(lesson.status(), json, view, view.render_status)


@app.command(cls=Command)
def parallel(
    engines: Annotated[Optional[int], typer.Option(
        "--engines", "-n", metavar="N", help="How many engines kij starts (default 2).")] = None,
    profile: Annotated[Optional[str], typer.Option(
        "--profile", metavar="NAME",
        help="Attach to the cluster running in IPython profile NAME (e.g. started by `ipcluster start`); "
             "kij never stops it.")] = None,
    profile_dir: Annotated[Optional[str], typer.Option(
        "--profile-dir", metavar="DIR", help="Attach to the cluster whose profile directory is DIR.")] = None,
    save: Annotated[Optional[str], typer.Option(
        "--save", metavar="FILE", help="Also write the capture to FILE (kij frames --load FILE reads it).")] = None,
    json: JsonFlag = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS", callback=positive,
        help="Seconds each step may wait for the engines' replies (kij's own cluster: then stopped, exit 1; "
             "an attached one is left as it is).")] = 30.0,
) -> None:
    """Engines are kernels: a real ipyparallel cluster, its registration, apply_request on the wire, one engine bound."""
    from kij.lessons import parallel as lesson
    from kij.views import parallel as view

    lesson.check_flags(engines, profile, profile_dir, save)
    with shown_if_it_fails(json, "frames"), spinner(view.progress("starting …")) as status:
        result = lesson.run(engines, profile, profile_dir, timeout=timeout,
                            progress=lambda text: status.update(view.progress(text)),
                            tell=lambda text: echo(view.notice(text), stderr=True))
    if save:
        lesson.save(result, save)
    show(result, json, view)


@app.command(cls=Command)
def server(
    url: Annotated[Optional[str], typer.Option(
        "--url", metavar="URL", help="Attach to a running server (JupyterLab's, a JupyterHub user's) instead of "
                                     "starting one; kij never shuts it down.")] = None,
    token: Annotated[Optional[str], typer.Option(
        "--token", metavar="TOKEN", help="--url: the server's token (never printed whole).")] = None,
    kernel: Annotated[Optional[str], typer.Option(
        "--kernel", "-k", metavar="KERNEL_ID",
        help="--url: run the cell on this kernel (left running); default: a new kernel, shut down after.")] = None,
    save: Annotated[Optional[str], typer.Option(
        "--save", metavar="FILE", help="Also write both legs to FILE (kij frames --load FILE reads it).")] = None,
    json: JsonFlag = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS", callback=positive,
        help="Seconds kij waits for each reply (it never interrupts a kernel).")] = 30.0,
) -> None:
    """The server between browser and kernel: a cell over the websocket, signed by jupyter_server, and who owns the notebook."""
    from kij.lessons import server as lesson
    view = "server"  # imported only when drawn

    lesson.check_flags(url, token, kernel, save)
    with shown_if_it_fails(json, "frames"), spinner("starting jupyter_server …" if not url else "attaching …"):
        result = lesson.run(timeout=timeout, url=url, token=token, kernel=kernel,
                            tell=lambda text: echo(view_module(view).notice(text), stderr=True))
    if save:
        lesson.save(result, save)
    show(result, json, view)


@app.command("export", cls=Command)
def export(
    notebook: Annotated[Optional[str], typer.Argument(
        metavar="NOTEBOOK", help="The .ipynb to run and convert (only ever read). Default: demos/export/tiny.ipynb.")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="FILE.html", help="Write the HTML here. Without it nothing is kept.")] = None,
    save: Annotated[Optional[str], typer.Option(
        "--save", metavar="FILE", help="Also write the tap's trace of the execute stage to FILE "
                                       "(kij frames --load FILE reads it).")] = None,
    json: JsonFlag = False,
    timeout: Timeout = 30.0,
) -> None:
    """nbconvert's pipeline one stage at a time: execute (its kernel traffic tapped), the HTML exporter, a postprocessor."""
    from kij.lessons import export as lesson
    from kij.views import export as view

    lesson.check_flags(notebook or str(lesson.DEMO), output, save)
    with shown_if_it_fails(json, view), spinner("nbconvert is executing the notebook …"):
        result = lesson.run(notebook, output, timeout=timeout)
    if save:
        lesson.save(result, save)
    show(result, json, view)


@app.command(cls=Command)
def view(
    capture: Annotated[str, typer.Argument(
        metavar="CAPTURE", help="A kij-frames capture: kij frames --save, a tap trace, a lesson's --save.")],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="FILE.html", help="Where to write the page. Default: beside CAPTURE, .html.")] = None,
    open_it: Annotated[bool, typer.Option(
        "--open", help="Open the page in the desktop's browser (or say where it is when there is none).")] = False,
    large: Annotated[bool, typer.Option("--large", help="Large type, for a projector.")] = False,
    json: JsonFlag = False,
) -> None:
    """The wire as a picture: any capture drawn as a self-contained HTML sequence diagram."""
    from kij.lessons import view as lesson

    lesson.check_flags(capture, output)
    show(lesson.run(capture, output, large=large, open_it=open_it), json, "view")  # imported only when drawn
