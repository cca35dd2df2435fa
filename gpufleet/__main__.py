import sys

from gpufleet.app.cli import main

sys.exit(main())
