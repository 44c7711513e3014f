"""`python -m app` runs the service."""

from app.main import serve

serve()
