"""`python -m common.run_service <args of nameko run>`: `nameko run` without
eventlet's deprecation banner (a known, harmless warning on Python 3.11)."""
import sys
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
warnings.filterwarnings("ignore", category=DeprecationWarning)

from nameko.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.argv = ["nameko", "run", *sys.argv[1:]]
    sys.exit(main())
