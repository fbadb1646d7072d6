"""Social Network Ads purchase predictor: the API service."""

# The one version number: pyproject.toml reads it (`dynamic`), FastAPI's document and
# `python -m app --version` print it, and a unit test holds every image tag to it.
__version__ = "1.1.0"
