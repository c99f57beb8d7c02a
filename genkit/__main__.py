"""``python -m genkit``: the umbrella CLI, same as the ``synthvid`` command."""

from genkit.cli import main

if __name__ == "__main__":
    main()
