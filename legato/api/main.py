"""ASGI entry point for uvicorn: `uvicorn legato.api.main:app`. Logging is set up here, before the
app is built, so every line the API process writes (its own, uvicorn's server and access lines,
the Temporal core's) is one JSON object with a timestamp (LEGATO_LOG_FORMAT=text: plain lines)."""

from legato.api.app import create_app
from legato.config import Settings
from legato.logs import setup_logging

settings = Settings()
setup_logging(settings)
app = create_app(settings)
