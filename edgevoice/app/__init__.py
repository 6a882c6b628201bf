"""The app layer: wiring and policy on top of the core and the adapters.

`session_config` turns the configuration into what a Live connection needs (session options and
the endpoint); `log_setup` installs the process's log handler. The conversation loop and the
supervisor will live here too: only this layer creates long-lived tasks.
"""
