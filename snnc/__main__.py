import sys

from snnc.entry import main

sys.exit(main())
