"""fer-bench: matched classical-vs-deep facial expression recognition benchmarks."""

__version__ = "0.1.0"
