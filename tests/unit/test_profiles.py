"""Profiles without a hub: the schema's checks, who sees what, the check of a start, and the hub settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from campushub.compute.profile_settings import PROFILES_SPAWNER, compute_settings
from campushub.compute.profile_spawner import form_html
from campushub.compute.profiles import Offer, ProfileRefused, choose, default_offer, visible
from campushub.config.loader import parse_config
from campushub.errors import UserError
from campushub.hub.layout import Layout

ENVIRONMENT = Path("/opt/env")


def offer(slug: str, *groups: str, title: str = "") -> Offer:
    return Offer(slug, title or slug.title(), "", "", "x.Spawner", {}, tuple(groups))


OFFERS = [offer("standard"), offer("big", "research"), offer("lab", "course:lab9"), offer("gpu", "course:phys")]
COURSE_DEFAULTS = {"phys": "gpu", "lab9": "lab"}


def load(text: str):
    return parse_config(text, "campus.yaml")


def refusal(text: str) -> str:
    with pytest.raises(UserError) as caught:
        load(text)
    return str(caught.value)


# --- campus.yaml -------------------------------------------------------------------------------------------------


def test_a_profile_takes_the_default_backend_and_sizes_in_words() -> None:
    config = load("compute:\n  profiles:\n    standard:\n      title: Standard\n      memory: 2G\n      cpu: 0.5\n")
    profile = config.compute.profiles["standard"]
    assert (profile.backend, profile.memory, profile.cpu) == ("local", 2 << 30, 0.5)


def test_a_key_the_backend_does_nothing_with_is_refused_with_its_line() -> None:
    message = refusal("compute:\n  profiles:\n    gpu:\n      title: GPU\n      gpus: 1\n      partition: gpu\n")
    assert message.startswith("campus.yaml:5: `compute.profiles.gpu.gpus`:")
    assert "runs on the `local` backend, which has no use for `gpus`, `partition`" in message


def test_an_unknown_backend_is_refused() -> None:
    message = refusal("compute:\n  profiles:\n    x:\n      title: X\n      backend: nosuch\n")
    assert message.startswith("campus.yaml:5: `compute.profiles.x.backend`:")
    assert "there is no compute backend 'nosuch'" in message


def test_a_profile_naming_an_unknown_course_is_refused() -> None:
    message = refusal("compute:\n  profiles:\n    x:\n      title: X\n      courses: [nosuch]\n")
    assert message.startswith("campus.yaml:5: `compute.profiles.x.courses`:")
    assert "`compute.profiles.x.courses` names `nosuch`, which is not a course" in message


def test_a_course_profile_must_exist_and_be_open_to_the_course() -> None:
    missing = refusal("courses:\n  lab9:\n    profile: nosuch\n")
    assert missing.startswith("campus.yaml:3: `courses.lab9.profile`:")
    assert "course `lab9` has `profile: nosuch`, which is not under" in missing
    big = "compute:\n  profiles:\n    big:\n      title: Big\n      groups: [research]\n"
    closed = refusal(big + "courses:\n  lab9:\n    profile: big\n")
    assert "that profile is limited to groups research: add `lab9` to its `courses`" in closed


def test_image_and_environment_together_are_refused() -> None:
    message = refusal("compute:\n  profiles:\n    x:\n      title: X\n      image: a\n      environment: /opt/e\n")
    assert "either `image` (containers) or `environment` (processes), not both" in message


# --- who sees what, and the check of a start ----------------------------------------------------------------------


def test_people_see_open_profiles_and_those_of_their_groups_and_courses() -> None:
    assert [o.slug for o in visible(OFFERS, [])] == ["standard"]
    assert [o.slug for o in visible(OFFERS, ["research", "course:lab9"])] == ["standard", "big", "lab"]
    assert [o.slug for o in visible(OFFERS, [], admin=True)] == ["standard", "big", "lab", "gpu"]


def test_the_default_is_the_first_course_default_the_person_may_use() -> None:
    assert default_offer(OFFERS, ["course:phys", "course:lab9"], COURSE_DEFAULTS).slug == "lab"  # lab9 < phys
    assert default_offer(OFFERS, ["course:phys"], COURSE_DEFAULTS).slug == "gpu"
    assert default_offer(OFFERS, [], COURSE_DEFAULTS).slug == "standard"
    assert default_offer([offer("big", "research")], [], {}) is None


def test_a_start_asking_for_nothing_gets_the_default() -> None:
    assert choose(OFFERS, {}, ["course:phys"], COURSE_DEFAULTS).slug == "gpu"
    assert choose(OFFERS, {"profile": ""}, [], COURSE_DEFAULTS).slug == "standard"


def test_a_hidden_or_unknown_profile_is_refused_naming_what_may_be_chosen() -> None:
    for asked in ("gpu", "nosuch"):
        with pytest.raises(ProfileRefused, match=f"no profile `{asked}` you may use.*available to you: `standard`"):
            choose(OFFERS, {"profile": asked}, [], COURSE_DEFAULTS)


def test_anything_besides_a_profile_is_refused_not_trimmed() -> None:
    with pytest.raises(ProfileRefused, match="`gpus`, `memory` cannot be asked for"):
        choose(OFFERS, {"profile": "standard", "memory": "64G", "gpus": "4"}, [], {})
    with pytest.raises(ProfileRefused, match="must be the name of one profile"):
        choose(OFFERS, {"profile": ["standard", "big"]}, [], {})


def test_someone_with_no_profile_is_told_why_nothing_starts() -> None:
    with pytest.raises(ProfileRefused, match="No profile is available to you"):
        choose([offer("big", "research")], {}, [], {})


def test_the_form_escapes_what_admins_wrote() -> None:
    html = form_html([offer("a", title="<script>x</script>")], "a")
    assert "<script>" not in html and "&lt;script&gt;" in html and 'value="a" checked' in html


# --- hub settings -------------------------------------------------------------------------------------------------


def test_without_profiles_the_backend_spawner_runs_alone(tmp_path: Path) -> None:
    settings = compute_settings(load(""), Layout(tmp_path, ENVIRONMENT, "/x/chp", True))
    assert settings["JupyterHub"]["spawner_class"] == "campushub.compute.local.CampusLocalSpawner"
    assert "CampusProfilesSpawner" not in settings


def test_profiles_carry_their_spawner_and_the_traits_they_set(tmp_path: Path) -> None:
    config = load(
        "compute:\n  profiles:\n    standard:\n      title: Standard\n      memory: 1G\n"
        "    other:\n      title: Other env\n      environment: /opt/other\n      courses: [lab9]\n"
        "courses:\n  lab9:\n    profile: other\n"
    )
    settings = compute_settings(config, Layout(tmp_path, ENVIRONMENT, "/x/chp", True))
    assert settings["JupyterHub"]["spawner_class"] == PROFILES_SPAWNER
    assert settings["Spawner"]["cmd"] == [str(ENVIRONMENT / "bin" / "jupyterhub-singleuser")]  # the backend's own
    standard, other = (Offer.from_trait(data) for data in settings["CampusProfilesSpawner"]["profiles"])
    assert standard.spawner_class == "campushub.compute.local.CampusLocalSpawner"
    assert standard.overrides == {"mem_limit": 1 << 30, "min_free_memory": 1 << 30}
    assert standard.summary == "1 GiB" and standard.groups == ()
    # Another environment than the fork server's: started afresh, from that environment.
    assert other.overrides == {"cmd": ["/opt/other/bin/jupyterhub-singleuser"], "forkserver_socket": ""}
    assert other.groups == ("course:lab9",)
    assert settings["CampusProfilesSpawner"]["course_defaults"] == {"lab9": "other"}
