"""kij's command line: the entry point, the instant `kij --help`, and the exit codes.

The commands themselves are in kij.app (a typer app, one function per command).
This module imports nothing heavy: `kij --help` is answered from the COMMANDS table
below without importing typer or rich, and for a command it puts a "starting …"
line on the terminal before it imports the app, the lessons and jupyter_client.

Exit codes: 0 ok, 1 the kernel failed (died, hung), 2 bad input, 130 after Ctrl-C,
143 after SIGTERM — always after every kernel kij started has been shut down. A
closed pipe (`kij tour | head`) ends quietly with 0.
"""

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
    "which": "Which Python is my kernel? sys.executable vs `!which python3`, and the PATH trap.",
    "tour": "Every lesson in order, each with its takeaway; kernels boot ahead in the background.",
    "check": "Build a kernel step by step: check a demos/build step and see what the next one needs.",
    "tap": "Your own frontend's wire: a proxy kernel relays and records JupyterLab's traffic; --follow shows it live.",
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
        return group.commands[argv[0]], argv[1:], f"kij {argv[0]}"
    return group, argv, "kij"


def run(argv: list[str]) -> int:
    """Run one kij command; return its exit code. Never lets a traceback through
    for a user's mistake or a kernel's fault."""
    from kij import views

    if not argv[0].startswith("-") and argv[0] not in COMMANDS:
        views.error_line(f"no command {argv[0]!r}; the commands are {', '.join(COMMANDS)} (kij --help)")
        return 2
    if argv[0] in COMMANDS and not set(HELP) & set(argv):
        views.starting(argv[0])
    try:
        return _run(argv)
    finally:
        views.erase_starting()  # a command that printed nothing leaves no "starting …" behind


def _run(argv: list[str]) -> int:
    from typer.exceptions import TyperException

    from kij import kernel, views
    from kij.errors import KijError, Terminated

    kernel.raise_on_sigterm()
    kernel.boot_indicator = views.booting
    kernel.stop_indicator = views.stopping
    try:
        command, args, prog = command_line(argv)
        code = command.main(args, prog_name=prog, standalone_mode=False)
        sys.stdout.flush()
    except KijError as exc:
        views.error_line(str(exc))
        return exc.exit_code
    except TyperException as exc:  # bad flag, missing value, unknown command
        views.error_line(exc.format_message())
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        code = 130
    except Terminated:
        views.error_line("terminated (SIGTERM); every kernel kij started has been shut down")
        return 143
    except BrokenPipeError:
        views.closed_pipe()
    if code == 130:
        views.error_line("interrupted; every kernel kij started has been shut down")
    return code if isinstance(code, int) else 0


def main() -> None:
    argv = sys.argv[1:]
    if argv in ([], *([h] for h in HELP)):
        print(quick_help())
        sys.exit(0)
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
