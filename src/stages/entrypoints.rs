//! The action entrypoints: one function per container action, each reading
//! its `INPUT_*` variables from a [`RunnerEnv`], calling the library and
//! writing `$GITHUB_OUTPUT`. The thin `action-*` binaries call one each; the
//! multi-call `deployer-actions` binary of the runtime image picks one by the
//! name it was started as.

use crate::base::runner::{self, Level, RunnerEnv};
use crate::cluster::{access, deploy};
use crate::config::blocked_clusters as config_blocked;
use crate::github::previous;
use crate::planning::{blocked_verdict, legs, plan, three_stage};
use crate::presentation::{self as render, plan_folder};
use crate::stages::{comment, deployment_records, filter, generate};
use crate::{Diagnostic, Error};

/// An action's entrypoint.
pub type Entrypoint = fn(&RunnerEnv) -> Result<(), Error>;

/// Every action by its binary name.
pub const ENTRYPOINTS: &[(&str, Entrypoint)] = &[
    ("action-generate", generate),
    ("action-filter", filter),
    ("action-comment", comment),
    ("action-setup-cluster", setup_cluster),
    ("action-deploy", deploy),
    ("action-diff", diff),
];

/// The entrypoint for a binary name (a path's last segment).
pub fn entrypoint(program: &str) -> Option<Entrypoint> {
    let name = program.rsplit('/').next().unwrap_or(program);
    ENTRYPOINTS.iter().find(|(binary, _)| *binary == name).map(|(_, entry)| *entry)
}

/// `actions/generate`: plan the change in `$GITHUB_WORKSPACE`, print the
/// tables, write the plan folder and the step summary, and only then, once
/// everything is known, write `$GITHUB_OUTPUT`.
pub fn generate(env: &RunnerEnv) -> Result<(), Error> {
    let inputs = generate::GenerateInputs::from_env(env)?;
    // Checked before anything else: a `plan-dir` that would replace the
    // wrong folder is an input error, with nothing written.
    let plan_dir = plan_folder::resolve_dir(&env.workspace(), &inputs.plan_dir.to_string_lossy())?;
    let resolved = generate::resolve_change(env, &inputs)?;
    for warning in &resolved.warnings {
        runner::annotate_message(Level::Warning, warning);
    }
    if resolved.api_requests > 0 {
        runner::print(&format!("GitHub API: {} requests\n", resolved.api_requests));
    }
    let workspace = env.workspace();
    let request =
        generate::GenerateRequest { repo: workspace.clone(), config: inputs.config.clone(), changes: resolved.changes };
    // Pull requests and pushes: changed cluster files are compared with their base versions.
    let contents = resolved
        .base_commit
        .map(|base| previous::ContentsApi::new(env, generate::inputs::GITHUB_TOKEN, resolved.client_config, base));
    let generated = generate::generate_with(&request, contents.as_ref().map(|c| c as &dyn previous::PreviousSource))?;
    // A cluster whose own files are broken blocks only itself, unless this pull request touches them.
    let verdict = generated.verdict(&request.changes, resolved.run_kind)?;
    if let Some(contents) = &contents {
        for warning in contents.warnings() {
            runner::annotate_message(Level::Warning, &warning);
        }
        if contents.requests() > 0 {
            runner::print(&format!(
                "GitHub API: {} requests (previous versions of changed cluster files)\n",
                contents.requests()
            ));
        }
    }
    let plan = &generated.plan;
    let legs = legs::pack_plan(plan, inputs.max_jobs);
    if verdict == blocked_verdict::Verdict::PlanWithWarnings {
        for problem in config_blocked::problems(&generated.blocked) {
            runner::annotate(Level::Warning, &problem);
        }
    }
    let blocked_labels = config_blocked::labels(&generated.blocked);
    if !blocked_labels.is_empty() {
        runner::print(&format!(
            "Blocked clusters, not planned (problems in their own files): {}\n",
            blocked_labels.join(", ")
        ));
    }

    runner::report_diagnostics(Level::Warning, &generated.config_warnings, runner::Audience::Actions);
    for warning in &plan.warnings {
        match warning {
            plan::PlanWarning::NoCanary { cluster_file, .. } => {
                runner::annotate(Level::Warning, &Diagnostic::new(cluster_file, warning.to_string()));
            }
            plan::PlanWarning::UnknownLabel { .. } | plan::PlanWarning::RolloutAll { .. } => {
                runner::annotate_message(Level::Warning, &warning.to_string())
            }
            plan::PlanWarning::RolloutPinned { .. } => runner::annotate_message(Level::Notice, &warning.to_string()),
            plan::PlanWarning::UnreadKeysOnly { cluster_file, .. } => {
                runner::annotate(Level::Notice, &Diagnostic::new(cluster_file, warning.to_string()));
            }
        }
    }
    runner::group("Deployment plan");
    runner::print_untrusted(&render::log_tables(plan))?;
    runner::end_group();
    runner::print(&format!("{}\n", legs.describe(inputs.max_jobs)));

    plan_folder::write(&plan_dir, plan, env.pull_request()?)?;
    let summary =
        format!("{}{}", render::step_summary(plan), render::blocked_summary::summary_markdown(&generated.blocked));
    runner::append_summary(env, &summary)?;
    let stages = (inputs.matrix_shape == generate::MatrixShape::ThreeStage)
        .then(|| three_stage::three_stage(&plan.support_and_staging, &plan.prod_hubs, inputs.max_jobs));
    if stages.as_ref().is_some_and(three_stage::ThreeStage::batched) {
        runner::print(&format!(
            "Three-stage matrices past max-jobs {}: batched legs {{leg, releases, jobs: [...]}}\n",
            inputs.max_jobs
        ));
    }
    generate::action_outputs(plan, &legs, stages.as_ref(), &inputs.plan_dir.to_string_lossy(), &blocked_labels)?
        .write(env)?;
    // On a push, the other clusters' jobs are written; the run still fails, so that the blocked ones are seen.
    match (verdict, generated.blocked_error()) {
        (blocked_verdict::Verdict::PlanThenFail, Some(error)) => Err(error),
        _ => Ok(()),
    }
}

/// `actions/filter`: drop the prod hubs of clusters whose canary leg did not succeed.
pub fn filter(env: &RunnerEnv) -> Result<(), Error> {
    let inputs = filter::FilterInputs::from_env(env)?;
    let (outcome, api_requests) = filter::run(env, &inputs)?;
    for warning in &outcome.warnings {
        runner::annotate_message(Level::Warning, warning);
    }
    runner::group("Prod hub jobs after the canaries");
    runner::print_untrusted(&render::filter_table(&outcome))?;
    runner::end_group();
    if api_requests > 0 {
        runner::print(&format!("GitHub API: {api_requests} requests\n"));
    }
    runner::append_summary(env, &render::filter_summary(&outcome))?;
    filter::action_outputs(&outcome, inputs.kind)?.write(env)
}

/// `actions/comment`: post or update the sticky comment from a run's artifact.
pub fn comment(env: &RunnerEnv) -> Result<(), Error> {
    let inputs = comment::stage::CommentInputs::from_env(env)?;
    let outcome = comment::stage::run(env, &inputs)?;
    for warning in &outcome.warnings {
        runner::annotate_message(Level::Warning, warning);
    }
    let url = outcome.comment_url.as_deref().unwrap_or("");
    runner::print(&format!(
        "Comment {}{}\n",
        outcome.result.as_str(),
        if url.is_empty() { String::new() } else { format!(": {url}") }
    ));
    runner::print(&format!(
        "GitHub API: {} requests (+{} artifact downloads from storage)\n",
        outcome.api_requests, outcome.downloads
    ));
    outcome.outputs().write(env)
}

/// `actions/setup-cluster`: credentials and a kubeconfig for one cluster.
pub fn setup_cluster(env: &RunnerEnv) -> Result<(), Error> {
    let inputs = access::stage::SetupInputs::from_env(env)?;
    let outcome = access::stage::run(env, &inputs)?;
    if let Some(key_file) = &outcome.key_file {
        runner::print(&format!("Credentials: {key_file} (sops-decrypted in memory)\n"));
    }
    runner::print(&format!(
        "Access to {} ({}) ready: KUBECONFIG={} ({} requests)\n",
        inputs.cluster,
        outcome.provider.as_str(),
        outcome.output_path,
        outcome.requests
    ));
    let exported: Vec<&str> = outcome.sops.vars.iter().map(|(name, _)| name.as_str()).collect();
    match inputs.sops_mode {
        _ if !exported.is_empty() => runner::print(&format!("For sops: {}\n", exported.join(", "))),
        access::sops_env::SopsMode::None => runner::print("For sops: nothing (sops-credentials: none)\n"),
        access::sops_env::SopsMode::Auto => runner::print("For sops: no credentials on this leg\n"),
    }
    outcome.environment().write_env(env)?;
    outcome.outputs().write(env)
}

/// `actions/deploy`: `helm upgrade --install` the support chart and/or hubs, in
/// order; with `mode: health-check`, only the hubs' health checks.
pub fn deploy(env: &RunnerEnv) -> Result<(), Error> {
    if let Some(leg) = env.input(deploy::inputs::LEG) {
        return deploy_leg(env, leg);
    }
    let mode = deploy::Mode::from_env(env)?;
    let mut request = deploy::DeployRequest::from_env(env)?;
    // Checked before anything runs (as for a leg); only upgrades write records, reported after the deploy.
    let settings = deployment_records::RecordSettings::from_env(env)?;
    if mode == Some(deploy::Mode::HealthCheck) {
        return health_check(env, &request);
    }
    let recorder = settings.map(deployment_records::DeploymentRecorder::new);
    request.records.recorder = recorder.clone().map(|r| r as std::sync::Arc<dyn deploy::records::Recorder>);
    let deployed = deploy::run::deploy(&request, deploy::run::LogStyle::Actions);
    if let Some(recorder) = &recorder {
        recorder.report();
    }
    let outcome = match deployed {
        Ok(outcome) => outcome,
        Err(error) => {
            // A failed release still leaves its table of releases in the step summary.
            if let Error::ReleaseFailed { summary, .. } = &error {
                runner::append_summary(env, &format!("Deploy on `{}` failed.\n{summary}", request.cluster))?;
            }
            return Err(error);
        }
    };
    runner::append_summary(env, &outcome.summary())?;
    outcome.outputs()?.write(env)
}

/// `actions/deploy` with `mode: health-check` and one cluster: its hubs' health checks, no helm.
fn health_check(env: &RunnerEnv, request: &deploy::DeployRequest) -> Result<(), Error> {
    let outcome = match deploy::run::check_hubs(request, deploy::run::LogStyle::Actions) {
        Ok(outcome) => outcome,
        Err(error) => {
            if let Error::ReleaseFailed { summary, .. } = &error {
                runner::append_summary(env, &format!("Health checks on `{}` failed.\n{summary}", request.cluster))?;
            }
            return Err(error);
        }
    };
    runner::append_summary(env, &outcome.summary())?;
    let mut out = runner::Outputs::default();
    // Nothing is upgraded in this mode.
    out.set_json(deploy::outputs::DEPLOYED, &Vec::<String>::new())?;
    out.write(env)
}

/// `actions/deploy` with `leg`: every cluster of a matrix item, each with its own credentials.
fn deploy_leg(env: &RunnerEnv, leg: &str) -> Result<(), Error> {
    use deploy::leg::{clear_stale_results, run_leg, LegRequest, RESULTS_FILE};
    // Before anything else, so that a leg that fails on its inputs leaves no report to upload.
    clear_stale_results(env)?;
    let mut request = LegRequest::from_env(env, leg)?;
    // Checked before anything runs; records are written by upgrades only, not by health checks.
    let recorder = deployment_records::RecordSettings::from_env(env)?
        .filter(|_| request.mode == deploy::Mode::Upgrade)
        .map(deployment_records::DeploymentRecorder::new);
    request.how.records.recorder = recorder.clone().map(|r| r as std::sync::Arc<dyn deploy::records::Recorder>);
    let clusters: Vec<&str> = request.work.iter().map(|w| w.cluster_name.as_str()).collect();
    let plural = if clusters.len() == 1 { "" } else { "s" };
    match request.mode {
        deploy::Mode::Upgrade => runner::print(&format!(
            "Leg of {} cluster{plural}: {} (up to {} release{} of a cluster at a time)\n",
            clusters.len(),
            clusters.join(", "),
            request.max_parallel,
            if request.max_parallel == 1 { "" } else { "s" },
        )),
        deploy::Mode::HealthCheck => runner::print(&format!(
            "Health-check leg of {} cluster{plural}: {} (hubs checked one at a time; helm is not run)\n",
            clusters.len(),
            clusters.join(", "),
        )),
    }
    let ran = run_leg(env, &request);
    if let Some(recorder) = &recorder {
        recorder.report();
    }
    let outcome = ran?;
    runner::append_summary(env, &outcome.summary())?;
    let relative = request
        .results_dir
        .strip_prefix(&request.how.repo)
        .unwrap_or(&request.results_dir)
        .join(RESULTS_FILE)
        .to_string_lossy()
        .into_owned();
    let failed = outcome.failed();
    let deployed: Vec<String> = outcome
        .releases
        .iter()
        .filter(|(cluster, _)| !failed.contains(cluster))
        .map(|(cluster, _)| cluster.clone())
        .collect();
    let mut out = runner::Outputs::default();
    out.set_json(deploy::outputs::DEPLOYED, &deployed)?;
    out.set(deploy::outputs::RESULTS_FILE, relative.clone());
    out.set_json(deploy::outputs::FAILED_CLUSTERS, &failed)?;
    out.write(env)?;
    if failed.is_empty() {
        let done = match request.mode {
            deploy::Mode::Upgrade => "deployed",
            deploy::Mode::HealthCheck => "passed its health checks",
        };
        runner::print(&format!("Every cluster of the leg {done}: {}\n", clusters.join(", ")));
        Ok(())
    } else {
        Err(Error::LegFailed { failed, results_file: relative })
    }
}

/// The step summary's size limit (GitHub: 1 MiB per step), with room to spare.
const MAX_SUMMARY_CHARS: usize = 1_000_000;

/// `actions/diff`: render the planned releases at base and head, compare,
/// optionally drop the unchanged ones (`skip-unchanged`), rewrite the plan
/// folder with the diff, and write the (possibly smaller) matrices.
pub fn diff(env: &RunnerEnv) -> Result<(), Error> {
    use crate::manifest_diff::helm_template::Progress;
    use crate::stages::diff::{self, inputs, outputs, DiffInputs};
    let parsed = DiffInputs::from_env(env)?;
    let workspace = env.workspace();
    let plan_dir = plan_folder::resolve_dir(&workspace, &parsed.plan_dir)?;
    let plan_path = plan_dir.join(plan_folder::PLAN_FILE);
    let bytes = std::fs::read(&plan_path).map_err(|e| {
        Error::input(
            inputs::PLAN_DIR,
            format!("cannot read {} ({e}): run actions/generate with the same plan-dir first", plan_path.display()),
        )
    })?;
    // The plan folder is checked like the artifact it becomes.
    let mut plan_file = comment::parse_untrusted_plan(&bytes)?;
    let root = crate::base::repo_fs::RepoRoot::new(&workspace)?;
    let base = root.dir(&parsed.base_dir).map_err(|refused| Error::input(inputs::BASE_DIR, refused.to_string()))?;
    let request = diff::DiffRequest {
        head: workspace.clone(),
        base,
        config: parsed.config.clone(),
        support_and_staging: plan_file.support_and_staging.clone(),
        prod_hubs: plan_file.prod_hubs.clone(),
        skip_unchanged: parsed.skip_unchanged,
        helm: "helm".into(),
        workers: parsed.workers,
        timeout: parsed.timeout,
        helm_env: crate::manifest_diff::helm_template::helm_env(|name| env.var(name).map(str::to_owned)),
    };
    let progress = |event: Progress| {
        match event {
        Progress::Planned { releases, renders, unchanged_by_key } => runner::print(&format!(
            "Manifest diff: {releases} releases, {unchanged_by_key} unchanged by their inputs (no render), {renders} renders on {} workers\n",
            request.workers
        )),
        event @ Progress::DependencyBuilt { .. } => {
            runner::print(&format!("{}\n", event.dependency_line().unwrap_or_default()))
        }
        Progress::Rendered { done, total, label, ok } => {
            if !ok || done == total || done % 10 == 0 {
                runner::print(&format!("rendered {done}/{total} {label}{}\n", if ok { "" } else { ": failed" }));
            }
        }
    }
    };
    let outcome = diff::run(&request, &progress)?;
    runner::group("Manifest diff");
    // Rendered content is the checkout's: every line is sanitised, and commands are paused around it.
    let token = runner::pause_commands()?;
    runner::print(&diff::text_report(&outcome.full));
    runner::resume_commands(&token);
    runner::end_group();

    plan_file.support_and_staging = outcome.support_and_staging.clone();
    plan_file.prod_hubs = outcome.prod_hubs.clone();
    plan_file.manifest_diff = Some(outcome.bounded.clone());
    plan_folder::write_file_set(&plan_dir, &plan_file, Some(&diff::full_text(&outcome.full)))?;

    let mut summary_file = plan_file.clone();
    summary_file.manifest_diff = Some(diff::bound(&outcome.full, MAX_SUMMARY_CHARS, MAX_SUMMARY_CHARS));
    let summary = render::step_summary_within(&(&summary_file).into(), MAX_SUMMARY_CHARS, None);
    runner::append_summary(env, &summary)?;

    let after = plan::Plan {
        support_and_staging: outcome.support_and_staging.clone(),
        prod_hubs: outcome.prod_hubs.clone(),
        staging_checks: plan_file.staging_checks.clone(),
        prod_checks: plan_file.prod_checks.clone(),
        ..plan::Plan::default()
    };
    let legs = crate::planning::legs::pack_plan(&after, parsed.max_jobs);
    runner::print(&format!("{}\n", legs.describe(parsed.max_jobs)));
    let mut out = runner::Outputs::default();
    generate::set_matrix_outputs(&mut out, &after, &legs)?;
    out.set(outputs::CHANGED_RELEASES, outcome.changed_releases().to_string());
    out.set(outputs::SKIPPED_RELEASES, outcome.full.skipped.len().to_string());
    out.write(env)
}
