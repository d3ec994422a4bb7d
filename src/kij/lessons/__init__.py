"""The lessons: each module does one lesson's work with real kernels and returns a
result (a dataclass of facts). A lesson never prints; `kij.views` renders results."""
