"""pytest-benchmark suites: `pytest benchmarks/ --benchmark-only`.

They call the same functions as `fastlit bench` (fastlit/bench/), so there is one copy of the timing code.
Each suite also records ratios against a baseline measured in the same run (`benchmark.extra_info`), since
absolute times on shared machines mean little.
"""
