"""05 — The kernel is swappable: one client function, Python and Bash.

    uv run python demos/05_swap.py

`ask` knows nothing about languages: it asks a kernel who it is (kernel_info) and
runs a snippet. Only the kernel_name and the snippet's text change.
"""

import subprocess
import textwrap

from jupyter_client.manager import start_new_kernel

SNIPPETS = {
    "python3": "import platform\nprint('python kernel:', platform.python_version())\nprint(2 ** 10)",
    "bash": 'echo "bash kernel: $BASH_VERSION"\necho "2^10 = $((2 ** 10))"',
}


def ask(kernel_name, code):
    """The one client function, identical for every kernel."""
    km, kc = start_new_kernel(kernel_name=kernel_name, stderr=subprocess.DEVNULL)
    try:
        info = kc.kernel_info(reply=True, timeout=30)["content"]
        out = []

        def collect(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "execute_result":
                out.append(msg["content"]["data"]["text/plain"])

        kc.execute_interactive(code, output_hook=collect, timeout=30)
        return info, "".join(out).strip()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


languages = []
for name, code in SNIPPETS.items():
    info, got = ask(name, code)
    languages.append(info["language_info"]["name"])
    print(f"===== kernel = {name!r} =====")
    print(f"  speaks : {info['language_info']['name']} (protocol {info['protocol_version']}, "
          f"implementation {info['implementation']})")
    print(f"  got    : {got!r}\n")
print(textwrap.fill(
    f"Look at: the same ask() drove {len(SNIPPETS)} kernels that answered in "
    f"{' and '.join(languages)}: only kernel_name and the snippet's text changed. The "
    f"client speaks the Jupyter protocol, never a language; kernel_info is how it "
    f"learns which language it got.", width=78, subsequent_indent="  ", break_on_hyphens=False))
