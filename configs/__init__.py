"""The presets, one TOML file per experiment; installed inside the package as `nninit_cli.presets`."""
