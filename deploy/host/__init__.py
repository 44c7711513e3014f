"""The one place that talks to a host: SSH, its ledger file, its lock, health probes, pulls."""
