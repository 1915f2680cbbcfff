"""``python -m jaxnn`` is the ``jaxnn`` command."""

from jaxnn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
