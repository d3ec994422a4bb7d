"""`kij view` on large traces: page size, and time to first paint and to a filtered
view in Chromium (Debian's, through Playwright).

Not a test: it prints figures. The large traces are made from one real capture — a
real python3 kernel driven by `kij frames --save` — whose records are replicated
with fresh msg_ids (each copy's parent_header links remapped to its own copy, its
t_ms shifted on), so every record is one the wire really carried, only more of them.

    uv run python benchmarks/bench_view.py [--messages 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from kij import trace


def replicated(cap: trace.Capture, n: int) -> trace.Capture:
    """A capture of n records: cap's own, copied over and over with fresh msg_ids
    (parent links stay inside each copy) and times running on."""
    src, out = cap.messages, []
    span = (src[-1].t_ms if src else 0.0) + 1.0
    copy_no = 0
    while len(out) < n:
        fresh = {r.msg_id: uuid.uuid4().hex for r in src if r.msg_id} if copy_no else {}
        for rec in src:
            if len(out) == n:
                break
            new = copy.deepcopy(rec) if copy_no else rec
            if copy_no:
                new.msg_id = fresh.get(rec.msg_id, rec.msg_id)
                new.parent_msg_id = fresh.get(rec.parent_msg_id, rec.parent_msg_id)
                if isinstance(new.header, dict) and rec.msg_id in fresh:
                    new.header["msg_id"] = new.msg_id
                if isinstance(new.parent_header, dict) and rec.parent_msg_id in fresh:
                    new.parent_header["msg_id"] = new.parent_msg_id
                new.t_ms = round(rec.t_ms + copy_no * span, 3)
            new.seq = len(out)
            out.append(new)
        copy_no += 1
    return dataclasses.replace(cap, messages=out)


def real_capture(where: Path) -> trace.Capture:
    """One `kij frames --save` run on a real python3 kernel."""
    path = where / "frames.json"
    subprocess.run([sys.executable, "-m", "kij", "frames", "--save", str(path)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return trace.load(path)


def in_chromium(page_path: Path, repeat: int) -> dict:
    """Median ms: navigation → first contentful paint, → the diagram drawn, → a
    msg_type filter applied and painted, → a jump to the middle of the trace drawn."""
    from playwright.sync_api import sync_playwright

    runs: dict[str, list[float]] = {"first paint": [], "diagram drawn": [], "filtered": [], "scrolled": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"),
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(page_path.as_uri())
                page.wait_for_selector("body[data-ready]", timeout=120_000)
                nav = page.evaluate("""() => new Promise(done => requestAnimationFrame(() => setTimeout(() => {
                    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                    done({fcp: fcp ? fcp.startTime : null, now: performance.now()});
                })))""")
                runs["first paint"].append(nav["fcp"] or float("nan"))
                runs["diagram drawn"].append(nav["now"])
                runs["filtered"].append(page.evaluate("""() => new Promise(done => {
                    const t0 = performance.now(), sel = document.getElementById('type-filter');
                    sel.value = 'execute_request'; sel.dispatchEvent(new Event('change'));
                    requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0)));
                })"""))
                runs["scrolled"].append(page.evaluate("""() => new Promise(done => {
                    const sel = document.getElementById('type-filter');
                    sel.value = ''; sel.dispatchEvent(new Event('change'));
                    const sc = document.getElementById('scroller'), t0 = performance.now();
                    sc.scrollTop = sc.scrollHeight / 2;
                    requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0)));
                })"""))
                page.close()
        finally:
            browser.close()
    return {k: statistics.median(v) for k, v in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from kij.views import html

    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        cap = real_capture(where)
        print(f"source: one kij frames capture of {len(cap.messages)} real messages, replicated with fresh msg_ids")
        for n in (1_000, args.messages):
            big = replicated(cap, n)
            t0 = time.perf_counter()
            text = html.page(big)
            built = (time.perf_counter() - t0) * 1000
            path = where / f"view-{n}.html"
            path.write_text(text, encoding="utf-8")
            size = path.stat().st_size
            print(f"{n:>6} messages: page {size / 1_000_000:.2f} MB, written by kij in {built:.0f} ms")
            if shutil.which("chromium") and n == args.messages:
                times = in_chromium(path, args.repeat)
                print(f"        in Chromium (median of {args.repeat}): "
                      + ", ".join(f"{k} {v:.0f} ms" for k, v in times.items()))
    print(f"machine: {os.cpu_count()} cores, shared with other work while this ran")


if __name__ == "__main__":
    main()
