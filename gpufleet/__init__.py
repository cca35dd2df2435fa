"""gpufleet: telemetry and monitoring for GPU datacenters (the shell: CLI, settings, wire schema)."""

__version__ = "0.1.0"
