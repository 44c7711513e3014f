"""Pure: the swarm target's stack file, its commands, and the verdict on what Swarm reports."""
