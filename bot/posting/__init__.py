"""Scheduled posts: reading managers' times and recurrences (groundwork for issue 5)."""
