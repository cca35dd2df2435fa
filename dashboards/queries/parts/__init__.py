"""Panel and alert SQL that several files include with `-- @include NAME(args)` (storage/sqlfiles.py)."""
