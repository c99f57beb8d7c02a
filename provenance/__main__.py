"""``python -m provenance``: keys, sign, verify and repo lookup without genkit's heavy imports."""

from provenance.cli import main

if __name__ == "__main__":
    main()
