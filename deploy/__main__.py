"""`python -m deploy`: the command line lives in deploy.cli."""

from deploy.cli.main import run

if __name__ == "__main__":
    run()
