"""The command line: argument parsing, progress bars, logging set-up and file output."""
