// Filled in by the config parser.
