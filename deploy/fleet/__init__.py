"""Several hosts: all or nothing, and an action on every host at once."""
