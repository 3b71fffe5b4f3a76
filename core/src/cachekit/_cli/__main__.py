"""``python -m cachekit._cli``."""

from cachekit._cli._app import main

raise SystemExit(main())
