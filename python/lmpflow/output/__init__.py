"""What people look at: figures, the comparison report, OVITO pictures."""
