"""Parsed JSON with its types spelt out, for comparing two parsers or two validation paths."""


def typed(value: object) -> object:
    """A value with its types spelt out: 1 and 1.0, 0.0 and -0.0, key order all differ."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    if isinstance(value, float):
        return ("float", value.hex())
    return (type(value).__name__, value)
