"""GoalGPT predictions service: Flask API, RQ jobs and their configuration."""
