"""The API token as the log's readers send it."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
