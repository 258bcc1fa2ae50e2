"""`python -m indexer.cli`: the `cairn` command."""

from indexer.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
