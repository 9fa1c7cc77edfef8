"""Every container a Docker stack declares is bounded, and every default image is pinned to one release."""

from __future__ import annotations

import re

import pytest

from components.docker.host_limits import watchdog_script
from config_schema import StackConfigError, load_stack_config
from config_schema.docker_host import Watchdog
from config_schema.images import (
    POSTGRES_IMAGES,
    REDIS_IMAGE,
    check_pinned_image,
    default_backup_image,
    default_images,
    is_exact_release,
)
from config_schema.loading import advisory_warnings
from tests.pulumi_harness import run_program
from tests.variants import HOMESERVER, PROVIDER_CONFIG, VARIANTS

CONTAINER = "docker:index/container:Container"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_container_has_rotated_logs_and_a_memory_limit_without_swap(name: str) -> None:
    run = run_program(VARIANTS[name](), extra_config=PROVIDER_CONFIG.get(name))
    containers = run.of_type(CONTAINER)
    assert containers
    for container in containers:
        inputs = container.inputs
        assert inputs["logDriver"] == "json-file", container.name
        assert inputs["logOpts"] == {"max-size": "10m", "max-file": "5"}, container.name
        assert inputs["memory"] >= 64 and inputs["memorySwap"] == inputs["memory"], container.name


def test_journald_and_other_limits_are_configurable() -> None:
    config = {
        **VARIANTS["dev"](),
        "docker": {"logs": {"driver": "journald"}, "memory": {"mediaRepo": 3072, "postgres": 2048}},
    }
    run = run_program(config)
    mmr = run.one(CONTAINER, "mmr-dev").inputs
    assert (mmr["logDriver"], mmr["logOpts"]) == ("journald", {"tag": "{{.Name}}"})
    assert mmr["memory"] == 3072 and "GOMEMLIMIT=2764MiB" in mmr["envs"]
    assert run.one(CONTAINER, "mmr-dev-postgres").inputs["memory"] == 2048


def test_mmr_limit_follows_the_thumbnailer_and_a_short_one_warns() -> None:
    stack = load_stack_config({"homeservers": [HOMESERVER], "thumbnails": {"numWorkers": 100}})
    # 768 MiB + 10 MiB x 1.5 x 100 workers, rounded up to 256 MiB.
    assert (
        run_program({"homeservers": [HOMESERVER], "thumbnails": {"numWorkers": 100}})
        .one(CONTAINER, "mmr-dev")
        .inputs["memory"]
        == 2304
    )
    assert not [w for w in advisory_warnings(stack) if "thumbnailer" in w]
    short = load_stack_config(
        {**stack.model_dump(by_alias=True, exclude_unset=True), "docker": {"memory": {"mediaRepo": 512}}}
    )
    (warning,) = [w for w in advisory_warnings(short) if "thumbnailer" in w]
    assert "docker.memory.mediaRepo leaves MMR 512 MiB" in warning and "mediaRepo' 2304" in warning


def test_the_rendered_thumbnail_settings_are_the_ones_the_limit_is_sized_for() -> None:
    import yaml

    run = run_program({"homeservers": [HOMESERVER], "thumbnails": {"maxSourceBytes": 5242880, "numWorkers": 4}})
    config = yaml.safe_load(run.outputs["mediaRepoConfig"])
    assert config["thumbnails"] == {"maxSourceBytes": 5242880, "numWorkers": 4}


@pytest.mark.parametrize("image", default_images())
def test_every_default_image_names_one_release(image: str) -> None:
    assert is_exact_release(image), image
    check_pinned_image(image, "image")


def test_no_default_image_is_older_than_its_fixes() -> None:
    def version(image: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.match(r"^[^:]+:v?([\d.]+)", image).group(1).split("."))  # type: ignore[union-attr]

    assert version(REDIS_IMAGE) >= (7, 4, 3)  # CVE-2025-21605
    assert {major: version(image) for major, image in POSTGRES_IMAGES.items()} == {
        "15": (15, 18),
        "16": (16, 14),
        "17": (17, 10),
    }
    assert default_backup_image("17").endswith(":17-alpine-d257e5d")


@pytest.mark.parametrize(
    "image", ["postgres:17-alpine", "redis:7", "prodrigestivill/postgres-backup-local:alpine", "x:latest"]
)
def test_a_floating_tag_is_refused(image: str) -> None:
    with pytest.raises(StackConfigError, match="is not pinned"):
        load_stack_config({"homeservers": [HOMESERVER], "redis": {"image": image}})
    assert not is_exact_release(image)


def test_the_watchdog_counts_only_after_a_first_answer_and_never_signals_the_host() -> None:
    script = watchdog_script(8000, Watchdog(failures=3))
    answered = script.index(".answered ] || exit 1")
    assert script.index("timeout 4 wget") < answered < script.index("kill -s")
    # It signals init's children inside the container, never `kill -1`.
    assert "kill -1" not in script and "-- -1" not in script
