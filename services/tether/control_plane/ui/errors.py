"""Errors the web UI raises on purpose; each becomes a readable page, never a stack trace.

    TetherError (tether.errors)
    └── UiError                  shown as a page with the message and a way back
        ├── SignInRequired       no live session: the browser is sent to the sign-in page
        ├── CsrfRejected         a form came without this session's CSRF token
        ├── PageNotFound         no run, job, location ... of that name
        └── BadRequest           a malformed link or form field
"""

from __future__ import annotations

from tether.errors import TetherError


class UiError(TetherError):
    status_code = 400
    title = "Something is wrong with this request"


class SignInRequired(UiError):
    status_code = 401
    title = "Sign in first"


class CsrfRejected(UiError):
    status_code = 403
    title = "This form has expired"

    def __init__(self) -> None:
        super().__init__(
            "the form did not carry this session's security token (it may come from another "
            "site, or from before you signed in again); reload the page and submit it again")


class PageNotFound(UiError):
    status_code = 404
    title = "Not found"


class BadRequest(UiError):
    status_code = 400
    title = "Bad request"
