"""Plain jupyter_client doing the kernel work of `kij state`: boot python3, two cells,
a second client through the connection file, a restart, the cell again, shut down."""

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager

km = KernelManager(kernel_name="python3")
km.start_kernel()
try:
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    kc.execute_interactive("secret = 6 * 7", timeout=30)
    kc.execute_interactive("secret * 2", timeout=30)
    other = BlockingKernelClient(connection_file=km.connection_file)
    other.load_connection_file()
    other.start_channels()
    other.wait_for_ready(timeout=30)
    other.execute_interactive("secret", timeout=30)
    other.stop_channels()
    km.restart_kernel()
    kc.wait_for_ready(timeout=60)
    kc.execute_interactive("secret * 2", timeout=30)
    kc.stop_channels()
finally:
    km.shutdown_kernel()
