"""The one exception the benchmark reports to the operator as a sentence instead of a traceback."""


class BenchError(Exception):
    """The benchmark cannot run (not root, a port in use, a hub that would not start, ...).

    Its message is a complete paragraph for the operator: what is wrong and what to do about it.
    """
