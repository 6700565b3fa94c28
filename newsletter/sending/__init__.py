"""Sending campaigns: the front door (service.py), the runner (runner.py) and what it is
made of.

service.py is what the CLI, the staff area and a worker call, and nothing else here:
create, run, pause, reopen, cancel a campaign, its progress (progress.py), test messages.
launch.py makes the pieces it runs: a sample's or test's messages, the runner.

queue.py claims and records deliveries, policy.py decides what an outcome means (pure),
newsletter.mail.factory renders each recipient's message, journal.py and marks.py make a
send survive being killed at any moment, lease.py keeps one runner per campaign, control.py
pauses, resumes and cancels, ratelimit.py paces the messages.
"""
