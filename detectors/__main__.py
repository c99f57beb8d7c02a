"""``python -m detectors``: the detector commands without genkit's umbrella."""

from detectors.cli import main

if __name__ == "__main__":
    main()
