"""``python -m qabot.cli``: the same as the ``qabot`` command."""

from .app import main

if __name__ == "__main__":  # pragma: no cover
    main()
