from __future__ import annotations

from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.store.lists import get_list
from tests.store.databases import session_scope
from tests.store.helpers import SAMPLE


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_no_lists_yet(db: str) -> None:
    result = run("lists")
    assert result.exit_code == 0, result.output
    assert "No lists yet" in result.stdout


def test_create_then_show_counts_per_status(db: str) -> None:
    assert run("lists", "create", "members", "--description", "Institute members").stdout == (
        "created list 'members'\n"
    )
    assert run("lists", "create", "press").exit_code == 0
    assert run("subscribers", "import", "members", str(SAMPLE)).exit_code == 0
    assert (
        run("subscribers", "unsubscribe", "li.wei@example.org", "--list", "members").exit_code == 0
    )
    assert run("subscribers", "unsubscribe", "t.nowak@example.org").exit_code == 0
    result = run("lists")
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line.split()[2:] for line in result.stdout.splitlines() if "│" in line}
    # list: active, unsubscribed, unconfirmed, eligible, description
    assert rows["members"][:8] == ["│", "21", "│", "2", "│", "0", "│", "21"]
    assert "Institute members" in " ".join(rows["members"])
    assert rows["press"][:8] == ["│", "0", "│", "0", "│", "0", "│", "0"]


def test_a_list_may_speak_another_language(db: str) -> None:
    assert run("lists", "create", "urdu-readers", "--language", "ur").exit_code == 0
    with session_scope() as session:
        assert get_list(session, "urdu-readers").language == "ur"
    result = run("lists", "create", "bad", "--language", "Urdu please")
    assert result.exit_code != 0
    assert "is not a language tag" in result.output


def test_duplicate_name_is_a_one_line_error(db: str) -> None:
    run("lists", "create", "members")
    result = run("lists", "create", "members")
    assert result.exit_code == 1
    assert result.stderr == "error: a list named 'members' already exists\n"
    assert result.stdout == ""


def test_empty_name_is_an_error(db: str) -> None:
    result = run("lists", "create", " ")
    assert result.exit_code == 1
    assert result.stderr == "error: a list needs a name\n"


def test_create_with_a_public_name(db: str) -> None:
    result = run(
        "lists",
        "create",
        "members",
        "--public-name",
        "Institute members",
        "--description",
        "Who paid this year",
    )
    assert result.exit_code == 0, result.output
    with session_scope() as session:
        created = get_list(session, "members")
        assert (created.public_name, created.description) == (
            "Institute members",
            "Who paid this year",
        )
    run("lists", "create", "fellows", "--public-name", "Fellowship")
    # Under the list's name in the overview (a short one, which the 80 columns keep whole).
    assert "Fellowship" in run("lists").stdout


def test_update_changes_only_what_is_given(db: str) -> None:
    run("lists", "create", "members", "--description", "Old", "--language", "ur")
    result = run("lists", "update", "members", "--public-name", "  ارکان  ")
    assert result.exit_code == 0, result.output
    assert result.stdout == "updated list 'members'\n"
    with session_scope() as session:
        found = get_list(session, "members")
        assert (found.public_name, found.description, found.language) == ("ارکان", "Old", "ur")
    result = run(
        "lists", "update", "members", "--public-name", "", "--description", "New", "--language", ""
    )
    assert result.exit_code == 0, result.output
    with session_scope() as session:
        found = get_list(session, "members")
        # An empty public name shows the list's name again; an empty language is English.
        assert (found.public_name, found.description, found.language) == (None, "New", None)


def test_update_and_rename_change_the_name(db: str) -> None:
    run("lists", "create", "members", "--public-name", "Members")
    result = run("lists", "update", "members", "--name", "fellows")
    assert result.exit_code == 0, result.output
    assert result.stdout == "updated list 'members', now named 'fellows'\n"
    result = run("lists", "rename", "fellows", "associates")
    assert result.stdout == "renamed list 'fellows' to 'associates'\n"
    with session_scope() as session:
        assert get_list(session, "associates").public_name == "Members"


def test_update_refusals_are_one_line_errors(db: str) -> None:
    run("lists", "create", "members")
    run("lists", "create", "press")
    cases = [
        (("update", "nobody", "--public-name", "x"), "error: no list named 'nobody'\n"),
        (("rename", "members", "press"), "error: a list named 'press' already exists\n"),
        (("update", "members", "--public-name", "x" * 201), "error: public names are at most"),
        (("update", "members", "--language", "Urdu please"), "is not a language tag"),
    ]
    for args, message in cases:
        result = run("lists", *args)
        assert result.exit_code == 1, args
        assert result.stderr.startswith(message) or message in result.stderr, result.stderr
    with session_scope() as session:
        assert get_list(session, "members").public_name is None
