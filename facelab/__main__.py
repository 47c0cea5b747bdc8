"""Console entry point of ``facelab`` and ``python -m facelab``.

It names faiss' BLAS kernel (:func:`facelab.blas.tune_blas`) before the command line, and with
it faiss, is imported.
"""


def main() -> None:
    """Tune the BLAS hint, then run the command line."""
    from facelab.blas import tune_blas

    tune_blas()
    from facelab.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
