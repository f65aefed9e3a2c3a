"""`python -m lmpflow ...` is the `lmpflow` command."""
from lmpflow.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
