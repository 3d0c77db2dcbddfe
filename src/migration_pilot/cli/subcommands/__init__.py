"""One module per `pilot` subcommand: NAME, HELP, add_arguments(parser), run(options, streams)."""
