"""Policy files, their vocabulary and the loader that turns them into an enforcer."""
