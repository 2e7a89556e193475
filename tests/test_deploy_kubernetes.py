"""deploy/kubernetes renders with kustomize, and every object it makes, and every object the
agent creates at run time (a run's Job, a code server's Deployment and Service), is valid
against the Kubernetes API's OpenAPI schema, checked offline with ``kubernetes-validate``
(no API server can run here)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tether.agent._code_servers_kubernetes import deployment_manifest, service_manifest
from tether.agent._target_kubernetes import job_manifest
from tether.wire import KubernetesOptions, LaunchRun, LocationSpec, Toleration

from .conftest import REPO

kubernetes_validate = pytest.importorskip("kubernetes_validate")
KUBECTL = shutil.which("kubectl")
VERSION = "1.30.0"
SPEC = LocationSpec(name="etl", module="etl.defs", image="registry.example.com/etl:1",
                    env={"A": "b"}, k8s=KubernetesOptions(
                        node_selector={"pool": "batch"}, service_account="etl",
                        tolerations=[Toleration(key="gpu", operator="Exists",
                                                effect="NoSchedule", toleration_seconds=60)]))


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: deploy/kubernetes cannot be rendered")
    output = subprocess.run([KUBECTL, "kustomize", str(REPO / "deploy" / "kubernetes")],
                            check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def validate(obj: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(obj, VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} "
                             f"at {list(exc.path)}") from exc


def test_every_rendered_object_is_valid(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted({obj["kind"] for obj in rendered})
    assert kinds == ["ConfigMap", "Deployment", "Namespace", "NetworkPolicy", "Role",
                     "RoleBinding", "Secret", "Service", "ServiceAccount", "StatefulSet"]
    for obj in rendered:
        validate(obj)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "tether"


def test_the_agent_is_four_deployments_with_only_what_each_needs(
        rendered: list[dict[str, Any]]) -> None:
    deployments = {obj["metadata"]["name"]: obj for obj in rendered
                   if obj["kind"] == "Deployment"}
    agent = {name.removeprefix("tether-agent-"): obj for name, obj in deployments.items()
             if name.startswith("tether-agent-")}
    assert sorted(agent) == ["launcher", "poller", "supervisor", "uploader"]
    for worker, obj in agent.items():
        pod = obj["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["args"][-2:] == ["agent", worker]
        env = {var["name"] for var in container.get("env", [])}
        # the agent token only where the control plane is called; the API token only where
        # the Kubernetes API is
        assert ("TETHER_AGENT_TOKEN" in env) == (worker in ("poller", "uploader"))
        talks_to_kubernetes = worker in ("launcher", "supervisor")
        assert pod["automountServiceAccountToken"] is talks_to_kubernetes
        assert (pod.get("serviceAccountName") == "tether-agent") is talks_to_kubernetes
    assert {"tether-control-plane", "tether-daemons"} <= set(deployments)


def test_the_agents_role_allows_only_what_it_uses(rendered: list[dict[str, Any]]) -> None:
    [role] = [obj for obj in rendered if obj["kind"] == "Role"]
    allowed = {(group, resource): set(rule["verbs"]) for rule in role["rules"]
               for group in rule["apiGroups"] for resource in rule["resources"]}
    assert allowed == {
        ("batch", "jobs"): {"create", "get", "list", "delete"},
        ("", "pods"): {"get", "list"},
        ("", "pods/log"): {"get"},
        ("apps", "deployments"): {"create", "get", "list", "update", "delete"},
        ("", "services"): {"create", "get", "list", "delete"},
    }
    [binding] = [obj for obj in rendered if obj["kind"] == "RoleBinding"]
    assert binding["roleRef"]["name"] == "tether-agent"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tether-agent",
                                    "namespace": "tether"}]


def test_the_agent_takes_no_connections(rendered: list[dict[str, Any]]) -> None:
    policies = {obj["metadata"]["name"]: obj["spec"] for obj in rendered
                if obj["kind"] == "NetworkPolicy"}
    agent = policies["tether-agent-egress-only"]
    assert agent["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "agent"}}
    assert agent["policyTypes"] == ["Ingress", "Egress"]
    assert agent["ingress"] == [] and agent["egress"] == [{}]
    labels = {obj["metadata"]["name"]: obj["spec"]["template"]["metadata"]["labels"]
              for obj in rendered if obj["kind"] == "Deployment"}
    assert all(labels[f"tether-agent-{worker}"]["app.kubernetes.io/component"] == "agent"
               for worker in ("poller", "launcher", "supervisor", "uploader"))


def test_the_objects_the_agent_creates_are_valid() -> None:
    launch = LaunchRun(run_id="0f8fad5b-d9cb-469f-a165-70867728950e", attempt=2,
                       job_name="etl_job", location=SPEC,
                       tags={"tether/cpu": "1.5", "tether/memory": "2Gi"})
    owners = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "tether-agent-launcher",
               "uid": "5c1b3a7e-0000-4000-8000-000000000000", "blockOwnerDeletion": False}]
    validate(job_manifest(launch, "00-abc-def-01", agent_id="agent-1",
                          redis_url="redis://u:p@tether-redis:6379/0",
                          image="registry.example.com/etl:1", ttl_seconds=3600,
                          base_env={}, owner_references=owners))
    validate(deployment_manifest(SPEC, 3, agent_id="agent-1", image="registry.example.com/etl:1",
                                 base_env={}, owner_references=owners))
    validate(service_manifest(SPEC, 3, agent_id="agent-1", owner_references=owners))
