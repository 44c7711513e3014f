"""The deployer: docker compose on plain hosts over SSH, with health checks and rollback."""
