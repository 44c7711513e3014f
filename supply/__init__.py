"""Supply chain: SBOM, provenance and signatures attached to an image digest, and verified."""
