"""ASGI entry point for uvicorn: `uvicorn legato.api.main:app`."""

from legato.api.app import create_app

app = create_app()
