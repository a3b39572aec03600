"""The one kind of error the app shows as is: a request it cannot serve, explained in words for the user."""


class AppError(Exception):
    """A request the app cannot serve; the message is shown to the user as is (app.guard makes it a toast)."""
