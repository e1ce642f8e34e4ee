"""``python -m aegis.cli``: the same as the ``aegis`` command."""

from aegis.cli import main

main()
