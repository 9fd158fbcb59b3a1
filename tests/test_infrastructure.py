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
