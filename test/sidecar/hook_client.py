# A KubeVirt hook client as virt-launcher's pkg/hooks manager behaves, on Debian's python3-grpcio (C-core).
#
# Usage: /usr/bin/python3 hook_client.py STUBS_DIR PLAN_JSON
#   STUBS_DIR: where `protoc --python_out` wrote the *_pb2 modules of proto/kubevirt/hooks/...
#   PLAN_JSON: {"hooksDir", "expected", "vmi", "domain", "malformedDomain", "timeoutSeconds"}
# Prints one JSON transcript on stdout: what each sidecar answered and the chained domain.
#
# Discovery follows facts-kubevirt.md §4 (manager.go Collect): poll the hooks dir every 300 ms,
# read each first-level subdirectory, treat every non-directory entry as a socket, dial insecure
# unix with authority "localhost" (1 s), Info with a 1 s deadline, take the newest version
# offered, until `expected` sockets are processed. OnDefineDomain callbacks are sorted by
# priority (desc) then name and chained (1 min per call); Shutdown (v1alpha3) is called at the end.
import json
import os
import sys
import time

import grpc

sys.path.insert(0, sys.argv[1])
from kubevirt.hooks.info import api_info_pb2 as info_pb2  # noqa: E402
from kubevirt.hooks.v1alpha1 import api_v1alpha1_pb2 as v1_pb2  # noqa: E402
from kubevirt.hooks.v1alpha2 import api_v1alpha2_pb2 as v2_pb2  # noqa: E402
from kubevirt.hooks.v1alpha3 import api_v1alpha3_pb2 as v3_pb2  # noqa: E402

PB = {"v1alpha1": v1_pb2, "v1alpha2": v2_pb2, "v1alpha3": v3_pb2}
NEWEST_FIRST = ["v1alpha3", "v1alpha2", "v1alpha1"]
RPC_TIMEOUT = 60.0


def unary(channel, path, req_cls, resp_cls):
    return channel.unary_unary(
        path,
        request_serializer=req_cls.SerializeToString,
        response_deserializer=resp_cls.FromString,
    )


def dial(path):
    ch = grpc.insecure_channel(
        "unix:" + path, options=[("grpc.default_authority", "localhost")]
    )
    grpc.channel_ready_future(ch).result(timeout=1.0)
    return ch


def discover(hooks_dir, expected, deadline):
    found = {}
    while len(found) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(
                "Failed to collect all expected sidecar hook sockets within given timeout"
            )
        subs = sorted(os.listdir(hooks_dir)) if os.path.isdir(hooks_dir) else []
        for sub in subs:
            subdir = os.path.join(hooks_dir, sub)
            if not os.path.isdir(subdir):
                continue
            for entry in sorted(os.listdir(subdir)):
                path = os.path.join(subdir, entry)
                if os.path.isdir(path) or path in found:
                    continue
                try:
                    ch = dial(path)
                    info = unary(
                        ch, "/kubevirt.hooks.info.Info/Info", info_pb2.InfoParams, info_pb2.InfoResult
                    )(info_pb2.InfoParams(), timeout=1.0)
                except (grpc.FutureTimeoutError, grpc.RpcError):
                    continue  # not ready yet: retry on the next scan
                version = next((v for v in NEWEST_FIRST if v in info.versions), None)
                if version is None:
                    raise SystemExit("%s: no supported hook version in %s" % (path, list(info.versions)))
                found[path] = {
                    "socket": path,
                    "channel": ch,
                    "version": version,
                    "info": {
                        "name": info.name,
                        "hookPoints": [
                            {"name": h.name, "priority": h.priority} for h in info.hookPoints
                        ],
                        "versions": list(info.versions),
                    },
                }
        if len(found) < expected:
            time.sleep(0.3)
    return list(found.values())


def callbacks(sidecars, point):
    cbs = []
    for s in sidecars:
        for h in s["info"]["hookPoints"]:
            if h["name"] == point:
                cbs.append((h["priority"], s["info"]["name"], s))
    cbs.sort(key=lambda c: (-c[0], c[1]))
    return [c[2] for c in cbs]


def on_define(s, domain, vmi):
    pb = PB[s["version"]]
    call = unary(
        s["channel"],
        "/kubevirt.hooks.%s.Callbacks/OnDefineDomain" % s["version"],
        pb.OnDefineDomainParams,
        pb.OnDefineDomainResult,
    )
    return call(pb.OnDefineDomainParams(domainXML=domain, vmi=vmi), timeout=RPC_TIMEOUT).domainXML


def main():
    plan = json.load(open(sys.argv[2]))
    with open(plan["vmi"], "rb") as f:
        vmi = f.read()
    with open(plan["domain"], "rb") as f:
        domain = f.read()
    deadline = time.monotonic() + plan.get("timeoutSeconds", 30)
    sidecars = discover(plan["hooksDir"], plan["expected"], deadline)
    out = {
        "sidecars": [{k: v for k, v in s.items() if k != "channel"} for s in sidecars],
        "chain": [],
    }

    # A malformed domain first: the error status, and the sidecar must keep serving.
    malformed = []
    for s in sidecars:
        try:
            on_define(s, plan["malformedDomain"].encode(), vmi)
            malformed.append({"socket": s["socket"], "code": "OK"})
        except grpc.RpcError as e:
            malformed.append(
                {"socket": s["socket"], "code": e.code().name, "details": e.details()}
            )
    out["malformed"] = malformed

    # PreCloudInitIso on v1alpha2+ sidecars: the input comes back.
    echoes = []
    for s in sidecars:
        if s["version"] == "v1alpha1":
            continue
        pb = PB[s["version"]]
        r = unary(
            s["channel"],
            "/kubevirt.hooks.%s.Callbacks/PreCloudInitIso" % s["version"],
            pb.PreCloudInitIsoParams,
            pb.PreCloudInitIsoResult,
        )(
            pb.PreCloudInitIsoParams(
                cloudInitNoCloudSource=b'{"userData":"x"}', vmi=vmi, cloudInitData=b"#cloud-config\n"
            ),
            timeout=RPC_TIMEOUT,
        )
        echoes.append(
            {
                "socket": s["socket"],
                "cloudInitNoCloudSource": r.cloudInitNoCloudSource.decode(),
                "cloudInitData": r.cloudInitData.decode(),
            }
        )
    out["preCloudInitIso"] = echoes

    # The chain.
    for s in callbacks(sidecars, "OnDefineDomain"):
        domain = on_define(s, domain, vmi)
        out["chain"].append(s["socket"])
    out["domain"] = domain.decode()

    # Shutdown, as virt-launcher does after QEMU exits.
    shut = []
    for s in callbacks(sidecars, "Shutdown"):
        if s["version"] != "v1alpha3":
            continue
        unary(
            s["channel"],
            "/kubevirt.hooks.v1alpha3.Callbacks/Shutdown",
            v3_pb2.ShutdownParams,
            v3_pb2.ShutdownResult,
        )(v3_pb2.ShutdownParams(), timeout=RPC_TIMEOUT)
        shut.append(s["socket"])
        s["channel"].close()
    out["shutdown"] = shut
    json.dump(out, sys.stdout)


main()
