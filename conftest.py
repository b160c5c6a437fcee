"""Root conftest. Nameko containers in tests hang unless eventlet patches the
standard library before anything else imports it; the browser tests run in a
second, unpatched pytest process (EDT_NO_EVENTLET=1) because Playwright's
sync API does not run under eventlet."""
import os
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

warnings.filterwarnings("ignore", category=DeprecationWarning)

if os.environ.get("EDT_NO_EVENTLET") != "1":
    import eventlet

    eventlet.monkey_patch()
