// Filled in by the CLI.
