"""Plain jupyter_client doing the kernel work of `kij swap`, one kernel after the
other: boot python3, kernel_info, its snippet, shut down; then the same for bash."""

from jupyter_client.manager import KernelManager

SNIPPETS = {
    "python3": "import platform\nprint('python kernel:', platform.python_version())\nprint(2 ** 10)",
    "bash": 'echo "bash kernel: $BASH_VERSION"\necho "2^10 = $((2 ** 10))"',
}

for name, code in SNIPPETS.items():
    km = KernelManager(kernel_name=name)
    km.start_kernel()
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        kc.kernel_info(reply=True, timeout=30)
        kc.execute_interactive(code, timeout=30, output_hook=lambda msg: None)
        kc.stop_channels()
    finally:
        km.shutdown_kernel()
