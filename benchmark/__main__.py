"""``python -m benchmark``: the ``fer-bench`` command without an installed console script (a GPU node that has the
working tree on its path but no installed package, say)."""

from .entry import main

main()
