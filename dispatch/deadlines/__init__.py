"""Deadlines (办理时限): the policy, the working-day calendar, extensions (延期) and the escalation ladder."""
