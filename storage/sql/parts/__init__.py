"""SQL pieces that several query files include with `-- @include NAME(columns)` (storage/sqlfiles.py)."""
