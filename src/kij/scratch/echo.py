"""A wrapper kernel: ipykernel does all the messaging, this file only says what "running code" means.

The recipe is "Making simple Python wrapper kernels" in jupyter_client's
documentation (docs/wrapperkernels.rst in its repository): subclass
``ipykernel.kernelbase.Kernel``, fill in the kernel_info attributes, implement
``do_execute`` — and optionally ``do_complete``, ``do_inspect``,
``do_is_complete``, ``do_history`` and ``do_shutdown``. (ipykernel 7 awaits
these, so they are ``async def`` here where the recipe writes plain ``def``.)
Compare it with ``native.py``: everything that file does with sockets and
signatures, the base class does here for free.

The "language" is echo:

    hello          → echoed on stdout (what the recipe's own example does)
    !oops          → "oops" echoed on stderr
    =42            → "42" returned as the cell's result (Out[n])

Run it the way Jupyter does:  python -m kij.scratch.echo -f kernel-1234.json
"""

from __future__ import annotations

import fnmatch

from ipykernel.kernelbase import Kernel


class EchoKernel(Kernel):
    implementation = "kij-echo"
    implementation_version = "0.1.0"
    language = "echo"
    language_version = "0.1"
    # "name" must match the kernelspec's "language" (share/jupyter/kernels/kij-echo/kernel.json);
    # pygments has no "echo" lexer, so frontends that highlight are pointed at plain text.
    language_info = {"name": "echo", "mimetype": "text/plain", "file_extension": ".txt", "pygments_lexer": "text"}
    banner = "Echo kernel (kij wrapper) - as useful as a parrot"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inputs: list[tuple[int, str, str | None]] = []  # (line, input, output) for do_history

    async def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False,
                   *, cell_meta=None, cell_id=None):
        # The base class has already counted this execution and will send the reply.
        output = None
        if code.startswith("="):
            output = code[1:]
            if not silent:
                content = {"execution_count": self.execution_count, "data": {"text/plain": output}, "metadata": {}}
                self.send_response(self.iopub_socket, "execute_result", content)
        elif not silent:
            name, text = ("stderr", code[1:]) if code.startswith("!") else ("stdout", code)
            self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})
        if store_history:
            self.inputs.append((self.execution_count, code, output))
        return {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}

    def words(self) -> set[str]:
        return {word for _, code, _ in self.inputs for word in code.lstrip("=!").split()}

    async def do_complete(self, code, cursor_pos):
        """Complete from the words this kernel has already echoed."""
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        prefix = code[:cursor_pos].split()[-1] if code[:cursor_pos].strip() else ""
        if code[:cursor_pos].endswith((" ", "\n")):
            prefix = ""
        matches = sorted(w for w in self.words() if w.startswith(prefix) and w != prefix)
        return {"status": "ok", "matches": matches, "cursor_start": cursor_pos - len(prefix),
                "cursor_end": cursor_pos, "metadata": {}}

    async def do_inspect(self, code, cursor_pos, detail_level=0, omit_sections=()):
        """Inspecting a word says how often it has been echoed."""
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        before = code[:cursor_pos].split()
        word = before[-1].lstrip("=!") if before and not code[:cursor_pos].endswith(" ") else ""
        count = sum(code.lstrip("=!").split().count(word) for _, code, _ in self.inputs) if word else 0
        if not count:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        text = f"{word!r} has been echoed {count} time(s)"
        return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}

    async def do_is_complete(self, code):
        """A trailing backslash continues the line, as in a shell."""
        if code.rstrip("\n").endswith("\\"):
            return {"status": "incomplete", "indent": ""}
        return {"status": "complete"}

    async def do_history(self, hist_access_type, output, raw, session=None, start=None, stop=None, n=None,
                   pattern=None, unique=False):
        entries = [(1, line, code, out) for line, code, out in self.inputs]  # one session, numbered 1
        if hist_access_type == "range":
            entries = [e for e in entries if e[1] >= (start or 0) and (stop is None or e[1] < stop)]
        elif hist_access_type == "search":
            entries = [e for e in entries if fnmatch.fnmatch(e[2], pattern or "*")]
            if unique:
                latest = {e[2]: e for e in entries}  # the last occurrence of each input wins
                entries = sorted(latest.values(), key=lambda e: e[1])
        if hist_access_type in ("tail", "search") and n:
            entries = entries[-n:]
        if output:
            return {"status": "ok", "history": [[s, line, [code, out]] for s, line, code, out in entries]}
        return {"status": "ok", "history": [[s, line, code] for s, line, code, _ in entries]}

    async def do_shutdown(self, restart):
        self.inputs.clear()  # our only resource; the base class closes the sockets
        return {"status": "ok", "restart": restart}


if __name__ == "__main__":
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(kernel_class=EchoKernel)
