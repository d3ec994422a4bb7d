"""The native kernel answers like ipykernel wherever a frontend can tell.

Each probe drives a kernel through plain jupyter_client and returns what a frontend
could observe: reply statuses and fields, the iopub messages between busy and idle,
payloads. Every probe runs on python3 (ipykernel, the reference) and on kij-native
in the same test, and the two answers must be equal. Tracebacks differ by design
(IPython colours them) and so do kernel_info's implementation fields, so probes
compare ename/evalue and the shape of kernel_info, not those texts.

This covers what jupyter_kernel_test does not: silent, store_history, user_expressions,
allow_stdin, stop_on_error, interrupting input(), kernel_info on control, comm_info,
the ask_exit payload and is_complete on many multi-line inputs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import reply_and_iopub

TIMEOUT = 15
KERNELS = ("python3", "kij-native")


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """Both kernels, booted concurrently, for the whole module; no connection file survives."""
    runtime = tmp_path_factory.mktemp("runtime")
    patch = pytest.MonkeyPatch()
    patch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    with ThreadPoolExecutor(len(KERNELS)) as pool:
        started = dict(zip(KERNELS, pool.map(lambda name: start_new_kernel(kernel_name=name), KERNELS)))
    try:
        yield started
    finally:
        for km, kc in started.values():
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        patch.undo()
        assert list(runtime.iterdir()) == [], "a connection file was left behind"


# ---------------------------------------------------------------- what a frontend sees


def comparable(outputs: list[dict]) -> list[tuple]:
    """The iopub messages a request caused, between busy and idle, in a comparable form."""
    seen: list[tuple] = []
    for msg in outputs:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status":
            continue
        if kind == "stream" and seen and seen[-1][:2] == ("stream", content["name"]):
            seen[-1] = ("stream", content["name"], seen[-1][2] + content["text"])  # batching may split text
        elif kind == "stream":
            seen.append(("stream", content["name"], content["text"]))
        elif kind == "error":
            seen.append(("error", content["ename"], content["evalue"]))
        elif kind in ("execute_result", "display_data"):
            seen.append((kind, content["data"]["text/plain"]))
        elif kind == "execute_input":
            seen.append((kind, content["code"]))
        else:
            seen.append((kind,))
    return seen


def shell_reply(kc, msg_id: str) -> dict:
    return reply_and_iopub(kc, msg_id, TIMEOUT, until_idle=False)[0]["content"]


def execute(kc, code: str, **options) -> tuple[dict, list[tuple]]:
    return wait_for(kc, kc.execute(code, **options))


def wait_for(kc, msg_id: str) -> tuple[dict, list[tuple]]:
    """The reply's content and the comparable iopub messages, through status: idle."""
    reply, outputs = reply_and_iopub(kc, msg_id, TIMEOUT)
    return reply["content"], comparable(outputs)


def counted(kc) -> int:
    """The execution count a plain cell gets now (to measure what a probe did to the counter)."""
    reply, _ = execute(kc, "None")
    return reply["execution_count"]


def error_of(content: dict) -> tuple:
    return content["status"], content.get("ename"), content.get("evalue")


# ---------------------------------------------------------------- the probes


def probe_silent(km, kc):
    before = counted(kc)
    failed, failed_out = execute(kc, "print('hi')\n1/0", silent=True)
    value, value_out = execute(kc, "40 + 2", silent=True)
    return {"failed": (error_of(failed), failed_out), "value": (value["status"], value_out),
            "reply counts": (failed["execution_count"] - before, value["execution_count"] - before),
            "counter moved by": counted(kc) - before - 1}


def probe_store_history_false(km, kc):
    before = counted(kc)
    reply, outputs = execute(kc, "print('a')\n5", store_history=False)
    return {"status": reply["status"], "outputs": outputs, "reply count": reply["execution_count"] - before,
            "counter moved by": counted(kc) - before - 1}


def probe_user_expressions(km, kc):
    reply, _ = execute(kc, "z = 7", user_expressions={"double": "z * 2", "missing": "nope", "div": "1/0"})
    found = reply["user_expressions"]
    return {
        "double": (found["double"]["status"], found["double"]["data"]),
        "missing": error_of(found["missing"]),
        "div": error_of(found["div"]),
    }


def probe_trailing_semicolon(km, kc):
    """`x;` runs but shows no Out[n]; a `;` inside a string or a comment does not count."""
    return [execute(kc, code) for code in ("6 * 7;", "6 * 7;  # quiet", "'a;'", "6 * 7 # ;")]


def probe_allow_stdin_false(km, kc):
    reply, outputs = execute(kc, "input('name? ')", allow_stdin=False)
    return error_of(reply), outputs


def queue_behind_a_failing_cell(kc, **options) -> list:
    """Cell 1 waits in input() while two more cells are queued behind it, then fails."""
    first = kc.execute("answer = input('go? ')\n1/0", allow_stdin=True, **options)
    assert kc.get_stdin_msg(timeout=TIMEOUT)["msg_type"] == "input_request"
    queued = [kc.execute("ran_after_error = True"), kc.execute("3 * 3")]
    kc.input("go")
    answers = []
    for msg_id in (first, *queued):
        reply, outputs = wait_for(kc, msg_id)
        answers.append((reply["status"], outputs))
    later, _ = execute(kc, "'ran_after_error' in dir()")
    return answers, later["status"]


def probe_stop_on_error_default(km, kc):
    execute(kc, "ran_after_error = False\ndel ran_after_error")
    return queue_behind_a_failing_cell(kc)


def probe_stop_on_error_false(km, kc):
    execute(kc, "ran_after_error = False\ndel ran_after_error")
    return queue_behind_a_failing_cell(kc, stop_on_error=False)


def probe_interrupt_during_input(km, kc):
    msg_id = kc.execute("name = input('name? ')", allow_stdin=True)
    assert kc.get_stdin_msg(timeout=TIMEOUT)["msg_type"] == "input_request"
    km.interrupt_kernel()
    reply, outputs = wait_for(kc, msg_id)
    after, after_out = execute(kc, "6 * 7")
    return error_of(reply), outputs, after["status"], after_out


def probe_kernel_info_on_control(km, kc):
    msg = kc.session.msg("kernel_info_request", {})
    kc.control_channel.send(msg)
    reply = kc.get_control_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    content = reply["content"]
    return {"msg_type": reply["msg_type"], "status": content["status"],
            "protocol_version": content["protocol_version"], "fields": sorted(content) ,
            "language": content["language_info"]["name"]}


def probe_comm_info(km, kc):
    answers = []
    for content in ({}, {"target_name": "jupyter.widget"}):
        msg = kc.session.msg("comm_info_request", content)
        kc.shell_channel.send(msg)
        answers.append(shell_reply(kc, msg["header"]["msg_id"]))
    return answers


def probe_exit(km, kc):
    """`exit` asks the frontend to end the session, and the kernel ends itself too (ipykernel's way)."""
    answers = []
    for code in ("exit", "exit()", "quit()"):
        own_km, own_kc = start_new_kernel(kernel_name=km.kernel_name)  # this probe ends its kernel
        try:
            reply, _ = execute(own_kc, code)
            exit_code = own_km.provisioner.process.wait(timeout=TIMEOUT)
            answers.append((reply["status"], reply["payload"], exit_code))
        finally:
            own_kc.stop_channels()
            own_km.shutdown_kernel(now=True)
    return answers


def probe_pager(km, kc):
    reply, outputs = execute(kc, "zip?")
    return [(p["source"], p["start"], sorted(p["data"])[:1]) for p in reply["payload"]], outputs


IS_COMPLETE = [
    "1", "", "x = [1,\n 2]", "x = [1,\n 2", "a = {\n  'k': 1,\n}", "f(\n", "x = (1,", "1)",
    "print('''hello", "s = '''a\nb'''", "def f():\n    '''doc", "zip?", "zip??",
    "def f(x):", "def f(x):\n    return x", "def f(x):\n    return x\n", "def f(a,\n      b):",
    "class A:\n    def f(self):", "class A:\n    def f(self):\n        pass",
    "@dec", "@dec\n", "@dec\ndef f():\n    pass\n",
    "if x:\n    pass\nelse:", "if x:\n    pass\nelse:\n    y", "try:\n    1\nexcept:",
    "while True:\n    if x:\n        break", "for i in range(3):\n  print(i)", "if True:\n\tpass",
    "x = 1 + \\", "x = 1 + \\\n  2", "\\", "1 +* 2", "import = 7q", "x = 1\n  y = 2", "  x = 1",
    "# comment", "x = 1  # comment\n", "lambda:", "async def f():\n    await g()", "print(1)\nprint(2)",
]


def is_complete_probe(code: str):
    def probe(km, kc):
        return shell_reply(kc, kc.is_complete(code))
    probe.__name__ = f"probe_is_complete {code!r}"
    return probe


PROBES = [probe_silent, probe_store_history_false, probe_trailing_semicolon, probe_user_expressions, probe_allow_stdin_false,
          probe_stop_on_error_default, probe_stop_on_error_false, probe_interrupt_during_input,
          probe_kernel_info_on_control, probe_comm_info, probe_exit, probe_pager,
          *map(is_complete_probe, IS_COMPLETE)]


# ---------------------------------------------------------------- the test


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.__name__.removeprefix("probe_"))
def test_native_answers_like_ipykernel(kernels, probe):
    km, kc = kernels["python3"]
    reference = probe(km, kc)
    km, kc = kernels["kij-native"]
    assert probe(km, kc) == reference
