"""Errors a user can act on. The CLI prints them as one line on stderr (exit 1)."""


class BertkitError(Exception):
    """A problem with the user's input, files or options: printed as one line, exit code 1."""

    exit_code = 1


class UsageError(BertkitError):
    """Options that do not fit together: exit code 2, like a command-line usage error."""

    exit_code = 2
