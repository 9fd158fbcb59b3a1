version 1.0

# Load standardized datasets into the portal database: `cryoet-ingest db-import`, which creates missing
# tables, upserts every row by its natural key and deletes stale rows, one transaction per dataset.
# One task imports the datasets one after the other: datasets share deposition rows, and concurrent
# upserts of the same natural key would conflict.

workflow db_import {
    meta {
        description: "cryoet-ingest db-import of datasets from a standardized bucket into the portal database"
        version: "0.0.1"
    }

    parameter_meta {
        bucket: "standardized bucket root: s3://bucket[/prefix], file://… or a path"
        datasets: "dataset ids to import"
        db_url: "postgresql://user@host:5432/db (prefer leaving it unset and giving the task CRYOET_DATABASE_URL, which keeps a password out of the inputs and the command file)"
        https_prefix: "prefix of the https_* columns (default: the portal's)"
        endpoint_url: "S3 endpoint of the bucket (default: the task environment's AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)"
        docker_image: "container image with the project installed"
        cpu: "cores of the task"
        memory: "memory of the task"
        max_retries: "retries of a failed task (safe: a failed dataset's transaction left nothing; upserts are idempotent)"
    }

    input {
        String bucket
        Array[String] datasets
        String? db_url
        String? https_prefix
        String? endpoint_url
        String docker_image = "ghcr.io/cryoet-ingest/cryoet-ingest:latest"
        Int cpu = 2
        String memory = "8G"
        Int max_retries = 1
    }

    call import_datasets {
        input:
            bucket = bucket,
            datasets = datasets,
            db_url = db_url,
            https_prefix = https_prefix,
            endpoint_url = endpoint_url,
            docker_image = docker_image,
            cpu = cpu,
            memory = memory,
            max_retries = max_retries
    }

    output {
        File log = import_datasets.log
        String bucket_url = bucket
    }
}

task import_datasets {
    input {
        String bucket
        Array[String] datasets
        String? db_url
        String? https_prefix
        String? endpoint_url
        String docker_image
        Int cpu
        String memory
        Int max_retries
    }

    command <<<
        set -euo pipefail
        args=(--bucket '~{bucket}' --dataset '~{sep="," datasets}')
        db_url='~{default="" db_url}'
        if [ -n "$db_url" ]; then args+=(--db-url "$db_url"); fi
        https_prefix='~{default="" https_prefix}'
        if [ -n "$https_prefix" ]; then args+=(--https-prefix "$https_prefix"); fi
        endpoint='~{default="" endpoint_url}'
        if [ -n "$endpoint" ]; then args+=(--endpoint-url "$endpoint"); fi
        cryoet-ingest db-import "${args[@]}" 2>&1 | tee db-import.log
    >>>

    output {
        File log = "db-import.log"
    }

    runtime {
        docker: docker_image
        cpu: cpu
        memory: memory
        maxRetries: max_retries
    }
}
