"""The dependency audit CI runs: see the comment in .ci/run."""

import json
import os
import re
import sys
import tomllib
import urllib.request

from packaging.requirements import Requirement


def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()


pins = {}
with open("requirements.lock") as lock:
    for line in lock:
        if match := re.match(r"([A-Za-z0-9._-]+)==([^\s;#]+)", line):
            pins[canon(match[1])] = match[2]
with open("pyproject.toml", "rb") as pyproject:
    wanted = [Requirement(d) for d in tomllib.load(pyproject)["project"]["dependencies"]]
stale = [str(r) for r in wanted if pins.get(canon(r.name)) not in r.specifier]
if stale:
    sys.exit(f"requirements.lock does not pin {stale}: regenerate it (see its header)")

try:
    with open(sys.argv[1]) as report_file:
        report = json.load(report_file)["dependencies"]
except (OSError, ValueError, KeyError):
    with open(sys.argv[2]) as log:
        print("pip-audit could not run:\n" + log.read())
    report = []
found = [
    (dep["name"], dep["version"], vuln["id"], vuln.get("fix_versions"))
    for dep in report
    for vuln in dep.get("vulns", [])
]
audited = {canon(dep["name"]) for dep in report if "skip_reason" not in dep}
by_pip_audit = len(audited)
unaudited = []
for name in sorted(set(pins) - audited):
    try:
        url = f"https://pypi.org/pypi/{name}/json"
        with urllib.request.urlopen(url, timeout=30) as resp:
            project = json.load(resp)
    except Exception as exc:
        unaudited.append(f"{name}=={pins[name]} ({exc})")
        continue
    latest = project["info"]["version"]
    if latest != pins[name]:
        unaudited.append(f"{name}=={pins[name]} (PyPI only tells about {latest})")
        continue
    audited.add(name)
    found += [
        (name, pins[name], vuln["id"], vuln.get("fixed_in"))
        for vuln in project.get("vulnerabilities") or []
        if not vuln.get("withdrawn")
    ]
for name, version, vuln, fixed in found:
    print(f"VULNERABLE: {name}=={version}: {vuln}, fixed in {fixed or 'no release yet'}")
if found:
    sys.exit("known vulnerabilities in requirements.lock: upgrade those pins (see its header)")
checked = f"{by_pip_audit} by pip-audit, {len(audited) - by_pip_audit} by PyPI project JSON"
print(f"dependency audit: {len(audited)} of {len(pins)} locked packages clean ({checked})")
if unaudited:
    print("WARNING: not audited, no vulnerability data reachable: " + ", ".join(unaudited))
    if os.environ.get("AUDIT_STRICT") == "1":
        sys.exit("AUDIT_STRICT=1: every locked package must be audited")
