"""Real servers on loopback (dockerd, registry, sshd) for the deployer's integration tests."""
