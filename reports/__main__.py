"""``python -m reports``: the report command without genkit's umbrella."""

from reports.cli import main

if __name__ == "__main__":
    main()
