"""MMR on Kubernetes: machine 0 and its workers, their config, Service, disruption budget and autoscaler.

- ``primary``: a StatefulSet of one pod, ``MACHINE_ID=0``, the one process that runs
  background tasks (tasks/schedule.go at v1.3.7).
- ``workers``: a StatefulSet whose ordinals start at 1 (``spec.ordinals.start``), each pod's
  ``MACHINE_ID`` its ordinal, from the pod-index label. It depends on the primary, so Pulumi
  finishes rolling machine 0 before it touches a worker, as upstream's deployment docs ask.
- The config is a ConfigMap (what is not secret) and a Secret (DSN, S3 key, token, signing
  keys). Both are auto-named, and the provider replaces either when its data changes
  (pulumi-kubernetes provider/pkg/provider/diff.go: ``.data`` and ``.stringData`` force a replacement), so
  a config change gives the pod templates new names: the primary rolls, then the workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as kubernetes

from components.kubernetes.media_repo_pods import (
    HTTP_PORT,
    ROLE_LABEL,
    WRAPPER_COMMAND,
    config_volume,
    machine_id_env,
    media_repo_container,
    media_repo_labels,
    pod_spec,
    pod_volumes,
    spread,
)
from components.kubernetes.network_policies import media_repo_policies
from components.kubernetes.objects import labels, manifest, rollout_timeouts, selector
from config_schema.config_directory import SECRETS_FILE, SETTINGS_FILE, render_sections, render_settings
from config_schema.health import redis_addresses as redis_addresses_of
from config_schema.media_repo import S3Connection, build_media_repo_config, render_media_repo_config
from config_schema.stack import StackConfig


class KubernetesMediaRepo(pulumi.ComponentResource):
    """Exposes ``service_name``, ``config_yaml`` (secret), the config's ConfigMap and Secret, and the StatefulSets."""

    def __init__(
        self,
        name: str,
        stack: StackConfig,
        *,
        namespace: pulumi.Input[str],
        database_dsn: pulumi.Output[str],
        media_claim: str | None,
        s3: pulumi.Output[S3Connection] | None = None,
        redis_addresses: Sequence[str] = (),
        signing_keys: Mapping[int, pulumi.Output[str]] | None = None,
        depends_on: Sequence[pulumi.Input[pulumi.Resource]] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("matrix-media-repo:index:KubernetesMediaRepo", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = stack.kubernetes
        # What the readiness probe asks to answer (config_schema/health.py).
        self._redis = redis_addresses_of(stack.redis, redis_addresses)
        self.shared_secret_token: pulumi.Output[str] | None = None
        if stack.uses_shared_secret:
            import pulumi_random as random

            # A repo-admin access token: long, and plain letters and digits, as it travels in headers.
            token = random.RandomPassword(f"{name}-shared-secret", length=48, special=False, opts=child)
            self.shared_secret_token = pulumi.Output.secret(token.result)

        # The Host MMR sees is the server name (the Ingress sets it); X-Forwarded-Host would be the public host.
        use_forwarded_host = False if settings.ingress.class_name else None
        full_config = pulumi.Output.all(database_dsn, s3, self.shared_secret_token).apply(
            lambda values: build_media_repo_config(
                stack,
                database_dsn=values[0],
                s3=values[1],
                shared_secret_token=values[2],
                redis_container_addresses=redis_addresses,
                use_forwarded_host=use_forwarded_host,
            )
        )
        self.config_yaml = pulumi.Output.secret(full_config.apply(render_media_repo_config))
        self.settings_map = kubernetes.core.v1.ConfigMap(
            f"{name}-settings",
            metadata={"namespace": namespace, "labels": labels(name, "media-repo")},
            data={
                SETTINGS_FILE: render_settings(
                    stack, redis_addresses=redis_addresses, use_forwarded_host=use_forwarded_host
                )
            },
            opts=child,
        )
        secret_files: dict[str, pulumi.Input[str]] = {
            SECRETS_FILE: pulumi.Output.secret(full_config.apply(lambda config: render_sections(config, secret=True)))
        }
        secret_files.update({f"signing-key-{index}.pem": pem for index, pem in (signing_keys or {}).items()})
        self.secret = kubernetes.core.v1.Secret(
            f"{name}-secrets",
            metadata={"namespace": namespace, "labels": labels(name, "media-repo")},
            string_data=secret_files,
            opts=child,
        )
        self.config_volume = config_volume(stack, self.settings_map.metadata.name, self.secret.metadata.name)
        volumes = pod_volumes(stack, self.config_volume, media_claim)

        # Every MMR pod, primary and workers: the Service, the budget and the policy select these.
        every_pod = selector(name, "media-repo")
        self.service_name = name
        kubernetes.core.v1.Service(
            f"{name}-media-repo",
            metadata={"name": self.service_name, "namespace": namespace, "labels": labels(name, "media-repo")},
            spec=manifest({"selector": every_pod, "ports": self._service_ports(stack)}),
            opts=child,
        )
        # The StatefulSets' governing Service: stable names per pod, never load-balanced.
        headless = f"{name}-pods"
        kubernetes.core.v1.Service(
            headless,
            metadata={"name": headless, "namespace": namespace, "labels": labels(name, "media-repo")},
            spec=manifest({"clusterIP": "None", "selector": every_pod, "ports": self._service_ports(stack)}),
            opts=child,
        )
        self.primary = self._statefulset(name, stack, "primary", namespace, headless, volumes, 1, list(depends_on))
        self.workers: kubernetes.apps.v1.StatefulSet | None = None
        if stack.processes > 1:
            autoscaled = settings.autoscaling.enabled
            self.workers = self._statefulset(
                name,
                stack,
                "worker",
                namespace,
                headless,
                volumes,
                # Left to the autoscaler when there is one: a replica count here would undo its work at every up.
                None if autoscaled else settings.replicas - 1,
                [self.primary],
            )
            if autoscaled:
                kubernetes.autoscaling.v2.HorizontalPodAutoscaler(
                    f"{name}-workers",
                    metadata={"namespace": namespace, "labels": labels(name, "media-repo")},
                    spec=manifest(
                        {
                            "scaleTargetRef": {
                                "apiVersion": "apps/v1",
                                "kind": "StatefulSet",
                                "name": f"{name}-workers",
                            },
                            "minReplicas": settings.replicas - 1,
                            # Ordinals start at 1, so the last worker's machine id is this number: at most 1023.
                            "maxReplicas": settings.autoscaling.max_replicas - 1,
                            "metrics": [
                                {
                                    "type": "Resource",
                                    "resource": {
                                        "name": "cpu",
                                        "target": {
                                            "type": "Utilization",
                                            "averageUtilization": settings.autoscaling.target_cpu_percent,
                                        },
                                    },
                                }
                            ],
                        }
                    ),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.workers]),
                )
        kubernetes.policy.v1.PodDisruptionBudget(
            f"{name}-media-repo",
            metadata={"namespace": namespace, "labels": labels(name, "media-repo")},
            spec=manifest({"selector": {"matchLabels": every_pod}, "maxUnavailable": 1}),
            opts=child,
        )
        media_repo_policies(name, stack, namespace, every_pod, child)
        if settings.pod_monitor:
            kubernetes.apiextensions.CustomResource(
                f"{name}-media-repo",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata={"namespace": namespace, "labels": labels(name, "media-repo")},
                spec=manifest(
                    {
                        "selector": {"matchLabels": every_pod},
                        "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics"}],
                    }
                ),
                opts=child,
            )
        self.register_outputs({"service": self.service_name, "mediaRepoConfig": self.config_yaml})

    def _statefulset(
        self,
        name: str,
        stack: StackConfig,
        role: str,
        namespace: pulumi.Input[str],
        service_name: str,
        volumes: list[dict[str, object]],
        replicas: int | None,
        depends_on: list[pulumi.Input[pulumi.Resource]],
    ) -> kubernetes.apps.v1.StatefulSet:
        statefulset_name = f"{name}-{'primary' if role == 'primary' else 'workers'}"
        pod_labels = media_repo_labels(name, role)
        spec: dict[str, object] = {
            "serviceName": service_name,
            "selector": {"matchLabels": {**selector(name, "media-repo"), ROLE_LABEL: role}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": pod_spec(
                    stack,
                    [media_repo_container(stack, [machine_id_env(role)], WRAPPER_COMMAND, redis=self._redis)],
                    volumes,
                    topologySpreadConstraints=spread(name),
                ),
            },
        }
        if replicas is not None:
            spec["replicas"] = replicas
        if role != "primary":
            # Machine ids are ordinals, and 0 is the primary's.
            spec["ordinals"] = {"start": 1}
            # Workers are interchangeable: start and stop them together.
            spec["podManagementPolicy"] = "Parallel"
        return kubernetes.apps.v1.StatefulSet(
            statefulset_name,
            metadata={"name": statefulset_name, "namespace": namespace, "labels": labels(name, "media-repo")},
            spec=manifest(spec),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, custom_timeouts=rollout_timeouts()),
        )

    @staticmethod
    def _service_ports(stack: StackConfig) -> list[dict[str, object]]:
        ports: list[dict[str, object]] = [{"name": "http", "port": HTTP_PORT, "targetPort": "http"}]
        if stack.metrics.enabled:
            ports.append({"name": "metrics", "port": stack.metrics.port, "targetPort": "metrics"})
        return ports
