"""`kij comms` — the conversation beside execute: comms, and the widgets that ride on them.

What the learner should feel: a slider in a notebook is not magic either. Beside
execute_request there is a second family of messages — comm_open, comm_msg,
comm_close — that either side may send at any time, and that nobody answers: they
are one-way messages, both ways. kij first makes one by hand on a real python3 kernel
(a cell registers a comm *target* of kij's own; kij opens a comm to it, they talk,
kij lists it with comm_info_request and closes it), then plays the browser for a real
ipywidgets IntSlider: the kernel's comm_open carries the widget's state, kij sends the
`update` a dragged slider sends, the kernel echoes it back (`echo_update`), and the
next cell reads the new value. Last, the same update while a cell sleeps: the shell
queue holds it until the cell ends — "my widget is frozen while the kernel is busy".

Every message is built and signed by kij.wire and travels on kij's own sockets
(kij.sniffer); every conclusion is computed from this run's capture. The kernel is
one kij started; the target's name is kij's own (`kij_demo_<hex>`) and is
unregistered again before the end.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from kij import trace
from kij.errors import KernelDied, KernelTimeout, KijError
from kij.kernel import Exchange, started, timed
from kij.lessons.frames import Lesson, execute_content, kernel_facts
from kij.sniffer import Sniffed, Sniffer
from kij.trace import Capture

SLEEP_S = 2  # how long the busy cell sleeps (its length is never measured or asserted)
START_VALUE = 3  # the slider's value when the cell creates it
DRAGGED_TO = 7  # what kij, playing the browser, drags it to
DRAGGED_WHILE_BUSY = 9  # ... and to, while a cell sleeps

TAKEAWAY = (
    "Widgets are comms: comm_open, comm_msg and comm_close are one-way messages, both ways, "
    "that get no reply; the kernel takes the ones on shell in order, so a busy cell holds "
    "every slider drag until it ends."
)


@dataclass
class Widget:
    """One widget model the kernel opened a comm for."""

    comm_id: str
    model_name: str  # from its state: IntSliderModel, LayoutModel, …
    target_name: str
    version: str | None  # the comm_open's metadata.version: the widget protocol


@dataclass
class CommsResult:
    """Everything `kij comms` saw: the capture (kij-frames/1) and the facts drawn from it."""

    capture: Capture
    target: str = ""  # the comm target kij registered (and unregistered)
    comm_id: str = ""  # the comm kij opened to it
    replies_to_comms: list[str] = field(default_factory=list)  # shell replies to a comm_* message (none expected)
    no_reply_proof: str = ""  # the later reply that proves no reply came
    widgets: list[Widget] = field(default_factory=list)
    slider_state: dict = field(default_factory=dict)  # the IntSlider's state as its comm_open carried it
    view_model_id: str | None = None  # the execute_result's widget-view model_id
    echo: dict | None = None  # the kernel's echo_update for kij's update, if one came
    value_after_update: str | None = None  # what the next cell read
    value_in_busy_cell: list[str] = field(default_factory=list)  # what the sleeping cell printed
    value_after_busy: str | None = None  # what the cell after it read
    busy_order: dict = field(default_factory=dict)  # name → seq of the messages that prove the order
    states: dict = field(default_factory=dict)  # model_id → model name and value, from update_states
    elapsed_ms: float = 0.0


# --- the cells kij runs ------------------------------------------------------------------


def register_code(target: str) -> str:
    """The cell that registers kij's comm target: a function the kernel calls on comm_open."""
    return (
        f"def {target}(comm, open_msg):\n"
        f"    comm.send({{'hello': 'from the kernel', 'you_sent': open_msg['content']['data']}})\n"
        f"    comm.on_msg(lambda msg: comm.send({{'doubled': msg['content']['data']['n'] * 2}}))\n"
        f"\n"
        f"get_ipython().kernel.comm_manager.register_target({target!r}, {target})\n"
        f"del {target}  # the comm manager keeps it; the namespace need not"
    )


def unregister_code(target: str) -> str:
    return (
        f"get_ipython().kernel.comm_manager.unregister_target({target!r}, None)\n"
        f"print({target!r} in get_ipython().kernel.comm_manager.targets)"
    )


SLIDER_CODE = f"import ipywidgets as widgets\nslider = widgets.IntSlider(value={START_VALUE}, description='kij')\nslider"
READ_CODE = "slider.value"
BUSY_CODE = (
    "import time\n"
    "print('before the sleep:', slider.value)\n"
    f"time.sleep({SLEEP_S})\n"
    "print('after the sleep:', slider.value)"
)


def update(comm_id: str, value: int) -> dict:
    """The comm_msg a browser sends when the slider is dragged (widget protocol 2)."""
    return {"comm_id": comm_id, "data": {"method": "update", "state": {"value": value}, "buffer_paths": []}}


# --- waiting: kij's one send-and-wait, and what a step says when it runs out ----------------


def answered(lesson: Lesson, request: Sniffed, timeout: float, **options) -> Exchange:
    """Wait until the kernel has handled a message kij sent: its `status: idle` on iopub,
    and its reply when it is a *_request (Sniffer.answers; options pass through). A step
    that runs out of time fails, saying what never came."""
    exchange = lesson.sn.answer(request, timeout, watchdog=lambda: lesson.kernel.check_alive("during kij comms"),
                                 **options)
    if exchange.missing() != "nothing":
        act = lesson.capture.acts[-1]
        act.ok = False
        act.outcome = (f"after {timeout:g} s kij had {exchange.missing()} for its {request.msg_type} "
                       f"(#{seq_of(lesson, request)}), and stopped waiting")
        raise KernelTimeout(lesson.kernel.timed_out(timeout))
    return exchange


def seq_of(lesson: Lesson, c: Sniffed) -> int:
    """The # a captured message has (will have) in the capture's records."""
    return lesson.sn.capture.index(c)


# --- the steps ------------------------------------------------------------------------------


def connect(lesson: Lesson) -> dict:
    act = lesson.begin("connect", "control: kernel_info, and proof iopub is live")
    reply = lesson.sn.wait_for_iopub()
    act.request_msg_id = reply.parent_id
    info = reply.content
    act.outcome = (f"control answered: {info.get('implementation')} {info.get('implementation_version')}, "
                   f"protocol {info.get('protocol_version')}; kij's SUB socket receives iopub")
    return info


def register(lesson: Lesson, target: str) -> None:
    act = lesson.begin("register", f"a cell registers the comm target {target}")
    request, reply, _ = lesson.run_cell(register_code(target))
    act.request_msg_id = request.msg_id
    act.ok = reply.content.get("status") == "ok"
    act.outcome = (f"execute_reply status {reply.content.get('status')!r}: a comm_open naming {target!r} "
                   "now has a function in the kernel to call" if act.ok else
                   f"the cell failed ({reply.content.get('ename')}): the target is not registered")


def send_comm(lesson: Lesson, msg_type: str, content: dict, timeout: float) -> tuple[Sniffed, list[Sniffed]]:
    """Send a comm message on shell, wait until the kernel has handled it (its status
    idle), and return it with what the kernel sent back with it as parent."""
    sent = lesson.sn.request("shell", msg_type, content)
    exchange = answered(lesson, sent, timeout)
    return sent, [c for c in exchange.messages if c.msg_type != "status"]


def comm_step(lesson: Lesson, name: str, title: str, msg_type: str, content: dict,
              timeout: float) -> tuple[object, Sniffed | None]:
    """A step that sends one comm message and looks for the comm_msg the kernel sends back."""
    act = lesson.begin(name, title)
    sent, answers = send_comm(lesson, msg_type, content, timeout)
    act.request_msg_id = sent.msg_id
    said = next((a for a in answers if a.msg_type == "comm_msg"), None)
    if said is None:
        act.ok = False
        act.outcome = f"no comm_msg came back before the kernel's status idle for kij's {msg_type}"
    return act, said


def comm_open(lesson: Lesson, target: str, comm_id: str, timeout: float) -> None:
    act, said = comm_step(lesson, "comm_open", "comm_open on shell; the target answers on iopub", "comm_open",
                          {"comm_id": comm_id, "target_name": target, "data": {"from": "kij"}}, timeout)
    if said is not None:
        act.outcome = (f"the kernel called {target}, which sent comm_msg #{seq_of(lesson, said)} on "
                       f"{said.channel}, data {said.content.get('data')}"
                       + (" — on iopub, so every frontend sees it" if said.channel == "iopub" else ""))


def comm_msg(lesson: Lesson, comm_id: str, timeout: float) -> None:
    act, said = comm_step(lesson, "comm_msg", "comm_msg both ways: n = 21 out, 42 back", "comm_msg",
                          {"comm_id": comm_id, "data": {"n": 21}}, timeout)
    if said is not None:
        act.outcome = (f"kij's comm_msg {{'n': 21}} went to the kernel on shell; its handler's comm_msg "
                       f"#{seq_of(lesson, said)} came back on {said.channel}: {said.content.get('data')}")


def comm_info(lesson: Lesson, act_name: str, title: str, timeout: float, **content) -> dict:
    act = lesson.begin(act_name, title)
    request = lesson.sn.request("shell", "comm_info_request", content)
    reply = answered(lesson, request, timeout).reply
    act.request_msg_id = request.msg_id
    comms = reply.content.get("comms", {})
    listed = ", ".join(f"{cid[:8]}… ({v.get('target_name')})" for cid, v in comms.items()) or "no comms"
    where = f" for target {content['target_name']!r}" if content.get("target_name") else ""
    act.outcome = f"comm_info_reply #{seq_of(lesson, reply)}{where} lists {listed} — comm_info is a request, it has a reply"
    return comms


def comm_close(lesson: Lesson, comm_id: str, timeout: float) -> None:
    act = lesson.begin("comm_close", "comm_close ends the comm")
    sent, answers = send_comm(lesson, "comm_close", {"comm_id": comm_id, "data": {}}, timeout)
    act.request_msg_id = sent.msg_id
    act.outcome = ("the kernel handled it (status busy, then idle, with it as parent) and sent "
                   + ("nothing back" if not answers else ", ".join(a.msg_type for a in answers)))


def unregister(lesson: Lesson, target: str, timeout: float) -> None:
    """Unregister the target, then prove it: a comm_open naming it now fails."""
    act = lesson.begin("unregister", f"kij unregisters {target} again")
    request, reply, _ = lesson.run_cell(unregister_code(target))
    act.request_msg_id = request.msg_id
    printed = stdout_of(lesson, request).strip()
    probe, answers = send_comm(lesson, "comm_open", {"comm_id": uuid.uuid4().hex, "target_name": target,
                                                     "data": {}}, timeout)
    lesson.note(probe, "a probe: the target it names is gone")
    closed = [a for a in answers if a.msg_type == "comm_close"]
    errors = [a.content.get("text", "").strip() for a in answers
              if a.msg_type == "stream" and a.content.get("name") == "stderr"]
    act.ok = reply.content.get("status") == "ok" and printed == "False"
    said = f"the cell printed {printed!r} for 'is {target} still a target?'"
    now = "; a comm_open naming it now"
    if errors and closed:
        said += (f"{now} makes the kernel say {errors[0]!r} on iopub (stderr) and close that comm again "
                 f"at once (comm_close #{seq_of(lesson, closed[0])} on iopub)")
    elif closed:
        said += f"{now} is closed again at once by the kernel (comm_close #{seq_of(lesson, closed[0])} on iopub)"
    elif errors:
        said += f"{now} makes the kernel say {errors[0]!r} on iopub (stderr)"
    else:
        said += f"{now} got " + (", ".join(a.msg_type for a in answers) or "nothing back")
    act.outcome = said


def no_replies(lesson: Lesson, result: CommsResult) -> None:
    """Comms have no replies: no shell message had a comm_* message of kij's as parent,
    up to a reply to a later request on the same shell socket."""
    sent = {c.msg_id: c for c in lesson.sn.capture
            if c.direction == "to_kernel" and c.msg_type in ("comm_open", "comm_msg", "comm_close")}
    replies = [c for c in lesson.sn.capture if c.channel == "shell" and c.parent_id in sent]
    result.replies_to_comms = [f"#{seq_of(lesson, c)} {c.msg_type}" for c in replies]
    last = max(seq_of(lesson, c) for c in sent.values())
    later = [c for c in lesson.sn.capture[last:] if c.channel == "shell" and c.direction == "from_kernel"]
    act = lesson.capture.acts[-1]
    if replies:
        act.ok = False
        result.no_reply_proof = f"the kernel REPLIED on shell to a comm message: {', '.join(result.replies_to_comms)}"
    elif later:
        result.no_reply_proof = (
            f"no message on shell had any of kij's {len(sent)} comm_open/comm_msg/comm_close as its parent: "
            f"kij waited for each one's status idle, and the kernel then replied on the same shell socket to a "
            f"later request (#{seq_of(lesson, later[0])} {later[0].msg_type}). Comms have no replies: "
            "one-way messages, both ways")
    else:
        result.no_reply_proof = ("no shell reply to a comm message arrived, but no later shell reply either: "
                                 "nothing proves none would have")
    act.outcome += "; " + result.no_reply_proof


def stdout_of(lesson: Lesson, request: Sniffed) -> str:
    return "".join(c.content.get("text", "") for c in lesson.sn.capture
                   if c.parent_id == request.msg_id and c.msg_type == "stream" and c.content.get("name") == "stdout")


def result_text(lesson: Lesson, request: Sniffed) -> str | None:
    for c in lesson.sn.capture:
        if c.parent_id == request.msg_id and c.msg_type == "execute_result":
            return c.content.get("data", {}).get("text/plain")
    return None


def widget(lesson: Lesson, result: CommsResult) -> str | None:
    """The cell that creates an IntSlider; returns the slider's comm_id."""
    act = lesson.begin("widget", "a cell makes an IntSlider: comm_open on iopub")
    request, reply, _ = lesson.run_cell(SLIDER_CODE)
    act.request_msg_id = request.msg_id
    opens = [c for c in lesson.sn.capture if c.parent_id == request.msg_id and c.msg_type == "comm_open"]
    for c in opens:
        state = c.content.get("data", {}).get("state", {})
        result.widgets.append(Widget(comm_id=c.content.get("comm_id", ""), model_name=state.get("_model_name", "?"),
                                     target_name=c.content.get("target_name", ""),
                                     version=c.message.metadata.get("version")))
    sliders = [c for c in opens if c.content.get("data", {}).get("state", {}).get("_model_name") == "IntSliderModel"]
    if reply.content.get("status") != "ok" or not sliders:
        act.ok = False
        act.outcome = (f"the cell's status was {reply.content.get('status')!r} and no IntSliderModel comm_open "
                       "arrived" + (f" ({reply.content.get('ename')}: {reply.content.get('evalue')})"
                                    if reply.content.get("ename") else ""))
        return None
    slider = sliders[0]
    result.slider_state = slider.content["data"]["state"]
    for c in lesson.sn.capture:
        if c.parent_id == request.msg_id and c.msg_type == "execute_result":
            view = c.content.get("data", {}).get("application/vnd.jupyter.widget-view+json", {})
            result.view_model_id = view.get("model_id")
    targets = sorted({w.target_name for w in result.widgets})
    versions = sorted({w.version or "none" for w in result.widgets})
    names = ", ".join(w.model_name for w in result.widgets)
    others = [t for t in ("jupyter.widget.version", "jupyter.widget.control") if t not in targets]
    act.outcome = (
        f"{len(opens)} comm_open on iopub, target {' / '.join(map(repr, targets))}, widget protocol "
        f"{', '.join(versions)}: one per model ({names}); the IntSlider's state says value "
        f"{result.slider_state.get('value')} (min {result.slider_state.get('min')}, max "
        f"{result.slider_state.get('max')})"
    )
    refs = {k: v for k, v in result.slider_state.items() if isinstance(v, str) and v.startswith("IPY_MODEL_")}
    others_ids = {w.comm_id: w.model_name for w in result.widgets if w.comm_id != slider.content.get("comm_id")}
    pointed = [f"{k} → {others_ids[v[len('IPY_MODEL_'):]]}" for k, v in refs.items() if v[len("IPY_MODEL_"):] in others_ids]
    if pointed:
        act.outcome += f"; its {', '.join(pointed)} as IPY_MODEL_<comm_id>"
    if others:
        act.outcome += f"; none for {' or '.join(map(repr, others))}"
    if result.view_model_id == slider.content.get("comm_id"):
        act.outcome += ("; the execute_result's widget-view model_id is the IntSlider's comm_id: "
                        "a frontend draws the slider from that comm's state")
    return slider.content.get("comm_id")


def drag(lesson: Lesson, result: CommsResult, comm_id: str, timeout: float) -> None:
    act = lesson.begin("drag", f"kij plays the browser: a drag to {DRAGGED_TO}")
    sent, answers = send_comm(lesson, "comm_msg", update(comm_id, DRAGGED_TO), timeout)
    act.request_msg_id = sent.msg_id
    lesson.note(sent, "what a browser sends when the slider is dragged")
    echoes = [a for a in answers if a.msg_type == "comm_msg" and a.content.get("data", {}).get("method") == "echo_update"]
    request, _, _ = lesson.run_cell(READ_CODE)
    result.value_after_update = result_text(lesson, request)
    said = []
    if echoes:
        result.echo = echoes[0].content.get("data")
        said.append(f"the kernel sent back comm_msg #{seq_of(lesson, echoes[0])} on iopub, method echo_update, state "
                    f"{result.echo.get('state')}: the update sent back on iopub, so every frontend — the sender too — "
                    "hears the value the kernel now holds")
    else:
        said.append("no echo_update came back before the kernel's status idle for the update")
    act.ok = result.value_after_update == str(DRAGGED_TO)
    said.append(f"the next cell read slider.value → {result.value_after_update}")
    act.outcome = "; ".join(said)


def busy(lesson: Lesson, result: CommsResult, comm_id: str, timeout: float) -> None:
    act = lesson.begin("busy", f"a drag to {DRAGGED_WHILE_BUSY} while a cell sleeps")
    drags: list[Sniffed] = []

    def drag_once_started(got: Sniffed) -> None:  # the cell's execute_input: it is running now
        if got.msg_type == "execute_input" and not drags:
            drags.append(lesson.sn.request("shell", "comm_msg", update(comm_id, DRAGGED_WHILE_BUSY)))
            lesson.note(drags[0], "sent while the cell sleeps")

    cell = lesson.sn.request("shell", "execute_request", execute_content(BUSY_CODE))
    act.request_msg_id = cell.msg_id
    cell_done = answered(lesson, cell, timeout + SLEEP_S, on_message=drag_once_started)
    if not drags:
        act.ok, act.outcome = False, "the sleeping cell never said it started (no execute_input): kij sent no drag"
        return
    sent = drags[0]
    answered(lesson, sent, timeout)
    read, _, _ = lesson.run_cell(READ_CODE)
    result.value_in_busy_cell = [line for line in stdout_of(lesson, cell).splitlines() if line]
    result.value_after_busy = result_text(lesson, read)
    result.busy_order = busy_order(lesson, cell_done, sent)
    busy_verdict(act, result)


def busy_order(lesson: Lesson, cell_done: Exchange, sent: Sniffed) -> dict:
    """The # of the messages that prove the order. The cell's status idle and the
    update's status busy both travel on iopub, one socket, so their order is the
    kernel's own (a shell reply and an iopub message may arrive in either order)."""
    def status(messages, state):
        return next((c for c in messages if c.content.get("execution_state") == state), None)

    effects = [c for c in lesson.sn.capture if c.parent_id == sent.msg_id]
    picks = {"execute_input": next(c for c in cell_done.messages if c.msg_type == "execute_input"),
             "update": sent, "execute_reply": cell_done.reply, "cell_idle": status(cell_done.messages, "idle"),
             "update_handled": status(effects, "busy"),
             "echo_update": next((c for c in effects if c.msg_type == "comm_msg"), None)}
    return {name: seq_of(lesson, c) for name, c in picks.items() if c is not None}


def busy_verdict(act, result: CommsResult) -> None:
    """Was the drag held until the cell ended? Said from the order and what the cells read."""
    order = result.busy_order
    after_sleep = next((line for line in result.value_in_busy_cell if line.startswith("after the sleep")), "")
    held = (order["update"] > order["execute_input"]
            and order.get("update_handled", -1) > order["cell_idle"]
            and after_sleep.endswith(f" {result.value_after_update}")
            and result.value_after_busy == str(DRAGGED_WHILE_BUSY))
    act.ok = held
    if held:
        act.outcome = (
            f"kij sent the update #{order['update']} after the cell had started (its execute_input "
            f"#{order['execute_input']}); the cell, reading slider.value after its sleep, still printed "
            f"{after_sleep!r}; the kernel took the update up only after the cell had ended (the cell's status "
            f"idle #{order['cell_idle']}, then the update's status busy #{order['update_handled']}"
            + (f", echo_update #{order['echo_update']}" if "echo_update" in order else "")
            + f"), and the next cell read {result.value_after_busy}: the shell queue held the drag until the cell ended"
        )
    else:
        act.outcome = (f"not the order a busy kernel gives: update #{order['update']}, cell started "
                       f"#{order['execute_input']}, cell idle #{order['cell_idle']}, update handled "
                       f"#{order.get('update_handled', '—')}; the cell printed {result.value_in_busy_cell}, "
                       f"the next cell read {result.value_after_busy}")


def reload(lesson: Lesson, result: CommsResult, timeout: float) -> None:
    """What a page that reloads does: open jupyter.widget.control, ask request_states."""
    act = lesson.begin("states", "a reload: request_states on jupyter.widget.control")
    comm_id = uuid.uuid4().hex
    sent = lesson.sn.request("shell", "comm_open", {"comm_id": comm_id, "target_name": "jupyter.widget.control",
                                                    "data": {}}, metadata={"version": "1.0.0"})
    answered(lesson, sent, timeout)
    ask, answers = send_comm(lesson, "comm_msg", {"comm_id": comm_id, "data": {"method": "request_states"}}, timeout)
    act.request_msg_id = ask.msg_id
    send_comm(lesson, "comm_close", {"comm_id": comm_id, "data": {}}, timeout)
    states = [a for a in answers if a.msg_type == "comm_msg" and a.content.get("data", {}).get("method") == "update_states"]
    if not states:
        act.ok = False
        act.outcome = "no update_states came back for request_states before the kernel's status idle"
        return
    for model_id, model in states[0].content["data"].get("states", {}).items():
        result.states[model_id] = {"model_name": model.get("model_name"), "value": model.get("state", {}).get("value")}
    slider = [v["value"] for v in result.states.values() if v["model_name"] == "IntSliderModel"]
    opened_by_kernel = [c for c in lesson.sn.capture if c.msg_type == "comm_open" and c.direction == "from_kernel"
                        and c.content.get("target_name") == "jupyter.widget.control"]
    act.outcome = (
        ("the kernel opened no jupyter.widget.control comm in this run: a frontend opens it, and the kernel "
         "accepted kij's — ipywidgets registered that target when it was imported" if not opened_by_kernel else
         f"the kernel itself opened jupyter.widget.control (#{seq_of(lesson, opened_by_kernel[0])})")
        + f"; for request_states it sent back comm_msg #{seq_of(lesson, states[0])}, method update_states: "
        f"the state of all {len(result.states)} models"
        + (f", the IntSlider's value {slider[0]}" if slider else "") + " — how a reloaded page redraws every widget"
    )


# --- the lesson -------------------------------------------------------------------------


@timed
def run(timeout: float = 30.0) -> CommsResult:
    """Boot a python3 kernel and run every step on it. When a step fails, the
    exception carries the steps so far: `.capture`, and `.result` for this view."""
    with started(["python3"]) as (kernel,):
        with Sniffer(kernel.connection_info) as sn:
            capture = Capture(identity=sn.identity.decode(), session=sn.session, takeaway=TAKEAWAY)
            result = CommsResult(capture=capture, target=f"kij_demo_{uuid.uuid4().hex[:8]}", comm_id=uuid.uuid4().hex)
            lesson = Lesson(kernel, sn, capture, timeout)
            try:
                steps(lesson, result, timeout)
            except BaseException as exc:
                lesson.flush()
                if isinstance(exc, KijError) and not isinstance(exc, KernelDied) and capture.acts:
                    capture.takeaway = ""  # the steps so far, shown with the error: no lesson drawn
                    exc.capture, exc.result = capture, result
                raise
            lesson.flush()
    return result


def steps(lesson: Lesson, result: CommsResult, timeout: float) -> None:
    info = connect(lesson)
    lesson.capture.kernel = kernel_facts(lesson.kernel, info, existing=False)
    register(lesson, result.target)
    comm_open(lesson, result.target, result.comm_id, timeout)
    comm_msg(lesson, result.comm_id, timeout)
    comm_info(lesson, "comm_info", "comm_info_request: which comms are open?", timeout, target_name=result.target)
    comm_close(lesson, result.comm_id, timeout)
    comm_info(lesson, "comm_info_after", "comm_info_request again, after the close", timeout)
    no_replies(lesson, result)
    unregister(lesson, result.target, timeout)
    slider = widget(lesson, result)
    if slider is None:
        return
    drag(lesson, result, slider, timeout)
    busy(lesson, result, slider, timeout)
    reload(lesson, result, timeout)


def save(result: CommsResult, path: str) -> None:
    """--save FILE: the capture in the kij-frames/1 format (`kij frames --load FILE`)."""
    trace.save(result.capture, path)


def check_flags(save: str | None) -> None:
    """kij comms' flags, refused before anything boots: --save must be writable."""
    if save:
        trace.check_writable(save)
