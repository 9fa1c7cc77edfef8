"""Another MMR process on the tier's Docker engine, beside the one a stack runs."""

from __future__ import annotations

import docker


def another_process(engine: docker.APIClient, first: str, *, machine_id: int, port: int, published: int) -> str:
    """Another MMR process beside the container ``first``, as on Kubernetes: started as the program starts the
    first (image, command, user, config and media volumes, networks) with its own ``MACHINE_ID``, its listener
    ``port`` published on 127.0.0.1:``published``. Returns its name; the caller removes it."""
    spec = engine.inspect_container(first)
    host = spec["HostConfig"]
    mounts = [
        docker.types.Mount(m["Target"], m["Source"], type=m["Type"], read_only=m.get("ReadOnly", False))
        for m in host["Mounts"]
    ]
    networks = list(spec["NetworkSettings"]["Networks"])
    name = f"{first}-machine-{machine_id}"
    engine.create_container(
        spec["Config"]["Image"],
        name=name,
        ports=[port],
        entrypoint=spec["Config"]["Entrypoint"],
        user=spec["Config"]["User"],
        working_dir=spec["Config"]["WorkingDir"],
        environment=[*spec["Config"]["Env"], f"MACHINE_ID={machine_id}"],
        host_config=engine.create_host_config(
            mounts=mounts,
            tmpfs=host["Tmpfs"],
            read_only=True,
            port_bindings={port: ("127.0.0.1", published)},
            network_mode=networks[0],
            init=True,
        ),
    )
    for network in networks[1:]:
        engine.connect_container_to_network(name, network)
    engine.start(name)
    return name
