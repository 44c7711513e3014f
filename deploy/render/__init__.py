"""Manifests for orchestrators this deployer does not drive itself: pure, declaration in."""
