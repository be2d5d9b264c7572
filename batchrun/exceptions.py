"""
Exceptions raised by batchrun.

    BatchrunError
     +-- CommandLineError      a command line cannot be built for a job
     +-- LaunchError           an executor could not be started
     +-- ParameterError        a JSON API request has a bad parameter

Specifier and recurrence rule errors are ``ValueError`` subclasses defined
beside their parsers (``batchrun.intset``), because the scheduling core does
not import the rest of the package.
"""


class BatchrunError(Exception):
    """Base class of batchrun's own errors."""


class CommandLineError(BatchrunError, ValueError):
    """A job's command line cannot be built from its command and arguments."""


class LaunchError(BatchrunError):
    """An executor process could not be started for a run."""


class ParameterError(BatchrunError, ValueError):
    """A request to the JSON API has a parameter that cannot be used."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message
