"""The command line: argparse, exit codes, and views that render results."""
