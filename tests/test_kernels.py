"""`kij kernels`: the lesson on three real kernels (one run for the whole module), its
facts checked against the interpreter and the files themselves, its view at 60, 80
and 120 columns, its JSON — and nothing left behind."""

from __future__ import annotations

import ast
import inspect
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from kij.lessons import kernels as lesson
from kij.views import facts
from kij.views import kernels as view

HAVE_BASH = shutil.which("bash") is not None


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> Path:
    """A Jupyter runtime directory of the module's own, so its connection files are easy to find."""
    path = tmp_path_factory.mktemp("runtime")
    saved = os.environ.get("JUPYTER_RUNTIME_DIR")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("JUPYTER_RUNTIME_DIR", None)
    else:
        os.environ["JUPYTER_RUNTIME_DIR"] = saved


@pytest.fixture(scope="module")
def result(runtime) -> lesson.KernelsResult:
    return lesson.run(timeout=60)


def kernel(result, name: str) -> lesson.KernelFacts:
    return next(k for k in result.kernels if k.name == name)


def answered(result) -> list[lesson.KernelFacts]:
    return [k for k in result.kernels if not k.answer.skipped]


def test_every_kernel_answered(result):
    assert not result.failed, [k.answer.error for k in result.kernels]
    assert [k.name for k in result.kernels] == lesson.KERNELS
    assert kernel(result, "kij-echo").answer.output == lesson.swap.SNIPPETS["echo"]  # sent by swap.ask itself
    assert "1024" in kernel(result, "kij-native").answer.output
    if HAVE_BASH:
        assert "1024" in kernel(result, "bash").answer.output


def test_the_same_kernel_info_keys_from_all_three(result):
    keys = {k.name: k.kernel_info_keys for k in answered(result)}
    assert len(set(map(tuple, keys.values()))) == 1, keys
    assert {"protocol_version", "language_info", "implementation"} <= set(keys["kij-native"])
    implementations = {k.name: k.answer.implementation for k in answered(result)}
    assert implementations["kij-echo"] == "kij-echo" and implementations["kij-native"] == "kij-native"


def test_echo_overrides_are_the_methods_it_defines_that_the_base_has(result):
    from ipykernel.kernelbase import Kernel as Base

    from kij.scratch.echo import EchoKernel

    src = kernel(result, "kij-echo").source
    assert src.kind == "wrapper" and src.kernel_class == "EchoKernel"
    overrides = {m.name for m in src.overrides}
    assert "do_execute" in overrides and "do_history" in overrides
    assert "words" not in overrides  # echo's own helper: the base has no such method
    assert "words" in {m.name for m in src.members}
    assert all(hasattr(Base, name) for name in overrides)
    assert not {"dispatch_shell", "execute_request", "_publish_status"} & {m.name for m in src.members}
    do_execute = next(m for m in src.overrides if m.name == "do_execute")
    assert do_execute.lines == len(inspect.getsourcelines(EchoKernel.do_execute)[0])
    assert src.class_lines == len(inspect.getsourcelines(EchoKernel)[0])


@pytest.mark.skipif(not HAVE_BASH, reason="no bash executable on PATH")
def test_bash_kernel_is_a_wrapper_driving_a_real_bash_through_pexpect(result):
    bash = kernel(result, "bash")
    assert bash.source.kind == "wrapper" and bash.source.kernel_class == "BashKernel"
    assert bash.source.module == "bash_kernel.kernel"  # found through bash_kernel/__main__.py
    assert "pexpect" in bash.source.third_party
    assert "do_execute" in {m.name for m in bash.source.overrides}
    assert any(os.path.basename(c.split()[0]) == "bash" for c in bash.children), bash.children


def test_native_is_written_out_in_sections_that_add_up(result):
    native = kernel(result, "kij-native")
    assert native.source.kind == "native" and native.source.kernel_class is None
    assert native.source.third_party == ["zmq"]  # no ipykernel, no jupyter_client
    text = Path(result.native_file).read_text()
    assert result.native_lines == len(text.splitlines()) == native.source.file_lines
    sections = result.native_sections
    assert sections[0].start == 1 and sections[-1].end == result.native_lines
    assert all(a.end + 1 == b.start for a, b in zip(sections, sections[1:]))  # no gap, no overlap
    assert sum(s.lines for s in sections) == result.native_lines
    assert any("signer" in s.title for s in sections) and any("interrupts" in s.title for s in sections)


def test_each_job_is_found_on_both_sides_where_the_source_says(result):
    jobs = {j.name: j for j in result.responsibilities}
    assert set(jobs) == {"sockets", "signing", "busy/idle", "execution count", "history", "interrupt", "shutdown"}
    for job in jobs.values():
        assert job.ipykernel and job.native, job.name
    sections = {p.qualname: p.section for j in jobs.values() for p in j.native}
    assert all("signer" in sections[p.qualname] for p in jobs["signing"].native)
    assert all("interrupts" in sections[p.qualname] for p in jobs["interrupt"].native)
    assert [p.qualname for p in jobs["busy/idle"].native] == ["Kernel.dispatch"]
    assert "Session.sign" in [p.qualname for p in jobs["signing"].ipykernel]
    assert "Kernel.execute_request" in [p.qualname for p in jobs["execution count"].ipykernel]
    # each range really is that function, in that file
    native_tree = ast.parse(Path(result.native_file).read_text())
    defined = {(n.name, n.lineno, n.end_lineno) for n in ast.walk(native_tree)
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for job in jobs.values():
        for p in job.native:
            assert (p.qualname.rsplit(".", 1)[-1], p.start, p.end) in defined
            assert p.lines == p.end - p.start + 1
    # history is handed to do_history: echo writes one, bash_kernel does not
    assert jobs["history"].hooks == ["do_history"]
    assert jobs["history"].filled_in["kij-echo"] == ["do_history"]
    if HAVE_BASH:
        assert jobs["history"].filled_in["bash"] == []


def test_connection_file_reaches_the_process_through_argv(result, runtime):
    from jupyter_client.kernelspec import KernelSpecManager

    found = KernelSpecManager().find_kernel_specs()
    for k in answered(result):
        spec = k.spec
        assert spec.resource_dir == found[k.name]
        assert os.path.dirname(spec.resource_dir) in spec.kernel_dirs
        at = spec.argv.index("{connection_file}")
        assert spec.placeholder_at == at
        assert spec.real_argv[at] == spec.connection_file
        assert Path(spec.connection_file).parent == runtime  # where jupyter_client wrote it
        assert spec.connection_file_existed and spec.substituted
        assert spec.real_argv[1:at] == spec.argv[1:at]  # the rest is the kernelspec's, verbatim


def test_nothing_left_behind(result, runtime):
    for k in answered(result):
        pid = k.answer.pid
        alive = Path(f"/proc/{pid}").exists() and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
        assert not alive, f"{k.name} (PID {pid}) is still running"
        assert not Path(k.spec.connection_file).exists()
    assert list(runtime.glob("kernel-*.json")) == []


def test_in_the_tours_pool_it_takes_the_kernels_launched_for_it(result, runtime):
    """kij tour launches [(name, None) for each runnable kernel] into kij.kernel.pool up
    front; the lesson's `started` must take exactly those, and the pool ends them."""
    from kij.kernel import pool

    wanted = [(name, None) for name in lesson.swap.runnable(lesson.KERNELS)[0]]
    with pool(wanted) as launched:
        pids = {k.name: k.pid for k in launched}
        pooled = lesson.run(timeout=60)
    assert not pooled.failed, [k.answer.error for k in pooled.kernels]
    assert {k.name: k.answer.pid for k in answered(pooled)} == pids
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    assert list(runtime.glob("kernel-*.json")) == []


def test_the_view_uses_the_shared_heading_and_takeaway():
    from kij.views import parts

    assert view.heading is parts.heading and view.takeaway is parts.takeaway


def test_elapsed_is_the_whole_run(result):
    boots = [k.answer.boot_ms for k in answered(result) if k.answer.boot_ms]
    assert result.elapsed_ms >= max(boots)


def test_takeaway_is_computed_from_the_run(result):
    echo, native = kernel(result, "kij-echo"), kernel(result, "kij-native")
    assert f"kij-echo overrides {len(echo.source.overrides)} methods" in result.takeaway
    assert f"{native.source.file_lines} lines" in result.takeaway
    assert f"All {len(answered(result))} answered" in result.takeaway


def test_takeaway_when_only_one_kind_answered(result):
    echo = kernel(result, "kij-echo")
    failed = lesson.KernelFacts("kij-native", lesson.swap.Answer(kernel="kij-native", error="died"))
    one_kind = lesson.KernelsResult(kernels=[echo, failed])
    said = lesson.takeaway_for(one_kind)
    assert said.startswith("Only kij-echo (wrapper) answered")


def rendered(result, width: int) -> str:
    con = Console(record=True, width=width, color_system=None, file=io.StringIO())
    con.print(view.render(result))
    return con.export_text()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_view_reads_at_width(result, width, capsys):
    renderable = view.render(result)
    assert capsys.readouterr().out == ""  # the view returns, it never prints
    text = rendered(result, width)
    from rich.cells import cell_len

    assert max(cell_len(line) for line in text.splitlines()) <= width
    # no name cut in two: every identifier, title and file name appears whole on a line
    whole = [m.name for k in answered(result) for m in k.source.members]
    whole += [p.qualname for j in result.responsibilities for p in j.native + j.ipykernel]
    whole += [s.title for s in result.native_sections if len(s.title) < width - 20]
    whole += [os.path.basename(k.spec.connection_file) for k in answered(result)]
    whole += ["{connection_file}", "kernel_info_reply", "ipykernel.kernelbase:"]
    missing = [w for w in whole if w not in text]
    assert missing == [], missing
    assert renderable is not None
    assert result.takeaway.split()[0] in text
    for k in answered(result):
        assert f"PID {k.answer.pid}" in text


def test_view_of_a_skipped_and_a_failed_kernel(result):
    """What a machine without bash, with a native kernel that died, would show."""
    import dataclasses

    echo = kernel(result, "kij-echo")
    native = lesson.KernelFacts("kij-native", lesson.swap.Answer(kernel="kij-native", error="the kij-native kernel died"))
    bash = lesson.KernelFacts("bash", lesson.swap.Answer(kernel="bash", skipped="no bash executable on PATH"))
    partial = dataclasses.replace(result, kernels=[echo, native, bash])
    partial.takeaway = lesson.takeaway_for(partial)
    assert partial.failed
    text = rendered(partial, 60)
    assert "the kij-native kernel died" in text and "no bash executable on PATH" in text
    assert "kernel_info_reply: the same" not in text  # one reply is nothing to compare
    assert "Only kij-echo (wrapper) answered" in text


def test_json_is_the_facts(result):
    data = json.loads(json.dumps(facts(result), default=str))
    assert [k["name"] for k in data["kernels"]] == lesson.KERNELS
    echo = data["kernels"][0]
    assert {"answer", "spec", "source", "children", "kernel_info_keys"} <= set(echo)
    assert echo["spec"]["real_argv"][echo["spec"]["placeholder_at"]] == echo["spec"]["connection_file"]
    assert any(m["name"] == "do_execute" and m["overrides"] and m["lines"] > 0 for m in echo["source"]["members"])
    assert sum(s["lines"] for s in data["native_sections"]) == data["native_lines"]
    assert data["takeaway"] == result.takeaway


def test_cli_kernels_json(kij):
    run = kij.run("kernels", "--json", timeout=120)  # assert_clean: no process, no connection file
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [k["name"] for k in data["kernels"]] == lesson.KERNELS
    assert all(k["spec"]["substituted"] for k in data["kernels"] if not k["answer"]["skipped"])
