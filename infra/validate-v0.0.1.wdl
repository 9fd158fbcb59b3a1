version 1.0

# Validate a standardized bucket (and the portal database) and gather one summary and one report.
#
# * `datasets` given, `audit_shards` 0: one task per dataset runs the validation suite,
#   `python -m pytest --dataset ID --bucket … --results-jsonl … --junitxml …`.
# * `audit_shards` N > 0, or no `datasets`: N tasks (1 when 0) run `cryoet-ingest audit --shards N --shard K`
#   over the bucket's datasets (or over `datasets`), each writing its results.jsonl and HTML report.
#
# A shard whose checks fail still succeeds (its failures are results); only a broken run (usage error,
# crash) fails its task. `gather_results` then writes summary.json and summary.md, and the workflow's
# outputs carry the totals, so a caller can act on `failed`.

workflow validate {
    meta {
        description: "Validation suite or audit, scattered over datasets or audit shards, gathered into one summary and report"
        version: "0.0.1"
    }

    parameter_meta {
        bucket: "bucket root to validate: s3://bucket[/prefix], file://… or a path"
        datasets: "dataset ids, one task each; empty: audit every dataset of the bucket"
        audit_shards: "N > 0: N `cryoet-ingest audit` shards (of `datasets`, else of the whole bucket)"
        endpoint_url: "S3 endpoint (default: the task environment's AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)"
        db_url: "portal database of the DB-* checks (prefer CRYOET_DATABASE_URL in the task environment); unset and no variable: DB-* checks are skipped"
        https_prefix: "prefix the database's https_* columns were imported with"
        waivers: "YAML file of accepted failures (docs/validation.md)"
        severity: "lowest finding severity that fails: error, warning or info"
        extra_args: "further options of pytest (per dataset) or of the audit (per shard)"
        pytest_workers: "per-dataset tasks: pytest-xdist workers (-n) when above 1"
        docker_image: "container image with the project installed"
        cpu: "cores per validation task"
        memory: "memory per validation task"
        max_retries: "retries of a failed task (safe: validation never writes to the bucket)"
    }

    input {
        String bucket
        Array[String] datasets = []
        Int audit_shards = 0
        String? endpoint_url
        String? db_url
        String? https_prefix
        File? waivers
        String severity = "error"
        String extra_args = ""
        Int pytest_workers = 1
        String docker_image = "ghcr.io/cryoet-ingest/cryoet-ingest:latest"
        Int cpu = 2
        String memory = "8G"
        Int max_retries = 1
    }

    Boolean audit = audit_shards > 0 || length(datasets) == 0
    Int shard_count = if audit_shards > 0 then audit_shards else 1

    if (!audit) {
        scatter (dataset in datasets) {
            call validate_dataset {
                input:
                    dataset = dataset,
                    bucket = bucket,
                    endpoint_url = endpoint_url,
                    db_url = db_url,
                    https_prefix = https_prefix,
                    waivers = waivers,
                    severity = severity,
                    extra_args = extra_args,
                    pytest_workers = pytest_workers,
                    docker_image = docker_image,
                    cpu = cpu,
                    memory = memory,
                    max_retries = max_retries
            }
        }
    }

    if (audit) {
        scatter (shard in range(shard_count)) {
            call audit_shard {
                input:
                    shard = shard,
                    shards = shard_count,
                    datasets = datasets,
                    bucket = bucket,
                    endpoint_url = endpoint_url,
                    db_url = db_url,
                    https_prefix = https_prefix,
                    waivers = waivers,
                    severity = severity,
                    extra_args = extra_args,
                    docker_image = docker_image,
                    cpu = cpu,
                    memory = memory,
                    max_retries = max_retries
            }
        }
    }

    Array[File] shard_results = flatten(select_all([validate_dataset.results, audit_shard.results]))

    call gather_results {
        input:
            results = shard_results,
            severity = severity,
            docker_image = docker_image
    }

    output {
        File summary = gather_results.summary
        File report = gather_results.report
        Int passed = gather_results.passed
        Int failed = gather_results.failed
        Int warned = gather_results.warned
        Int waived = gather_results.waived
        Int skipped = gather_results.skipped
        Array[File] results = shard_results
        Array[File] shard_reports = flatten(select_all([validate_dataset.junit, audit_shard.html_report]))
    }
}

task validate_dataset {
    input {
        String dataset
        String bucket
        String? endpoint_url
        String? db_url
        String? https_prefix
        File? waivers
        String severity
        String extra_args
        Int pytest_workers
        String docker_image
        Int cpu
        String memory
        Int max_retries
    }

    command <<<
        set -uo pipefail
        args=(--dataset '~{dataset}' --bucket '~{bucket}' --severity '~{severity}')
        endpoint='~{default="" endpoint_url}'
        if [ -n "$endpoint" ]; then args+=(--endpoint-url "$endpoint"); fi
        db_url='~{default="" db_url}'
        if [ -n "$db_url" ]; then args+=(--db-url "$db_url"); fi
        https_prefix='~{default="" https_prefix}'
        if [ -n "$https_prefix" ]; then args+=(--https-prefix "$https_prefix"); fi
        waivers='~{default="" waivers}'
        if [ -n "$waivers" ]; then args+=(--waivers "$waivers"); fi
        if [ ~{pytest_workers} -gt 1 ]; then args+=(-n ~{pytest_workers}); fi
        python -m pytest -p no:cacheprovider -q -rfE "${args[@]}" \
            --results-jsonl 'results-~{dataset}.jsonl' --junitxml 'junit-~{dataset}.xml' \
            -o junit_suite_name='validate-~{dataset}' ~{extra_args} > pytest.log 2>&1
        status=$?
        tail -n 25 pytest.log
        # 0: every check passed, 1: some failed (results, gathered later); anything else: a broken run.
        if [ "$status" -gt 1 ]; then cat pytest.log >&2; exit "$status"; fi
    >>>

    output {
        File results = "results-~{dataset}.jsonl"
        File junit = "junit-~{dataset}.xml"
        File log = "pytest.log"
    }

    runtime {
        docker: docker_image
        cpu: cpu
        memory: memory
        maxRetries: max_retries
    }
}

task audit_shard {
    input {
        Int shard
        Int shards
        Array[String] datasets
        String bucket
        String? endpoint_url
        String? db_url
        String? https_prefix
        File? waivers
        String severity
        String extra_args
        String docker_image
        Int cpu
        String memory
        Int max_retries
    }

    command <<<
        set -uo pipefail
        args=(--bucket '~{bucket}' --shards ~{shards} --shard ~{shard} --severity '~{severity}')
        args+=(--report report --no-allure --quiet)
        datasets='~{sep="," datasets}'
        if [ -n "$datasets" ]; then args+=(--datasets "$datasets"); fi
        endpoint='~{default="" endpoint_url}'
        if [ -n "$endpoint" ]; then args+=(--endpoint-url "$endpoint"); fi
        db_url='~{default="" db_url}'
        if [ -n "$db_url" ]; then args+=(--db-url "$db_url"); fi
        https_prefix='~{default="" https_prefix}'
        if [ -n "$https_prefix" ]; then args+=(--https-prefix "$https_prefix"); fi
        waivers='~{default="" waivers}'
        if [ -n "$waivers" ]; then args+=(--waivers "$waivers"); fi
        cryoet-ingest audit "${args[@]}" ~{extra_args} > audit.log 2>&1
        status=$?
        tail -n 25 audit.log
        # 0: every check passed, 1: some failed (results, gathered later); anything else: a broken run.
        if [ "$status" -gt 1 ]; then cat audit.log >&2; exit "$status"; fi
        cp report/results.jsonl 'results-shard-~{shard}.jsonl'
        cp report/report.html 'report-shard-~{shard}.html'
    >>>

    output {
        File results = "results-shard-~{shard}.jsonl"
        File html_report = "report-shard-~{shard}.html"
        File audit_summary = "report/summary.json"
        File log = "audit.log"
    }

    runtime {
        docker: docker_image
        cpu: cpu
        memory: memory
        maxRetries: max_retries
    }
}

task gather_results {
    input {
        Array[File] results
        String severity
        String docker_image
    }

    command <<<
        set -euo pipefail
        mapfile -t files < '~{write_lines(results)}'
        python -m data_validation.gather summary.json "${files[@]}" --counts counts --severity '~{severity}'
    >>>

    output {
        File summary = "summary.json"
        File report = "summary.md"
        Int passed = read_int("counts/passed.txt")
        Int failed = read_int("counts/failed.txt")
        Int warned = read_int("counts/warned.txt")
        Int waived = read_int("counts/waived.txt")
        Int skipped = read_int("counts/skipped.txt")
    }

    runtime {
        docker: docker_image
        cpu: 1
        memory: "2G"
    }
}
