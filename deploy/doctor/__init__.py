"""doctor: checks as data, pure verdicts, one runner."""
