version 1.0

# Standardize source datasets into the CryoET Data Portal layout: one task per ingestion config, each
# running `cryoet-ingest standardize CONFIG --input … --output …`. Re-running is safe: complete outputs are
# skipped, so a retried or repeated task finishes what an interrupted one left.

workflow standardize_dirs {
    meta {
        description: "cryoet-ingest standardize, scattered over ingestion configs (one dataset config each)"
        version: "0.0.1"
    }

    parameter_meta {
        configs: "ingestion config YAML files (dataset_configs/*.yaml); one task each"
        input_bucket: "source bucket root: s3://bucket[/prefix], file://… or a path visible to the tasks"
        output_bucket: "portal layout bucket root to write: s3://bucket[/prefix], file://… or a path"
        endpoint_url: "S3 endpoint of both buckets (default: the task environment's AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS)"
        https_prefix: "HTTPS address of the output bucket for the viewer states' URLs (default: the portal's)"
        filter_run_name: "only runs whose name matches this regular expression"
        exclude_run_name: "skip runs whose name matches this regular expression"
        force_overwrite: "replace outputs whose content would change (default: refuse them)"
        dry_run: "print what would be written; write nothing"
        extra_args: "further `cryoet-ingest standardize` options, e.g. '--import-tomograms --import-annotations'"
        docker_image: "container image with the project installed (Dockerfile at the repository root)"
        cpu: "cores per task"
        memory: "memory per task, e.g. '16G'"
        max_retries: "retries of a failed task (safe: standardize skips what is complete)"
    }

    input {
        Array[File] configs
        String input_bucket
        String output_bucket
        String? endpoint_url
        String? https_prefix
        String? filter_run_name
        String? exclude_run_name
        Boolean force_overwrite = false
        Boolean dry_run = false
        String extra_args = ""
        String docker_image = "ghcr.io/cryoet-ingest/cryoet-ingest:latest"
        Int cpu = 4
        String memory = "16G"
        Int max_retries = 1
    }

    scatter (config in configs) {
        call standardize_config {
            input:
                config = config,
                input_bucket = input_bucket,
                output_bucket = output_bucket,
                endpoint_url = endpoint_url,
                https_prefix = https_prefix,
                filter_run_name = filter_run_name,
                exclude_run_name = exclude_run_name,
                force_overwrite = force_overwrite,
                dry_run = dry_run,
                extra_args = extra_args,
                docker_image = docker_image,
                cpu = cpu,
                memory = memory,
                max_retries = max_retries
        }
    }

    output {
        Array[File] logs = standardize_config.log
        # The output bucket again, for a workflow that chains db_import / validate after this one.
        String bucket_url = output_bucket
    }
}

task standardize_config {
    input {
        File config
        String input_bucket
        String output_bucket
        String? endpoint_url
        String? https_prefix
        String? filter_run_name
        String? exclude_run_name
        Boolean force_overwrite
        Boolean dry_run
        String extra_args
        String docker_image
        Int cpu
        String memory
        Int max_retries
    }

    command <<<
        set -euo pipefail
        args=(--input '~{input_bucket}' --output '~{output_bucket}')
        endpoint='~{default="" endpoint_url}'
        if [ -n "$endpoint" ]; then args+=(--endpoint-url "$endpoint"); fi
        https_prefix='~{default="" https_prefix}'
        if [ -n "$https_prefix" ]; then args+=(--https-prefix "$https_prefix"); fi
        filter='~{default="" filter_run_name}'
        if [ -n "$filter" ]; then args+=(--filter-run-name "$filter"); fi
        exclude='~{default="" exclude_run_name}'
        if [ -n "$exclude" ]; then args+=(--exclude-run-name "$exclude"); fi
        ~{if force_overwrite then "args+=(--force-overwrite)" else ""}
        ~{if dry_run then "args+=(--dry-run)" else ""}
        cryoet-ingest standardize '~{config}' "${args[@]}" ~{extra_args} 2>&1 | tee standardize.log
    >>>

    output {
        File log = "standardize.log"
    }

    runtime {
        docker: docker_image
        cpu: cpu
        memory: memory
        maxRetries: max_retries
    }
}
