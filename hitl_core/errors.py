"""Errors the runtime raises on purpose; the CLI maps them to exit codes 2 and 1."""

from hitl_core.masking import mask_value


class HitlError(Exception):
    """Base class: the message is one line meant for a person, with card numbers and secrets masked.

    Messages often quote the offending input; masking here keeps a pasted card number or key out
    of every error shown, printed or logged, whoever raised it.
    """

    exit_code = 1

    def __init__(self, *args: object) -> None:
        super().__init__(*(mask_value(a) for a in args))


class BadInput(HitlError):
    """The caller asked for something invalid; nothing was changed."""

    exit_code = 2


class NotFound(BadInput):
    """An id that does not exist (a review, a thread, an action, a user)."""


class Conflict(BadInput):
    """The request was valid once but the world moved on (already decided, changed payload)."""


class Forbidden(BadInput):
    """The actor may not do this (role, self-approval, authority)."""


class Unavailable(HitlError):
    """A dependency (database, model) could not be reached; nothing was changed."""
