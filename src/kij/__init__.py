"""kij — kernel · IPython · Jupyter."""
