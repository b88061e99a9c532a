//! A simulation of the whole deploy pipeline, to choose the defaults of
//! `max-jobs` and `max-parallel-releases` (issue 14). Pure arithmetic: no
//! process, no network, no clock.
//!
//! Run with `cargo bench --bench simulate`. It builds a plan's matrices as
//! values (every support chart and every hub triggered, as a shared chart
//! change does), packs them with the library's own `deployer::planning::legs::pack`,
//! prices each leg with the cost model below, and schedules the legs of each
//! matrix on a plan's concurrent-job cap (20, 60, 500) by list scheduling: in
//! matrix order, each leg starts when a runner slot frees. The pipeline's wall
//! time is generate + the canary matrix's makespan + filter + the prod
//! matrix's makespan (the jobs of `examples/workflows/deploy-hubs.yaml`).
//!
//! Shapes: one job per hub (today's, `max-jobs` unlimited; a matrix over
//! GitHub's 256 jobs is not runnable); batched by cluster (`max-jobs` 256, 60,
//! 20: releases of a leg one after another); batched with a cluster's prod hubs
//! upgraded `max-parallel-releases` p at a time (2, 4, 8; staging hubs stay
//! one at a time, they are the canary). Fleets: the reference user's 171 hubs
//! (hubs per cluster counted from its public `config/clusters/*/cluster.yaml`),
//! and a synthetic 1,000 clusters x 10 hubs (2 staging, 8 prod).
//!
//! The cost model's figures are assumptions; each can be overridden with an
//! environment variable (seconds), e.g. `SIM_HELM_UPGRADE_S=120`. A longest
//! leg past the example workflow's `timeout-minutes` (60 canary, 30 prod) is
//! marked `†`; a shape with a leg past GitHub-hosted runners' 6-hour job limit
//! is not runnable. Run without
//! `--bench` (as `cargo test --benches` does) it runs the same thing: it takes
//! milliseconds.

// A benchmark reports its results on stdout.
#![allow(clippy::print_stdout)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;

use anyhow::{bail, ensure, Context};
use deployer::config::Provider;
use deployer::planning::legs::{self, ProdLeg, SupportAndStagingLeg};
use deployer::planning::plan::{ProdHubJob, SupportAndStagingJob, MAX_MATRIX_JOBS};

/// Assumed: a job waits for and starts a hosted runner, per job (`SIM_RUNNER_START_S`).
const RUNNER_START_S: u64 = 20;
/// Assumed: pulling the action's image and checking out the repository, per job (`SIM_CHECKOUT_S`).
const CHECKOUT_S: u64 = 15;
/// Assumed: keyless credentials and a kubeconfig, per cluster a job deploys to (`SIM_CREDENTIALS_S`).
const CREDENTIALS_S: u64 = 5;
/// Assumed: one hub's `helm upgrade --wait`, staging or prod (`SIM_HELM_UPGRADE_S`).
const HELM_UPGRADE_S: u64 = 60;
/// Assumed: one support chart's `helm upgrade --wait` (`SIM_SUPPORT_UPGRADE_S`).
const SUPPORT_UPGRADE_S: u64 = 90;
/// Assumed: the generate-jobs job, runner start included (`SIM_GENERATE_S`).
const GENERATE_S: u64 = 40;
/// Assumed: the filter job, runner start included (`SIM_FILTER_S`).
const FILTER_S: u64 = 15;

/// Concurrent-job caps of GitHub plans (Free, Team, Enterprise).
const CAPS: [usize; 3] = [20, 60, 500];
/// `max-jobs` values tried for the batched shapes: the default, and the caps of small plans and twice them.
const MAX_JOBS: [usize; 5] = [MAX_MATRIX_JOBS, 120, 60, 40, 20];
/// `max-parallel-releases` values tried for a cluster's prod hubs.
const PARALLEL: [usize; 3] = [2, 4, 8];

/// The reference user's fleet, from the public 2i2c-org/infrastructure
/// (`config/clusters/*/cluster.yaml` at 9ad7cd0, August 2026): (staging hubs,
/// prod hubs, clusters of that shape), staging hubs by the default pattern
/// `*staging*`. 30 clusters, 171 hubs; one cluster holds 95 of them.
const REFERENCE_FLEET: &[(usize, usize, usize)] =
    &[(0, 1, 2), (1, 1, 13), (1, 2, 10), (1, 3, 2), (1, 4, 1), (2, 3, 1), (1, 94, 1)];
/// The synthetic fleet of `benches/generate.rs`: 1,000 clusters x (2 staging, 8 prod).
const SYNTHETIC_FLEET: &[(usize, usize, usize)] = &[(2, 8, 1000)];

/// `timeout-minutes` of the support-and-staging job in `examples/workflows/deploy-hubs.yaml`.
const CANARY_TIMEOUT_MIN: u64 = 60;
/// `timeout-minutes` of the prod job in `examples/workflows/deploy-hubs.yaml`.
const PROD_TIMEOUT_MIN: u64 = 30;
/// GitHub-hosted runners stop a job after 6 hours.
const HOSTED_JOB_LIMIT_MIN: u64 = 6 * 60;

/// The cost model, in seconds.
#[derive(Debug, Clone, Copy)]
struct Costs {
    runner_start: u64,
    checkout: u64,
    credentials: u64,
    helm_upgrade: u64,
    support_upgrade: u64,
    generate: u64,
    filter: u64,
}

impl Costs {
    /// The constants above, each overridden by its environment variable when set.
    fn from_env() -> anyhow::Result<Costs> {
        let get = |name: &str, default: u64| -> anyhow::Result<u64> {
            match std::env::var(name) {
                Ok(text) => text.trim().parse().with_context(|| format!("{name}={text:?}: not a number of seconds")),
                Err(std::env::VarError::NotPresent) => Ok(default),
                Err(e) => bail!("{name}: {e}"),
            }
        };
        Ok(Costs {
            runner_start: get("SIM_RUNNER_START_S", RUNNER_START_S)?,
            checkout: get("SIM_CHECKOUT_S", CHECKOUT_S)?,
            credentials: get("SIM_CREDENTIALS_S", CREDENTIALS_S)?,
            helm_upgrade: get("SIM_HELM_UPGRADE_S", HELM_UPGRADE_S)?,
            support_upgrade: get("SIM_SUPPORT_UPGRADE_S", SUPPORT_UPGRADE_S)?,
            generate: get("SIM_GENERATE_S", GENERATE_S)?,
            filter: get("SIM_FILTER_S", FILTER_S)?,
        })
    }

    /// A matrix job's fixed part: a runner, the image, the checkout.
    fn job_start(&self) -> u64 {
        self.runner_start + self.checkout
    }

    /// A support-and-staging leg: per cluster, credentials, the support chart, then staging hubs one at a time.
    fn canary_leg(&self, leg: &SupportAndStagingLeg) -> u64 {
        let clusters: u64 = leg
            .clusters()
            .iter()
            .map(|job| {
                let staging = if job.upgrade_staging { job.staging_hubs.len() as u64 } else { 0 };
                self.credentials
                    + if job.upgrade_support { self.support_upgrade } else { 0 }
                    + staging * self.helm_upgrade
            })
            .sum();
        self.job_start() + clusters
    }

    /// A prod leg: per cluster (runs of consecutive hubs of one cluster), credentials, then its hubs `parallel` at a time.
    fn prod_leg(&self, leg: &ProdLeg, parallel: usize) -> u64 {
        let hubs = leg.hubs();
        let mut total = self.job_start();
        for run in hubs.chunk_by(|a, b| a.cluster_name == b.cluster_name) {
            total += self.credentials + run.len().div_ceil(parallel.max(1)) as u64 * self.helm_upgrade;
        }
        total
    }
}

/// Makespan of jobs started in order, each on the first runner slot to free, `cap` slots.
fn makespan(durations: &[u64], cap: usize) -> u64 {
    let mut free_at: BinaryHeap<Reverse<u64>> = (0..cap.max(1)).map(|_| Reverse(0)).collect();
    let mut end = 0;
    for &duration in durations {
        let Some(Reverse(start)) = free_at.pop() else { break };
        end = end.max(start + duration);
        free_at.push(Reverse(start + duration));
    }
    end
}

/// A fleet's matrices, every support chart and every hub triggered (a shared chart change).
fn fleet_jobs(fleet: &[(usize, usize, usize)]) -> (Vec<SupportAndStagingJob>, Vec<ProdHubJob>) {
    let (mut canary, mut prod) = (Vec::new(), Vec::new());
    let mut index = 0;
    for &(staging, prods, count) in fleet {
        for _ in 0..count {
            let cluster_name = format!("c{index:04}");
            index += 1;
            canary.push(SupportAndStagingJob {
                cluster_name: cluster_name.clone(),
                provider: Provider::Gcp,
                upgrade_support: true,
                reason_for_support_redeploy: "shared chart changed".into(),
                upgrade_staging: staging > 0,
                reason_for_staging_redeploy: "shared chart changed".into(),
                staging_hubs: (0..staging).map(|s| format!("staging{s}")).collect(),
                staging_rollout: Default::default(),
            });
            prod.extend((0..prods).map(|h| ProdHubJob {
                cluster_name: cluster_name.clone(),
                provider: Provider::Gcp,
                hub_name: format!("prod{h:03}"),
                reason_for_redeploy: "shared chart changed".into(),
                rollout: None,
            }));
        }
    }
    (canary, prod)
}

/// One row of the table: a way of running the plan.
struct Shape {
    label: String,
    max_jobs: usize,
    parallel: usize,
}

fn shapes() -> Vec<Shape> {
    let mut shapes = vec![Shape { label: "one job per hub (today)".into(), max_jobs: usize::MAX, parallel: 1 }];
    for max_jobs in MAX_JOBS {
        shapes.push(Shape { label: format!("batched, max-jobs {max_jobs}"), max_jobs, parallel: 1 });
        for parallel in PARALLEL {
            shapes.push(Shape {
                label: format!("batched, max-jobs {max_jobs}, prod p={parallel}"),
                max_jobs,
                parallel,
            });
        }
    }
    shapes
}

/// What one shape costs on one fleet.
struct Outcome {
    canary_legs: usize,
    prod_legs: usize,
    /// Pipeline wall time per cap of `CAPS`, seconds.
    wall: [u64; 3],
    /// Longest canary leg and longest prod leg, seconds.
    longest: (u64, u64),
    /// Sum of every job's duration, seconds.
    runner_seconds: u64,
    /// Minutes GitHub bills: each job rounded up to a whole minute.
    billed_minutes: u64,
}

fn simulate(costs: &Costs, canary: &[SupportAndStagingJob], prod: &[ProdHubJob], shape: &Shape) -> Outcome {
    let packed = legs::pack(canary, prod, shape.max_jobs);
    let canary_s: Vec<u64> = packed.support_and_staging.iter().map(|leg| costs.canary_leg(leg)).collect();
    let prod_s: Vec<u64> = packed.prod.iter().map(|leg| costs.prod_leg(leg, shape.parallel)).collect();
    let wall = CAPS.map(|cap| costs.generate + makespan(&canary_s, cap) + costs.filter + makespan(&prod_s, cap));
    let every_job =
        || [costs.generate, costs.filter].into_iter().chain(canary_s.iter().copied()).chain(prod_s.iter().copied());
    Outcome {
        canary_legs: canary_s.len(),
        prod_legs: prod_s.len(),
        wall,
        longest: (canary_s.iter().copied().max().unwrap_or(0), prod_s.iter().copied().max().unwrap_or(0)),
        runner_seconds: every_job().sum(),
        billed_minutes: every_job().map(|s| s.div_ceil(60)).sum(),
    }
}

fn minutes(seconds: u64) -> String {
    format!("{:.1}", seconds as f64 / 60.0)
}

/// Minutes, with `†` past the example workflow's `timeout-minutes` for the job.
fn flagged(seconds: u64, timeout_min: u64) -> String {
    let mark = if seconds > timeout_min * 60 { " †" } else { "" };
    format!("{}{mark}", minutes(seconds))
}

/// The Markdown table of one fleet.
fn table(costs: &Costs, name: &str, fleet: &[(usize, usize, usize)]) -> String {
    let (canary, prod) = fleet_jobs(fleet);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#### {name}: {} clusters, {} staging hubs, {} prod hubs\n",
        canary.len(),
        canary.iter().map(|c| c.staging_hubs.len()).sum::<usize>(),
        prod.len()
    );
    let _ = writeln!(
        out,
        "| shape | cap 20 (min) | cap 60 (min) | cap 500 (min) | legs (canary + prod) | longest leg canary / prod (min) | runner-min | billed min |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for shape in shapes() {
        let outcome = simulate(costs, &canary, &prod, &shape);
        let widest = outcome.canary_legs.max(outcome.prod_legs);
        let longest = outcome.longest.0.max(outcome.longest.1);
        let wall: Vec<String> = if widest > MAX_MATRIX_JOBS {
            vec![format!("not runnable: {widest} jobs > {MAX_MATRIX_JOBS}"), "".into(), "".into()]
        } else if longest > HOSTED_JOB_LIMIT_MIN * 60 {
            vec![format!("not runnable: a leg runs {} min > 6 h", minutes(longest)), "".into(), "".into()]
        } else {
            outcome.wall.iter().map(|&s| minutes(s)).collect()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} + {} | {} / {} | {} | {} |",
            shape.label,
            wall[0],
            wall[1],
            wall[2],
            outcome.canary_legs,
            outcome.prod_legs,
            flagged(outcome.longest.0, CANARY_TIMEOUT_MIN),
            flagged(outcome.longest.1, PROD_TIMEOUT_MIN),
            minutes(outcome.runner_seconds),
            outcome.billed_minutes
        );
    }
    out
}

/// Checks of the scheduler and the packer's use, so a broken simulation says so instead of printing numbers.
fn self_check(costs: &Costs) -> anyhow::Result<()> {
    ensure!(makespan(&[10, 10, 10], 2) == 20, "makespan of 3 x 10 s on 2 slots");
    ensure!(makespan(&[30, 10, 10, 10], 2) == 30, "list scheduling fills the free slot");
    ensure!(makespan(&[5; 7], 500) == 5, "more slots than jobs");
    let (canary, prod) = fleet_jobs(REFERENCE_FLEET);
    ensure!(canary.len() == 30 && prod.len() + canary.iter().map(|c| c.staging_hubs.len()).sum::<usize>() == 171);
    let unbatched = legs::pack(&canary, &prod, usize::MAX);
    ensure!(unbatched.prod.iter().all(|leg| matches!(leg, ProdLeg::Hub(_))));
    let one_hub = costs.job_start() + costs.credentials + costs.helm_upgrade;
    ensure!(unbatched.prod.iter().all(|leg| costs.prod_leg(leg, 4) == one_hub), "a one-hub leg ignores p");
    let batched = legs::pack(&canary, &prod, 20);
    ensure!(batched.prod.len() <= 20 && legs::prod_jobs(&batched.prod).len() == prod.len());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let costs = Costs::from_env()?;
    self_check(&costs)?;
    println!(
        "Cost model (s): runner start {}, image + checkout {}, credentials {} per cluster per job, helm upgrade {} per \
         hub, support chart {}, generate {}, filter {}\n",
        costs.runner_start,
        costs.checkout,
        costs.credentials,
        costs.helm_upgrade,
        costs.support_upgrade,
        costs.generate,
        costs.filter
    );
    println!("{}", table(&costs, "Reference fleet (2i2c-org/infrastructure)", REFERENCE_FLEET));
    println!("{}", table(&costs, "Synthetic fleet (1,000 x 10)", SYNTHETIC_FLEET));
    Ok(())
}
