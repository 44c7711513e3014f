"""The FastAPI service the pipeline ships."""
