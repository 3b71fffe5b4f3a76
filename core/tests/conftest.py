from __future__ import annotations

import os

# Hermetic plugin manager in core tests: only the built-in plugins, never whatever
# entry points happen to be installed in the environment.
os.environ.setdefault("CACHEKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
