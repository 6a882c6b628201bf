"""One module per `edgevoice` subcommand.

Each module defines `register(subparsers, common)`, which adds its parser (with `common` as a
parent, so `--config`, `--set`, `--log-level` and `--verbose` work everywhere) and sets
`func=run` on it, where `run(args) -> int` returns the exit status. Add a command by writing the
module and listing it in `edgevoice.cli.COMMAND_MODULES`; the command's name must be the module's
name with "-" for "_", because the CLI imports only the modules a command line names.
"""
