"""`kij kernels` — two ways to make a kernel: a wrapper, or everything written out.

What the learner should feel: a kernel is any process that speaks the protocol, and
there are two ways to get there (the seeds' architecture page, 001_…). A *wrapper*
kernel subclasses ipykernel's `Kernel` and writes only what "running code" means —
kij-echo in a few dozen lines, bash_kernel driving a real bash through pexpect —
while ipykernel (and jupyter_client's Session) does the sockets, the signing,
busy/idle, the execution count, history, interrupt and shutdown. A *native* kernel
writes all of that itself: kij-native, in one file of pyzmq and the standard library.

Everything here is computed from this run: the three kernels boot side by side (kij
reads the sources meanwhile) and are driven by `kij swap`'s one client function (`swap.ask`); each one's kernelspec
is read through jupyter_client's KernelSpecManager and set beside the process's real
command line (/proc/PID/cmdline), to show `{connection_file}` replaced by the file
jupyter_client wrote; the wrappers' overrides come from inspecting their classes
against ipykernel's base, and who does each job — in ipykernel, in native.py — from
the source itself (ast), with line ranges and counts.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kij.errors import KernelFault
from kij.kernel import Kernel, check_kernel_names, kernelspec, ready, spec_manager, started, timed
from kij.lessons import swap

KERNELS = ["kij-echo", "kij-native", "bash"]
BASE = "ipykernel.kernelbase.Kernel"

# Where ipykernel's side of the work is written: the Kernel base class, the app that
# binds the sockets and starts the heartbeat, and jupyter_client's Session, which
# signs and checks every message for it.
IPYKERNEL_MODULES = ["ipykernel.kernelbase", "ipykernel.kernelapp", "ipykernel.heartbeat",
                     "jupyter_client.session"]
NATIVE_MODULE = "kij.scratch.native"

TAKEAWAY = ("A wrapper kernel writes only what running code means and inherits the messaging "
            "from ipykernel; a native kernel writes the messaging too — and one client drives both alike.")


# --- the result ----------------------------------------------------------------------


@dataclass
class Place:
    """A function (or method) in a source file, with its line range."""

    module: str
    qualname: str
    start: int
    end: int
    section: str | None = None  # native.py's section it sits in
    calls: list[str] = field(default_factory=list)  # the do_* hooks it calls on self
    lines: int = field(init=False)

    def __post_init__(self):
        self.lines = self.end - self.start + 1


@dataclass
class Responsibility:
    """One job every kernel must do, and who does it in each kind of kernel."""

    name: str
    what: str
    ipykernel: list[Place] = field(default_factory=list)  # inherited by every wrapper
    native: list[Place] = field(default_factory=list)  # written out in native.py
    # the do_* hooks ipykernel's code above hands over to, and which wrapper (by
    # kernel name) overrides which of them; a hook not overridden runs the base's own
    filled_in: dict[str, list[str]] = field(default_factory=dict)

    @property
    def hooks(self) -> list[str]:
        return sorted({h for p in self.ipykernel for h in p.calls})


@dataclass
class Section:
    """One of native.py's marked sections (`# ---- N. title`)."""

    title: str
    start: int
    end: int
    lines: int = field(init=False)

    def __post_init__(self):
        self.lines = self.end - self.start + 1


@dataclass
class Spec:
    """A kernelspec as Jupyter found it, and the command line it became."""

    display_name: str = ""
    language: str = ""
    resource_dir: str = ""  # where jupyter_client found kernel.json
    kernel_dirs: list[str] = field(default_factory=list)  # where it looks, in order
    argv: list[str] = field(default_factory=list)  # kernel.json's, with {connection_file}
    interrupt_mode: str = ""
    real_argv: list[str] = field(default_factory=list)  # /proc/PID/cmdline of the process
    connection_file: str = ""  # the file jupyter_client wrote for this kernel
    connection_file_existed: bool = False  # seen on disk while the kernel ran
    placeholder_at: int | None = None  # index of {connection_file} in argv
    substituted: bool = False  # real_argv[placeholder_at] == connection_file


@dataclass
class Member:
    """A name a wrapper's class defines itself."""

    name: str
    kind: str  # "method" | "property" | "attribute"
    start: int | None = None
    end: int | None = None
    overrides: bool = False  # ipykernel's base has the same name
    lines: int = field(init=False)

    def __post_init__(self):
        self.lines = 0 if self.start is None else self.end - self.start + 1


@dataclass
class Source:
    """The code a kernel process runs: its entry module and its kernel class."""

    entry: str = ""  # the module the real argv runs (-m …)
    module: str = ""  # the module that holds the kernel
    file: str = ""
    file_lines: int = 0
    # "wrapper": hands an ipykernel Kernel subclass to IPKernelApp; "native": imports no
    # ipykernel at all; "unknown": neither (e.g. ipykernel_launcher, which kij does not read)
    kind: str = ""
    kernel_class: str | None = None
    class_lines: int = 0
    members: list[Member] = field(default_factory=list)
    third_party: list[str] = field(default_factory=list)  # non-stdlib packages it imports

    @property
    def overrides(self) -> list[Member]:
        return [m for m in self.members if m.overrides and m.kind != "attribute"]


@dataclass
class KernelFacts:
    """Everything the lesson learnt about one kernel."""

    name: str
    answer: swap.Answer
    spec: Spec = field(default_factory=Spec)
    source: Source = field(default_factory=Source)
    children: list[str] = field(default_factory=list)  # processes the kernel started
    kernel_info_keys: list[str] = field(default_factory=list)  # of its kernel_info_reply


@dataclass
class KernelsResult:
    kernels: list[KernelFacts] = field(default_factory=list)
    responsibilities: list[Responsibility] = field(default_factory=list)
    native_file: str = ""
    native_lines: int = 0
    native_sections: list[Section] = field(default_factory=list)
    base_class_lines: int = 0  # ipykernel's Kernel class, in kernelbase.py
    base_handlers: list[str] = field(default_factory=list)  # the requests the base answers
    elapsed_ms: float = 0.0
    takeaway: str = TAKEAWAY

    @property
    def failed(self) -> bool:
        """A kernel died or never answered (a skipped one is not a failure)."""
        return any(k.answer.error and not k.answer.skipped for k in self.kernels)


# --- reading source ------------------------------------------------------------------


def module_file(module: str) -> Path:
    """The file a module is loaded from, without importing (or running) it."""
    with quiet():  # finding a submodule imports its package
        spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise KernelFault(f"cannot find the source of {module}")
    return Path(spec.origin)


def parse(module: str) -> tuple[Path, str, ast.Module]:
    path = module_file(module)
    text = path.read_text()
    with quiet():
        return path, text, ast.parse(text)


@contextlib.contextmanager
def quiet():
    """Hold back the warnings other people's source raises when kij reads or imports it
    (bash_kernel's invalid escape sequences): they are not the learner's business."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        yield


def functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.AST]]:
    """Every function and method in a module, as (qualified name, node)."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef):
            found += functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((prefix + node.name, node))
    return found


def _calls(node: ast.AST, names: set[str]) -> bool:
    """Does the function call something named one of names (x.name(…) or name(…))?"""
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            if (isinstance(f, ast.Attribute) and f.attr in names) or (isinstance(f, ast.Name) and f.id in names):
                return True
    return False


def _says(node: ast.AST, text: str) -> bool:
    return any(isinstance(n, ast.Constant) and n.value == text for n in ast.walk(node))


def _counts(node: ast.AST, attribute: str) -> bool:
    return any(isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Attribute)
               and n.target.attr == attribute for n in ast.walk(node))


def _named(*names: str) -> Callable[[str, ast.AST], bool]:
    return lambda qualname, node: qualname.rsplit(".", 1)[-1] in names


def _interrupt(qualname: str, node: ast.AST) -> bool:
    short = qualname.rsplit(".", 1)[-1].lower()
    return "interrupt" in short or "sigint" in short


# Each job, and how to recognise the code that does it — the same test on ipykernel's
# source and on native.py's.
JOBS: list[tuple[str, str, Callable[[str, ast.AST], bool]]] = [
    ("sockets", "create and bind the five ZeroMQ sockets",
     lambda q, n: _calls(n, {"socket"})),
    ("signing", "HMAC-sign each message sent, check each one received",
     lambda q, n: _calls(n, {"hexdigest", "compare_digest"})),
    ("busy/idle", "wrap every request in status busy … idle on iopub",
     lambda q, n: _says(n, "busy")),
    ("execution count", "count the cells: In [n]",
     lambda q, n: _counts(n, "execution_count")),
    ("history", "answer history_request", _named("history_request")),
    ("interrupt", "stop a running cell (interrupt_request, SIGINT)", _interrupt),
    ("shutdown", "answer shutdown_request (the process ends after it)", _named("shutdown_request")),
]


def hooks_called(node: ast.AST) -> list[str]:
    """The self.do_* methods a base-class handler hands over to (what a wrapper fills in)."""
    names = {n.func.attr for n in ast.walk(node)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and isinstance(n.func.value, ast.Name) and n.func.value.id == "self"
             and n.func.attr.startswith("do_")}
    return sorted(names)


def sections(text: str) -> list[Section]:
    """native.py's sections from its `# ---- title` markers; the lines before the first
    one (docstring, imports, constants) are a section too, so the counts add up."""
    lines = text.splitlines()
    marks = [(i + 1, m.group(1).strip()) for i, line in enumerate(lines)
             if (m := re.match(r"\s*# -{8,} (.+)$", line))]
    found = []
    if marks and marks[0][0] > 1:
        found.append(Section("docstring, imports, constants", 1, marks[0][0] - 1))
    for (start, title), nxt in zip(marks, marks[1:] + [(len(lines) + 1, "")]):
        found.append(Section(title, start, nxt[0] - 1))
    return found


def responsibilities(native_sections: list[Section]) -> list[Responsibility]:
    """Who does each job: ipykernel (for every wrapper) and native.py (itself)."""
    trees = {m: parse(m)[2] for m in IPYKERNEL_MODULES}
    native = parse(NATIVE_MODULE)[2]
    found = []
    for name, what, test in JOBS:
        job = Responsibility(name, what)
        for module, tree in trees.items():
            for qualname, node in functions(tree):
                if test(qualname, node):
                    job.ipykernel.append(Place(module, qualname, node.lineno, node.end_lineno,
                                               calls=hooks_called(node)))
        for qualname, node in functions(native):
            if test(qualname, node):
                section = next((s.title for s in native_sections if s.start <= node.lineno <= s.end), None)
                job.native.append(Place(NATIVE_MODULE, qualname, node.lineno, node.end_lineno, section))
        found.append(job)
    return found


def third_party(tree: ast.Module) -> list[str]:
    """The packages outside the standard library a module imports (absolute imports)."""
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return sorted(r for r in roots if r not in sys.stdlib_module_names and r != "__future__")


# --- what a kernel process runs ------------------------------------------------------


def entry_module(real_argv: list[str]) -> str | None:
    """The module a `python -m MODULE …` command line runs."""
    if "-m" in real_argv[:-1]:
        return real_argv[real_argv.index("-m") + 1]
    return None


def kernel_class_of(entry: str):
    """The class an entry module hands to `IPKernelApp.launch_instance(kernel_class=…)`,
    found by reading the module (never running it); None when there is no such call."""
    with quiet():
        spec = importlib.util.find_spec(entry)
    main = f"{entry}.__main__" if spec and spec.submodule_search_locations else entry
    package = entry if main != entry else entry.rpartition(".")[0]
    _, _, tree = parse(main)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "kernel_class" and isinstance(kw.value, ast.Name):
                    return _resolve(kw.value.id, main, tree, package)
    return None


def _resolve(name: str, module: str, tree: ast.Module, package: str):
    """Import the module that defines `name` as `module` sees it, and return the class."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            with quiet():
                return getattr(importlib.import_module(module), name)
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            source = "." * node.level + (node.module or "")
            with quiet():
                imported = importlib.import_module(source, package=package if node.level else None)
            original = next(a.name for a in node.names if (a.asname or a.name) == name)
            return getattr(imported, original)
    return None


def members(cls) -> list[Member]:
    """What a wrapper's class defines itself, and which of those ipykernel's base has too."""
    from ipykernel.kernelbase import Kernel as Base

    found = []
    for name, value in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue  # Python's and traitlets' own bookkeeping, and private helpers' state
        func = value.fget if isinstance(value, property) else value
        if inspect.isfunction(func):
            lines, start = inspect.getsourcelines(func)
            kind = "property" if isinstance(value, property) else "method"
            found.append(Member(name, kind, start, start + len(lines) - 1, hasattr(Base, name)))
        elif not callable(value):
            found.append(Member(name, "attribute", overrides=hasattr(Base, name)))
    return found


def read_source(real_argv: list[str]) -> Source:
    """The code behind a running kernel: a wrapper's class, or a native kernel's module."""
    from ipykernel.kernelbase import Kernel as Base

    src = Source(entry=entry_module(real_argv) or "")
    if not src.entry:
        return src
    cls = kernel_class_of(src.entry)
    if cls is not None and issubclass(cls, Base):
        src.kind, src.kernel_class, src.module = "wrapper", cls.__qualname__, cls.__module__
        src.class_lines = len(inspect.getsourcelines(cls)[0])
        src.members = members(cls)
    else:
        src.module = src.entry
    path, text, tree = parse(src.module)
    src.file, src.file_lines, src.third_party = str(path), len(text.splitlines()), third_party(tree)
    if not src.kind:  # native only if it owes nothing to ipykernel at all
        src.kind = "native" if "ipykernel" not in src.third_party else "unknown"
    return src


def read_spec(kernel: Kernel) -> Spec:
    """The kernelspec Jupyter found for this kernel, beside the command line it became."""
    ks = kernelspec(kernel.name)
    spec = Spec(display_name=ks.display_name, language=ks.language, resource_dir=ks.resource_dir,
                kernel_dirs=list(spec_manager().kernel_dirs),
                argv=list(ks.argv), interrupt_mode=ks.interrupt_mode,
                connection_file=kernel.connection_file,
                connection_file_existed=os.path.exists(kernel.connection_file))
    spec.real_argv = cmdline(kernel.pid)
    if "{connection_file}" in spec.argv:
        spec.placeholder_at = spec.argv.index("{connection_file}")
        spec.substituted = (len(spec.real_argv) > spec.placeholder_at
                            and spec.real_argv[spec.placeholder_at] == kernel.connection_file)
    return spec


def cmdline(pid: int | None) -> list[str]:
    """A process's real argv, as the kernel saw it (empty if it is gone)."""
    if pid is None:
        return []
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def children(pid: int | None) -> list[str]:
    """Command lines of the processes whose parent is pid (bash_kernel's bash)."""
    if pid is None:
        return []
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(" ".join(cmdline(int(proc.name))) or f"PID {proc.name}")
    return sorted(found)


# --- driving the kernels -------------------------------------------------------------


def drive(kernel: Kernel, timeout: float) -> KernelFacts:
    """kernel_info and one cell through swap's client function, then what is around it."""
    answer = swap.ask(kernel, timeout)
    facts = KernelFacts(kernel.name, answer, spec=read_spec(kernel), children=children(kernel.pid),
                        kernel_info_keys=sorted(kernel.info))
    with quiet():  # inspect parses a class's whole module to find it
        facts.source = read_source(facts.spec.real_argv)
    return facts


def takeaway_for(result: KernelsResult) -> str:
    """What this run showed, computed from the result (TAKEAWAY is the general rule it instances)."""
    answered = [k for k in result.kernels if k.answer.language and not k.answer.error]
    wrappers = [k for k in answered if k.source.kind == "wrapper"]
    natives = [k for k in answered if k.source.kind == "native"]
    if not wrappers or not natives:
        seen = ", ".join(f"{k.name} ({k.source.kind})" for k in answered) or "no kernel"
        return f"Only {seen} answered, so the two kinds could not be set side by side."
    w, n = wrappers[0], natives[0]
    return (f"{w.name} overrides {len(w.source.overrides)} methods of ipykernel's Kernel "
            f"({w.source.class_lines} lines of class) and leaves the sockets, signing, busy/idle and "
            f"the rest to ipykernel; {n.name} writes them all out in {n.source.file_lines} lines. "
            f"All {len(answered)} answered kernel_info and ran a cell for one client function.")


@timed
def run(timeout: float = 30.0) -> KernelsResult:
    """Boot kij-echo, kij-native and bash side by side and set them beside each other;
    the sources are read while they boot (importing ipykernel takes seconds)."""
    check_kernel_names(KERNELS)
    result = KernelsResult()
    to_run, skipped = swap.runnable(KERNELS)
    result.kernels = [KernelFacts(a.kernel, a) for a in skipped]
    with started(to_run, keep_failed=True, wait=False) as kernels:  # shut down on every path
        _read_sources(result)
        ready(kernels, keep_failed=True)
        _drive_all(result, kernels, timeout)
    order = {n: i for i, n in enumerate(KERNELS)}
    result.kernels.sort(key=lambda k: order[k.name])
    fill_in(result)
    result.takeaway = takeaway_for(result)
    return result


def fill_in(result: KernelsResult) -> None:
    """For each job, which wrapper overrides the do_* hooks ipykernel's code calls."""
    for job in result.responsibilities:
        for k in result.kernels:
            if k.source.kind == "wrapper":
                own = {m.name for m in k.source.overrides}
                job.filled_in[k.name] = [h for h in job.hooks if h in own]


def _read_sources(result: KernelsResult) -> None:
    """The static half: native.py's sections, the jobs, ipykernel's base."""
    from ipykernel.kernelbase import Kernel as Base

    path, text, _ = parse(NATIVE_MODULE)
    result.native_file, result.native_lines = str(path), len(text.splitlines())
    result.native_sections = sections(text)
    result.responsibilities = responsibilities(result.native_sections)
    with quiet():
        result.base_class_lines = len(inspect.getsourcelines(Base)[0])
    result.base_handlers = list(dict.fromkeys(Base.msg_types + Base.control_msg_types))


def _drive_all(result: KernelsResult, kernels: list[Kernel], timeout: float) -> None:
    for kernel in kernels:
        if kernel.boot_error:
            result.kernels.append(KernelFacts(kernel.name, swap.Answer(kernel=kernel.name, error=kernel.boot_error)))
            continue
        try:
            result.kernels.append(drive(kernel, timeout))
        except KernelFault as exc:
            result.kernels.append(KernelFacts(kernel.name, swap.Answer(kernel=kernel.name, error=str(exc))))
