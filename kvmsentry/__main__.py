import sys

from kvmsentry.cli.main import main

sys.exit(main())
