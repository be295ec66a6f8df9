"""Vercel's Python entrypoint: the ASGI app as the module-level `app`."""

import sys
from pathlib import Path

# The function bundle holds the repository; make the package importable
# whether or not the build step installed it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.http.vercel import create_serverless_app

app = create_serverless_app()
