"""``python -m dmltk``: the ``dmltk`` command line (see :mod:`dmltk.cli`)."""

from .cli import main

raise SystemExit(main())
