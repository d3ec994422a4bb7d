"""`kij swap` — the kernel is swappable: one client, many languages.

What the learner should feel: the frontend has no idea what language it is driving.
One client function — `ask` below, with not a line of language-specific logic —
asks each kernel who it is (kernel_info) and runs a snippet, and Python and Bash
answer over the very same protocol. Only the snippet text differs, because it is
written in the kernel's language; the kernels boot side by side, so the lesson takes
about as long as its slowest kernel, not the sum.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field

from kij.errors import KernelFault, UserError
from kij.kernel import Kernel, check_kernel_names, ms_since, started, timed

DEFAULT_KERNELS = ["python3", "bash"]

# One snippet per language (keyed by kernel_info's language_info.name): print the
# language's version, then compute 2^10 = 1024. A language not listed still shows
# its kernel_info.
SNIPPETS = {
    "python": "import platform\nprint('python kernel:', platform.python_version())\nprint(2 ** 10)",
    "bash": 'echo "bash kernel: $BASH_VERSION"\necho "2^10 = $((2 ** 10))"',
}

TAKEAWAY = "Same protocol, same client code, different languages: swap the kernel, keep the frontend."


def takeaway_for(answers: list[Answer]) -> str:
    """TAKEAWAY when kernels of two or more languages answered; else what was seen."""
    languages = list(dict.fromkeys(a.language for a in answers if a.language))
    answered = [a for a in answers if a.language]
    if len(languages) >= 2:
        return TAKEAWAY
    if len(answered) >= 2:
        return (f"Same protocol, same client code — but all {len(answered)} kernels speak "
                f"{languages[0]}: swap in another language (e.g. -k python3 -k bash) to see "
                "the frontend not care.")
    if answered:
        return (f"One {languages[0]} kernel answered, so nothing was swapped: give two kernels "
                "of different languages (e.g. -k python3 -k bash).")
    return "No kernel answered, so nothing was swapped."


def check_distinct(names: list[str]) -> None:
    """swap drives each kernel once: a kernel named twice is a mistake, said before booting."""
    twice = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    if twice:
        raise UserError(f"got the same kernel twice ({', '.join(twice)}): swap compares different "
                        "kernels, e.g. -k python3 -k bash")


@dataclass
class Answer:
    """What one kernel said about itself and what its snippet printed."""

    kernel: str
    pid: int | None = None
    language: str | None = None
    language_version: str | None = None
    implementation: str | None = None
    implementation_version: str | None = None
    protocol_version: str | None = None
    banner: str | None = None
    snippet: str | None = None
    output: str | None = None
    boot_ms: float | None = None
    run_ms: float | None = None
    skipped: str | None = None  # why this kernel was not run at all
    error: str | None = None  # what went wrong while it was running


@dataclass
class SwapResult:
    answers: list[Answer] = field(default_factory=list)
    elapsed_ms: float = 0.0
    takeaway: str = TAKEAWAY

    @property
    def failed(self) -> bool:
        """A kernel died or never answered (a skipped one is not a failure)."""
        return any(a.error and not a.skipped for a in self.answers)


def ask(kernel: Kernel, timeout: float) -> Answer:
    """The one client function: identical for every kernel, whatever its language."""
    answer = Answer(kernel=kernel.name, pid=kernel.pid, boot_ms=kernel.boot_ms)
    t0 = time.monotonic()
    info = kernel.kernel_info()
    lang = info.get("language_info", {})
    answer.language = lang.get("name")
    answer.language_version = lang.get("version")
    answer.implementation = info.get("implementation")
    answer.implementation_version = info.get("implementation_version")
    answer.protocol_version = info.get("protocol_version")
    answer.banner = (info.get("banner") or "").strip()
    answer.snippet = SNIPPETS.get(answer.language or "")
    if answer.snippet:
        cell = kernel.execute(answer.snippet, timeout=timeout)
        answer.output = (cell.stdout + (cell.result or "")).strip()
        if cell.ename:
            answer.error = f"{cell.ename}: {cell.evalue}"
    answer.run_ms = ms_since(t0)
    return answer


def _missing_executable(name: str) -> str | None:
    """A kernel that needs a program that is not on PATH (bash needs bash)."""
    if name == "bash" and shutil.which("bash") is None:
        return "no bash executable on PATH, so the bash kernel cannot run"
    return None


def runnable(names: list[str]) -> tuple[list[str], list[Answer]]:
    """Split kernel names into those that can run here and Answers for those skipped."""
    ok, skipped = [], []
    for name in names:
        why = _missing_executable(name)
        if why:
            skipped.append(Answer(kernel=name, skipped=why))
        else:
            ok.append(name)
    return ok, skipped


@timed
def run(names: list[str] | None = None, timeout: float = 30.0) -> SwapResult:
    """Boot the kernels side by side and drive each with `ask`."""
    names = list(names or DEFAULT_KERNELS)
    check_distinct(names)
    check_kernel_names(names)
    result = SwapResult()
    to_run, result.answers = runnable(names)
    with started(to_run, keep_failed=True) as kernels:
        for kernel in kernels:
            if kernel.boot_error:
                result.answers.append(Answer(kernel=kernel.name, error=kernel.boot_error))
                continue
            try:
                result.answers.append(ask(kernel, timeout))
            except KernelFault as exc:
                result.answers.append(Answer(kernel=kernel.name, error=str(exc)))
    order = {n: i for i, n in enumerate(names)}
    result.answers.sort(key=lambda a: order[a.kernel])
    result.takeaway = takeaway_for(result.answers)
    return result
