"""``python -m sketchssl`` runs the command-line program."""

from sketchssl.cli.app import main

if __name__ == "__main__":
    main()
