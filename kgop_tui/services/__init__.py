"""Services: the only code that touches Docker, Postgres, files and crypto.

Services take and return pydantic models and never import Textual (a test enforces it).
"""
