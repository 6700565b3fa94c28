"""The send benchmark's core, on a tiny list against the aiosmtpd sink (no install)."""

from __future__ import annotations

from benchmarks.send import benchmark


def test_the_benchmark_sends_once_to_each_recipient_and_prints_its_figures() -> None:
    lines: list[str] = []
    report = benchmark(200, connections=2, sink="aiosmtpd", ceiling_messages=100, out=lines.append)
    assert report.sink == "aiosmtpd"
    run = report.main
    assert (run.recipients, run.sent) == (200, 200)
    # What the sink itself counted: one message for each of 200 distinct recipients.
    assert (run.sink.messages, run.sink.distinct) == (200, 200)
    assert (report.ceiling.sink.messages, report.ceiling.sink.distinct) == (100, 100)
    assert run.rate > 0 and report.ceiling.rate > 0 and report.ratio > 0
    assert 0 < run.peak_mb < 1024
    printed = "\n".join(lines)
    assert "200 recipients:" in printed and "msg/s" in printed and "peak RSS" in printed
    assert "ceiling: plain smtplib, a thread per connection, 100 messages" in printed
    # The target is judged against Postfix's smtp-source where it is installed.
    name = report.ceiling.name
    assert name in ("smtp-source", "smtplib")
    assert f"target at least 0.8 of the {name} ceiling: {run.rate:,.0f} / " in printed
    assert "target peak RSS under 150 MB:" in printed
    assert "sink: aiosmtpd" in printed
