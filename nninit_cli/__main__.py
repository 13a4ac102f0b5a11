"""`python -m nninit_cli` runs the same CLI as the `nninit` script."""

from nninit_cli.cli import entry

if __name__ == "__main__":
    entry()
