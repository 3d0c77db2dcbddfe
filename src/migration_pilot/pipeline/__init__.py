"""The deploy pipeline: validate, back up, apply under a lock with timeouts, verify, roll back."""
