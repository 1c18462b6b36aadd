"""Fleet-wide summary."""
