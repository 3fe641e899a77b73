"""Performance benchmarks: workloads timed against peers, each writing its numbers to a JSON file."""
