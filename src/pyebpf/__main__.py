"""``python -m pyebpf``: the same as the ``pyebpf`` command (see :mod:`pyebpf.cli`)."""

from pyebpf.cli import main

raise SystemExit(main())
