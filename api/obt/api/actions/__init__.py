"""Model operations: tasks, model sets, work delivery to standalone agents (issue 15)."""
