#!/usr/bin/env python3
"""Runs docs/deploy.md's Kubernetes init container as the kubelet would, twice (a restart).

The Pod manifest is read from docs/deploy.md (the ```yaml block with `kind: Pod`) and nothing of it
is edited: the init container's `args` run verbatim, with the user, groups and read-only root file
system of its `securityContext` (and the pod's `fsGroup`), in a root file system of their own where
every volume sits at its `mountPath` as the kubelet lays it out:

- a Secret or ConfigMap volume in the kubelet's atomic-writer layout (`KEY -> ..data/KEY`,
  `..data -> ..TIMESTAMP/`), files of the volume's `defaultMode` (0644 when unset) owned by root,
  given to the pod's `fsGroup` with group read added when the pod has one (what the kubelet's
  volume ownership step does for a read-only volume), bind-mounted read-only;
- a PersistentVolumeClaim as a directory, read-only when the mount or the claim says so;
- an `emptyDir` as a 0777 directory (a tmpfs for `medium: Memory`) that outlives the container, as
  it outlives a restarted init container.

What the volumes hold is made here with the `modelseal` binary under test: a model sealed under
the name the args pass, the decryption key, and a trust policy trusting the signer. The command's
standard output is a pipe (as a container's log is), so `--audit-log /dev/stdout` writes there.

Checks: the first run exits 0 and publishes the model (files 0400) with one `ok` audit line on the
pipe; the server container's user reads every file with the bytes that were sealed; the second
run, into the surviving `emptyDir`, exits 0 ("already unsealed") with its own `ok` line.

Needs root (mount namespaces, bind mounts, chroot): scripts/test.sh runs it as root. It refuses,
rather than skips, otherwise. Usage: kube_recipe.py [MODELSEAL_BINARY] (default target/ci/modelseal).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "deploy.md"
# The timestamped directory the kubelet's atomic writer makes; `..data` points at it.
ATOMIC_DIR = "..2026_12_06_10_00_00.000000001"


def pod_manifest() -> dict:
    """The Pod of docs/deploy.md, parsed."""
    text = DOC.read_text()
    for block in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M):
        doc = yaml.safe_load(block)
        if isinstance(doc, dict) and doc.get("kind") == "Pod":
            return doc
    sys.exit(f"{DOC}: no ```yaml block with `kind: Pod`")


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(args, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"{shlex.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}")
    return out


def flag(args: list[str], name: str) -> str:
    """The value after `name` in the container's args."""
    if args.count(name) != 1:
        sys.exit(f"{DOC}: the init container's args must pass {name} once")
    return args[args.index(name) + 1]


def atomic_writer(target: Path, files: dict[str, bytes], mode: int, fs_group: int | None) -> None:
    """A Secret/ConfigMap volume as the kubelet writes it, ownership step included."""
    data = target / ATOMIC_DIR
    data.mkdir(parents=True)
    for name, content in files.items():
        (data / name).write_bytes(content)
        os.chmod(data / name, mode)
        os.symlink(f"..data/{name}", target / name)
    os.symlink(ATOMIC_DIR, target / "..data")
    if fs_group is not None:
        for path in [target, data, *data.iterdir()]:
            os.chown(path, 0, fs_group, follow_symlinks=False)
            extra = 0o2550 if path.is_dir() else 0o440
            os.chmod(path, os.stat(path).st_mode | extra)


def sha256_tree(top: Path) -> dict[str, str]:
    return {
        str(p.relative_to(top)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(top.rglob("*"))
        if p.is_file()
    }


def main() -> int:
    if os.geteuid() != 0:
        sys.exit("kube_recipe.py builds mount namespaces and bind mounts: run it as root (scripts/test.sh does)")
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "target" / "ci" / "modelseal").resolve()
    pod = pod_manifest()
    spec = pod["spec"]
    pod_sc = spec.get("securityContext") or {}
    fs_group = pod_sc.get("fsGroup")
    init = spec["initContainers"][0]
    server = spec["containers"][0]
    args = [str(a) for a in init["args"]]
    sc = init.get("securityContext") or {}
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    if uid in (None, 0):
        sys.exit(f"{DOC}: the init container must run as a non-root user (runAsUser)")
    # Without runAsGroup a container's primary group is the image's, which is root's for ours.
    gid = sc.get("runAsGroup", pod_sc.get("runAsGroup", 0))
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = init["volumeMounts"]

    def volume_of(path: str) -> tuple[str, str]:
        """(volume name, path inside it) of an absolute path in the container."""
        for m in mounts:
            prefix = m["mountPath"].rstrip("/") + "/"
            if path.startswith(prefix):
                return m["name"], path[len(prefix) :]
        sys.exit(f"{DOC}: {path} is on no volume the init container mounts")

    sealed_path, sig_path = args[1], flag(args, "--signature")
    policy_path, key_path, out_path = flag(args, "--policy"), flag(args, "--key"), flag(args, "--out")
    model_name = flag(args, "--model-name")

    with tempfile.TemporaryDirectory(prefix="modelseal-kube-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        ms = lambda *a: run(str(binary), *a, cwd=work)  # noqa: E731
        # What the release pipeline and the platform team provide.
        model = work / "model"
        model.mkdir()
        (model / "config.json").write_text('{"architectures": ["Llama"]}\n')
        (model / "model.safetensors").write_bytes(os.urandom(3 << 20))
        ms("keygen", "--algorithm", "ec-p256", "--out", "release.pem", "--public-out", "release.pub.pem")
        ms("keygen", "--algorithm", "x25519", "--out", "deploy.pem")
        staging = work / "staging"
        staging.mkdir()
        ms("seal", "model", "--key", "release.pem", "--recipient", "deploy.pem.pub",
           "-o", str(staging / "sealed.enc"), "--signature", str(staging / "sealed.enc.sig"),
           "--model-name", model_name, "--quiet")
        policy = (
            "version = 1\n\n[signers.release]\nkey = \"release.pub.pem\"\n\n"
            f"[[models]]\nname = \"{model_name}\"\nrequire = [\"release\"]\n"
        )

        def run_pod(fs_group: int | None, base: Path) -> Callable[[str], tuple[int, str, str]]:
            """Lays out the volumes and root file system under `base` and runs the containers;
            the result of each run by its tag."""
            groups = [fs_group] if fs_group is not None else []
            # The volumes, as the kubelet lays them out.
            contents: dict[str, dict[str, Path | bytes]] = {}
            for path, source in [(sealed_path, staging / "sealed.enc"), (sig_path, staging / "sealed.enc.sig"),
                                 (policy_path, policy.encode()), (key_path, (work / "deploy.pem").read_bytes())]:
                name, inner = volume_of(path)
                contents.setdefault(name, {})[inner] = source
            volume_of(out_path)
            contents.setdefault(volume_of(policy_path)[0], {})["release.pub.pem"] = (work / "release.pub.pem").read_bytes()
            host: dict[str, Path] = {}
            tmpfs: set[str] = set()
            read_only: set[str] = set()
            for m in mounts:
                name = m["name"]
                vol, target = volumes[name], base / "volumes" / name
                target.parent.mkdir(exist_ok=True)
                files = contents.get(name, {})
                if "secret" in vol or "configMap" in vol:
                    source = vol.get("secret") or vol.get("configMap")
                    mode = int(source.get("defaultMode", 0o644))
                    if any(isinstance(v, Path) for v in files.values()):
                        sys.exit(f"{DOC}: volume {name} holds a directory, which a Secret or ConfigMap cannot")
                    atomic_writer(target, files, mode, fs_group)  # type: ignore[arg-type]
                    read_only.add(name)  # the kubelet mounts these read-only whatever the manifest says
                elif "persistentVolumeClaim" in vol:
                    target.mkdir()
                    for inner, source in files.items():
                        if isinstance(source, Path):
                            (shutil.copytree if source.is_dir() else shutil.copy2)(source, target / inner)
                        else:
                            (target / inner).write_bytes(source)
                    # As a registry publishes them: readable by any user of the pod.
                    for path in [target, *target.rglob("*")]:
                        os.chmod(path, 0o755 if path.is_dir() else 0o644)
                    if vol["persistentVolumeClaim"].get("readOnly") or m.get("readOnly"):
                        read_only.add(name)
                elif "emptyDir" in vol:
                    target.mkdir()
                    if (vol["emptyDir"] or {}).get("medium") == "Memory":
                        tmpfs.add(name)
                else:
                    sys.exit(f"{DOC}: volume {name}: a kind this recipe test does not lay out")
                if m.get("readOnly"):
                    read_only.add(name)
                host[name] = target

            # The container's root file system: the host's /usr and /etc (the image), the binary, the volumes.
            rootfs = base / "rootfs"
            for d in ["usr", "etc", "dev", "proc", "tmp", "opt/modelseal"]:
                (rootfs / d).mkdir(parents=True)
            for link in ["bin", "lib", "lib64", "sbin"]:
                os.symlink(f"usr/{link}", rootfs / link)
            shutil.copy2(binary, rootfs / "opt/modelseal/modelseal")
            for m in mounts:
                (rootfs / m["mountPath"].lstrip("/")).mkdir(parents=True, exist_ok=True)
            r = shlex.quote(str(rootfs))
            setup = [
                "set -euo pipefail",
                f"mount --bind {r} {r}",
                *(f"mount --rbind /{d} {r}/{d}" for d in ["usr", "etc", "dev"]),
                f"mount -t proc proc {r}/proc",
                f"mount -t tmpfs -o mode=1777 tmpfs {r}/tmp",
            ]
            for m in mounts:
                name, at = m["name"], f"{r}/{shlex.quote(m['mountPath'].lstrip('/'))}"
                if name in tmpfs:
                    # An emptyDir is 0777; with fsGroup the kubelet gives it to the group, setgid.
                    mode = "2777" if fs_group is not None else "0777"
                    gid_opt = f",gid={fs_group}" if fs_group is not None else ""
                    setup.append(f"mount -t tmpfs -o mode={mode}{gid_opt} tmpfs {at}")
                else:
                    if name not in read_only:
                        os.chmod(host[name], 0o2777 if fs_group is not None else 0o777)
                    setup.append(f"mount --bind {shlex.quote(str(host[name]))} {at}")
                    if name in read_only:
                        setup.append(f"mount -o remount,bind,ro {at}")
            if sc.get("readOnlyRootFilesystem"):
                setup.append(f"mount -o remount,bind,ro {r}")

            def as_container(user: int, command: list[str], tag: str) -> str:
                """A shell line running `command` in the container as `user`, stdout a pipe."""
                ids = [f"--reuid={user}", f"--regid={gid}",
                       f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups"]
                inner = ["chroot", str(rootfs), "/usr/bin/env", "-i", "PATH=/usr/bin:/bin",
                         "/usr/bin/setpriv", *ids, "--no-new-privs", "--", *command]
                o = shlex.quote(str(base / tag))
                return f"{{ {shlex.join(inner)} 2>{o}.err; echo $? >{o}.rc; }} | cat >{o}.out"

            command = ["/opt/modelseal/modelseal", *args]
            server_uid = (server.get("securityContext") or {}).get("runAsUser", uid)
            out_rel = out_path
            setup += [
                "set +e",  # the containers' exit codes are recorded, not fatal to the set-up
                as_container(uid, command, "first"),
                # The server container: reads what was published, as its own user.
                as_container(server_uid, ["/bin/sh", "-c", f"cd {shlex.quote(out_rel)} && find . -type f -exec sha256sum {{}} +"], "server"),
                as_container(server_uid, ["/bin/sh", "-c", f"stat -c '%a %n' $(find {shlex.quote(out_rel)} -type f)"], "modes"),
                # A restarted init container: the same command, the emptyDir as it was left.
                as_container(uid, command, "second"),
            ]
            # `-x`: a failing set-up step (a mount) shows which, with its error.
            setup_run = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-xc", "\n".join(setup)],
                                       capture_output=True, text=True)
            if setup_run.returncode != 0:
                sys.exit(f"setting up the pod's file systems failed:\n{setup_run.stderr[-4000:]}")

            def result(tag: str) -> tuple[int, str, str]:
                return (int((base / f"{tag}.rc").read_text()), (base / f"{tag}.out").read_text(),
                        (base / f"{tag}.err").read_text())

            return result

        base = work / "pod"
        base.mkdir()
        result = run_pod(fs_group, base)
        failures = []

        def audit_ok(tag: str) -> None:
            rc, out, err = result(tag)
            lines = out.splitlines()
            events = [json.loads(line) for line in lines] if lines else []
            if rc != 0 or len(events) != 1 or events[0].get("outcome") != "ok" or events[0].get("operation") != "unseal":
                failures.append(f"{tag} run: exit {rc}, stdout (the audit pipe):\n{out}stderr:\n{err}")

        audit_ok("first")
        rc, out, err = result("server")
        served = {line.split()[1].removeprefix("./"): line.split()[0] for line in out.splitlines()}
        sealed = sha256_tree(model)
        if rc != 0 or any(served.get(k) != v for k, v in sealed.items()):
            failures.append(f"the server's user reads other bytes than were sealed (exit {rc}):\n{out}{err}\nsealed: {sealed}")
        rc, out, err = result("modes")
        if rc != 0 or any(not line.startswith("400 ") for line in out.splitlines()) or not out:
            failures.append(f"published files are not all 0400 (exit {rc}):\n{out}{err}")
        audit_ok("second")
        # The manifest as it was before it set fsGroup: the key is root's 0400, which uid 1000 cannot
        # read; the error must say whose the file is and name the Kubernetes fix.
        base = work / "pod-without-fsgroup"
        base.mkdir()
        result = run_pod(None, base)
        rc, out, err = result("first")
        if rc != 2 or "fsGroup" not in err or "belongs to uid 0" not in err or f"runs as uid {uid}" not in err:
            failures.append(f"without fsGroup: exit {rc}, want 2 with the owner and the fix named:\n{err}")
        if result("modes")[0] == 0:
            failures.append("without fsGroup: something was published")
        if failures:
            print(f"docs/deploy.md's init container, run as the kubelet would: FAILED\n" + "\n".join(failures))
            return 1
        print(f"docs/deploy.md's init container: published as uid {uid} (fsGroup {fs_group}), "
              f"{len(sealed)} files verified by the server's user, restart exits 0; "
              "without fsGroup refused naming the fix: ok")
        return 0


if __name__ == "__main__":
    sys.exit(main())
