"""The benchmark suite: `python -m bench` seeds a throwaway database, measures, and writes a report.

See docs/performance.md for what is measured and how to read the figures.
"""
