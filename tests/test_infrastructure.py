"""The test components are real: moto answers S3 on loopback, PostgreSQL gives a fresh database."""

import boto3
import psycopg2


def test_moto_server_is_on_loopback_and_serves_s3(s3_bucket: str, s3_endpoint: str) -> None:
    assert s3_endpoint.startswith("http://127.0.0.1:")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    name = s3_bucket.removeprefix("s3://")
    client.put_object(Bucket=name, Key="a/b.txt", Body=b"hello")
    assert client.get_object(Bucket=name, Key="a/b.txt")["Body"].read() == b"hello"


def test_database_is_fresh_and_writable(database_url: str) -> None:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        assert cursor.fetchone()[0] == 0
        cursor.execute("CREATE TABLE probe (id int)")
        cursor.execute("INSERT INTO probe VALUES (1)")
        cursor.execute("SELECT id FROM probe")
        assert cursor.fetchone() == (1,)


def test_the_quick_start_says_what_it_does_and_how_long() -> None:
    """The quick start's first run installs ~130 packages (minutes), later ones do not: both the README and the
    script's first lines say so, with the same figures as setup.sh's install message."""
    import re
    import subprocess

    from tests.conftest import REPO_ROOT

    script = (REPO_ROOT / "scripts" / "quickstart.sh").read_text()
    setup = (REPO_ROOT / "scripts" / "setup.sh").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    install = re.search(r"first install takes (\d-\d) minutes", setup).group(1)
    assert f"~130 packages, {install} minutes" in script and f"dependencies into `.venv` ({install} minutes)" in readme
    for figure in ("about 5 minutes", "about 40 s"):
        assert figure in script and figure in readme
    assert "done in $((SECONDS - started)) s" in script  # the run reports its own time
    assert subprocess.run(["bash", "-n", str(REPO_ROOT / "scripts" / "quickstart.sh")]).returncode == 0
