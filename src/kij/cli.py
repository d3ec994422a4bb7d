"""kij's command line: the entry point, the instant `kij --help`, the exit codes, and
the only code in kij that prints.

The commands themselves are in kij.app (a typer app, one function per command).
This module imports nothing heavy: `kij --help` is answered from the COMMANDS table
below without importing typer or rich, and for a command it puts a "starting …"
line on the terminal before it imports the app, the lessons and jupyter_client.

Views return rich renderables; `echo` prints them (on stdout, or on stderr for
what a person must hear while --json stays clean), `print_json` prints a result's
facts. The CLI's own few words are here too: the boot spinner, "stopping kernels …"
after Ctrl-C, error lines.

Exit codes: 0 ok, 1 the kernel failed (died, hung), 2 bad input, 130 after Ctrl-C,
143 after SIGTERM — always after every kernel kij started has been shut down. A
closed pipe (`kij tour | head`) ends quietly with 0.
"""

import contextlib
import json
import os
import re
import shutil
import sys
import textwrap

# The one-line summary of each command, for the instant `kij --help`; each is the
# first line of its command's docstring in kij.app (tests/test_cli.py checks).
COMMANDS = {
    "repl-diff": "Same snippet, four interpreters: python3 as a script, the python3 REPL, terminal IPython, the kernel.",
    "state": "State lives in the kernel, not in the cells: two clients, one kernel, a restart.",
    "frames": "Every socket, every frame, every signature: a cell's raw ZeroMQ messages, forgeries refused.",
    "magics": "Magics are just registered functions: %clap and %%shout in-process and in a kernel.",
    "swap": "The kernel is swappable: one client function drives Python and Bash alike.",
    "kernels": "Wrapper vs native: kij-echo, kij-native and bash side by side — who writes the messaging.",
    "control": "Beside execute: shell is a queue, control is not — interrupt, subshells, the debugger, CurveZMQ.",
    "comms": "Comms, and the widgets that ride on them: comm_open/msg/close by hand, an IntSlider played from kij.",
    "which": "Which Python is my kernel? sys.executable vs `!which python3`, and the PATH trap.",
    "tour": "Every lesson in order, each with its takeaway; kernels boot ahead in the background.",
    "check": "Build a kernel step by step: check a demos/build step and see what the next one needs.",
    "tap": "Your own frontend's wire: a proxy kernel relays and records JupyterLab's traffic; --follow shows it live.",
    "parallel": "Engines are kernels: a real ipyparallel cluster, its registration, apply_request on the wire, one engine bound.",
    "server": "The server between browser and kernel: a cell over the websocket, signed by jupyter_server, and who owns the notebook.",
    "export": "nbconvert's pipeline one stage at a time: execute (its kernel traffic tapped), the HTML exporter, a postprocessor.",
    "view": "The wire as a picture: any capture drawn as a self-contained HTML sequence diagram.",
}

ABOUT = "kij — kernel · IPython · Jupyter: a playground that makes the seams felt."
HELP = ("--help", "-h")


def quick_help(columns: int | None = None) -> str:
    """The top-level help, wrapped to the terminal: each summary hangs under itself."""
    columns = max((columns or shutil.get_terminal_size().columns) - 1, 40)
    width = max(map(len, COMMANDS))
    lines = textwrap.wrap(ABOUT, columns) + ["", "Usage: kij COMMAND [OPTIONS]", "", "Commands:"]
    for name, text in COMMANDS.items():
        lines += textwrap.wrap(text, columns, initial_indent=f"  {name:<{width}}  ",
                               subsequent_indent=" " * (width + 4))
    lines += [""] + textwrap.wrap("Run `kij COMMAND --help` for a command's options (most take --json).", columns)
    return "\n".join(lines)


def command_line(argv: list[str]):
    """The click command to run argv with, and the arguments left for it.

    A known command is run by itself rather than through typer's group: the group
    would coerce its own unset --help through pydantic first, a quarter of a second
    spent on every command, `kij frames --help` included."""
    from typer.main import get_command

    from kij.app import app

    group = get_command(app)
    if argv[0] in group.commands:
        return _plainly_coerced(group.commands[argv[0]]), argv[1:], f"kij {argv[0]}"
    return group, argv, "kij"


# A flag's value that converts the plain way exactly as pydantic would convert it.
# (bool: only an unset flag or a bool itself; any text goes to typer.)
_PLAIN = {str: None, int: re.compile(r"[+-]?\d+"), float: re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"),
          bool: re.compile(r"(?!)")}


class _PlainCoercion:
    """typer (0.29) turns each flag's text into its type through a pydantic TypeAdapter,
    built on first use — importing pydantic and building the adapters cost kij's process
    more CPU than anything else it does beside its kernels. kij's flags are str, int,
    float, bool and list[str] (or None): a value of plain form is converted here; any
    other (a typo, `inf`) goes to typer's own coercion, so what is accepted and every
    error message stay typer's. (The unset --help flag, too, would build an adapter.)"""

    def __init__(self, kind: type):
        self.kind = kind

    def coerce(self, value, param, ctx):
        if self.kind is list:  # a repeatable str flag: typer gives () when unset, else a list
            if value is None:
                return ()
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return list(value)
        elif value is None or type(value) is self.kind:  # unset, or the default as written
            return value
        else:
            pattern = _PLAIN[self.kind]
            if isinstance(value, str) and (pattern is None or pattern.fullmatch(value)):
                return self.kind(value)
        from typer._coercion import build_runtime_param

        param._runtime_param = build_runtime_param(param.type_descriptor)
        return param._runtime_param.coerce(value, param=param, ctx=ctx)


def _plainly_coerced(command):
    """The command, its str / int / float / bool / list[str] flags (typer has already
    taken Optional off) coerced by _PlainCoercion; any other kind is left to typer."""
    help_option = command.get_help_option(command.context_class(command))  # made once, kept by typer
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        kind = list if annotation == list[str] else annotation
        if kind in (*_PLAIN, list) and getattr(param, "_runtime_param", False) is None:
            param._runtime_param = _PlainCoercion(kind)
    return command


def run(argv: list[str]) -> int:
    """Run one kij command; return its exit code. Never lets a traceback through
    for a user's mistake or a kernel's fault."""
    if not argv[0].startswith("-") and argv[0] not in COMMANDS:
        error_line(f"no command {argv[0]!r}; the commands are {', '.join(COMMANDS)} (kij --help)")
        return 2
    if argv[0] in COMMANDS and not set(HELP) & set(argv):
        starting(argv[0])
    try:
        return _run(argv)
    finally:
        erase_starting()  # a command that printed nothing leaves no "starting …" behind


def _run(argv: list[str]) -> int:
    from typer.exceptions import TyperException

    from kij import kernel
    from kij.errors import KijError, Terminated

    kernel.raise_on_sigterm()
    kernel.boot_indicator = booting
    kernel.stop_indicator = stopping
    try:
        command, args, prog = command_line(argv)
        code = command.main(args, prog_name=prog, standalone_mode=False)
        sys.stdout.flush()
    except KijError as exc:
        error_line(str(exc))
        return exc.exit_code
    except TyperException as exc:  # bad flag, missing value, unknown command
        error_line(exc.format_message())
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        code = 130
    except Terminated:
        error_line("terminated (SIGTERM); every kernel kij started has been shut down")
        return 143
    except BrokenPipeError:
        closed_pipe()
    if code == 130:
        error_line("interrupted; every kernel kij started has been shut down")
    return code if isinstance(code, int) else 0


# --- printing -------------------------------------------------------------------------

_starting_shown = False  # the "starting …" line is on stderr and not yet erased


def starting(command: str) -> None:
    """Something on screen at once: one line on stderr, on a terminal only, erased by
    whatever kij prints next (importing jupyter_client alone takes most of a second)."""
    global _starting_shown
    if sys.stderr.isatty():
        # never wider than the terminal: a wrapped line would leave its first row behind
        # when erased (the erase clears only the row the cursor is on)
        columns = shutil.get_terminal_size().columns
        sys.stderr.write(f"kij {command}: starting …"[:max(columns - 1, 1)])
        sys.stderr.flush()
        _starting_shown = True


def erase_starting() -> None:
    global _starting_shown
    if _starting_shown:
        sys.stderr.write("\r\x1b[2K")
        sys.stderr.flush()
        _starting_shown = False


def closed_pipe() -> None:
    """stdout's reader went away: send the rest to /dev/null and end quietly (exit 0)."""
    from kij.errors import ClosedPipe

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise ClosedPipe()


class _Tidy:
    """stdout for a file or a pipe: no spaces at the ends of lines (rich pads wrapped
    lines and table rows) and never two blank lines in a row, nor one at the top.
    Invisible on a terminal, noise in a file; used only when stdout is not a terminal."""

    def __init__(self, stream):
        self.stream = stream
        self.newlines = 2  # how many newlines the output so far ends with (at most 2)

    def write(self, text: str) -> int:
        text = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", text))
        lead = len(text) - len(text.lstrip("\n"))
        text = text[max(0, lead - max(0, 2 - self.newlines)):] if lead else text
        if text.strip("\n"):
            self.newlines = min(2, len(text) - len(text.rstrip("\n")))
        else:
            self.newlines = min(2, self.newlines + len(text))
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


_tidy: _Tidy | None = None  # one for the whole run: blank lines span many prints


def _stdout():
    global _tidy
    if sys.stdout.isatty():
        return None  # rich's own choice, sys.stdout
    if _tidy is None or _tidy.stream is not sys.stdout:
        _tidy = _Tidy(sys.stdout)
    return _tidy


def console(stderr: bool = False):
    """A rich Console on stdout (or stderr). rich itself honours NO_COLOR, narrow
    terminals and output piped to a file (no colour codes, no spinner animation)."""
    from rich.console import Console

    erase_starting()
    con = Console(stderr=stderr, highlight=False, soft_wrap=False, file=None if stderr else _stdout())
    if con.is_jupyter:
        # Inside a notebook rich would turn every print into a display of its own;
        # one ANSI-coloured text stream (which JupyterLab and nbconvert colour) reads
        # like the terminal and keeps the notebook small.
        con = Console(stderr=stderr, highlight=False, soft_wrap=False,
                      force_jupyter=False, force_terminal=True, width=110)
    con.on_broken_pipe = closed_pipe  # rich's own handler exits 1: "the kernel failed"
    return con


def echo(renderable, stderr: bool = False, end: str = "\n") -> None:
    """Print what a view drew: on stdout, or on stderr (a word to a person that must
    not mix with --json). A str is rich markup."""
    console(stderr=stderr).print(renderable, end=end)


def drawn(renderable) -> str:
    """What `echo` would print on stdout, as text (styles included), not printed yet."""
    con = console()
    with con.capture() as page:
        con.print(renderable)
    return page.get()


def print_json(result) -> None:
    """One JSON document on stdout, no markup: the facts a lesson returned."""
    from kij.views import facts

    erase_starting()
    try:
        sys.stdout.write(json.dumps(facts(result), indent=2, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        closed_pipe()


def spinner(text: str):
    """A spinner on stderr while something runs; `.update(text)` renames it. Only on a
    terminal: elsewhere rich would draw nothing, yet its refresh thread would still wake
    12 times a second for the whole boot — CPU taken from the booting kernels."""
    if _plainly_no_terminal():
        return _Unseen()
    con = console(stderr=True)
    if not con.is_terminal or con.is_dumb_terminal:
        return _Unseen()
    return con.status(text, spinner="dots")


def _plainly_no_terminal() -> bool:
    """stderr is no terminal and nothing could make rich take it for one (a notebook, or
    one of the variables rich reads): then kij knows without importing rich (30 ms)."""
    overrides = ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    return not sys.stderr.isatty() and "IPython" not in sys.modules and not any(v in os.environ for v in overrides)


class _Unseen:
    """The spinner where none can be seen: a context that does nothing, and renames too."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, *args, **kwargs) -> None:
        pass


def booting(names: list[str]):
    """The spinner shown while kernels boot."""
    return spinner(f"booting {', '.join(names)} …")


@contextlib.contextmanager
def stopping(names: list[str]):
    """Said at once after Ctrl-C or SIGTERM, while kij shuts its kernels down."""
    count = f"{len(names)} kernel{'s' if len(names) != 1 else ''}"
    with contextlib.suppress(Exception):  # a word to the user must never stop the shutdown
        console(stderr=True).print(f"stopping {count} kij started ({', '.join(names)}) …",
                                   markup=False, soft_wrap=True)
    yield


def error_line(message: str) -> None:
    """A user-facing failure: one line on stderr, no traceback."""
    from rich.markup import escape

    # soft_wrap: one line however long, so scripts (and people) can grep it;
    # escape: a message quoting [brackets] is text, not markup
    console(stderr=True).print(f"[bold red]kij:[/] {escape(message)}", markup=True, highlight=False,
                               soft_wrap=True)


def main() -> None:
    # Where PYTHONDONTWRITEBYTECODE is set, nothing writes a .pyc, and every kij command
    # compiled typer, rich and kij from source: 0.5 s of CPU before it did anything
    # (0.7-0.9 s against 0.26 s for `kij state` on bad input). kij writes the bytecode of
    # what it imports, as the kernels it starts do (kij.kernel.kernel_env).
    sys.dont_write_bytecode = False
    argv = sys.argv[1:]
    if argv in ([], *([h] for h in HELP)):
        print(quick_help())
        sys.exit(0)
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
