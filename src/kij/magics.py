"""kij's IPython extension: two magics, to prove a magic is just a registered function.

Load it in IPython, in a notebook, or in any IPython kernel:

    %load_ext kij.magics
    %clap kernels hold state          →  'kernels 👏 hold 👏 state'
    %%shout
    state persists across cells       →  STATE PERSISTS ACROSS CELLS

`%load_ext` imports this module and calls `load_ipython_extension(ipython)`, which
registers the class below with the shell's magics manager. From then on IPython
intercepts `%clap …` and `%%shout` before the code reaches Python, and calls these
methods. Nothing else is special about them.
"""

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class


@magics_class
class KijMagics(Magics):
    @line_magic
    def clap(self, line):
        """%clap WORDS — the words joined with claps."""
        return " 👏 ".join(line.split())

    @cell_magic
    def shout(self, line, cell):
        """%%shout — print the cell upper-cased."""
        print(cell.upper().rstrip())


def load_ipython_extension(ipython):
    """Called by `%load_ext kij.magics`: register the magics with this shell."""
    ipython.register_magics(KijMagics)
