"""Sending campaigns: the runner (runner.py) and what it is made of.

queue.py claims and records deliveries, policy.py decides what an outcome means (pure),
messages.py renders each recipient's message, journal.py and marks.py make a send
survive being killed at any moment, lease.py keeps one runner per campaign, control.py
pauses, resumes and cancels, ratelimit.py paces the messages.
"""
