version 1.0

# Copy datasets between buckets or environments with `cryoet-ingest sync`: objects whose size and checksum
# already match are skipped, every copied object is verified, nothing is deleted without `delete`.
# One task per dataset (each with the depositions its metadata references), or one for the whole bucket.

workflow sync {
    meta {
        description: "cryoet-ingest sync SRC DST, scattered over datasets"
        version: "0.0.1"
    }

    parameter_meta {
        source: "source bucket root: s3://bucket[/prefix], file://… or a path"
        destination: "destination bucket root"
        datasets: "dataset ids, one task each; empty: one task syncing the whole bucket"
        delete: "remove destination objects under the synced prefixes that the source lacks"
        dry_run: "print the plan (copy / skip / delete counts and bytes); write nothing"
        with_depositions: "also sync the depositions the datasets' metadata references"
        endpoint_url: "S3 endpoint of both sides (default: the task environment's AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)"
        source_endpoint_url: "S3 endpoint of the source (default: endpoint_url)"
        destination_endpoint_url: "S3 endpoint of the destination (default: endpoint_url)"
        jobs: "objects copied at once per task"
        extra_args: "further `cryoet-ingest sync` options"
        docker_image: "container image with the project installed"
        cpu: "cores per task"
        memory: "memory per task (about 32 MiB per job for large objects)"
        max_retries: "retries of a failed task (safe: a re-run skips what was copied)"
    }

    input {
        String source
        String destination
        Array[String] datasets = []
        Boolean delete = false
        Boolean dry_run = false
        Boolean with_depositions = true
        String? endpoint_url
        String? source_endpoint_url
        String? destination_endpoint_url
        Int jobs = 16
        String extra_args = ""
        String docker_image = "ghcr.io/cryoet-ingest/cryoet-ingest:latest"
        Int cpu = 2
        String memory = "4G"
        Int max_retries = 2
    }

    Array[String] units = if length(datasets) > 0 then datasets else [""]

    scatter (dataset in units) {
        call sync_prefix {
            input:
                source = source,
                destination = destination,
                dataset = dataset,
                delete = delete,
                dry_run = dry_run,
                with_depositions = with_depositions,
                endpoint_url = endpoint_url,
                source_endpoint_url = source_endpoint_url,
                destination_endpoint_url = destination_endpoint_url,
                jobs = jobs,
                extra_args = extra_args,
                docker_image = docker_image,
                cpu = cpu,
                memory = memory,
                max_retries = max_retries
        }
    }

    output {
        Array[File] logs = sync_prefix.log
        String destination_url = destination
    }
}

task sync_prefix {
    input {
        String source
        String destination
        String dataset
        Boolean delete
        Boolean dry_run
        Boolean with_depositions
        String? endpoint_url
        String? source_endpoint_url
        String? destination_endpoint_url
        Int jobs
        String extra_args
        String docker_image
        Int cpu
        String memory
        Int max_retries
    }

    command <<<
        set -euo pipefail
        args=('~{source}' '~{destination}' --jobs ~{jobs})
        dataset='~{dataset}'
        if [ -n "$dataset" ]; then args+=(--dataset "$dataset"); fi
        endpoint='~{default="" endpoint_url}'
        if [ -n "$endpoint" ]; then args+=(--endpoint-url "$endpoint"); fi
        source_endpoint='~{default="" source_endpoint_url}'
        if [ -n "$source_endpoint" ]; then args+=(--source-endpoint-url "$source_endpoint"); fi
        destination_endpoint='~{default="" destination_endpoint_url}'
        if [ -n "$destination_endpoint" ]; then args+=(--destination-endpoint-url "$destination_endpoint"); fi
        ~{if delete then "args+=(--delete)" else ""}
        ~{if dry_run then "args+=(--dry-run)" else ""}
        ~{if with_depositions then "" else "args+=(--no-depositions)"}
        cryoet-ingest sync "${args[@]}" ~{extra_args} 2>&1 | tee sync.log
    >>>

    output {
        File log = "sync.log"
    }

    runtime {
        docker: docker_image
        cpu: cpu
        memory: memory
        maxRetries: max_retries
    }
}
