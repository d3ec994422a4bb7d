"""kij's command line: one thin command per lesson (parse → run the lesson → render).

Everything heavy is imported inside the command that needs it. `kij --help` is
answered from the COMMANDS table below without importing typer or rich at all,
so it returns at once; `kij COMMAND --help` is typer's full help.

Exit codes: 0 ok, 1 the kernel failed (died, hung), 2 bad input, 130 after Ctrl-C,
143 after SIGTERM — always after every kernel kij started has been shut down.
"""

import sys

# The one list of commands: the quick help and typer's help both read it.
COMMANDS = {
    "repl-diff": "Same snippet, three interpreters: bare python3, terminal IPython, the python3 kernel.",
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


def quick_help() -> str:
    width = max(map(len, COMMANDS))
    lines = [ABOUT, "", "Usage: kij COMMAND [OPTIONS]", "", "Commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    lines += ["", "Run `kij COMMAND --help` for a command's options (most take --json)."]
    return "\n".join(lines)


def build_app():
    """The typer app. Built on demand so that importing this module costs nothing."""
    from pathlib import Path
    from typing import Annotated, Optional

    import typer

    app = typer.Typer(add_completion=False, no_args_is_help=True, help=ABOUT)
    JsonFlag = Annotated[bool, typer.Option("--json", help="Print the facts as one JSON document, no markup.")]
    Timeout = Annotated[float, typer.Option("--timeout", help="Seconds a cell may run before kij interrupts it.")]

    @app.command("repl-diff", help=COMMANDS["repl-diff"])
    def repl_diff(
        code: Annotated[Optional[str], typer.Option("--code", "-c", help="A snippet to feed instead of the default four lines.")] = None,
        file: Annotated[Optional[str], typer.Option("--file", "-f", help="A Python file to feed instead.")] = None,
        json: JsonFlag = False,
        timeout: Timeout = 30.0,
    ) -> None:
        from kij.lessons import repl_diff as lesson

        snippet = lesson.snippet_from(code, file)
        show(lesson.run(snippet, timeout=timeout), json, "repl_diff")

    @app.command(help=COMMANDS["state"])
    def state(json: JsonFlag = False, timeout: Timeout = 30.0) -> None:
        from kij.lessons import state as lesson

        show(lesson.run(timeout=timeout), json, "state")

    @app.command(help=COMMANDS["magics"])
    def magics(json: JsonFlag = False, timeout: Timeout = 30.0) -> None:
        from kij.lessons import magics as lesson

        show(lesson.run(timeout=timeout), json, "magics")

    @app.command(help=COMMANDS["swap"])
    def swap(
        kernel: Annotated[
            Optional[list[str]],
            typer.Option("--kernel", "-k", help="A kernelspec to drive (repeatable). Default: python3 and bash."),
        ] = None,
        json: JsonFlag = False,
        timeout: Timeout = 30.0,
    ) -> None:
        from kij.errors import KernelFault
        from kij.lessons import swap as lesson

        result = lesson.run(kernel, timeout=timeout)
        show(result, json, "swap")
        if result.failed:  # shown with the others; stderr and the exit code say so too
            raise KernelFault("; ".join(a.error for a in result.answers if a.error and not a.skipped))

    @app.command(help=COMMANDS["frames"])
    def frames(
        code: Annotated[
            Optional[str],
            typer.Option("--code", "-c", help="The cell to send. Default: x = 6 * 7; print('the answer is', x); x"),
        ] = None,
        kernel: Annotated[str, typer.Option("--kernel", "-k", help="The kernelspec to boot.")] = "python3",
        existing: Annotated[
            Optional[str],
            typer.Option("--existing", metavar="CONNECTION_FILE",
                         help="Attach to a running kernel (e.g. JupyterLab's) instead; kij leaves it running."),
        ] = None,
        save: Annotated[
            Optional[str],
            typer.Option("--save", metavar="FILE", help="Also write the capture to FILE (.jsonl: JSON lines)."),
        ] = None,
        load: Annotated[
            Optional[str],
            typer.Option("--load", metavar="FILE", help="Show a saved capture; no kernel is started."),
        ] = None,
        json: JsonFlag = False,
        timeout: Timeout = 30.0,
    ) -> None:
        from kij import trace
        from kij.errors import UserError
        from kij.lessons import frames as lesson

        if load and (existing or code is not None or save):
            raise UserError("--load shows a saved capture; it cannot be combined with --code, --existing or --save")
        if load:
            capture = lesson.load(load)
        else:
            if save:
                trace.check_writable(save)
            capture = lesson.run(code=code, kernel_name=kernel, existing=existing, timeout=timeout)
            if save:
                trace.save(capture, save)
        show(capture, json, "frames")

    @app.command(help=COMMANDS["check"])
    def check(
        step: Annotated[str, typer.Argument(help="The step: 1-7, 03 or 03_sign_and_verify.")],
        file: Annotated[
            Optional[Path], typer.Option("--file", "-f", help="Check your own script instead of demos/build/'s.")
        ] = None,
        json: JsonFlag = False,
    ) -> None:
        from kij.lessons import check as lesson

        result = lesson.run(step, file)
        show(result, json, "check")
        if not result.passed:
            raise typer.Exit(1)

    @app.command(help=COMMANDS["which"])
    def which(
        kernel: Annotated[str, typer.Option("--kernel", "-k", help="The Python kernelspec to ask.")] = "python3",
        json: JsonFlag = False,
        timeout: Timeout = 30.0,
    ) -> None:
        from kij.lessons import which as lesson

        show(lesson.run(kernel, timeout=timeout), json, "which")

    @app.command(help=COMMANDS["tour"])
    def tour(
        pause: Annotated[bool, typer.Option("--pause", help="Wait for Enter between lessons (only when stdin is a terminal).")] = False,
        timeout: Timeout = 30.0,
    ) -> None:
        from kij.lessons import tour as lesson
        from kij.views import tour as view

        def render(stop) -> None:
            show(stop.result, False, stop.view)

        waits = pause and sys.stdin.isatty()
        view.summary(lesson.run(view.announce, render, view.pause if waits else None, timeout=timeout))

    @app.command(help=COMMANDS["tap"] + " ACTION: install | uninstall (a tap kernelspec in front of --kernel) "
                      "| prune (remove every finished trace).")
    def tap(
        action: Annotated[
            Optional[str],
            typer.Argument(metavar="[install|uninstall|prune|FILE]",
                           help="install / uninstall a kij-tap-KERNEL kernelspec; prune: remove finished traces; "
                                "with --follow, the trace to follow."),
        ] = None,
        follow: Annotated[
            bool, typer.Option("--follow", help="Show the newest trace (or FILE) live, like `kij frames`; Ctrl-C ends it."),
        ] = False,
        kernel: Annotated[
            Optional[str], typer.Option("--kernel", "-k", help="install/uninstall: the kernelspec to put behind the tap."),
        ] = None,
        connection_file: Annotated[
            Optional[str],
            typer.Option("--connection-file", metavar="FILE",
                         help="--follow: the frontend's connection file; its key lets --follow check signatures itself."),
        ] = None,
        frames: Annotated[bool, typer.Option("--frames", help="--follow: draw every frame of every message.")] = False,
        prefix: Annotated[
            Optional[str],
            typer.Option("--prefix", help="install/uninstall: the environment prefix (default: this Python's, sys.prefix)."),
        ] = None,
        json: JsonFlag = False,
    ) -> None:
        from kij.errors import UserError
        from kij.lessons import tap as lesson
        from kij.views import tap as view

        if action in ("install", "uninstall"):
            if follow or connection_file or frames:
                raise UserError(f"kij tap {action} takes --kernel and --prefix, not --follow")
            if action == "install":
                if not kernel:
                    raise UserError("kij tap install needs --kernel NAME (the kernelspec to put behind the tap)")
                result = lesson.install(kernel, prefix)
                return views.print_json(result) if json else view.render_installed(result)
            removed = lesson.uninstall(kernel, prefix)
            return views.print_json({"removed": removed}) if json else view.render_removed(removed)
        if action == "prune":
            if follow or connection_file or frames or kernel or prefix:
                raise UserError("kij tap prune takes no flags: it removes every finished trace (never a live one)")
            pruned = lesson.prune(older_than_s=None)
            return views.print_json({"removed": pruned}) if json else view.render_pruned(pruned)
        if follow:
            if json:
                raise UserError("--follow draws for people; the trace itself is the JSON (JSON lines)")
            draw = view.Follower(frames=frames)
            for event in lesson.follow(action, connection_file):
                draw(event)
            return
        if action is not None:
            raise UserError(f"unknown action {action!r}: use install, uninstall, prune, or --follow [FILE]")
        result = lesson.status()
        views.print_json(result) if json else view.render_status(result)

    from kij import views

    return app


def show(result, as_json: bool, view: str) -> None:
    """Render a lesson's result: JSON for programs, the lesson's rich view for people."""
    import importlib

    from kij import views

    if as_json:
        views.print_json(result)
    else:
        importlib.import_module(f"kij.views.{view}").render(result)


def run(argv: list[str]) -> int:
    """Run one kij command; return its exit code. Never lets a traceback through
    for a user's mistake or a kernel's fault."""
    from typer import main as typer_main
    from typer.exceptions import TyperException

    from kij import kernel, views
    from kij.errors import KijError, Terminated

    kernel.raise_on_sigterm()
    kernel.boot_indicator = views.booting
    try:
        command = typer_main.get_command(build_app())
        code = command.main(argv, prog_name="kij", standalone_mode=False)
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
    if code == 130:
        views.error_line("interrupted; every kernel kij started has been shut down")
    return code if isinstance(code, int) else 0


def main() -> None:
    argv = sys.argv[1:]
    if argv in ([], ["--help"], ["-h"]):
        print(quick_help())
        sys.exit(0)
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
