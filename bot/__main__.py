"""The operator's command line: python -m bot --help (bot/cli/)."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
