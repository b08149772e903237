"""Error messages: one line from any exception."""


def first_line(error):
    """The first line of an exception's message (its type's name when it has none)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
