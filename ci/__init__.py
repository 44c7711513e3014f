"""The pipeline: release plans, lazy Dagger stages, registry promotion and scans."""
