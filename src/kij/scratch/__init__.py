"""Kernels written from scratch: `native` (pyzmq + stdlib only) and `echo` (an ipykernel wrapper)."""
