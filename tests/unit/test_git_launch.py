"""Launch links name git repositories; only plain URLs of allowed schemes and hosts ever reach git."""

from __future__ import annotations

import pytest

from campushub.library.git_launch import RefusedRepository, check_ref, check_repository, folder_for

HOSTS = ["github.com", "gitlab.example.edu"]


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://github.com/jupyter/notebook", "https://github.com/jupyter/notebook"),
        ("https://GitHub.com/Owner/Repo.git/", "https://github.com/Owner/Repo.git"),
        ("https://gitlab.example.edu:8443/phys/week-1", "https://gitlab.example.edu:8443/phys/week-1"),
    ],
)
def test_plain_urls_of_allowed_hosts_pass_in_one_form(url: str, normalised: str) -> None:
    assert check_repository(url, ["https"], HOSTS).url == normalised


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("-uploadpack=touch /tmp/x", "characters"),
        ("--upload-pack=x", "characters"),
        ("ext::sh%20-c%20id", "transport helpers"),
        ("file:///etc/passwd", "transport helpers"),
        ("fd::3", "transport helpers"),
        ("/srv/repos/secret", "must begin with https://"),
        ("../../etc", "must begin with https://"),
        ("http://github.com/a/b", "must begin with https://"),
        ("ssh://git@github.com/a/b", "must begin with https://"),
        ("git@github.com:a/b.git", "must begin with https://"),
        ("https://evil.example/a/b", "evil.example is not among the hosts"),
        ("https://github.com.evil.example/a/b", "is not among the hosts"),
        ("https://user:pw@github.com/a/b", "user name"),
        ("https://github.com/a/b?x=1", "query"),
        ("https://github.com/a/b#frag", "fragment"),
        ("https://github.com/a/../../b", "plain /owner/name path"),
        ("https://github.com/a/b;id", "characters"),
        ("https://github.com/a/$(id)", "characters"),
        ("https://github.com/a b", "characters"),
    ],
)
def test_anything_else_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(RefusedRepository, match=reason):
        check_repository(url, ["https"], HOSTS)


def test_refs_are_names_never_options_and_folders_one_safe_step() -> None:
    assert check_ref("main") == "main" and check_ref("v1.2/fix") == "v1.2/fix"
    for bad in ("-x", "--upload-pack=x", "a..b", "", "main.lock", "a b"):
        with pytest.raises(RefusedRepository):
            check_ref(bad)
    repository = check_repository("https://github.com/Owner/My_Repo.git", ["https"], HOSTS)
    assert folder_for(repository) == "github.com-owner-my-repo"


def test_only_full_commit_ids_are_fetched_as_commits() -> None:
    from campushub.library.git_launch import is_commit

    assert is_commit("a" * 40) and is_commit("0123456789abcdef" * 4)
    for name in ("main", "v1.2", "abc1234", "A" * 40, "a" * 41):
        assert not is_commit(name), name
