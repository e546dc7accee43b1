"""warmstart's user-facing Python package: the HTTP client (and, later, integrations such as Optuna).

Importing it needs no server code: only httpx (and pandas for DataFrame uploads).
"""

from warmstart.client import ApiError, ServiceUnavailable, WarmstartClient

__all__ = ["ApiError", "ServiceUnavailable", "WarmstartClient"]
