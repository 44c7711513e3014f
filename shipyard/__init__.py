"""The service declaration every tool reads: shipyard.toml."""
