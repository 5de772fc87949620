"""Start the whole stack with one command: ``python startup.py --all`` (see ``--help``)."""

import sys

from server.launcher.cli import main

if __name__ == "__main__":
    sys.exit(main())
