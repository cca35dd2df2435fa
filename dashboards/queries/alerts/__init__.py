"""Alert rule SQL: table format, one numeric column `value`, no dashboard variables."""
