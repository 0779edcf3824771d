"""Allow ``python -m dietnet_cli`` (the form torchrun needs)."""

from dietnet_cli.cli import main

if __name__ == "__main__":
    main()
