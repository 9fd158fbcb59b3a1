"""Public data without an account: unsigned reads (``--anon``, ``$CRYOET_S3_ANON``, or no credentials at all),
never unsigned writes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from importers.storage import AUTO, Bucket, reading_access
from tests.conftest import REPO_ROOT

#: Variables through which the AWS credential chain could find credentials, and IMDS (no instance role here).
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def without_credentials(tmp_path: Path) -> dict[str, str]:
    """The environment of a user who has no AWS account: nothing in it, no ~/.aws, no instance role."""
    environment = {name: value for name, value in os.environ.items() if name not in CREDENTIALS}
    missing = str(tmp_path / "no-aws-files")
    environment.update(
        AWS_SHARED_CREDENTIALS_FILE=missing, AWS_CONFIG_FILE=missing, AWS_EC2_METADATA_DISABLED="true", HOME=missing
    )
    return environment


@pytest.fixture
def public_bucket(clean_tree: Path, s3_endpoint: str) -> str:
    """The clean sample in a moto bucket whose bucket and objects are public-read (moto refuses unsigned
    requests otherwise, as S3 does)."""
    import boto3

    name = f"public-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=name, ACL="public-read")
    for path in sorted(clean_tree.rglob("*")):
        if path.is_file():
            key = path.relative_to(clean_tree).as_posix()
            client.put_object(Bucket=name, Key=key, Body=path.read_bytes(), ACL="public-read")
    return f"s3://{name}"


def run(arguments: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=environment
    )


def test_the_suite_and_the_audit_read_a_public_bucket_without_credentials(public_bucket: str, tmp_path: Path) -> None:
    """The suite (with worker processes, which open the bucket unsigned too) and the audit, each saying once
    why it reads unsigned."""
    environment = without_credentials(tmp_path)
    notice = f"no AWS credentials found: reading {public_bucket} with unsigned requests (public data only)"
    suite = ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--dataset", "10001", "--bucket", public_bucket]
    result = run([*suite, "-n", "2"], environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line for line in result.stdout.splitlines() if "credentials" in line] == [notice]
    assert " passed" in result.stdout and "failed" not in result.stdout
    report = tmp_path / "audit"
    audit = ["-m", "importers.cli", "audit", "--bucket", public_bucket, "--datasets", "10001", "--report", str(report)]
    result = run([*audit, "--no-allure", "--quiet"], environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.splitlines() == [f"audit: {notice}"]


def test_anon_reads_unsigned_even_with_credentials(public_bucket: str, s3_bucket: str) -> None:
    """With --anon, a public bucket reads; a private object (in the fixture's s3_bucket) is refused to unsigned
    requests, one failure of the check that owns it (moto, unlike S3, lists a private bucket to anyone)."""
    environment = os.environ.copy()
    public = run(
        ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--dataset", "10001", "--bucket", public_bucket, "--anon"],
        environment,
    )
    assert public.returncode == 0, public.stdout + public.stderr
    assert "credentials" not in public.stdout
    Bucket(s3_bucket).write("10001/dataset_metadata.json", b"{}")
    private = run(
        ["-m", "pytest", "-p", "no:cacheprovider", "-q", "--dataset", "10001", "--bucket", s3_bucket, "--anon"],
        environment,
    )
    assert private.returncode == 1
    (line,) = [line for line in private.stdout.splitlines() if line.startswith("GEN-JSON-PARSE")]
    assert line.endswith("10001/dataset_metadata.json (get failed: access denied)"), line
    assert "Traceback" not in private.stdout


def test_anon_comes_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    assert reading_access(False) == AUTO and reading_access(True) is True
    monkeypatch.setenv("CRYOET_S3_ANON", "1")
    assert reading_access(False) is True


def test_a_bucket_written_to_is_never_unsigned(s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"unsigned requests \(--anon\) only read; writing needs AWS credentials"):
        Bucket(s3_bucket, anonymous=True)
    for name, value in without_credentials(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"no AWS credentials found .* writing to it needs them"):
        Bucket(s3_bucket, anonymous=AUTO)
    assert Bucket(s3_bucket, read_only=True, anonymous=AUTO).anonymous


def test_commands_that_write_refuse_to_run_without_credentials(
    public_bucket: str, s3_bucket: str, clean_tree: Path, tmp_path: Path
) -> None:
    """standardize --output, a sync destination and db-import: one line naming the bucket, exit status 2."""
    environment = without_credentials(tmp_path)
    config = str(REPO_ROOT / "dataset_configs" / "10001.yaml")
    commands = {
        "standardize": ["standardize", config, "--input", str(clean_tree), "--output", s3_bucket, "--anon"],
        "sync": ["sync", public_bucket, s3_bucket, "--dataset", "10001", "--anon"],
        "db-import": ["db-import", "--bucket", s3_bucket, "--dataset", "10001"],
    }
    for name, arguments in commands.items():
        result = run(["-m", "importers.cli", *arguments], environment)
        assert result.returncode == 2, (name, result.stdout + result.stderr)
        (line,) = result.stderr.strip().splitlines()
        assert f"{s3_bucket}: no AWS credentials found" in line and "needs them" in line, (name, line)


def test_sync_copies_a_public_bucket_without_credentials(public_bucket: str, tmp_path: Path) -> None:
    destination = tmp_path / "copy"
    result = run(
        ["-m", "importers.cli", "sync", public_bucket, str(destination), "--dataset", "10001"],
        without_credentials(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sync: note: no AWS credentials found: reading {public_bucket} with unsigned requests" in result.stdout
    assert (destination / "10001" / "dataset_metadata.json").is_file()
