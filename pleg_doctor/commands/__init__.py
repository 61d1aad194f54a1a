"""The commands: one module per command, holding its click options and its orchestration.

Each command module builds its sources (`sources/`), calls the core (`core/`), renders
(`render/`) and decides the exit code. Heavy libraries (requests, rich, prometheus_client, yaml)
and the layers a command needs are imported inside the command's body, so building the click
group for `pleg-doctor check FILE` loads no more than that command uses. `options` holds the
option decorators and parameter types shared by the commands, `pipeline` the scrape → diagnose →
print steps shared by diagnose, check and watch, and `console` every decision about terminals,
colour and logging.
"""
