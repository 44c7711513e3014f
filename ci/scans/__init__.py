"""Security scans: commands as data, one parser per tool, the gate and the reports (no I/O)."""
