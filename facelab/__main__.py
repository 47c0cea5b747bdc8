"""``python -m facelab``: the same console entry point as the ``facelab`` script."""

from facelab.cli import main

if __name__ == "__main__":
    main()
