"""The ``fer-bench`` console script: the CLI imported inside a Ctrl-C guard, so an interrupt while it starts up
(importing scikit-learn, Rich, Typer takes a second or two) is one ``error:`` line and exit 130 too."""

import sys


def main() -> None:
    try:
        from .cli import main as cli_main  # lazy: inside the Ctrl-C guard (see above)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    cli_main()
