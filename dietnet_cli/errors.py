"""The exceptions dietnet raises for problems a user can fix.

Every error a user can cause derives from :class:`DietnetError`; the command
line turns it into a single ``Error: ...`` line on stderr and exit code 1. Any
other exception is a bug in dietnet and keeps its traceback.
"""


class DietnetError(Exception):
    """A problem with the user's input, options or files, with a message
    that names the file or value, what is wrong and how to fix it."""


class InputError(DietnetError):
    """A genotype or label file that cannot be read as asked."""


class DatasetError(DietnetError):
    """A dataset directory that is missing, incomplete or inconsistent."""


class ModelFileError(DietnetError):
    """A model file that is missing, altered or not a dietnet model."""


class WorkerError(DietnetError):
    """A worker process that ended before its part was done."""


class AlignmentError(DietnetError):
    """Input variants that cannot be matched safely to a model's variants."""
