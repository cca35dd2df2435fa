"""The shell on top of the stages: CLI, commands, demo, report. The only code that picks concrete
implementations (sources, transports, stores) from their registries."""
