"""``python -m eval``: the eval commands without genkit's umbrella."""

from eval.cli import main

if __name__ == "__main__":
    main()
